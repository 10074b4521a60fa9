#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (prints figures, asserts nothing): where queue 0's port worker
# spends its time at one offered rate, window by window, so that windows in
# different states can be told apart. gend runs the paper chain (light without
# the Snort rules) on `ports = synth:0 synth:1`, one queue, the generators
# offering RATE_PPS in all; each window samples `genctl --json stats`, runs
# `perf record -e cpu-clock` on the worker thread for 0.5 s, samples again and
# prints the window's received rate, frames a pass, time a pass, frames the
# chains held, frames the generators missed and the worker's CPU, then the
# worker's top symbols. Root; perf in PATH.
#   test/bench/worker_profile.sh [RATE_PPS] [WINDOWS]
# Environment: GEN_BACKEND (default gpu where gend has one, else cpu),
# GEND_CPUS ([gen] cpus), WORKER_PROFILE_KEYS (more [chain] keys, one a line).
D0=$(cd "$(dirname "$0")" && pwd)
. "$D0/../net/lib.sh"
RATE=${1:-19000000}
WINDOWS=${2:-30}
Q=1
GEN_PORTS="synth:0 synth:1"
CHAIN=paper
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x "$GEND" ] || skip "build gend first ($BUILD)"
command -v perf >/dev/null || skip "no perf in PATH"
export GENCTL SOCK GENS=2
net_setup
[ -r "$COMMUNITY_RULES" ] || CHAIN=light
# write_cfg is elastic.sh's: one chain over the synthetic ports.
eval "$(sed -n '/^write_cfg() {/,/^}/p' "$D0/elastic.sh")"
BE=${GEN_BACKEND:-gpu}
write_cfg "$BE" 64 "${WORKER_PROFILE_KEYS:-}"
gend_start
sleep 1
[ "$BE" = cpu ] || gend_wait_agent
"$GENCTL" -s "$SOCK" synth-rate $((RATE / 2)) >/dev/null
TID=
for t in /proc/"$GEND_PID"/task/*; do [ "$(cat "$t/comm")" = gen-w0 ] && TID=${t##*/}; done
[ -n "$TID" ] || fail "no port worker thread gen-w0 in gend"
echo "chain $CHAIN on $BE, $RATE pps offered, worker thread $TID, $WINDOWS windows of 0.5 s"
sleep 1
for i in $(seq 1 "$WINDOWS"); do
	T0=$(date +%s%N)
	"$GENCTL" -s "$SOCK" --json stats >"$WORK/a.json"
	perf record -q -e cpu-clock -F 20000 -t "$TID" -o "$WORK/w.data" -- sleep 0.5 >/dev/null 2>&1
	"$GENCTL" -s "$SOCK" --json stats >"$WORK/b.json"
	T1=$(date +%s%N)
	python3 - "$WORK/a.json" "$WORK/b.json" "$i" "$T0" "$T1" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
wa, wb = a['workers'][0], b['workers'][0]
dt = (int(sys.argv[5]) - int(sys.argv[4])) / 1e9
p = wb['busy_passes'] - wa['busy_passes']
f = wb['frames_in'] - wa['frames_in']
print(f"window {sys.argv[3]}: rx {f / dt / 1e6:.2f} Mpps, {f / max(p, 1):.1f} frames a pass, "
      f"{dt * 1e9 / max(p, 1):.0f} ns a pass, {wb['frames_held']} frames held, "
      f"{wb.get('synth_missed', 0) - wa.get('synth_missed', 0)} missed, CPU {wb.get('cpu')}")
PY
	perf report -i "$WORK/w.data" --stdio --no-children --sort sym -q 2>/dev/null | head -12 | sed 's/^/    /'
done
gend_stop
