#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A GPU failure mid-run (injected: the 20th batch fails) moves the chain to the
# cpu backend without losing the batch in hand; counted and shown by genctl.
# A failure after the GPU began writing the batch back (20:after) drops that
# batch and counts it (backend_lost): no packet is processed twice.
# Needs GEN_BACKEND=gpu and a GPU (the device script runs it); skips otherwise.
. "$(dirname "$0")/lib.sh"
[ "${GEN_BACKEND:-cpu}" = gpu ] || skip "needs GEN_BACKEND=gpu on a machine with a GPU"
net_require
net_setup
cfg_begin
cfg_nfs ttl to_r0
cfg_chain one 1 "proto udp" "ttl to_r0" 2
GEN_GPU_FAULT_INJECT=20 gend_start
ctl status | grep -q "^backend: *gpu" || skip "gend did not get a GPU: $(ctl status | head -1)"
N=20000
recv_start f r0 --idle 2
send --dport 5001 --stream 1 --count $N --rate 20000 --size 64
recv_wait f
[ "$(json_get "$WORK/f.json" "j['received']")" = $N ] || fail "packets lost across the fallback: $(cat "$WORK/f.json")"
[ "$(json_get "$WORK/f.json" "j['ttl']['min']")" = 63 ] && [ "$(json_get "$WORK/f.json" "j['ttl']['max']")" = 63 ] || fail "a packet was processed twice or not at all: $(cat "$WORK/f.json")"
ok "all $N packets forwarded exactly once across an injected GPU failure"
ctl --json stats >"$WORK/s.json"
[ "$(json_get "$WORK/s.json" "j['chains'][0]['backend']")" = cpu ] || fail "chain not moved to cpu: $(cat "$WORK/s.json")"
[ "$(json_get "$WORK/s.json" "j['chains'][0]['backend_fallbacks'] >= 1")" = True ] || fail "fallback not counted"
ctl stats | grep -q "fell back" || fail "genctl stats does not show the fallback"
sleep 1.5 # the main loop logs events each second
[ "$(grep -c "fell back from the gpu backend to cpu: " "$WORK/gend.log")" = 1 ] ||
	fail "the fallback is not logged once with its reason: $(grep "fell back" "$WORK/gend.log")"
ok "the chain moved to the cpu backend; counted, shown and logged once"
gend_stop || fail "gend exit"

GEN_GPU_FAULT_INJECT=20:after gend_start
recv_start g r0 --idle 2
send --dport 5001 --stream 2 --count $N --rate 20000 --size 64
recv_wait g
ctl --json stats >"$WORK/s2.json"
got=$(json_get "$WORK/g.json" "j['received']")
lost=$(json_get "$WORK/s2.json" "j['chains'][0]['backend_lost']")
[ "$lost" -ge 1 ] || fail "no batch counted as lost after a late fault: $(cat "$WORK/s2.json")"
[ $((got + lost)) = $N ] || fail "received $got + lost $lost != $N sent"
[ "$(json_get "$WORK/g.json" "j['ttl']['min']")" = 63 ] && [ "$(json_get "$WORK/g.json" "j['ttl']['max']")" = 63 ] || fail "a packet was processed twice: $(cat "$WORK/g.json")"
ok "a late GPU fault dropped its batch ($lost packets, counted), every other packet forwarded once"
gend_stop || fail "gend exit"
