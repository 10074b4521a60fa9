#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# [gen] tx_budget: how many frames one copy-mode sendto() may send.
# 1. The kernel's side, through gen-traffic's AF_XDP sender on s0 (copy mode
#    on veth), N frames in bursts of 256: with the kernel's 32 a call it needs
#    at least N / 32 sendto() calls; asked for 256 (tx_budget.h, as gend asks)
#    it needs fewer. Where the kernel lacks XDP_MAX_TX_SKB_BUDGET (before 6.17)
#    the sender says so, and gend must say so too (below).
# 2. gend-debug holds 3000 frames in a port's TX ring (GEN_TEST_HOLD_TX fails
#    every kick), then lets them go, and counts the sendto() calls that send
#    them (stats: tx_kicks): fewer than 3000 / 32 where the socket's budget is
#    over 32, at least that where it is 32. auto gives a socket with a kicker
#    thread 256 (tx_thread = yes) and one the port worker kicks 32 (tx_thread =
#    no); tx_budget = 512 gives that one 512. Status and log say which, and r0
#    receives every held frame.
# 3. tx_budget = 32: the kernel's own, nothing asked, nothing logged.
# 4. A reload that changes tx_budget is refused, naming it (restart only), and
#    the chains keep forwarding.
. "$(dirname "$0")/lib.sh"
net_require
NET_QUEUES=1 net_setup
N=25600
st() { ctl --json status >"$WORK/st.json" && json_get "$WORK/st.json" "$1"; }

# 1. The kernel. kicks counts every sendto(), retries too.
send --afxdp --burst 256 --count $N --size 64 --json
k32=$(json_get "$WORK/send.out" "j['kicks']")
[ "$k32" -ge $((N / 32)) ] || fail "the kernel's budget: $k32 sendto() calls for $N frames, fewer than $((N / 32)): $(cat "$WORK/send.out")"
send --afxdp --burst 256 --count $N --size 64 --json --tx-budget 256
if grep -q "refused" "$WORK/send.out"; then
	kernel=0
	ok "the kernel refuses XDP_MAX_TX_SKB_BUDGET ($(grep -m1 refused "$WORK/send.out")); gend must say so"
else
	kernel=1
	k256=$(tail -n 1 "$WORK/send.out" | python3 -c "import json,sys; print(json.load(sys.stdin)['kicks'])")
	[ "$(tail -n 1 "$WORK/send.out" | python3 -c "import json,sys; print(json.load(sys.stdin)['tx_budget'])")" = 256 ] ||
		fail "gen-traffic: tx_budget 256 not in force: $(cat "$WORK/send.out")"
	[ "$k256" -lt $((N / 32)) ] || fail "tx budget 256: $k256 sendto() calls for $N frames, as many as 32 a call would need"
	ok "the kernel's budget: $k32 sendto() calls for $N frames; asked for 256 a call: $k256"
fi

# 2. gend-debug: the sendto() calls that send 3000 held frames.
stats() { ctl --json stats >"$WORK/s.json" && json_get "$WORK/s.json" "$1"; }
kicks() { stats "sum(w['tx_kicks'] for w in j['workers'])"; }
HOLD=$WORK/hold
if [ -x "$BUILD/daemon/gend-debug" ]; then
	GEND_REL=$GEND
	GEND=$(ld_wrap "$BUILD/daemon/gend-debug")
	for case in "auto yes 256" "auto no 32" "512 no 512"; do
		read -r cfgb txt want <<<"$case"
		[ $kernel = 1 ] || want=32
		what="tx_budget = $cfgb, tx_thread = $txt"
		GEN_TX_BUDGET=$([ "$cfgb" = auto ] || echo "$cfgb") cfg_begin
		echo "tx_thread = $txt" >>"$WORK/chains.ini"
		cfg_a_b
		touch "$HOLD"
		GEN_TEST_HOLD_TX=$HOLD gend_start
		send --dport 5001 --stream 1 --count 3000 --rate 30000 --flows 16 --size 64
		for _ in $(seq 30); do
			[ "$(stats "j['workers'][0]['frames_tx']")" = 3000 ] && break
			sleep 0.1
		done
		held=$(stats "j['workers'][0]['frames_tx']")
		[ "$held" = 3000 ] || fail "$what: $held of 3000 frames wait in the TX ring while kicks fail"
		inforce=$(st "[j['tx_budget'], j['tx_budget_threaded'], j['tx_budget_shared'], j['tx_budget_error'] != '']")
		if [ $kernel = 0 ]; then
			[ "$cfgb" = auto ] && [ "$txt" = no ] && exp="['auto', 256, 32, False]" || exp="['$cfgb', 32, 32, True]"
		elif [ "$cfgb" = auto ]; then
			exp="['auto', 256, 32, False]"
		else
			exp="['$cfgb', $cfgb, $cfgb, False]"
		fi
		[ "$inforce" = "$exp" ] || fail "$what: status $inforce, $exp expected"
		recv_start r r0 --idle 2
		k0=$(kicks)
		rm -f "$HOLD"
		for _ in $(seq 50); do [ "$(stats "j['workers'][0]['frames_tx']")" = 0 ] && break; sleep 0.1; done
		recv_wait r
		got=$(json_get "$WORK/r.json" "j['received']")
		[ "$got" = 3000 ] || fail "$what: r0 received $got of the 3000 held frames: $(cat "$WORK/r.json")"
		k=$(( $(kicks) - k0 ))
		if [ "$want" -gt 32 ]; then
			[ "$k" -lt $((3000 / 32)) ] || fail "$what: $k sendto() calls for 3000 frames, budget $want: as many as 32 a call needs"
		else
			[ "$k" -ge $((3000 / 32)) ] || fail "$what: $k sendto() calls for 3000 frames, fewer than 32 a call allows"
		fi
		case "$cfgb-$txt" in
		auto-yes) grep -q "on TX sockets with a kicker thread, 32 on those the port worker and chain controllers kick (\[gen\] tx_budget = auto)" "$WORK/gend.log" ||
			fail "$what: no log line for the auto plan" ;;
		auto-no) # no socket has a kicker thread: nothing asked, nothing logged, status says so
			grep -q "tx_budget" "$WORK/gend.log" && fail "$what: a log line, yet no socket was asked: $(grep tx_budget "$WORK/gend.log")"
			[[ "$(ctl status | grep '^tx budget:')" == *"32 frames a copy-mode sendto() ([gen] tx_budget = auto; no TX socket has a kicker thread)"* ]] ||
				fail "$what: genctl status: '$(ctl status | grep '^tx budget:')'" ;;
		*) grep -q "copy-mode TX sends up to $cfgb frames a sendto() (\[gen\] tx_budget)" "$WORK/gend.log" ||
			fail "$what: no log line for tx_budget = $cfgb" ;;
		esac
		[ "$(st "j['frame_accounting_errors']")" = 0 ] || fail "$what: frame accounting broken"
		ok "$what: status $inforce; the 3000 held frames left in $k sendto() calls (budget $want), r0 received them"
		gend_stop || fail "$what: gend exit"
	done
	GEND=$GEND_REL
else
	echo "(no gend-debug: the held-frames part is left out)"
fi

# 3. and 4. tx_budget = 32, then a reload that changes it.
GEN_TX_BUDGET=32 cfg_begin
cfg_a_b
gend_start
recv_start a r0 --idle 2
send --dport 5001 --stream 1 --count 20000 --rate 50000 --flows 16 --size 64
recv_wait a
got=$(json_get "$WORK/a.json" "j['received']")
[ "$got" = 20000 ] || fail "tx_budget = 32: $got of 20000 arrived: $(cat "$WORK/a.json")"
inforce=$(st "[j['tx_budget'], j['tx_budget_threaded'], j['tx_budget_shared'], j['tx_budget_error']]")
[ "$inforce" = "['32', 32, 32, '']" ] || fail "tx_budget = 32: status $inforce"
grep -q "tx_budget" "$WORK/gend.log" && fail "tx_budget = 32 asks nothing, yet gend logs: $(grep tx_budget "$WORK/gend.log")"
[[ "$(ctl status | grep '^tx budget:')" == *"32 frames a copy-mode sendto() ([gen] tx_budget = 32)"* ]] ||
	fail "genctl status: '$(ctl status | grep '^tx budget:')'"
ok "tx_budget = 32: the kernel's own, nothing asked or logged; 20000 of 20000 arrived"
sed -i 's/^tx_budget = 32$/tx_budget = 64/' "$WORK/chains.ini"
if ctl reload >"$WORK/reload.out" 2>&1; then fail "a reload changing tx_budget was accepted"; fi
grep -q "tx_budget" "$WORK/reload.out" || fail "the refused reload does not name tx_budget: $(cat "$WORK/reload.out")"
recv_start a r0 --idle 2
send --dport 5001 --stream 2 --count 5000 --rate 50000 --flows 16 --size 64
recv_wait a
[ "$(json_get "$WORK/a.json" "j['received']")" = 5000 ] || fail "after the refused reload: $(cat "$WORK/a.json")"
[ "$(st "j['tx_budget_shared']")" = 32 ] || fail "tx_budget changed by a refused reload"
ok "a reload changing tx_budget is refused, naming it; 5000 of 5000 arrived after it"
gend_stop || fail "gend exited with an error"
