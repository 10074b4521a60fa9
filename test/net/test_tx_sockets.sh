#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# [gen] tx_sockets on ports with and without the queues for it. The veths here
# have 2 queues on gend's side (gin, gout, gout2), and gend runs 1 queue. With
# tx_sockets = 1 gend logs that the ports have the queues for 2. With
# tx_sockets = 2: each port binds its second TX socket on queue 1, and a
# stream of 16 flows to r0 arrives whole, through both sockets, half each
# (flows are given to the less used socket: hashing them straight onto the
# two put 11 and 5 there), and the first socket too has a kicker thread
# (tx_thread = auto) where gend's data-plane threads fit the CPUs, else the
# port worker kicks it. Then the same
# with tx_sockets = 3, which needs 3 queues: every port keeps one socket, gend
# says why in its log, and the stream still arrives whole. Last (gend-debug),
# the second socket kicked by the idle chain controllers alone.
. "$(dirname "$0")/lib.sh"
net_require
NET_QUEUES=1 TX_SOCKETS=2 net_setup
N=20000
st() { ctl --json status >"$WORK/st.json" && json_get "$WORK/st.json" "$1"; }

for want in 1 2 3; do
	TX_SOCKETS=$want cfg_begin
	cfg_a_b
	gend_start
	recv_start a r0 --idle 2
	send --dport 5001 --stream 1 --count $N --rate 20000 --flows 16 --size 64 || fail "sender"
	recv_wait a
	got=$(json_get "$WORK/a.json" "j['received']")
	[ "$got" = $N ] || fail "tx_sockets = $want: $got of $N arrived: $(cat "$WORK/a.json")"
	frames=$(st "[p['tx_socket_frames'] for p in j['port_modes'] if p['name']=='gout'][0]")
	if [ $want = 1 ]; then
		[ "$(st "[p['tx_sockets'] for p in j['port_modes']]")" = "[1, 1, 1]" ] ||
			fail "tx_sockets = 1: one TX socket on every port expected: $(cat "$WORK/st.json")"
		# Copy mode, one socket a queue, ports with 2 queues for gend's one: gend says what tx_sockets would give.
		grep -q "port 2 'gout': one TX socket per queue, and copy-mode transmit is serial per socket: the port has the queues for tx_sockets = 2 (\[gen\])" "$WORK/gend.log" ||
			fail "no hint of tx_sockets for gout: $(grep gout "$WORK/gend.log")"
		ok "tx_sockets = 1: $N of $N arrived; gend says the ports have the queues for tx_sockets = 2"
	elif [ $want = 2 ]; then
		[ "$(st "[p['tx_sockets'] for p in j['port_modes']]")" = "[2, 2, 2]" ] ||
			fail "two TX sockets on every port expected: $(cat "$WORK/st.json")"
		python3 -c "import sys; f = $frames; sys.exit(not (len(f) == 2 and min(f) >= 0.4 * $N and sum(f) == $N))" ||
			fail "gout's frames per TX socket: $frames (each must carry 40-60 %, $N in all)"
		grep -q "port 2 'gout': 2 TX sockets per queue" "$WORK/gend.log" || fail "no log line for gout's TX sockets"
		# 1 queue x (worker + a controller per chain (2) + a kicker per TX socket (2)) = 5 polling
		# threads. tx_thread = auto gives every socket a kicker thread only where they fit the CPUs
		# gend may use; else the queue keeps kickers for the extra sockets its CPUs have room for
		# after the worker and the 2 controllers (CPUs - 3, at most 1 here), the worker and the
		# idle controllers kick the rest, and gend says so.
		cpus=$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")
		[ "$(st "[j['dp_threads'], j['dp_cpus'], j['tx_thread']]")" = "[5, $cpus, 'auto']" ] ||
			fail "status: 5 data-plane threads on $cpus CPUs expected: $(cat "$WORK/st.json")"
		if [ "$cpus" -ge 5 ]; then
			gend_thread_ticks | grep -q '^gen-t0.1 ' || fail "no kicker thread gen-t0.1 for the second TX socket"
			gend_thread_ticks | grep -q '^gen-t0 ' || fail "tx_thread = auto, 2 TX sockets, $cpus CPUs: no kicker thread gen-t0"
			[ "$(st "[j['tx_first_socket'], j['tx_kicker_threads'], j['tx_help']]")" = "['thread', 2, False]" ] ||
				fail "status: $(cat "$WORK/st.json")"
			if grep -q "data-plane threads with a TX kicker per socket" "$WORK/gend.log"; then
				fail "a notice of too many data-plane threads on $cpus CPUs"
			fi
		else
			k=$((cpus > 3 ? 1 : 0))
			if gend_thread_ticks | grep -q '^gen-t0 '; then
				fail "tx_thread = auto: a kicker thread gen-t0 with 5 data-plane threads on $cpus CPUs"
			fi
			[ "$(gend_thread_ticks | grep -c '^gen-t0.1 ')" = $k ] ||
				fail "tx_thread = auto, $cpus CPUs: $k kicker thread(s) for the second socket expected: $(gend_thread_ticks)"
			[ "$(st "[j['tx_first_socket'], j['tx_kicker_threads'], j['tx_help']]")" = "['worker', $k, True]" ] ||
				fail "status: $(cat "$WORK/st.json")"
			grep -q "queues = 1, tx_sockets = 2: 5 data-plane threads with a TX kicker per socket .* on $cpus CPUs; tx_thread = auto: per queue kicker threads for $k of the 1 extra TX sockets; the port worker and idle chain controllers kick the others" "$WORK/gend.log" ||
				fail "no notice of 5 data-plane threads on $cpus CPUs: $(grep -i thread "$WORK/gend.log")"
			ctl status | grep -q "^tx kicks: *each port's first TX socket by its port worker (\[gen\] tx_thread = auto: more threads than CPUs)" ||
				fail "status text: $(ctl status | grep -i 'tx kicks')"
			ctl status | grep -q "^ *per queue $k kicker thread(s) for the extra TX sockets; the port worker and idle chain controllers kick the first and $((1 - k)) more" ||
				fail "status text: $(ctl status | grep -iA1 'tx kicks')"
		fi
		m=$(ctl metrics | grep '^gen_port_tx_socket_frames_total{port="2",name="gout",socket="1"}' | cut -d' ' -f2)
		[ "$m" = "$(python3 -c "print(${frames}[1])")" ] || fail "metrics: gout's socket 1 carried '$m', status says $frames"
		ok "tx_sockets = 2 on ports with 2 queues: $N of $N arrived, gout's two sockets carried $frames"
		# A restart-only key: a reload that changes it is refused, and the running chains stay.
		sed -i 's/^tx_sockets = 2$/tx_sockets = 1/' "$WORK/chains.ini"
		if ctl reload >"$WORK/reload.out" 2>&1; then fail "a reload changed tx_sockets: $(cat "$WORK/reload.out")"; fi
		grep -q "tx_sockets.*cannot change on reload" "$WORK/reload.out" ||
			fail "the refused reload does not name tx_sockets: $(cat "$WORK/reload.out")"
		[ "$(st "[p['tx_sockets'] for p in j['port_modes']]")" = "[2, 2, 2]" ] || fail "the refused reload changed the sockets"
		recv_start a2 r0 --idle 2
		send --dport 5001 --stream 2 --count 2000 --rate 20000 --flows 64 --size 64 || fail "sender"
		recv_wait a2
		[ "$(json_get "$WORK/a2.json" "j['received']")" = 2000 ] || fail "after the refused reload: $(cat "$WORK/a2.json")"
		ok "a reload changing tx_sockets is refused (restart only); the chains go on (2000 of 2000)"
	else
		[ "$(st "[p['tx_sockets'] for p in j['port_modes']]")" = "[1, 1, 1]" ] ||
			fail "one TX socket on every port expected: $(cat "$WORK/st.json")"
		grep -q "port 2 'gout': one TX socket per queue: tx_sockets = 3 needs 3 queues on it" "$WORK/gend.log" ||
			fail "no log line saying why gout kept one socket: $(grep gout "$WORK/gend.log")"
		# One socket: the worker kicks it (a kicker of its own for one socket was measured slower).
		if gend_thread_ticks | grep -q '^gen-t'; then fail "kicker threads for ports with one TX socket each"; fi
		ok "tx_sockets = 3 on ports with 2 queues: one socket each, logged, no kicker threads; $N of $N arrived"
	fi
	[ "$(st "j['frame_accounting_errors']")" = 0 ] || fail "frame accounting broken"
	gend_stop || fail "gend exit"
done

# The controllers' kicks alone: with [gen] cpus = 0 the 5 threads crowd one CPU,
# so the second socket gets no kicker thread, and gend-debug's GEN_TEST_HELP_ONLY=1
# makes the worker leave that socket to the idle controllers: every frame must
# still arrive, about half of them through it, and the controllers' kicks show.
DBG=${GEN_GEND_DEBUG:-$BUILD/daemon/gend-debug}
if [ -x "$DBG" ]; then
	TX_SOCKETS=2 GEND_CPUS=0 cfg_begin
	cfg_a_b
	GEN_TEST_HELP_ONLY=1 GEND=$(ld_wrap "$DBG") gend_start
	[ "$(st "[j['tx_kicker_threads'], j['tx_help']]")" = "[0, True]" ] || fail "cpus = 0: status $(cat "$WORK/st.json")"
	if gend_thread_ticks | grep -q '^gen-t'; then fail "cpus = 0: kicker threads: $(gend_thread_ticks)"; fi
	recv_start h r0 --idle 2
	send --dport 5001 --stream 3 --count $N --rate 20000 --flows 16 --size 64 || fail "sender"
	recv_wait h
	got=$(json_get "$WORK/h.json" "j['received']")
	[ "$got" = $N ] || fail "the controllers kicking the second socket: $got of $N arrived: $(cat "$WORK/h.json")"
	frames=$(st "[p['tx_socket_frames'] for p in j['port_modes'] if p['name']=='gout'][0]")
	python3 -c "import sys; f = $frames; sys.exit(not (len(f) == 2 and min(f) >= 0.4 * $N and sum(f) == $N))" ||
		fail "gout's frames per TX socket: $frames (each must carry 40-60 %, $N in all)"
	kicks=$(ctl --json stats >"$WORK/sx.json" && json_get "$WORK/sx.json" "j['workers'][0]['tx_help_kicks']")
	[ "${kicks:-0}" -gt 0 ] || fail "no TX kicks by the controllers: $(cat "$WORK/sx.json")"
	[ "$(st "j['frame_accounting_errors']")" = 0 ] || fail "frame accounting broken"
	gend_stop || fail "gend-debug exit"
	ok "the second socket kicked by the idle controllers alone: $N of $N arrived, gout's sockets carried $frames, $kicks kicks"
else
	echo "# no gend-debug at $DBG: the controllers' kicks alone not checked"
fi
