#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): 64 B packets/s
#  1. through gend with an empty chain (sender -> gin [gend] gout -> receiver);
#  2. the I/O ceiling: the traffic tool straight to its own receiver over one veth pair.
# Usage: test/bench/net_throughput.sh [seconds] [extra gend args]   (root; GEN_BACKEND=cpu|gpu)
. "$(dirname "$0")/../net/lib.sh"
SECS=${1:-5}; shift || true
net_require
net_setup
cfg_begin
cat >>"$WORK/chains.ini" <<EOF
[chain empty]
id = 1
match = proto udp
output = 2
EOF
gend_start "$@"
recv_start thru r0 --idle 2
send --dport 5001 --stream 1 --duration "$SECS" --rate 0 --flows 16 --size 64 --json
SENT=$(cat "$WORK/send.out")
recv_wait thru
ctl --json stats >"$WORK/stats.json"
python3 - "$WORK/thru.json" "$WORK/stats.json" "$SECS" "$SENT" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2])); secs = float(sys.argv[3])
sent = json.loads(sys.argv[4])
c = s['chains'][0]
print(f"gend, empty chain, 64 B, backend {c['backend']}: sender offered {sent.get('pps', sent.get('rate_pps', 0)):.0f} pps; "
      f"received {r['received']} in {secs:.0f} s = {r['received']/secs:.0f} pps at the receiver; "
      f"gend rx {c['rx_packets']} tx {c['tx_packets']} dropped {c['dropped']}; batch avg {c['batch_avg']} max {c.get('batch_max')}; "
      f"latency p50/p99 {r['latency_us']['p50']}/{r['latency_us']['p99']} us")
PY
gend_stop

# The I/O ceiling: s0 -> gin is one veth pair; receive on gin itself (no gend).
nsenter --net=/var/run/netns/"$NS_GEN" "$GT" recv --dev gin --json --idle 2 --ready-file "$WORK/c.ready" >"$WORK/ceil.json" 2>&1 &
R=$!
for _ in $(seq 50); do [ -e "$WORK/c.ready" ] && break; sleep 0.1; done
send --dport 5001 --stream 1 --duration "$SECS" --rate 0 --flows 16 --size 64 --json
wait $R
python3 - "$WORK/ceil.json" "$SECS" "$(cat "$WORK/send.out")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); secs = float(sys.argv[2]); sent = json.loads(sys.argv[3])
print(f"I/O ceiling, traffic tool to its own receiver over one veth pair, 64 B: sender {sent.get('pps', sent.get('rate_pps', 0)):.0f} pps; "
      f"receiver {r['received']/secs:.0f} pps ({r['received']} in {secs:.0f} s)")
PY
