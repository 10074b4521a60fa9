#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# On the GPU machine: the netns end-to-end tests with backend = gpu, then the
# 64 B throughput figures for gpu and cpu. The machine lacks ip/bpftool/libxdp:
# BUNDLE (made by shared/tools/device-bundle.sh) carries them; only our programs
# and the bundled tools see its libraries.
#   test/net/device_e2e.sh BUILD_DIR BUNDLE_DIR
set -u
build=$(cd "${1:?build dir}" && pwd)
bundle=$(cd "${2:?bundle dir}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bundle_env.sh"
bundle_env "$bundle"
export GEN_LD_PATH=${GEN_LD_PATH:-$bundle} GEN_BUILD=$build
# No clang there: test_xdp_attach takes its second program from the bundle.
[ -f "$bundle/xdp_count.o" ] && export GEN_XDP_COUNT_OBJ=$bundle/xdp_count.o
rc=0
for backend in gpu; do
	for t in ${GEN_E2E_TESTS:-test_forward test_reload test_notify test_paper_chain test_hitless test_gpu_fallback test_multi_gpu test_hybrid_gpu test_multiqueue test_backend_auto test_paper_chain_debug test_multiqueue_debug test_nf_fault test_eve test_xdp_attach}; do
		echo "== net/$t backend=$backend"
		# NAME_debug: the same test against gend-debug (frame accounting asserted).
		script=${t%_debug}
		gend_bin=
		[ "$script" != "$t" ] && gend_bin=$build/daemon/gend-debug
		# Past the limit: what gend's threads wait on, then the test ends (hang_diag.sh).
		GEN_GEND=$gend_bin GEN_BACKEND=$backend bash "$here/../bench/hang_diag.sh" "${GEN_E2E_LIMIT:-300}" \
			bash "$here/$script.sh" >"/tmp/e2e-$t.log" 2>&1
		r=$?
		grep -E "^(ok|FAIL|SKIP)|NF states handed over" "/tmp/e2e-$t.log"
		# 77: skipped (it says why, e.g. test_multi_gpu on a one-GPU host), not failed.
		[ $r = 0 ] || [ $r = 77 ] || { rc=1; tail -n "$([ $r = 124 ] && echo 150 || echo 30)" "/tmp/e2e-$t.log"; }
		echo "net/$t backend=$backend rc=$r"
	done
done
for backend in ${GEN_E2E_BENCH_BACKENDS-gpu cpu}; do
	for q in 1 4; do
		echo "== bench: 64 B through gend, empty chain, backend=$backend, $q queue(s), AF_XDP sender"
		NET_QUEUES=$q GEN_BENCH_AFXDP=1 GEN_BACKEND=$backend timeout 120 bash "$here/../bench/net_throughput.sh" 5 2>&1 |
			grep -E "^(gend|I/O|af_xdp)"
	done
done
rm -rf "$BUNDLE_WRAP"
exit $rc
