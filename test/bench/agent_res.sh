#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# agent_res.sh [ARCH]: registers, stack and spills of the SFC agent kernels, from
# the compiler alone (no GPU needed): the prebuilt agents (cuda/agent.cu, nvcc with
# the build's options) and the fused agents of a few chains, their source
# generated as gend generates it (cuda/rtc.c, through agent-src) and compiled with
# nvcc -cubin and NVRTC's options. ARCH: sm_90 by default.
# Environment: NVCC (nvcc), CC (cc), AGENT_CHAINS ("name:nf,nf;...") to replace the chains.
set -euo pipefail

arch=${1:-sm_90}
src=$(cd "$(dirname "$0")/../.." && pwd)
nvcc=${NVCC:-nvcc}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chains=${AGENT_CHAINS:-"paper:ipv4_router,nids,ipsec_esp;nids:nids;esp:ipsec_esp;router:ipv4_router"}

"$cc" -O1 -std=gnu11 -I"$src/cuda" -I"$src/nf" -o "$tmp/agent-src" "$src/test/bench/agent_src.c" \
	"$src/cuda/rtc.c" "$src/nf/rtcache.c" -lcrypto -ldl -lpthread

# ptxas -v lines: "Compiling entry function 'X'", "N bytes stack frame, S bytes spill stores, L bytes spill
# loads", "Used R registers, ..., C bytes cumulative stack size" (frame plus callees'). One row per entry function.
table() {
	awk -v what="$1" '
	/Compiling entry function/ { match($0, /gen_agent_[a-z]+/); fn = substr($0, RSTART, RLENGTH) }
	/bytes stack frame/ { st = $(NF - 11); ss = $(NF - 7); sl = $(NF - 3) }
	/Used [0-9]+ registers/ {
		cum = st
		for (i = 1; i <= NF; i++) {
			if ($i == "Used")
				r = $(i + 1)
			if ($i == "cumulative")
				cum = $(i - 2)
		}
		if (fn != "")
			printf "| %-44s | %-15s | %4s | %5s | %5s | %8s | %8s |\n", what, fn, r, st, cum, ss, sl
		fn = ""
	}'
}

echo "| agent                                        | kernel          | regs | frame | stack | spill st | spill ld |"
echo "|---|---|---:|---:|---:|---:|---:|"
"$nvcc" -arch="$arch" -cubin -std=c++17 --expt-relaxed-constexpr -lineinfo -I"$src/cuda" -I"$src/nf" \
	-Xptxas -v -o "$tmp/agent.cubin" "$src/cuda/agent.cu" 2>&1 | table prebuilt
IFS=';' read -ra list <<< "$chains"
for c in "${list[@]}"; do
	name=${c%%:*}
	nfs=${c#*:}
	"$tmp/agent-src" ${nfs//,/ } > "$tmp/$name.cu"
	"$nvcc" -arch="$arch" -cubin -std=c++17 --extra-device-vectorization -lineinfo -I"$src/cuda" -I"$src/nf" \
		-Xptxas -v -o "$tmp/$name.cubin" "$tmp/$name.cu" 2>&1 | table "fused $name (${nfs//,/ > })"
done
