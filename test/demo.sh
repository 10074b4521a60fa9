#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The GEN demo: installs and builds what is missing, builds a three-namespace
# testbed (sender -- gen -- receiver), runs gend on etc/gen/chains.ini as it is,
# sends traffic through its chains, shows live per-chain figures, cleans up.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "$(id -u)" = 0 ] || { echo "demo: run as root (namespaces, XDP, AF_XDP)" >&2; exit 1; }
bash test/setup.sh
B=$ROOT/build
SND=gendemo-snd GEN=gendemo-gen RCV=gendemo-rcv
SECS=${GEN_DEMO_SECONDS:-10}
TMP=$(mktemp -d /tmp/gen-demo.XXXXXX)
GEND_PID=
cleanup() {
	[ -n "$GEND_PID" ] && kill "$GEND_PID" 2>/dev/null && wait "$GEND_PID" 2>/dev/null
	for ns in $SND $GEN $RCV; do ip netns del $ns 2>/dev/null || true; done
	rm -rf "$TMP"
	echo "demo: testbed removed"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

for ns in $SND $GEN $RCV; do ip netns add $ns; nsenter --net=/var/run/netns/$ns ip link set lo up; done
ip link add demo-s0 netns $SND address 02:00:00:00:00:01 type veth peer name gen-in netns $GEN address 02:00:00:00:00:11
ip link add demo-r0 netns $RCV address 02:00:00:00:00:02 type veth peer name gen-out netns $GEN address 02:00:00:00:00:12
nsenter --net=/var/run/netns/$SND ip link set demo-s0 up; nsenter --net=/var/run/netns/$GEN ip link set gen-in up; nsenter --net=/var/run/netns/$GEN ip link set gen-out up; nsenter --net=/var/run/netns/$RCV ip link set demo-r0 up
echo "demo: testbed up: $SND/demo-s0 -> $GEN/gen-in [gend] $GEN/gen-out -> $RCV/demo-r0"

nsenter --net=/var/run/netns/$GEN "$B/daemon/gend" -f -c etc/gen/chains.ini >"$TMP/gend.log" 2>&1 &
GEND_PID=$!
for _ in $(seq 100); do [ -S /run/gen/gen.sock ] && break; sleep 0.1; done
[ -S /run/gen/gen.sock ] || { cat "$TMP/gend.log"; exit 1; }
head -n 3 "$TMP/gend.log"
"$B/daemon/genctl" status

nsenter --net=/var/run/netns/$RCV "$B/test/traffic/gen-traffic" recv --dev demo-r0 --duration $((SECS + 3)) --ready-file "$TMP/ready" >"$TMP/recv.txt" 2>&1 &
RECV=$!
for _ in $(seq 50); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
tx() {
	nsenter --net=/var/run/netns/$SND "$B/test/traffic/gen-traffic" send --dev demo-s0 --src-mac 02:00:00:00:00:01 \
		--dst-mac 02:00:00:00:00:11 --src 10.0.0.1 --dst 10.0.1.1 --duration $SECS "$@" >/dev/null
}
tx --proto tcp --dport 80 --rate 30000 --flows 16 --stream 1 --size 64 &
tx --proto udp --dport 53 --rate 15000 --flows 8 --stream 2 --imix &
tx --proto udp --dport 9999 --rate 5000 --stream 3 --size 512 &
for i in $(seq $SECS); do
	sleep 1
	echo "--- t=${i}s: genctl stats"
	"$B/daemon/genctl" stats
done
wait $RECV || true
echo "--- receiver"
cat "$TMP/recv.txt"
kill -TERM $GEND_PID; wait $GEND_PID; GEND_PID=
echo "demo: gend stopped (exit 0)"
