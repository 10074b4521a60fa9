#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# On the GPU machine: the paper chain's Mpps (fused agent, gather mode) against
# the rtc agent's resident-warp budget (GEN_GPU_WARPS_PER_SM; 0 = one thread per
# packet, no cap), per packet size and batch size. Prints figures only.
#   test/bench/sweep.sh [BUILD_DIR] [LIBS]   (env: SWEEP_WARPS, SWEEP_BATCHES, SWEEP_SIZES)
build=${1:-build-gpu}
libs=${2:-}
printf '%-6s %-8s' size batch
for w in ${SWEEP_WARPS:-0 4 8 12 16 24}; do printf ' %9s' "w=$w"; done
echo
for size in ${SWEEP_SIZES:-64 1500 imix}; do
	for n in ${SWEEP_BATCHES:-1024 4096 16384 65536}; do
		printf '%-6s %-8s' "$size" "$n"
		for w in ${SWEEP_WARPS:-0 4 8 12 16 24}; do
			v=$(GEN_GPU_WARPS_PER_SM=$w LD_LIBRARY_PATH=$libs "$build/test/bench/gen-bench" \
				-P "gather/fused:$n:$size" -d "${GEN_BENCH_SECONDS:-0.3}" 2>/dev/null | sed -n 's/.*: \([0-9.]*\) Mpps$/\1/p')
			printf ' %9s' "${v:--}"
		done
		echo
	done
done
