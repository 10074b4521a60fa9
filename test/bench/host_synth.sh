#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): gend on synthetic ports, one empty
# chain synth:0 -> synth:1, Q queues (one port worker and one controller each).
# Prints packets/s and, with perf, CPU ns per packet per stage and thread.
# Usage: test/bench/host_synth.sh QUEUES [seconds]   (root; run by host_bench.sh)
# Environment: GEN_BACKEND (default cpu), SYNTH_SIZE (64), SYNTH_FLOWS (16),
# SYNTH_CHAIN=paper: the paper's chain (ipv4_router -> nids on the community
# rules, GEN_SHARED_DATA or ../shared/data -> ipsec_esp encrypt) instead of the
# empty one; GEND_FRAMES=N: gend --frames N (UMEM frames per queue, test/net/lib.sh);
# HOST_SYNTH_STATS=1: print `genctl stats` (batch sizes, latency) at the end;
# GPU_MODE=rtc|pipeline: [gen] gpu_mode; SYNTH_RATE=PPS: each (port, queue) generator offers PPS, as a NIC would (it takes
# every free frame of the queue; without a rate it keeps at most 2048 in the
# chains): above the capacity, the figure is what the chain carries under
# overload with the whole UMEM to hold its backlog, which a chain whose packets
# take long (large packets on the GPU) needs to have enough in flight.
D0=$(cd "$(dirname "$0")" && pwd)
. "$D0/../net/lib.sh"
Q=${1:-1} SECS=${2:-5}
export NET_QUEUES=$Q
GEN_PORTS="synth:0 synth:1"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x "$GEND" ] || skip "build gend first ($BUILD)"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || skip "no bpffs"
net_setup
cfg_begin
cat >>"$WORK/chains.ini" <<EOF
synth_size = ${SYNTH_SIZE:-64}
synth_flows = ${SYNTH_FLOWS:-16}
synth_rate = ${SYNTH_RATE:-0}
${GPU_MODE:+gpu_mode = $GPU_MODE}
EOF
if [ "${SYNTH_CHAIN:-empty}" = paper ]; then
	[ -r "$COMMUNITY_RULES" ] || skip "paper chain: no community rules at $COMMUNITY_RULES"
	cfg_paper_nfs nids
	printf '\n[chain paper]\nid = 1\nmatch = proto udp\nnfs = router nids esp\noutput = 2\n' >>"$WORK/chains.ini"
else
	cfg_empty_chain
fi
gend_start
sleep 1
gend_wait_agent
gend_thread_ticks >"$WORK/cpu0"; A=$(gend_tx); T0=$(date +%s.%N)
sleep "$SECS"
gend_thread_ticks >"$WORK/cpu1"; B=$(gend_tx); T1=$(date +%s.%N)
PERF=
if command -v perf >/dev/null && [ "${HOST_BENCH_PERF:-1}" = 1 ]; then
	C=$(gend_tx)
	perf record -q -F 997 -p "$GEND_PID" -o "$WORK/perf.data" -- sleep 2 >/dev/null 2>&1 && D=$(gend_tx) &&
		perf report -i "$WORK/perf.data" --stdio --no-children --sort comm,sym -n 2>/dev/null |
		grep -E '^ +[0-9.]+%' >"$WORK/perf.txt" && PERF="$C $D"
fi
ctl --json status >"$WORK/st.json"
python3 - "$Q" "$A" "$B" "$T0" "$T1" "$WORK/cpu0" "$WORK/cpu1" "$(getconf CLK_TCK)" "$WORK/perf.txt" "$PERF" \
	"$WORK/st.json" "${SYNTH_SIZE:-64}" "${SYNTH_CHAIN:-empty}" "${SYNTH_RATE:-0}" <<'PY'
import json, sys
q, a, b, t0, t1 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
tck = int(sys.argv[8]); st = json.load(open(sys.argv[11])); size = sys.argv[12]; chain = sys.argv[13]
pkts = b - a; secs = t1 - t0; pps = pkts / secs
def load(f):  # gend_thread_ticks: one "name ticks" line per thread name
    return {name: int(t) for name, t in (line.rsplit(None, 1) for line in open(f))}
c0, c1 = load(sys.argv[6]), load(sys.argv[7])
missed = sum(p.get('missed', 0) for p in st['port_modes'])
print(f"synthetic port, {chain} chain, {size} B, {q} queue(s), backend {st['backend']}: {pps / 1e6:.2f} Mpps "
      f"({pkts} packets in {secs:.1f} s; UMEM on {'2 MiB hugepages' if st.get('umem_hugepages') else 'normal pages'}"
      f"{'; offered ' + str(int(sys.argv[14]) * q) + ' packets/s per port, ' + str(missed) + ' missed' if int(sys.argv[14]) else ''})")
threads = sorted(n for n in c1 if n.startswith('gen-'))
print("  CPU per thread (busy polling included): " + ", ".join(
      f"{n} {(c1[n] - c0.get(n, 0)) / tck / secs * 100:.0f}%" for n in threads))
if not sys.argv[10]:
    print("  ns per packet by stage: not measured (no perf here, or HOST_BENCH_PERF=0)")
else:
    c, d = (int(x) for x in sys.argv[10].split())
    n = max(d - c, 1)
    rows = []
    for line in open(sys.argv[9]):
        f = line.split()
        samples, comm, sym = int(f[1]), f[2], f[-1]
        rows.append((comm, sym, samples * 1e9 / 997 / n))
    print(f"  ns per packet of all queues by stage (perf, 997 Hz, {n} packets): worker = generate + classify + hand over + "
          f"forward/return; controller = batcher + backend (+ its idle polls)")
    for comm in sorted({r[0] for r in rows}):
        top = sorted((r for r in rows if r[0] == comm), key=lambda r: -r[2])[:6]
        print(f"    {comm:10s} total {sum(r[2] for r in rows if r[0] == comm):7.1f}: " +
              ", ".join(f"{s} {v:.1f}" for _, s, v in top if v >= 0.05))
PY
[ "${HOST_SYNTH_STATS:-0}" = 1 ] && ctl stats | sed 's/^/  /'
gend_stop
