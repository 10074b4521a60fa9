#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The container image and the Kubernetes manifests (pkg/container, pkg/k8s).
#
# usage: test_container.sh SRC_DIR BUILD_DIR            (ctest pkg/container)
#   - pkg/k8s/*.yaml checked by k8s_manifests.py: kinds and required fields,
#     hostNetwork, the unit's capabilities, bpffs, the config mount; every field
#     against the API models of python3-kubernetes; the DaemonSet decoded into
#     kubectl's typed objects when kubectl is installed (offline: no cluster, so
#     nothing server-side such as admission);
#   - the ConfigMap's files pass the real `gend --check`, laid out as the kubelet does;
#   - `sh -n` (and shellcheck when installed) of the scripts;
#   - gen-entrypoint with a stand-in gend (records its arguments and the signals
#     it gets; `--check` runs the real gend) on a volume updated by symlink swap,
#     as Kubernetes does: a valid change gets SIGHUP, an invalid one gets no
#     signal and the check's FILE:LINE error is logged once; no SIGHUP reaches a
#     gend that does not handle it yet.
# usage: test_container.sh SRC_DIR BUILD_DIR --image    (ctest pkg/container_image)
#   - the image built with podman from a debootstrapped Debian 12 root and the
#     .deb from cpack; `gend --check /etc/gen/chains.ini` inside it, also with the
#     ConfigMap mounted at /etc/gen; then the real gend in it (synthetic ports,
#     the unit's capabilities only, read-only root, its own bpffs) reloaded by a
#     symlink swap of its mounted config, and an invalid swap refused.
#   Needs root, podman, and the Debian mirror (for debootstrap and apt in the
#   build); skips (77) with the reason otherwise.
set -u
src=$(cd "${1:?source dir}" && pwd)
build=$(cd "${2:?build dir}" && pwd)
mode=${3:-}
gend=$build/daemon/gend
ctr=$src/pkg/container
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
[ -x "$gend" ] || skip "$gend not built"
py=/usr/bin/python3
[ -x $py ] || py=python3
$py -c 'import yaml' 2>/dev/null || skip "needs python3-yaml (test/setup.sh installs it)"

w=$(mktemp -d /tmp/gen-container.XXXXXX)
cleanups=
cleanup() {
	eval "$cleanups"
	rm -rf "$w"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for SECONDS COMMAND...: true once COMMAND succeeds, false after SECONDS.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# Kubernetes' update of a ConfigMap volume VOL: the files of NEXT_DIR go into a
# new ..vN directory, ..data is swapped to it by one rename, the old one removed.
vol_version=1
swap() {
	local vol=$1 next=$2 f
	vol_version=$((vol_version + 1))
	mkdir "$vol/..v$vol_version"
	cp "$next"/* "$vol/..v$vol_version/"
	chmod 400 "$vol/..v$vol_version"/*
	ln -s "..v$vol_version" "$vol/..data_tmp"
	mv -T "$vol/..data_tmp" "$vol/..data"
	rm -rf "$vol/..v$((vol_version - 1))"
	for f in "$next"/*; do
		[ -e "$vol/${f##*/}" ] || ln -s "..data/${f##*/}" "$vol/${f##*/}"
	done
}
# next_from VOL: a copy of VOL's current files in $w/next, to edit before swap.
next_from() {
	rm -rf "$w/next"
	mkdir "$w/next"
	cp "$1"/..data/* "$w/next/"
	chmod 600 "$w/next"/*
}

if [ "$mode" != --image ]; then
	# ---- manifests ----
	$py "$src/test/pkg/k8s_manifests.py" "$src" --write "$w/vol" || fail "pkg/k8s manifests"
	# The checker can fail: a copy whose DaemonSet lacks one of the unit's capabilities.
	mkdir -p "$w/mut/pkg" "$w/mut/systemd"
	cp -r "$src/pkg/k8s" "$ctr" "$w/mut/pkg/"
	cp "$src/systemd/gen.service" "$w/mut/systemd/"
	sed -i 's/"IPC_LOCK"/"SYS_PTRACE"/' "$w/mut/pkg/k8s/daemonset.yaml"
	$py "$src/test/pkg/k8s_manifests.py" "$w/mut" >"$w/mut.out" 2>&1 && fail "the checker accepted a DaemonSet with SYS_PTRACE for IPC_LOCK"
	grep -q "missing \['IPC_LOCK'\], extra \['SYS_PTRACE'\]" "$w/mut.out" || fail "unexpected checker output: $(cat "$w/mut.out")"
	echo "ok - the checker refuses a DaemonSet whose capabilities differ from the unit's"

	if command -v kubectl >/dev/null; then
		$py -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
	if d and d["kind"] == "DaemonSet": print(yaml.safe_dump(d))' "$src/pkg/k8s/daemonset.yaml" >"$w/ds.yaml"
		# --local: no cluster; the object is decoded into client-go's typed DaemonSet
		# (field types), which an unknown field passes silently.
		KUBECONFIG=$w/none kubectl set env --local -f "$w/ds.yaml" GEN_TEST=1 -o name >"$w/kubectl.out" 2>&1 ||
			fail "kubectl could not decode the DaemonSet: $(cat "$w/kubectl.out")"
		echo "ok - kubectl $(kubectl version --client -o json 2>/dev/null | $py -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' 2>/dev/null) decodes the DaemonSet offline (types only; no server-side validation)"
	else
		echo "skip - kubectl not installed: no typed decode of the DaemonSet"
	fi

	"$gend" --check "$w/vol/chains.ini" >"$w/check.out" 2>&1 || fail "the ConfigMap's chains.ini: $(cat "$w/check.out")"
	echo "ok - the ConfigMap's files, in the kubelet's layout, pass gend --check: $(cat "$w/check.out")"

	# ---- scripts ----
	for s in "$ctr/gen-entrypoint" "$ctr/gen-reload-on-change" "$ctr/build-image.sh"; do
		head -n1 "$s" | grep -qx '#!/bin/sh' || fail "$s is not a /bin/sh script"
		sh -n "$s" || fail "sh -n $s"
		if command -v shellcheck >/dev/null; then
			shellcheck -s sh "$s" || fail "shellcheck $s"
		fi
	done
	echo "ok - sh -n$(command -v shellcheck >/dev/null && echo ' and shellcheck -s sh') of the container scripts"
	GEN_RELOAD_INTERVAL=x sh "$ctr/gen-reload-on-change" "$w/vol/chains.ini" $$ 2>"$w/usage.out"
	rc=$?
	if [ $rc != 2 ] || ! grep -q "GEN_RELOAD_INTERVAL must be a number" "$w/usage.out"; then
		fail "bad interval: exit $rc, $(cat "$w/usage.out")"
	fi
	[ "$("$ctr/gen-entrypoint" echo other command)" = "other command" ] || fail "gen-entrypoint COMMAND does not run COMMAND"

	# ---- the reload loop, through the entrypoint, with a stand-in gend ----
	mkdir "$w/bin" "$w/s"
	cat >"$w/bin/gend" <<-'EOF'
	#!/bin/sh
	# Stand-in: --check runs the real gend; otherwise records its pid, arguments and signals.
	[ "$1" = --check ] && exec "$REAL_GEND" "$@"
	echo "$$ $*" >"$STUB_DIR/started"
	# Like gend loading its first config: SIGHUP would still end it here.
	sleep "$STUB_DELAY"
	trap 'echo HUP >>"$STUB_DIR/signals"' HUP
	trap 'echo TERM >>"$STUB_DIR/signals"; exit 0' TERM
	touch "$STUB_DIR/ready"
	while :; do sleep 0.05; done
	EOF
	chmod +x "$w/bin/gend"
	: >"$w/s/signals"
	hups() { grep -c HUP "$w/s/signals"; }
	# shellcheck disable=SC2317 # called through wait_for
	hups_are() { [ "$(hups)" = "$1" ]; }
	vol=$w/vol
	PATH="$w/bin:$ctr:$PATH" GEN_CONFIG=$vol/chains.ini GEN_RELOAD_INTERVAL=0.2 REAL_GEND=$gend \
		STUB_DIR=$w/s STUB_DELAY=1.5 "$ctr/gen-entrypoint" --backend cpu >"$w/log" 2>&1 &
	epid=$!
	cleanups="kill $epid 2>/dev/null;"
	wait_for 5 test -s "$w/s/started" || fail "gend was not started: $(cat "$w/log")"
	[ "$(cat "$w/s/started")" = "$epid -f -c $vol/chains.ini --backend cpu" ] ||
		fail "gend started as '$(cat "$w/s/started")', expected '$epid -f -c $vol/chains.ini --backend cpu' (the entrypoint's pid)"
	echo "ok - gen-entrypoint execs gend -f -c \$GEN_CONFIG with its options, keeping its pid"

	# A valid change while gend does not handle SIGHUP yet, in a file beside chains.ini.
	next_from "$vol"
	echo "deny proto tcp dport 23" >>"$w/next/firewall.rules"
	swap "$vol" "$w/next"
	wait_for 5 test -e "$w/s/ready" || fail "the stand-in never got ready"
	kill -0 $epid 2>/dev/null || fail "gend died: a SIGHUP reached it before it handled SIGHUP; $(cat "$w/log")"
	wait_for 5 hups_are 1 || fail "no SIGHUP after a valid change of firewall.rules; log: $(cat "$w/log")"
	grep -q "gend --check passed.*sent SIGHUP to gend pid $epid" "$w/log" || fail "the reload is not logged: $(cat "$w/log")"
	echo "ok - a valid change (firewall.rules, by symlink swap) made before gend handles SIGHUP: one SIGHUP once it does"

	next_from "$vol"
	printf '\n[chain ssh]\nid = 4\nmatch = proto tcp dport 22\nnfs = acl to_receiver\noutput = gen-out\n' >>"$w/next/chains.ini"
	swap "$vol" "$w/next"
	wait_for 5 hups_are 2 || fail "no SIGHUP after a valid change of chains.ini; log: $(cat "$w/log")"
	echo "ok - a valid change of chains.ini: SIGHUP"

	next_from "$vol"
	printf '\n[chain bad]\nid = 5\nmatch = proto udp dport 123\nnfs = nosuch\noutput = gen-out\n' >>"$w/next/chains.ini"
	bad_line=$(grep -n 'nfs = nosuch' "$w/next/chains.ini" | cut -d: -f1)
	swap "$vol" "$w/next"
	wait_for 5 grep -q "gend --check failed" "$w/log" || fail "an invalid change is not logged: $(cat "$w/log")"
	sleep 1 # five more rounds
	[ "$(hups)" = 2 ] || fail "SIGHUP sent for an invalid change: $(cat "$w/s/signals")"
	grep -q "gen-reload-on-change:   $vol/chains.ini:$bad_line: .*nosuch" "$w/log" ||
		fail "the check's FILE:LINE error ($vol/chains.ini:$bad_line) is not in the log: $(cat "$w/log")"
	[ "$(grep -c "gend --check failed" "$w/log")" = 1 ] || fail "the rejection is logged more than once: $(cat "$w/log")"
	kill -0 $epid 2>/dev/null || fail "gend is gone after an invalid change"
	echo "ok - an invalid change: no signal, '$(grep -m1 "chains.ini:$bad_line:" "$w/log" | sed 's/^gen-reload-on-change: *//')' logged once"

	next_from "$vol"
	sed -i 's/nfs = nosuch/nfs = ttl/' "$w/next/chains.ini"
	swap "$vol" "$w/next"
	wait_for 5 hups_are 3 || fail "no SIGHUP once the invalid change was fixed; log: $(cat "$w/log")"
	echo "ok - the fixed file: SIGHUP"

	kill -TERM $epid
	wait_for 5 grep -q "gend pid $epid is gone; stopping" "$w/log" || fail "the reload loop outlived gend: $(cat "$w/log")"
	grep -q TERM "$w/s/signals" || fail "gend did not get SIGTERM"
	echo "ok - SIGTERM goes to gend itself; the reload loop stops with it"
	exit 0
fi

# ---- --image: podman ----
[ "$(id -u)" = 0 ] || skip "the image test needs root"
command -v podman >/dev/null || skip "podman is not installed (apt-get install podman)"
{ command -v cpack && command -v dpkg-deb; } >/dev/null || skip "needs cpack and dpkg-deb"
base=localhost/gen-base:bookworm
if ! podman image exists $base; then
	cache=/tmp/fresh-bookworm.tar
	if [ ! -f $cache ]; then
		command -v debootstrap >/dev/null || skip "debootstrap is not installed"
		mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
		[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
		mkdir "$w/root"
		debootstrap --variant=minbase bookworm "$w/root" "${mirror:-http://deb.debian.org/debian}" >"$w/debootstrap.log" 2>&1 ||
			skip "debootstrap could not make a Debian 12 root from ${mirror:-the default mirror}: $(tail -n2 "$w/debootstrap.log")"
		tar -C "$w/root" -cf $cache .
		rm -rf --one-file-system "$w/root"
	fi
	podman import $cache $base >"$w/import.log" 2>&1 || fail "podman import: $(cat "$w/import.log")"
fi
echo "ok - base image $base from a debootstrapped Debian 12 root (kept for later runs)"

# How containers can run here: a nested host may refuse podman's default rlimits
# or crun's cgroup handling; the first option set that runs the base is used.
runopts=
for o in "" "--ulimit nofile=1024:1024 --ulimit nproc=4096:4096" \
	"--runtime runc @ --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"; do
	g=${o%%@*} r=${o#*@}
	[ "$g" != "$o" ] || g=
	# shellcheck disable=SC2086
	if podman $g run --rm $r $base true >"$w/probe.log" 2>&1; then
		runopts=$o
		break
	fi
done
[ -n "$runopts" ] || podman run --rm $base true >/dev/null 2>&1 ||
	skip "podman cannot run a container on this host: $(tail -n1 "$w/probe.log")"
pg=${runopts%%@*} pr=${runopts#*@}
[ "$pg" != "$runopts" ] || pg=
# prun ARGS: podman run with the options this host needs.
# shellcheck disable=SC2086
prun() { podman $pg run $pr "$@"; }
# shellcheck disable=SC2086
pexec() { podman $pg exec "$@"; }
echo "ok - podman runs containers here${runopts:+ with: ${runopts/@/}}"

(cd "$build" && cpack -G DEB -B "$w/cpack" >"$w/cpack.log" 2>&1) || fail "cpack -G DEB: $(tail "$w/cpack.log")"
image=localhost/gen-test:$$
cleanups="podman rmi -f $image >/dev/null 2>&1;"
# chroot isolation: the build's RUN needs no OCI runtime; host network for apt.
if ! sh "$ctr/build-image.sh" --deb "$w"/cpack/gen_*.deb --base $base --tag $image -- \
	--isolation chroot --network host >"$w/build.log" 2>&1; then
	if grep -Eq "Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect" "$w/build.log"; then
		skip "the image build could not reach the Debian mirror: $(grep -Em1 'resolv|fetch|connect' "$w/build.log")"
	fi
	tail -n 20 "$w/build.log"
	fail "podman build"
fi
echo "ok - podman built $image ($(podman image inspect -f '{{.Size}}' $image | awk '{printf "%.0f MB", $1 / 1e6}'))"

prun --rm $image gend --check /etc/gen/chains.ini >"$w/run.out" 2>&1 || fail "gend --check in the image: $(cat "$w/run.out")"
echo "ok - in the image: $(cat "$w/run.out")"
prun --rm $image dpkg-query -W -f "\${Package}\n" >"$w/pkgs" 2>&1 || fail "dpkg-query in the image: $(cat "$w/pkgs")"
grep -qx gen "$w/pkgs" || fail "gen is not installed in the image"
! grep -Eiq 'cuda|nvidia' "$w/pkgs" || fail "the image holds CUDA packages: $(grep -Ei 'cuda|nvidia' "$w/pkgs")"
echo "ok - the image holds the gen package and no CUDA package ($(wc -l <"$w/pkgs") packages)"

$py "$src/test/pkg/k8s_manifests.py" "$src" --write "$w/cm" >/dev/null || fail "pkg/k8s manifests"
prun --rm -v "$w/cm:/etc/gen:ro" $image gend --check /etc/gen/chains.ini >"$w/run.out" 2>&1 ||
	fail "gend --check of the mounted ConfigMap: $(cat "$w/run.out")"
echo "ok - with the ConfigMap mounted at /etc/gen: $(cat "$w/run.out")"

# The real gend in the image, set up as the DaemonSet sets it up: synthetic ports
# (no interfaces needed), its own bpffs instance (no pins shared with the host's).
vol=$w/vol
mkdir -p "$vol/..v1" "$w/bpffs"
printf '[gen]\nports = synth:0 synth:1\nbackend = cpu\nsynth_rate = 1000\n\n[chain a]\nid = 1\nmatch = proto udp in synth:0\noutput = synth:1\n' >"$vol/..v1/chains.ini"
chmod 400 "$vol/..v1/chains.ini"
ln -s ..v1 "$vol/..data"
ln -s ..data/chains.ini "$vol/chains.ini"
mount -t bpf bpf "$w/bpffs" || fail "mount -t bpf"
name=gen-test-$$
cleanups="podman rm -f $name >/dev/null 2>&1; umount $w/bpffs; podman rmi -f $image >/dev/null 2>&1;"
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$src/systemd/gen.service" | tr ' ' ,)
# Podman's default seccomp profile lets bpf(2) through only with CAP_SYS_ADMIN.
prun -d --name $name --cap-drop ALL --cap-add "$caps" --security-opt seccomp=unconfined --read-only \
	--tmpfs /run/gen --tmpfs /var/lib/gen --tmpfs /var/cache --tmpfs /tmp \
	-v "$vol:/etc/gen:ro" -v "$w/bpffs:/sys/fs/bpf" -e GEN_RELOAD_INTERVAL=0.5 $image >/dev/null ||
	fail "podman run of the image's entrypoint"
chains() { pexec $name genctl chains 2>&1; }
# shellcheck disable=SC2317 # called through wait_for
logs_have() { podman logs $name 2>&1 | grep -q "$1"; }
# shellcheck disable=SC2317
chains_have() { chains | grep -q "$1"; }
wait_for 30 logs_have "gend ready" || fail "gend did not start: $(podman logs $name 2>&1)"
chains | grep -q '^a ' || fail "genctl chains in the container: $(chains)"
echo "ok - gend runs in the container (caps: $caps, read-only root): genctl chains shows chain a"
started=$(podman inspect -f '{{.State.StartedAt}} {{.State.Pid}}' $name)
next_from "$vol"
printf '\n[chain b]\nid = 2\nmatch = proto tcp in synth:0\noutput = synth:1\n' >>"$w/next/chains.ini"
swap "$vol" "$w/next"
wait_for 15 chains_have '^b ' || fail "chain b did not appear after the ConfigMap-style swap: $(podman logs $name 2>&1 | tail)"
podman logs $name 2>&1 | grep -q "reload applied" || fail "no reload in gend's log"
logs_have "sent SIGHUP to gend pid 1$" || fail "the reload loop did not signal gend as pid 1: $(podman logs $name 2>&1 | tail -n3)"
[ "$(podman inspect -f '{{.State.StartedAt}} {{.State.Pid}}' $name)" = "$started" ] || fail "the container was restarted"
echo "ok - a swapped config in the container: gend --check, SIGHUP, '$(podman logs $name 2>&1 | grep -m1 'reload applied')'; no restart"
next_from "$vol"
printf '\n[chain c]\nid = 2\nmatch = proto icmp\noutput = synth:1\n' >>"$w/next/chains.ini"
swap "$vol" "$w/next"
wait_for 15 logs_have "gend --check failed" || fail "the invalid swap is not logged: $(podman logs $name 2>&1 | tail)"
[ "$(chains | grep -c '^[abc] ')" = 2 ] || fail "the chains changed after an invalid config: $(chains)"
echo "ok - an invalid swap in the container: '$(podman logs $name 2>&1 | grep -m1 'chains.ini:[0-9]*:' | sed 's/^gen-reload-on-change: *//')', chains a and b keep running"
podman stop -t 10 $name >/dev/null
[ "$(podman inspect -f '{{.State.ExitCode}}' $name)" = 0 ] || fail "gend's exit status in the container: $(podman logs $name 2>&1 | tail -n3)"
echo "ok - podman stop: gend (the container's first process) stops cleanly, exit 0"
