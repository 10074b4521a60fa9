#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ipv4_router's longest-prefix match against the Linux FIB. Random routes go into
# a routes file for the NF and, as `dev` routes over dummy or veth devices (one device
# per next hop), into the main table of a throw-away network namespace; then
# `ip route get` and router_lookup must agree on every sampled address.
#
# usage: test_router_fib.sh [ROUTER_LOOKUP [ROUTES [SAMPLES [SEED]]]]
# ROUTER_LOOKUP defaults to $GEN_BUILD/test/net/router_lookup (ctest sets GEN_BUILD).
# Exit 0 pass, 1 fail, 77 skipped (not root, or no netns/dummy/veth support).
set -u

LOOKUP=${1:-${GEN_BUILD:-$(dirname "$0")/../../build}/test/net/router_lookup}
NROUTES=${2:-1500}
NSAMPLES=${3:-400}
SEED=${4:-$RANDOM}
NH=8
NS=gen-rtfib-$$
TMP=$(mktemp -d /tmp/gen-rtfib.XXXXXX)

cleanup() {
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

if [ ! -x "$LOOKUP" ]; then
	echo "FAIL: $LOOKUP not built (make router_lookup)"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root for a network namespace"
	exit 77
fi
if ! ip netns add "$NS" 2>/dev/null; then
	echo "SKIP: cannot create a network namespace"
	exit 77
fi
# One device per next hop: dummy where the module exists, else a veth pair.
for k in $(seq 0 $((NH - 1))); do
	if ! nsenter --net=/var/run/netns/"$NS" ip link add "d$k" type dummy 2>/dev/null &&
	   ! nsenter --net=/var/run/netns/"$NS" ip link add "d$k" type veth peer name "p$k" 2>/dev/null; then
		echo "SKIP: neither dummy nor veth interfaces can be created"
		exit 77
	fi
	nsenter --net=/var/run/netns/"$NS" ip link set "d$k" up || exit 1
	nsenter --net=/var/run/netns/"$NS" ip link set "p$k" up 2>/dev/null
done

echo "seed $SEED: $NROUTES routes over $NH next hops, $NSAMPLES samples"

# Routes stay inside 1.0.0.0-223.255.255.255 (no loopback, multicast or
# broadcast special cases in the kernel's answer), half nested inside earlier
# ones; one default route. Prints "PREFIX/LEN NH" lines, canonical prefixes.
awk -v n="$NROUTES" -v nh="$NH" -v seed="$SEED" '
function ip(a) { return sprintf("%d.%d.%d.%d", int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256) }
function canon(a, len,   m) { m = 2 ^ (32 - len); return a - a % m }
function unicast(a) { return a >= 16777216 && a < 3758096384 && int(a / 16777216) != 127 }
BEGIN {
	srand(seed);
	print "0.0.0.0/0", int(rand() * nh);
	for (i = 0; i < n; ) {
		len = 8 + int(rand() * 25);
		if (i > 0 && rand() < 0.5) {
			j = int(rand() * i);
			if (len < plen[j]) len = plen[j] + int(rand() * (33 - plen[j]));
			a = canon(pa[j] + int(rand() * 2 ^ (32 - plen[j])), len);
		} else {
			a = canon(int(rand() * 4294967296), len);
		}
		if (!unicast(a) || !unicast(a + 2 ^ (32 - len) - 1)) continue;
		pa[i] = a; plen[i] = len; i++;
		print ip(a) "/" len, int(rand() * nh);
	}
}' > "$TMP/routes.nh" || exit 1

awk '{ printf "%s 02:00:00:00:00:%02x\n", $1, $2 }' "$TMP/routes.nh" > "$TMP/routes"
# `replace`: a repeated prefix keeps its last next hop, as in the NF.
awk '{ print "route replace " $1 " dev d" $2 }' "$TMP/routes.nh" > "$TMP/batch"
if ! nsenter --net=/var/run/netns/"$NS" ip -batch "$TMP/batch"; then
	echo "FAIL: kernel refused a route"
	exit 1
fi

# Samples: inside random routes (so long prefixes are hit), plus uniform unicast.
awk -v n="$NSAMPLES" -v seed="$SEED" '
function ip(a) { return sprintf("%d.%d.%d.%d", int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256) }
function tonum(s,   p) { split(s, p, "."); return ((p[1] * 256 + p[2]) * 256 + p[3]) * 256 + p[4] }
{ split($1, r, "/"); base[NR] = tonum(r[1]); len[NR] = r[2] }
END {
	srand(seed + 1);
	for (i = 0; i < n; ) {
		if (rand() < 0.7) { j = 2 + int(rand() * (NR - 1)); a = base[j] + int(rand() * 2 ^ (32 - len[j])) }
		else a = 16777216 + int(rand() * (3758096384 - 16777216));
		if (int(a / 16777216) == 127) continue;
		print ip(a); i++;
	}
}' "$TMP/routes.nh" > "$TMP/samples" || exit 1

"$LOOKUP" "$TMP/routes" < "$TMP/samples" > "$TMP/nf" || { echo "FAIL: router_lookup failed"; exit 1; }

fail=0
checked=0
while read -r addr mac; do
	out=$(nsenter --net=/var/run/netns/"$NS" ip route get "$addr" 2>&1)
	dev=$(sed -n 's/.* dev d\([0-9]*\).*/\1/p' <<< "$out" | head -1)
	if [ -z "$dev" ]; then
		kern=none
	else
		kern=$(printf '02:00:00:00:00:%02x' "$dev")
	fi
	if [ "$kern" != "$mac" ]; then
		echo "MISMATCH $addr: NF $mac, kernel $kern ($out)"
		fail=$((fail + 1))
	fi
	checked=$((checked + 1))
done < "$TMP/nf"

if [ "$checked" -lt "$NSAMPLES" ]; then
	echo "FAIL: only $checked of $NSAMPLES answers from router_lookup"
	exit 1
fi
if [ "$fail" -ne 0 ]; then
	echo "FAIL: $fail of $checked lookups differ from the kernel FIB (seed $SEED)"
	exit 1
fi
echo "PASS: $checked lookups agree with the kernel FIB"
exit 0
