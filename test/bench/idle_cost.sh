#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): what an idle gend costs the box.
# gend runs the a/b chains of the netns testbed with no traffic, for each
# configuration in turn, and the script prints its CPU time over SECONDS (per
# thread name: port workers gen-wQ, controllers gen-cC-qQ, kicker threads
# gen-tQ[.S]) and the box's context switches a second over the same window.
#   test/bench/idle_cost.sh [SECONDS]
# IDLE_CONFIGS: configurations, '|'-separated, each "QUEUES TX_SOCKETS TX_THREAD"
# (default "1 1 auto|1 2 yes|4 4 yes|4 4 auto").
. "$(dirname "$0")/../net/lib.sh"
SECS=${1:-5}
net_require
IFS='|' read -r -a configs <<<"${IDLE_CONFIGS:-1 1 auto|1 2 yes|4 4 yes|4 4 auto}"
maxq=1 maxs=1
for c in "${configs[@]}"; do
	read -r q s _ <<<"$c"
	[ "$q" -gt "$maxq" ] && maxq=$q
	[ "$s" -gt "$maxs" ] && maxs=$s
done
NET_QUEUES=$maxq TX_SOCKETS=$maxs net_setup
hz=$(getconf CLK_TCK)
ctxt() { awk '/^ctxt/ { print $2 }' /proc/stat; }
for c in "${configs[@]}"; do
	read -r q s t <<<"$c"
	NET_QUEUES=$q TX_SOCKETS=$s cfg_begin
	echo "tx_thread = $t" >>"$WORK/chains.ini"
	cfg_a_b
	gend_start
	sleep 1
	gend_thread_ticks >"$WORK/t1"
	c1=$(ctxt)
	sleep "$SECS"
	c2=$(ctxt)
	gend_thread_ticks >"$WORK/t2"
	python3 - "$WORK/t1" "$WORK/t2" "$hz" "$SECS" "$q" "$s" "$t" "$(( (c2 - c1) / SECS ))" <<'PY'
import sys
def read(f):
    return {l.rsplit(' ', 1)[0]: int(l.rsplit(' ', 1)[1]) for l in open(f) if l.strip()}
a, b = read(sys.argv[1]), read(sys.argv[2])
hz, secs = int(sys.argv[3]), float(sys.argv[4])
pct = {n: 100.0 * (b[n] - a.get(n, 0)) / hz / secs for n in b}
kind = lambda n: 'workers' if n.startswith('gen-w') else 'controllers' if n.startswith('gen-c') else \
    'kickers' if n.startswith('gen-t') else 'other'
by = {}
for n, v in pct.items():
    k = kind(n)
    by[k] = by.get(k, 0) + v
print(f"idle gend, {sys.argv[5]} queue(s), tx_sockets {sys.argv[6]}, tx_thread {sys.argv[7]}: "
      f"{sum(pct.values()):.1f} % of a CPU over {secs:.0f} s ("
      + ", ".join(f"{k} {v:.1f} %" for k, v in sorted(by.items()))
      + f"); box context switches {sys.argv[8]}/s")
PY
	gend_stop || fail "gend exit"
done
