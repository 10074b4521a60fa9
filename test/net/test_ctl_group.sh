#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# genctl's read-only access level. gend opens its control socket to a group
# (GEN_CONTROL_GROUP here; "gen" by default): mode 0660, that group. A member
# who is not root may run the read-only commands; reload and synth-rate answer
# "needs root"; a user outside the group cannot connect at all. Root keeps
# every command. Without the group (GEN_CONTROL_GROUP empty) the socket stays 0600.
. "$(dirname "$0")/lib.sh"
net_require
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
getent passwd nobody >/dev/null || skip "needs the user nobody"
# Some throwaway roots keep everything from other users (fresh-machine.sh's
# has / at mode 0700, so nobody cannot load libc.so.6): there nobody cannot run
# any program, genctl or not, and the test has nothing to check.
setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null ||
	skip "the user nobody cannot run programs here (setpriv ... true failed)"
GRP=daemon
GID=$(getent group $GRP | cut -d: -f3)
[ -n "$GID" ] || skip "needs the group $GRP"
net_setup
chmod 0711 "$WORK"
# nobody may not be able to reach the build tree: a copy of genctl it can run.
cp "$GENCTL" "$WORK/genctl" && chmod 0755 "$WORK/genctl"
cfg_begin
printf '\n[chain c]\nid = 1\nmatch = proto udp dport 5001\noutput = 2\n' >>"$WORK/chains.ini"
as_member() { setpriv --reuid=65534 --regid=65534 --groups="$GID" "$WORK/genctl" -s "$SOCK" "$@"; }
as_other() { setpriv --reuid=65534 --regid=65534 --clear-groups "$WORK/genctl" -s "$SOCK" "$@"; }

GEN_CONTROL_GROUP=$GRP gend_start
[ "$(stat -c '%a %G' "$SOCK")" = "660 $GRP" ] || fail "socket mode/group: $(stat -c '%a %G' "$SOCK")"
for cmd in status stats chains metrics "stats --json"; do
	as_member $cmd >"$WORK/out" 2>&1 || fail "member: genctl $cmd: $(cat "$WORK/out")"
done
as_member chains | grep -q "c" || fail "member: chains shows nothing"
as_member reload >"$WORK/out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "'reload' needs root" "$WORK/out" || fail "member: reload gave rc $rc: $(cat "$WORK/out")"
as_member synth-rate 100 >"$WORK/out" 2>&1 && fail "member: synth-rate accepted"
grep -q "needs root" "$WORK/out" || fail "member: synth-rate: $(cat "$WORK/out")"
as_other status >"$WORK/out" 2>&1
rc=$?
[ $rc = 3 ] || fail "outside the group: rc $rc, expected 3 (not reachable): $(cat "$WORK/out")"
ctl reload >"$WORK/out" 2>&1 || fail "root: reload: $(cat "$WORK/out")"
grep -q "group '$GRP' may run read-only commands" "$WORK/gend.log" || fail "not logged: $(cat "$WORK/gend.log")"
gend_stop || fail "gend exited non-zero"
ok "group $GRP: read-only commands yes, reload/synth-rate no (rc 1, 'needs root'); others cannot connect; root can reload"

GEN_CONTROL_GROUP= gend_start
[ "$(stat -c '%a' "$SOCK")" = 600 ] || fail "without a group the socket is $(stat -c '%a' "$SOCK")"
as_member status >"$WORK/out" 2>&1 && fail "without a group a non-root user connected"
gend_stop || fail "gend exited non-zero"
ok "GEN_CONTROL_GROUP empty: socket 0600, root only"
