#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Flow expiry and IPFIX export end to end: a flowmon chain exports to a
# collector on the gen namespace's loopback; the datagrams are decoded with
# scapy's IPFIX layers (Debian's python3-scapy), templates resolved by scapy.
# Four short flows expire on the idle timeout with exactly what was sent
# (packets, IPv4 octets, frame octets, ports, times); a long flow is exported
# on the active timeout in parts that add up to what was sent; expired flows
# leave the table (genctl flows) and are counted (genctl status).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
$PY -c 'import scapy.layers.netflow' 2>/dev/null || skip "needs python3-scapy"
net_require
net_setup
PORT=$((20000 + $$ % 20000))
cfg_begin
cat >>"$WORK/chains.ini" <<CFG
flow_idle_timeout = 2
flow_active_timeout = 4
ipfix_collector = 127.0.0.1:$PORT

[nf fm]
type = flowmon
flows = 1024

[nf to_r0]
type = l2_rewrite
dst_mac = $MAC_R0

[chain flows]
id = 1
match = proto udp dport 5001
nfs = fm to_r0
output = gout
CFG
# The collector: every datagram to $WORK/ipfix.bin (length-prefixed) until $WORK/stop exists.
nsenter --net=/var/run/netns/"$NS_GEN" $PY - "$PORT" "$WORK" <<'PY' &
import os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.2)
open(sys.argv[2] + "/collector.ready", "w").close()
with open(sys.argv[2] + "/ipfix.bin", "wb") as out:
    # Until told to stop, or the test's folder is gone (it failed and tore down).
    while os.path.isdir(sys.argv[2]) and not os.path.exists(sys.argv[2] + "/stop"):
        try:
            d = s.recv(65535)
        except socket.timeout:
            continue
        out.write(struct.pack("!I", len(d)) + d)
        out.flush()
PY
COLLECTOR=$!
for _ in $(seq 50); do [ -e "$WORK/collector.ready" ] && break; sleep 0.1; done
[ -e "$WORK/collector.ready" ] || fail "collector not ready"
gend_start
T0=$(date +%s.%N)
recv_start a r0 --idle 1
send --proto udp --sport 40000 --dport 5001 --flows 4 --count 1000 --rate 20000 --size 100
recv_wait a
ctl --json flows fm >"$WORK/flows1.json"
[ "$(json_get "$WORK/flows1.json" "len(j['top'])")" = 4 ] || fail "genctl flows: $(cat "$WORK/flows1.json")"
sleep 4
ctl --json flows fm >"$WORK/flows2.json"
[ "$(json_get "$WORK/flows2.json" "len(j['top'])")" = 0 ] || fail "idle flows still in the table: $(cat "$WORK/flows2.json")"
ok "genctl flows shows the 4 flows, then none once they expired"

# One flow for 9 s at 110 packets/s: active timeout 4 s. The table is swept once a
# second, so a flow only a second longer than the timeout (5 s, as this was) could
# see no sweep between 4 s and its end when one sweep came late, and leave in one
# record; 9 s leaves a sweep window of 5 s for the first active-timeout part.
recv_start b r0 --idle 2
send --proto udp --sport 45000 --dport 5001 --flows 1 --count 1000 --rate 110 --size 100
recv_wait b
sleep 3.5
T1=$(date +%s.%N)
ctl --json status >"$WORK/status.json"
touch "$WORK/stop"
wait $COLLECTOR
$PY - "$WORK/ipfix.bin" "$T0" "$T1" <<'PY' || fail "IPFIX decode"
import struct, sys
from collections import defaultdict
from scapy.layers.netflow import NetflowHeader, NetflowHeaderV10, NetflowDataflowsetV9, netflowv9_defragment
raw = open(sys.argv[1], "rb").read()
t0, t1 = float(sys.argv[2]) * 1000, float(sys.argv[3]) * 1000
msgs, at = [], 0
while at < len(raw):
    (n,) = struct.unpack("!I", raw[at:at + 4])
    msgs.append(raw[at + 4:at + 4 + n])
    at += 4 + n
assert msgs, "no IPFIX message"
pkts = [NetflowHeader(m) for m in msgs]
for p, m in zip(pkts, msgs):
    assert p.version == 10 and p[NetflowHeaderV10].length == len(m), p.summary()
pkts = netflowv9_defragment(pkts)
recs, seq_expect = [], 0
for p in pkts:
    h = p[NetflowHeaderV10]
    assert h.flowSequence == seq_expect, (h.flowSequence, seq_expect)
    n = 0
    if NetflowDataflowsetV9 in p:
        for r in p[NetflowDataflowsetV9].records:
            recs.append(r)
            n += 1
    seq_expect += n
def num(v):
    # scapy gives fields wider than its own default as raw bytes
    return int.from_bytes(v, "big") if isinstance(v, bytes) else int(v)
by = defaultdict(list)
for r in recs:
    assert r.IPV4_SRC_ADDR == "10.10.1.1" and r.IPV4_DST_ADDR == "10.10.2.2", r.show(dump=True)
    assert num(r.PROTOCOL) == 17 and num(r.L4_DST_PORT) == 5001
    start, end = num(r.flowStartMilliseconds), num(r.flowEndMilliseconds)
    assert t0 - 1000 <= start <= end <= t1 + 1000, (start, end, t0, t1)
    by[num(r.L4_SRC_PORT)].append((num(r.IN_PKTS), num(r.IN_BYTES), num(r.layer2OctetDeltaCount),
                                   num(r.flowEndReason), start, end))
short = {p: v for p, v in by.items() if p < 45000}
assert sorted(short) == [40000, 40001, 40002, 40003], sorted(by)
for p, v in short.items():
    # one record each, on the idle timeout (1), 250 packets of 96 frame bytes (82 IPv4 bytes)
    assert len(v) == 1 and v[0][:4] == (250, 250 * 82, 250 * 96, 1), (p, v)
long = sorted(by[45000], key=lambda x: x[4])
assert len(long) >= 2, long
# Active-timeout parts, then the rest when it went idle (or in one more active part,
# when the active timeout came round before the idle one: it is evicted all the same).
assert [x[3] for x in long[:-1]] == [2] * (len(long) - 1) and long[-1][3] in (1, 2), long
assert sum(x[0] for x in long) == 1000 and sum(x[1] for x in long) == 1000 * 82, long
assert all(a[5] <= b[4] for a, b in zip(long, long[1:])), long
print(f"{len(msgs)} messages, {len(recs)} records; the long flow in {len(long)} parts: {[x[0] for x in long]}")
PY
[ "$(json_get "$WORK/status.json" "j['flows']['expired']")" = 5 ] || fail "status: $(cat "$WORK/status.json")"
ok "IPFIX decoded by scapy: 4 idle-expired flows exact, the long flow's active-timeout parts add up to 1000 packets"
gend_stop || fail "gend exit"
ok "done"
