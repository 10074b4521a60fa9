#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A returning port whose binding fails on one queue of two. Chain a sends to
# gout (r0), chain b to gout2 (r1); r1/gout2 is deleted and re-created while
# gend-debug makes the binding of queue 1's sockets fail (GEN_FAULT_REBIND_Q,
# a test override) for as long as a file exists. gend must leave the port
# whole on its old netdev (gone, no queue moved, the error in genctl status,
# one log line per kind of attempt however many link messages come), try again
# on link events, on its timer and on a reload, and once the fault is lifted
# bind both queues: chain b forwards on both again, every frame accounted.
# Then the step after the sockets moved fails (XDP): the port stays gone with
# every queue on the new netdev, and a retry attaches XDP.
. "$(dirname "$0")/lib.sh"
export NET_QUEUES=2
GEND=${GEN_GEND:-$BUILD/daemon/gend-debug}
[ -x "$GEND" ] || skip "no gend-debug"
GEND=$(ld_wrap "$GEND")
net_require
net_setup
cfg_begin
cfg_a_b
FAULT=$WORK/rebind-fault
export GEN_FAULT_REBIND_Q=1:$FAULT
gend_start
unset GEN_FAULT_REBIND_Q
st() { ctl --json status >"$WORK/st.json" && json_get "$WORK/st.json" "$1"; }
gout2() { st "[p['$1'] for p in j['port_modes'] if p['name']=='gout2'][0]"; }
gen() { nsenter --net=/var/run/netns/"$NS_GEN" "$@"; }
rcv() { nsenter --net=/var/run/netns/"$NS_RCV" "$@"; }
send_b() { # stream count cpu
	nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN \
		--src 10.10.1.1 --dst 10.10.3.2 --dport 5002 --stream "$1" --count "$2" --rate 10000 --flows 8 \
		--size 64 --cpu "$3" >/dev/null 2>&1
}
OLD=$(gout2 ifindex)

rcv ip link del r1 || fail "cannot delete r1"
for _ in $(seq 50); do [ "$(gout2 state)" = gone ] && break; sleep 0.1; done
[ "$(gout2 state)" = gone ] || fail "gout2 not marked gone: $(cat "$WORK/st.json")"

# Back, with queue 1 failing: chain a carries a stream throughout.
N=40000
recv_start a r0 --idle 3
(send --dport 5001 --stream 1 --count $N --rate 10000 --size 64) &
sa=$!
touch "$FAULT"
sleep 0.3
net_gout2
NEW=$(gen ip -o link show gout2 | cut -d: -f1)
for _ in $(seq 30); do [ -n "$(gout2 rebind_error)" ] && break; sleep 0.1; done
err=$(gout2 rebind_error)
echo "# gout2 status: state $(gout2 state), ifindex $(gout2 ifindex), $(gout2 rebind_attempts) attempts: $err"
[ -n "$err" ] || fail "no rebind error shown: $(cat "$WORK/st.json"); $(grep gout2 "$WORK/gend.log")"
case $err in *"queue 1"*GEN_FAULT_REBIND_Q*) ;; *) fail "rebind_error names neither queue 1 nor the fault: $err";; esac
[ "$(gout2 state)" = gone ] || fail "gout2 is $(gout2 state) while its binding fails"
# Consistent: no queue left on the new netdev, so the port is still the old one.
[ "$(gout2 ifindex)" = "$OLD" ] || fail "gout2 shows ifindex $(gout2 ifindex) (old $OLD, new $NEW): a queue moved"
gen ip -d link show gout2 | grep -q "prog/xdp" && fail "XDP attached to the new gout2 while its binding failed"
ok "binding queue 1 failed: gout2 stays gone on its old netdev, the error in genctl status"

sleep 2.5 # at least one attempt of the timer (1 s after the last failure)
att=$(gout2 rebind_attempts)
[ "$att" -ge 2 ] || fail "only $att attempts after 2.5 s: no retry"
nlink=$(grep -c "gout2' is back as a new interface.*cannot be bound.*on a link event" "$WORK/gend.log")
ntimer=$(grep -c "gout2' is back as a new interface.*cannot be bound.*on the retry timer" "$WORK/gend.log")
[ "$nlink" = 1 ] && [ "$ntimer" = 1 ] ||
	fail "the log should say each kind of failed attempt once ($att attempts): $(grep gout2 "$WORK/gend.log")"
ok "$att attempts so far; the log said the failure once per kind (link event, timer)"

ctl reload >"$WORK/reload.out" 2>&1 || fail "reload while gout2 cannot be bound: $(cat "$WORK/reload.out")"
grep -q "gout2' is back as a new interface.*cannot be bound.*on a port check" "$WORK/reload.out" ||
	fail "the reload did not try gout2 again: $(cat "$WORK/reload.out")"
[ "$(gout2 state)" = gone ] && [ "$(gout2 ifindex)" = "$OLD" ] || fail "gout2 changed on a failed reload attempt"
ok "a reload tried again and said why it failed; the reload itself applied"

# The fault lifted: the timer binds both queues.
rm -f "$FAULT"
t0=$(date +%s%N)
for _ in $(seq 200); do [ "$(gout2 state)" = up ] && break; sleep 0.1; done
[ "$(gout2 state)" = up ] || fail "gout2 not bound after the fault was lifted: $(cat "$WORK/st.json")"
echo "# gout2 bound $(( ($(date +%s%N) - t0) / 1000000 )) ms after the fault was lifted: $(grep "gout2' is back.*sockets bound" "$WORK/gend.log")"
grep -q "gout2' is back as a new interface.*sockets bound, sending again (attempt [0-9]*, on the retry timer)" "$WORK/gend.log" ||
	fail "no log line for the binding: $(grep gout2 "$WORK/gend.log")"
[ "$(gout2 ifindex)" = "$NEW" ] && [ -z "$(gout2 rebind_error)" ] || fail "status after binding: $(cat "$WORK/st.json")"
gen ip -d link show gout2 | grep -q "prog/xdp" || fail "no XDP program on the new gout2"
ok "retried on the timer once the fault was lifted: gout2 bound to ifindex $NEW, error cleared"

# Traffic through both of gout2's queues: chain b's frames leave on the queue they came in on.
ctl --json stats >"$WORK/s0.json"
recv_start b r1 --idle 2
(send_b 2 5000 0) &
sb=$!
send_b 3 5000 1 || fail "sender b"
wait $sb || fail "sender b"
wait $sa
recv_wait b
recv_wait a
got=$(json_get "$WORK/b.json" "j['received']")
[ "$got" = 10000 ] || fail "chain b after the retried binding: $got of 10000: $(cat "$WORK/b.json")"
ctl --json stats >"$WORK/s1.json"
python3 - "$WORK/s0.json" "$WORK/s1.json" <<'PY' || fail "chain b did not carry traffic on both queues"
import json, sys
b0, b1 = ([c for c in json.load(open(f))["chains"] if c["name"] == "b"][0]["rx_per_queue"] for f in sys.argv[1:])
d = [y - x for x, y in zip(b0, b1)]
print("# chain b rx per queue since the binding:", d)
assert len(d) == 2 and all(x > 0 for x in d)
PY
ok "chain b forwarded 10000 of 10000 through both queues of the new gout2"
got=$(json_get "$WORK/a.json" "sum(s['received'] for s in j['streams'] if s['id']==1)")
[ "$got" = $N ] || fail "chain a lost $((N - got)) of $N while gout2's binding failed and was retried"
ok "chain a: $got of $N across the failed and retried binding"
[ "$(st "j['frame_accounting_errors']")" = 0 ] || fail "frame accounting broken"
gend_stop || fail "gend exited non-zero"
ok "every frame accounted (gend-debug)"

# The step after the sockets moved fails (XDP on the new netdev): every queue
# is on the new netdev, and the next attempts only attach XDP and the rules.
export GEN_FAULT_REBIND_Q=xdp:$FAULT
gend_start
unset GEN_FAULT_REBIND_Q
re_create() {
	rcv ip link del r1 || fail "cannot delete r1"
	for _ in $(seq 50); do [ "$(gout2 state)" = gone ] && break; sleep 0.1; done
	[ "$(gout2 state)" = gone ] || fail "gout2 not marked gone: $(cat "$WORK/st.json")"
	net_gout2
	NEW=$(gen ip -o link show gout2 | cut -d: -f1)
}
touch "$FAULT"
re_create
for _ in $(seq 30); do [ -n "$(gout2 rebind_error)" ] && break; sleep 0.1; done
err=$(gout2 rebind_error)
case $err in *"attach XDP"*GEN_FAULT_REBIND_Q*) ;; *) fail "rebind_error: '$err'";; esac
[ "$(gout2 state)" = gone ] && [ "$(gout2 ifindex)" = "$NEW" ] ||
	fail "after the sockets moved: state $(gout2 state), ifindex $(gout2 ifindex) (new $NEW)"
gen ip -d link show gout2 | grep -q "prog/xdp" && fail "XDP on gout2 while attaching it fails"
ok "attaching XDP failed after the sockets moved: gout2 gone, on the new ifindex, the error shown"
rm -f "$FAULT"
for _ in $(seq 100); do [ "$(gout2 state)" = up ] && break; sleep 0.1; done
[ "$(gout2 state)" = up ] && [ -z "$(gout2 rebind_error)" ] || fail "gout2 not bound: $(cat "$WORK/st.json")"
gen ip -d link show gout2 | grep -q "prog/xdp" || fail "no XDP program on the new gout2"
recv_start b2 r1 --idle 2
(send_b 4 3000 0) &
sb=$!
send_b 5 3000 1 || fail "sender b"
wait $sb || fail "sender b"
recv_wait b2
got=$(json_get "$WORK/b2.json" "j['received']")
[ "$got" = 6000 ] || fail "chain b after XDP was attached on a retry: $got of 6000"
ok "retried: XDP attached, chain b forwarded 6000 of 6000 through both queues"
[ "$(st "j['frame_accounting_errors']")" = 0 ] || fail "frame accounting broken"
gend_stop || fail "gend exited non-zero"
