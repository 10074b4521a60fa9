#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ipsec_esp keys from files (enc_key_file, auth_key_file) through `gend --check`:
# a root-only file loads; one readable by group or others, owned by another user,
# of the wrong length, or given beside the inline key is refused with FILE:LINE.
# And --check warns, without failing, about inline keys in a world-readable file.
# usage: test_keyfile.sh GEND
set -u
gend=${1:?gend}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (root-owned key files)"; exit 77; }
d=$(mktemp -d /tmp/gen-keys.XXXXXX)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
chmod 755 "$d"
printf '00112233445566778899aabbccddeeff\n' >"$d/enc"
printf '0x000102030405060708090a0b0c0d0e0f10111213' >"$d/auth"
chmod 600 "$d/enc" "$d/auth"

# cfg NF_KEYS: a config with one ESP NF carrying NF_KEYS (lines), into $d/c.ini.
cfg() {
	printf '[gen]\nports = lo\n\n[nf vpn]\ntype = ipsec_esp\ndirection = encrypt\nspi = 7\n%s\ntunnel_src = 192.0.2.1\ntunnel_dst = 192.0.2.2\n\n[chain c]\nid = 1\nmatch = any\nnfs = vpn\noutput = 1\n' "$1" >"$d/c.ini"
	chmod 640 "$d/c.ini"
}
# expect_err PATTERN: --check fails and prints PATTERN.
expect_err() {
	if "$gend" --check "$d/c.ini" >"$d/out" 2>&1; then fail "accepted: $(cat "$d/out")"; fi
	grep -Eq "$1" "$d/out" || fail "expected /$1/, got: $(cat "$d/out")"
}

cfg "enc_key_file = enc
auth_key_file = $d/auth"
"$gend" --check "$d/c.ini" >"$d/out" 2>&1 || fail "root-only key files refused: $(cat "$d/out")"
! grep -q warning "$d/out" || fail "warning without inline keys: $(cat "$d/out")"
echo "ok - root-only key files (relative and absolute paths) load"

chmod 640 "$d/enc"
expect_err "c\.ini:8: enc_key_file '.*/enc' must be owned by root and readable by nobody else .*mode 0640"
chmod 604 "$d/enc"
expect_err "c\.ini:8: enc_key_file .*mode 0604"
chmod 600 "$d/enc"
chown 65534 "$d/auth"
expect_err "c\.ini:9: auth_key_file .*owner uid 65534"
chown 0 "$d/auth"
echo "ok - key files readable by group or others, or not root's, are refused with FILE:LINE"

printf '0011\n' >"$d/enc"
expect_err "c\.ini:8: enc_key_file .* must hold 16 bytes as 32 hex digits"
printf '00112233445566778899aabbccddeeff\n' >"$d/enc"
cfg "enc_key_file = missing
auth_key_file = auth"
expect_err "c\.ini:8: enc_key_file '.*/missing': No such file"
cfg "enc_key = 00112233445566778899aabbccddeeff
enc_key_file = enc
auth_key_file = auth"
expect_err "c\.ini:9: nf 'vpn': give enc_key or enc_key_file, not both"
cfg "auth_key_file = auth"
expect_err "c\.ini:4: nf 'vpn': ipsec_esp needs 'enc_key' or 'enc_key_file'"
echo "ok - short keys, missing files, both forms, neither form: refused with FILE:LINE"

cfg "enc_key = 00112233445566778899aabbccddeeff
auth_key = 000102030405060708090a0b0c0d0e0f10111213"
"$gend" --check "$d/c.ini" >"$d/out" 2>&1 || fail "inline keys refused: $(cat "$d/out")"
! grep -q warning "$d/out" || fail "warning for a 0640 file: $(cat "$d/out")"
chmod 644 "$d/c.ini"
"$gend" --check "$d/c.ini" >"$d/out" 2>&1 || fail "--check failed on a readable file with inline keys (must only warn)"
grep -q "c\.ini:8: warning: inline enc_key of nf 'vpn' in a file readable by others (mode 0644)" "$d/out" ||
	fail "no warning for enc_key: $(cat "$d/out")"
grep -q "c\.ini:9: warning: inline auth_key" "$d/out" || fail "no warning for auth_key: $(cat "$d/out")"
echo "ok - --check warns (exit 0) about inline keys in a world-readable file, not in a 0640 one"
