#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every test: installs dependencies, builds, runs unit, BPF, NF, traffic and
# end-to-end netns tests (GPU tests skip with a message without a GPU).
set -eu
cd "$(dirname "$0")/.."
bash test/setup.sh
mountpoint -q /sys/fs/bpf 2>/dev/null || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
cd build
ctest --output-on-failure --timeout 600 "$@"
