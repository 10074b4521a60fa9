# SPDX-License-Identifier: GPL-2.0
# Sourced on the GPU machine, which lacks ip/bpftool/libxdp: bundle_env BUNDLE_DIR
# puts the bundle's ip, bpftool, xdp-loader, xdp-trafficgen (and perf, when device-pack.sh was asked for it)
# first in PATH, wrapped so that only they (not
# every program) load the bundle's libraries, points libxdp at its BPF objects
# and mounts bpffs. The wrappers' folder is $BUNDLE_WRAP (the caller removes it).
bundle_env() {
	local bundle=$1 wrap t
	wrap=$(mktemp -d /tmp/gen-wrap.XXXXXX)
	BUNDLE_WRAP=$wrap
	for t in ip bpftool xdp-loader xdp-trafficgen perf; do
		[ -x "$bundle/$t" ] || continue
		printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$bundle" "$bundle/$t" >"$wrap/$t"
		chmod +x "$wrap/$t"
	done
	export PATH=$wrap:$PATH LIBXDP_OBJECT_PATH=$bundle
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}
