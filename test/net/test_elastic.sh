#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Elasticity through gend: a hybrid chain with a latency bound on synthetic
# ports. genctl chains and stats show its placement (the cpu: no GPU here, or
# the load is low) and its bound; `genctl stats --watch --json` streams
# samples at the asked period; `genctl synth-rate` steps the offered load at run
# time and the chain's receive rate follows; a reload may change synth_rate, and
# bad values are refused with a reason.
. "$(dirname "$0")/lib.sh"
GEN_PORTS="synth:0 synth:1"
net_require
net_setup
GEN_BACKEND=${GEN_BACKEND:-hybrid} cfg_begin
cat >>"$WORK/chains.ini" <<EOF
synth_size = 64
synth_flows = 16
synth_rate = 2000
max_wait_us = 250

[nf fm]
type = flowmon

[chain c]
id = 1
match = proto udp in synth:0
nfs = fm
output = synth:1
backend = hybrid
latency_target_us = 50000
hybrid_pps = 100000000
EOF
gend_start
sleep 1

# With a GPU the chain is hybrid and starts on the cpu; without one it is a cpu chain.
ctl chains | grep -Eq "(hybrid: )?on cpu(, 0 moves)?$" || fail "genctl chains: $(ctl chains)"
ctl --json stats >"$WORK/st.json"
[ "$(json_get "$WORK/st.json" "j['chains'][0]['placement'], j['chains'][0]['switches'], j['chains'][0]['max_wait_us'], j['chains'][0]['latency_target_us']")" = "cpu 0 250 50000" ] ||
	fail "stats: $(cat "$WORK/st.json")"
ok "chains and stats show the placement, the bound and the target"

ctl --json --watch --interval 20 --count 10 stats >"$WORK/watch.jsonl" || fail "stats --watch"
python3 - "$WORK/watch.jsonl" <<'PY' || fail "the sample stream"
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
assert len(s) == 10, len(s)
t = [x['t_ns'] for x in s]
gaps = [(b - a) / 1e6 for a, b in zip(t, t[1:])]
assert all(g > 5 for g in gaps) and sum(gaps) / len(gaps) < 60, gaps
c = s[-1]['chains'][0]
for k in ('batch_last', 'ring', 'dropped', 'placement', 'window_p99_us', 'batch_limit', 'depth', 'switches'):
    assert k in c, k
assert c['rx_packets'] > s[0]['chains'][0]['rx_packets'], 'traffic flows'
print(f"10 samples, {sum(gaps) / len(gaps):.1f} ms apart")
PY
ok "stats --watch --json: one sample per line at the period asked"

rate() { # packets/s the chain receives, over 1 s of the samples' own clock
	ctl --json --watch --interval 1000 --count 2 stats | python3 -c "
import json, sys
a, b = (json.loads(l) for l in sys.stdin)
print(int((b['chains'][0]['rx_packets'] - a['chains'][0]['rx_packets']) * 1e9 / (b['t_ns'] - a['t_ns'])))"
}
r1=$(rate)
ctl synth-rate 20000 >/dev/null || fail "synth-rate"
sleep 0.3
r2=$(rate)
[ "$r1" -gt 1000 ] && [ "$r1" -lt 3000 ] && [ "$r2" -gt 14000 ] && [ "$r2" -lt 26000 ] ||
	fail "offered 2000 then 20000 pps: the chain received $r1 then $r2 per second"
ok "synth-rate steps the offered load: $r1 -> $r2 packets/s"
ctl synth-rate lots >"$WORK/bad.out" 2>&1 && fail "synth-rate lots accepted"
grep -q "not packets per second" "$WORK/bad.out" || fail "synth-rate error: $(cat "$WORK/bad.out")"
sed -i 's/^synth_rate = 2000/synth_rate = 5000/' "$WORK/chains.ini"
ctl reload >/dev/null || fail "reload with a new synth_rate: $(ctl reload 2>&1)"
sleep 0.3
r3=$(rate)
[ "$r3" -gt 3500 ] && [ "$r3" -lt 6500 ] || fail "after a reload to 5000 pps: $r3"
ok "a reload changes synth_rate: $r3 packets/s"
ctl --json stats >"$WORK/st.json"
[ "$(json_get "$WORK/st.json" "j['chains'][0]['dropped'] + j['chains'][0]['backend_lost']")" = 0 ] || fail "drops: $(cat "$WORK/st.json")"
[ "$(json_get "$WORK/st.json" "j['chains'][0]['latency_us']['p99'] > 0")" = True ] || fail "no latency measured"
ok "no drops; latency measured (p99 $(json_get "$WORK/st.json" "j['chains'][0]['latency_us']['p99']") us)"
gend_stop || fail "gend exit status"
