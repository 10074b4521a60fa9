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
# CPU). Whether frames are left in a ring when the port goes down depends on
# timing: each case tries up to four times, and fails if none left any.
. "$(dirname "$0")/lib.sh"
net_require
NET_QUEUES=1 TX_SOCKETS=2 net_setup
[ -x "$BUILD/daemon/gend-debug" ] && GEND=$(ld_wrap "$BUILD/daemon/gend-debug")
HZ=$(getconf CLK_TCK)
gen() { nsenter --net=/var/run/netns/"$NS_GEN" "$@"; }
stats() { ctl --json stats >"$WORK/s.json" && json_get "$WORK/s.json" "$1"; }
ticks() { awk '{ print $14 + $15 }' /proc/"$GEND_PID"/stat; }

for case in "1 auto -" "2 yes -" "2 auto 0"; do
	read -r txs txt cpus <<<"$case"
	what="tx_sockets = $txs, tx_thread = $txt$([ "$cpus" = - ] || echo ", cpus = $cpus")"
	checked=
	for try in 1 2 3 4; do
		TX_SOCKETS=$txs GEND_CPUS=$([ "$cpus" = - ] || echo "$cpus") cfg_begin
		echo "tx_thread = $txt" >>"$WORK/chains.ini"
		cfg_a_b
		gend_start
		nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN \
			--src 10.10.1.1 --dst 10.10.2.2 --dport 5001 --stream 1 --count 5000000 --rate 0 --flows 16 \
			--size 64 >/dev/null 2>&1 &
		sp=$!
		sleep 0.7
		gen ip link set gout down || fail "cannot set gout down"
		kill "$sp" 2>/dev/null
		wait "$sp" 2>/dev/null
		sleep 0.3
		held=$(stats "j['workers'][0]['frames_tx']")
		if [ "$held" -gt 0 ]; then
			t0=$(ticks)
			sleep 2
			used=$(( $(ticks) - t0 ))
			[ "$(stats "j['workers'][0]['frames_tx']")" = "$held" ] ||
				fail "$what: the down port's TX frames changed while it was down: $held -> $(stats "j['workers'][0]['frames_tx']")"
			[ "$used" -lt "$HZ" ] ||
				fail "$what: gend used $used of $((2 * HZ)) CPU ticks in 2 s with nothing to do but $held frames on a down port: $(gend_thread_ticks)"
			gen ip link set gout up || fail "cannot set gout up"
			for _ in $(seq 40); do [ "$(stats "j['workers'][0]['frames_tx']")" = 0 ] && break; sleep 0.1; done
			[ "$(stats "j['workers'][0]['frames_tx']")" = 0 ] ||
				fail "$what: $(stats "j['workers'][0]['frames_tx']") of the $held frames still held after the port came up"
			ctl --json status >"$WORK/st.json"
			[ "$(json_get "$WORK/st.json" "j['frame_accounting_errors']")" = 0 ] || fail "$what: frame accounting broken"
			ok "$what: $held frames held by the down port; gend used $used of $((2 * HZ)) CPU ticks in 2 s; they left once it was up (try $try)"
			checked=1
		fi
		gen ip link set gout up
		gend_stop || fail "$what: gend exit"
		[ -n "$checked" ] && break
	done
	[ -n "$checked" ] || fail "$what: in 4 tries no frame was left in a TX ring when the port went down; nothing checked"
done
