#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The fail mode after gend died. Chain fw runs a firewall (closed by default),
# chain plain only rewrites MACs (open by default). gend is killed with SIGKILL:
# its classifier stays attached and its sockets are gone. fw's traffic must be
# dropped in XDP (not passed to the kernel, which would route it to r0), plain's
# must pass to the kernel (and reach r0). A new gend then takes over the
# attached program, forwards again, and a reload with [gen] fail = open changes
# fw's mode.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
write_cfg() { # $1: extra [gen] line
	cfg_begin
	[ -n "$1" ] && echo "$1" >>"$WORK/chains.ini"
	cfg_fw_plain
}

rx() { json_get "$1" "sum(s['received'] for s in j['streams'] if s['id']==$2)"; }
mode() { ctl --json chains >"$WORK/c.json" && json_get "$WORK/c.json" "[c['fail'] for c in j if c['name']=='$1'][0]"; }

# Both chains' traffic: stream 1 to fw, stream 2 to plain; the receiver on r0 sees what got through.
both() { # $1 name, $2 count
	recv_start "$1" r0 --idle 2 --dump "$WORK/$1.dump"
	send --dport 5001 --stream 1 --count "$2" --rate 5000 --size 64
	send --dport 5002 --stream 2 --count "$2" --rate 5000 --size 64
	recv_wait "$1"
}

N=2000
write_cfg ""
gend_start
[ "$(mode fw)" = closed ] && [ "$(mode plain)" = open ] || fail "default fail modes: $(cat "$WORK/c.json")"
both live $N
[ "$(rx "$WORK/live.json" 1)" = $N ] && [ "$(rx "$WORK/live.json" 2)" = $N ] || fail "live: $(cat "$WORK/live.json")"
ok "defaults: fw fails closed, plain open; both forward while gend runs"

kill -KILL "$GEND_PID"
wait "$GEND_PID" 2>/dev/null
GEND_PID=
nsenter --net=/var/run/netns/"$NS_GEN" ip -d link show gin | grep -q "prog/xdp" || fail "the classifier left gin with gend"
both dead $N
fw=$(rx "$WORK/dead.json" 1) plain=$(rx "$WORK/dead.json" 2)
echo "# gend killed: fw $fw of $N reached r0, plain $plain of $N"
[ "$fw" = 0 ] || fail "gend dead: fw fails closed, yet $fw packets passed to the kernel"
[ "$plain" -ge $((N * 9 / 10)) ] || fail "gend dead: plain fails open, yet only $plain of $N passed"
ok "gend killed: closed dropped, open passed"

# A new gend over the program the dead one left (its socket file too: wait for the new one).
rm -f "$SOCK"
gend_start
both again $N
[ "$(rx "$WORK/again.json" 1)" = $N ] && [ "$(rx "$WORK/again.json" 2)" = $N ] || {
	awk '$1 == 1 { print $2 }' "$WORK/again.dump" | sort -n | tr '\n' ' ' | head -c 300
	ctl status
	fail "restart: $(cat "$WORK/again.json")"
}
write_cfg "fail = open"
ctl reload >"$WORK/reload.out" || fail "reload: $(cat "$WORK/reload.out")"
[ "$(mode fw)" = open ] || fail "[gen] fail = open not applied: $(cat "$WORK/c.json")"
gend_stop || fail "gend exited non-zero"
ok "a new gend took over; [gen] fail = open applies on reload"
