# SPDX-License-Identifier: GPL-2.0
# Shared by the end-to-end tests: a three-namespace testbed
#   <p>snd: s0 (10.10.1.1) --veth-- gin (in <p>gen, port 1)
#   <p>gen: gend, ports gin gout
#   <p>rcv: r0 (10.10.2.2) --veth-- gout (in <p>gen, port 2)
# Everything is torn down by net_teardown, which the tests install as an EXIT trap.
# Traffic goes only to addresses inside these namespaces.

set -u
BUILD=${GEN_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
GEND=${GEN_GEND:-$BUILD/daemon/gend}
GENCTL=$BUILD/daemon/genctl
GT=$BUILD/test/traffic/gen-traffic
P=${GEN_NS_PREFIX:-gt$$}
NS_SND=${P}snd NS_GEN=${P}gen NS_RCV=${P}rcv
WORK=$(mktemp -d /tmp/gen-e2e.XXXXXX)
SOCK=$WORK/gen.sock
GEND_PID=
MAC_S0=02:00:00:00:00:01 MAC_GIN=02:00:00:00:00:11 MAC_GOUT=02:00:00:00:00:12 MAC_R0=02:00:00:00:00:02
MAC_GOUT2=02:00:00:00:00:13 MAC_R1=02:00:00:00:00:03

# On a machine without libbpf/libxdp/... installed, GEN_LD_PATH names a folder of
# carried libraries: only our own programs see it, through small wrappers.
# ld_wrap PROGRAM prints what to run: PROGRAM, or its wrapper where GEN_LD_PATH is set.
ld_wrap() {
	local w
	if [ -z "${GEN_LD_PATH:-}" ] || [ ! -x "$1" ]; then
		echo "$1"
		return
	fi
	w=$WORK/$(basename "$1")
	printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$GEN_LD_PATH" "$1" >"$w"
	chmod +x "$w"
	echo "$w"
}
GEND=$(ld_wrap "$GEND") GENCTL=$(ld_wrap "$GENCTL") GT=$(ld_wrap "$GT")

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; [ -f "$WORK/gend.log" ] && { echo "--- gend log"; tail -n 40 "$WORK/gend.log"; }; exit 1; }
ok() { echo "ok - $*"; }

net_require() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, XDP, AF_XDP)"
	command -v ip >/dev/null || skip "needs iproute2"
	[ -x "$GEND" ] && [ -x "$GT" ] || skip "build gend and gen-traffic first ($BUILD)"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || skip "no bpffs"
}

net_teardown() {
	local rc=$?
	[ -n "$GEND_PID" ] && kill "$GEND_PID" 2>/dev/null && wait "$GEND_PID" 2>/dev/null
	for ns in "$NS_SND" "$NS_GEN" "$NS_RCV"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$WORK"
	exit $rc
}

# The second egress link, port 3: r1 (rcv) -- gout2 (gen); again when a test re-creates it.
# Queues of a veth: NET_QUEUES on the sender's side; on gend's ports and the
# receivers NET_QUEUES x TX_SOCKETS, the queues of gend's extra TX sockets
# ([gen] tx_sockets binds shard s of queue q to queue q + s * queues).
mq_snd() { echo "numtxqueues ${NET_QUEUES:-1} numrxqueues ${NET_QUEUES:-1}"; }
mq_gen() { local n=$((${NET_QUEUES:-1} * ${TX_SOCKETS:-1})); echo "numtxqueues $n numrxqueues $n"; }
# gout and r0: as many, or NET_OUT_QUEUES where that is more (a benchmark that
# transmits on gout from more threads than gend has TX sockets).
mq_out() {
	local n=$((${NET_QUEUES:-1} * ${TX_SOCKETS:-1}))
	[ "${NET_OUT_QUEUES:-0}" -gt "$n" ] && n=$NET_OUT_QUEUES
	echo "numtxqueues $n numrxqueues $n"
}

net_gout2() {
	ip link add r1 netns "$NS_RCV" $(mq_gen) type veth peer name gout2 netns "$NS_GEN" $(mq_gen) || fail "veth r1/gout2"
	nsenter --net=/var/run/netns/"$NS_GEN" ip link set gout2 address $MAC_GOUT2 up
	nsenter --net=/var/run/netns/"$NS_RCV" ip link set r1 address $MAC_R1 up
	nsenter --net=/var/run/netns/"$NS_RCV" ip addr add 10.10.3.2/24 dev r1
}

net_setup() {
	trap net_teardown EXIT
	trap 'exit 1' INT TERM
	ip netns add "$NS_SND" && ip netns add "$NS_GEN" && ip netns add "$NS_RCV" || fail "cannot create namespaces"
	# NET_QUEUES: rx/tx queues per veth (gend's [gen] queues must match).
	ip link add s0 netns "$NS_SND" $(mq_snd) type veth peer name gin netns "$NS_GEN" $(mq_gen) || fail "veth s0/gin"
	ip link add r0 netns "$NS_RCV" $(mq_out) type veth peer name gout netns "$NS_GEN" $(mq_out) || fail "veth r0/gout"
	nsenter --net=/var/run/netns/"$NS_SND" ip link set s0 address $MAC_S0
	nsenter --net=/var/run/netns/"$NS_GEN" ip link set gin address $MAC_GIN
	nsenter --net=/var/run/netns/"$NS_GEN" ip link set gout address $MAC_GOUT
	nsenter --net=/var/run/netns/"$NS_RCV" ip link set r0 address $MAC_R0
	for l in "$NS_SND s0" "$NS_GEN gin" "$NS_GEN gout" "$NS_RCV r0"; do
		set -- $l
		nsenter --net=/var/run/netns/"$1" ip link set "$2" mtu 1500 up
	done
	net_gout2
	nsenter --net=/var/run/netns/"$NS_SND" ip addr add 10.10.1.1/24 dev s0
	nsenter --net=/var/run/netns/"$NS_RCV" ip addr add 10.10.2.2/24 dev r0
	# Unmatched packets go up gen's own stack, which routes them to r0: proof that they passed.
	nsenter --net=/var/run/netns/"$NS_GEN" ip addr add 10.10.1.2/24 dev gin
	nsenter --net=/var/run/netns/"$NS_GEN" ip addr add 10.10.2.1/24 dev gout
	nsenter --net=/var/run/netns/"$NS_GEN" ip addr add 10.10.3.1/24 dev gout2
	nsenter --net=/var/run/netns/"$NS_GEN" sysctl -qw net.ipv4.ip_forward=1
	# The end hosts never forward, whatever the machine's own setting (new namespaces
	# copy it): a receiver that routed frames back into gout would loop them.
	nsenter --net=/var/run/netns/"$NS_SND" sysctl -qw net.ipv4.ip_forward=0
	nsenter --net=/var/run/netns/"$NS_RCV" sysctl -qw net.ipv4.ip_forward=0
	nsenter --net=/var/run/netns/"$NS_SND" ip route add default via 10.10.1.2
	nsenter --net=/var/run/netns/"$NS_RCV" ip route add default via 10.10.2.1
	nsenter --net=/var/run/netns/"$NS_SND" ip link set lo up; nsenter --net=/var/run/netns/"$NS_GEN" ip link set lo up; nsenter --net=/var/run/netns/"$NS_RCV" ip link set lo up
	# The receiver's peer gets an XDP program from gend (port 2), so AF_XDP TX reaches r0.
}

# A veth pair inside gen (gla <-> glb): a chain's output on gla comes back in on glb.
net_add_loop() {
	nsenter --net=/var/run/netns/"$NS_GEN" ip link add gla type veth peer name glb || fail "veth gla/glb"
	nsenter --net=/var/run/netns/"$NS_GEN" ip link set gla up
	nsenter --net=/var/run/netns/"$NS_GEN" ip link set glb up
	GEN_PORTS="gin gout gout2 gla glb"
}

# One ESP SA's keys and tunnel, shared by the tests and benchmarks (each adds its spi).
ESP_SA="enc_key = 00112233445566778899aabbccddeeff
auth_key = 0102030405060708090a0b0c0d0e0f1011121314
tunnel_src = 192.0.2.1
tunnel_dst = 192.0.2.2"
# The Snort community rules of the shared data folder (GEN_SHARED_DATA names another).
COMMUNITY_RULES=${GEN_SHARED_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/shared/data}/snort-community/community.rules

# The paper chain's NFs for frames of synthetic ports (to 10.255.P.1): [nf router],
# [nf esp] (encrypt) and, with "nids" as $1, [nf nids] on the community rules.
cfg_paper_nfs() {
	printf '0.0.0.0/0 02:00:00:00:00:99\n10.255.0.0/16 02:00:00:00:00:02\n' >"$WORK/routes"
	# mtu 1600: 1518-byte frames (1504-byte packets) grow past 1500 with ESP; the benches size them all.
	printf '\n[nf router]\ntype = ipv4_router\nroutes = %s\n\n[nf esp]\ntype = ipsec_esp\ndirection = encrypt\nspi = 0x1001\nmtu = 1600\n%s\n' \
		"$WORK/routes" "$ESP_SA" >>"$WORK/chains.ini"
	if [ "${1:-}" = nids ]; then
		printf '\n[nf nids]\ntype = nids\nrules = %s\naction = drop\n' "$COMMUNITY_RULES" >>"$WORK/chains.ini"
	fi
}

# Write the [gen] section to $WORK/chains.ini; the caller appends [nf]/[chain] sections.
# NIDS alert events are drained but not written unless GEN_EVE_LOG names a file
# (a benchmark's alerts would fill a disk).
cfg_begin() {
	cat >"$WORK/chains.ini" <<-EOF2
	[gen]
	ports = ${GEN_PORTS:-gin gout gout2}
	backend = ${GEN_BACKEND:-cpu}
	unmatched = pass
	xdp_mode = native
	queues = ${NET_QUEUES:-1}
	control = $SOCK
	eve_log = ${GEN_EVE_LOG:-off}
	EOF2
	# TX sockets per copy-mode port and queue; said only when asked (older gend binaries lack the key).
	[ -z "${TX_SOCKETS:-}" ] || echo "tx_sockets = $TX_SOCKETS" >>"$WORK/chains.ini"
	# [gen] demote (auto, yes, no); said only when asked, as tx_sockets.
	[ -z "${GEN_DEMOTE:-}" ] || echo "demote = $GEN_DEMOTE" >>"$WORK/chains.ini"
	# [gen] tx_budget (auto or 32..4096), the same way.
	[ -z "${GEN_TX_BUDGET:-}" ] || echo "tx_budget = $GEN_TX_BUDGET" >>"$WORK/chains.ini"
	# [gen] spin_us, the same way.
	[ -z "${GEN_SPIN_US:-}" ] || echo "spin_us = $GEN_SPIN_US" >>"$WORK/chains.ini"
	# [gen] spin_max_us, the same way.
	[ -z "${GEN_SPIN_MAX_US:-}" ] || echo "spin_max_us = $GEN_SPIN_MAX_US" >>"$WORK/chains.ini"
	# GEND_INFLIGHT=N (benchmarks): [gen] inflight, batches each chain keeps in flight.
	[ -z "${GEND_INFLIGHT:-}" ] || echo "inflight = $GEND_INFLIGHT" >>"$WORK/chains.ini"
	# GEND_CPUS=LIST (benchmarks): [gen] cpus, the CPUs gend's data-plane threads pin to in turn.
	[ -z "${GEND_CPUS:-}" ] || echo "cpus = $GEND_CPUS" >>"$WORK/chains.ini"
}

# The NFs most tests chain, by name: ttl (ttl_dec), to_r0 and to_r1 (l2_rewrite
# to the receivers' MACs). cfg_nfs ttl to_r0 appends those [nf] sections.
cfg_nfs() {
	local nf
	for nf in "$@"; do
		case $nf in
		ttl) printf '\n[nf ttl]\ntype = ttl_dec\n' ;;
		to_r0) printf '\n[nf to_r0]\ntype = l2_rewrite\ndst_mac = %s\n' "$MAC_R0" ;;
		to_r1) printf '\n[nf to_r1]\ntype = l2_rewrite\ndst_mac = %s\n' "$MAC_R1" ;;
		*) echo "cfg_nfs: no NF '$nf'" >&2; return 1 ;;
		esac
	done >>"$WORK/chains.ini"
}

# cfg_chain NAME ID MATCH NFS OUTPUT: append a [chain] section (NFS may be empty).
cfg_chain() {
	printf '\n[chain %s]\nid = %s\nmatch = %s\n' "$1" "$2" "$3" >>"$WORK/chains.ini"
	[ -z "$4" ] || printf 'nfs = %s\n' "$4" >>"$WORK/chains.ini"
	printf 'output = %s\n' "$5" >>"$WORK/chains.ini"
}

# The fail-mode tests' two chains, both out of port 2: fw (a firewall allowing UDP,
# so closed by default) on dport 5001, plain (MAC rewrite only, open) on dport 5002.
cfg_fw_plain() {
	printf 'allow proto udp\n' >"$WORK/fw.rules"
	printf '\n[nf fw]\ntype = firewall\nrules = fw.rules\n' >>"$WORK/chains.ini"
	cfg_nfs to_r0
	cfg_chain fw 1 "proto udp dport 5001" "fw to_r0" 2
	cfg_chain plain 2 "proto udp dport 5002" "to_r0" 2
}

# The port tests' two chains: a (dport 5001) out of gout to r0, b (dport 5002) out of gout2 to r1.
cfg_a_b() {
	cfg_nfs to_r0 to_r1
	cfg_chain a 1 "proto udp dport 5001" "to_r0" 2
	cfg_chain b 2 "proto udp dport 5002" "to_r1" 3
}

# One chain with no NFs, UDP from any port to port 2: the benchmarks' path.
cfg_empty_chain() {
	printf '\n[chain empty]\nid = 1\nmatch = proto udp\noutput = 2\n' >>"$WORK/chains.ini"
}

# gend runs in the gen namespace but keeps the host's mounts (bpffs pins stay visible).
# GEND_FRAMES=N (benchmarks): gend --frames N, UMEM frames per queue.
gend_start() {
	nsenter --net=/var/run/netns/"$NS_GEN" "$GEND" -f -c "$WORK/chains.ini" ${GEND_FRAMES:+--frames "$GEND_FRAMES"} "$@" \
		>"$WORK/gend.log" 2>&1 &
	GEND_PID=$!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$GEND_PID" 2>/dev/null || fail "gend exited at start"
		sleep 0.1
	done
	fail "gend did not open its control socket"
}

gend_stop() {
	kill -TERM "$GEND_PID"
	wait "$GEND_PID"
	local rc=$?
	GEND_PID=
	return $rc
}

ctl() { "$GENCTL" -s "$SOCK" "$@"; }

# The benchmarks' readings of a running gend: its first chain's TX packets so
# far, and its threads' CPU time so far ("name ticks" lines, one per name: threads
# of one name summed).
gend_tx() { ctl --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['chains'][0]['tx_packets'])"; }
gend_thread_ticks() {
	for t in /proc/"$GEND_PID"/task/*; do printf '%s %s\n' "$(cat "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"; done |
		awk '{ t = $NF; $NF = ""; sub(/ $/, ""); s[$0] += t } END { for (n in s) print n, s[n] }'
}

# json_get FILE EXPR: python3 expression on the parsed object `j`.
json_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# cpu_list LIST: the CPUs of a list such as 2-5,8 (as [gen] cpus and taskset write it), space separated.
cpu_list() {
	python3 -c "
import sys
out = []
for part in sys.argv[1].split(','):
    a, _, b = part.partition('-')
    out += range(int(a), int(b or a) + 1)
print(' '.join(map(str, out)))" "$1"
}

# gend_wait_agent (benchmarks): with a chain in rtc mode on the GPU, wait (at most
# 120 s) for its fused agent: gpu_agent = auto runs the generic one while NVRTC
# compiles (up to about a minute on a cold cache), and a figure taken then
# would be the generic agent's. Says how long it waited, if it did.
gend_wait_agent() {
	local i
	for i in $(seq 240); do
		ctl --json chains >"$WORK/agent.json" 2>/dev/null || return 0
		python3 -c "import json,sys; sys.exit(any('compiling' in c['agent'] for c in json.load(open(sys.argv[1]))))" \
			"$WORK/agent.json" && break
		sleep 0.5
	done
	[ "$i" = 1 ] || echo "  (waited $((i / 2)) s for the fused agent: $(json_get "$WORK/agent.json" "[c['agent'] for c in j]"))"
}

# recv_start NAME DEV [args]: a receiver in the rcv namespace writing $WORK/NAME.json
recv_start() {
	local name=$1 dev=$2; shift 2
	# A ready file left by an earlier receiver of this name would let the sender start before this one listens.
	rm -f "$WORK/$name.ready"
	nsenter --net=/var/run/netns/"$NS_RCV" "$GT" recv --dev "$dev" --json --ready-file "$WORK/$name.ready" "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" &
	eval "RECV_$name=$!"
	for _ in $(seq 50); do [ -e "$WORK/$name.ready" ] && return 0; sleep 0.1; done
	fail "receiver $name not ready: $(cat "$WORK/$name.err")"
}

recv_wait() { local pid; eval "pid=\$RECV_$1"; wait "$pid"; }

# send ARGS...: a sender in the snd namespace, addressed to gin's MAC.
send() {
	nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN \
		--src 10.10.1.1 --dst 10.10.2.2 "$@" >"$WORK/send.out" 2>&1 || fail "sender: $(cat "$WORK/send.out")"
}
