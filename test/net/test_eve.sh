#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# NIDS alert events end to end: crafted TCP and UDP packets hit two known
# sids; every firing becomes one Suricata EVE line in eve_log whose fields
# (timestamp, 5-tuple, proto, sid, rev, msg, action, chain) are those of the
# packets sent, parsed with python3's json. A ring of 16 records, drained every
# 200 ms, overflows under a burst: written + events_lost = alerts, nothing
# blocks and every packet is forwarded. SIGUSR1 reopens the file after a
# logrotate-style rename.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
cat >"$WORK/local.rules" <<'RULES'
alert tcp any any -> any 80 (msg:"gen test: tcp \"attack\" word"; content:"attack-word"; sid:1000001; rev:3;)
alert udp any any -> any 5001 (msg:"gen test: udp probe"; content:"probe-word"; sid:1000002; rev:1;)
RULES
GEN_EVE_LOG=$WORK/log/eve.json cfg_begin
cat >>"$WORK/chains.ini" <<CFG

[nf ids]
type = nids
rules = $WORK/local.rules

[nf small]
type = nids
rules = $WORK/local.rules
events = 16

[nf to_r0]
type = l2_rewrite
dst_mac = $MAC_R0

[chain web]
id = 1
match = proto tcp dport 80
nfs = ids to_r0
output = gout

[chain burst]
id = 2
match = proto udp dport 5001
nfs = small to_r0
output = gout
CFG
gend_start
T0=$(date +%s.%N)
HEX_TCP=$(printf 'xx attack-word yy' | od -An -tx1 | tr -d ' \n')
HEX_UDP=$(printf 'a probe-word' | od -An -tx1 | tr -d ' \n')

recv_start a r0 --idle 2
send --proto tcp --sport 40000 --dport 80 --flows 3 --count 30 --rate 200 --payload-hex "$HEX_TCP" --fill zero
recv_wait a
sleep 0.5
T1=$(date +%s.%N)
ctl --json stats >"$WORK/st1.json"
python3 - "$WORK/log/eve.json" "$WORK/st1.json" "$T0" "$T1" <<'PY' || fail "events of the tcp packets"
import json, sys
from datetime import datetime
lines = open(sys.argv[1]).read().splitlines()
st = json.load(open(sys.argv[2]))
t0, t1 = float(sys.argv[3]), float(sys.argv[4])
ev = [json.loads(l) for l in lines]
assert len(ev) == 30, f"{len(ev)} events for 30 packets"
sports = set()
for e in ev:
    assert e["event_type"] == "alert", e
    assert e["src_ip"] == "10.10.1.1" and e["dest_ip"] == "10.10.2.2", e
    assert e["proto"] == "TCP" and e["dest_port"] == 80, e
    sports.add(e["src_port"])
    a = e["alert"]
    assert a["signature_id"] == 1000001 and a["rev"] == 3, a
    assert a["signature"] == 'gen test: tcp "attack" word', a
    assert a["action"] == "allowed" and a["gid"] == 1, a
    assert e["chain"] == "web" and e["gen"] == {"chain": "web", "nf": "ids"}, e
    # Suricata's timestamp form: local time, microseconds, +hhmm
    t = datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    assert t0 - 1 <= t <= t1 + 1, (e["timestamp"], t0, t1)
assert len(sports) == 3, sports
web = [c for c in st["chains"] if c["name"] == "web"][0]
ids = [n for n in web["nfs"] if n["name"] == "ids"][0]["counters"]
assert ids["alerts"] == 30 and ids["events_lost"] == 0, ids
PY
ok "30 crafted tcp packets: 30 EVE alerts with their 5-tuple, sid, rev, msg, action, chain and time"

# A burst into the 16-record ring: drops counted, nothing blocks.
recv_start b r0 --idle 2
send --proto udp --sport 50000 --dport 5001 --flows 1 --count 2000 --rate 100000 --payload-hex "$HEX_UDP" --fill zero
recv_wait b
sleep 0.5
ctl --json stats >"$WORK/st2.json"
ctl stats >"$WORK/st2.txt"
grep -q "events_lost=" "$WORK/st2.txt" || fail "genctl stats does not show events_lost: $(cat "$WORK/st2.txt")"
python3 - "$WORK/log/eve.json" "$WORK/st2.json" "$WORK/b.json" <<'PY' || fail "overflow accounting"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
st = json.load(open(sys.argv[2]))
rx = json.load(open(sys.argv[3]))
udp = [e for e in ev if e["alert"]["signature_id"] == 1000002]
burst = [c for c in st["chains"] if c["name"] == "burst"][0]
small = [n for n in burst["nfs"] if n["name"] == "small"][0]["counters"]
assert small["alerts"] == 2000, small
assert small["events_lost"] > 0, f"a 16-record ring took a 2000-packet burst whole: {small}"
assert len(udp) + small["events_lost"] == 2000, (len(udp), small)
assert all(e["proto"] == "UDP" and e["dest_port"] == 5001 and e["chain"] == "burst" for e in udp)
assert rx["received"] == 2000, rx
print(f"written {len(udp)}, lost {small['events_lost']}")
PY
ok "a burst into a 16-record ring: written + events_lost = 2000 alerts, all 2000 packets forwarded"
ctl metrics | grep -q 'events_lost' || fail "metrics do not show events_lost"

# logrotate: rename, SIGUSR1, the next events go to a new file.
mv "$WORK/log/eve.json" "$WORK/log/eve.json.1"
kill -USR1 "$GEND_PID"
sleep 0.5
[ -e "$WORK/log/eve.json" ] || fail "SIGUSR1 did not reopen eve_log"
recv_start c r0 --idle 2
send --proto tcp --sport 41000 --dport 80 --flows 1 --count 5 --rate 200 --payload-hex "$HEX_TCP" --fill zero
recv_wait c
sleep 0.5
[ "$(wc -l <"$WORK/log/eve.json")" = 5 ] || fail "after SIGUSR1: $(wc -l <"$WORK/log/eve.json") lines in the new file, want 5"
python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$WORK/log/eve.json.1" || fail "old file damaged"
n_old=$(grep -c 1000001 "$WORK/log/eve.json.1")
[ "$n_old" = 30 ] || fail "the renamed file holds $n_old tcp events, want 30"
ok "SIGUSR1 reopens eve_log: the renamed file keeps the old events, the new one gets the next 5"
gend_stop || fail "gend exit"

# eve_log = journal: each alert is one journal entry (sd_journal_send). A
# private mount namespace puts a small receiver where journald's socket would
# be, so the entries can be read whether or not the machine runs journald.
# Where / is not a mount point (a chroot), a private mount namespace cannot be
# made (unshare: EINVAL) and the check is skipped, saying so.
if ! command -v unshare >/dev/null; then
	echo "# eve_log = journal not checked: no unshare"
elif ! why=$(unshare -m --propagation private true 2>&1); then
	echo "# eve_log = journal not checked here: $why"
else
	made=
	[ -d /run/systemd ] || made=/run/systemd
	[ -d /run/systemd/journal ] || { mkdir -p /run/systemd/journal && made=${made:-/run/systemd/journal}; }
	sed -i "s|^eve_log = .*|eve_log = journal|" "$WORK/chains.ini"
	cat >"$WORK/jrecv.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + '.pid', 'w').write(str(os.getpid()))
with open(sys.argv[2], 'ab') as f:
    while True:
        d = s.recv(65536)
        f.write(d.replace(b'\n', b'\x1f') + b'\n')  # one datagram per line
        f.flush()
PY
	unshare -m --propagation private bash -c '
		mount -t tmpfs none /run/systemd/journal || exit 1
		python3 "$1/jrecv.py" /run/systemd/journal/socket "$1/journal.out" &
		for _ in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
		exec nsenter --net=/var/run/netns/"$2" "$3" -f -c "$1/chains.ini"' _ "$WORK" "$NS_GEN" "$GEND" \
		>"$WORK/gend.log" 2>&1 &
	GEND_PID=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
	[ -S "$SOCK" ] || fail "gend (eve_log = journal) did not start: $(cat "$WORK/gend.log")"
	recv_start j r0 --idle 2
	send --proto tcp --sport 42000 --dport 80 --flows 1 --count 7 --rate 200 --payload-hex "$HEX_TCP" --fill zero
	recv_wait j
	sleep 0.5
	gend_stop || fail "gend exit (eve_log = journal)"
	kill "$(cat "$WORK/journal.out.pid")" 2>/dev/null
	[ -n "$made" ] && rmdir /run/systemd/journal "$made" 2>/dev/null
	python3 - "$WORK/journal.out" <<'PY' || fail "journal entries: $(cat "$WORK/journal.out" 2>/dev/null)"
import json, sys
ents = []
for line in open(sys.argv[1], 'rb'):
    f = dict(kv.split(b'=', 1) for kv in line.rstrip(b'\n').split(b'\x1f') if b'=' in kv)
    if f.get(b'GEN_EVENT') == b'alert':
        ents.append(f)
assert len(ents) == 7, f"{len(ents)} alert entries, want 7"
for f in ents:
    e = json.loads(f[b'MESSAGE'])
    assert e['event_type'] == 'alert' and e['alert']['signature_id'] == 1000001 and e['dest_port'] == 80, e
    assert f[b'GEN_SID'] == b'1000001' and f[b'SYSLOG_IDENTIFIER'] == b'gend' and f[b'PRIORITY'] == b'4', f
print("7 journal entries: MESSAGE is the EVE line, GEN_EVENT=alert, GEN_SID, SYSLOG_IDENTIFIER=gend")
PY
	ok "eve_log = journal: one journal entry per alert with the EVE line and its fields"
fi
ok "done"
