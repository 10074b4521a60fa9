#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# I/O ceiling of the test harness: gen-traffic send in one namespace straight to
# gen-traffic recv in another over one veth pair, nothing in between.
# Prints figures; asserts nothing about speed.
# usage: [GT_SEND_ARGS="--afxdp --threads 2"] bench_ceiling.sh [PATH/TO/gen-traffic] [SIZE] [SECONDS] [RUNS]
# GT_SEND_ARGS: extra sender options (the sender mode); thread t runs on cpu t.
set -u
GT=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/test/traffic/gen-traffic}
SIZE=${2:-64} SECS=${3:-5} RUNS=${4:-3}
SEND_ARGS=${GT_SEND_ARGS:-}
SUF=$$$RANDOM
NA=gc-a-$SUF NB=gc-b-$SUF DA=gca$SUF DB=gcb$SUF
WORK=

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "$GT" ] || { echo "gen-traffic not found at $GT"; exit 1; }
command -v jq >/dev/null || { echo "needs jq"; exit 1; }

cleanup() {
	local rc=$?
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$NA" 2>/dev/null
	ip netns del "$NB" 2>/dev/null
	[ -n "$WORK" ] && rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

WORK=$(mktemp -d /tmp/gen-traffic-bench.XXXXXX)
ip netns add "$NA" && ip netns add "$NB" || exit 1
# Two queues each way: room for --threads 2 / --afxdp --queue-base 1.
ip link add "$DA" netns "$NA" numtxqueues 2 numrxqueues 2 type veth \
	peer name "$DB" netns "$NB" numtxqueues 2 numrxqueues 2 || exit 1
nsenter --net=/var/run/netns/"$NA" ip link set "$DA" up
nsenter --net=/var/run/netns/"$NB" ip link set "$DB" up
ncpu=$(nproc)
rx_cpu=$((ncpu > 1 ? 1 : 0))

echo "# $(uname -r), $ncpu CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# size ${SIZE} B (FCS counted), ${SECS} s per run, sender on cpu 0, receiver on cpu $rx_cpu"
echo "# sender options: ${SEND_ARGS:-(none: one AF_PACKET thread)}"
printf "%-4s %10s %10s %8s %10s %9s %9s %14s\n" run sent_pps recv_pps lost ring_drops tx_cpu_s rx_cpu_s tx_pps_per_cpu
for run in $(seq "$RUNS"); do
	rm -f "$WORK/ready"
	nsenter --net=/var/run/netns/"$NB" "$GT" recv --dev "$DB" --idle 1 --cpu "$rx_cpu" --json \
		--ready-file "$WORK/ready" >"$WORK/rx.json" &
	rx=$!
	while [ ! -e "$WORK/ready" ]; do sleep 0.05; done
	nsenter --net=/var/run/netns/"$NA" "$GT" send --dev "$DA" --size "$SIZE" --duration "$SECS" --cpu 0 \
		$SEND_ARGS --json >"$WORK/tx.json" || exit 1
	wait $rx || exit 1
	sent=$(jq .sent "$WORK/tx.json")
	printf "%-4s %10s %10s %8s %10s %9s %9s %14s\n" "$run" "$(jq .rate_pps "$WORK/tx.json")" \
		"$(jq .rate_pps "$WORK/rx.json")" "$((sent - $(jq .received "$WORK/rx.json")))" \
		"$(jq .ring_drops "$WORK/rx.json")" \
		"$(jq .cpu_s "$WORK/tx.json")" "$(jq .cpu_s "$WORK/rx.json")" \
		"$(jq .pps_per_cpu_s "$WORK/tx.json")"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
