#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An output port deleted under traffic. Chain a sends to gout (r0), chain b to
# gout2 (r1); both carry traffic when the r1/gout2 veth pair is deleted. gend
# must notice (log, genctl status: port gone), take back the frames queued to
# it, and keep chain a whole: every packet of a's stream arrives and the AF_XDP
# fill rings never run dry. Then an interface of the same name comes back:
# gend says so and keeps running. Run on gend-debug too: every frame accounted.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
cfg_begin
cfg_nfs to_r0 to_r1
cfg_chain a 1 "proto udp dport 5001" "to_r0" 2
cfg_chain b 2 "proto udp dport 5002" "to_r1" 3
gend_start
st() { ctl --json status >"$WORK/st.json" && json_get "$WORK/st.json" "$1"; }

N=40000 RATE=10000
recv_start a r0 --idle 2
(send --dport 5001 --stream 1 --count $N --rate $RATE --size 64) &
sa=$!
(nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN \
	--src 10.10.1.1 --dst 10.10.3.2 --dport 5002 --stream 2 --count $N --rate $RATE --size 64 >/dev/null 2>&1) &
sb=$!
sleep 1
nsenter --net=/var/run/netns/"$NS_RCV" ip link del r1 || fail "cannot delete r1"
t0=$(date +%s%N)
for _ in $(seq 50); do
	[ "$(st "[p['state'] for p in j['port_modes'] if p['name']=='gout2'][0]")" = gone ] && break
	sleep 0.1
done
[ "$(st "[p['state'] for p in j['port_modes'] if p['name']=='gout2'][0]")" = gone ] ||
	fail "gout2 not marked gone: $(cat "$WORK/st.json")"
echo "# gout2 marked gone $(( ($(date +%s%N) - t0) / 1000000 )) ms after the delete"
wait $sa $sb
recv_wait a
got=$(json_get "$WORK/a.json" "sum(s['received'] for s in j['streams'] if s['id']==1)")
ctl status
[ "$got" = $N ] || fail "chain a lost $((N - got)) of $N packets after gout2 went: $(cat "$WORK/a.json")"
[ "$(st "j['xsk']['rx_fill_ring_empty']")" = 0 ] || fail "the fill rings ran dry: $(cat "$WORK/st.json")"
[ "$(st "j['frame_accounting_errors']")" = 0 ] || fail "frame accounting broken"
back=$(st "[p['frames_back'] for p in j['port_modes'] if p['name']=='gout2'][0]")
drops=$(st "[p['down_drops'] for p in j['port_modes'] if p['name']=='gout2'][0]")
echo "# gout2: $back frames taken back from its rings, $drops frames for it dropped after it went"
[ "$drops" -gt 0 ] || fail "no frame for gout2 was dropped: the test sent none after the delete"
grep -q "port 3 'gout2' is gone" "$WORK/gend.log" || fail "no log line for the deleted port"
ok "port deleted under traffic: chain a received $got of $N, fill rings never empty"

# The same name again: gend notices and stays up.
ip link add r1 netns "$NS_RCV" type veth peer name gout2 netns "$NS_GEN" || fail "veth r1/gout2 again"
nsenter --net=/var/run/netns/"$NS_GEN" ip link set gout2 up
for _ in $(seq 30); do grep -q "port 3 'gout2' is back" "$WORK/gend.log" && break; sleep 0.1; done
grep -q "port 3 'gout2' is back" "$WORK/gend.log" || fail "the returning port was not noticed"
ctl status >/dev/null || fail "genctl status after the port came back"
gend_stop || fail "gend exited non-zero"
ok "a port of the same name coming back is noticed; gend stops cleanly"
