#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# [gen] spin_max_us: a port worker whose sleeps are cut short by the next
# packet polls longer (up to spin_max_us), so that the receiving core stops
# paying a wake-up per burst; with spin_max_us = spin_us it never grows, nor
# with auto (the default) where [gen] cpus does not pin the threads. The
# sender paces 50 kpps (a burst every 50 us or so, longer than spin_us 20):
# the worker's window must grow and its sleeps fall well below the fixed
# window's, every frame forwarded both times.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
N=100000

# run SPIN_MAX_US: prints "sleeps-a-second window-us received".
run() {
	GEN_BACKEND=cpu GEN_SPIN_US=20 GEN_SPIN_MAX_US=$1 cfg_begin
	cfg_empty_chain
	gend_start
	recv_start thru r0 --idle 2
	send --dport 5001 --stream 1 --count $N --rate 50000 --flows 4 --size 64 &
	local sp=$!
	sleep 0.7
	ctl --json --watch --interval 1000 --count 2 stats >"$WORK/spin-$1.json"
	wait $sp || fail "sender"
	recv_wait thru
	ctl --json status >"$WORK/st-$1.json"
	gend_stop || fail "gend exit (spin_max_us $1)"
	python3 - "$WORK/spin-$1.json" "$(json_get "$WORK/thru.json" "j['received']")" <<'PY'
import json, sys
a, b = (json.loads(line)['workers'][0] for line in open(sys.argv[1]).read().split('\n')[:2])
print(b['sleeps'] - a['sleeps'], b['spin_window_us'], sys.argv[2])
PY
}

read -r s_fix w_fix got <<<"$(run auto)"
[ "$got" = $N ] || fail "spin_max_us auto, threads not pinned: r0 received $got of $N"
[ "$w_fix" = 20 ] || fail "spin_max_us auto, threads not pinned: the window moved to $w_fix us"
[ "$(json_get "$WORK/st-auto.json" "j['spin_max_us']")" = 20 ] || fail "status: $(cat "$WORK/st-auto.json")"
read -r s_ad w_ad got <<<"$(run 200)"
[ "$got" = $N ] || fail "spin_max_us 200: r0 received $got of $N"
echo "# 50 kpps: the worker slept $s_fix times a second polling 20 us (auto, unpinned), $s_ad with spin_max_us 200, its window grown to $w_ad us"
# The premise, that without growth the worker sleeps often enough for a fourfold fall to
# show: 7,800-15,000 times a second on the cpu backend (Intel dev box, H200 host),
# 1,735-12,602 on a 2-vCPU AMD EPYC VM (2,000 failed there in 3 of 10 runs; the fall
# was to 0-12). The runs
# above use the cpu backend whatever GEN_BACKEND says: on the gpu backend the
# batches' completions keep the worker busy in the gaps, and it slept 367-1,194
# times a second (H200), too few to show the fall.
[ "$s_fix" -gt 500 ] || fail "the premise: polling 20 us the worker slept only $s_fix times a second at 50 kpps"
[ "$w_ad" -gt 20 ] && [ "$w_ad" -le 200 ] || fail "spin_max_us 200: window $w_ad us"
[ "$((s_ad * 4))" -lt "$s_fix" ] || fail "spin_max_us 200: slept $s_ad times a second against $s_fix"
ok "spin_max_us: the worker's window grows while its sleeps are cut short, and its sleeps fall (all frames forwarded)"

# auto with [gen] cpus giving the worker and the controller a CPU each: 200 us.
set -- $(python3 -c "import os; print(*sorted(os.sched_getaffinity(0))[:2])")
if [ $# = 2 ]; then
	GEN_SPIN_US=20 GEND_CPUS="$1,$2" cfg_begin
	cfg_empty_chain
	gend_start
	ctl --json status >"$WORK/st-pinned.json"
	gend_stop || fail "gend exit (pinned)"
	[ "$(json_get "$WORK/st-pinned.json" "j['spin_max_us']")" = 200 ] || fail "auto, pinned: $(cat "$WORK/st-pinned.json")"
	ok "spin_max_us = auto: 200 us where [gen] cpus gives each data-plane thread a CPU, spin_us where not"
fi

# A bad value is refused with FILE:LINE.
for bad in "spin_max_us = 2000000" "spin_max_us = often"; do
	sed '/^spin_max_us = /d' "$WORK/chains.ini" | sed "2i $bad" >"$WORK/bad.ini"
	if "$GEND" --check -c "$WORK/bad.ini" >"$WORK/bad.out" 2>&1; then fail "accepted: $bad"; fi
	grep -q "bad.ini:2: .*spin_max_us" "$WORK/bad.out" || fail "no FILE:LINE for '$bad': $(cat "$WORK/bad.out")"
done
ok "bad spin_max_us values refused with FILE:LINE"
