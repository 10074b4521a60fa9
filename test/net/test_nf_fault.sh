#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fault containment: a custom NF that loops forever, then one that dereferences
# NULL, costs its own chain only. After each fault: gend answers genctl, the
# chain shows as failed with its reason (genctl chains, log), the other chain
# forwards everything, the failed chain's traffic follows its fail mode
# (closed: dropped in XDP and counted; open: passed to the kernel, which routes
# it to r0), a reload with a fixed NF brings the chain back, and SIGTERM ends
# gend cleanly.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
export GEN_CACHE_DIR=$WORK/cache
NFDIR=$WORK/nf
mkdir -m 0755 "$NFDIR"
# params[0]: 0 pass, 1 loop forever, 2 read the address params[1] (0: NULL).
cat >"$NFDIR/bad.c" <<'EOF'
#include <gen_nf.h>
struct bad_state {
	uint32_t params[8];
	uint64_t spins;
};
NF_FN int bad_run(struct bad_state *st, struct nf_pkt *p)
{
	volatile uint64_t *spins = &st->spins;

	if (st->params[0] == 1)
		for (;;)
			(*spins)++;
	if (st->params[0] == 2)
		return *(volatile int *)(uintptr_t)st->params[1];
	return NF_PASS;
}
GEN_NF(bad_run, struct bad_state);
EOF
chmod 0644 "$NFDIR/bad.c"

write_cfg() { # $1: mode of the bad NF; $2: fail mode of chain bad
	cfg_begin
	cat >>"$WORK/chains.ini" <<EOF
[nf to_r0]
type = l2_rewrite
dst_mac = $MAC_R0

[nf to_r1]
type = l2_rewrite
dst_mac = $MAC_R1

[nf bad]
type = custom
source = nf/bad.c
params = $1 0

[chain good]
id = 1
match = proto udp dport 5001
nfs = to_r0
output = 2

[chain bad]
id = 2
match = proto udp dport 5002
nfs = bad to_r1
output = 3
fail = $2
EOF
}

rx() { # FILE STREAM: packets of STREAM received
	json_get "$1" "sum(s['received'] for s in j['streams'] if s['id']==$2)"
}

# Wait until chain bad shows as failed; print its reason.
wait_failed() {
	for _ in $(seq 100); do
		ctl --json chains >"$WORK/chains.json" || fail "genctl chains did not answer after the fault"
		[ "$(json_get "$WORK/chains.json" "[c['state'] for c in j if c['name']=='bad'][0]")" = failed ] && {
			json_get "$WORK/chains.json" "[c['fail_reason'] for c in j if c['name']=='bad'][0]"
			return 0
		}
		sleep 0.1
	done
	fail "chain bad never showed as failed: $(cat "$WORK/chains.json")"
}

# One fault: $1 name, $2 NF mode, $3 fail mode, $4 text the reason must hold.
fault() {
	local name=$1 N=3000
	write_cfg "$2" "$3"
	ctl reload >"$WORK/reload.out" || fail "$name: reload: $(cat "$WORK/reload.out")"
	send --dport 5002 --stream 9 --count 50 --rate 1000 --size 64
	local why
	why=$(wait_failed) || exit 1
	echo "# $name: $why"
	[[ $why =~ $4 ]] || fail "$name: reason '$why' does not match '$4'"
	kill -0 "$GEND_PID" || fail "$name: gend died"
	grep -Eq "chain 'bad' failed: .*($4)" "$WORK/gend.log" || fail "$name: no log line"
	ctl status >"$WORK/status.out" || fail "$name: genctl status did not answer"
	grep -q "(1 failed)" "$WORK/status.out" || fail "$name: status: $(cat "$WORK/status.out")"
	# The other chain forwards everything; the failed one follows its fail mode.
	local before
	before=$(ctl --json status | python3 -c "import json,sys; print(json.load(sys.stdin)['xdp']['fail_closed'])")
	recv_start "a_$name" r0 --idle 2
	recv_start "b_$name" r1 --idle 2
	send --dport 5001 --stream 1 --count $N --rate 5000 --size 64
	send --dport 5002 --stream 2 --count $N --rate 5000 --size 64
	recv_wait "a_$name"; recv_wait "b_$name"
	[ "$(rx "$WORK/a_$name.json" 1)" = $N ] || fail "$name: chain good lost packets: $(cat "$WORK/a_$name.json")"
	[ "$(rx "$WORK/b_$name.json" 2)" = 0 ] || fail "$name: the failed chain forwarded: $(cat "$WORK/b_$name.json")"
	local after got
	after=$(ctl --json status | python3 -c "import json,sys; print(json.load(sys.stdin)['xdp']['fail_closed'])")
	got=$(rx "$WORK/a_$name.json" 2)
	if [ "$3" = closed ]; then
		[ "$got" = 0 ] || fail "$name: fail closed, yet $got packets passed to the kernel"
		[ $((after - before)) -ge $N ] || fail "$name: fail closed counted $((after - before)) drops, sent $N"
	else
		[ "$got" -ge $((N * 9 / 10)) ] || fail "$name: fail open, yet only $got of $N packets passed"
		[ "$after" = "$before" ] || fail "$name: fail open dropped $((after - before)) in XDP"
	fi
	ok "$name: chain bad failed ($3), chain good forwarded $N of $N, gend answers"
}

write_cfg 0 closed
gend_start
recv_start b0 r1 --idle 2
send --dport 5002 --stream 2 --count 1000 --rate 5000 --size 64
recv_wait b0
[ "$(rx "$WORK/b0.json" 2)" = 1000 ] || fail "the custom NF did not pass traffic at first: $(cat "$WORK/b0.json")"

if [ "${GEN_BACKEND:-cpu}" = gpu ]; then
	# A kernel cannot be cut short: the batch is overdue and the chain fails
	# (daemon/README.md, "gpu backend"). A NULL read poisons the device's
	# context: every chain on it goes to the cpu fallback, where the NF faults.
	fault loop 1 closed "did not complete within"
	fault null 2 open "Segmentation fault|illegal"
else
	fault loop 1 closed "budget"
	fault null 2 open "Segmentation fault"
fi

# A fixed NF comes back with a reload.
write_cfg 0 closed
ctl reload >"$WORK/reload.out" || fail "fixed: reload: $(cat "$WORK/reload.out")"
ctl --json chains >"$WORK/chains.json"
[ "$(json_get "$WORK/chains.json" "[c['state'] for c in j if c['name']=='bad'][0]")" = running ] ||
	fail "chain bad did not come back: $(cat "$WORK/chains.json")"
recv_start b1 r1 --idle 2
send --dport 5002 --stream 2 --count 1000 --rate 5000 --size 64
recv_wait b1
[ "$(rx "$WORK/b1.json" 2)" = 1000 ] || fail "the fixed chain lost packets: $(cat "$WORK/b1.json")"
ok "a reload with the fixed NF brought chain bad back"
if [ "${GEN_BACKEND:-cpu}" = gpu ]; then
	grep -q "chain 'bad' runs on the cpu backend until gend restarts" "$WORK/gend.log" ||
		fail "no log line for chain bad made on the cpu while the GPU is lost"
	grep -q "chain 'good' fell back from the gpu backend" "$WORK/gend.log" ||
		fail "no log line for chain good leaving the lost GPU"
	ok "chains left the lost GPU for the cpu, and said so"
fi

# A loop again, then SIGTERM: gend drains and exits by itself.
write_cfg 1 closed
ctl reload >/dev/null || fail "reload to the looping NF"
send --dport 5002 --stream 9 --count 50 --rate 1000 --size 64
wait_failed >/dev/null || exit 1
t0=$(date +%s%N)
gend_stop || fail "gend exited non-zero on SIGTERM after a fault"
echo "# SIGTERM with a failed chain: stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
grep -q "gend stopped cleanly" "$WORK/gend.log" || fail "no clean stop"
ok "SIGTERM with a failed chain"
