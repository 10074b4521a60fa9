#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): copy-mode transmit on veth with
# no sender in the way. gend generates 64 B frames on a synthetic input port
# (synth:0) as fast as frames come back and forwards them through an empty
# chain out of gout, a veth in copy mode, to a counting receiver on r0 (tc-drop:
# counted and dropped at tc ingress; or xdp-drop). Once per [gen] tx_sockets
# value: gend's TX rate, what r0 counted, and the CPU share of each of gend's
# threads (worker gen-wQ, controller gen-c*, kickers gen-tQ.S), so that what one
# more TX socket buys is the only thing that changes between lines.
# Usage: test/bench/host_tx.sh QUEUES [seconds]   (root)
# Environment: TX_SOCKETS_LIST (default "1 2 3 4"), RECEIVER (tc-drop or
# xdp-drop, default tc-drop), GEN_BACKEND (default cpu), TX_THREAD (gend's
# [gen] tx_thread, default auto: the first socket too is kicked by a thread of
# its own when there are several, so the worker sends nothing itself; no: the
# worker kicks it).
. "$(dirname "$0")/../net/lib.sh"
Q=${1:-1} SECS=${2:-5}
export NET_QUEUES=$Q
GEN_PORTS="synth:0 gout"
SINK=$BUILD/test/traffic/gen-xsk-sink
RECEIVER=${RECEIVER:-tc-drop}
LIST=${TX_SOCKETS_LIST:-1 2 3 4}
net_require
[ -x "$SINK" ] || skip "build gen-xsk-sink first ($BUILD)"
[ -n "${GEN_LD_PATH:-}" ] && SINK="env LD_LIBRARY_PATH=$GEN_LD_PATH $SINK"
# The veths get the queues of the largest count (lib.sh: mq_gen).
TX_SOCKETS=$(printf '%s\n' $LIST | sort -n | tail -n 1) net_setup

for n in $LIST; do
	TX_SOCKETS=$n cfg_begin
	cat >>"$WORK/chains.ini" <<EOF
tx_thread = ${TX_THREAD:-auto}
synth_size = 64
synth_flows = 64

[chain tx]
id = 1
match = proto udp in synth:0
output = gout
EOF
	gend_start
	nsenter --net=/var/run/netns/"$NS_RCV" $SINK --"$RECEIVER" r0 "$((SECS + 2))" --idle 0 >"$WORK/rcv.json" 2>"$WORK/rcv.err" &
	RP=$!
	for _ in $(seq 50); do grep -q ready "$WORK/rcv.json" 2>/dev/null && break; sleep 0.1; done
	grep -q ready "$WORK/rcv.json" || { echo "host_tx: the $RECEIVER receiver did not start: $(head -c 300 "$WORK/rcv.err")"; kill $RP; gend_stop; continue; }
	sleep 1
	gend_thread_ticks >"$WORK/c0"; a=$(gend_tx); t0=$(date +%s.%N)
	sleep "$SECS"
	gend_thread_ticks >"$WORK/c1"; b=$(gend_tx); t1=$(date +%s.%N)
	wait $RP
	ctl --json status >"$WORK/st.json"
	gend_stop >/dev/null 2>&1
	python3 - "$Q" "$n" "$RECEIVER" "$a" "$b" "$t0" "$t1" "$WORK/c0" "$WORK/c1" "$WORK/rcv.json" "$WORK/st.json" "$(getconf CLK_TCK)" "${TX_THREAD:-auto}" <<'PY'
import json, sys
q, n, rcv, a, b, t0, t1, c0, c1, rj, sj, hz, tt = sys.argv[1:14]
tt = f", tx_thread {tt}"
el = float(t1) - float(t0)
mpps = (int(b) - int(a)) / el / 1e6
def load(f):  # gend_thread_ticks: one "name ticks" line per thread name
    return {name: int(t) for name, t in (line.rsplit(None, 1) for line in open(f))}
x, y = load(c0), load(c1)
busy = {k: (y[k] - x.get(k, 0)) / int(hz) / el * 100 for k in y if k.startswith('gen-')}
busy = {k: v for k, v in busy.items() if v >= 1}
r = [json.loads(l) for l in open(rj) if l.startswith('{') and '"pps"' in l]
st = json.load(open(sj))
out = [p for p in st['port_modes'] if p['name'] == 'gout'][0]
print(f"veth TX, synthetic input, empty chain, 64 B, {q} queue(s), tx_sockets {n}{tt} ({out['mode']} mode, "
      f"{out['tx_sockets']} bound): gend {mpps:.3f} Mpps; {rcv} on r0 {r[-1]['pps'] / 1e6 if r else 0:.3f} Mpps "
      f"(over its whole window); frames per TX socket {out['tx_socket_frames']}; CPU "
      + ", ".join(f"{k} {v:.0f}%" for k, v in sorted(busy.items())))
PY
done
exit 0
