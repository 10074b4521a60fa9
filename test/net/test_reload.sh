#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Hitless reload: a chain is added while traffic flows and the untouched chain
# loses nothing; a broken file is rejected with FILE:LINE and the chains keep
# forwarding; SIGTERM leaves no XDP program and no pin behind.
. "$(dirname "$0")/lib.sh"
net_require
net_setup

base_cfg() {
	cfg_begin
	cfg_nfs ttl to_r0 to_r1
	cfg_chain steady 1 "proto udp dport 5001" "ttl to_r0" 2
}
base_cfg
gend_start

# 1. Add a chain while `steady` carries 60000 packets at 20 kpps (3 s).
N=60000
recv_start steady r0 --idle 2
recv_start added r1 --idle 4
(send --dport 5001 --stream 1 --count $N --rate 20000 --flows 8 --size 64) &
SENDER=$!
sleep 1
cat >>"$WORK/chains.ini" <<EOF

[chain added]
id = 2
match = proto udp dport 5002
nfs = ttl to_r1
output = 3
EOF
ctl reload >"$WORK/reload1.out" || fail "reload adding a chain: $(cat "$WORK/reload1.out")"
send --dport 5002 --stream 2 --count 2000 --rate 20000 --size 64
wait $SENDER || fail "steady sender"
recv_wait steady; recv_wait added
S=$WORK/steady.json
[ "$(json_get $S "j['received']")" = $N ] && [ "$(json_get $S "j['lost']")" = 0 ] || fail "untouched chain lost packets across the reload: $(cat $S)"
ok "untouched chain: $N of $N packets across the reload, 0 lost"
[ "$(json_get "$WORK/added.json" "j['received']")" = 2000 ] || fail "added chain: $(cat "$WORK/added.json")"
ok "the added chain forwards after the reload"
ctl --json status >"$WORK/st.json"
[ "$(json_get "$WORK/st.json" "j['generation']")" = 1 ] || fail "generation: $(cat "$WORK/st.json")"
ok "reload generation counter is 1"


# 1b. Change the running chain's NF list under traffic: drop ttl from `steady`.
recv_start change r0 --idle 2
(send --dport 5001 --stream 4 --count 40000 --rate 20000 --flows 8 --size 64) &
SENDER=$!
sleep 0.8
sed -i 's/^nfs = ttl to_r0$/nfs = to_r0/' "$WORK/chains.ini"
ctl reload >"$WORK/reload1b.out" || fail "reload changing the NF list: $(cat "$WORK/reload1b.out")"
wait $SENDER || fail "sender"
recv_wait change
C=$WORK/change.json
[ "$(json_get $C "j['received']")" = 40000 ] && [ "$(json_get $C "j['lost']")" = 0 ] || fail "NF list change lost packets: $(cat $C)"
[ "$(json_get $C "j['ttl']['min']")" = 63 ] && [ "$(json_get $C "j['ttl']['max']")" = 64 ] || fail "both programs should have run (TTL 63 then 64): $(cat $C)"
ok "changed NF list took effect mid-stream with 0 of 40000 lost"
sed -i 's/^nfs = to_r0$/nfs = ttl to_r0/' "$WORK/chains.ini"
ctl reload >/dev/null || fail "reload back"

# 2. A broken file: genctl reload fails with FILE:LINE, the chains keep running.
cp "$WORK/chains.ini" "$WORK/good.ini"
printf '\n[chain broken]\nid = 3\nmatch = proto udp dport 99999\nnfs = ttl\noutput = 2\n' >>"$WORK/chains.ini"
LINE=$(grep -n "dport 99999" "$WORK/chains.ini" | cut -d: -f1)
if ctl reload >"$WORK/reload2.out" 2>&1; then fail "a broken reload was accepted"; fi
grep -q "chains.ini:$LINE:" "$WORK/reload2.out" || fail "reload error does not name FILE:$LINE: $(cat "$WORK/reload2.out")"
ok "broken reload rejected with chains.ini:$LINE"
kill -HUP "$GEND_PID"; sleep 0.5
grep -q "chains.ini:$LINE:" "$WORK/gend.log" || fail "SIGHUP reload error not logged with FILE:LINE"
kill -0 "$GEND_PID" || fail "gend died on a bad reload"
recv_start after r0 --idle 2
send --dport 5001 --stream 5 --count 3000 --rate 20000 --size 64
recv_wait after
[ "$(json_get "$WORK/after.json" "j['received']")" = 3000 ] || fail "chains stopped after a bad reload: $(cat "$WORK/after.json")"
ok "the old chains keep forwarding after the rejected reload (genctl and SIGHUP)"

# 2b. A file that is valid but needs more classifier rules than the table holds.
cp "$WORK/good.ini" "$WORK/chains.ini"
for c in 1 2 3 4 5 6; do
	printf '\n[chain big%d]\nid = %d\nnfs = ttl\noutput = 2\n' $c $((10 + c)) >>"$WORK/chains.ini"
	for m in $(seq 64); do echo "match = proto udp dport $((10000 + c * 100 + m))" >>"$WORK/chains.ini"; done
done
if ctl reload >"$WORK/reload2b.out" 2>&1; then fail "a reload beyond the classifier's capacity was accepted"; fi
grep -q "chains.ini:[0-9]*: chain 'big[0-9]': more than 1024 classifier rules" "$WORK/reload2b.out" || fail "capacity error: $(cat "$WORK/reload2b.out")"
ctl chains | grep -q "^big" && fail "part of a rejected reload was applied"
"$GEND" --check -c "$WORK/chains.ini" >"$WORK/check.out" 2>&1 && fail "gend --check accepted it"
grep -q "more than 1024 classifier rules" "$WORK/check.out" || fail "gend --check: $(cat "$WORK/check.out")"
ok "a reload beyond the classifier's 1024 rules is rejected whole, with FILE:LINE (and by gend --check)"

# 2c. [gen] settings that need a restart are refused by a reload, with the reason.
cp "$WORK/good.ini" "$WORK/chains.ini"
sed -i 's/^control = /mini_batch = 128\ncontrol = /' "$WORK/chains.ini"
if ctl reload >"$WORK/reload2c.out" 2>&1; then fail "a [gen] change was applied by reload"; fi
grep -q "restart gend" "$WORK/reload2c.out" || fail "[gen] change: $(cat "$WORK/reload2c.out")"
ok "a [gen] change (mini_batch) is refused by reload: restart needed"

# 3. Remove a chain by SIGHUP.
cp "$WORK/good.ini" "$WORK/chains.ini"
sed -i '/^\[chain added\]/,$d' "$WORK/chains.ini"
kill -HUP "$GEND_PID"; sleep 1
ctl chains >"$WORK/chains.out"
grep -q "^added" "$WORK/chains.out" && fail "removed chain still listed"
grep -q "^steady" "$WORK/chains.out" || fail "steady chain gone"
ok "SIGHUP reload removed a chain"

# 4. SIGTERM: exit 0, no XDP program, no pins.
gend_stop || fail "gend did not exit 0 on SIGTERM"
for l in gin gout gout2; do
	nsenter --net=/var/run/netns/"$NS_GEN" ip -d link show "$l" | grep -q "prog/xdp" && fail "XDP program left on $l"
done
[ -e /sys/fs/bpf/gen ] && fail "pins left in /sys/fs/bpf/gen"
ok "SIGTERM: exit 0, no XDP program and no pin left"
