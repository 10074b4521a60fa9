// SPDX-License-Identifier: GPL-2.0
/*
 * The encoders of the daemon's event outputs, without a daemon: EVE alert
 * lines (events_format) and IPFIX messages (flowexp_encode), the latter
 * decoded field by field as RFC 7011 lays them out and, where Debian's
 * python3-scapy is installed, by scapy's IPFIX layers too.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/events.h"
#include "daemon/flowexp.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

Test(events, eve_line)
{
	char line[1024];
	int n;

	setenv("TZ", "UTC", 1);
	n = events_format(line, sizeof(line), 1764547200123456789ull, 0x0a000001, 40000, 0xc0000201, 80, 6, 2001,
			  4, "ET \\\"quoted\\\" \\; msg", false, "web", "ids");
	cr_assert_gt(n, 0);
	cr_expect_str_eq(line, "{\"timestamp\":\"2025-12-01T00:00:00.123456+0000\",\"event_type\":\"alert\","
			       "\"src_ip\":\"10.0.0.1\",\"src_port\":40000,\"dest_ip\":\"192.0.2.1\",\"dest_port\":80,"
			       "\"proto\":\"TCP\",\"chain\":\"web\",\"alert\":{\"action\":\"allowed\",\"gid\":1,"
			       "\"signature_id\":2001,\"rev\":4,\"signature\":\"ET \\\"quoted\\\" ; msg\",\"category\":\"\","
			       "\"severity\":3},\"gen\":{\"chain\":\"web\",\"nf\":\"ids\"}}");
	/* ICMP: no ports; a drop NF's events say blocked; other protocols by number. */
	n = events_format(line, sizeof(line), 0, 1, 0, 2, 0, 1, 7, 1, "m", true, "c", "n");
	cr_assert_gt(n, 0);
	cr_expect(!strstr(line, "_port"), "%s", line);
	cr_expect(strstr(line, "\"proto\":\"ICMP\"") && strstr(line, "\"action\":\"blocked\""), "%s", line);
	n = events_format(line, sizeof(line), 0, 1, 0, 2, 0, 47, 7, 1, "m", true, "c", "n");
	cr_expect(n > 0 && strstr(line, "\"proto\":\"47\""), "%s", line);
	cr_expect_eq(events_format(line, 40, 0, 1, 0, 2, 0, 47, 7, 1, "m", true, "c", "n"), -ENOSPC);
}

static const struct fx_record recs[2] = {
	{ .src = 0x0a0a0101, .dst = 0x0a0a0202, .sport = 40000, .dport = 5001, .proto = 17, .reason = 1,
	  .packets = 250, .octets = 250 * 82, .l2_octets = 250 * 96, .start_ns = 1764547200123999999ull,
	  .end_ns = 1764547201124000000ull },
	{ .src = 0xc0000201, .dst = 0xc6336401, .sport = 1, .dport = 2, .proto = 6, .reason = 2,
	  .packets = 1ull << 40, .octets = 3ull << 40, .l2_octets = 5ull << 40, .start_ns = 2000000000ull,
	  .end_ns = 3000000000ull },
};

Test(events, ipfix_layout)
{
	uint8_t buf[1400];
	size_t n = flowexp_encode(buf, sizeof(buf), recs, 2, true, 1764547201, 77, 1);
	const uint8_t *p;

	cr_assert_eq(n, 16 + 52 + 4 + 2 * FX_RECORD_LEN);
	cr_expect_eq(get16(buf), 10, "IPFIX version");
	cr_expect_eq(get16(buf + 2), n, "message length");
	cr_expect_eq(get32(buf + 4), 1764547201);
	cr_expect_eq(get32(buf + 8), 77, "sequence number");
	cr_expect_eq(get32(buf + 12), 1, "observation domain");
	p = buf + 16;
	cr_expect_eq(get16(p), 2, "template set");
	cr_expect_eq(get16(p + 2), 52);
	cr_expect_eq(get16(p + 4), FX_TEMPLATE_ID);
	cr_expect_eq(get16(p + 6), 11, "field count");
	static const uint16_t ie[11][2] = { { 8, 4 },  { 12, 4 }, { 7, 2 },   { 11, 2 },  { 4, 1 },  { 2, 8 },
					    { 1, 8 },  { 352, 8 }, { 152, 8 }, { 153, 8 }, { 136, 1 } };
	for (int i = 0; i < 11; i++) {
		cr_expect_eq(get16(p + 8 + 4 * i), ie[i][0], "field %d id", i);
		cr_expect_eq(get16(p + 10 + 4 * i), ie[i][1], "field %d length", i);
	}
	p += 52;
	cr_expect_eq(get16(p), FX_TEMPLATE_ID, "data set");
	cr_expect_eq(get16(p + 2), 4 + 2 * FX_RECORD_LEN);
	p += 4 + FX_RECORD_LEN; /* the second record */
	cr_expect_eq(get32(p), 0xc0000201);
	cr_expect_eq(get32(p + 4), 0xc6336401);
	cr_expect_eq(get16(p + 8), 1);
	cr_expect_eq(get16(p + 10), 2);
	cr_expect_eq(p[12], 6);
	cr_expect_eq(get64(p + 13), 1ull << 40);
	cr_expect_eq(get64(p + 21), 3ull << 40);
	cr_expect_eq(get64(p + 29), 5ull << 40);
	cr_expect_eq(get64(p + 37), 2000, "flowStartMilliseconds");
	cr_expect_eq(get64(p + 45), 3000, "flowEndMilliseconds");
	cr_expect_eq(p[53], 2, "flowEndReason");
	/* Without the template; nothing that does not fit. */
	cr_expect_eq(flowexp_encode(buf, sizeof(buf), recs, 1, false, 0, 0, 1), 16 + 4 + FX_RECORD_LEN);
	cr_expect_eq(flowexp_encode(buf, 100, recs, 2, true, 0, 0, 1), 0);
}

/* scapy's reading of the same two messages: template from the first, records of both. */
Test(events, ipfix_scapy_decodes)
{
	const char *py = "/usr/bin/python3";
	char dir[] = "/tmp/gen-ipfix-XXXXXX", path[64], script[64], cmd[256], out[2048] = "";
	uint8_t buf[1400];
	size_t n;
	FILE *f;

	if (access(py, X_OK) || system("/usr/bin/python3 -c 'import scapy.layers.netflow' 2>/dev/null"))
		cr_skip_test("python3-scapy is not installed");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/m", dir);
	f = fopen(path, "wb");
	cr_assert_not_null(f);
	n = flowexp_encode(buf, sizeof(buf), recs, 2, true, 1764547201, 0, 1);
	fputc((int)(n >> 8), f);
	fputc((int)(n & 0xff), f);
	fwrite(buf, 1, n, f);
	n = flowexp_encode(buf, sizeof(buf), recs, 1, false, 1764547202, 2, 1);
	fputc((int)(n >> 8), f);
	fputc((int)(n & 0xff), f);
	fwrite(buf, 1, n, f);
	fclose(f);
	snprintf(script, sizeof(script), "%s/d.py", dir);
	f = fopen(script, "w");
	cr_assert_not_null(f);
	fputs("import sys\n"
	      "from scapy.layers.netflow import NetflowHeader, NetflowHeaderV10, NetflowDataflowsetV9, netflowv9_defragment\n"
	      "raw = open(sys.argv[1], 'rb').read(); m = []\n"
	      "while raw: n = raw[0] << 8 | raw[1]; m.append(raw[2:2 + n]); raw = raw[2 + n:]\n"
	      "num = lambda v: int.from_bytes(v, 'big') if isinstance(v, bytes) else int(v)\n"
	      "for p in netflowv9_defragment([NetflowHeader(x) for x in m]):\n"
	      "  print('seq', p[NetflowHeaderV10].flowSequence)\n"
	      "  for r in p[NetflowDataflowsetV9].records: print(r.IPV4_SRC_ADDR, r.IPV4_DST_ADDR, num(r.L4_SRC_PORT),"
	      " num(r.L4_DST_PORT), num(r.PROTOCOL), num(r.IN_PKTS), num(r.IN_BYTES), num(r.layer2OctetDeltaCount),"
	      " num(r.flowStartMilliseconds), num(r.flowEndMilliseconds), num(r.flowEndReason))\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s %s %s 2>&1", py, script, path);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	cr_assert_eq(pclose(f), 0, "scapy: %s", out);
	unlink(path);
	unlink(script);
	rmdir(dir);
	cr_expect_str_eq(out, "seq 0\n"
			      "10.10.1.1 10.10.2.2 40000 5001 17 250 20500 24000 1764547200123 1764547201124 1\n"
			      "192.0.2.1 198.51.100.1 1 2 6 1099511627776 3298534883328 5497558138880 2000 3000 2\n"
			      "seq 2\n"
			      "10.10.1.1 10.10.2.2 40000 5001 17 250 20500 24000 1764547200123 1764547201124 1\n");
}
