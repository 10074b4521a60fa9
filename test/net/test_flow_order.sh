#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Per-flow order within a chain under load: four queues of synthetic traffic at
# full speed, one controller per (chain, queue), batches as large as the backlog,
# out of a real veth to gen-traffic's receiver. Frames the veth cannot take are
# dropped and counted; every frame that arrives must come after the ones of its
# flow that arrived before it, and the counts must add up. TX kicks run on their
# own thread per queue here (tx_thread = yes); test_synth.sh covers the default.
# With TX_SOCKETS=N ([gen] tx_sockets), gout's frames leave through N TX sockets
# per queue, each flow through the one its hash picks: every socket must carry
# frames, and every flow must still arrive in order. With GEN_DEMOTE=yes|no
# ([gen] demote) genctl status must say it (the tx_sockets run sets yes: the
# kickers walk what each sendto() took, the worker the headers it hashed).
. "$(dirname "$0")/lib.sh"
export NET_QUEUES=4
GEN_PORTS="synth:0 gout"
PER_Q=60000
TX_SOCKETS=${TX_SOCKETS:-1}
net_require
net_setup
cfg_begin
cat >>"$WORK/chains.ini" <<EOF
tx_thread = yes
synth_flows = 64
synth_size = imix
synth_count = $PER_Q

[nf ttl]
type = ttl_dec

[chain order]
id = 1
match = proto udp
nfs = ttl
output = gout
EOF
recv_start r r0 --idle 3 --dump "$WORK/r.dump"
gend_start
for _ in $(seq 150); do
	ctl --json status >"$WORK/st.json"
	[ "$(json_get "$WORK/st.json" "j['port_modes'][0]['generated']")" = $((4 * PER_Q)) ] && break
	sleep 0.2
done
recv_wait r
# Counters once everything is out (the status above was read as generation ended, TX still going).
ctl --json status >"$WORK/st.json"
ctl --json stats >"$WORK/s.json"
python3 - "$WORK/st.json" "$WORK/s.json" "$WORK/r.json" "$WORK/r.dump" $PER_Q $TX_SOCKETS "${GEN_DEMOTE:-}" <<'PY' || fail "order: $(cat "$WORK/st.json" "$WORK/s.json" "$WORK/r.json")"
import json, sys
st, s, r = (json.load(open(f)) for f in sys.argv[1:4])
per_q, ntx = int(sys.argv[5]), int(sys.argv[6])
if sys.argv[7] in ('yes', 'no'):
    assert st['demote'] == (sys.argv[7] == 'yes'), f"demote = {sys.argv[7]}, status says {st['demote']}"
c = s['chains'][0]
assert st['port_modes'][0]['generated'] == 4 * per_q, st['port_modes']
out = st['port_modes'][1]
assert out['tx_sockets'] == ntx, out
assert len(out['tx_socket_frames']) == ntx and sum(out['tx_socket_frames']) == c['tx_packets'], (out, c)
assert all(v > 0 for v in out['tx_socket_frames']), f"a TX socket carried nothing: {out['tx_socket_frames']}"
assert c['rx_packets'] == 4 * per_q and c['rx_packets'] == c['tx_packets'] + c['dropped'], c
assert all(v == per_q for v in c['rx_per_queue']), c['rx_per_queue']
assert r['received'] <= c['tx_packets'] and r['received'] > 0 and r['corrupt'] == 0, r
last, n = {}, 0
for line in open(sys.argv[4]):
    stream, seq = (int(v) for v in line.split()[:2])
    assert seq > last.get(stream, -1), f"flow {stream}: seq {seq} after {last[stream]}"
    last[stream] = seq
    n += 1
assert n == r['received'] and len(last) == 4 * 64, (n, len(last))
print(f"{n} of {4 * per_q} frames arrived ({c['dropped']} dropped at TX), 256 flows on 4 queues, every flow in order;"
      f" batch avg {c['batch_avg']} max {c['batch_max']}; frames per TX socket {out['tx_socket_frames']}")
PY
ok "per-flow order kept through four controllers of one chain"
gend_stop || fail "gend exit"
