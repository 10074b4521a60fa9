#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A hybrid chain on a real GPU, under traffic on synthetic ports: at low load it
# runs on the cpu; the offered load steps past hybrid_pps and it moves to the
# GPU, then back when the load falls; no packet lost, and the NF state moved
# both ways (flowmon counted every packet; ESP encrypt + decrypt in one chain:
# every packet encrypted and decrypted once, no replay, so the sequence numbers
# and the replay window went along). The decrypt's window is 1024: batches in
# flight together on the GPU take their sequence numbers in any order (see
# nf/ipsec_esp.md), which a 64-packet window inside the same chain counts as
# replays; a lost sequence number on a move would show as replays of nearly
# every packet after it. Needs GEN_BACKEND=gpu and a GPU.
. "$(dirname "$0")/lib.sh"
[ "${GEN_BACKEND:-cpu}" = gpu ] || skip "needs GEN_BACKEND=gpu on a machine with a GPU"
command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU' || skip "no GPU"
GEN_PORTS="synth:0 synth:1"
net_require
net_setup
KEYS="spi = 0x3003
$ESP_SA"
cfg_begin
cat >>"$WORK/chains.ini" <<CFG
synth_size = 64
synth_flows = 8
synth_rate = 2000

[nf fm]
type = flowmon

[nf esp_e]
type = ipsec_esp
direction = encrypt
$KEYS

[nf esp_d]
type = ipsec_esp
direction = decrypt
replay_window = 1024
$KEYS

[chain h]
id = 1
match = proto udp in synth:0
nfs = fm esp_e esp_d
output = synth:1
backend = hybrid
hybrid_pps = 20000
CFG
gend_start
placement() { ctl --json stats | python3 -c "import json,sys; c=json.load(sys.stdin)['chains'][0]; print(c['placement'], c['switches'])"; }
wait_for() { # placement
	for _ in $(seq 100); do
		[ "$(placement | cut -d' ' -f1)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "the chain did not move to $1: $(placement); $(ctl chains)"
}
sleep 1
[ "$(placement)" = "cpu 0" ] || fail "a hybrid chain at 2000 pps should start on the cpu: $(placement)"
ok "at 2000 pps the hybrid chain runs on the cpu"
ctl synth-rate 50000 >/dev/null || fail "synth-rate"
wait_for gpu
sleep 1
ok "at 50000 pps it moved to the GPU ($(placement))"
ctl synth-rate 2000 >/dev/null || fail "synth-rate"
wait_for cpu
sleep 0.5
sleep 1 # the main loop logs events each second
grep -q "now runs on gpu.*: load [0-9]* packets/s above hybrid_pps" "$WORK/gend.log" &&
	grep -q "now runs on cpu: load [0-9]* packets/s below hybrid_pps" "$WORK/gend.log" ||
	fail "the moves are not logged with their reason: $(grep "now runs on" "$WORK/gend.log")"
ok "back at 2000 pps it moved back to the cpu ($(placement)); both moves logged with the reason"
ctl --json stats >"$WORK/st.json"
ctl --json flows fm >"$WORK/fm.json"
python3 - "$WORK/st.json" "$WORK/fm.json" <<'PY' || fail "state or packets lost in the moves: $(cat "$WORK/st.json" "$WORK/fm.json")"
import json, sys
s = json.load(open(sys.argv[1])); fm = json.load(open(sys.argv[2]))
c = s['chains'][0]
nfs = {x['name']: x['counters'] for x in c['nfs']}
rx = c['rx_packets']
assert c['switches'] >= 2, c['switches']
assert c['dropped'] == 0 and c['backend_lost'] == 0, c
# Traffic still flows (2000 pps) while the two reads are taken: allow a second's worth.
seen = sum(f['packets'] for f in fm['top'])
e, d = nfs['esp_e'], nfs['esp_d']
for name, v in (('flowmon', seen), ('encrypted', e['encrypted']), ('decrypted', d['decrypted'])):
    assert abs(v - rx) <= 2000, (name, v, 'received', rx)
assert d['replay'] == 0 and d['auth_failed'] == 0, d
print(f"{rx} packets, {c['switches']} moves, flowmon and ESP state intact; NF states handed over "
      f"{c.get('handovers')} times, {c.get('handover_bytes')} bytes, the last in {c.get('handover_us_last')} us")
PY
ok "no packet lost; flowmon and ESP state moved both ways"
gend_stop || fail "gend exit status"
