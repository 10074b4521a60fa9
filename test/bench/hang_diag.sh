#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs a command (a netns test) with a time limit. If it is still running then,
# prints what every gend thread is doing (name, state, wchan, kernel stack, and
# a user stack where gdb or eu-stack is installed) and the tail of gend's log,
# then ends gend with SIGKILL so that the test's own teardown can finish.
#   test/bench/hang_diag.sh SECONDS COMMAND [ARG...]
set -u
limit=${1:?seconds}
shift
"$@" &
pid=$!
for ((i = 0; i < limit * 10; i++)); do
	kill -0 "$pid" 2>/dev/null || { wait "$pid"; exit $?; }
	sleep 0.1
done
echo "# hang_diag: still running after $limit s: $*"
for g in $(pgrep -x 'gend|gend-debug'); do
	args=$(tr '\0' ' ' <"/proc/$g/cmdline")
	echo "## gend pid $g: $args"
	for t in /proc/"$g"/task/*; do
		printf '%s %s state=%s wchan=%s\n' "${t##*/}" "$(cat "$t/comm")" \
			"$(awk '/^State/ {print $2}' "$t/status")" "$(cat "$t/wchan" 2>/dev/null)"
		sed 's/^/    /' "$t/stack" 2>/dev/null | head -12
	done
	if command -v eu-stack >/dev/null; then
		eu-stack -p "$g" 2>&1 | head -200
	elif command -v gdb >/dev/null; then
		timeout 60 gdb -p "$g" -batch -ex 'thread apply all bt 12' 2>&1 | grep -E '^(Thread|#)' | head -200
	fi
	cfg=$(sed -n 's/.* -c \([^ ]*\).*/\1/p' <<<"$args")
	[ -n "$cfg" ] && [ -f "$(dirname "$cfg")/gend.log" ] && { echo "## log"; tail -n 40 "$(dirname "$cfg")/gend.log"; }
	kill -KILL "$g"
done
for ((i = 0; i < 300; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -KILL "$pid" 2>/dev/null
wait "$pid"
exit 124
