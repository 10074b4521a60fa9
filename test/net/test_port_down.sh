#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An output port set down under traffic keeps the frames its TX rings held: the
# kernel takes none from a down netdev. gend must then idle, not poll for them
# (its port worker had polled every 50 us for their completions, a kicker
# thread found them waiting and never blocked, and the idle controllers kicked
# them in a loop: a CPU burnt while nothing moved), and once the port is up
# they must go out and every frame be accounted. Three ways of kicking: the
# port worker (tx_sockets = 1), kicker threads (tx_sockets = 2, tx_thread =
# yes), and the worker with the idle controllers (tx_sockets = 2, gend on one
# CPU). gend-debug's GEN_TEST_HOLD_TX=PATH fails every kick while PATH exists,
# so that frames are sure to wait in the rings when the port goes down.
. "$(dirname "$0")/lib.sh"
net_require
NET_QUEUES=1 TX_SOCKETS=2 net_setup
[ -x "$BUILD/daemon/gend-debug" ] || skip "no gend-debug (GEN_TEST_HOLD_TX)"
GEND=$(ld_wrap "$BUILD/daemon/gend-debug")
HOLD=$WORK/hold
HZ=$(getconf CLK_TCK)
gen() { nsenter --net=/var/run/netns/"$NS_GEN" "$@"; }
stats() { ctl --json stats >"$WORK/s.json" && json_get "$WORK/s.json" "$1"; }
st() { ctl --json status >"$WORK/st.json" && json_get "$WORK/st.json" "$1"; }
ticks() { awk '{ print $14 + $15 }' /proc/"$GEND_PID"/stat; }

for case in "1 auto -" "2 yes -" "2 auto 0"; do
	read -r txs txt cpus <<<"$case"
	what="tx_sockets = $txs, tx_thread = $txt$([ "$cpus" = - ] || echo ", cpus = $cpus")"
	TX_SOCKETS=$txs GEND_CPUS=$([ "$cpus" = - ] || echo "$cpus") cfg_begin
	echo "tx_thread = $txt" >>"$WORK/chains.ini"
	cfg_a_b
	touch "$HOLD"
	GEN_TEST_HOLD_TX=$HOLD gend_start
	send --dport 5001 --stream 1 --count 3000 --rate 30000 --flows 16 --size 64
	sleep 0.3
	held=$(stats "j['workers'][0]['frames_tx']")
	[ "$held" -gt 0 ] || fail "$what: no frame waits in the TX rings while kicks fail (GEN_TEST_HOLD_TX)"
	gen ip link set gout down || fail "cannot set gout down"
	for _ in $(seq 30); do
		[ "$(st "[p['state'] for p in j['port_modes'] if p['name']=='gout'][0]")" = down ] && break
		sleep 0.1
	done
	rm -f "$HOLD" # kicks reach the kernel again, which takes nothing from a down netdev
	sleep 0.3
	t0=$(ticks)
	sleep 2
	used=$(( $(ticks) - t0 ))
	[ "$(stats "j['workers'][0]['frames_tx']")" = "$held" ] ||
		fail "$what: the down port's TX frames changed while it was down: $held -> $(stats "j['workers'][0]['frames_tx']")"
	[ "$used" -lt "$HZ" ] ||
		fail "$what: gend used $used of $((2 * HZ)) CPU ticks in 2 s with nothing to do but $held frames on a down port: $(gend_thread_ticks)"
	recv_start r r0 --idle 2
	gen ip link set gout up || fail "cannot set gout up"
	for _ in $(seq 40); do [ "$(stats "j['workers'][0]['frames_tx']")" = 0 ] && break; sleep 0.1; done
	[ "$(stats "j['workers'][0]['frames_tx']")" = 0 ] ||
		fail "$what: $(stats "j['workers'][0]['frames_tx']") of the $held frames still held after the port came up"
	recv_wait r
	got=$(json_get "$WORK/r.json" "j['received']")
	[ "$got" = "$held" ] || fail "$what: r0 received $got once the port was up, $held were held: $(cat "$WORK/r.json")"
	[ "$(st "j['frame_accounting_errors']")" = 0 ] || fail "$what: frame accounting broken"
	ok "$what: $held frames held by the down port; gend used $used of $((2 * HZ)) CPU ticks in 2 s; r0 received them once it was up"
	gend_stop || fail "$what: gend exit"
done
