#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# How gend attaches its classifier (through libxdp), and what the port does
# when gend is gone. Chain fw (firewall: fails closed) and chain plain (MAC
# rewrite only: fails open), as in test_fail_mode.sh.
#  1. gend is SIGKILLed while both chains carry traffic: the classifier stays,
#     fw's packets are dropped in XDP, plain's pass to the kernel (routed to r0).
#  2. A new gend replaces what the dead one left: one gen_cls on the port, its
#     maps re-pinned, both chains forward again.
#  3. A second XDP program (xdp-loader) on gend's port: where the kernel has the
#     program type the libxdp dispatcher needs (BPF_PROG_TYPE_EXT), both show in
#     `xdp-loader status` and both run (gend's chains forward, the other program
#     counts what gend passes). Without it, libxdp attaches gend's program alone,
#     and the second load must be refused, leaving gend's program and traffic as
#     they were.
#  4. SIGTERM detaches gend's program and leaves the other one.
. "$(dirname "$0")/lib.sh"
net_require
command -v xdp-loader >/dev/null || skip "needs xdp-loader (xdp-tools)"
[ -n "${GEN_XDP_COUNT_OBJ:-}" ] || command -v clang >/dev/null || skip "needs clang (or GEN_XDP_COUNT_OBJ)"
net_setup
gx() { nsenter --net=/var/run/netns/"$NS_GEN" "$@"; }
cfg_begin
cfg_fw_plain

rx() { json_get "$1" "sum(s['received'] for s in j['streams'] if s['id']==$2)"; }
both() { # $1 name, $2 count: stream 1 to fw, 2 to plain, 3 unmatched
	recv_start "$1" r0 --idle 2
	send --dport 5001 --stream 1 --count "$2" --rate 5000 --size 64
	send --dport 5002 --stream 2 --count "$2" --rate 5000 --size 64
	send --dport 5003 --stream 3 --count "$2" --rate 5000 --size 64
	recv_wait "$1"
}
n_gen_cls() { gx xdp-loader status gin 2>&1 | grep -c gen_cls; }
N=1000

# With JOURNAL_STREAM set each log line carries its priority: libbpf's and
# libxdp's messages must come through gend's log, one level below their own
# (warning -> <5>, info -> <7>, shown with -v).
JOURNAL_STREAM=test gend_start -v
gx xdp-loader status gin >"$WORK/status0" 2>&1
grep -q gen_cls "$WORK/status0" || fail "xdp-loader status does not list gen_cls on gin: $(cat "$WORK/status0")"
both live $N
[ "$(rx "$WORK/live.json" 1)" = $N ] && [ "$(rx "$WORK/live.json" 2)" = $N ] || fail "live: $(cat "$WORK/live.json")"
ok "gen_cls listed by xdp-loader status; both chains forward"
grep -E '(^|>)lib(bpf|xdp): ' "$WORK/gend.log" >"$WORK/liblines"
[ -s "$WORK/liblines" ] || fail "no libbpf/libxdp message in gend's log with -v"
grep -vE '^<[57]>lib(bpf|xdp): ' "$WORK/liblines" >"$WORK/badlines" &&
	fail "libbpf/libxdp lines outside <5>/<7>: $(head -3 "$WORK/badlines")"
ok "libbpf/libxdp messages in gend's log one level lower ($(wc -l <"$WORK/liblines") lines; $(grep -c '^<5>' "$WORK/liblines") notices)"

# 1. SIGKILL while traffic flows (a sender runs for ~2 s; gend dies half-way).
nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN \
	--src 10.10.1.1 --dst 10.10.2.2 --dport 5001 --stream 9 --count 20000 --rate 10000 --size 64 \
	>"$WORK/bg.out" 2>&1 &
BG=$!
sleep 1
kill -KILL "$GEND_PID"
wait "$GEND_PID" 2>/dev/null
GEND_PID=
wait $BG || fail "background sender: $(cat "$WORK/bg.out")"
[ "$(n_gen_cls)" = 1 ] || fail "gen_cls left gin with gend: $(gx xdp-loader status gin 2>&1)"
both dead $N
fw=$(rx "$WORK/dead.json" 1) plain=$(rx "$WORK/dead.json" 2) un=$(rx "$WORK/dead.json" 3)
echo "# gend killed under traffic: fw $fw of $N reached r0, plain $plain, unmatched $un"
[ "$fw" = 0 ] || fail "gend dead: fw fails closed, yet $fw packets passed to the kernel"
[ "$plain" -ge $((N * 9 / 10)) ] || fail "gend dead: plain fails open, yet only $plain of $N passed"
[ "$un" -ge $((N * 9 / 10)) ] || fail "gend dead: unmatched = pass, yet only $un of $N passed"
ok "SIGKILL under traffic: the classifier stays; closed dropped, open passed"

# 2. A restart over what the crashed run left.
old_id=$(gx ip -j link show gin | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["xdp"]["prog"]["id"])')
rm -f "$SOCK"
gend_start
sleep 0.5
[ "$(n_gen_cls)" = 1 ] || fail "after restart: $(n_gen_cls) gen_cls on gin: $(gx xdp-loader status gin 2>&1)"
new_id=$(gx ip -j link show gin | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["xdp"]["prog"]["id"])')
both again $N
[ "$(rx "$WORK/again.json" 1)" = $N ] && [ "$(rx "$WORK/again.json" 2)" = $N ] || fail "restart: $(cat "$WORK/again.json")"
ok "restart replaced the crashed run's program (id $old_id -> $new_id); chains forward again"

# 3. A second program next to gend's.
# GEN_XDP_COUNT_OBJ: the object built elsewhere (a machine without clang: device-pack.sh).
if [ -n "${GEN_XDP_COUNT_OBJ:-}" ]; then
	cp "$GEN_XDP_COUNT_OBJ" "$WORK/xdp_count.o" || fail "no $GEN_XDP_COUNT_OBJ"
else
	clang -g -O2 -target bpf -c "$(dirname "$0")/xdp_count.bpf.c" -o "$WORK/xdp_count.o" || fail "clang xdp_count.bpf.c"
fi
PIN=/sys/fs/bpf/gen-test-count-$$
mkdir -p "$PIN"
trap 'rm -rf "$PIN"; net_teardown' EXIT
if bpftool feature probe kernel 2>/dev/null | grep -q "program_type ext is available"; then
	gx xdp-loader load -m native -p "$PIN" gin "$WORK/xdp_count.o" >"$WORK/load.out" 2>&1 ||
		fail "xdp-loader load next to gen_cls: $(cat "$WORK/load.out")"
	gx xdp-loader status gin >"$WORK/status1" 2>&1
	grep -q gen_cls "$WORK/status1" && grep -q xdp_count "$WORK/status1" ||
		fail "xdp-loader status does not list both: $(cat "$WORK/status1")"
	both shared $N
	seen=$(bpftool map dump pinned "$PIN/seen" -j | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["value"])')
	[ "$(rx "$WORK/shared.json" 1)" = $N ] && [ "$(rx "$WORK/shared.json" 2)" = $N ] ||
		fail "with a second program: $(cat "$WORK/shared.json")"
	[ "$seen" -ge "$N" ] || fail "the second program saw $seen packets, expected >= $N (gend's unmatched ones)"
	grep -q "port 1 'gin': gen_cls in libxdp's dispatcher" "$WORK/gend.log" || fail "the dispatcher is not logged"
	echo "# dispatcher: gen_cls first (priority 10), xdp_count after it saw $seen packets"
	ok "a second program shares gin through libxdp's dispatcher; both run"
else
	if gx xdp-loader load -m native -p "$PIN" gin "$WORK/xdp_count.o" >"$WORK/load.out" 2>&1; then
		fail "xdp-loader replaced gend's program without a dispatcher: $(gx xdp-loader status gin 2>&1)"
	fi
	echo "# this kernel has no BPF_PROG_TYPE_EXT: libxdp attached gen_cls alone; xdp-loader said: $(tr '\n' ' ' <"$WORK/load.out" | head -c 200)"
	[ "$(n_gen_cls)" = 1 ] || fail "gen_cls lost after the refused load"
	grep -q "port 1 'gin': gen_cls attached alone" "$WORK/gend.log" || fail "the lone attach is not logged"
	both alone $N
	[ "$(rx "$WORK/alone.json" 1)" = $N ] && [ "$(rx "$WORK/alone.json" 2)" = $N ] ||
		fail "after the refused load: $(cat "$WORK/alone.json")"
	ok "no dispatcher on this kernel: a second program is refused, gen_cls keeps the port"
fi

# 4. SIGTERM: gend takes its program off the port, the other one stays.
gend_stop || fail "gend exited non-zero on SIGTERM"
[ "$(n_gen_cls)" = 0 ] || fail "gen_cls still on gin after SIGTERM: $(gx xdp-loader status gin 2>&1)"
if grep -q xdp_count "$WORK/status1" 2>/dev/null; then
	gx xdp-loader status gin 2>&1 | grep -q xdp_count || fail "SIGTERM removed the other program too"
	gx xdp-loader unload -a gin
fi
ok "SIGTERM detached gen_cls"
