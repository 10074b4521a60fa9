#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The paper's chain on one chain: ipv4_router -> nids (drop) -> ipsec_esp encrypt,
# out of a loop link; a second chain decrypts what comes back in and sends it to
# the receiver. Payloads arrive intact, NIDS drops exactly the packets carrying a
# rule's content, and the counters agree with what the traffic tool sent.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
net_add_loop
cat >"$WORK/routes" <<EOF
# PREFIX/LEN NEXTHOP_MAC
0.0.0.0/0 02:00:00:00:00:99
10.10.2.0/24 $MAC_R0
10.10.2.128/25 02:00:00:00:00:98
EOF
cat >"$WORK/rules" <<'EOF'
drop udp any any -> any 7000 (msg:"gen test marker"; content:"EVIL|50|AYLOAD"; sid:1000001; rev:1;)
alert tcp any any -> any 80 (msg:"never on udp"; content:"EVIL"; sid:1000002; rev:1;)
EOF
KEYS="spi = 0x1001
$ESP_SA"
cfg_begin
cat >>"$WORK/chains.ini" <<EOF
${GEN_MAX_BATCH:+max_batch = $GEN_MAX_BATCH}

[nf router]
type = ipv4_router
routes = routes

[nf nids]
type = nids
rules = rules
action = drop

[nf esp_out]
type = ipsec_esp
direction = encrypt
$KEYS

[nf esp_in]
type = ipsec_esp
direction = decrypt
$KEYS

[chain paper]
id = 1
match = proto udp dport 7000 in gin
nfs = router nids esp_out
output = gla

[chain back]
id = 2
match = proto 50 in glb
nfs = esp_in
output = gout
EOF
gend_start

N=3000
HEX=$(printf 'EVILPAYLOAD' | od -An -tx1 | tr -d ' \n')
recv_start paper r0 --idle 3
send --dport 7000 --stream 1 --count $N --rate 10000 --flows 8 --size 64 --payload-hex "$HEX" --payload-every 10
send --dport 7000 --stream 2 --count $N --rate 10000 --flows 8 --size 1000 --payload-hex "$HEX" --payload-every 10
recv_wait paper
R=$WORK/paper.json
ctl --json stats >"$WORK/stats.json"
python3 - "$R" "$WORK/stats.json" $N <<'PY' || fail "paper chain: $(cat "$R"; cat "$WORK/stats.json")"
import json, sys
r = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2])); n = int(sys.argv[3])
marked = n // 10
st = {x['id']: x['received'] for x in r['streams']}
assert st.get(1) == n - marked and st.get(2) == n - marked, ("per-stream", st)
assert r['corrupt'] == 0, "payload changed"
assert r['marked'] == 0, "a packet with the rule's content got through"
assert r['ttl']['min'] == 63 and r['ttl']['max'] == 63, "router TTL"
assert r['first']['dst_mac'] == "02:00:00:00:00:02", "router next hop MAC"
c = {x['name']: x for x in s['chains']}
nf = lambda chain, name: [x for x in c[chain]['nfs'] if x['name'] == name][0]['counters']
assert c['paper']['rx_packets'] == 2 * n and c['paper']['dropped'] == 2 * marked, c['paper']
assert c['paper']['dropped_verdict'] == 2 * marked, c['paper']
assert c['paper']['dropped_ring_full'] == 0 and c['paper']['dropped_tx_full'] == 0, c['paper']
assert c['back']['rx_packets'] == 2 * (n - marked) and c['back']['tx_packets'] == 2 * (n - marked), c['back']
assert nf('paper', 'router')['forwarded'] == 2 * n, nf('paper', 'router')
assert nf('paper', 'esp_out')['encrypted'] == 2 * (n - marked), nf('paper', 'esp_out')
d = nf('back', 'esp_in')
assert d['decrypted'] == 2 * (n - marked) and d['auth_failed'] == 0 and d['replay'] == 0, d
print("paper chain ok:", st, "nids drops", c['paper']['dropped'])
PY
ok "router -> nids -> esp encrypt, esp decrypt on the way back: payloads intact, $((2 * N / 10)) marked packets dropped"
ctl alerts nids >"$WORK/alerts.txt" || fail "genctl alerts: $(cat "$WORK/alerts.txt")"
grep -q "1000001" "$WORK/alerts.txt" && grep -q "$((2 * N / 10))" "$WORK/alerts.txt" || fail "alerts per sid: $(cat "$WORK/alerts.txt")"
grep -q "1000002" "$WORK/alerts.txt" && fail "a tcp rule fired on udp traffic"
ok "genctl alerts nids shows sid 1000001 with $((2 * N / 10)) alerts"
gend_stop || fail "gend exit"
