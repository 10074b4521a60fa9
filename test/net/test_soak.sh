#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Soak: traffic at 80 % of the measured capacity of one chain for SOAK_SECONDS
# (CI 30; the full run is 600), or of SOAK_CAPACITY pps when given (no probe),
# with a reload every SOAK_RELOAD_S seconds (10)
# alternating two configs, the second adding a chain. At the end: every reload
# applied, no frame lost to the accounting (gend-debug aborts on one; status
# counts them), RSS and open fds flat, and sent = received + every counted drop.
# Prints the figures as one line `soak: ...` for test/RELIABILITY.md.
. "$(dirname "$0")/lib.sh"
SECS=${SOAK_SECONDS:-30} PERIOD=${SOAK_RELOAD_S:-10}
[ -z "${GEN_GEND:-}" ] && [ -x "$BUILD/daemon/gend-debug" ] && GEND=$(ld_wrap "$BUILD/daemon/gend-debug")
net_require
net_setup
cfg_begin
cfg_nfs ttl to_r0 to_r1
cfg_chain steady 1 "proto udp dport 5001" "ttl to_r0" 2
cp "$WORK/chains.ini" "$WORK/a.ini"
cp "$WORK/chains.ini" "$WORK/b.ini"
printf '\n[chain added]\nid = 2\nmatch = proto udp dport 5002\nnfs = ttl to_r1\noutput = 3\n' >>"$WORK/b.ini"
gend_start

# gend's drop counters now, as one JSON object in $WORK/$1.json. fill_ring_empty
# is not a drop of its own: the kernel counts such a frame in rx_dropped too.
drops() {
	ctl --json status >"$WORK/d_status.json" && ctl --json stats >"$WORK/d_stats.json" || fail "status"
	python3 - "$WORK/d_status.json" "$WORK/d_stats.json" >"$WORK/$1.json" <<'PY'
import json, sys
st, sa = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(json.dumps({"chain_dropped": sum(c["dropped"] for c in sa["chains"]), "xdp_malformed": st["xdp"]["malformed"],
                  "xdp_no_socket": st["xdp"]["no_socket"], "xsk_rx_dropped": st["xsk"]["rx_dropped"],
                  "xsk_rx_ring_full": st["xsk"]["rx_ring_full"], "xdp_unmatched": st["xdp"]["unmatched"],
                  "xsk_fill_ring_empty": st["xsk"]["rx_fill_ring_empty"]}))
PY
}
rss_kib() { awk '/^VmRSS/ {print $2}' /proc/"$GEND_PID"/status; }
nfds() { ls /proc/"$GEND_PID"/fd | wc -l; }

# Capacity: the chain's delivered rate under a 2 s flood, unless given.
if [ -n "${SOAK_CAPACITY:-}" ]; then
	CAP=$SOAK_CAPACITY
	[[ $CAP =~ ^[0-9]+$ ]] || fail "SOAK_CAPACITY=$CAP: packets per second expected"
else
	recv_start cap r0 --idle 2
	send --dport 5001 --stream 9 --duration 2 --size 64 --flows 8
	recv_wait cap
	CAP=$(json_get "$WORK/cap.json" "int(j['received'] / 2)")
fi
[ "$CAP" -gt 1000 ] || fail "capacity: $CAP pps${SOAK_CAPACITY:+ (given)}: $(cat "$WORK/cap.json" 2>/dev/null)"
RATE=$((CAP * 8 / 10))

sleep 1
drops before
R0=$(rss_kib) F0=$(nfds) FB=
recv_start soak r0 --idle 3
nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN --src 10.10.1.1 \
	--dst 10.10.2.2 --dport 5001 --stream 1 --duration "$SECS" --rate "$RATE" --flows 8 --size 64 --json \
	>"$WORK/soak_send.json" 2>"$WORK/soak_send.err" &
SENDER=$!
RELOADS=0 RSS_MAX=$R0
start=$(date +%s)
while [ $(($(date +%s) + PERIOD - start)) -le "$SECS" ]; do
	sleep "$PERIOD"
	if [ $((RELOADS % 2)) = 0 ]; then cp "$WORK/b.ini" "$WORK/chains.ini"; else cp "$WORK/a.ini" "$WORK/chains.ini"; fi
	ctl reload >"$WORK/reload.out" 2>&1 || fail "reload $RELOADS: $(cat "$WORK/reload.out")"
	RELOADS=$((RELOADS + 1))
	r=$(rss_kib)
	[ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
	echo "$r" >>"$WORK/rss"
	# Open fds of each config the same every time it comes back (the added chain has sockets of its own).
	if [ $((RELOADS % 2)) = 0 ]; then
		[ "$(nfds)" = "$F0" ] || fail "open fds with config A: $F0 at the start, $(nfds) after reload $RELOADS"
	else
		[ -z "$FB" ] && FB=$(nfds)
		[ "$(nfds)" = "$FB" ] || fail "open fds with config B: $FB after the first, $(nfds) after reload $RELOADS"
	fi
done
wait $SENDER || fail "sender: $(cat "$WORK/soak_send.err")"
recv_wait soak
sleep 1
drops after
R1=$(rss_kib)
ACC=$(json_get "$WORK/d_status.json" "j['frame_accounting_errors']")
python3 - "$WORK" "$SECS" "$RATE" "$CAP" "$RELOADS" "$R0" "$R1" "$RSS_MAX" "$F0" "${FB:-$F0}" "$ACC" <<'PY' || fail "accounting"
import json, sys
w, secs, rate, cap, reloads, r0, r1, rmax, fa, fb, acc = sys.argv[1:]
b, a = json.load(open(w + "/before.json")), json.load(open(w + "/after.json"))
sent = json.load(open(w + "/soak_send.json"))["sent"]
rcv = json.load(open(w + "/soak.json"))
d = {k: a[k] - b[k] for k in a}
counted = sum(d[k] for k in ("chain_dropped", "xdp_malformed", "xdp_no_socket", "xsk_rx_dropped", "xsk_rx_ring_full"))
counted += rcv["ring_drops"]
left = sent - rcv["received"] - counted
rss = [int(x) for x in open(w + "/rss")] if int(reloads) else [int(r0)]
print("soak RSS (KiB) after each reload: " + " ".join(map(str, rss)))
print(f"soak: {secs} s at {rate} pps (80 % of {cap}), {reloads} reloads; sent {sent}, received {rcv['received']}, "
      f"counted drops {counted} (" + ", ".join(f"{k} {v}" for k, v in d.items() if v) + f", receiver ring {rcv['ring_drops']}); "
      f"unaccounted {left}; latency p99 {rcv['latency_us']['p99']} us max {rcv['latency_us']['max']} us; "
      f"RSS {r0} -> {r1} KiB (max {rmax}); fds A {fa}, B {fb}; frame accounting errors {acc}")
open(w + "/unaccounted", "w").write(str(left))
PY
[ "$RELOADS" -ge $((SECS / PERIOD - 1)) ] || fail "only $RELOADS reloads"
ok "$RELOADS reloads applied under traffic, alternating two configs"
[ "$ACC" = 0 ] || fail "frame accounting errors: $ACC"
kill -0 "$GEND_PID" || fail "gend died"
ok "every UMEM frame accounted for"
[ $((R1 - R0)) -lt $((R0 / 10 + 8192)) ] || fail "RSS grew ${R0} -> ${R1} KiB"
ok "RSS flat, open fds the same each time a config returns"
[ "$(cat "$WORK/unaccounted")" = 0 ] || fail "sent != received + counted drops"
ok "sent = received + counted drops"
gend_stop || fail "gend exit"
