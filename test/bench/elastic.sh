#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): elasticity on synthetic ports.
# gend on `ports = synth:0 synth:1`, one chain, the generators' rate stepped
# at run time (genctl synth-rate). Writes CSVs into OUT_DIR, then the plots
# (test/bench/plots.py) when matplotlib is there.
# Usage: test/bench/elastic.sh [OUT_DIR] [STEP_SECONDS]   (root)
# Parts (ELASTIC_PARTS, default "steps sweep sizes chainlen", plus fig6 with a GPU):
#   steps    Fig. 7: offered load x1 x2 x3 x4 x3 x2 x1 of a base (ELASTIC_BASE_FRAC of
#            the capacity, default 0.2: x4 is 80 %), STEP_SECONDS (5) per step,
#            sampled every ELASTIC_SAMPLE_MS (1) ms and written every 10 ms (the batch
#            size's settling time is read from the 1 ms samples: a 10 ms sample that
#            straddles a step reads late by up to 10 ms; ELASTIC_FINE=1 also writes
#            every sample to steps_1ms.csv), for the paper's batcher, with the latency bound
#            (max_wait_us, latency_target_us) and with hybrid placement -> steps.csv, and per
#            step the batch size it settles at, how soon, and its drops -> settle.csv
#   sweep    offered load 1 %..110 % of each backend's capacity: throughput, p50/p99
#            (ELASTIC_SWEEP: backends, default "cpu hybrid", "gpu cpu hybrid bound" with a GPU;
#            100 % is the first one's capacity)
#            -> sweep.csv, cdf.csv
#   sizes    capacity at 64..1518 B -> sizes.csv;  chainlen: 1..7 NFs -> chainlen.csv
#   fig6     gpu_mode rtc vs pipeline at 64 and 128 B: capacity, and p95 at half the
#            pipeline's 64 B capacity, on ELASTIC_FIG6_QUEUES queues (default: half
#            the CPUs, at most 8: one port worker and one controller a queue. With
#            one queue they cap both modes near 20 Mpps on the GPU machine, and with
#            4 its port workers still ran at 97-100 %, so the figure would be the
#            host path's, not the agents') -> fig6.csv
# Environment: GEN_BACKEND (cpu; gpu on the GPU machine) for steps/sizes/chainlen/fig6,
# ELASTIC_CHAIN (paper with the community rules, else light: router -> flowmon -> esp),
# ELASTIC_BASE_PPS (Fig. 7's base rate in all, instead of ELASTIC_BASE_FRAC of the
# capacity: the same steps for runs to compare), ELASTIC_STEP_MODES (default "paper bound hybrid": the steps' configurations, in
# that order; a digit after one, as in "hybrid paper hybrid2", runs it again under
# that label), ELASTIC_MAX_WAIT_US (200), ELASTIC_TARGET_US (1000), NET_QUEUES (1);
# ELASTIC_CAP=zero-loss: Fig. 7's and the sweep's capacity is the zero-loss throughput (RFC 2544:
# the highest offered rate at which a trial loses no frame at the port or in
# the chain, halving up to 1.5x the first measure; a trial lasts a step,
# ELASTIC_TRIAL_S overrides, RFC 2544 asks 60 s; ELASTIC_TRIAL_RETRY=1 runs a trial that
# lost at most 2 ms of the rate's frames again and fails the rate only when both lose)
# instead of what the chain
# forwards under an overload, which can sit in a slower state (RESULTS.md,
# seventeenth run); ELASTIC_CAP_RATE=PPS:
# every capacity is what the chain forwards offered PPS in all (above it: a NIC's
# overload, with the whole UMEM for the backlog) instead of the generators
# unthrottled (which keep at most 2048 frames of a queue in the chains).
# Isolation (steps and sweep; the other parts run many queues and stay unpinned):
# ELASTIC_GEND_CPUS=LIST is [gen] cpus (the port worker and controller pinned one a CPU,
# gend's other threads kept off them), ELASTIC_HARNESS_CPUS=LIST runs the sampler
# (elastic.py, genctl, nvidia-smi) there. A busy-polling worker that
# another task shares a CPU with loses a scheduler slice (1-1.5 ms): at 7 Mpps that
# is 2,500 frames missed at the port (RESULTS.md, twentieth run).
# ELASTIC_SWEEP_LOADS: the sweep's loads as fractions of 100 %, in order (default "0.01 0.05
# 0.1 0.25 0.5 0.75 0.9 1.0 1.1"; "0.01 0.3 0.01 0.9" makes jumps); SWEEP_CAP=PPS gives 100 %
# without measuring it.
# ELASTIC_HYBRID_PPS=N gives the hybrid runs hybrid_pps = N (to the GPU above N packets/s,
# back below N/2) instead of the cpu side's busy share, whose threshold moves with the host.
# ELASTIC_SWEEP may name "bound": the paper's batcher with ELASTIC_MAX_WAIT_US and
# ELASTIC_TARGET_US, its p99 held against the target at every load it carried whole.
D0=$(cd "$(dirname "$0")" && pwd)
. "$D0/../net/lib.sh"
OUT=${1:-/tmp/gen-elastic}
STEP=${2:-5}
BE=${GEN_BACKEND:-cpu}
Q=${NET_QUEUES:-1}
GEN_PORTS="synth:0 synth:1"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x "$GEND" ] || skip "build gend first ($BUILD)"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || skip "no bpffs"
mkdir -p "$OUT"
rm -f "$OUT"/{steps,settle,sweep,cdf,sizes,chainlen,fig6,gpu_clocks}.csv
default_parts="steps sweep sizes chainlen"
default_sweep="cpu hybrid"
if [ "$BE" = gpu ]; then default_parts="$default_parts fig6"; default_sweep="gpu cpu hybrid bound"; fi
PARTS=" ${ELASTIC_PARTS:-$default_parts} "
export GENCTL SOCK GENS=$((2 * Q))
net_setup
CHAIN=${ELASTIC_CHAIN:-paper}
[ "$CHAIN" = paper ] && [ ! -r "$COMMUNITY_RULES" ] && CHAIN=light

# write_cfg BACKEND SIZE [CHAIN-KEYS] [NFS] [GEN-KEYS]: one chain over the synthetic ports.
write_cfg() {
	local be=$1 size=$2 keys=${3:-} nfs=${4:-} genkeys=${5:-}
	GEN_BACKEND=$be cfg_begin
	cat >>"$WORK/chains.ini" <<EOF
synth_size = $size
synth_flows = 64
synth_rate = 0
$genkeys

[nf fm]
type = flowmon
EOF
	for i in 1 2 3 4 5 6 7; do printf '\n[nf t%d]\ntype = ttl_dec\n' "$i" >>"$WORK/chains.ini"; done
	if [ -z "$nfs" ]; then
		if [ "$CHAIN" = paper ]; then nfs="router nids esp"; else nfs="router fm esp"; fi
	fi
	# The rules take a while to compile: only when the chain runs them.
	if [[ " $nfs " == *" nids "* ]]; then cfg_paper_nfs nids; else cfg_paper_nfs; fi
	printf '\n[chain c]\nid = 1\nmatch = proto udp\nnfs = %s\noutput = 2\n%s\n' "$nfs" "$keys" >>"$WORK/chains.ini"
}

run_gend() { gend_start; sleep 1; gend_wait_agent; }
# Fig. 7 on the gpu backend: nvidia-smi's GPU clocks every 10 ms into gpu_clocks.csv
# (ELASTIC_GPU_CLOCKS=0 turns it off), to see a step's settling against the GPU's clock.
if [ "$BE" = gpu ] && command -v nvidia-smi >/dev/null; then export ELASTIC_GPU_CLOCKS=${ELASTIC_GPU_CLOCKS:-1}; fi
PY=(python3)
[ -z "${ELASTIC_HARNESS_CPUS:-}" ] || PY=(taskset -c "$ELASTIC_HARNESS_CPUS" python3)
# The parts that measure one queue's loss and latency run isolated when asked.
CPUS0=${GEND_CPUS:-}
isolate() { export GEND_CPUS=${ELASTIC_GEND_CPUS:-$CPUS0}; }
unisolate() { export GEND_CPUS=$CPUS0; }
cap() { CAP_RATE=${ELASTIC_CAP_RATE:-0} "${PY[@]}" "$D0/elastic.py" capacity; }
# full_cap: the running chain's capacity into C (what it forwards under an
# overload, or with ELASTIC_CAP=zero-loss the zero-loss throughput, its trials
# printed), and what it is into CWHAT.
full_cap() {
	C=$(cap)
	CWHAT=
	if [ "${ELASTIC_CAP:-overload}" = zero-loss ]; then
		# The zero-loss throughput, searched up to 1.5x what the chain forwarded in the first measure.
		local c0=$C
		# A trial as long as a step: a rate that holds for 1 s can still fall into the
		# port's slower state within 5 (RESULTS.md, nineteenth run).
		C=$(TRIAL_SECONDS=${ELASTIC_TRIAL_S:-$STEP} TRIAL_RETRY=${ELASTIC_TRIAL_RETRY:-0} "${PY[@]}" "$D0/elastic.py" zero-loss \
			"$(python3 -c "print(int($c0 * 1.5))")" 2>"$WORK/zl.txt")
		sed 's/^/ /' "$WORK/zl.txt"
		CWHAT=" (zero-loss throughput, trials of ${ELASTIC_TRIAL_S:-$STEP} s$([ "${ELASTIC_TRIAL_RETRY:-0}" = 1 ] && echo ", a trial that lost at most 2 ms of frames run again"); the first measure forwarded $c0 pps)"
	fi
}

echo "chain: $CHAIN; backend for steps: $BE; queues: $Q; out: $OUT"
[ -z "${ELASTIC_GEND_CPUS:-}${ELASTIC_HARNESS_CPUS:-}" ] ||
	echo "isolation (steps, sweep): gend's cpus ${ELASTIC_GEND_CPUS:--}, the sampler on ${ELASTIC_HARNESS_CPUS:-any CPU}"
if [[ $PARTS == *" steps "* ]]; then
	isolate
	if [ -n "${ELASTIC_BASE_PPS:-}" ]; then
		# A given base: no capacity to measure first.
		base=$ELASTIC_BASE_PPS
		echo "== Fig. 7: base $base pps (given), $STEP s per step, on $BE"
	else
		write_cfg "$BE" 64
		run_gend
		full_cap
		gend_stop
		base=$(python3 -c "print(int($C * ${ELASTIC_BASE_FRAC:-0.2}))")
		echo "== Fig. 7: capacity $C pps on $BE$CWHAT, base $base pps, $STEP s per step"
	fi
	for mode in ${ELASTIC_STEP_MODES:-paper bound hybrid}; do
		case ${mode%%[0-9]*} in
		paper) write_cfg "$BE" 64 ;;
		bound) write_cfg "$BE" 64 "max_wait_us = ${ELASTIC_MAX_WAIT_US:-200}
latency_target_us = ${ELASTIC_TARGET_US:-1000}" ;;
		hybrid) write_cfg "$BE" 64 "backend = hybrid${ELASTIC_HYBRID_PPS:+
hybrid_pps = $ELASTIC_HYBRID_PPS}" ;;
		esac
		run_gend
		"${PY[@]}" "$D0/elastic.py" steps "$base" "$STEP" "$mode" "$OUT/steps.csv"
		grep -E "misses|meets|now runs on|UMEM on" "$WORK/gend.log" | sed "s/^/  gend: /"
		gend_stop
	done
	unisolate
fi
if [[ $PARTS == *" sweep "* ]]; then
	echo "== load sweep"
	isolate
	for be in ${ELASTIC_SWEEP:-$default_sweep}; do
		case $be in
		hybrid) write_cfg "$BE" 64 "backend = hybrid${ELASTIC_HYBRID_PPS:+
hybrid_pps = $ELASTIC_HYBRID_PPS}" ;;
		bound) write_cfg "$BE" 64 "max_wait_us = ${ELASTIC_MAX_WAIT_US:-200}
latency_target_us = ${ELASTIC_TARGET_US:-1000}" ;;
		*) write_cfg "$be" 64 ;;
		esac
		[ "$be" = hybrid ] && [ "$BE" = cpu ] && echo "  (hybrid without a GPU: stays on the cpu)"
		run_gend
		# Every backend against the same 100 %: the gpu's where there is one, else the cpu's.
		[ -z "${SWEEP_CAP:-}" ] && { full_cap; SWEEP_CAP=$C; echo "  100 % = $SWEEP_CAP pps ($be$CWHAT)"; }
		TARGET_US=$([ "$be" = bound ] && echo "${ELASTIC_TARGET_US:-1000}") \
			"${PY[@]}" "$D0/elastic.py" sweep "$SWEEP_CAP" "$be" "$OUT/sweep.csv" "$OUT/cdf.csv"
		[ "$be" = bound ] && grep -E "misses|meets" "$WORK/gend.log" | sed "s/^/  gend: /"
		[ "$be" = hybrid ] && grep -E "\(hybrid\) now runs on" "$WORK/gend.log" | sed "s/^/  gend: /"
		gend_stop
	done
	unisolate
fi
if [[ $PARTS == *" sizes "* ]]; then
	echo "== throughput vs packet size ($BE)"
	echo "backend,size,pps,gbps" >"$OUT/sizes.csv"
	for size in 64 128 256 512 1024 1518; do
		write_cfg "$BE" "$size"
		run_gend
		c=$(cap)
		gend_stop
		echo "$BE,$size,$c,$(python3 -c "print(round($c * ($size + 20) * 8 / 1e9, 3))")" | tee -a "$OUT/sizes.csv"
	done
fi
if [[ $PARTS == *" chainlen "* ]]; then
	echo "== throughput vs chain length ($BE, 64 B)"
	echo "backend,nfs,pps" >"$OUT/chainlen.csv"
	all="router fm esp t1 t2 t3 t4"
	[ -r "$COMMUNITY_RULES" ] && all="router nids esp fm t1 t2 t3"
	for n in 1 2 3 4 5 6 7; do
		write_cfg "$BE" 64 "" "$(echo $all | cut -d' ' -f1-$n)"
		run_gend
		echo "$BE,$n,$(cap)" | tee -a "$OUT/chainlen.csv"
		gend_stop
	done
fi
if [[ $PARTS == *" fig6 "* ]]; then
	echo "== Fig. 6: rtc vs pipeline ($BE)"
	echo "gpu_mode,size,capacity_pps,rate_pps,tx_pps,p50_us,p95_us,p99_us,queues" >"$OUT/fig6.csv"
	rate=
	FQ=${ELASTIC_FIG6_QUEUES:-$(($(nproc) / 2 > 8 ? 8 : $(nproc) / 2 < 1 ? 1 : $(nproc) / 2))}
	for mode in pipeline rtc; do
		for size in 64 128; do
			NET_QUEUES=$FQ write_cfg "$BE" "$size" "" "" "gpu_mode = $mode"
			run_gend
			c=$(GENS=$((2 * FQ)) cap)
			[ -z "$rate" ] && rate=$(python3 -c "print(int($c / 2))")
			echo "$mode,$size,$c,$rate,$(GENS=$((2 * FQ)) python3 "$D0/elastic.py" point "$rate" 3),$FQ" | tee -a "$OUT/fig6.csv"
			gend_stop
		done
	done
fi
# Debian's python3-matplotlib is for Debian's python3 (a python3 earlier in PATH may lack it).
py=
for p in python3 /usr/bin/python3; do "$p" -c "import matplotlib" 2>/dev/null && py=$p && break; done
if [ -n "$py" ]; then
	"$py" "$D0/plots.py" "$OUT" "$OUT"
else
	echo "no matplotlib here: draw the plots with test/bench/plots.py $OUT OUT_DIR (apt install python3-matplotlib)"
fi
