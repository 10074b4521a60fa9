#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# gen-traffic over one veth pair between two namespaces: what is sent must be
# received exactly, and a wrong expectation must show up as loss; and the
# XDP receiver of the benchmarks (gen-xsk-sink --xdp-drop, next to gen-traffic).
# usage: test_traffic.sh PATH/TO/gen-traffic
set -u
GT=${1:-$(dirname "$0")/../../build/test/traffic/gen-traffic}
SUF=$$$RANDOM
NA=gt-a-$SUF NB=gt-b-$SUF DA=gta$SUF DB=gtb$SUF
WORK=

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok - $*"; }

[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || skip "'ip netns' is not available"
command -v jq >/dev/null || skip "needs jq to read the JSON reports"
[ -x "$GT" ] || fail "gen-traffic not found at $GT"

cleanup() {
	local rc=$?
	# Kill only what this script started.
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$NA" 2>/dev/null
	ip netns del "$NB" 2>/dev/null
	[ -n "$WORK" ] && rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

WORK=$(mktemp -d /tmp/gen-traffic-test.XXXXXX)
ip netns add "$NA" || skip "cannot create a network namespace"
ip netns add "$NB" || fail "cannot create namespace $NB"
# Two queues each way, so that --threads/--queue-base have a queue per thread.
ip link add "$DA" netns "$NA" numtxqueues 2 numrxqueues 2 type veth \
	peer name "$DB" netns "$NB" numtxqueues 2 numrxqueues 2 || fail "cannot create veth pair"
# No IPv6 on the sending side: its solicitations would reach the receivers too (8 counts every frame).
nsenter --net=/var/run/netns/"$NA" sysctl -qw net.ipv6.conf."$DA".disable_ipv6=1
nsenter --net=/var/run/netns/"$NA" ip link set "$DA" address 02:00:00:00:0a:01 up
nsenter --net=/var/run/netns/"$NB" ip link set "$DB" address 02:00:00:00:0b:01 up

# recv_start NAME [args]: receiver in B writing $WORK/NAME.json, returns once listening.
# (RECV_NS and RECV_DEV: receive elsewhere than on DB in B)
recv_start() {
	local name=$1; shift
	nsenter --net=/var/run/netns/"${RECV_NS:-$NB}" "$GT" recv --dev "${RECV_DEV:-$DB}" --json --ready-file "$WORK/$name.ready" "$@" \
		>"$WORK/$name.json" 2>"$WORK/$name.err" &
	eval "RECV_$name=$!"
	for _ in $(seq 100); do [ -e "$WORK/$name.ready" ] && return 0; sleep 0.05; done
	fail "receiver $name not ready: $(cat "$WORK/$name.err")"
}
recv_wait() {
	local pid
	eval "pid=\$RECV_$1"
	wait "$pid" || fail "receiver $1 exited with an error: $(cat "$WORK/$1.err")"
	jq -e . "$WORK/$1.json" >/dev/null || fail "receiver $1 printed no JSON object: $(cat "$WORK/$1.json")"
}
send() {
	nsenter --net=/var/run/netns/"$NA" "$GT" send --dev "$DA" --dst-mac 02:00:00:00:0b:01 \
		--src 10.77.0.1 --dst 10.77.0.2 "$@"
}
# expect FILE JQ-EXPR WANT
expect() {
	local got
	got=$(jq -r "$2" "$1")
	[ "$got" = "$3" ] || fail "$(basename "$1"): $2 is '$got', want '$3'"
}

# 1. Two streams at 50k pps in total, 8 flows, IMIX, marked payload on every 10th packet.
N1=12000 N2=8400 N=$((N1 + N2))
recv_start run1 --expect $N --idle 3 --duration 30
send --stream 7 --count $N1 --rate 30000 --flows 8 --imix --dport 6000-6003 \
	--payload-hex 2f62696e2f7368 --payload-every 10 --json >"$WORK/send7.json" &
S7=$!
send --stream 9 --count $N2 --rate 20000 --flows 8 --imix --ttl 17 --json >"$WORK/send9.json" ||
	fail "sender of stream 9 failed"
wait $S7 || fail "sender of stream 7 failed"
recv_wait run1
expect "$WORK/send7.json" .sent $N1
expect "$WORK/send9.json" .sent $N2
R=$WORK/run1.json
expect "$R" .received $N
expect "$R" .lost 0
expect "$R" .corrupt 0
expect "$R" .duplicates 0
expect "$R" '.streams | length' 2
expect "$R" '.streams[] | select(.id == 7) | .received' $N1
expect "$R" '.streams[] | select(.id == 9) | .received' $N2
expect "$R" '.streams[] | select(.id == 7) | .lost' 0
# Every 10th packet of stream 7 is marked: seq 0, 10, 20, ...
expect "$R" .marked $(((N1 + 9) / 10))
# Stream 7 spreads over 4 dports (flow index varies fastest, 8 flows per dport step).
expect "$R" '.dports["6000"] + .dports["6001"] + .dports["6002"] + .dports["6003"]' $N1
expect "$R" '.dports["6001"]' $((N1 / 4))
expect "$R" '.dports["5000"]' $N2
# IMIX 7:4:1 over 12-packet cycles: both counts are whole cycles.
expect "$R" '.sizes["1024-1518"]' $((N / 12))
expect "$R" '.sizes["512-1023"]' $((N * 4 / 12))
expect "$R" '.sizes.min' 64
expect "$R" '.sizes.max' 1518
expect "$R" .ttl.min 17
expect "$R" .ttl.max 64
expect "$R" .first.dst_mac 02:00:00:00:0b:01
expect "$R" .first.src_mac 02:00:00:00:0a:01
jq -e '.latency_us.p50 > 0 and .latency_us.p50 <= .latency_us.p99 and .latency_us.p99 <= .latency_us.max' \
	"$R" >/dev/null || fail "latency percentiles out of order: $(jq -c .latency_us "$R")"
ok "two streams, $N packets, IMIX, 8 flows: all received, none lost or corrupt"

# 2. The loss check can fail: expect twice what is sent.
N=5000
recv_start run2 --expect $((2 * N)) --count $N --duration 30
send --count $N --rate 50000 --size 128 --proto tcp --vlan 42 --json >"$WORK/send2.json" || fail "sender failed"
recv_wait run2
expect "$WORK/run2.json" .received $N
expect "$WORK/run2.json" .lost $N
expect "$WORK/run2.json" .corrupt 0
expect "$WORK/run2.json" '.sizes["128-255"]' $N
expect "$WORK/run2.json" .vlan.id 42
ok "--expect 2N with N sent reports lost == N"

# 3. The same stream sent twice: the second copy is all duplicates, nothing is lost.
N=3000
recv_start run3 --idle 2 --duration 30
send --stream 5 --count $N --rate 50000 --json >/dev/null || fail "sender failed"
send --stream 5 --count $N --rate 50000 --json >/dev/null || fail "sender failed"
recv_wait run3
expect "$WORK/run3.json" .received $((2 * N))
expect "$WORK/run3.json" .duplicates $N
expect "$WORK/run3.json" .lost 0
ok "a repeated stream is reported as $N duplicates"

# 4. Without --expect, loss is judged from the sequence: a hole of H packets is
# lost until they arrive late, and then they are reordered, not lost.
recv_start run4 --idle 2 --duration 30
send --stream 3 --count 1000 --rate 50000 >/dev/null || fail "sender failed"
send --stream 3 --first-seq 1500 --count 1000 --rate 50000 >/dev/null || fail "sender failed"
recv_wait run4
expect "$WORK/run4.json" '.streams[] | select(.id == 3) | .lost' 500
expect "$WORK/run4.json" '.streams[] | select(.id == 3) | .highest_seq' 2499
expect "$WORK/run4.json" .lost 500
expect "$WORK/run4.json" .reordered 0
expect "$WORK/run4.json" '.streams[] | select(.id == 3) | .gaps | tostring' '[[1000,1499]]'
recv_start run5 --idle 2 --duration 30
send --stream 3 --count 1000 --rate 50000 >/dev/null || fail "sender failed"
send --stream 3 --first-seq 1500 --count 1000 --rate 50000 >/dev/null || fail "sender failed"
send --stream 3 --first-seq 1000 --count 500 --rate 50000 >/dev/null || fail "sender failed"
recv_wait run5
expect "$WORK/run5.json" .lost 0
expect "$WORK/run5.json" .reordered 500
expect "$WORK/run5.json" .received 2500
ok "a 500-packet hole is lost, and reordered once filled late"

# threads_check NAME SEND-JSON MODE: N=9001 packets over 2 threads (4501 + 4500),
# streams 11 and 12, 4 flows each (sports 1024-1027 and 1028-1031), dports 7000-7001.
threads_check() {
	local R=$WORK/$1.json S=$2 mode=$3 d=$WORK/$1.dump
	expect "$S" .sent 9001
	expect "$S" .threads 2
	expect "$S" .mode "$mode"
	expect "$S" .tx_dropped 0
	expect "$S" '[.per_thread[].sent] | join(",")' 4501,4500
	expect "$R" .received 9001
	expect "$R" .lost 0
	expect "$R" .corrupt 0
	expect "$R" .duplicates 0
	expect "$R" .reordered 0
	expect "$R" '.streams | length' 2
	expect "$R" '.streams[] | select(.id == 11) | .received' 4501
	expect "$R" '.streams[] | select(.id == 11) | .highest_seq' 4500
	expect "$R" '.streams[] | select(.id == 12) | .received' 4500
	expect "$R" '.streams[] | select(.id == 12) | .highest_seq' 4499
	# dport = 7000 + (seq / 4) % 2 per stream: seqs 0-4500 give 2252 + 2249, 0-4499 2252 + 2248.
	expect "$R" '.dports["7000"]' $((2252 + 2252))
	expect "$R" '.dports["7001"]' $((2249 + 2248))
	# Each thread has its own flows: source ports never shared between streams.
	[ "$(awk '$1 == 11 { print $6 }' "$d" | sort -un | tr '\n' ' ')" = "1024 1025 1026 1027 " ] ||
		fail "$1: stream 11 source ports: $(awk '$1 == 11 { print $6 }' "$d" | sort -un | tr '\n' ' ')"
	[ "$(awk '$1 == 12 { print $6 }' "$d" | sort -un | tr '\n' ' ')" = "1028 1029 1030 1031 " ] ||
		fail "$1: stream 12 source ports: $(awk '$1 == 12 { print $6 }' "$d" | sort -un | tr '\n' ' ')"
}

# 5. --threads 2 over AF_PACKET: two sockets, two streams, count and rate shared out.
recv_start run6 --expect 9001 --idle 2 --duration 30 --dump "$WORK/run6.dump"
send --threads 2 --stream 11 --count 9001 --rate 40000 --flows 4 --dport 7000-7001 --json \
	>"$WORK/send6.json" 2>"$WORK/send6.err" || fail "threaded sender failed: $(cat "$WORK/send6.err")"
recv_wait run6
threads_check run6 "$WORK/send6.json" packet
ok "--threads 2: streams 11 and 12, 4501 + 4500 packets, disjoint flows, none lost"

# 6. AF_XDP, one socket per queue (0 and 1), IMIX and a payload on every 5th packet.
recv_start run7 --expect 9001 --idle 2 --duration 30 --dump "$WORK/run7.dump"
if send --afxdp --threads 2 --queue-base 0 --stream 11 --count 9001 --rate 40000 --flows 4 \
	--dport 7000-7001 --imix --payload-hex 2f62696e2f7368 --payload-every 5 --json \
	>"$WORK/send7.json" 2>"$WORK/send7.err"; then
	recv_wait run7
	threads_check run7 "$WORK/send7.json" afxdp
	expect "$WORK/send7.json" '[.per_thread[].queue] | join(",")' 0,1
	# Marked per stream: seqs 0, 5, 10, ...: ceil(4501 / 5) + ceil(4500 / 5).
	expect "$WORK/run7.json" .marked $((901 + 900))
	# IMIX by seq % 12 per stream: 1518-byte frames at seq 6, 18, ...
	expect "$WORK/run7.json" '.sizes["1024-1518"]' $(((4501 + 5) / 12 + (4500 + 5) / 12))
	ok "--afxdp --threads 2 --queue-base 0: exact per-stream counts, IMIX, marked payloads"
elif grep -q "not supported" "$WORK/send7.err"; then
	kill "$RECV_run7" 2>/dev/null
	echo "SKIP: AF_XDP is not available here: $(cat "$WORK/send7.err")"
else
	fail "AF_XDP sender failed: $(cat "$WORK/send7.err")"
fi

# 7. A too-high queue is refused, not silently moved.
send --afxdp --queue-base 5 --count 10 >/dev/null 2>"$WORK/send8.err" &&
	fail "--afxdp on queue 5 of a 2-queue veth was accepted"
ok "--afxdp on a queue the device does not have is an error"

# 7b. The XDP sender (--xdp-live: BPF_PROG_RUN live frames), received through
# recv --xdp-pass (veth hands XDP-sent frames only to a peer that runs XDP).
# The program writes each copy's sequence number, time and source port: exact
# per-stream counts in order, sport = base + seq % flows per thread, and a
# latency that only a real timestamp gives. Then what it refuses, and the
# receiver's program gone from the device afterwards.
inb() { nsenter --net=/var/run/netns/"$NB" "$@"; }
has_xdp_on() { inb ip link show "$DB" | grep -q "xdp"; }
recv_start live --expect 9001 --idle 2 --duration 30 --dump "$WORK/live.dump" --xdp-pass
has_xdp_on || fail "recv --xdp-pass: no XDP program on $DB while it runs"
if send --xdp-live --threads 2 --stream 11 --count 9001 --flows 4 --size 128 --json \
	>"$WORK/sendl.json" 2>"$WORK/sendl.err"; then
	recv_wait live
	expect "$WORK/sendl.json" .mode xdp-live
	expect "$WORK/sendl.json" .sent 9001
	expect "$WORK/sendl.json" '[.per_thread[].sent] | join(",")' 4501,4500
	expect "$WORK/live.json" .received 9001
	expect "$WORK/live.json" .lost 0
	expect "$WORK/live.json" .corrupt 0
	expect "$WORK/live.json" .duplicates 0
	expect "$WORK/live.json" .reordered 0
	expect "$WORK/live.json" '.streams[] | select(.id == 11) | .highest_seq' 4500
	expect "$WORK/live.json" '.streams[] | select(.id == 12) | .highest_seq' 4499
	expect "$WORK/live.json" '.sizes["128-255"]' 9001
	bad=$(awk '($1 == 11 && $6 != 1024 + $2 % 4) || ($1 == 12 && $6 != 1028 + $2 % 4)' "$WORK/live.dump" | head -3)
	[ -z "$bad" ] || fail "--xdp-live: a source port is not base + seq % flows: $bad"
	jq -e '.latency_us.p50 > 0 and .latency_us.max < 1000000' "$WORK/live.json" >/dev/null ||
		fail "--xdp-live: the program's timestamps give no sane latency: $(jq -c .latency_us "$WORK/live.json")"
	has_xdp_on && fail "recv --xdp-pass left its program on $DB"
	ok "--xdp-live --threads 2: 4501 + 4500 frames in order, source ports and timestamps written per copy"
elif grep -qiE "live|not supported|Invalid argument" "$WORK/sendl.err"; then
	kill "$RECV_live" 2>/dev/null
	echo "SKIP: the kernel has no XDP live-frame mode: $(cat "$WORK/sendl.err")"
else
	fail "XDP sender failed: $(cat "$WORK/sendl.err")"
fi
for bad in "--proto tcp" "--imix" "--afxdp" "--rate 1000" "--dport 1-2"; do
	# shellcheck disable=SC2086 # the option and its value are two words
	send --xdp-live --count 10 $bad >/dev/null 2>"$WORK/badl.err" && fail "--xdp-live with $bad was accepted"
	grep -q -- "not with ${bad%% *}" "$WORK/badl.err" || fail "--xdp-live $bad: unclear error: $(cat "$WORK/badl.err")"
done
ok "--xdp-live refuses --proto tcp, --imix, --afxdp, --rate and a dport range, naming each"

# 8. gen-xsk-sink --xdp-drop / --tc-drop, the benchmarks' receivers: a program
# (XDP, or tc ingress) that counts and drops. Exact frame and byte counts, nothing left attached at the
# end of its window or on SIGTERM, a second one on the device refused, and a
# missing object named.
SINK=$(dirname "$GT")/gen-xsk-sink
if [ ! -x "$SINK" ] || [ ! -f "$(dirname "$GT")/xdp_drop.bpf.o" ]; then
	echo "SKIP: gen-xsk-sink or its xdp_drop.bpf.o is not built next to $GT"
else
	has_xdp() { inb ip link show "$DB" | grep -q "xdp"; }
	# sink_start NAME SECONDS [options]: the XDP receiver (--tc-drop in options: the tc one) on DB writing
	# $WORK/NAME.json, returns once attached.
	sink_start() {
		local name=$1 secs=$2 mode=--xdp-drop
		shift 2
		if [ "${1:-}" = --tc-drop ]; then
			mode=$1
			shift
		fi
		# nsenter execs the receiver: $! is its pid, for the SIGTERM below.
		nsenter --net=/var/run/netns/"$NB" "$SINK" $mode "$DB" "$secs" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
		eval "SINK_$name=$!"
		for _ in $(seq 100); do grep -q ready "$WORK/$name.out" 2>/dev/null && return 0; sleep 0.05; done
		fail "receiver $name not ready: $(cat "$WORK/$name.err")"
	}
	sink_wait() {
		local pid
		eval "pid=\$SINK_$1"
		wait "$pid" || fail "receiver $1 exited with an error: $(cat "$WORK/$1.err")"
		tail -n 1 "$WORK/$1.out" >"$WORK/$1.json"
		jq -e '.mode == "xdp-drop" or .mode == "tc-drop"' "$WORK/$1.json" >/dev/null || fail "receiver $1 printed no report: $(cat "$WORK/$1.out")"
	}
	xsend() { send "$@" >"$WORK/xsend.out" 2>&1 || fail "sender: $(cat "$WORK/xsend.out")"; }

	# 1. A known count over both queues: every frame and byte counted, nothing left attached.
	N=20000
	sink_start x1 30
	has_xdp || fail "no XDP program on $DB while the receiver runs"
	inb ip -d link show "$DB" | grep -q "prog/xdp id .* name xdp_drop_count" || fail "$DB does not show the program in native mode"
	xsend --threads 2 --count $N --rate 50000 --size 128 --flows 8
	sink_wait x1
	expect "$WORK/x1.json" .total $N
	# 128 B on the wire with the FCS: 124 in the frame XDP sees.
	expect "$WORK/x1.json" .bytes $((N * 124))
	jq -e '.received > 0 and .received <= .total and .pps > 0 and .seconds > 0' "$WORK/x1.json" >/dev/null ||
		fail "x1: window figures out of range: $(cat "$WORK/x1.json")"
	has_xdp && fail "the XDP program is still attached to $DB after the receiver ended"
	ok "$N frames sent, $N counted and dropped, program detached at the end"

	# The same at tc ingress: its clsact qdisc goes with it.
	sink_start x4 30 --tc-drop
	inb tc filter show dev "$DB" ingress | grep -q tc_drop_count || fail "no tc filter on $DB while the receiver runs"
	xsend --threads 2 --count $N --rate 50000 --size 128 --flows 8
	sink_wait x4
	expect "$WORK/x4.json" .mode tc-drop
	expect "$WORK/x4.json" .total $N
	# skb->len at tc ingress holds the Ethernet header: the same 124.
	expect "$WORK/x4.json" .bytes $((N * 124))
	inb tc qdisc show dev "$DB" | grep -q clsact && fail "the clsact qdisc is still on $DB after the tc receiver ended"
	ok "tc ingress: $N frames counted and dropped, filter and qdisc removed at the end"

	# 2. A second receiver on the same device is refused and leaves the first attached.
	sink_start x2 60 --idle 0
	xsend --count 500 --rate 50000 --size 64
	inb "$SINK" --xdp-drop "$DB" 5 --idle 0 >"$WORK/dup.json" 2>"$WORK/dup.err" &&
		fail "a second receiver attached over the first: $(cat "$WORK/dup.json")"
	grep -q "another XDP program" "$WORK/dup.err" || fail "second receiver: unclear error: $(cat "$WORK/dup.err")"
	has_xdp || fail "the refused receiver detached the first one's program"
	# 3. SIGTERM: it reports what it counted and detaches.
	xsend --count 700 --rate 50000 --size 64
	kill -TERM "$SINK_x2"
	sink_wait x2
	expect "$WORK/x2.json" .total 1200
	expect "$WORK/x2.json" .signal true
	has_xdp && fail "the XDP program is still attached to $DB after SIGTERM"
	ok "a second receiver is refused; SIGTERM reports 1200 frames and detaches"

	# 5. The plain forwarder (--fwd, host_veth.sh's forwarding ceiling), hairpin
	# on DB: every frame sent from A comes back to A whole, over both queues.
	RECV_NS=$NA RECV_DEV=$DA recv_start fwd --expect 9001 --idle 2 --duration 30
	nsenter --net=/var/run/netns/"$NB" "$SINK" --fwd "$DB" "$DB" 2 4 >"$WORK/fwd.out" 2>"$WORK/fwd.err" &
	FWD=$!
	for _ in $(seq 100); do grep -q ready "$WORK/fwd.out" 2>/dev/null && break; sleep 0.05; done
	grep -q ready "$WORK/fwd.out" || fail "forwarder not ready: $(cat "$WORK/fwd.err")"
	xsend --afxdp --threads 2 --queue-base 0 --stream 11 --count 9001 --rate 40000 --flows 4
	recv_wait fwd
	wait "$FWD" || fail "forwarder exited with an error: $(cat "$WORK/fwd.err")"
	expect "$WORK/fwd.json" .received 9001
	expect "$WORK/fwd.json" .lost 0
	expect "$WORK/fwd.json" .corrupt 0
	tail -n 1 "$WORK/fwd.out" | jq -e '.mode == "fwd" and .forwarded > 0' >/dev/null ||
		fail "forwarder report: $(tail -n 1 "$WORK/fwd.out")"
	"$SINK" --fwd "$DB" 2 4 >/dev/null 2>"$WORK/fwdu.err" && fail "--fwd without OUT was accepted"
	grep -q "usage" "$WORK/fwdu.err" || fail "--fwd without OUT: no usage: $(cat "$WORK/fwdu.err")"
	"$SINK" --fwd "$DB" "$DB" 2 4 2 >/dev/null 2>"$WORK/fwdt.err" && fail "--fwd IN IN with 2 TX sockets was accepted"
	grep -q "TXSOCKS must be 1..8, and above 1 only with IN other than OUT" "$WORK/fwdt.err" ||
		fail "--fwd IN IN with 2 TX sockets: unclear error: $(cat "$WORK/fwdt.err")"
	ok "--fwd $DB $DB: 9001 frames over two queues back to the sender whole, none lost"

	# 4. A missing object is named.
	inb "$SINK" --xdp-drop "$DB" 1 --obj "$WORK/none.o" >/dev/null 2>"$WORK/noobj.err" &&
		fail "a missing object was accepted"
	grep -q "none.o" "$WORK/noobj.err" || fail "missing object: error does not name it: $(cat "$WORK/noobj.err")"
	has_xdp && fail "a failed start left a program attached"
	ok "a missing object is an error naming it"
fi
exit 0
