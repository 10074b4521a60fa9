#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# gend speaks the sd_notify protocol to a NOTIFY_SOCKET this test listens on:
# READY=1 only once XDP is attached, STATUS= with backend and rate, RELOADING=1
# then READY=1 around a reload (also a rejected one), WATCHDOG=1, STOPPING=1.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
cfg_begin
cat >>"$WORK/chains.ini" <<EOF
[nf to_r0]
type = l2_rewrite
dst_mac = $MAC_R0

[chain one]
id = 1
match = proto udp
nfs = to_r0
output = 2
EOF
NS=$WORK/notify.sock
# The listener records each datagram with whether gin had an XDP program at that moment.
python3 - "$NS" "$WORK/notify.log" "$NS_GEN" <<'PY' &
import socket, subprocess, sys, os
path, log, ns = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(30)
with open(log, "w") as f:
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        xdp = "xdp" in subprocess.run(["nsenter", "--net=/var/run/netns/" + ns, "ip", "-d", "link", "show", "gin"], capture_output=True, text=True).stdout
        for line in msg.split("\n"):
            f.write(f"{line}\txdp={int(xdp)}\n")
        f.flush()
        if "STOPPING=1" in msg:
            break
PY
LISTENER=$!
for _ in $(seq 50); do [ -S "$NS" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$NS WATCHDOG_USEC=1000000 WATCHDOG_PID= gend_start
sleep 1.5
ctl reload >/dev/null || fail "reload"
cp "$WORK/chains.ini" "$WORK/good.ini"
echo "bogus line" >>"$WORK/chains.ini"
ctl reload >/dev/null 2>&1 && fail "bad reload accepted"
sleep 1.2
gend_stop || fail "gend exit"
wait $LISTENER
L=$WORK/notify.log
grep -q "^READY=1	xdp=1" "$L" || fail "no READY=1 after XDP attach: $(cat "$L")"
grep "^READY=1" "$L" | head -1 | grep -q "xdp=1" || fail "READY=1 before XDP was attached: $(cat "$L")"
ok "READY=1 sent once XDP was attached"
grep -q "^STATUS=backend ${GEN_BACKEND:-cpu}; [0-9]* pps" "$L" || fail "STATUS line: $(cat "$L")"
ok "STATUS= carries backend and packet rate"
[ "$(grep -c "^RELOADING=1" "$L")" -ge 2 ] || fail "RELOADING=1 missing: $(cat "$L")"
awk -F'\t' '/^RELOADING=1/{r=1} /^READY=1/{if(r)n++; r=0} END{exit !(n>=2)}' "$L" || fail "READY=1 does not follow each RELOADING=1"
grep -q "^MONOTONIC_USEC=" "$L" || fail "RELOADING=1 without MONOTONIC_USEC"
ok "RELOADING=1 ... READY=1 around good and rejected reloads"
[ "$(grep -c "^WATCHDOG=1" "$L")" -ge 2 ] || fail "WATCHDOG=1 not sent every WATCHDOG_USEC/2: $(cat "$L")"
ok "WATCHDOG=1 sent"
grep -q "^STOPPING=1" "$L" || fail "no STOPPING=1"
ok "STOPPING=1 on SIGTERM"
