#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# gend speaks the sd_notify protocol to a NOTIFY_SOCKET this test listens on:
# READY=1 only once XDP is attached, STATUS= with backend and rate, RELOADING=1
# then READY=1 around a reload (also a rejected one), WATCHDOG=1, STOPPING=1.
# A reload that compiles a custom NF slowly (a compiler wrapper that sleeps
# longer than WATCHDOG_USEC) keeps WATCHDOG=1 and EXTEND_TIMEOUT_USEC flowing.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
cfg_begin
cfg_nfs to_r0
cfg_chain one 1 "proto udp" "to_r0" 2
NS=$WORK/notify.sock
# The listener records each datagram with whether gin had an XDP program at that moment.
python3 - "$NS" "$WORK/notify.log" "$NS_GEN" <<'PY' &
import socket, subprocess, sys, os, time
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
        t = time.monotonic()
        xdp = "xdp" in subprocess.run(["nsenter", "--net=/var/run/netns/" + ns, "ip", "-d", "link", "show", "gin"], capture_output=True, text=True).stdout
        for line in msg.split("\n"):
            f.write(f"{line}\txdp={int(xdp)}\tt={t:.3f}\n")
        f.flush()
        if "STOPPING=1" in msg:
            break
PY
LISTENER=$!
for _ in $(seq 50); do [ -S "$NS" ] && break; sleep 0.1; done
unset WATCHDOG_PID # no PID check: gend runs under nsenter, its pid unknown until started
GEN_CC=$WORK/slow-cc GEN_CACHE_DIR=$WORK/cache NOTIFY_SOCKET=$NS WATCHDOG_USEC=1000000 gend_start
sleep 1.5
ctl reload >/dev/null || fail "reload"
cp "$WORK/chains.ini" "$WORK/good.ini"
echo "bogus line" >>"$WORK/chains.ini"
ctl reload >/dev/null 2>&1 && fail "bad reload accepted"
# A custom NF whose compile takes 3 s, three times WATCHDOG_USEC.
cp "$WORK/good.ini" "$WORK/chains.ini"
mkdir -p "$WORK/nf" "$WORK/cache"
chmod 0700 "$WORK/cache"
cp "$(dirname "$0")/../../etc/gen/nf/ttl_guard.c" "$WORK/nf/slow.c"
printf '#!/bin/sh\nsleep 3\nexec cc "$@"\n' >"$WORK/slow-cc"
chmod 0755 "$WORK/slow-cc"
printf '\n[nf slow]\ntype = custom\nsource = nf/slow.c\nparams = 1\n\n[chain two]\nid = 2\nmatch = proto tcp\nnfs = slow\noutput = 2\n' \
	>>"$WORK/chains.ini"
ctl reload >"$WORK/slow.out" 2>&1 || fail "reload with the slow compile: $(cat "$WORK/slow.out")"
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
# The slow reload: the last RELOADING=1 to its READY=1 took the compile's 3 s,
# and no gap between watchdog messages in it reached WATCHDOG_USEC (1 s).
python3 - "$L" <<'PY' || fail "watchdog starved during the slow reload: $(cat "$L")"
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
ev = [(r[0], float(r[2][2:])) for r in rows if len(r) == 3]
start = max(i for i, (m, _) in enumerate(ev) if m == "RELOADING=1")
end = next(i for i in range(start, len(ev)) if ev[i][0] == "READY=1")
t0, t1 = ev[start][1], ev[end][1]
beats = [t for m, t in ev[start:end] if m == "WATCHDOG=1"]
ext = [m for m, _ in ev[start:end] if m.startswith("EXTEND_TIMEOUT_USEC=")]
gaps = [b - a for a, b in zip([t0] + beats, beats + [t1])]
print(f"slow reload {t1 - t0:.2f} s, {len(beats)} WATCHDOG=1, largest gap {max(gaps):.2f} s, {len(ext)} EXTEND_TIMEOUT_USEC")
sys.exit(0 if t1 - t0 >= 2.5 and max(gaps) < 1.0 and ext else 1)
PY
ok "WATCHDOG=1 and EXTEND_TIMEOUT_USEC kept flowing through a 3 s compile during reload"
