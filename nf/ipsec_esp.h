/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ipsec_esp: one ESP security association in tunnel mode (RFC 4303),
 * AES-128-CBC (RFC 3602) with HMAC-SHA1-96 (RFC 2404).
 *
 * encrypt: Eth | IPv4 ...            -> Eth | outer IPv4 | ESP | IV | E(inner | pad | padlen | 4) | ICV
 * decrypt: Eth | outer IPv4 | ESP ... -> Eth | inner IPv4 ...
 * The Ethernet header (and one 802.1Q tag) is kept as it is. nf/ipsec_esp.md
 * has the wire format and the reasoning behind sequence numbers, IVs and the
 * concurrent anti-replay window.
 */
#ifndef GEN_NF_IPSEC_ESP_H
#define GEN_NF_IPSEC_ESP_H

#include "nf.h"
#include "aes.h"
#include "sha1.h"

/*
 * The cpu backend may use the CPU's AES and SHA instructions (nf/esp_host.h);
 * nvcc and NVRTC never see that code and run the portable nf/aes.h, nf/sha1.h.
 */
#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
#include "esp_host.h"
#endif

enum {
	ESP_C_ENCRYPTED,
	ESP_C_DECRYPTED,
	ESP_C_AUTH_FAILED,
	ESP_C_REPLAY,
	ESP_C_BAD_SPI,
	ESP_C_MALFORMED,
	ESP_C_TOO_BIG,
	ESP_C_SEQ_OVERFLOW,
	ESP_C_NOT_IPV4,
	ESP_C_MAX,
};

enum { ESP_DIR_ENCRYPT = 0, ESP_DIR_DECRYPT = 1 };

#define ESP_HDR_LEN 8           /* SPI, sequence number */
#define ESP_IV_LEN 16
#define ESP_ICV_LEN 12          /* HMAC-SHA1-96 */
#define ESP_OUTER_IP_LEN 20
#define ESP_OVERHEAD_HEAD (ESP_OUTER_IP_LEN + ESP_HDR_LEN + ESP_IV_LEN)
#define ESP_NEXT_IPV4 4
#define ESP_TTL 64
#define ESP_REPLAY_MAX 1024     /* largest replay_window, packets */
#define ESP_REPLAY_SLOTS (ESP_REPLAY_MAX / 32 + 1)
#define ESP_SEQ_MAX 0xffffffffull /* no ESN: the 32-bit wire counter must not cycle */

struct nf_ipsec_esp {
	struct nf_hdr hdr;
	uint32_t direction;     /* ESP_DIR_* */
	uint32_t spi;
	uint32_t tunnel_src;    /* host byte order */
	uint32_t tunnel_dst;
	uint32_t mtu;           /* largest outer IPv4 packet, bytes */
	uint32_t replay_window; /* packets; 0 = anti-replay off */
	uint32_t replay_slots;  /* slots of replay[] in use: ceil(window / 32) + 1 */
	uint32_t host_accel;    /* host only: ESP_ACCEL_* the cpu backend may use; the GPU ignores it */
	uint32_t enc_rk[AES128_RK_WORDS];
	uint32_t dec_rk[AES128_RK_WORDS];
	uint32_t iv_rk[AES128_RK_WORDS]; /* IV key: never the traffic key */
	uint32_t hmac_istate[5];
	uint32_t hmac_ostate[5];
	uint32_t pad1[2];
	/* Host only (AES-NI): the three schedules above as bytes, at byte 624 (16-aligned). */
	uint8_t ni_enc_rk[16 * 11];
	uint8_t ni_dec_rk[16 * 11];
	uint8_t ni_iv_rk[16 * 11];
	struct aes_tables aes;  /* ends at byte 3712: the 64-bit atomics below are 8-aligned */
	/* Mutable, updated with atomics by every thread running this SA. */
	uint64_t seq_last;      /* encrypt: last sequence number handed out (64 bits: never wraps) */
	uint64_t replay_top;    /* decrypt: right edge of the window, highest accepted seq */
	/* decrypt: slot = (block << 32) | bitmap of the 32 seqs of block = seq >> 5 */
	uint64_t replay[ESP_REPLAY_SLOTS];
	uint64_t counters[ESP_C_MAX];
};
_Static_assert(sizeof(struct nf_ipsec_esp) == 4064, "ipsec_esp state crosses to the GPU");

/*
 * Overlap-safe byte moves (no libc in NF code on the GPU). The host takes the
 * compiler's memmove: byte loops were a fifth of a 64-byte packet's non-crypto
 * time on the cpu backend.
 */
NF_FN void esp_move_up(uint8_t *buf, uint32_t dst, uint32_t src, uint32_t n)
{
#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
	__builtin_memmove(buf + dst, buf + src, n);
#else
	for (uint32_t i = n; i > 0; i--)
		buf[dst + i - 1] = buf[src + i - 1];
#endif
}

NF_FN void esp_move_down(uint8_t *buf, uint32_t dst, uint32_t src, uint32_t n)
{
#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
	__builtin_memmove(buf + dst, buf + src, n);
#else
	for (uint32_t i = 0; i < n; i++)
		buf[dst + i] = buf[src + i];
#endif
}

NF_FN uint16_t esp_ip_csum(const uint8_t *ip, uint32_t hlen)
{
	uint32_t s = 0;
	for (uint32_t i = 0; i + 1 < hlen; i += 2)
		s += nf_get16(ip + i);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/*
 * Read-only anti-replay check (RFC 4303 §3.4.3), done before the ICV so that
 * replayed packets cost no HMAC. Returns 1 when s is a duplicate or left of the
 * window. The decision that counts is esp_replay_commit().
 */
NF_FN int esp_replay_seen(struct nf_ipsec_esp *st, uint32_t s)
{
	if (!st->replay_window)
		return 0;
	uint64_t top = NF_ATOMIC_LOAD64(&st->replay_top);
	if ((uint64_t)s + st->replay_window <= top)
		return 1;
	uint32_t blk = s >> 5;
	uint64_t v = NF_ATOMIC_LOAD64(&st->replay[blk % st->replay_slots]);
	uint32_t tag = (uint32_t)(v >> 32);
	return tag > blk || (tag == blk && ((v >> (s & 31)) & 1));
}

/*
 * Mark s as received, after the ICV checked out. Returns 1 if s was already
 * taken (a concurrent duplicate won) or fell left of the window.
 *
 * Each slot carries the block number it currently records in its high half,
 * so check-and-set of a bit, and recycling a slot for a newer block, are one
 * CAS on one word: no thread can clear a bit another thread just set, and a
 * sequence number is accepted at most once (see nf/ipsec_esp.md). The right
 * edge only moves up, by a CAS loop.
 */
NF_FN int esp_replay_commit(struct nf_ipsec_esp *st, uint32_t s)
{
	if (!st->replay_window)
		return 0;
	uint64_t top = NF_ATOMIC_LOAD64(&st->replay_top);
	if ((uint64_t)s + st->replay_window <= top)
		return 1;
	uint32_t blk = s >> 5;
	uint64_t *slot = &st->replay[blk % st->replay_slots];
	uint64_t bit = 1ull << (s & 31);
	uint64_t v = NF_ATOMIC_LOAD64(slot);
	for (;;) {
		uint32_t tag = (uint32_t)(v >> 32);
		uint64_t nv;
		if (tag > blk)
			return 1; /* slot recycled by a block at least a window ahead */
		if (tag == blk) {
			if (v & bit)
				return 1;
			nv = v | bit;
		} else {
			nv = ((uint64_t)blk << 32) | bit; /* older block: out of every window s belongs to */
		}
		uint64_t old = NF_ATOMIC_CAS64(slot, v, nv);
		if (old == v)
			break;
		v = old;
	}
	while ((uint64_t)s > top) {
		uint64_t old = NF_ATOMIC_CAS64(&st->replay_top, top, (uint64_t)s);
		if (old == top)
			break;
		top = old;
	}
	return 0;
}

/* The SA's read-only cipher material: the blob's, or a block's shared-memory copy on the GPU. */
struct esp_tabs {
	const struct aes_tables *aes;
	const uint32_t *enc_rk, *dec_rk, *iv_rk;
};

#if defined(__CUDACC__)
/*
 * The AES tables and round keys of one SA per block, in shared memory: every
 * packet's 5-100 AES blocks look them up 16 times a round, and shared memory
 * answers those lookups without going through L1. A second SA in the same chain
 * reads its own from the blob.
 */
struct __align__(16) esp_smem {
	struct aes_tables aes;
	uint32_t enc_rk[AES128_RK_WORDS], dec_rk[AES128_RK_WORDS], iv_rk[AES128_RK_WORDS];
	const void *owner;
};
static __shared__ struct esp_smem esp_sm;

/* The copy below moves the tables and the three key schedules as two runs of 16-byte words (NVRTC has no offsetof: nvcc checks). */
#if !defined(__CUDACC_RTC__)
static_assert(offsetof(struct nf_ipsec_esp, aes) % 16 == 0 && offsetof(struct nf_ipsec_esp, enc_rk) % 16 == 0 &&
		      offsetof(struct nf_ipsec_esp, dec_rk) == offsetof(struct nf_ipsec_esp, enc_rk) + 4 * AES128_RK_WORDS &&
		      offsetof(struct nf_ipsec_esp, iv_rk) == offsetof(struct nf_ipsec_esp, dec_rk) + 4 * AES128_RK_WORDS &&
		      offsetof(struct esp_smem, enc_rk) % 16 == 0 && (3 * 4 * AES128_RK_WORDS) % 16 == 0,
	      "esp_smem copy layout");
#endif

/* n 16-byte words from global src to shared dst by the block, four loads in flight per thread before it stores. */
static __device__ __forceinline__ void esp_copy16(uint4 *dst, const uint4 *src, uint32_t n)
{
#pragma unroll 4
	for (uint32_t k = threadIdx.x; k < n; k += blockDim.x)
		dst[k] = src[k];
}

/*
 * Every thread of the block calls this for the chain's first SA (nf_list.h: binit),
 * then syncs. The state blob is cudaMalloc'd (256-byte aligned). Word by word, a
 * 32-thread block waited for 24 dependent loads here (4 % of the fused paper
 * chain's stall samples at 4k batches, ncu, H200); the throughput change this
 * copy made was inside the runs' spread (test/bench/RESULTS.md).
 */
static __device__ __forceinline__ void nf_ipsec_esp_block_init(void *state)
{
	const struct nf_ipsec_esp *st = (const struct nf_ipsec_esp *)state;

	esp_copy16((uint4 *)&esp_sm.aes, (const uint4 *)&st->aes, sizeof(struct aes_tables) / 16);
	esp_copy16((uint4 *)esp_sm.enc_rk, (const uint4 *)st->enc_rk, 3 * 4 * AES128_RK_WORDS / 16);
	if (threadIdx.x == 0)
		esp_sm.owner = st;
}
#endif

NF_FN struct esp_tabs esp_tabs_of(const struct nf_ipsec_esp *st)
{
	struct esp_tabs t;
#if defined(__CUDA_ARCH__)
	if (esp_sm.owner == (const void *)st) {
		t.aes = &esp_sm.aes;
		t.enc_rk = esp_sm.enc_rk;
		t.dec_rk = esp_sm.dec_rk;
		t.iv_rk = esp_sm.iv_rk;
		return t;
	}
#endif
	t.aes = &st->aes;
	t.enc_rk = st->enc_rk;
	t.dec_rk = st->dec_rk;
	t.iv_rk = st->iv_rk;
	return t;
}

/* IV = AES(iv key, seq): distinct per packet (a permutation of distinct inputs),
 * unpredictable without the IV key; then CBC in place. */
NF_FN void esp_iv_cbc_encrypt_with(const struct aes_tables *aes, const uint32_t *iv_rk, const uint32_t *enc_rk,
				   uint64_t seq, uint8_t *iv_out, uint8_t *buf, uint32_t len)
{
	uint32_t iv[4] = { 0, 0, (uint32_t)(seq >> 32), (uint32_t)seq };

	aes128_enc_words(aes, iv_rk, iv);
	aes_store_block(iv_out, iv);
	aes128_cbc_encrypt(aes, enc_rk, iv_out, buf, len);
}

/*
 * The three crypto steps of a packet. On the host they take the CPU's AES and
 * SHA instructions when the builder found them (host_accel); the result is the
 * same bytes as the portable code, which the GPU always runs.
 */
NF_FN void esp_iv_cbc_encrypt(const struct nf_ipsec_esp *st, uint64_t seq, uint8_t *iv_out, uint8_t *buf,
			      uint32_t len)
{
#if defined(ESP_HOST_X86)
	if (st->host_accel & ESP_ACCEL_AESNI) {
		esp_ni_iv_cbc_encrypt(st->ni_iv_rk, st->ni_enc_rk, seq, iv_out, buf, len);
		return;
	}
#endif
#if defined(__CUDA_ARCH__)
	/*
	 * The block's copy, named by its shared variable: the lookups then compile
	 * to shared-memory loads, not generic ones (whose address space the
	 * compiler cannot tell from esp_tabs_of's pointer).
	 */
	if (esp_sm.owner == (const void *)st) {
		esp_iv_cbc_encrypt_with(&esp_sm.aes, esp_sm.iv_rk, esp_sm.enc_rk, seq, iv_out, buf, len);
		return;
	}
#endif
	struct esp_tabs t = esp_tabs_of(st);
	esp_iv_cbc_encrypt_with(t.aes, t.iv_rk, t.enc_rk, seq, iv_out, buf, len);
}

NF_FN void esp_cbc_decrypt(const struct nf_ipsec_esp *st, const uint8_t *iv, uint8_t *buf, uint32_t len)
{
#if defined(ESP_HOST_X86)
	if (st->host_accel & ESP_ACCEL_AESNI) {
		esp_ni_cbc_decrypt(st->ni_dec_rk, iv, buf, len);
		return;
	}
#endif
#if defined(__CUDA_ARCH__)
	if (esp_sm.owner == (const void *)st) { /* shared-memory loads, as in esp_iv_cbc_encrypt */
		aes128_cbc_decrypt(&esp_sm.aes, esp_sm.dec_rk, iv, buf, len);
		return;
	}
#endif
	struct esp_tabs t = esp_tabs_of(st);
	aes128_cbc_decrypt(t.aes, t.dec_rk, iv, buf, len);
}

#if defined(ESP_HOST_X86)
/*
 * The ICVs the host's decrypt batch computed ahead (esp_decrypt_batch), two
 * packets at a time, in packet order: esp_hmac hands them out as the packets
 * ask for them. job[next] is the next one no packet has taken yet.
 */
struct esp_icv_ahead {
	const struct esp_ni_mac_job *job;
	uint32_t n, next;
};
static __thread struct esp_icv_ahead esp_icv_ahead_;

/*
 * The MAC of (msg, len) if the batch computed it ahead: 1 and mac filled in,
 * else 0. Jobs before the match belong to packets that stopped before their
 * ICV (a replay, a duplicate in the same batch) and are skipped.
 */
static inline int esp_icv_take(const uint8_t *msg, uint32_t len, uint8_t mac[SHA1_DIGEST])
{
	struct esp_icv_ahead *a = &esp_icv_ahead_;

	while (a->next < a->n && a->job[a->next].msg != msg)
		a->next++;
	if (a->next == a->n || a->job[a->next].len != len)
		return 0;
	__builtin_memcpy(mac, a->job[a->next++].mac, SHA1_DIGEST);
	return 1;
}
#endif

NF_FN void esp_hmac(const struct nf_ipsec_esp *st, const uint8_t *msg, uint32_t len, uint8_t mac[SHA1_DIGEST])
{
#if defined(ESP_HOST_X86)
	if (st->host_accel & ESP_ACCEL_SHANI) {
		if (!esp_icv_take(msg, len, mac))
			esp_ni_hmac_sha1_pre(st->hmac_istate, st->hmac_ostate, msg, len, mac);
		return;
	}
#endif
	hmac_sha1_pre(st->hmac_istate, st->hmac_ostate, msg, len, mac);
}

/* One packet's encapsulation, as esp_enc_plan() sized it. */
struct esp_enc {
	uint32_t ipoff;     /* inner IPv4 header, from buf */
	uint32_t l2;        /* Ethernet (and tag) bytes, kept in front */
	uint32_t inner_len; /* inner IPv4 total length (Ethernet trailer padding is not carried) */
	uint32_t padlen;
	uint32_t ct_len;    /* inner + pad + 2, a multiple of 16 */
	uint32_t outer_len;
	uint32_t new_off;
	uint32_t esp;       /* ESP header, from buf */
	uint8_t tos, df;
};

/* Checks that need no sequence number: NF_PASS with e filled in, or NF_DROP (counted). */
NF_FN int esp_enc_plan(struct nf_ipsec_esp *st, const struct nf_pkt *p, struct esp_enc *e)
{
	uint32_t ipoff = nf_ipv4_off(p);
	if (!ipoff) {
		NF_COUNT(&st->hdr, ESP_C_NOT_IPV4);
		return NF_DROP;
	}
	const uint8_t *inner = p->buf + ipoff;
	e->ipoff = ipoff;
	e->l2 = ipoff - p->off;
	e->inner_len = nf_get16(inner + 2);
	e->tos = inner[1];
	e->df = inner[6] & 0x40;
	e->padlen = (AES_BLOCK - (e->inner_len + 2) % AES_BLOCK) % AES_BLOCK;
	e->ct_len = e->inner_len + e->padlen + 2;
	e->outer_len = ESP_OVERHEAD_HEAD + e->ct_len + ESP_ICV_LEN;
	e->new_off = p->off >= ESP_OVERHEAD_HEAD ? p->off - ESP_OVERHEAD_HEAD : 0;
	if (e->outer_len > st->mtu || (uint64_t)e->new_off + e->l2 + e->outer_len > p->cap) {
		NF_COUNT(&st->hdr, ESP_C_TOO_BIG);
		return NF_DROP;
	}
	e->esp = e->new_off + e->l2 + ESP_OUTER_IP_LEN;
	return NF_PASS;
}

/* Lay the packet out for the cipher: inner packet and L2 header moved, ESP trailer, SPI | seq. */
NF_FN void esp_enc_layout(const struct nf_ipsec_esp *st, struct nf_pkt *p, const struct esp_enc *e, uint64_t seq)
{
	uint8_t *b = p->buf;
	uint32_t ct = e->esp + ESP_HDR_LEN + ESP_IV_LEN;
	if (ct != e->ipoff)
		esp_move_up(b, ct, e->ipoff, e->inner_len); /* only when headroom < 44: ct > ipoff */
	if (e->new_off != p->off)
		esp_move_down(b, e->new_off, p->off, e->l2);
#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
	static const uint8_t pad_bytes[AES_BLOCK] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	__builtin_memcpy(b + ct + e->inner_len, pad_bytes, e->padlen); /* padlen < 16 */
#else
	for (uint32_t i = 0; i < e->padlen; i++)
		b[ct + e->inner_len + i] = (uint8_t)(i + 1);
#endif
	b[ct + e->inner_len + e->padlen] = (uint8_t)e->padlen;
	b[ct + e->inner_len + e->padlen + 1] = ESP_NEXT_IPV4;

	nf_put32(b + e->esp, st->spi);
	nf_put32(b + e->esp + 4, (uint32_t)seq);
}

/* IV, CBC in place and the ICV's HMAC of a laid-out packet. */
NF_FN void esp_enc_crypto(const struct nf_ipsec_esp *st, struct nf_pkt *p, const struct esp_enc *e, uint64_t seq,
			  uint8_t mac[SHA1_DIGEST])
{
	uint8_t *b = p->buf;
	uint32_t ct = e->esp + ESP_HDR_LEN + ESP_IV_LEN;
#if defined(ESP_HOST_X86)
	if ((st->host_accel & (ESP_ACCEL_AESNI | ESP_ACCEL_SHANI)) == (ESP_ACCEL_AESNI | ESP_ACCEL_SHANI)) {
		esp_ni_encrypt_and_mac(st->ni_iv_rk, st->ni_enc_rk, st->hmac_istate, st->hmac_ostate, seq, b + e->esp,
				       e->ct_len, mac);
		return;
	}
#endif
	esp_iv_cbc_encrypt(st, seq, b + e->esp + ESP_HDR_LEN, b + ct, e->ct_len);
	esp_hmac(st, b + e->esp, ESP_HDR_LEN + ESP_IV_LEN + e->ct_len, mac);
}

/* The ICV after the ciphertext, the outer IPv4 header, the packet's new bounds; counted. */
NF_FN int esp_enc_finish(struct nf_ipsec_esp *st, struct nf_pkt *p, const struct esp_enc *e, uint64_t seq,
			 const uint8_t mac[SHA1_DIGEST])
{
	uint8_t *b = p->buf;
	uint32_t ct = e->esp + ESP_HDR_LEN + ESP_IV_LEN;
	for (int i = 0; i < ESP_ICV_LEN; i++)
		b[ct + e->ct_len + i] = mac[i];

	uint8_t *ip = b + e->new_off + e->l2;
	ip[0] = 0x45;
	ip[1] = e->tos;
	nf_put16(ip + 2, (uint16_t)e->outer_len);
	nf_put16(ip + 4, (uint16_t)seq); /* unique among the last 65536 packets of the SA */
	ip[6] = e->df;
	ip[7] = 0;
	ip[8] = ESP_TTL;
	ip[9] = NF_IPPROTO_ESP;
	ip[10] = ip[11] = 0;
	nf_put32(ip + 12, st->tunnel_src);
	nf_put32(ip + 16, st->tunnel_dst);
	nf_put16(ip + 10, esp_ip_csum(ip, ESP_OUTER_IP_LEN));

	p->off = e->new_off;
	p->len = e->l2 + e->outer_len;
	NF_COUNT(&st->hdr, ESP_C_ENCRYPTED);
	return NF_PASS;
}

NF_FN int nf_ipsec_esp_encrypt(struct nf_ipsec_esp *st, struct nf_pkt *p)
{
	struct esp_enc e;
	if (esp_enc_plan(st, p, &e) != NF_PASS)
		return NF_DROP;
	/*
	 * The number the backend reserved for this packet with its batch (in submit
	 * order, so batches that overlap on the GPU still leave in sequence), else
	 * the next from the counter (one atomic per warp on the GPU).
	 */
	uint64_t seq = p->batch_seq ? p->batch_seq + p->seq : NF_FETCH_INC64(&st->seq_last) + 1;
	if (seq > ESP_SEQ_MAX) {
		NF_COUNT(&st->hdr, ESP_C_SEQ_OVERFLOW);
		return NF_DROP;
	}
	esp_enc_layout(st, p, &e, seq);
	uint8_t mac[SHA1_DIGEST];
	esp_enc_crypto(st, p, &e, seq, mac);
	return esp_enc_finish(st, p, &e, seq, mac);
}

NF_FN int nf_ipsec_esp_decrypt(struct nf_ipsec_esp *st, struct nf_pkt *p)
{
	uint32_t ipoff = nf_ipv4_off(p);
	if (!ipoff) {
		NF_COUNT(&st->hdr, ESP_C_NOT_IPV4);
		return NF_DROP;
	}
	uint8_t *b = p->buf;
	const uint8_t *ip = b + ipoff;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	uint32_t tot = nf_get16(ip + 2);
	/* Not ESP, a fragment (no reassembly here), or a corrupt header. */
	if (ip[9] != NF_IPPROTO_ESP || (nf_get16(ip + 6) & 0x3fff) || esp_ip_csum(ip, ihl) != 0) {
		NF_COUNT(&st->hdr, ESP_C_MALFORMED);
		return NF_DROP;
	}
	uint32_t esp = ipoff + ihl;
	uint32_t esp_len = tot - ihl;
	if (esp_len < ESP_HDR_LEN + ESP_IV_LEN + AES_BLOCK + ESP_ICV_LEN ||
	    (esp_len - ESP_HDR_LEN - ESP_IV_LEN - ESP_ICV_LEN) % AES_BLOCK) {
		NF_COUNT(&st->hdr, ESP_C_MALFORMED);
		return NF_DROP;
	}
	if (nf_get32(b + esp) != st->spi) {
		NF_COUNT(&st->hdr, ESP_C_BAD_SPI);
		return NF_DROP;
	}
	uint32_t seq = nf_get32(b + esp + 4);
	if (seq == 0 || esp_replay_seen(st, seq)) { /* 0 is never sent (RFC 4303 §3.3.3) */
		NF_COUNT(&st->hdr, ESP_C_REPLAY);
		return NF_DROP;
	}
	uint32_t ct = esp + ESP_HDR_LEN + ESP_IV_LEN;
	uint32_t ct_len = esp_len - ESP_HDR_LEN - ESP_IV_LEN - ESP_ICV_LEN;
	uint8_t mac[SHA1_DIGEST];
	esp_hmac(st, b + esp, ESP_HDR_LEN + ESP_IV_LEN + ct_len, mac);
	uint8_t diff = 0; /* constant time: no early exit on the first differing byte */
	for (int i = 0; i < ESP_ICV_LEN; i++)
		diff |= (uint8_t)(mac[i] ^ b[ct + ct_len + i]);
	if (diff) {
		NF_COUNT(&st->hdr, ESP_C_AUTH_FAILED);
		return NF_DROP;
	}
	if (esp_replay_commit(st, seq)) {
		NF_COUNT(&st->hdr, ESP_C_REPLAY);
		return NF_DROP;
	}
	esp_cbc_decrypt(st, b + esp + ESP_HDR_LEN, b + ct, ct_len);

	uint32_t padlen = b[ct + ct_len - 2];
	uint32_t bad = b[ct + ct_len - 1] != ESP_NEXT_IPV4 || padlen + 2 + 20 > ct_len;
	for (uint32_t i = 0; !bad && i < padlen; i++)
		bad |= b[ct + ct_len - 2 - padlen + i] != (uint8_t)(i + 1);
	uint32_t inner_len = ct_len - 2 - padlen;
	const uint8_t *in = b + ct;
	if (!bad)
		bad = (in[0] >> 4) != 4 || (in[0] & 0x0f) < 5 || nf_get16(in + 2) != inner_len;
	if (bad) {
		NF_COUNT(&st->hdr, ESP_C_MALFORMED);
		return NF_DROP;
	}
	uint32_t l2 = ipoff - p->off;
	uint32_t new_off = ct - l2;
	esp_move_up(b, new_off, p->off, l2);
	nf_put16(b + ct - 2, NF_ETH_P_IP); /* ethertype right before the inner header, tagged or not */
	p->off = new_off;
	p->len = l2 + inner_len;
	NF_COUNT(&st->hdr, ESP_C_DECRYPTED);
	return NF_PASS;
}

NF_FN int nf_ipsec_esp_run(void *state, struct nf_pkt *p)
{
	struct nf_ipsec_esp *st = (struct nf_ipsec_esp *)state;
	if (st->direction == ESP_DIR_DECRYPT)
		return nf_ipsec_esp_decrypt(st, p);
	return nf_ipsec_esp_encrypt(st, p);
}

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
/* Packets one call of the host batch path takes at once (more are taken in turns). */
#define ESP_BATCH_MAX 64

/*
 * Encrypt n <= ESP_BATCH_MAX packets: nf_ipsec_esp_encrypt on each, in order,
 * with the same verdicts, counters, sequence numbers and bytes, and with
 * AES-NI and SHA-NI two packets' crypto interleaved
 * (esp_ni_encrypt_and_mac_batch). The numbers are the ones the backend
 * reserved with the batch (batch_seq + seq, as on the GPU); packets called
 * without a reservation take theirs with one atomic for the call (unique,
 * gap-free, in packet order, as one by one would hand them out).
 */
static inline __attribute__((unused)) void esp_encrypt_batch(struct nf_ipsec_esp *st, struct nf_pkt *const *pk,
							     int *v, uint32_t n)
{
	struct esp_enc e[ESP_BATCH_MAX];
	uint8_t mac[ESP_BATCH_MAX][SHA1_DIGEST];
	uint64_t seq[ESP_BATCH_MAX];
	uint32_t ok[ESP_BATCH_MAX], nok = 0, nseq = 0;

	for (uint32_t k = 0; k < n; k++) {
		v[k] = esp_enc_plan(st, pk[k], &e[k]);
		if (v[k] == NF_PASS)
			ok[nok++] = k;
	}
	if (!nok)
		return;
	uint64_t first = pk[ok[0]]->batch_seq ? 0 : NF_ATOMIC_ADD64(&st->seq_last, nok) + 1;
	for (uint32_t j = 0; j < nok; j++) {
		const struct nf_pkt *p = pk[ok[j]];
		uint64_t s = p->batch_seq ? p->batch_seq + p->seq : first + j;

		if (s > ESP_SEQ_MAX) {
			/* Past the 32-bit counter: the number is spent and the packet dropped, as one by one. */
			NF_COUNT(&st->hdr, ESP_C_SEQ_OVERFLOW);
			v[ok[j]] = NF_DROP;
			continue;
		}
		ok[nseq] = ok[j];
		seq[nseq++] = s;
	}
	for (uint32_t j = 0; j < nseq; j++)
		esp_enc_layout(st, pk[ok[j]], &e[ok[j]], seq[j]);
#if defined(ESP_HOST_X86)
	if ((st->host_accel & (ESP_ACCEL_AESNI | ESP_ACCEL_SHANI)) == (ESP_ACCEL_AESNI | ESP_ACCEL_SHANI)) {
		struct esp_ni_job jobs[ESP_BATCH_MAX];
		for (uint32_t j = 0; j < nseq; j++)
			jobs[j] = (struct esp_ni_job){ .esp = pk[ok[j]]->buf + e[ok[j]].esp, .ct_len = e[ok[j]].ct_len,
						       .seq = seq[j], .mac = mac[j] };
		esp_ni_encrypt_and_mac_batch(st->ni_iv_rk, st->ni_enc_rk, st->hmac_istate, st->hmac_ostate, jobs, nseq);
	} else
#endif
	{
		for (uint32_t j = 0; j < nseq; j++)
			esp_enc_crypto(st, pk[ok[j]], &e[ok[j]], seq[j], mac[j]);
	}
	for (uint32_t j = 0; j < nseq; j++)
		esp_enc_finish(st, pk[ok[j]], &e[ok[j]], seq[j], mac[j]);
}

#if defined(ESP_HOST_X86)
/*
 * Where the ICV of a packet to decrypt lies, if it gets that far: the same
 * header checks as nf_ipsec_esp_decrypt up to its esp_hmac call, less the
 * checksum and fragment tests (a packet they stop only costs a wasted ICV
 * here). 1 and msg/len set, or 0.
 */
static inline int esp_dec_icv_span(struct nf_ipsec_esp *st, const struct nf_pkt *p, const uint8_t **msg,
				   uint32_t *len)
{
	uint32_t ipoff = nf_ipv4_off(p);
	if (!ipoff)
		return 0;
	const uint8_t *ip = p->buf + ipoff;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	uint32_t esp_len = nf_get16(ip + 2) - ihl;
	if (ip[9] != NF_IPPROTO_ESP || esp_len < ESP_HDR_LEN + ESP_IV_LEN + AES_BLOCK + ESP_ICV_LEN ||
	    (esp_len - ESP_HDR_LEN - ESP_IV_LEN - ESP_ICV_LEN) % AES_BLOCK)
		return 0;
	const uint8_t *esp = ip + ihl;
	uint32_t seq = nf_get32(esp + 4);
	if (nf_get32(esp) != st->spi || seq == 0 || esp_replay_seen(st, seq))
		return 0;
	*msg = esp;
	*len = esp_len - ESP_ICV_LEN;
	return 1;
}

/*
 * Decrypt n <= ESP_BATCH_MAX packets: nf_ipsec_esp_decrypt on each, in order
 * (same verdicts, counters, anti-replay decisions and bytes), after the ICVs
 * of the packets that look like they will need one were computed two at a
 * time (esp_ni_hmac_sha1_batch). Each packet still runs every check itself and
 * takes its precomputed ICV in esp_hmac, so a replay or a duplicate inside the
 * batch is decided exactly as one by one. The packets of a batch lie in
 * distinct frames (as in every backend batch), so no packet's decryption
 * changes the bytes another's ICV was computed over.
 */
static inline __attribute__((unused)) void esp_decrypt_batch(struct nf_ipsec_esp *st, struct nf_pkt *const *pk,
							     int *v, uint32_t n)
{
	struct esp_ni_mac_job jobs[ESP_BATCH_MAX];
	uint8_t mac[ESP_BATCH_MAX][SHA1_DIGEST];
	uint32_t nj = 0;

	for (uint32_t k = 0; k < n; k++) {
		struct esp_ni_mac_job *j = &jobs[nj];
		if (esp_dec_icv_span(st, pk[k], &j->msg, &j->len))
			j->mac = mac[nj++];
	}
	esp_ni_hmac_sha1_batch(st->hmac_istate, st->hmac_ostate, jobs, nj);
	esp_icv_ahead_ = (struct esp_icv_ahead){ .job = jobs, .n = nj };
	for (uint32_t k = 0; k < n; k++)
		v[k] = nf_ipsec_esp_decrypt(st, pk[k]);
	esp_icv_ahead_.n = 0;
}
#endif

/*
 * The cpu backend's entry: the SA over packets pk[0, n), verdicts into v, the
 * same as nf_ipsec_esp_run on each packet in turn.
 */
static inline __attribute__((unused)) void nf_ipsec_esp_run_batch(void *state, struct nf_pkt *const *pk, int *v,
								  uint32_t n)
{
	struct nf_ipsec_esp *st = (struct nf_ipsec_esp *)state;

	if (st->direction == ESP_DIR_DECRYPT) {
#if defined(ESP_HOST_X86)
		if (st->host_accel & ESP_ACCEL_SHANI) {
			for (uint32_t k = 0; k < n; k += ESP_BATCH_MAX)
				esp_decrypt_batch(st, pk + k, v + k, n - k < ESP_BATCH_MAX ? n - k : ESP_BATCH_MAX);
			return;
		}
#endif
		for (uint32_t k = 0; k < n; k++)
			v[k] = nf_ipsec_esp_decrypt(st, pk[k]);
		return;
	}
	for (uint32_t k = 0; k < n; k += ESP_BATCH_MAX)
		esp_encrypt_batch(st, pk + k, v + k, n - k < ESP_BATCH_MAX ? n - k : ESP_BATCH_MAX);
}
#endif

#endif
