// SPDX-License-Identifier: GPL-2.0
/* Frame layout shared by sender and receiver: templates, fill, checksums, parsing. */
#include "gt.h"

#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <string.h>

/* 7 x 64, 4 x 594, 1 x 1518 (FCS included), interleaved so any window is mixed. */
const uint16_t gt_imix_sizes[GT_IMIX_CYCLE] = {
	64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 64, 594,
};

uint64_t gt_csum_add(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	/* Native-order words: the one's-complement sum is byte-order neutral. */
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		sum += (w & 0xffffffffu) + (w >> 32);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		sum += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;

		memcpy(&w, p, 2);
		sum += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t b[2] = { *p, 0 };
		uint16_t w;

		memcpy(&w, b, 2);
		sum += w;
	}
	return sum;
}

uint16_t gt_csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t fill_seed(uint16_t stream, uint64_t seq)
{
	uint64_t x = splitmix64((uint64_t)stream << 48 ^ (seq & GT_SEQ_MASK));

	return x ? x : 1; /* xorshift never leaves zero */
}

static inline uint64_t xorshift64(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

void gt_fill(uint8_t *dst, size_t len, uint16_t stream, uint64_t seq, bool zero)
{
	uint64_t x = fill_seed(stream, seq);

	if (zero) {
		memset(dst, 0, len);
		return;
	}
	/* Fill word k is the k-th xorshift step, little endian at byte 8k. */
	for (; len >= 8; len -= 8, dst += 8) {
		uint64_t w;

		x = xorshift64(x);
		w = htole64(x);
		memcpy(dst, &w, 8);
	}
	if (len) {
		uint64_t w;

		x = xorshift64(x);
		w = htole64(x);
		memcpy(dst, &w, len);
	}
}

size_t gt_fill_check(const uint8_t *p, size_t len, uint16_t stream, uint64_t seq, bool zero)
{
	uint64_t x = fill_seed(stream, seq);

	/* Word compares: this runs on every byte the receiver gets. */
	for (size_t off = 0; off < len; off += 8) {
		size_t n = len - off < 8 ? len - off : 8;
		uint64_t got, want;

		x = xorshift64(x);
		want = zero ? 0 : htole64(x);
		if (n == 8) {
			memcpy(&got, p + off, 8);
			if (got == want)
				continue;
		} else if (!memcmp(p + off, &want, n)) {
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if (p[off + i] != ((const uint8_t *)&want)[i])
				return off + i;
	}
	return len;
}

static uint32_t l4_len(int proto)
{
	return proto == IPPROTO_TCP ? GT_TCP_LEN : GT_UDP_LEN;
}

uint32_t gt_min_frame(const struct gt_send_opts *o, uint32_t payload_len)
{
	uint32_t n = GT_ETH_LEN + (o->vlan >= 0 ? GT_VLAN_LEN : 0) + GT_IP_LEN +
		     l4_len(o->proto) + sizeof(struct gt_hdr) + payload_len;

	return n < GT_FRAME_MIN ? GT_FRAME_MIN : n;
}

void gt_tmpl_init(struct gt_tmpl *t, const struct gt_send_opts *o, uint32_t len)
{
	uint8_t *p = t->buf;
	uint32_t off = 0, ip_len, seg_len;
	uint16_t v16;

	memset(t, 0, sizeof(*t));
	t->len = len;
	memcpy(p, o->dst_mac, 6);
	memcpy(p + 6, o->src_mac, 6);
	off = 12;
	if (o->vlan >= 0) {
		v16 = htons(0x8100);
		memcpy(p + off, &v16, 2);
		v16 = htons((uint16_t)o->vlan);
		memcpy(p + off + 2, &v16, 2);
		off += GT_VLAN_LEN;
	}
	v16 = htons(0x0800);
	memcpy(p + off, &v16, 2);
	off += 2;

	t->l3_off = off;
	ip_len = len - off;
	p[off] = 0x45;
	p[off + 1] = 0;
	v16 = htons((uint16_t)ip_len);
	memcpy(p + off + 2, &v16, 2);
	/* ID 0 with DF: atomic datagrams need no unique ID (RFC 6864). */
	v16 = htons(0x4000);
	memcpy(p + off + 6, &v16, 2);
	p[off + 8] = o->ttl;
	p[off + 9] = (uint8_t)o->proto;
	memcpy(p + off + 12, &o->src_ip, 4);
	memcpy(p + off + 16, &o->dst_ip, 4);
	v16 = gt_csum_fold(gt_csum_add(0, p + off, GT_IP_LEN));
	memcpy(p + off + 10, &v16, 2);

	t->l4_off = off + GT_IP_LEN;
	seg_len = ip_len - GT_IP_LEN;
	if (o->proto == IPPROTO_TCP) {
		uint8_t *tcp = p + t->l4_off;

		tcp[8 + 3] = 1;          /* ack 1 */
		tcp[12] = 5 << 4;        /* data offset 5 words */
		tcp[13] = 0x18;          /* PSH|ACK: looks like mid-connection data */
		v16 = htons(65535);
		memcpy(tcp + 14, &v16, 2);
	} else {
		v16 = htons((uint16_t)seg_len);
		memcpy(p + t->l4_off + 4, &v16, 2);
	}
	t->gen_off = t->l4_off + l4_len(o->proto);
	t->fill_off = t->gen_off + sizeof(struct gt_hdr);
	p[t->gen_off] = GT_MAGIC0;
	p[t->gen_off + 1] = GT_MAGIC1;
	gt_put_be(p + t->gen_off + 2, o->stream, 2);

	{
		uint8_t ph[4] = { 0, (uint8_t)o->proto, (uint8_t)(seg_len >> 8), (uint8_t)seg_len };

		t->pseudo_sum = gt_csum_add(gt_csum_add(0, &o->src_ip, 4), &o->dst_ip, 4);
		t->pseudo_sum = gt_csum_add(t->pseudo_sum, ph, 4);
	}
}

uint64_t gt_build(uint8_t *dst, const struct gt_tmpl *t, const struct gt_send_opts *o,
		  uint16_t sport, uint16_t dport, uint64_t seq, bool marked)
{
	struct gt_hdr *h = (struct gt_hdr *)(dst + t->gen_off);
	uint32_t fill_at = t->fill_off;
	uint16_t v16;

	memcpy(dst, t->buf, t->fill_off);
	v16 = htons(sport);
	memcpy(dst + t->l4_off, &v16, 2);
	v16 = htons(dport);
	memcpy(dst + t->l4_off + 2, &v16, 2);
	/* TCP seq steps by one per packet, not by payload length: GRO on a
	 * receiving veth never sees contiguous segments, so never merges ours. */
	if (o->proto == IPPROTO_TCP)
		gt_put_be(dst + t->l4_off + 4, (uint32_t)seq, 4);
	gt_put_be(h->seq, seq & GT_SEQ_MASK, 6);
	memset(h->ts, 0, sizeof(h->ts));
	h->flags = (marked ? GT_F_MARKED : 0) | (o->fill_zero ? GT_F_FILL_ZERO : 0);
	h->mark_len = marked ? (uint8_t)o->payload_len : 0;
	if (marked) {
		memcpy(dst + fill_at, o->payload, o->payload_len);
		fill_at += o->payload_len;
	}
	/* The fill starts after the payload: the receiver needs only mark_len. */
	gt_fill(dst + fill_at, t->len - fill_at, o->stream, seq, o->fill_zero);
	if (o->proto == IPPROTO_UDP && !o->udp_csum)
		return 0;
	memset(dst + t->l4_off + (o->proto == IPPROTO_TCP ? 16 : 6), 0, 2);
	return gt_csum_add(t->pseudo_sum, dst + t->l4_off, t->len - t->l4_off);
}

void gt_stamp(uint8_t *dst, const struct gt_tmpl *t, const struct gt_send_opts *o,
	      uint64_t partial, uint64_t ts_ns)
{
	struct gt_hdr *h = (struct gt_hdr *)(dst + t->gen_off);
	uint16_t c;

	gt_put_be(h->ts, ts_ns & GT_SEQ_MASK, 6);
	if (o->proto == IPPROTO_UDP && !o->udp_csum)
		return;
	/* ts sits at an even offset of the L4 segment: add its three words. */
	c = gt_csum_fold(gt_csum_add(partial, h->ts, sizeof(h->ts)));
	if (o->proto == IPPROTO_UDP && c == 0)
		c = 0xffff; /* 0 would mean "no checksum" */
	memcpy(dst + t->l4_off + (o->proto == IPPROTO_TCP ? 16 : 6), &c, 2);
}

enum gt_parse_result gt_parse(const uint8_t *f, uint32_t len, struct gt_parsed *ret)
{
	uint32_t off = 12, ihl, ip_len, l4, seg_len;
	uint16_t type;
	const struct gt_hdr *h;
	const uint8_t *ip;
	uint64_t sum;
	bool zero;

	if (len < GT_ETH_LEN)
		return GT_P_FOREIGN;
	ret->wire_len = len;
	ret->vlan = -1;
	ret->dst_mac = f;
	ret->src_mac = f + 6;
	type = (uint16_t)gt_get_be(f + off, 2);
	while ((type == 0x8100 || type == 0x88a8) && off + 6 <= len) {
		if (ret->vlan < 0)
			ret->vlan = (int)(gt_get_be(f + off + 2, 2) & 0xfff);
		off += GT_VLAN_LEN;
		type = (uint16_t)gt_get_be(f + off, 2);
	}
	off += 2;
	if (type != 0x0800 || off + GT_IP_LEN > len)
		return GT_P_FOREIGN;
	ip = f + off;
	ihl = (ip[0] & 0xf) * 4u;
	if ((ip[0] >> 4) != 4 || ihl < GT_IP_LEN)
		return GT_P_FOREIGN;
	ret->proto = ip[9];
	if (ret->proto != IPPROTO_UDP && ret->proto != IPPROTO_TCP)
		return GT_P_FOREIGN;
	if (gt_get_be(ip + 6, 2) & 0x3fff) /* fragments never carry our header whole */
		return GT_P_FOREIGN;
	ip_len = (uint32_t)gt_get_be(ip + 2, 2);
	if (ip_len < ihl || off + ip_len > len || off + ihl + GT_UDP_LEN > len)
		return GT_P_FOREIGN;
	l4 = off + ihl;
	if (ret->proto == IPPROTO_TCP) {
		uint32_t doff;

		if (l4 + GT_TCP_LEN > off + ip_len)
			return GT_P_FOREIGN;
		doff = (f[l4 + 12] >> 4) * 4u;
		if (doff < GT_TCP_LEN || l4 + doff > off + ip_len)
			return GT_P_FOREIGN;
		seg_len = doff;
	} else {
		seg_len = GT_UDP_LEN;
	}
	if (l4 + seg_len + sizeof(*h) > off + ip_len)
		return GT_P_FOREIGN;
	h = (const struct gt_hdr *)(f + l4 + seg_len);
	if (h->magic[0] != GT_MAGIC0 || h->magic[1] != GT_MAGIC1)
		return GT_P_FOREIGN;

	ret->ttl = ip[8];
	ret->sport = (uint16_t)gt_get_be(f + l4, 2);
	ret->dport = (uint16_t)gt_get_be(f + l4 + 2, 2);
	ret->stream = (uint16_t)gt_get_be(h->stream, 2);
	ret->seq = gt_get_be(h->seq, 6);
	ret->ts = gt_get_be(h->ts, 6);
	ret->flags = h->flags;
	ret->mark_len = h->mark_len;

	if (h->flags & ~GT_F_KNOWN)
		return GT_P_BAD_HDR;
	if (!(h->flags & GT_F_MARKED) && h->mark_len)
		return GT_P_BAD_HDR;
	seg_len = off + ip_len - l4; /* whole L4 segment from here on */
	if (ret->proto == IPPROTO_UDP && gt_get_be(f + l4 + 4, 2) != seg_len)
		return GT_P_BAD_HDR;
	if ((uint32_t)((const uint8_t *)(h + 1) - f) + h->mark_len > off + ip_len)
		return GT_P_BAD_HDR;
	if (gt_csum_fold(gt_csum_add(0, ip, ihl)) != 0)
		return GT_P_BAD_IP_CSUM;
	if (ret->proto == IPPROTO_TCP || gt_get_be(f + l4 + 6, 2) != 0) {
		uint8_t ph[4] = { 0, ret->proto, (uint8_t)(seg_len >> 8), (uint8_t)seg_len };

		sum = gt_csum_add(gt_csum_add(0, ip + 12, 8), ph, 4);
		if (gt_csum_fold(gt_csum_add(sum, f + l4, seg_len)) != 0)
			return GT_P_BAD_L4_CSUM;
	}
	{
		const uint8_t *fill = (const uint8_t *)(h + 1) + h->mark_len;
		size_t fill_len = (size_t)(f + off + ip_len - fill);

		zero = h->flags & GT_F_FILL_ZERO;
		if (gt_fill_check(fill, fill_len, ret->stream, ret->seq, zero) != fill_len)
			return GT_P_BAD_FILL;
	}
	return GT_P_OK;
}
