#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): 64 B over veth with Q queues,
#  1. gend, one empty chain (sender -> s0|gin [gend] gout|r0 -> receiver): the
#     chain's forwarding rate while the sender runs;
#  2. the ceiling: a plain AF_XDP receiver (test/traffic/xsk_sink.c: one socket
#     and one thread per queue, frames straight back to the fill ring) on gin,
#     same sender, same testbed; gend's share of it;
#  3. with LATENCY=1: latency at half of gend's rate (receiver's p50/p99).
# Senders: gen-traffic's AF_XDP sender (one thread per queue), and xdp-trafficgen
# (xdp-tools) where the kernel runs it; each figure names its sender.
# Usage: test/bench/host_veth.sh QUEUES [seconds]   (root; run by host_bench.sh)
# Environment: GEN_BACKEND (default cpu), LATENCY=1, TX_THREAD=yes (gend's
# [gen] tx_thread: copy-mode TX kicks on a thread of their own per queue).
. "$(dirname "$0")/../net/lib.sh"
Q=${1:-1} SECS=${2:-5}
export NET_QUEUES=$Q
SINK=$BUILD/test/traffic/gen-xsk-sink
net_require
[ -x "$SINK" ] || skip "build gen-xsk-sink first ($BUILD)"
# Libraries carried to a machine without them (see lib.sh).
[ -n "${GEN_LD_PATH:-}" ] && SINK="env LD_LIBRARY_PATH=$GEN_LD_PATH $SINK"
net_setup
cfg_begin
echo "tx_thread = ${TX_THREAD:-no}" >>"$WORK/chains.ini"
cfg_empty_chain
GT_SEND="--afxdp --threads $Q --queue-base 0"
tx() { ctl --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['chains'][0]['tx_packets'])"; }
pps() { python3 -c "print(f'{($2 - $1) / ($4 - $3) / 1e6:.3f}')" ; }

# xdp-trafficgen on s0 for SECS; prints nothing and returns 1 where it cannot run.
trafficgen() {
	command -v xdp-trafficgen >/dev/null || { echo "not installed" >"$WORK/xt.err"; return 1; }
	timeout --signal=INT "$((SECS + 1))" nsenter --net=/var/run/netns/"$NS_SND" xdp-trafficgen udp -t "$Q" \
		-m $MAC_GIN -M $MAC_S0 -A 10.10.1.1 -a 10.10.2.2 -p 5001 -d 16 s0 >"$WORK/xt.out" 2>"$WORK/xt.err"
	case $? in 0 | 124 | 130) return 0 ;; *) return 1 ;; esac
}

# gend: rate while the sender runs
gend_run() { # $1 = sender name; sends with gen-traffic or xdp-trafficgen
	local a b t0 t1
	a=$(tx); t0=$(date +%s.%N)
	if [ "$1" = gen-traffic ]; then
		send --dport 5001 --stream 1 --duration "$SECS" --rate 0 --flows 16 --size 64 --json $GT_SEND
	else
		trafficgen || return 1
	fi
	t1=$(date +%s.%N); b=$(tx)
	echo "$(pps "$a" "$b" "$t0" "$t1")"
}

# ceiling: the sink on gin instead of gend
ceiling_run() {
	nsenter --net=/var/run/netns/"$NS_GEN" $SINK gin "$Q" "$SECS" >"$WORK/sink.json" 2>"$WORK/sink.err" &
	local sp=$!
	for _ in $(seq 50); do grep -q ready "$WORK/sink.json" 2>/dev/null && break; sleep 0.1; done
	if [ "$1" = gen-traffic ]; then
		send --dport 5001 --stream 1 --duration "$((SECS + 2))" --rate 0 --flows 16 --size 64 --json $GT_SEND
	else
		trafficgen
	fi
	wait $sp
	tail -n 1 "$WORK/sink.json" | python3 -c "import json,sys; print(f\"{json.load(sys.stdin).get('pps', 0) / 1e6:.3f}\")"
}

declare -A G C
gend_start
recv_start thru r0 --idle 2
G[gen-traffic]=$(gend_run gen-traffic)
G[xdp-trafficgen]=$(gend_run xdp-trafficgen) || G[xdp-trafficgen]=
recv_wait thru
ctl --json status >"$WORK/st.json"
FILL=$(json_get "$WORK/st.json" "j['xsk']['rx_fill_ring_empty']")
MODE=$(json_get "$WORK/st.json" "j['port_modes'][0]['mode']")
BACKEND=$(json_get "$WORK/st.json" "j['backend']")
if [ "${LATENCY:-0}" = 1 ]; then
	HALF=$(python3 -c "print(int(float('${G[gen-traffic]}') * 1e6 / 2))")
	recv_start lat r0 --idle 2
	send --dport 5001 --stream 2 --duration "$SECS" --rate "$HALF" --flows 16 --size 64 --json $GT_SEND
	recv_wait lat
	LAT=$(json_get "$WORK/lat.json" "'p50 %s us, p99 %s us, max %s us (%d packets)' % (j['latency_us']['p50'], j['latency_us']['p99'], j['latency_us']['max'], j['received'])")
fi
gend_stop
C[gen-traffic]=$(ceiling_run gen-traffic)
if [ -n "${G[xdp-trafficgen]}" ]; then C[xdp-trafficgen]=$(ceiling_run xdp-trafficgen); fi

for s in gen-traffic xdp-trafficgen; do
	if [ -z "${G[$s]}" ]; then
		echo "veth, $Q queue(s), sender $s: not run ($(grep -m1 -iE 'error|fail|not' "$WORK/xt.err" 2>/dev/null || echo unavailable))"
		continue
	fi
	python3 - "$Q" "$s" "${G[$s]}" "${C[$s]}" "$BACKEND" "$MODE" "$FILL" "${TX_THREAD:-no}" <<'PY'
import sys
q, s, g, c, be, mode, fill, tt = sys.argv[1:9]
g, c = float(g), float(c)
share = f"{100 * g / c:.0f} %" if c > 0 else "n/a"
print(f"veth, empty chain, 64 B, {q} queue(s), sender {s}: gend {g:.3f} Mpps (backend {be}, AF_XDP {mode} mode, "
      f"tx_thread {tt}, fill ring empty {fill}); plain AF_XDP receiver {c:.3f} Mpps; gend = {share} of it")
PY
done
[ -n "${LAT:-}" ] && echo "veth latency, empty chain, 64 B, $Q queue(s), backend $BACKEND, tx_thread ${TX_THREAD:-no}, sender gen-traffic at half of gend's rate (${HALF} pps): $LAT"
exit 0
