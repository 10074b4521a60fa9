#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): 64 B over veth with Q queues,
#  1. gend, one empty chain (sender -> s0|gin [gend] gout|r0 -> receiver): the
#     chain's forwarding rate, once per receiver on r0 (with a counting one,
#     r0's count over the window in which frames arrived, as the plain
#     receiver's and forwarder's figures are taken over theirs; else, and
#     beside it, gend's TX counter over the sender's run):
#     Copy-mode AF_XDP TX on veth runs the receiving side inline in gend's
#     sendto(), so the receiver's cost is charged to gend's figure:
#     - xdp-drop: an XDP program on r0 that counts and drops
#       (gen-xsk-sink --xdp-drop): no IP stack, no socket, each queue on its
#       own r0 queue, but veth copies each frame into a page first (the skb
#       of copy-mode TX lacks XDP's 256 B of headroom);
#     - tc-drop: the same program at tc ingress of r0 (--tc-drop): the skb
#       is dropped as it comes, no copy, no IP stack: the cheapest here;
#     - gen-traffic recv: the AF_PACKET receiver (one socket for every
#       queue, the IP stack and the socket's lock in gend's sendto()), as before;
#     the two counting ones also give the rate received at r0; every line
#     gives gend's port workers' CPU ns per packet (what holds on a busy box),
#     and gend's share of a plain AF_XDP forwarder gin -> gout with the same
#     receiver (gen-xsk-sink --fwd; with TX_SOCKETS=N it too sends through N
#     sockets per queue, as gend does);
#  2. the ceiling: a plain AF_XDP receiver (test/traffic/xsk_sink.c: one socket
#     and one thread per queue, frames straight back to the fill ring) on gin,
#     same sender, same testbed, no receiver behind it; gend's share of it;
#     then (VETH_READING_CEILING=1, the default) the same receiver reading each
#     packet's bytes first (GEN_SINK_TOUCH=1), and gend's share of that;
#  3. with LATENCY=1: latency at half of gend's rate (gen-traffic's receiver,
#     which reads the timestamps: p50/p99);
#  4. the transmit ceiling (VETH_TX_CEILING=1, the default): a plain AF_XDP
#     transmitter (gen-traffic send --afxdp) on gout, one thread and gout queue
#     per CPU gend was given (GEND_CPUS, else SINK_CPUS, else the CPUs past the
#     sender's 0..Q-1), each pinned to its CPU, into each counting receiver on
#     r0, nothing received: the most copy-mode AF_XDP TX carries over this veth
#     on those CPUs, so what no forwarder on them can pass; its share of the
#     plain receiver, and gend's share of it.
# Senders: gen-traffic's AF_XDP sender (one thread per queue); gen-traffic's XDP
# sender (--xdp-live: BPF_PROG_RUN live frames, one thread per queue pinned to
# CPUs 0..Q-1, so that veth puts thread t's frames on gin's queue t); and
# xdp-trafficgen (xdp-tools) where it runs (Debian 12's 1.3.1 does not load on
# kernels without the xdp_redirect_map_err tracepoint); each figure names its
# sender and receiver.
# Usage: test/bench/host_veth.sh QUEUES [seconds]   (root; run by host_bench.sh)
# Environment: GEN_BACKEND (default cpu), LATENCY=1, TX_THREAD=no|yes|auto
# (gend's [gen] tx_thread, default auto: who kicks copy-mode TX), TX_SOCKETS=N
# (gend's [gen] tx_sockets: N TX sockets per port queue, each on a kicker
# thread of its own, flows spread over them), HOST_VETH_PERF=DIR (with perf:
# one more xdp-live run into the xdp-drop receiver under a system-wide `perf
# record`; its report by thread and symbol goes to DIR/perf-veth-QUEUES.txt;
# and every xdp-live run, gend's, the plain receiver's and the forwarder's,
# under `perf record` on the sender's CPUs 0..Q-1 alone, where veth runs gin's
# receive: DIR/sender-WHO-QUEUES.txt gives each symbol's share and its ns per
# frame the sender put on s0 (the sender keeps its CPUs busy; what idle time
# there is shows as the idle loop's symbol); SENDER_PERF_G=1 adds call graphs
# and DIR/sender-WHO-QUEUES-callers.txt, who calls the top symbols;
# HOST_VETH_SYSWIDE=1 profiles every CPU in the same windows instead of the
# extra run: DIR/threads-WHO-QUEUES.txt, the CPUs each thread used and its top
# symbols, for gend, the plain receiver and the forwarder alike),
# GEN_TX_BUDGET=N (32..4096 or auto: gend's [gen] tx_budget, and as many
# frames a sendto() asked of the plain forwarder's and the transmit ceiling's
# sockets, whose sender then hands over bursts of 256; unset or auto: as
# gend's auto, 256 for the ceiling's threads, which only kick, and 32 for the
# forwarder's, which also receive),
# VETH_SENDERS / VETH_RECEIVERS (subsets of "gen-traffic xdp-live xdp-trafficgen"
# and "xdp-drop tc-drop gen-traffic-recv", the defaults), GEND_CPUS=LIST (gend's
# [gen] cpus; xdp-live's threads run on CPUs 0..Q-1, so a list past them keeps
# gend off the sender's cores) and SINK_CPUS=LIST (the plain receiver and
# forwarder run under `taskset -c LIST`, to compare like with like),
# VETH_NAPI_CPUS=LIST (gin's receive runs in NAPI kthreads, one per queue, pinned
# to LIST in turn, as a NIC's interrupts would be: otherwise veth runs it in the
# sender's softirq, on the sender's core, and a receiver that costs more per
# frame there slows the sender itself).
. "$(dirname "$0")/../net/lib.sh"
Q=${1:-1} SECS=${2:-5}
export NET_QUEUES=$Q
SINK=$BUILD/test/traffic/gen-xsk-sink
net_require
[ -x "$SINK" ] || skip "build gen-xsk-sink first ($BUILD)"
# Libraries carried to a machine without them (see lib.sh).
[ -n "${GEN_LD_PATH:-}" ] && SINK="env LD_LIBRARY_PATH=$GEN_LD_PATH $SINK"
# The ceiling's sink only; the counting receivers on r0 run in XDP or tc, not in it.
CSINK=$SINK
[ -z "${SINK_CPUS:-}" ] || CSINK="taskset -c $SINK_CPUS $SINK"
# The plain programs' TX budgets, as gend's (GEN_TX_BUDGET): N for both; unset
# or auto, as gend's auto, 256 for the transmit ceiling (threads that only
# kick) and the kernel's 32 for the forwarder (its one thread per queue also
# receives). Where the kernel refuses they send 32 a call, and say so.
PTXB=${GEN_TX_BUDGET:-auto}
if [ "$PTXB" = auto ]; then
	PTXB=256
else
	export GEN_SINK_TX_BUDGET=$PTXB
fi
TXC_BUDGET=(--tx-budget "$PTXB" --burst 256)
[ "$PTXB" -gt 32 ] || TXC_BUDGET=()
# The transmit ceiling's CPUs, and gout/r0 queues enough for a thread on each.
TXC_CPUS=${GEND_CPUS:-${SINK_CPUS:-}}
[ -n "$TXC_CPUS" ] || TXC_CPUS=$([ "$(nproc)" -gt "$Q" ] && echo "$Q-$(($(nproc) - 1))" || echo "0-$(($(nproc) - 1))")
read -ra TXC_LIST <<<"$(cpu_list "$TXC_CPUS")"
[ "${VETH_TX_CEILING:-1}" = 1 ] && export NET_OUT_QUEUES=${#TXC_LIST[@]}
net_setup
cfg_begin
echo "tx_thread = ${TX_THREAD:-auto}" >>"$WORK/chains.ini"
cfg_empty_chain
GT_SEND="--afxdp --threads $Q --queue-base 0"
pps() { python3 -c "print(f'{($2 - $1) / ($4 - $3) / 1e6:.3f}')" ; }

# xdp-trafficgen on s0 for SECS; prints nothing and returns 1 where it cannot run.
trafficgen() {
	command -v xdp-trafficgen >/dev/null || { echo "not installed" >"$WORK/xt.err"; return 1; }
	timeout --signal=INT "$((SECS + 1))" nsenter --net=/var/run/netns/"$NS_SND" xdp-trafficgen udp -t "$Q" \
		-m $MAC_GIN -M $MAC_S0 -A 10.10.1.1 -a 10.10.2.2 -p 5001 -d 16 s0 >"$WORK/xt.out" 2>"$WORK/xt.err"
	case $? in 0 | 124 | 130) return 0 ;; *) return 1 ;; esac
}

# CPU time (clock ticks) of gend's port workers and TX kickers (threads gen-w*, gen-t*) so far.
worker_ticks() {
	cat /proc/"$GEND_PID"/task/*/stat 2>/dev/null | awk '$2 ~ /^\(gen-[wt][0-9.]+\)$/ { t += $14 + $15 } END { print t + 0 }'
}

# gend: rate while the sender runs, its TX counter before it, and its port
# workers' CPU ns per packet sent meanwhile (which holds on a busy box, where
# the rate follows whatever else runs): "Mpps tx0 ns".
# sender NAME SECONDS: gen-traffic (AF_XDP), xdp-live (gen-traffic's XDP sender) or xdp-trafficgen.
sender() {
	case $1 in
	gen-traffic) send --dport 5001 --stream 1 --duration "$2" --rate 0 --flows 16 --size 64 --json $GT_SEND ;;
	xdp-live) # where the kernel cannot run it: not run, with the reason (in xt.err like xdp-trafficgen's)
		nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN \
			--src 10.10.1.1 --dst 10.10.2.2 --dport 5001 --stream 1 --duration "$2" --flows 16 --size 64 \
			--json --xdp-live --threads "$Q" >"$WORK/send.out" 2>"$WORK/xt.err" ;;
	*) SECS=$2 trafficgen ;;
	esac
}

# With HOST_VETH_PERF: an xdp-live run profiled on the sender's CPUs
# (sender_perf TAG SENDER before it, sender_perf_end after). The window opens
# half a second after the sender starts and closes before it ends (a window
# wider than the sending once showed the idle CPU as halts of 20-60 ns a frame).
# HOST_VETH_SYSWIDE=1: every CPU too, in the same window, and the time of each
# thread with its top symbols (DIR/threads-TAG-Q.txt).
perf_window() { # seconds to record within a sending of $SECS
	python3 -c "print(max(1.0, $SECS - 1.0))"
}
sender_perf() {
	SPERF= SPERF_ALL=
	[ -n "${HOST_VETH_PERF:-}" ] && [ "$2" = xdp-live ] && command -v perf >/dev/null || return 0
	mkdir -p "$HOST_VETH_PERF"
	SPERF_TAG=$1
	(sleep 0.5; exec perf record -q ${SENDER_PERF_G:+-g} -C "0-$((Q - 1))" -F 2999 -o "$WORK/snd.perf" -- sleep "$(perf_window)") >/dev/null 2>&1 &
	SPERF=$!
	[ "${HOST_VETH_SYSWIDE:-0}" = 1 ] || return 0
	(sleep 0.5; exec perf record -q -a -F 999 -o "$WORK/all.perf" -- sleep "$(perf_window)") >/dev/null 2>&1 &
	SPERF_ALL=$!
}
# Each thread's share of all CPUs (in CPUs) and its top symbols, from a system-wide profile $1.
threads_report() {
	perf report -i "$1" --stdio --no-children --sort comm,sym -n 2>/dev/null | python3 -c '
import os, re, sys
ncpu, tot, top = os.cpu_count(), {}, {}
for line in sys.stdin:
    m = re.match(r"\s+([\d.]+)%\s+\d+\s+(\S+)\s+(.*\S)", line)
    if m:
        cpus = float(m[1]) / 100 * ncpu
        tot[m[2]] = tot.get(m[2], 0) + cpus
        top.setdefault(m[2], []).append((cpus, m[3]))
for comm in sorted(tot, key=lambda c: -tot[c]):
    print(f"{tot[comm]:7.3f} CPUs  {comm}")
    for cpus, sym in top[comm][:14]:
        print(f"    {cpus:6.3f}  {sym}")
'
}
sender_perf_end() {
	[ -n "$SPERF" ] || return 0
	wait "$SPERF"
	local put
	if [ -n "$SPERF_ALL" ]; then
		wait "$SPERF_ALL"
		{
			echo "# host_veth.sh: every CPU while xdp-live sent to $SPERF_TAG, $Q queue(s), tx_sockets ${TX_SOCKETS:-1}, tx_thread ${TX_THREAD:-auto}; CPUs each thread used, its top symbols"
			threads_report "$WORK/all.perf"
		} >"$HOST_VETH_PERF/threads-$SPERF_TAG-$Q.txt"
	fi
	put=$(offered xdp-live)
	{
		echo "# host_veth.sh: sender CPUs 0-$((Q - 1)) while xdp-live sent to $SPERF_TAG, $Q queue(s), tx_sockets ${TX_SOCKETS:-1}: sender put $put Mpps; share, ns per frame put, symbol"
		perf report -i "$WORK/snd.perf" --stdio --no-children --sort sym 2>/dev/null | awk -v put="$put" -v q="$Q" '
			/^ +[0-9.]+%/ { p = $1; sub("%", "", p); $1 = ""; if (put > 0) printf "%6.2f%% %7.1f %s\n", p, p / 100 * q * 1e3 / put, $0 }' | head -60
	} >"$HOST_VETH_PERF/sender-$SPERF_TAG-$Q.txt"
	# SENDER_PERF_G=1: with call graphs, and who calls the top symbols.
	[ -z "${SENDER_PERF_G:-}" ] || perf report -i "$WORK/snd.perf" --stdio --no-children --sort sym -G \
		--percent-limit 3 2>/dev/null | grep -v '^$' | head -400 >"$HOST_VETH_PERF/sender-$SPERF_TAG-$Q-callers.txt"
}

gend_run() { # $1 = sender name, $2 = tag for sender_perf
	local a b t0 t1 c0 c1 w0 w1
	sender_perf "gend-${2:-x}" "$1"
	# Where the queues' frames are halfway through the sending (a sample).
	rm -f "$WORK/wkm.json"
	(sleep "$(python3 -c "print($SECS / 2)")"; ctl --json stats >"$WORK/wkm.json" 2>/dev/null) &
	local mid=$!
	# The window is the sender's run and nothing else: it once also took in the
	# profiles' reports and the stats below (1-3 s), and gend's rate read 9-56 %
	# under what r0 counted over the same sending.
	ctl --json stats >"$WORK/wk0.json" 2>/dev/null; w0=$(date +%s%N)
	a=$(gend_tx); t0=$(date +%s.%N); c0=$(worker_ticks)
	sender "$1" "$SECS" || { wait $mid; return 1; }
	c1=$(worker_ticks); t1=$(date +%s.%N); b=$(gend_tx)
	ctl --json stats >"$WORK/wk1.json" 2>/dev/null; w1=$(date +%s%N)
	wait $mid
	sender_perf_end
	# The busiest port worker's share of the time in passes that moved frames (near 1: the worker is the limit),
	# and how often it blocked (each costs the sending core a wake-up: [gen] spin_us).
	python3 - "$WORK/wk0.json" "$WORK/wk1.json" "$w0" "$w1" "$WORK/wkm.json" "$((b - a))" >"$WORK/busy.${2:-x}" 2>/dev/null <<'PY' || echo "?" >"$WORK/busy.${2:-x}"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
dt = int(sys.argv[4]) - int(sys.argv[3])
busy, sleeps = max(((wb['busy_ns'] - wa['busy_ns']) / dt, (wb.get('sleeps', 0) - wa.get('sleeps', 0)) * 1e9 / dt)
                   for wa, wb in zip(a['workers'], b['workers']))
where = ''
try:
    m = json.load(open(sys.argv[5]))['workers']
    k = ('frames_held', 'frames_fill', 'frames_tx', 'frames_free')
    where = ("; frames mid-run (of %d, all queues): chains %d, fill/RX %d, TX %d, free %d"
             % ((sum(w['frames'] for w in m),) + tuple(sum(w.get(x, 0) for w in m) for x in k)))
except (OSError, ValueError, KeyError):
    pass
# TX kicks (sendto() calls) over the same frames: both windows hold the whole run.
kicks = sum(wb.get('tx_kicks', 0) - wa.get('tx_kicks', 0) for wa, wb in zip(a['workers'], b['workers']))
kicks = f", {kicks} TX kicks ({int(sys.argv[6]) / kicks:.1f} frames a kick)" if kicks > 0 else ''
print(f"{busy:.2f}, blocking {sleeps:.0f} times a second{kicks}{where}")
PY
	echo "$(pps "$a" "$b" "$t0" "$t1") $a $(python3 -c "print(round(($c1 - $c0) / $(getconf CLK_TCK) * 1e9 / max($b - $a, 1)))") $(offered "$1")"
}

# What the sender put on the wire, Mpps (xdp-live reports it; the others: "-").
offered() {
	[ "$1" = xdp-live ] && json_get "$WORK/send.out" "round(j['rate_pps'] / 1e6, 3)" 2>/dev/null || echo -
}

# "Mpps tx0 ns" -> "Mpps forwarded ns": frames gend sent since tx0, read once the receiver has seen the last of them.
forwarded() {
	local f=($1)
	echo "${f[0]} $(($(gend_tx) - f[1])) ${f[2]} ${f[3]:--}"
}

# The counting receiver on r0, $1 = xdp-drop or tc-drop; returns 1 with the reason in xdrop.err where it cannot attach.
xdrop_start() {
	nsenter --net=/var/run/netns/"$NS_RCV" $SINK --"$1" r0 "$((SECS + 10))" >"$WORK/xdrop.json" 2>"$WORK/xdrop.err" &
	XDROP=$!
	for _ in $(seq 50); do grep -q ready "$WORK/xdrop.json" 2>/dev/null && return 0; sleep 0.1; done
	kill "$XDROP" 2>/dev/null
	wait "$XDROP"
	return 1
}

# Once it has ended (its window closes when r0 is idle): "Mpps-at-r0 frames-received".
xdrop_result() {
	tail -n 1 "$WORK/xdrop.json" | python3 -c "import json,sys; j=json.load(sys.stdin); print(f\"{j.get('pps', 0) / 1e6:.3f} {j.get('total', 0)}\")"
}

# ceiling_run SENDER [fwd]: the plain receiver on gin instead of gend; with fwd,
# the plain forwarder gin -> gout (the counting receiver on r0 already started).
ceiling_run() {
	local sp what="gin $Q $SECS"
	[ "${2:-}" = fwd ] && what="--fwd gin gout $Q $SECS ${TX_SOCKETS:-1}"
	# gend's sockets on gin were just closed: the kernel frees a queue's AF_XDP
	# binding a little later (EBUSY until then), so the sink tries again for 10 s.
	for _ in $(seq 20); do
		# shellcheck disable=SC2086 # what is several arguments
		nsenter --net=/var/run/netns/"$NS_GEN" $CSINK $what >"$WORK/sink.json" 2>"$WORK/sink.err" &
		sp=$!
		for _ in $(seq 50); do
			grep -q ready "$WORK/sink.json" 2>/dev/null && break
			kill -0 $sp 2>/dev/null || break
			sleep 0.1
		done
		grep -q ready "$WORK/sink.json" 2>/dev/null && break
		wait $sp
		grep -q "busy" "$WORK/sink.err" || break
		sleep 0.5
	done
	napi_pin
	sender_perf "${2:-receiver}${3:+-$3}" "$1"
	sender "$1" "$((SECS + 2))"
	sender_perf_end
	wait $sp
	# "Mpps [sender's Mpps]"
	tail -n 1 "$WORK/sink.json" | python3 -c "import json,sys; print(f\"{json.load(sys.stdin).get('pps', 0) / 1e6:.3f}\")" |
		tr '\n' ' ' || echo "ceiling ($1): no figure from the plain receiver: $(head -c 300 "$WORK/sink.err")" >&2
	offered "$1"
}

# Per "sender,receiver": gend's "Mpps forwarded" (G), r0's "Mpps received" (R); per sender the ceiling (C).
declare -A G R C BUSY
RECEIVERS=${VETH_RECEIVERS:-xdp-drop tc-drop gen-traffic-recv}
declare -A XDROP_ERR
# With VETH_NAPI_CPUS: gin's NAPI threaded, its kthreads pinned (after each XDP
# attach: veth has NAPI instances only while a program is attached).
napi_pin() {
	[ -n "${VETH_NAPI_CPUS:-}" ] || return 0
	local cpus pid i=0
	ip netns exec "$NS_GEN" sh -c 'echo 1 > /sys/class/net/gin/threaded' ||
		{ echo "host_veth: cannot make gin's NAPI threaded" >&2; return 0; }
	read -ra cpus <<<"$(cpu_list "$VETH_NAPI_CPUS")"
	for pid in $(pgrep '^napi/gin-'); do
		taskset -pc "${cpus[i++ % ${#cpus[@]}]}" "$pid" >/dev/null
	done
	[ "$i" -gt 0 ] || echo "host_veth: no napi/gin-* thread to pin" >&2
}

gend_start
napi_pin
SENDERS=${VETH_SENDERS:-gen-traffic xdp-live xdp-trafficgen}
has() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }
for s in $SENDERS; do
	# A sender that cannot run here: its receiver is stopped at once (SIGTERM detaches the counting ones).
	for r in xdp-drop tc-drop; do
		has $r "$RECEIVERS" || continue
		if xdrop_start $r; then
			if G[$s,$r]=$(gend_run "$s" "$r"); then
				BUSY[$s,$r]=$(cat "$WORK/busy.$r")
				wait "$XDROP"
				R[$s,$r]=$(xdrop_result)
				G[$s,$r]=$(forwarded "${G[$s,$r]}")
			else
				G[$s,$r]=
				kill "$XDROP"
				wait "$XDROP"
			fi
		else
			XDROP_ERR[$r]=$(grep -m1 "gen-xsk-sink" "$WORK/xdrop.err")
		fi
	done
	has gen-traffic-recv "$RECEIVERS" || continue
	recv_start thru r0 --idle 2
	if G[$s,gen-traffic-recv]=$(gend_run "$s"); then
		recv_wait thru
		R[$s,gen-traffic-recv]=$(json_get "$WORK/thru.json" "j['received']")
		G[$s,gen-traffic-recv]=$(forwarded "${G[$s,gen-traffic-recv]}")
	else
		G[$s,gen-traffic-recv]=
		kill "$RECV_thru"
		wait "$RECV_thru"
	fi
done
# (HOST_VETH_SYSWIDE=1 profiled every run system-wide already.)
if [ -n "${HOST_VETH_PERF:-}" ] && [ "${HOST_VETH_SYSWIDE:-0}" != 1 ] && command -v perf >/dev/null && xdrop_start xdp-drop; then
	mkdir -p "$HOST_VETH_PERF"
	(sleep 0.5; exec perf record -q -a -F 999 -o "$WORK/veth.perf" -- sleep "$(perf_window)") >/dev/null 2>&1 &
	PERF_PID=$!
	P=$(gend_run xdp-live xdp-drop-syswide) || P=
	wait "$PERF_PID"
	wait "$XDROP"
	{
		echo "# host_veth.sh $Q queue(s), tx_sockets ${TX_SOCKETS:-1}, tx_thread ${TX_THREAD:-auto}: gend $P (Mpps tx0 ns), r0 $(xdrop_result)"
		perf report -i "$WORK/veth.perf" --stdio --no-children --sort comm,sym -n 2>/dev/null | grep -E '^ +[0-9.]+%' | head -80
		echo "# by thread"
		perf report -i "$WORK/veth.perf" --stdio --no-children --sort comm -n 2>/dev/null | grep -E '^ +[0-9.]+%' | head -30
	} >"$HOST_VETH_PERF/perf-veth-$Q-s${TX_SOCKETS:-1}.txt"
fi
ctl --json status >"$WORK/st.json"
FILL=$(json_get "$WORK/st.json" "j['xsk']['rx_fill_ring_empty']")
RXFULL=$(json_get "$WORK/st.json" "j['xsk']['rx_ring_full']")
MODE=$(json_get "$WORK/st.json" "j['port_modes'][0]['mode']")
BACKEND=$(json_get "$WORK/st.json" "j['backend']")
DEMOTE=$(json_get "$WORK/st.json" "'on' if j.get('demote') else 'off'")
TXB=$(json_get "$WORK/st.json" "f\"{j.get('tx_budget', '32')} ({j.get('tx_budget_threaded', 32)} with a kicker thread, {j.get('tx_budget_shared', 32)} without)\"")
SPIN=$(json_get "$WORK/st.json" "str(j.get('spin_us', '?')) + ('-' + str(j['spin_max_us']) if j.get('spin_max_us', 0) > j.get('spin_us', 0) else '')")
if [ "${LATENCY:-0}" = 1 ] && [ -n "${G[gen-traffic,gen-traffic-recv]:-}" ]; then
	HALF=$(python3 -c "print(int(float('${G[gen-traffic,gen-traffic-recv]%% *}') * 1e6 / 2))")
	recv_start lat r0 --idle 2
	send --dport 5001 --stream 2 --duration "$SECS" --rate "$HALF" --flows 16 --size 64 --json $GT_SEND
	recv_wait lat
	LAT=$(json_get "$WORK/lat.json" "'p50 %s us, p99 %s us, max %s us (%d packets)' % (j['latency_us']['p50'], j['latency_us']['p99'], j['latency_us']['max'], j['received'])")
fi
gend_stop
for s in gen-traffic xdp-live; do has $s "$SENDERS" && C[$s]=$(ceiling_run $s); done
# The same receiver reading each packet's bytes on its own core (GEN_SINK_TOUCH=1),
# as anything that forwards or inspects them must: the lines it read are then the
# other core's too when the sender's core copies the next frame into them.
declare -A CT
if [ "${VETH_READING_CEILING:-1}" = 1 ]; then
	for s in gen-traffic xdp-live; do has $s "$SENDERS" && CT[$s]=$(GEN_SINK_TOUCH=1 ceiling_run $s "" reads); done
fi
# The plain forwarder with each counting receiver: what AF_XDP forwarding on
# this veth costs without gend (F, Mpps forwarded; FR, r0's count).
declare -A F
for s in gen-traffic xdp-live; do
	has $s "$SENDERS" || continue
	for r in xdp-drop tc-drop; do
		has $r "$RECEIVERS" || continue
		[ -n "${XDROP_ERR[$r]+set}" ] && continue
		xdrop_start $r || continue
		F[$s,$r]=$(ceiling_run "$s" fwd "$r")
		wait "$XDROP"
	done
done
# The transmit ceiling (TXC, per counting receiver: "Mpps at r0"): one sender
# thread per CPU of TXC_CPUS on gout queue t; pinned thread t to CPU C + t
# where the CPUs are a run C..C+n-1, else all of them confined to the list.
txc_run() {
	local pin=(--cpu "${TXC_LIST[0]}") run=()
	[ "${TXC_LIST[-1]}" -eq $((TXC_LIST[0] + ${#TXC_LIST[@]} - 1)) ] || { pin=(); run=(taskset -c "$TXC_CPUS"); }
	nsenter --net=/var/run/netns/"$NS_GEN" "${run[@]}" "$GT" send --dev gout --src-mac $MAC_GOUT --dst-mac $MAC_R0 \
		--src 10.10.1.1 --dst 10.10.2.2 --dport 5001 --stream 3 --duration "$SECS" --rate 0 --flows 16 \
		--size 64 --json --afxdp --threads "${#TXC_LIST[@]}" --queue-base 0 "${pin[@]}" "${TXC_BUDGET[@]}" >"$WORK/txc.out" 2>&1 ||
		{ echo "host_veth: the transmit ceiling's sender failed: $(head -c 300 "$WORK/txc.out")" >&2; return 1; }
}
declare -A TXC
if [ "${VETH_TX_CEILING:-1}" = 1 ]; then
	for r in xdp-drop tc-drop; do
		has $r "$RECEIVERS" || continue
		[ -n "${XDROP_ERR[$r]+set}" ] && continue
		xdrop_start $r || continue
		txc_run || { kill "$XDROP"; wait "$XDROP"; continue; }
		wait "$XDROP"
		TXC[$r]=$(xdrop_result)
	done
fi
if [ -n "${G[xdp-trafficgen,gen-traffic-recv]:-}${G[xdp-trafficgen,xdp-drop]:-}${G[xdp-trafficgen,tc-drop]:-}" ]; then
	C[xdp-trafficgen]=$(ceiling_run xdp-trafficgen)
fi

for s in $SENDERS; do
	for r in $RECEIVERS; do
		case $r in
		xdp-drop) rname="xdp-drop (native XDP) on r0" ;;
		tc-drop) rname="tc-drop (tc ingress) on r0" ;;
		*) rname="gen-traffic recv (AF_PACKET) on r0" ;;
		esac
		if [ -n "${XDROP_ERR[$r]+set}" ]; then
			echo "veth, $Q queue(s), sender $s, receiver $rname: not run (${XDROP_ERR[$r]:-the receiver did not start})"
			continue
		fi
		if [ -z "${G[$s,$r]:-}" ]; then
			echo "veth, $Q queue(s), sender $s, receiver $rname: not run ($(grep -m1 -iE 'error|fail|not' "$WORK/xt.err" 2>/dev/null || echo unavailable))"
			continue
		fi
		python3 - "$Q" "$s" "$rname" "${G[$s,$r]}" "${R[$s,$r]}" "${C[$s]}" "$BACKEND" "$MODE" "$FILL" "${TX_THREAD:-auto}" "${F[$s,$r]:-}" "${TX_SOCKETS:-1}" "$RXFULL" "${CT[$s]:-}" "$DEMOTE" "${BUSY[$s,$r]:-?}" "$SPIN" "${TXC[$r]:-}" "${#TXC_LIST[@]}" "$TXC_CPUS" "$TXB" "$(grep -o '"tx_budget":[0-9]*' "$WORK/txc.out" 2>/dev/null | cut -d: -f2 | grep . || echo -)" <<'PY'
import sys
q, s, rname, g, rcv, c, be, mode, fill, tt, f, txs, rxfull, ct, demote, busy, spin, txc, txn, txcpus, txb, ptxb = sys.argv[1:23]
g, fwd, ns, off = g.split()
c, c_off = (c.split() + ['-', '-'])[:2] if c.strip() else ('0', '-')
f, f_off = (f.split() + ['-', '-'])[:2] if f.strip() else ('', '-')
put = lambda o: f" (sender put {o} Mpps)" if o != '-' else ''
g, c, fwd = float(g), float(c), int(fwd)
r = rcv.split()
if len(r) == 2:  # a counting receiver: its own rate, and its count against what gend forwarded
    at_r0 = f"received at r0 {float(r[0]):.3f} Mpps ({r[1]} of {fwd} forwarded); "
    # gend's figure: r0's rate over the window in which frames arrived, as the plain
    # receiver's and forwarder's own figures are taken over theirs (from the first frame).
    how = f"r0's count over its active window; gend's TX counter over the sender's run {g:.3f}"
    g = float(r[0])
else:
    at_r0 = f"received at r0 {r[0]} of {fwd} forwarded; "
    how = "gend's TX counter over the sender's run"
share = f"{100 * g / c:.0f} %" if c > 0 else "n/a (the plain receiver gave no figure: see its stderr)"
print(f"veth, empty chain, 64 B, {q} queue(s), sender {s}, receiver {rname}: gend {g:.3f} Mpps ({how}; backend {be}, "
      f"AF_XDP {mode} mode, tx_thread {tt}, tx_sockets {txs}, tx_budget {txb}, demote {demote}, spin_us {spin}, fill ring empty {fill}, RX ring full {rxfull}; "
      f"port workers {ns} ns CPU per packet, the busiest busy {busy}{'; sender put ' + off + ' Mpps on s0' if off != '-' else ''}); {at_r0}"
      f"plain AF_XDP receiver {c:.3f} Mpps{put(c_off)}; gend = {share} of it; the transmit ceiling's TX budget {ptxb}"
      + (f"; plain AF_XDP forwarder gin -> gout {float(f):.3f} Mpps{put(f_off)}, gend = {100 * g / float(f):.0f} % of it"
         if f and float(f) > 0 else "")
      + (f"; plain AF_XDP receiver that reads each packet {float(ct.split()[0]):.3f} Mpps"
         f"{put(ct.split()[1]) if len(ct.split()) > 1 else ''}, gend = {100 * g / float(ct.split()[0]):.0f} % of it"
         if ct.strip() and float(ct.split()[0]) > 0 else "")
      + (f"; plain AF_XDP transmitter on gout, {txn} threads on CPUs {txcpus}, nothing received (the transmit ceiling) "
         f"{float(txc.split()[0]):.3f} Mpps at r0 = {100 * float(txc.split()[0]) / c:.0f} % of the plain receiver, "
         f"gend = {100 * g / float(txc.split()[0]):.0f} % of it"
         if txc.strip() and float(txc.split()[0]) > 0 and c > 0 else ""))
PY
	done
done
[ -n "${LAT:-}" ] && echo "veth latency, empty chain, 64 B, $Q queue(s), backend $BACKEND, tx_thread ${TX_THREAD:-auto}, tx_sockets ${TX_SOCKETS:-1}, sender gen-traffic at half of gend's rate with that receiver (${HALF} pps), receiver gen-traffic recv (AF_PACKET) on r0: $LAT"
exit 0
