#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Builds the gend image with podman: stages a context directory holding the
# Containerfile, the entrypoint scripts and GEN's .deb, then `podman build`.
#   build-image.sh [--deb FILE | --build DIR] [--base IMAGE] [--tag TAG] [-- PODMAN BUILD OPTIONS]
#   --build DIR   run `cpack -G DEB` in that CMake build directory (default: build)
#   --deb FILE    use this .deb instead
#   --base IMAGE  the Debian 12 base (default: the Containerfile's debian:bookworm-slim)
#   --tag TAG     the image's name (default localhost/gen:VERSION, VERSION from the .deb)
set -eu
here=$(cd "$(dirname -- "$0")" && pwd)
build=build
deb=
base=
tag=
die() { echo "build-image.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
	case $1 in
	--deb) deb=${2:?--deb FILE}; shift 2 ;;
	--build) build=${2:?--build DIR}; shift 2 ;;
	--base) base=${2:?--base IMAGE}; shift 2 ;;
	--tag) tag=${2:?--tag TAG}; shift 2 ;;
	--) shift; break ;;
	*) die "unknown argument '$1' (see the comment at the top of $0)" ;;
	esac
done
command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/gen-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
if [ -z "$deb" ]; then
	[ -d "$build" ] || die "$build: no such build directory (cmake -S . -B $build first)"
	(cd "$build" && cpack -G DEB -B "$ctx/cpack" >"$ctx/cpack.log" 2>&1) ||
		{ cat "$ctx/cpack.log" >&2; die "cpack -G DEB in $build failed"; }
	for deb in "$ctx"/cpack/gen_*.deb; do break; done
	[ -f "$deb" ] || die "cpack made no gen_*.deb in $build"
fi
[ -f "$deb" ] || die "$deb: no such file"
cp "$deb" "$ctx/gen.deb"
cp "$here/Containerfile" "$here/gen-entrypoint" "$here/gen-reload-on-change" "$ctx/"
[ -n "$tag" ] || tag=localhost/gen:$(dpkg-deb -f "$deb" Version)

set -- -f "$ctx/Containerfile" -t "$tag" "$@"
[ -z "$base" ] || set -- --build-arg "BASE=$base" "$@"
echo "build-image.sh: podman build $tag from $(basename -- "$deb")${base:+ on $base}"
podman build "$@" "$ctx"
