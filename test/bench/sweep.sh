#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# On the GPU machine: the paper chain's Mpps (fused agent, gather mode) against
# the rtc agent's resident-warp budget (GEN_GPU_WARPS_PER_SM; 0 = one thread per
# packet, no cap), per packet size and batch size. Prints figures only.
#   test/bench/sweep.sh [BUILD_DIR] [LIBS]   (env: SWEEP_WARPS, SWEEP_BATCHES, SWEEP_SIZES,
#   SWEEP_CHAIN=nids: nids alone on the community rules instead of the paper chain;
#   GEN_BENCH_AHEAD=k: frames restored just before use, see gen_bench.c)
build=${1:-build-gpu}
libs=${2:-}
cfg=()
if [ "${SWEEP_CHAIN:-paper}" = nids ]; then
	. "$(dirname "$0")/../net/lib.sh"
	[ -r "$COMMUNITY_RULES" ] || { echo "sweep: no community rules at $COMMUNITY_RULES" >&2; exit 1; }
	ini=$(mktemp /tmp/gen-sweep-XXXXXX.ini)
	printf '[gen]\nports = bench0 bench1\nmini_batch = 256\n\n[nf ids]\ntype = nids\nrules = %s\naction = alert\n\n[chain ids]\nid = 1\nmatch = src 0.0.0.0/0\nnfs = ids\noutput = 2\n' \
		"$COMMUNITY_RULES" >"$ini"
	cfg=(-c "$ini" -n ids)
	echo "chain: nids alone ($COMMUNITY_RULES)"
fi
printf '%-6s %-8s' size batch
for w in ${SWEEP_WARPS:-0 4 8 12 16 24}; do printf ' %9s' "w=$w"; done
echo
for size in ${SWEEP_SIZES:-64 1500 imix}; do
	for n in ${SWEEP_BATCHES:-1024 4096 16384 65536}; do
		printf '%-6s %-8s' "$size" "$n"
		for w in ${SWEEP_WARPS:-0 4 8 12 16 24}; do
			v=$(GEN_GPU_WARPS_PER_SM=$w LD_LIBRARY_PATH=$libs "$build/test/bench/gen-bench" "${cfg[@]}" \
				-P "gather/fused:$n:$size" -d "${GEN_BENCH_SECONDS:-0.3}" 2>/dev/null | sed -n 's/.*: \([0-9.]*\) Mpps$/\1/p')
			printf ' %9s' "${v:--}"
		done
		echo
	done
done
