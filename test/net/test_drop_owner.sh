#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every drop has an owner. A sender floods chain `a` (dport 5001) well past what
# one chain takes on this box, with a little unmatched traffic (dropped in XDP:
# unmatched = drop) and a firewall NF that drops one flow. Afterwards the sender
# accounts for every packet it sent to the chain with the counters gend shows:
#   sent = received + the chain's NF and worker drops + its AF_XDP socket drops
#          (rx_dropped, rx_ring_full) + XDP drops (malformed, no socket,
#          fail closed) + the receiver's own ring drops
# and every unmatched packet it sent is counted as unmatched in XDP,
# and each drop reason shows where it should: per chain in `genctl stats`,
# per port in `genctl status` and in `genctl metrics`. The input port's kernel
# rx_dropped is shown too but not added: on veth it counts again every frame a
# failed redirect to an AF_XDP socket lost (the test checks that it is exactly
# those). The sender's tx_dropped is not added either: gen-traffic does not
# count a frame its own netdev refused as sent.
. "$(dirname "$0")/lib.sh"
net_require
net_setup
cfg_begin
sed -i 's/^unmatched = pass$/unmatched = drop/' "$WORK/chains.ini"
printf 'deny proto udp dport 7777\nallow proto any\n' >"$WORK/fw.rules"
cat >>"$WORK/chains.ini" <<EOF
[nf fw]
type = firewall
rules = $WORK/fw.rules

[nf to_r0]
type = l2_rewrite
dst_mac = $MAC_R0

[chain a]
id = 1
match = proto udp dport 5001
match = proto udp dport 7777
nfs = fw to_r0
output = 2
EOF
# No IPv6 chatter from the sender's netdev: every packet reaching gin is one the test sent.
nsenter --net=/var/run/netns/"$NS_SND" sysctl -qw net.ipv6.conf.s0.disable_ipv6=1
gend_start

# Counters now, as one JSON object in $WORK/$1.json.
snap() {
	ctl --json status >"$WORK/st_$1.json" && ctl --json stats >"$WORK/sa_$1.json" || fail "status"
	nsenter --net=/var/run/netns/"$NS_SND" ip -s -j link show s0 >"$WORK/s0_$1.json"
	python3 - "$WORK" "$1" >"$WORK/$1.json" <<'PY'
import json, sys
w, n = sys.argv[1:]
st, sa = json.load(open(f"{w}/st_{n}.json")), json.load(open(f"{w}/sa_{n}.json"))
s0 = json.load(open(f"{w}/s0_{n}.json"))[0]["stats64"]["tx"]
a = [c for c in sa["chains"] if c["name"] == "a"][0]
gin = [p for p in st["port_modes"] if p["name"] == "gin"][0]
print(json.dumps({
    "chain_dropped": a["dropped"], "chain_xsk_rx_dropped": a["xsk_rx_dropped"],
    "chain_xsk_rx_ring_full": a["xsk_rx_ring_full"], "fail_dropped": a["fail_dropped"],
    "xdp_unmatched": st["xdp"]["unmatched"], "xdp_malformed": st["xdp"]["malformed"],
    "xdp_no_socket": st["xdp"]["no_socket"], "xdp_fail_closed": st["xdp"]["fail_closed"],
    "gin_kernel_rx_dropped": gin["kernel"]["rx_dropped"], "gin_fill_ring_empty": gin["fill_ring_empty"],
    "status_xsk_rx_dropped": st["xsk"]["rx_dropped"], "status_xsk_rx_ring_full": st["xsk"]["rx_ring_full"],
    "s0_tx_dropped": s0["dropped"], "fw_dropped": sum(v for nf in a["nfs"] if nf["name"] == "fw"
                                                          for k, v in nf["counters"].items() if k == "denied")}))
PY
}
sleep 0.5
snap before
recv_start flood r0 --idle 2
# Three senders at once: the chain's flood, a firewall-dropped flow, unmatched packets.
for spec in "5001 1 0" "7777 2 20000" "6000 3 20000"; do
	set -- $spec
	rate=()
	[ "$3" != 0 ] && rate=(--rate "$3")
	nsenter --net=/var/run/netns/"$NS_SND" "$GT" send --dev s0 --src-mac $MAC_S0 --dst-mac $MAC_GIN \
		--src 10.10.1.1 --dst 10.10.2.2 --dport "$1" --stream "$2" --duration 3 "${rate[@]}" --flows 8 \
		--size 64 --json >"$WORK/send_$2.json" 2>"$WORK/send_$2.err" &
	eval "S$2=\$!"
done
wait $S1 && wait $S2 && wait $S3 || fail "sender: $(cat "$WORK"/send_*.err)"
recv_wait flood
sleep 0.5
snap after
ctl status
ctl stats
ctl metrics >"$WORK/metrics.txt" || fail "metrics"
python3 - "$WORK" <<'PY' || fail "accounting"
import json, sys
w = sys.argv[1]
b, a = json.load(open(w + "/before.json")), json.load(open(w + "/after.json"))
d = {k: a[k] - b[k] for k in a}
sent = sum(json.load(open(f"{w}/send_{i}.json"))["sent"] for i in (1, 2))
sent_unmatched = json.load(open(w + "/send_3.json"))["sent"]
rcv = json.load(open(w + "/flood.json"))
owned = {
    "chain a: dropped by its NFs and port worker": d["chain_dropped"],
    "chain a: AF_XDP rx_dropped": d["chain_xsk_rx_dropped"],
    "chain a: AF_XDP rx_ring_full": d["chain_xsk_rx_ring_full"],
    "xdp: malformed": d["xdp_malformed"],
    "xdp: no socket": d["xdp_no_socket"], "xdp: fail closed": d["xdp_fail_closed"],
    "receiver ring": rcv["ring_drops"],
}
left = sent - rcv["received"] - sum(owned.values())
print(f"drops: sent to chain a {sent}, received {rcv['received']}; " + ", ".join(f"{k} {v}" for k, v in owned.items() if v) +
      f"; unaccounted {left}; unmatched: sent {sent_unmatched}, counted {d['xdp_unmatched']} (also shown: firewall denied {d['fw_dropped']}, fill ring empty on gin "
      f"{d['gin_fill_ring_empty']}, gin kernel rx_dropped {d['gin_kernel_rx_dropped']}, s0 tx_dropped {d['s0_tx_dropped']})")
ok = True
def need(cond, what):
    global ok
    if not cond:
        print("FAIL:", what); ok = False
need(left == 0, f"sent != received + owned drops ({left} left)")
# The namespaces' own frames (none expected, but not the test's to forbid) only add to unmatched.
need(sent_unmatched <= d["xdp_unmatched"] <= sent_unmatched + 100, "every unmatched packet counted in XDP")
need(0 < d["fw_dropped"] <= d["chain_dropped"], "the firewall's drops are among the chain's")
need(d["gin_kernel_rx_dropped"] == d["chain_xsk_rx_dropped"] + d["chain_xsk_rx_ring_full"],
     "gin's kernel rx_dropped is not the AF_XDP drops")
need(d["chain_xsk_rx_dropped"] + d["chain_xsk_rx_ring_full"] + d["chain_dropped"] > 0, "the flood overloaded nothing")
# The per-chain AF_XDP figures are the queue's (one chain here): nothing charged to no one.
need(d["chain_xsk_rx_dropped"] == d["status_xsk_rx_dropped"] and d["chain_xsk_rx_ring_full"] == d["status_xsk_rx_ring_full"],
     "AF_XDP drops not all charged to the chain")
sys.exit(0 if ok else 1)
PY
ok "every packet sent is received or counted as a drop with its owner"
for m in 'gen_chain_xsk_drops_total{chain="a",reason="rx_dropped"}' 'gen_chain_xsk_drops_total{chain="a",reason="rx_ring_full"}' \
	'gen_port_drops_total{port="1",counter="kernel_rx_dropped"}' 'gen_port_drops_total{port="1",counter="fill_ring_empty"}'; do
	grep -qF "$m " "$WORK/metrics.txt" || fail "metrics lack $m"
done
ok "genctl metrics shows the per-chain AF_XDP drops and the per-port drops"
python3 - "$WORK/metrics.txt" "$WORK/before.json" "$WORK/after.json" <<'PY' || fail "verdict drops in metrics"
import json, re, sys
text = open(sys.argv[1]).read()
fw = json.load(open(sys.argv[3]))["fw_dropped"] - json.load(open(sys.argv[2]))["fw_dropped"]
per_q = sum(int(v) for v in re.findall(r'^gen_chain_dropped_packets_total\{chain="a",queue="\d+",reason="verdict"\} (\d+)$', text, re.M))
m = re.search(r'^gen_chain_drops_total\{chain="a",reason="nf_verdict"\} (\d+)$', text, re.M)
assert m, "no gen_chain_drops_total nf_verdict line for chain a"
total = int(m.group(1))
print(f"verdict drops: {total} in gen_chain_drops_total, {per_q} over the queues, firewall denied {fw}")
assert total == per_q and total >= fw > 0, (total, per_q, fw)
PY
ok "gen_chain_drops_total's nf_verdict is the queues' verdict drops, the firewall's among them"
gend_stop || fail "gend exit"
