#!/bin/bash
# Fuzz each target for SECONDS, one after another, at the lowest priority:
#   test/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# BUILD_DIR is configured with -DCMAKE_C_COMPILER=clang -DGEN_FUZZ=ON. The
# growing corpus and any crash land in BUILD_DIR/fuzz-work/TARGET/; copy a
# crash into test/fuzz/crashes/TARGET/ once fixed, so CI replays it. The Snort
# target also starts from the community rules when they are on this machine
# (split into small files in the work folder, never into the repository).
# FUZZ_ARGS adds libFuzzer options (e.g. -max_len=4096); FUZZ_WORK names
# another work folder (default BUILD_DIR/fuzz-work).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
secs=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in "$here"/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz_}")
	done
fi
snort=${GEN_SHARED_DATA:-$here/../../../shared/data}/snort-community/community.rules
for t in "${targets[@]}"; do
	bin=$build/test/fuzz/fuzz_$t
	work=${FUZZ_WORK:-$build/fuzz-work}/$t
	[ -x "$bin" ] || { echo "$bin: not built" >&2; exit 1; }
	mkdir -p "$work/corpus" "$work/artifacts"
	if [ "$t" = snort ] && [ -r "$snort" ] && [ ! -e "$work/corpus/.community" ]; then
		split -l 40 -d -a 4 "$snort" "$work/corpus/community-"
		touch "$work/corpus/.community"
	fi
	start=$(date +%s)
	nice -n 19 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1536 -print_final_stats=1 ${FUZZ_ARGS:-} \
		-artifact_prefix="$work/artifacts/" "$work/corpus" "$here/corpus/$t" >"$work/log" 2>&1 || true
	end=$(date +%s)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
	crashes=$(find "$work/artifacts" -type f | wc -l)
	printf '%s\t%d s\t%s execs\t%s artifacts\t%s corpus files\n' "$t" $((end - start)) "${runs:-?}" "$crashes" \
		"$(find "$work/corpus" -type f | wc -l)" | tee -a "${FUZZ_WORK:-$build/fuzz-work}/summary.tsv"
done
