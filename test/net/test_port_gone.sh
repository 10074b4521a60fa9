#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An output port deleted under traffic. Chain a sends to gout (r0), chain b to
# gout2 (r1); both carry traffic when the r1/gout2 veth pair is deleted. gend
# must notice (log, genctl status: port gone), take back the frames queued to
# it, and keep chain a whole: every packet of a's stream arrives and the AF_XDP
# fill rings never run dry. Then an interface of the same name comes back:
# gend binds it again and chain b forwards, while chain a keeps flowing; and a
# reload binds a port replaced while gend heard nothing. Run on gend-debug too:
# every frame accounted; and with TX_SOCKETS=N (lib.sh: [gen] tx_sockets), the
# returning ports get their N TX sockets again.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
cfg_begin
cfg_a_b
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

# The same name again, under traffic: gend binds the new netdev (XDP, sockets,
# rules with the new ifindex) and chain b sends again; chain a carries a
# stream across the whole re-creation and loses nothing.
gen() { nsenter --net=/var/run/netns/"$NS_GEN" "$@"; }
rcv() { nsenter --net=/var/run/netns/"$NS_RCV" "$@"; }
recv_start a2 r0 --idle 3
(send --dport 5001 --stream 3 --count $N --rate $RATE --size 64) &
sa=$!
sleep 0.5
net_gout2
gout2_state() { st "[p['state'] for p in j['port_modes'] if p['name']=='gout2'][0]"; }
for _ in $(seq 30); do
	grep -q "port 3 'gout2' is back as a new interface.*sockets bound" "$WORK/gend.log" && [ "$(gout2_state)" = up ] && break
	sleep 0.1
done
grep -q "port 3 'gout2' is back as a new interface.*sockets bound" "$WORK/gend.log" ||
	fail "the returning port was not bound again: $(grep gout2 "$WORK/gend.log")"
[ "$(gout2_state)" = up ] || fail "gout2 not up: $(cat "$WORK/st.json")"
[ "$(st "[p['ifindex'] for p in j['port_modes'] if p['name']=='gout2'][0]")" = "$(gen cat /sys/class/net/gout2/ifindex 2>/dev/null ||
	gen ip -j link show gout2 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])')" ] ||
	fail "status does not show the new ifindex"
recv_start b2 r1 --idle 2
nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN \
	--src 10.10.1.1 --dst 10.10.3.2 --dport 5002 --stream 4 --count 5000 --rate $RATE --size 64 >/dev/null 2>&1 ||
	fail "sender b"
wait $sa
recv_wait a2; recv_wait b2
got=$(json_get "$WORK/b2.json" "j['received']")
[ "$got" = 5000 ] || fail "chain b after gout2 came back: $got of 5000: $(cat "$WORK/b2.json")"
ok "gout2 deleted and re-created: gend bound the new netdev, chain b forwarded 5000 of 5000 again, no restart"
[ "$(st "[p['tx_sockets'] for p in j['port_modes'] if p['name']=='gout2'][0]")" = "${TX_SOCKETS:-1}" ] ||
	fail "gout2 came back without its ${TX_SOCKETS:-1} TX sockets ($(st "[j['tx_kicker_threads'], j['tx_help']]")" \
		"kicker threads per queue, worker/controller kicks): $(cat "$WORK/st.json")"
got=$(json_get "$WORK/a2.json" "sum(s['received'] for s in j['streams'] if s['id']==3)")
[ "$got" = $N ] || fail "chain a lost $((N - got)) of $N while gout2 came back: $(cat "$WORK/a2.json")"
ok "chain a: $got of $N across the re-creation"
[ "$(st "j['frame_accounting_errors']")" = 0 ] || fail "frame accounting broken"
ctl status

# Ports by name and ifindex when rtnetlink messages were lost: gend is stopped
# (SIGSTOP) while gout2 is replaced and 400 other link messages overflow its
# netlink socket, so the messages about gout2 never arrive. Reading fails with
# ENOBUFS, and gend checks every port by name and ifindex (as a reload does):
# gout2 is bound anew.
kill -STOP "$GEND_PID"
rcv ip link del r1
net_gout2
for i in $(seq 100); do echo "link add gx$i type veth peer name gy$i"; echo "link del gx$i"; done >"$WORK/flood.batch"
gen ip -batch "$WORK/flood.batch" || fail "link message flood"
kill -CONT "$GEND_PID"
ctl reload >"$WORK/reload.out" 2>&1 || fail "reload after the port changed: $(cat "$WORK/reload.out")"
grep -q "reading interface events: No buffer space" "$WORK/gend.log" || fail "no netlink overflow: the test did not hide the change"
[ "$(grep -c "port 3 'gout2' is back as a new interface.*sockets bound" "$WORK/gend.log")" = 2 ] ||
	fail "gout2 not bound again after the lost messages: $(grep gout2 "$WORK/gend.log")"
sleep 0.3
recv_start b3 r1 --idle 2
nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN \
	--src 10.10.1.1 --dst 10.10.3.2 --dport 5002 --stream 5 --count 3000 --rate $RATE --size 64 >/dev/null 2>&1 ||
	fail "sender b"
recv_wait b3
got=$(json_get "$WORK/b3.json" "j['received']")
[ "$got" = 3000 ] || fail "chain b after a reload with gout2 replaced: $got of 3000"
ok "gout2 replaced while its rtnetlink messages were lost: bound again on the port check (3000 of 3000)"

# The input port: gin deleted and re-created; XDP is attached to the new gin
# and chain a receives on it again.
nsenter --net=/var/run/netns/"$NS_SND" ip link del s0 || fail "cannot delete s0"
for _ in $(seq 50); do [ "$(st "[p['state'] for p in j['port_modes'] if p['name']=='gin'][0]")" = gone ] && break; sleep 0.1; done
ip link add s0 netns "$NS_SND" type veth peer name gin netns "$NS_GEN" || fail "veth s0/gin again"
nsenter --net=/var/run/netns/"$NS_SND" ip link set s0 address $MAC_S0 up
nsenter --net=/var/run/netns/"$NS_SND" sysctl -qw net.ipv6.conf.s0.disable_ipv6=1
gen ip link set gin address $MAC_GIN up
for _ in $(seq 30); do grep -q "port 1 'gin' is back as a new interface.*sockets bound" "$WORK/gend.log" && break; sleep 0.1; done
grep -q "port 1 'gin' is back as a new interface.*sockets bound" "$WORK/gend.log" || fail "gin not bound again: $(grep gin "$WORK/gend.log")"
gen ip -d link show gin | grep -q "prog/xdp" || fail "no XDP program on the new gin"
sleep 0.3
recv_start a3 r0 --idle 2
send --dport 5001 --stream 6 --count 3000 --rate $RATE --size 64
recv_wait a3
got=$(json_get "$WORK/a3.json" "j['received']")
[ "$got" = 3000 ] || fail "chain a after gin came back: $got of 3000"
ok "input port gin deleted and re-created: XDP attached to the new one, chain a received 3000 of 3000"
[ "$(st "j['frame_accounting_errors']")" = 0 ] || fail "frame accounting broken"
gend_stop || fail "gend exited non-zero"
