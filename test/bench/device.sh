#!/bin/bash
# On the GPU machine, from the repository root, with the build folder and the
# library bundle carried (see test/bench/RESULTS.md):
#   test/bench/device.sh [BUILD_DIR] [BUNDLE_DIR] [OUT_DIR]
# Runs the GPU unit/parity tests and gen-bench, prints a short table, and keeps
# the full logs in OUT_DIR.
set -u
build=${1:-build-gpu}
bundle=${2:-.devbundle}
out=${3:-${OUT:-/tmp/gen-device}}
mkdir -p "$out"
export GEN_SHARED_DATA=${GEN_SHARED_DATA:-$PWD/$bundle/data}
libs="$PWD/$bundle"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
nproc | sed 's/^/cores: /'

echo "== unit: test_gpu_parity"
t0=$(date +%s)
LD_LIBRARY_PATH=$libs "$build/test/unit/test_gpu_parity" --jobs "$(nproc)" --verbose >"$out/parity.log" 2>&1
rc_test=$?
grep -E '^\[(PASS|FAIL|SKIP)\]|Synthesis' "$out/parity.log"
grep -B2 -A6 'Assertion Failed\|CRASH' "$out/parity.log" | head -60
echo "parity rc=$rc_test in $(( $(date +%s) - t0 )) s"

echo "== gen-bench"
LD_LIBRARY_PATH=$libs "$build/test/bench/gen-bench" -d "${GEN_BENCH_SECONDS:-0.2}" -T "$(nproc)" 2>&1 | tee "$out/bench.txt"
rc_bench=${PIPESTATUS[0]}
echo "summary: parity rc=$rc_test bench rc=$rc_bench"
exit $(( rc_test != 0 || rc_bench != 0 ))
