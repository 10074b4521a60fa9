#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `cmake --install` into a DESTDIR, twice: the files land where the unit and the
# man pages say, the config is installed 0640, and an operator's edited config
# survives the second install untouched (content and mode).
# usage: test_install.sh BUILD_DIR
set -eu
build=${1:?build dir}
[ -x "$build/daemon/gend" ] || { echo "SKIP: $build/daemon/gend not built"; exit 77; }
dest=$(mktemp -d /tmp/gen-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
case $prefix in /usr) etc=/etc/gen ;; *) etc=$prefix/etc/gen ;; esac

DESTDIR=$dest cmake --install "$build" >"$dest.log" 2>&1 || { cat "$dest.log"; fail "first install"; }
cfg=$dest$etc/chains.ini
for f in "$prefix/sbin/gend" "$prefix/bin/genctl" "$prefix/lib/systemd/system/gen.service" \
	"$prefix/share/man/man8/gend.8" "$prefix/share/man/man8/genctl.8" "$prefix/share/man/man5/gen-chains.ini.5" \
	"$prefix/share/man/man7/gen-nf.7" "$prefix/share/bash-completion/completions/genctl" \
	"$prefix/share/bash-completion/completions/gend" "$prefix/share/doc/gen/examples/chains.ini.example" \
	"$prefix/include/gen/gen_nf.h" "$etc/chains.ini"; do
	[ -e "$dest$f" ] || fail "$f not installed"
done
find "$dest" -name classifier.bpf.o | grep -q . || fail "classifier.bpf.o not installed"
echo "ok - the binaries, unit, man pages, completion, examples, BPF object and config land under $prefix and $etc"
grep -q "^ExecStart=$prefix/sbin/gend -f -c $etc/chains.ini\$" "$dest$prefix/lib/systemd/system/gen.service" ||
	fail "the unit does not name the installed gend and config: $(grep ^ExecStart "$dest$prefix/lib/systemd/system/gen.service")"
echo "ok - the installed unit names $prefix/sbin/gend and $etc/chains.ini"
[ "$(stat -c %a "$cfg")" = 640 ] || fail "config installed with mode $(stat -c %a "$cfg"), not 0640"
echo "ok - config installed 0640"
cmp -s "$cfg" "$(dirname "$0")/../../etc/gen/chains.ini" || fail "installed config differs from etc/gen/chains.ini"

# The operator edits it (and tightens it); a second install must keep both.
printf '\n# edited by the operator\n' >>"$cfg"
chmod 0600 "$cfg"
sum=$(sha256sum <"$cfg")
DESTDIR=$dest cmake --install "$build" >"$dest.log" 2>&1 || { cat "$dest.log"; fail "second install"; }
[ "$(sha256sum <"$cfg")" = "$sum" ] || fail "the second install overwrote the edited config"
[ "$(stat -c %a "$cfg")" = 600 ] || fail "the second install changed the config's mode to $(stat -c %a "$cfg")"
grep -q "Keeping: .*chains.ini" "$dest.log" || fail "the install did not say it kept the config"
echo "ok - a second install keeps the edited config and its mode"
rm -f "$dest.log"
