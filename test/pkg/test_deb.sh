#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The .deb: `cpack -G DEB` in BUILD_DIR, then its control data checked (Depends
# without CUDA, chains.ini a conffile, maintainer scripts) and its files (paths,
# the config's mode 0640).
# With --fresh-root it is also installed with dpkg into a fresh Debian 12 root
# (debootstrap, as ../shared/tools/fresh-machine.sh makes one; the tarball is
# cached in /tmp/fresh-bookworm.tar), where the files must land, `gend --version`
# run and `gend --check /etc/gen/chains.ini` pass; then it is purged and nothing
# of it may remain. That part needs root, debootstrap and the Debian mirror.
# usage: test_deb.sh BUILD_DIR [--fresh-root]
set -eu
build=$(cd "${1:?build dir}" && pwd)
fresh=${2:-}
fail() { echo "FAIL: $*"; exit 1; }
command -v cpack >/dev/null && command -v dpkg-deb >/dev/null || { echo "SKIP: needs cpack and dpkg-deb"; exit 77; }
[ -x "$build/daemon/gend" ] || { echo "SKIP: $build/daemon/gend not built"; exit 77; }

work=$(mktemp -d /tmp/gen-deb.XXXXXX)
root=
cleanup() {
	if [ -n "$root" ]; then
		umount -R "$root/sys" "$root/dev" 2>/dev/null
		umount "$root/proc" "$root/run" 2>/dev/null
		rm -rf --one-file-system "$root"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

(cd "$build" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$work"/gen_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || { cat "$work/cpack.log"; fail "cpack made no gen_*.deb"; }
echo "ok - cpack -G DEB built $(basename "$deb")"

dpkg-deb -f "$deb" Depends >"$work/depends"
echo "Depends: $(cat "$work/depends")"
for lib in libbpf libxdp libinih libsystemd libssl; do
	grep -q "$lib" "$work/depends" || fail "Depends lacks $lib"
done
! grep -Eiq 'cuda|nvidia|nvrtc' "$work/depends" || fail "Depends pulls CUDA: $(cat "$work/depends")"
dpkg-deb -f "$deb" Description | grep -q "needs no CUDA" || fail "the description does not say CUDA is optional"
echo "ok - Depends names the shared libraries and no CUDA package"
mkdir "$work/ctl"
dpkg-deb -e "$deb" "$work/ctl"
grep -qx /etc/gen/chains.ini "$work/ctl/conffiles" || fail "chains.ini is not a conffile: $(cat "$work/ctl/conffiles" 2>&1)"
for s in postinst prerm postrm; do [ -x "$work/ctl/$s" ] || fail "no $s"; done
echo "ok - /etc/gen/chains.ini is a conffile; postinst, prerm, postrm present"

dpkg-deb -c "$deb" >"$work/contents"
want="./usr/sbin/gend ./usr/bin/genctl ./usr/lib/systemd/system/gen.service ./usr/share/man/man8/gend.8
      ./usr/share/man/man8/genctl.8 ./usr/share/man/man5/gen-chains.ini.5 ./usr/share/man/man7/gen-nf.7
      ./usr/share/bash-completion/completions/genctl ./usr/share/bash-completion/completions/gend
      ./usr/share/doc/gen/examples/chains.ini.example ./usr/share/doc/gen/examples/routes.example
      ./etc/gen/chains.ini"
for f in $want; do
	awk '{print $NF}' "$work/contents" | grep -qx "$f" || fail "$f not in the package"
done
grep -q 'classifier.bpf.o$' "$work/contents" || fail "classifier.bpf.o not in the package"
grep -q '^-rw-r----- root/root .* ./etc/gen/chains.ini$' "$work/contents" ||
	fail "chains.ini is not root:root 0640: $(grep chains.ini "$work/contents")"
! grep -q ' \./usr/local\| \./build' "$work/contents" || fail "stray paths in the package"
echo "ok - the package holds the binaries, unit, man pages, completion, examples, BPF object; chains.ini root:root 0640"

[ "$fresh" = --fresh-root ] || exit 0

# ---- a fresh Debian 12 root: install with dpkg, check, purge ----
[ "$(id -u)" = 0 ] || { echo "SKIP: --fresh-root needs root"; exit 77; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
cache=/tmp/fresh-bookworm.tar
root=$(mktemp -d /tmp/fresh.XXXXXX)
if [ ! -f $cache ]; then
	mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
	debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
		{ tail "$work/debootstrap.log"; fail "debootstrap"; }
	tar -C "$root" -cf $cache .
else
	tar -C "$root" -xf $cache
fi
cp /etc/resolv.conf "$root/etc/" 2>/dev/null || true
cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" 2>/dev/null || true
mount --bind /proc "$root/proc"; mount --rbind /sys "$root/sys"; mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
cp "$deb" "$root/tmp/gen.deb"
in_root() { chroot "$root" /bin/bash -c "$1"; }

in_root 'apt-get update -qq >/dev/null 2>&1' || fail "apt-get update in the fresh root"
# dpkg alone cannot fetch dependencies: it unpacks, then apt completes them.
in_root 'dpkg -i /tmp/gen.deb >/tmp/dpkg.log 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq >>/tmp/dpkg.log 2>&1' ||
	{ cat "$root/tmp/dpkg.log"; fail "dpkg -i in the fresh root"; }
in_root 'dpkg-query -W -f="\${Status}" gen' | grep -q "install ok installed" || { cat "$root/tmp/dpkg.log"; fail "gen not installed"; }
! in_root 'dpkg -l' | grep -Eiq '^ii +[^ ]*(cuda|nvidia)' || fail "installing gen pulled a CUDA package"
echo "ok - dpkg -i installed gen into a fresh Debian 12 root (dependencies from apt, no CUDA)"
for f in /usr/sbin/gend /usr/bin/genctl /usr/lib/systemd/system/gen.service /etc/gen/chains.ini \
	/usr/share/man/man5/gen-chains.ini.5 /usr/share/bash-completion/completions/genctl; do
	[ -e "$root$f" ] || fail "$f did not land"
done
[ "$(stat -c %a "$root/etc/gen/chains.ini")" = 640 ] || fail "installed chains.ini is not 0640"
echo "ok - the files landed; /etc/gen/chains.ini is 0640"
in_root 'gend --version' || fail "gend --version in the fresh root"
in_root 'gend --check /etc/gen/chains.ini' || fail "gend --check /etc/gen/chains.ini in the fresh root"
echo "ok - gend --check /etc/gen/chains.ini passes in the fresh root"
# An operator's edit survives an upgrade-style reinstall (dpkg conffile handling).
in_root 'echo "# edited" >>/etc/gen/chains.ini && dpkg -i --force-confold /tmp/gen.deb >/dev/null 2>&1' || fail "reinstall"
tail -n1 "$root/etc/gen/chains.ini" | grep -q '# edited' || fail "reinstalling replaced the edited config"
echo "ok - reinstalling keeps the edited conffile"
in_root 'dpkg --purge gen >/tmp/purge.log 2>&1' || { cat "$root/tmp/purge.log"; fail "dpkg --purge gen"; }
for f in /usr/sbin/gend /usr/bin/genctl /usr/lib/systemd/system/gen.service /etc/gen; do
	[ ! -e "$root$f" ] || fail "$f remains after purge"
done
echo "ok - dpkg --purge gen removed everything, /etc/gen included"
