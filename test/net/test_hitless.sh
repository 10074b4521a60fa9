#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runtime SFC modification under steady traffic (backend from GEN_BACKEND):
#   1. add a chain; 2. reorder the NFs of a running chain; 3. inject a custom NF
#   (compiled at run time) into a running chain.
# After each change: the untouched chain and the modified chain lose 0 packets, and
# every packet was processed wholly by the old chain or wholly by the new one, the
# old ones strictly before the new ones (checked per packet from what arrives).
. "$(dirname "$0")/lib.sh"
net_require
net_setup
export GEN_CACHE_DIR=$WORK/cache
NFDIR=$WORK/nf
mkdir -m 0755 "$NFDIR"
# A probe NF whose effect depends on its position: src_mac[5] = src_mac[5] * 3 + params[0].
cat >"$NFDIR/probe.c" <<'EOF'
#include <gen_nf.h>
struct probe_state {
	uint32_t params[8];
};
NF_FN int probe_run(struct probe_state *st, struct nf_pkt *p)
{
	if (p->len < 12)
		return NF_DROP;
	uint8_t *m = p->buf + p->off + 6;
	m[5] = (uint8_t)(m[5] * 3 + st->params[0]);
	return NF_PASS;
}
GEN_NF(probe_run, struct probe_state);
EOF
SRC=$(cd "$(dirname "$0")/../.." && pwd)
cp "$SRC/etc/gen/nf/dscp_marker.c" "$NFDIR/dscp_marker.c"
chmod 0644 "$NFDIR"/*.c

write_cfg() { # $1: nfs of chain mod; $2: 1 to include chain `added`
	cfg_begin
	cat >>"$WORK/chains.ini" <<EOF
[nf ttl]
type = ttl_dec

[nf to_r0]
type = l2_rewrite
src_mac = 02:00:00:00:00:01
dst_mac = $MAC_R0

[nf to_r1]
type = l2_rewrite
src_mac = 02:00:00:00:00:01
dst_mac = $MAC_R1

[nf pa]
type = custom
source = nf/probe.c
params = 1

[nf pb]
type = custom
source = nf/probe.c
params = 2

[nf dscp]
type = custom
source = nf/dscp_marker.c
params = 46

[chain steady]
id = 1
match = proto udp dport 5001
nfs = ttl to_r0
output = 2

[chain mod]
id = 2
match = proto udp dport 5002
nfs = $1
output = 3
EOF
	[ "$2" = 1 ] && cat >>"$WORK/chains.ini" <<EOF

[chain added]
id = 3
match = proto udp dport 5003
nfs = ttl to_r0
output = 2
EOF
	true
}

# One phase: steady traffic on both chains, a reload in the middle, then per-packet checks.
# $1 name, $2 new nfs of `mod`, $3 1 = add chain `added`, $4 python expr for an old packet,
# $5 python expr for a new packet (over ttl, tos, src5 = last byte of the source MAC).
phase() {
	local name=$1 N=30000
	recv_start "st_$name" r0 --idle 2 --dump "$WORK/st_$name.dump"
	recv_start "md_$name" r1 --idle 2 --dump "$WORK/md_$name.dump"
	(send --dport 5001 --stream 1 --count $N --rate 10000 --flows 4 --size 64) &
	local s1=$!
	(send --dport 5002 --stream 2 --count $N --rate 10000 --flows 4 --size 64 --ttl 64) &
	local s2=$!
	sleep 1.2
	write_cfg "$2" "$3"
	local t0=$(date +%s%N)
	ctl reload >"$WORK/reload_$name.out" || fail "$name: reload: $(cat "$WORK/reload_$name.out")"
	echo "# $name: reload applied in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	[ "$3" = 1 ] && send --dport 5003 --stream 3 --count 1000 --rate 10000 --size 64
	wait $s1 $s2 || fail "$name: senders"
	recv_wait "st_$name"; recv_wait "md_$name"
	python3 - "$WORK/st_$name.dump" "$WORK/md_$name.dump" $N "$4" "$5" <<'PY' || fail "$name: see above"
import sys
st, md, n, old, new = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def load(path, stream):
    rows = []
    for line in open(path):
        f = line.split()
        if int(f[0]) != stream:
            continue
        seq, ttl, tos = int(f[1]), int(f[2]), int(f[3])
        src5 = int(f[4].split(':')[5], 16)
        rows.append((seq, ttl, tos, src5))
    rows.sort()
    return rows
s = load(st, 1)
assert len(s) == n and len({r[0] for r in s}) == n, f"untouched chain: {len(s)} of {n} packets"
m = load(md, 2)
assert len(m) == n and len({r[0] for r in m}) == n, f"modified chain: {len(m)} of {n} packets"
kinds = []
for seq, ttl, tos, src5 in m:
    o, w = eval(old), eval(new)
    if o and w:
        k = 'both'
    elif o:
        k = 'old'
    elif w:
        k = 'new'
    else:
        raise SystemExit(f"packet seq {seq}: ttl {ttl} tos {tos} src5 {src5} is neither the old nor the new chain's result")
    kinds.append((seq, k))
if old == new:
    print(f"0 of {n} lost on both chains; the modified chain's program did not change")
    raise SystemExit(0)
first_new = next((seq for seq, k in kinds if k == 'new'), None)
assert first_new is not None, "no packet went through the new chain"
late_old = [seq for seq, k in kinds if k == 'old' and seq > first_new]
assert not late_old, f"old-chain packets after the switch: {late_old[:5]}"
print(f"0 of {n} lost on both chains; switch at seq {first_new}; {sum(k == 'old' for _, k in kinds)} old, {sum(k == 'new' for _, k in kinds)} new")
PY
	ok "$name: untouched and modified chains lost 0 packets; old before new, never a mix"
}

write_cfg "ttl pa pb" 0
gend_start
# src_mac[5] starts as 0x01: pa then pb gives (1*3+1)*3+2 = 14; pb then pa gives (1*3+2)*3+1 = 16.
phase add_chain "ttl pa pb" 1 "ttl == 63 and src5 == 14" "ttl == 63 and src5 == 14"
[ "$(awk '$1 == 3' "$WORK/st_add_chain.dump" | wc -l)" = 1000 ] || fail "the added chain did not forward its 1000 packets"
ok "the added chain forwards"
phase reorder "ttl pb pa" 1 "ttl == 63 and src5 == 14" "ttl == 63 and src5 == 16"
phase inject "ttl pb pa dscp" 1 "src5 == 16 and tos >> 2 == 0" "src5 == 16 and tos >> 2 == 46"
# 4. A custom NF that does not compile (a call to an undeclared function): the reload is refused with the compiler's
#    FILE:LINE and both chains keep running their current agents without loss.
cat >"$NFDIR/broken.c" <<'XEOF'
#include <gen_nf.h>
struct broken_state {
	uint32_t params[8];
};
NF_FN int broken_run(struct broken_state *st, struct nf_pkt *p)
{
	return this_is_not_declared(st, p);
}
GEN_NF(broken_run, struct broken_state);
XEOF
chmod 0644 "$NFDIR/broken.c"
recv_start st_bad r0 --idle 2
recv_start md_bad r1 --idle 2
(send --dport 5001 --stream 1 --count 20000 --rate 10000 --size 64) &
S1=$!
(send --dport 5002 --stream 2 --count 20000 --rate 10000 --size 64) &
S2=$!
sleep 0.8
printf '\n[nf broken]\ntype = custom\nsource = nf/broken.c\n' >>"$WORK/chains.ini"
sed -i 's/^nfs = ttl pb pa dscp$/nfs = ttl pb pa dscp broken/' "$WORK/chains.ini"
if ctl reload >"$WORK/reload_bad.out" 2>&1; then fail "a custom NF that does not compile was accepted"; fi
grep -q "broken.c:7:" "$WORK/reload_bad.out" || fail "compile error without FILE:LINE: $(cat "$WORK/reload_bad.out")"
wait $S1 $S2
recv_wait st_bad; recv_wait md_bad
[ "$(json_get "$WORK/st_bad.json" "j['received']")" = 20000 ] && [ "$(json_get "$WORK/md_bad.json" "j['received']")" = 20000 ] || fail "loss around a rejected custom NF"
ctl chains | grep -q "nfs: ttl pb pa dscp " || fail "the running agent changed: $(ctl chains)"
ok "custom NF compile error: reload refused at $(grep -o 'broken.c:[0-9]*' "$WORK/reload_bad.out" | head -1), running agents kept, 0 lost"
ctl chains
gend_stop || fail "gend exit"
