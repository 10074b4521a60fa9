#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prints every operator-facing command with the output it gives, on a live gend
# (synthetic ports, cpu backend, a small nids rule set so alerts and EVE lines
# appear): the source of doc/commands.md. Root; builds its own namespace.
#   test/bench/examples.sh > doc/commands.md
. "$(dirname "$0")/../net/lib.sh"
GEN_PORTS="synth:0 synth:1"
net_require
net_setup
printf 'alert udp any any -> any 5001 (msg:"GEN example: zeros to UDP 5001"; content:"|00 00 00 00 00 00 00 00|"; sid:1000001; rev:2;)\n' >"$WORK/rules"
mkdir -p "$WORK/log"
GEN_EVE_LOG=$WORK/log/eve.json cfg_begin
cat >>"$WORK/chains.ini" <<EOF
synth_size = 128
synth_flows = 4
synth_rate = 2000
flow_idle_timeout = 60
metrics_listen = 127.0.0.1:9469

[nf ids]
type = nids
rules = $WORK/rules
action = alert

[nf fm]
type = flowmon
EOF
cfg_paper_nfs
cfg_chain web 1 "proto udp" "router ids fm esp" 2
gend_start
sleep 2
show() { # LABEL COMMAND...: the command as an operator types it, then its output
	local label=$1
	shift
	printf '\n```\n$ %s\n' "$label"
	"$@" 2>&1 | sed "s|$WORK|/etc/gen|g" | head -"${SHOW_LINES:-40}" | cut -c1-"${SHOW_COLS:-400}"
	printf '```\n'
}
g() { "$GENCTL" -s "$SOCK" "$@"; }
in_ns() { nsenter --net=/var/run/netns/"$NS_GEN" "$@"; }
echo "# Operator commands, with the output they give"
echo
echo "Captured by \`test/bench/examples.sh\` ($("$GEND" --version | awk '{print $1, $2}')): two synthetic ports,"
echo "the cpu backend, one chain ipv4_router -> nids -> flowmon -> ipsec_esp at 2 kpps per port."
echo "Paths are shown as they would be in /etc/gen; long lines are cut at 400 characters."
show "gend --version" "$GEND" --version
show "genctl --version" "$GENCTL" --version
show "gend --check /etc/gen/chains.ini" "$GEND" --check "$WORK/chains.ini"
show "genctl status" g status
show "genctl chains" g chains
show "genctl stats" g stats
show "genctl --json stats" g --json stats
SHOW_LINES=6 show "genctl stats --watch --count 3 --interval 100" g stats --watch --count 3 --interval 100
show "genctl alerts ids" g alerts ids
show "genctl flows fm" g flows fm
SHOW_LINES=24 show "genctl metrics | head -24" g metrics
SHOW_LINES=6 show "curl -s http://127.0.0.1:9469/metrics | head -6   # metrics_listen = 127.0.0.1:9469" in_ns curl -s http://127.0.0.1:9469/metrics
show "genctl synth-rate 4000" g synth-rate 4000
show "genctl reload" g reload
SHOW_LINES=1 show "head -n 1 /var/log/gen/eve.json" head -n 1 "$WORK/log/eve.json"
if command -v systemd-analyze >/dev/null; then
	SHOW_LINES=1 show "systemd-analyze security gen.service" sh -c \
		"systemd-analyze security --offline=true '$(dirname "$0")/../../systemd/gen.service' 2>/dev/null | tail -n 1"
fi
printf '\n`kill -USR1 $(pidof gend)` reopens the EVE file (logrotate); `systemctl reload gen` is `genctl reload`.\n'
gend_stop || fail "gend exit"
