#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# [gen] tx_budget: how many frames one copy-mode sendto() may send.
# 1. The kernel's side, through gen-traffic's AF_XDP sender on s0 (copy mode
#    on veth), N frames in bursts of 256: with the kernel's 32 a call it needs
#    at least N / 32 sendto() calls; asked for 256 (tx_budget.h, as gend asks)
#    it needs fewer. Where the kernel lacks XDP_MAX_TX_SKB_BUDGET (before 6.17)
#    the sender says so, and gend must say so too (below).
# 2. gend with tx_budget = 512: status shows 512 in force (or 32 and the
#    kernel's refusal), the log says which, a stream through it arrives whole,
#    and its TX kicks are counted.
# 3. tx_budget = 32: the kernel's own, nothing asked, no error.
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

# 2. and 3. gend.
for want in 512 32; do
	GEN_TX_BUDGET=$want cfg_begin
	cfg_a_b
	gend_start
	recv_start a r0 --idle 2
	send --dport 5001 --stream 1 --count 20000 --rate 50000 --flows 16 --size 64
	recv_wait a
	got=$(json_get "$WORK/a.json" "j['received']")
	[ "$got" = 20000 ] || fail "tx_budget = $want: $got of 20000 arrived: $(cat "$WORK/a.json")"
	inforce=$(st "[j['tx_budget'], j['tx_budget_asked'], j['tx_budget_error']]")
	kicks=$(ctl --json stats | python3 -c "import json,sys; print(sum(w['tx_kicks'] for w in json.load(sys.stdin)['workers']))")
	[ "$kicks" -gt 0 ] || fail "tx_budget = $want: no TX kicks counted for 20000 frames sent"
	if [ $want = 32 ]; then
		[ "$inforce" = "[32, 32, '']" ] || fail "tx_budget = 32: status $inforce"
		grep -q "tx_budget" "$WORK/gend.log" && fail "tx_budget = 32 asks nothing, yet gend logs: $(grep tx_budget "$WORK/gend.log")"
		ok "tx_budget = 32: the kernel's own, nothing asked; 20000 of 20000 arrived, $kicks TX kicks"
	elif [ $kernel = 1 ]; then
		[ "$inforce" = "[512, 512, '']" ] || fail "tx_budget = 512 on a kernel that has it: status $inforce"
		grep -q "copy-mode TX sends up to 512 frames a sendto() (\[gen\] tx_budget)" "$WORK/gend.log" ||
			fail "no log line for tx_budget = 512"
		genctl_text=$(ctl status | grep '^tx budget:')
		[[ $genctl_text == *"512 frames a copy-mode sendto()"* ]] || fail "genctl status: '$genctl_text'"
		ok "tx_budget = 512: in force (status, log); 20000 of 20000 arrived, $kicks TX kicks"
	else
		python3 -c "import sys; b, a, e = $inforce; sys.exit(not (b == 32 and a == 512 and e))" ||
			fail "tx_budget = 512 refused by the kernel: status $inforce"
		grep -q "refused \[gen\] tx_budget = 512" "$WORK/gend.log" || fail "no notice of the kernel's refusal"
		ok "tx_budget = 512 refused by the kernel: status and log say so; 20000 of 20000 arrived"
	fi
	[ $want = 32 ] || {
		# 4. Restart only: a reload that changes it is refused, the chains go on.
		sed -i 's/^tx_budget = 512$/tx_budget = 64/' "$WORK/chains.ini"
		if ctl reload >"$WORK/reload.out" 2>&1; then fail "a reload changing tx_budget was accepted"; fi
		grep -q "tx_budget" "$WORK/reload.out" || fail "the refused reload does not name tx_budget: $(cat "$WORK/reload.out")"
		recv_start a r0 --idle 2
		send --dport 5001 --stream 2 --count 5000 --rate 50000 --flows 16 --size 64
		recv_wait a
		[ "$(json_get "$WORK/a.json" "j['received']")" = 5000 ] || fail "after the refused reload: $(cat "$WORK/a.json")"
		[ "$(st "j['tx_budget']")" = "$([ $kernel = 1 ] && echo 512 || echo 32)" ] || fail "tx_budget changed by a refused reload"
		ok "a reload changing tx_budget is refused ($(head -c 160 "$WORK/reload.out")); 5000 of 5000 arrived after it"
	}
	gend_stop || fail "gend exited with an error"
done
