#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A/B of gen-bench figures across commits, for bisecting a change in speed.
# gen-bench's fused agents are compiled at run time from the NF headers that
# were embedded in the binary when it was built, so comparing two versions of
# the NF or agent code takes one binary per version (one source tree and one
# binary do not make an A/B).
#
#   test/bench/ab.sh build OUT REV...   one stripped gen-bench per commit (GEN_CUDA
#                                       build) into OUT/REV/gen-bench; "." is the
#                                       working tree as it is now (OUT/wt)
#   test/bench/ab.sh run OUT [ROUNDS] -- GEN_BENCH_ARGS...
#                                       the binaries of OUT in turn, ROUNDS times
#                                       (default 3), interleaved so that a machine
#                                       that drifts moves every binary alike;
#                                       prints one line per run
# Example (on the GPU machine, after carrying OUT):
#   test/bench/ab.sh run OUT 3 -- -P gather/fused:4096:64 -d 0.3
# Figures of one call compare; figures of two calls may come from two
# different machines.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
cmd=${1:-}
out=${2:-}
usage() {
	sed -n '3,20p' "$0" >&2
	exit 2
}
[ -n "$cmd" ] && [ -n "$out" ] || usage

build_one() {
	local rev=$1 name tree bdir
	if [ "$rev" = . ]; then
		name=wt
		tree=$src
	else
		name=$(git -C "$src" rev-parse --short "$rev")
		tree=$(mktemp -d /tmp/gen-ab-src.XXXXXX)
		git -C "$src" worktree add --detach "$tree" "$rev" >/dev/null
	fi
	bdir=$(mktemp -d /tmp/gen-ab-build.XXXXXX)
	cmake -S "$tree" -B "$bdir" -DGEN_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$bdir" --target gen-bench -j"$(nproc)" >/dev/null
	mkdir -p "$out/$name"
	cp "$bdir/test/bench/gen-bench" "$out/$name/gen-bench"
	strip --strip-debug "$out/$name/gen-bench"
	rm -rf "$bdir"
	if [ "$rev" != . ]; then
		git -C "$src" worktree remove --force "$tree"
	fi
	echo "$out/$name/gen-bench ($rev)"
}

case $cmd in
build)
	shift 2
	[ $# -gt 0 ] || { echo "ab.sh build: name at least one commit" >&2; exit 2; }
	for rev in "$@"; do
		build_one "$rev"
	done
	;;
run)
	shift 2
	rounds=3
	if [ $# -gt 0 ] && [ "$1" != -- ]; then
		rounds=$1
		shift
	fi
	[ "${1:-}" = -- ] && shift
	bins=("$out"/*/gen-bench)
	[ -x "${bins[0]}" ] || { echo "ab.sh run: no $out/*/gen-bench" >&2; exit 1; }
	for r in $(seq 1 "$rounds"); do
		for b in "${bins[@]}"; do
			v=$("$b" "$@" 2>&1 | sed -n 's/.*: \([0-9.]*\) Mpps$/\1/p' | tail -n 1) || v=
			# A run that printed no figure (no GPU, a failed chain) says so; the others go on.
			echo "round $r $(basename "$(dirname "$b")"): ${v:-no figure}"
		done
	done
	;;
*)
	usage
	;;
esac
