#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Installs what GEN needs on a fresh Debian 12 / Ubuntu machine and builds it into build/.
# Used by the README's two commands. Idempotent: skips packages already present.
set -eu
cd "$(dirname "$0")/.."
PKGS="build-essential cmake pkg-config clang llvm gcc-multilib libbpf-dev libxdp-dev bpftool
      libinih-dev libcriterion-dev libsystemd-dev libssl-dev iproute2 python3 jq systemd util-linux procps
      xdp-tools python3-prometheus-client python3-scapy bash-completion file dpkg-dev python3-yaml python3-kubernetes"
# Hyperscan (gen-bench's cpu peer for nids) is packaged for amd64 only.
if [ "$(dpkg --print-architecture)" = amd64 ]; then
	PKGS="$PKGS libhyperscan-dev"
fi
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || { echo "setup: installing$missing needs root" >&2; exit 1; }
	echo "setup: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=${GEN_BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build build -j"$(nproc)"
