#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Two rx queues per port: one port worker and one UMEM per queue, each chain fed
# from both; every packet arrives, in order within its queue, both queues busy.
# An AF_PACKET sender picks the TX queue (hence the veth peer's RX queue) from the
# CPU it runs on, so each sender is pinned: stream 1 to CPU 0, stream 2 to CPU 1.
. "$(dirname "$0")/lib.sh"
export NET_QUEUES=2
net_require
net_setup
cfg_begin
cfg_nfs ttl to_r0
cfg_chain one 1 "proto udp" "ttl to_r0" 2
gend_start
N=30000
recv_start r r0 --idle 2 --dump "$WORK/r.dump"
(send --dport 5001 --stream 1 --count $N --rate 10000 --flows 8 --size 64 --cpu 0) &
S1=$!
send --dport 5002 --stream 2 --count $N --rate 10000 --flows 8 --size 64 --cpu 1
wait $S1
recv_wait r
N=$((2 * N))
[ "$(json_get "$WORK/r.json" "j['received']")" = $N ] && [ "$(json_get "$WORK/r.json" "j['lost']")" = 0 ] || fail "delivery: $(cat "$WORK/r.json")"
ok "$N of $N packets through two queues"
ctl --json stats >"$WORK/s.json"
python3 - "$WORK/s.json" "$WORK/r.dump" <<'PY' || fail "per-queue / per-flow: $(cat "$WORK/s.json")"
import json, sys
q = json.load(open(sys.argv[1]))['chains'][0]['rx_per_queue']
assert len(q) == 2 and all(x > 0 for x in q), f"rx per queue {q}"
last = {}
for line in open(sys.argv[2]):
    f = line.split()
    stream, seq = int(f[0]), int(f[1])
    assert seq > last.get(stream, -1), f"stream {stream}: seq {seq} after {last[stream]}"
    last[stream] = seq
assert sorted(last) == [1, 2], last
print("rx per queue", q, "; each stream in order")
PY
ok "both queues carried traffic; each queue's stream arrived in order"
gend_stop || fail "gend exit"
