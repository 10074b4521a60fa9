#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `genctl metrics` and the HTTP listener ([gen] metrics_listen) on the testbed:
# both parse with prometheus_client's text parser (Debian's python3-prometheus-client),
# follow its naming rules (counters end in _total), and count what was sent:
# chain packets in and out, NF counters, batches; a config asking for a
# non-loopback listener is refused with FILE:LINE.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
$PY -c 'import prometheus_client' 2>/dev/null || skip "needs python3-prometheus-client"
net_require
net_setup
PORT=$((20000 + $$ % 20000))
cfg_begin
cat >>"$WORK/chains.ini" <<EOF
metrics_listen = 127.0.0.1:$PORT

[nf ttl]
type = ttl_dec

[nf to_r0]
type = l2_rewrite
dst_mac = $MAC_R0

[chain web]
id = 1
match = proto udp dport 5001
nfs = ttl to_r0
output = gout
EOF
# Loopback only: another address is a config error, found by --check.
sed "s/^metrics_listen = .*/metrics_listen = 0.0.0.0:$PORT/" "$WORK/chains.ini" >"$WORK/bad.ini"
if "$GEND" --check "$WORK/bad.ini" >"$WORK/bad.out" 2>&1; then fail "metrics_listen on 0.0.0.0 accepted"; fi
grep -q "bad.ini:$(grep -n "^metrics_listen" "$WORK/bad.ini" | cut -d: -f1): metrics_listen must be a loopback IPv4 address" "$WORK/bad.out" || fail "$(cat "$WORK/bad.out")"
ok "metrics_listen outside 127.0.0.0/8 is refused with FILE:LINE"
gend_start

N=3000
recv_start a r0 --idle 2
send --dport 5001 --stream 1 --count $N --rate 20000 --flows 4 --ttl 64 --size 64
recv_wait a
ctl metrics >"$WORK/ctl.prom" || fail "genctl metrics: $(cat "$WORK/ctl.prom")"
# The listener is in gen's namespace; its loopback is only reachable there.
nsenter --net=/var/run/netns/"$NS_GEN" $PY - "$PORT" >"$WORK/http.prom" 2>"$WORK/http.err" <<'PY' || fail "HTTP scrape: $(cat "$WORK/http.err")"
import socket, sys, time, urllib.request, urllib.error
base = f"http://127.0.0.1:{sys.argv[1]}"
# Idle scrapers, more than the listener serves at once, delay nobody else.
idle = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) for _ in range(40)]
t0 = time.monotonic()
r = urllib.request.urlopen(base + "/metrics", timeout=5)
assert r.status == 200, r.status
assert time.monotonic() - t0 < 0.5, f"scrape took {time.monotonic() - t0:.2f} s beside 40 idle connections"
assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
sys.stdout.write(r.read().decode())
try:
    urllib.request.urlopen(base + "/nothing", timeout=5)
    raise SystemExit("/nothing answered 200")
except urllib.error.HTTPError as e:
    assert e.code == 404, e.code
PY
ok "genctl metrics and GET /metrics answered (404 elsewhere), beside 40 idle HTTP connections"

for src in ctl http; do
	$PY - "$WORK/$src.prom" $N <<'PY' || fail "$src metrics: $(head -c 3000 "$WORK/$src.prom")"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read(); n = int(sys.argv[2])
fams = {f.name: f for f in text_string_to_metric_families(text)}
# The parser strips _total from counter family names; every counter sample keeps it.
for f in fams.values():
    assert f.name.startswith("gen_"), f.name
    for s in f.samples:
        if f.type == "counter":
            assert s.name.endswith("_total"), s.name
def samples(fam, **labels):
    return [s for s in fams[fam].samples if all(s.labels.get(k) == v for k, v in labels.items())]
def one(fam, **labels):
    s = samples(fam, **labels)
    assert len(s) == 1, (fam, labels, s)
    return s[0].value
assert one("gen_chain_packets", chain="web", queue="0", direction="in") == n
assert one("gen_chain_packets", chain="web", queue="0", direction="out") == n
for reason in ("ring_full", "verdict", "tx_full"):
    assert one("gen_chain_dropped_packets", chain="web", queue="0", reason=reason) == 0
assert one("gen_chain_drops", chain="web", reason="nf_verdict") == 0
assert one("gen_chain_xdp_matched_packets", chain="web") == n
b = one("gen_chain_batches", chain="web")
assert 1 <= b <= n and one("gen_chain_batch_packets", chain="web") == n, b
assert one("gen_chain_info", chain="web", backend="cpu", output="gout", nfs="ttl to_r0") == 1
assert one("gen_nf_events", nf="ttl", type="ttl_dec", counter="forwarded") == n
assert one("gen_nf_events", nf="to_r0", type="l2_rewrite", counter="rewritten") == n
assert one("gen_port_info", port="2", name="gout") == 1
assert one("gen_port_tx_socket_frames", port="2", name="gout", socket="0") == n
assert len(samples("gen_queue_xsk_events", queue="0")) == 4
# Idle: the queue's frames are in its fill rings and free pool, none in the chains or TX.
w = {x: one("gen_worker_frames", queue="0", where=x) for x in ("chains", "fill", "tx", "free")}
assert w["chains"] == 0 and w["tx"] == 0 and w["fill"] > 0 and sum(w.values()) == 16384, w
assert fams["gen_worker_frames"].type == "gauge"
assert one("gen_config_generation") == 0
assert fams["gen_chain_packets"].type == "counter" and fams["gen_chain_batch_last_packets"].type == "gauge"
print(f"{len(fams)} families")
PY
done
ok "both parse with prometheus_client; chain, NF, XDP and batch counters count the $N packets"
gend_stop || fail "gend exit status"
ok "gend stopped with status 0"
