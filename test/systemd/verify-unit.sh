#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Static checks of systemd/gen.service (systemd need not be PID 1):
#   systemd-analyze verify: the unit parses with no warning at all (an unknown
#   or misspelt key is only a warning to systemd, an error here);
#   systemd-analyze security --offline=yes: the exposure score, printed.
# The binaries may not be installed: ExecStart/ExecReload are pointed at the
# built ones in a temporary copy, and the man pages the unit names are made
# findable through MANPATH (verify runs `man` for Documentation=).
# usage: verify-unit.sh SOURCE_DIR BINARY_DIR
set -eu
src=$1
bin=$2
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed"; exit 77; }

tmp=$(mktemp -d /tmp/gen-unit-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

gend=$bin/daemon/gend
genctl=$bin/daemon/genctl
# A binary not built yet: /bin/true stands in so verify still checks everything else.
[ -x "$gend" ] || { echo "note: $gend not built, /bin/true stands in for ExecStart"; gend=/bin/true; }
[ -x "$genctl" ] || { echo "note: $genctl not built, /bin/true stands in for ExecReload"; genctl=/bin/true; }
sed -e "s#/usr/sbin/gend#$gend#g" -e "s#/usr/bin/genctl#$genctl#g" "$src/systemd/gen.service" >"$tmp/gen.service"
mkdir -p "$tmp/man/man8"
cp "$src/daemon/gend.8" "$src/daemon/genctl.8" "$tmp/man/man8/"

rc=0
# The Documentation= pages are checked with man(1) where it is installed.
manopt=--man=yes
command -v man >/dev/null || { manopt=--man=no; echo "note: man(1) not installed, Documentation= not checked"; }
MANPATH="$tmp/man" systemd-analyze verify $manopt "$tmp/gen.service" >"$tmp/verify.log" 2>&1 || rc=$?
cat "$tmp/verify.log"
if [ "$rc" -ne 0 ] || grep -q 'gen\.service' "$tmp/verify.log"; then
	echo "FAIL: systemd-analyze verify (rc $rc) complained about gen.service"
	exit 1
fi
echo "ok: systemd-analyze verify"

rc=0
systemd-analyze security --offline=yes "$tmp/gen.service" >"$tmp/security.log" 2>&1 || rc=$?
score=$(grep 'Overall exposure level' "$tmp/security.log" || true)
if [ "$rc" -ne 0 ] || [ -z "$score" ]; then
	cat "$tmp/security.log"
	echo "FAIL: systemd-analyze security --offline=yes (rc $rc) gave no exposure score"
	exit 1
fi
echo "ok: $score"
