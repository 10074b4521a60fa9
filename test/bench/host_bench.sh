#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The host data path's figures for this machine, in one command (prints, asserts
# nothing; root):
#  - synthetic ports, empty chain, 64 B: Mpps with 1, 2, 4 queues (one port
#    worker and one controller per queue), CPU ns per packet per stage (perf);
#  - veth, empty chain, 64 B, 1, 4, 8 queues: gend against a plain AF_XDP
#    receiver's ceiling in the same testbed, per sender (gen-traffic's AF_XDP
#    sender; its XDP sender, --xdp-live; xdp-trafficgen where it runs) and per receiver behind
#    gend on r0 (xdp-drop, tc-drop: count and drop; gen-traffic's AF_PACKET
#    receiver), with TX kicks on the port worker (tx_thread = no), on a
#    thread of their own (yes), and with HOST_TX_SOCKETS (default 3) TX
#    sockets per port queue, each kicked by a thread of its own (sockets:
#    tx_sockets with tx_thread = auto, the default; sockets-worker: the first
#    socket kicked by the port worker, tx_thread = no);
#  - veth TX alone, 1 and 4 queues (TX_QUEUES): synthetic input, an empty chain,
#    out of veth to a tc-drop receiver, with 1-4 TX sockets per port queue
#    (host_tx.sh);
#  - veth latency at half of gend's one-queue rate, cpu backend;
#  - the XDP classifier's ns per packet for a few table shapes (gen-cls-speed:
#    on veth it runs on the sender's core, whose cost per frame sets gend's
#    share of the plain receiver).
#  - last, a summary: each of issue 10's host-path targets with its figure and its
#    ratio to the ceiling of the same run (test/bench/host_summary.py; per queue
#    count, sender and TX sockets, the better of the two counting receivers).
# Usage: test/bench/host_bench.sh [seconds per figure]
# Environment: GEN_BUILD (default build/), SYNTH_QUEUES ("1 2 4"), TX_QUEUES ("1 4"), VETH_QUEUES
# ("1 4 8"; empty: skip), GEN_LD_PATH (carried libraries, as for test/net), GEN_BACKEND for the synthetic figures (default cpu; gpu on a GPU
# machine gives the GPU path end to end), HOST_BENCH_PERF=0 to skip perf,
# HOST_VETH_MODES (default "no yes sockets": tx_thread no, yes, and auto with
# HOST_TX_SOCKETS sockets; also sockets-worker, those sockets with tx_thread no) to
# run fewer or other veth configurations in one call; HOST_TX_THREADS (default
# "auto") the tx_thread values of the veth TX figures.
set -u
D=$(cd "$(dirname "$0")" && pwd)
SECS=${1:-5}
echo "# host_bench: $(hostname), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(date -u +%FT%TZ), gend from ${GEN_BUILD:-build}"
LOG=$(mktemp /tmp/gen-host-bench.XXXXXX)
trap 'rm -f "$LOG"' EXIT
for q in ${SYNTH_QUEUES-1 2 4 8}; do
	bash "$D/host_synth.sh" "$q" "$SECS" 2>&1 | grep -v "^ok -"
done | tee -a "$LOG"
# Copy-mode TX alone (synthetic input, veth output): what each more TX socket buys.
for q in ${TX_QUEUES-1 4}; do
	for tt in ${HOST_TX_THREADS:-auto}; do
		TX_THREAD=$tt bash "$D/host_tx.sh" "$q" "$SECS" 2>&1 | grep -E "^(veth TX|SKIP|FAIL|host_tx|Traceback|[A-Za-z]*Error)"
	done
done | tee -a "$LOG"
for q in ${VETH_QUEUES-1 4 8}; do
	for tt in ${HOST_VETH_MODES:-no yes sockets}; do
		txs=1
		[ $tt = sockets ] && tt=auto txs=${HOST_TX_SOCKETS:-3}
		[ $tt = sockets-worker ] && tt=no txs=${HOST_TX_SOCKETS:-3}
		TX_THREAD=$tt TX_SOCKETS=$txs LATENCY=$([ "$q" = 1 ] && echo 1 || echo 0) GEN_BACKEND=cpu \
			bash "$D/host_veth.sh" "$q" "$SECS" 2>&1 | grep -E "^(veth|SKIP|FAIL|ceiling|Traceback|[A-Za-z]*Error)"
	done
done | tee -a "$LOG"
cls=${GEN_BUILD:-$D/../../build}/test/bench/gen-cls-speed
if [ -x "$cls" ]; then
	LD_LIBRARY_PATH=${GEN_LD_PATH:-${LD_LIBRARY_PATH:-}} "$cls" -n 7
else
	echo "SKIP gen-cls-speed: not built ($cls)"
fi
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$D/host_summary.py" <"$LOG"
