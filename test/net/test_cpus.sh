#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# [gen] cpus: every data-plane thread (port workers, chain controllers) is
# pinned to one CPU of the list, the CPUs taken in turn; genctl status shows the
# list; a reload that changes it is refused and the chain keeps forwarding.
. "$(dirname "$0")/lib.sh"
export NET_QUEUES=2
GEN_PORTS="synth:0 synth:1"
net_require
net_setup
# Start gend; each thread's name and the CPUs it may run on into $WORK/threads, the status into st.json.
start_and_read() {
	gend_start
	sleep 1
	for t in /proc/"$GEND_PID"/task/*; do
		printf '%s %s\n' "$(cat "$t/comm")" "$(awk '/^Cpus_allowed_list/ {print $2}' "$t/status")"
	done >"$WORK/threads"
	ctl --json status >"$WORK/st.json"
}
# Up to two CPUs this test may run on, listed the other way round (the order is the list's).
set -- $(python3 -c "import os; print(*sorted(os.sched_getaffinity(0))[:2])")
if [ $# = 2 ]; then LIST="$2,$1"; else LIST="$1"; fi
cfg_begin
printf 'cpus = %s\nsynth_rate = 100000\n' "$LIST" >>"$WORK/chains.ini"
cfg_empty_chain
start_and_read
ctl --json stats >"$WORK/stats.json"
python3 - "$WORK/threads" "$WORK/st.json" "$LIST" "$WORK/stats.json" <<'PY' || fail "pinning: $(cat "$WORK/threads")"
import json, re, sys
want = [int(c) for c in sys.argv[3].split(',')]
st = json.load(open(sys.argv[2]))
assert st['cpus'] == want, st['cpus']
# spin_max_us = auto: polling grows only where each data-plane thread has a CPU
# of its own (here 2 workers and 2 controllers on the list's CPUs)
assert st['spin_us'] == 20 and st['spin_max_us'] == (200 if len(want) >= 4 else 20), st
dp = [l.split() for l in open(sys.argv[1]) if re.match(r'gen-(w|c)\d', l)]
assert len(dp) == 4, dp  # 2 port workers, 2 controllers (one chain, two queues)
used = set()
for name, cpus in dp:
    assert re.fullmatch(r'\d+', cpus), f"{name} may run on {cpus}, not one CPU"
    assert int(cpus) in want, f"{name} on CPU {cpus}, not in {want}"
    used.add(int(cpus))
assert used == set(want), f"CPUs used {used}, listed {want}: not taken in turn"
# genctl stats: each port worker on the CPU it is pinned to, never moved.
pinned = {int(n[len('gen-w'):]): int(c) for n, c in dp if n.startswith('gen-w')}
for w in json.load(open(sys.argv[4]))['workers']:
    assert w['cpu'] == pinned[w['queue']] and w['cpu_moves'] == 0, (w, pinned)
print("threads:", ", ".join(f"{n} on {c}" for n, c in dp))
PY
ok "data-plane threads pinned one to a CPU of [gen] cpus ($LIST), in turn; genctl status lists them, stats the workers' CPUs"

# A reload that changes the list (to one CPU, or, with one listed, to none) is refused.
if [ "$LIST" = "$1" ]; then sed -i '/^cpus = /d' "$WORK/chains.ini"; else sed -i "s/^cpus = .*/cpus = $1/" "$WORK/chains.ini"; fi
if ctl reload >"$WORK/reload.out" 2>&1; then fail "a reload changing cpus was accepted"; fi
grep -q "cpus" "$WORK/reload.out" || fail "reload refusal does not name cpus: $(cat "$WORK/reload.out")"
T0=$(gend_tx); sleep 0.5; T1=$(gend_tx)
[ "$T1" -gt "$T0" ] || fail "the chain stopped forwarding after the refused reload ($T0 -> $T1)"
ok "a reload changing cpus is refused; the chain keeps forwarding ($T0 -> $T1 packets out)"
gend_stop || fail "gend exit"
ok "gend stopped cleanly"

# One CPU listed of two or more: gend's other threads (main, control, the backend's)
# keep off it, on the rest of its CPUs; genctl status says where; a reload with the
# list unchanged is accepted (the list is checked against gend's mask from before).
if [ $# = 2 ]; then
	sed -i "s/^cpus = .*/cpus = $1/" "$WORK/chains.ini"
	start_and_read
	python3 - "$WORK/threads" "$WORK/st.json" "$1" <<'PY' || fail "other threads: $(cat "$WORK/threads")"
import json, os, re, sys
pinned = int(sys.argv[3])
def cpus(lst):
    out = set()
    for part in lst.split(','):
        a, _, b = part.partition('-')
        out.update(range(int(a), int(b or a) + 1))
    return out
rest = set(os.sched_getaffinity(0)) - {pinned}
threads = [l.split() for l in open(sys.argv[1])]
dp = [(n, c) for n, c in threads if re.match(r'gen-(w|c)\d', n)]
other = [(n, c) for n, c in threads if not re.match(r'gen-(w|c)\d', n)]
assert dp and all(c == str(pinned) for _, c in dp), dp
assert other, threads
for n, c in other:
    assert cpus(c) == rest, f"{n} may run on {c}, want {sorted(rest)} (all but the pinned CPU {pinned})"
st = json.load(open(sys.argv[2]))
assert cpus(st['cpus_other_threads']) == rest, st['cpus_other_threads']
print("other threads:", ", ".join(f"{n} on {c}" for n, c in other))
PY
	ctl reload >"$WORK/reload.out" 2>&1 || fail "a reload with cpus unchanged was refused: $(cat "$WORK/reload.out")"
	T0=$(gend_tx); sleep 0.5; T1=$(gend_tx)
	[ "$T1" -gt "$T0" ] || fail "the chain stopped forwarding after the reload ($T0 -> $T1)"
	ok "with CPU $1 listed, gend's other threads keep off it; a reload with the list unchanged is accepted"
	gend_stop || fail "gend exit"
else
	echo "# the other threads' CPUs: not checked, one CPU only here"
fi
