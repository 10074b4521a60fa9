#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# backend = auto: gpu where a usable GPU exists, else cpu with one clear log line
# saying why, also shown by genctl status; traffic flows either way.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
GEN_BACKEND=auto cfg_begin
cfg_nfs to_r0
cfg_chain one 1 "proto udp" "to_r0" 2
gend_start
ctl status >"$WORK/status.txt"
if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
	grep -q "^backend: *gpu" "$WORK/status.txt" || fail "a GPU is present but: $(head -1 "$WORK/status.txt")"
	ok "auto picked the gpu backend"
else
	grep -q "^backend: *cpu (auto requested, no usable GPU: ..*)" "$WORK/status.txt" || fail "status: $(head -1 "$WORK/status.txt")"
	[ "$(grep -c "no usable GPU" "$WORK/gend.log")" = 1 ] || fail "expected one log line saying why: $(cat "$WORK/gend.log")"
	ok "no GPU: cpu backend, one log line and genctl status say why: $(sed -n 's/^backend: *//p' "$WORK/status.txt")"
fi
recv_start r r0 --idle 2
send --dport 5001 --stream 1 --count 2000 --rate 20000 --size 64
recv_wait r
[ "$(json_get "$WORK/r.json" "j['received']")" = 2000 ] || fail "traffic: $(cat "$WORK/r.json")"
ok "traffic flows on the chosen backend"
gend_stop || fail "gend exit"
