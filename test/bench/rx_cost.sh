#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): what each AF_XDP program on gin
# costs the core that receives for it, per frame, at one fixed offered rate.
# On veth the receiving side (gin's XDP program, the redirect, the copy into
# the UMEM frame, the wake-up) runs in the sender's softirq, on the sender's
# core; when that core is the limit (one queue), a receiver that costs it more
# per frame gets fewer frames. Here the sender is paced below what any of them
# carries, so nothing is dropped and the sender's own work is the same for
# all: the difference in its core's busy time per frame is the receiver's.
#   receiver  - the plain AF_XDP receiver (gen-xsk-sink gin): frames straight
#               back to the fill ring
#   gend      - gend, one empty chain gin -> gout, tc-drop on r0
#   forwarder - the plain AF_XDP forwarder gin -> gout (gen-xsk-sink --fwd)
# The sender is gen-traffic's AF_XDP sender on CPU RX_COST_CPU (default 0),
# the programs under test on the other CPUs (RX_COST_OTHER, default 1: gend's
# [gen] cpus and the sinks' taskset). The busy time comes from /proc/stat
# (everything but idle and iowait). Rounds alternate the programs.
# Usage: test/bench/rx_cost.sh [PPS] [seconds] [rounds]   (root)
# Environment: RX_COST_WHO (default "receiver gend forwarder"), the gend keys
# of lib.sh (TX_SOCKETS, GEN_DEMOTE, GEN_SPIN_US, GEND_FRAMES), GEN_GEND.
. "$(dirname "$0")/../net/lib.sh"
RATE=${1:-1000000} SECS=${2:-4} ROUNDS=${3:-3}
export NET_QUEUES=1
SINK=$BUILD/test/traffic/gen-xsk-sink
CPU=${RX_COST_CPU:-0} OTHER=${RX_COST_OTHER:-1}
WHO=${RX_COST_WHO:-receiver gend forwarder}
net_require
[ -x "$SINK" ] || skip "build gen-xsk-sink first ($BUILD)"
[ -n "${GEN_LD_PATH:-}" ] && SINK="env LD_LIBRARY_PATH=$GEN_LD_PATH $SINK"
net_setup
# RX_COST_NAPI=DEFER,TIMEOUT_NS: gin's napi_defer_hard_irqs and gro_flush_timeout:
# once gin's NAPI has run, the next runs wait for the timer instead of each
# frame scheduling one (interrupt moderation, as a NIC's). Written again once a
# program is attached: veth makes its NAPI instances then.
napi_defer() {
	[ -n "${RX_COST_NAPI:-}" ] || return 0
	ip netns exec "$NS_GEN" sh -c "echo ${RX_COST_NAPI%,*} > /sys/class/net/gin/napi_defer_hard_irqs &&
		echo ${RX_COST_NAPI#*,} > /sys/class/net/gin/gro_flush_timeout" || fail "cannot set gin's NAPI deferral"
}
napi_defer
GEND_CPUS=$OTHER cfg_begin
cfg_empty_chain

# Jiffies CPU $CPU spent busy so far, then those of the CPUs in $OTHER together.
OTHERS=" $(cpu_list "$OTHER" | sed 's/[0-9][0-9]*/cpu&/g') "
busy_ticks() {
	awk -v c="cpu$CPU" -v o="$OTHERS" '$1 == c { s = $2 + $3 + $4 + $7 + $8 + $9 }
		index(o, " " $1 " ") { t += $2 + $3 + $4 + $7 + $8 + $9 } END { print s, t }' /proc/stat
}

# The counting receiver on r0 (tc-drop), for the two that forward.
drop_start() {
	# shellcheck disable=SC2086 # SINK may be "env LD_LIBRARY_PATH=... PATH"
	nsenter --net=/var/run/netns/"$NS_RCV" $SINK --tc-drop r0 "$((SECS + 6))" >"$WORK/drop.json" 2>"$WORK/drop.err" &
	DROP=$!
	for _ in $(seq 50); do grep -q ready "$WORK/drop.json" 2>/dev/null && return 0; sleep 0.1; done
	fail "tc-drop receiver on r0 did not start: $(head -c 300 "$WORK/drop.err")"
}

# A sink on gin ($@: its arguments), started again while the kernel still holds
# the queue's last AF_XDP binding (EBUSY).
sink_start() {
	for _ in $(seq 20); do
		# shellcheck disable=SC2086 # as above
		nsenter --net=/var/run/netns/"$NS_GEN" taskset -c "$OTHER" $SINK "$@" >"$WORK/sink.json" 2>"$WORK/sink.err" &
		SP=$!
		for _ in $(seq 50); do
			grep -q ready "$WORK/sink.json" 2>/dev/null && return 0
			kill -0 "$SP" 2>/dev/null || break
			sleep 0.1
		done
		wait "$SP"
		grep -q busy "$WORK/sink.err" || break
		sleep 0.5
	done
	fail "gen-xsk-sink $* did not start: $(head -c 300 "$WORK/sink.err")"
}

# One measurement: "sent busy_ticks other_ticks seconds".
measure() {
	local b0 b1 o0 o1 t0 t1
	sleep 0.5
	read -r b0 o0 <<<"$(busy_ticks)"; t0=$(date +%s.%N)
	send --dport 5001 --stream 1 --duration "$SECS" --rate "$RATE" --flows 16 --size 64 --json \
		--afxdp --threads 1 --queue-base 0 --cpu "$CPU"
	read -r b1 o1 <<<"$(busy_ticks)"; t1=$(date +%s.%N)
	echo "$(json_get "$WORK/send.out" "j['sent']") $((b1 - b0)) $((o1 - o0)) $(python3 -c "print($t1 - $t0)")"
}

run_one() {
	local m got
	case $1 in
	receiver)
		sink_start gin 1 "$((SECS + 3))"
		napi_defer
		m=$(measure)
		wait "$SP"
		got=$(tail -n 1 "$WORK/sink.json" | python3 -c "import json,sys; print(json.load(sys.stdin).get('received', 0))")
		;;
	gend)
		drop_start
		gend_start
		napi_defer
		m=$(measure)
		sleep 0.5
		got=$(gend_tx)
		gend_stop >/dev/null 2>&1
		wait "$DROP"
		;;
	forwarder)
		drop_start
		sink_start --fwd gin gout 1 "$((SECS + 3))" "${TX_SOCKETS:-1}"
		napi_defer
		m=$(measure)
		wait "$SP"
		wait "$DROP"
		got=$(tail -n 1 "$WORK/drop.json" | python3 -c "import json,sys; print(json.load(sys.stdin).get('total', 0))")
		;;
	esac
	echo "$m $got"
}

HZ=$(getconf CLK_TCK)
echo "rx_cost: 64 B at $RATE pps for $SECS s, AF_XDP sender on CPU $CPU, the program under test on CPU(s) $OTHER; $ROUNDS round(s)"
for r in $(seq "$ROUNDS"); do
	for w in $WHO; do
		read -r sent ticks oticks el got <<<"$(run_one "$w")"
		python3 - "$w" "$sent" "$ticks" "$el" "$got" "$HZ" "$r" "$oticks" "$OTHER" <<'PY'
import sys
w, sent, ticks, el, got, hz, r = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
busy, obusy = ticks / hz, int(sys.argv[8]) / hz
print(f"round {r}: {w:9s} CPU busy {busy / el * 100:5.1f} %, {busy * 1e9 / max(sent, 1):6.0f} ns a frame sent; "
      f"sent {sent}, taken {got} ({got / max(sent, 1) * 100:.2f} %); CPU(s) {sys.argv[9]} busy {obusy / el:.2f} CPUs, "
      f"{obusy * 1e9 / max(sent, 1):.0f} ns a frame")
PY
	done
done
exit 0
