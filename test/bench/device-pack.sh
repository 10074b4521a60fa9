#!/bin/bash
# Packs what a GPU-machine run needs into two git-ignored folders to carry:
#   .devbuild   the build folder (default build-gpu) without objects, debug info stripped
#   .devbundle  ip, bpftool, the libraries our binaries load, the Snort rules
#   test/bench/device-pack.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build-gpu}
rm -rf .devbuild
cp -a "$build" .devbuild
find .devbuild -type d -name CMakeFiles -prune -exec rm -rf {} +
find .devbuild \( -name '*.o' -o -name '*.a' \) ! -name '*.bpf.o' -delete
# What only the CI machine runs stays behind (the carry is limited): the fuzz
# replayers and the unit tests that have no GPU part.
rm -rf .devbuild/test/fuzz
find .devbuild/test/unit -maxdepth 1 -type f -perm -u+x ! -name test_gpu_parity ! -name test_rtc -delete
find .devbuild -type f -perm -u+x -exec strip --strip-debug {} + 2>/dev/null || true
if [ ! -d .devbundle/data ]; then
	bash ../shared/tools/device-bundle.sh .devbundle "$build/daemon/gend" "$build/test/bench/gen-bench" \
		"$build/test/unit/test_gpu_parity"
	rm -f .devbundle/gend .devbundle/gen-bench .devbundle/test_gpu_parity
	strip --strip-unneeded .devbundle/*.so* 2>/dev/null || true
	mkdir -p .devbundle/data
	cp -r ../shared/data/snort-community .devbundle/data/
fi
# DEVPACK_PERF=1: perf and its libraries too, for host_bench.sh's ns per packet by
# stage (about 25 MiB more: drop the test binaries from .devbuild to stay inside
# the 64 MiB carry). Debian's perf 6.1 ran on the GPU machine's 6.18 kernel.
if [ "${DEVPACK_PERF:-0}" = 1 ] && [ ! -x .devbundle/perf ]; then
	bash ../shared/tools/device-bundle.sh .devbundle /usr/bin/perf >/dev/null
fi
# What the GPU machine lacks for test_xdp_attach: xdp-loader (with libxdp's objects) and a compiled second program.
[ -x .devbundle/xdp-loader ] || bash ../shared/tools/device-bundle.sh .devbundle >/dev/null
# xdp-trafficgen (xdp-tools), host_veth.sh's second sender, where this machine has it.
if [ ! -x .devbundle/xdp-trafficgen ] && command -v xdp-trafficgen >/dev/null; then
	bash ../shared/tools/device-bundle.sh .devbundle "$(command -v xdp-trafficgen)" >/dev/null
fi
clang -g -O2 -target bpf -c test/net/xdp_count.bpf.c -o .devbundle/xdp_count.o
du -sh .devbuild .devbundle
