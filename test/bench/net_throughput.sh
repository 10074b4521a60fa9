#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): 64 B packets/s
#  1. through gend with an empty chain (sender -> gin [gend] gout -> receiver);
#  2. the I/O ceiling: the same sender straight to a receiver over one veth pair.
# Usage: test/bench/net_throughput.sh [seconds] [extra gend args]   (root)
# Environment: GEN_BACKEND=cpu|gpu; NET_QUEUES=N (rx queues, gend queues, sender
# threads); GEN_BENCH_AFXDP=1 for the AF_XDP sender (one thread per queue).
. "$(dirname "$0")/../net/lib.sh"
SECS=${1:-5}; shift || true
Q=${NET_QUEUES:-1}
SENDER="--threads $Q"
[ "${GEN_BENCH_AFXDP:-0}" = 1 ] && SENDER="--afxdp --threads $Q --queue-base 0"
[ "${GEN_BENCH_AFXDP:-0}" = 1 ] || [ "$Q" = 1 ] || SENDER="--threads $Q --queue-base 0"
net_require
net_setup
cfg_begin
cfg_empty_chain
gend_start "$@"
recv_start thru r0 --idle 2
T0=$(ctl --json stats)
send --dport 5001 --stream 1 --duration "$SECS" --rate 0 --flows 16 --size 64 --json $SENDER
SENT=$(cat "$WORK/send.out")
recv_wait thru
ctl --json stats >"$WORK/stats.json"
python3 - "$WORK/thru.json" "$WORK/stats.json" "$SECS" "$SENT" "$Q" "$SENDER" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2])); secs = float(sys.argv[3])
sent = json.loads(sys.argv[4]); q = sys.argv[5]; how = sys.argv[6]
c = s['chains'][0]
got = r['received']
print(f"gend, empty chain, 64 B, backend {c['backend']}, {q} queue(s), sender [{how}]: offered {sent['sent']} "
      f"({sent['rate_pps']:.0f} pps); gend rx {c['rx_packets']} tx {c['tx_packets']}; receiver got {got} "
      f"= {got / sent['duration_s']:.0f} pps over the send time, lost {sent['sent'] - got}; "
      f"batch avg {c['batch_avg']} max {c.get('batch_max')}; rx per queue {c.get('rx_per_queue')}; "
      f"latency p50/p99 {r['latency_us']['p50']}/{r['latency_us']['p99']} us")
PY
ctl status | grep -E "^af_xdp"
gend_stop

# The ceiling: the same sender to a receiver on gin itself (no gend, no XDP).
nsenter --net=/var/run/netns/"$NS_GEN" ip addr flush dev gin
nsenter --net=/var/run/netns/"$NS_GEN" "$GT" recv --dev gin --json --idle 2 --ready-file "$WORK/c.ready" >"$WORK/ceil.json" 2>&1 &
R=$!
for _ in $(seq 50); do [ -e "$WORK/c.ready" ] && break; sleep 0.1; done
send --dport 5001 --stream 1 --duration "$SECS" --rate 0 --flows 16 --size 64 --json $SENDER
wait $R
python3 - "$WORK/ceil.json" "$(cat "$WORK/send.out")" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read()); sent = json.loads(sys.argv[2])
print(f"I/O ceiling, same sender straight to a receiver over one veth pair, 64 B: offered {sent['sent']} "
      f"({sent['rate_pps']:.0f} pps); received {r['received']} = {r['received'] / sent['duration_s']:.0f} pps")
PY
