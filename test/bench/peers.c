// SPDX-License-Identifier: GPL-2.0
/*
 * CPU peers for gen-bench (see peers.h): OpenSSL and Hyperscan on the bench's
 * packets, on persistent worker threads. Figures only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#ifdef GEN_HAVE_HYPERSCAN
#include <hs.h>
#endif
#include "nf/ipsec_esp.h"
#include "test/bench/peers.h"

#define PEERS_BUF 4096     /* one output record or frame copy: frames are at most 2048 */
#define PEERS_HEADROOM 256 /* as the bench's UMEM frames */
#define PEERS_THREADS_MAX 256

struct peers {
	struct peers_config cfg;
	EVP_CIPHER *stitched; /* NULL where this OpenSSL has no stitched code for the CPU */
	EVP_CIPHER *cbc, *ecb;
	EVP_MAC *hmac;
#ifdef GEN_HAVE_HYPERSCAN
	hs_database_t *db;
	hs_scratch_t *scratch; /* prototype, cloned per worker */
#endif
	uint32_t hs_patterns;
	const char *hs_why; /* why there is no database */
};

struct peers_worker {
	struct peers *p;
	EVP_CIPHER_CTX *tls, *cbc, *ecb;
	EVP_MAC_CTX *mac;
	EVP_CIPHER_CTX *cbc_run; /* the fast variant's: never re-initialised, see peers_esp_seal_fast */
	uint8_t chain[AES_BLOCK]; /* cbc_run's chaining value: its last ciphertext block */
	SHA_CTX ipad, opad;       /* SHA-1 states after the HMAC key blocks */
#ifdef GEN_HAVE_HYPERSCAN
	hs_scratch_t *scratch;
#endif
	uint8_t *out;   /* PEERS_BUF */
	uint8_t *frame; /* PEERS_BUF: the chain peer's copy of the frame */
	uint64_t seq;
	/* Set by the run loop. */
	uint64_t count, matches;
};

static const char *const names[PEER_MAX] = {
	[PEER_STITCHED] = "openssl aes-128-cbc-hmac-sha1 stitched (TLS record, MAC then encrypt)",
	[PEER_ESP] = "openssl esp, plain EVP: cbc re-init per IV, then EVP_MAC hmac-sha1",
	[PEER_ESP_FAST] = "openssl esp, tuned: EVP cbc chained, SHA1 with kept pads",
	[PEER_HS] = "hyperscan literal scan of the nids contents",
	[PEER_CHAIN] = "peer chain: router lookup + hyperscan + openssl esp",
};

const char *peers_name(int peer)
{
	return peer >= 0 && peer < PEER_MAX ? names[peer] : "?";
}

uint32_t peers_hs_patterns(const struct peers *p)
{
	return p->hs_patterns;
}

/* ---- Hyperscan database from the nids NF's contents ------------------------------ */

#ifdef GEN_HAVE_HYPERSCAN
struct lit {
	const char *s;
	size_t len;
	unsigned int flags;
};

static int lit_cmp(const void *a, const void *b)
{
	const struct lit *x = a, *y = b;

	if (x->flags != y->flags)
		return x->flags < y->flags ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->s, y->s, x->len);
}

/*
 * The positive contents of the loaded blob's rules that the NF's automaton
 * indexes, deduplicated: those of NIDS_INDEX_MIN bytes or more, and a rule's
 * longest when all of its contents are shorter and the NF does not find the
 * rule through its ports (the keys table) instead: one- to three-byte
 * literals hit nearly every packet. The NF indexes prefixes and verifies whole
 * contents; here the whole contents are the literals, and nothing is verified.
 */
static int hs_build(struct peers *p, const struct nf_nids *st)
{
	const struct nids_rule *rules = NF_AT(st, st->rules_off, const struct nids_rule *);
	const struct nids_content *con = NF_AT(st, st->contents_off, const struct nids_content *);
	size_t total = 0, n = 0;
	hs_compile_error_t *cerr = NULL;
	int r = 0;

	const struct nids_port_key *keys = NF_AT(st, st->keys_off, const struct nids_port_key *);
	uint8_t *by_port = calloc(st->nrules ? st->nrules : 1, 1);

	for (uint32_t i = 0; i < st->nrules; i++)
		total += rules[i].ncontents;
	for (uint32_t i = 0; by_port && i < st->nkeys; i++)
		if (keys[i].rule < st->nrules)
			by_port[keys[i].rule] = 1;
	struct lit *l = calloc(total ? total : 1, sizeof(*l));
	const char **expr = calloc(total ? total : 1, sizeof(*expr));
	unsigned int *flags = calloc(total ? total : 1, sizeof(*flags)), *ids = calloc(total ? total : 1, sizeof(*ids));
	size_t *lens = calloc(total ? total : 1, sizeof(*lens));
	if (!l || !expr || !flags || !ids || !lens || !by_port) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < st->nrules; i++) {
		uint32_t longest = 0;
		for (uint32_t k = 0; k < rules[i].ncontents; k++) {
			const struct nids_content *c = &con[rules[i].content + k];
			if (!(c->flags & NIDS_CF_NEGATED) && c->len > longest)
				longest = c->len;
		}
		for (uint32_t k = 0; k < rules[i].ncontents; k++) {
			const struct nids_content *c = &con[rules[i].content + k];
			if ((c->flags & NIDS_CF_NEGATED) || !c->len ||
			    (c->len < NIDS_INDEX_MIN && (c->len < longest || by_port[i])))
				continue;
			l[n++] = (struct lit){ .s = NF_AT(st, c->bytes, const char *), .len = c->len,
					       .flags = (c->flags & NIDS_CF_NOCASE) ? HS_FLAG_CASELESS : 0 };
		}
	}
	qsort(l, n, sizeof(*l), lit_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++) {
		if (u && !lit_cmp(&l[u - 1], &l[i]))
			continue;
		l[u++] = l[i];
	}
	if (!u) {
		p->hs_why = "n/a (the nids rules have no contents)";
		goto out;
	}
	for (size_t i = 0; i < u; i++) {
		expr[i] = l[i].s;
		lens[i] = l[i].len;
		flags[i] = l[i].flags | HS_FLAG_SINGLEMATCH;
		ids[i] = (unsigned int)i;
	}
	if (hs_compile_lit_multi(expr, flags, ids, lens, (unsigned int)u, HS_MODE_BLOCK, NULL, &p->db, &cerr) !=
	    HS_SUCCESS) {
		fprintf(stderr, "peers: hyperscan compile of %zu literals: %s\n", u, cerr ? cerr->message : "?");
		hs_free_compile_error(cerr);
		p->hs_why = "n/a (hyperscan could not compile the contents)";
		r = -EINVAL;
		goto out;
	}
	if (hs_alloc_scratch(p->db, &p->scratch) != HS_SUCCESS) {
		hs_free_database(p->db);
		p->db = NULL;
		p->hs_why = "n/a (hyperscan scratch)";
		r = -ENOMEM;
		goto out;
	}
	p->hs_patterns = (uint32_t)u;
out:
	free(by_port);
	free(l);
	free(expr);
	free(flags);
	free(ids);
	free(lens);
	return r;
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int fl, void *ctx)
{
	(*(unsigned int *)ctx)++;
	return 0;
}
#endif

int peers_hs_count(struct peers_worker *w, const uint8_t *buf, uint32_t len)
{
#ifdef GEN_HAVE_HYPERSCAN
	unsigned int found = 0;

	if (!w->p->db)
		return -EOPNOTSUPP;
	if (hs_scan(w->p->db, (const char *)buf, len, 0, w->scratch, on_match, &found) != HS_SUCCESS)
		return -EIO;
	return (int)found;
#else
	return -EOPNOTSUPP;
#endif
}

/* ---- set-up ---------------------------------------------------------------------- */

struct peers *peers_create(const struct peers_config *cfg, char *why, size_t len)
{
	struct peers *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	p->cfg = *cfg;
	p->cbc = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
	p->ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	p->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!p->cbc || !p->ecb || !p->hmac) {
		snprintf(why, len, "OpenSSL has no AES-128-CBC, AES-128-ECB or HMAC");
		peers_destroy(p);
		errno = ENOENT;
		return NULL;
	}
	/* The default provider offers it only where the CPU has AES-NI (and SHA code to stitch). */
	p->stitched = EVP_CIPHER_fetch(NULL, "AES-128-CBC-HMAC-SHA1", NULL);
#ifdef GEN_HAVE_HYPERSCAN
	if (!cfg->nids)
		p->hs_why = "n/a (no nids NF in the chain)";
	else
		hs_build(p, cfg->nids);
#else
	p->hs_why = "n/a (built without Hyperscan)";
#endif
	return p;
}

void peers_destroy(struct peers *p)
{
	if (!p)
		return;
	EVP_CIPHER_free(p->stitched);
	EVP_CIPHER_free(p->cbc);
	EVP_CIPHER_free(p->ecb);
	EVP_MAC_free(p->hmac);
#ifdef GEN_HAVE_HYPERSCAN
	if (p->scratch)
		hs_free_scratch(p->scratch);
	if (p->db)
		hs_free_database(p->db);
#endif
	free(p);
}

/*
 * The fastest HMAC-SHA1 libcrypto offers per message: the SHA-1 states after
 * (key ^ ipad) and (key ^ opad) kept, copied by value per packet (EVP_MAC's
 * re-init duplicates a digest context on the heap each time). SHA1_* is
 * deprecated API in OpenSSL 3 but still the library's SHA-NI code.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void hmac_pads(const uint8_t key[20], SHA_CTX *ipad, SHA_CTX *opad)
{
	uint8_t blk[SHA_CBLOCK];

	for (int i = 0; i < SHA_CBLOCK; i++)
		blk[i] = (uint8_t)((i < 20 ? key[i] : 0) ^ 0x36);
	SHA1_Init(ipad);
	SHA1_Update(ipad, blk, sizeof(blk));
	for (int i = 0; i < SHA_CBLOCK; i++)
		blk[i] = (uint8_t)((i < 20 ? key[i] : 0) ^ 0x5c);
	SHA1_Init(opad);
	SHA1_Update(opad, blk, sizeof(blk));
}

static void hmac_fast(const struct peers_worker *w, const uint8_t *msg, size_t len, uint8_t md[SHA_DIGEST_LENGTH])
{
	SHA_CTX c = w->ipad;

	SHA1_Update(&c, msg, len);
	SHA1_Final(md, &c);
	c = w->opad;
	SHA1_Update(&c, md, SHA_DIGEST_LENGTH);
	SHA1_Final(md, &c);
}
#pragma GCC diagnostic pop

void peers_worker_free(struct peers_worker *w)
{
	if (!w)
		return;
	EVP_CIPHER_CTX_free(w->tls);
	EVP_CIPHER_CTX_free(w->cbc);
	EVP_CIPHER_CTX_free(w->ecb);
	EVP_MAC_CTX_free(w->mac);
	EVP_CIPHER_CTX_free(w->cbc_run);
#ifdef GEN_HAVE_HYPERSCAN
	if (w->scratch)
		hs_free_scratch(w->scratch);
#endif
	free(w->out);
	free(w->frame);
	free(w);
}

struct peers_worker *peers_worker_new(struct peers *p)
{
	static const uint8_t zero_iv[16];
	struct peers_worker *w = calloc(1, sizeof(*w));
	OSSL_PARAM params[2] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0),
				 OSSL_PARAM_construct_end() };

	if (!w)
		return NULL;
	w->p = p;
	w->out = aligned_alloc(64, PEERS_BUF);
	w->frame = aligned_alloc(64, PEERS_BUF);
	w->cbc = EVP_CIPHER_CTX_new();
	w->ecb = EVP_CIPHER_CTX_new();
	w->mac = EVP_MAC_CTX_new(p->hmac);
	w->cbc_run = EVP_CIPHER_CTX_new();
	if (!w->out || !w->frame || !w->cbc || !w->ecb || !w->mac || !w->cbc_run ||
	    !EVP_EncryptInit_ex2(w->cbc, p->cbc, p->cfg.enc_key, zero_iv, NULL) ||
	    !EVP_EncryptInit_ex2(w->cbc_run, p->cbc, p->cfg.enc_key, zero_iv, NULL) ||
	    !EVP_EncryptInit_ex2(w->ecb, p->ecb, p->cfg.iv_key, NULL, NULL) ||
	    !EVP_MAC_init(w->mac, p->cfg.auth_key, sizeof(p->cfg.auth_key), params))
		goto fail;
	EVP_CIPHER_CTX_set_padding(w->cbc, 0);
	EVP_CIPHER_CTX_set_padding(w->cbc_run, 0);
	EVP_CIPHER_CTX_set_padding(w->ecb, 0);
	memset(w->chain, 0, sizeof(w->chain));
	hmac_pads(p->cfg.auth_key, &w->ipad, &w->opad);
	memset(w->frame, 0, PEERS_BUF);
	if (p->stitched) {
		w->tls = EVP_CIPHER_CTX_new();
		if (!w->tls || !EVP_EncryptInit_ex2(w->tls, p->stitched, p->cfg.enc_key, zero_iv, NULL) ||
		    EVP_CIPHER_CTX_ctrl(w->tls, EVP_CTRL_AEAD_SET_MAC_KEY, sizeof(p->cfg.auth_key),
					(void *)p->cfg.auth_key) <= 0)
			goto fail;
	}
#ifdef GEN_HAVE_HYPERSCAN
	if (p->db && hs_clone_scratch(p->scratch, &w->scratch) != HS_SUCCESS)
		goto fail;
#endif
	return w;
fail:
	peers_worker_free(w);
	errno = ENOMEM;
	return NULL;
}

/* ---- the per-packet operations --------------------------------------------------- */

int peers_esp_seal(struct peers_worker *w, uint64_t seq, const uint8_t *inner, uint32_t len, uint8_t *out)
{
	uint32_t padlen = (AES_BLOCK - (len + 2) % AES_BLOCK) % AES_BLOCK;
	uint32_t ct_len = len + padlen + 2, full = len & ~(uint32_t)(AES_BLOCK - 1);
	uint8_t ctr[16] = { 0 }, tail[2 * AES_BLOCK], md[EVP_MAX_MD_SIZE];
	uint8_t *ct = out + ESP_HDR_LEN + ESP_IV_LEN;
	size_t mdlen;
	int l;

	nf_put32(out, w->p->cfg.spi);
	nf_put32(out + 4, (uint32_t)seq);
	nf_put32(ctr + 8, (uint32_t)(seq >> 32));
	nf_put32(ctr + 12, (uint32_t)seq);
	if (!EVP_EncryptUpdate(w->ecb, out + ESP_HDR_LEN, &l, ctr, AES_BLOCK) ||
	    !EVP_EncryptInit_ex2(w->cbc, NULL, NULL, out + ESP_HDR_LEN, NULL))
		return -EIO;
	/* Whole blocks straight from the packet; the last partial one with the trailer from a copy. */
	if (full && !EVP_EncryptUpdate(w->cbc, ct, &l, inner, (int)full))
		return -EIO;
	memcpy(tail, inner + full, len - full);
	for (uint32_t i = 0; i < padlen; i++)
		tail[len - full + i] = (uint8_t)(i + 1);
	tail[ct_len - full - 2] = (uint8_t)padlen;
	tail[ct_len - full - 1] = ESP_NEXT_IPV4;
	if (!EVP_EncryptUpdate(w->cbc, ct + full, &l, tail, (int)(ct_len - full)))
		return -EIO;
	if (!EVP_MAC_init(w->mac, NULL, 0, NULL) ||
	    !EVP_MAC_update(w->mac, out, ESP_HDR_LEN + ESP_IV_LEN + ct_len) ||
	    !EVP_MAC_final(w->mac, md, &mdlen, sizeof(md)))
		return -EIO;
	memcpy(ct + ct_len, md, ESP_ICV_LEN);
	return (int)(ESP_HDR_LEN + ESP_IV_LEN + ct_len + ESP_ICV_LEN);
}


int peers_esp_seal_fast(struct peers_worker *w, uint64_t seq, const uint8_t *inner, uint32_t len, uint8_t *out)
{
	uint32_t padlen = (AES_BLOCK - (len + 2) % AES_BLOCK) % AES_BLOCK;
	uint32_t ct_len = len + padlen + 2, full = len & ~(uint32_t)(AES_BLOCK - 1);
	uint8_t ctr[16] = { 0 }, blk[AES_BLOCK], tail[2 * AES_BLOCK], md[SHA_DIGEST_LENGTH];
	uint8_t *iv = out + ESP_HDR_LEN, *ct = out + ESP_HDR_LEN + ESP_IV_LEN;
	int l;

	nf_put32(out, w->p->cfg.spi);
	nf_put32(out + 4, (uint32_t)seq);
	nf_put32(ctr + 8, (uint32_t)(seq >> 32));
	nf_put32(ctr + 12, (uint32_t)seq);
	if (!EVP_EncryptUpdate(w->ecb, iv, &l, ctr, AES_BLOCK))
		return -EIO;
	memcpy(tail, inner + full, len - full);
	for (uint32_t i = 0; i < padlen; i++)
		tail[len - full + i] = (uint8_t)(i + 1);
	tail[ct_len - full - 2] = (uint8_t)padlen;
	tail[ct_len - full - 1] = ESP_NEXT_IPV4;
	/*
	 * No per-packet re-init for the new IV: the context chains from its last
	 * ciphertext block C, so feeding P1 ^ IV ^ C as the first block yields
	 * AES(P1 ^ IV), exactly CBC under IV.
	 */
	const uint8_t *p1 = full ? inner : tail;
	for (int i = 0; i < AES_BLOCK; i++)
		blk[i] = (uint8_t)(p1[i] ^ iv[i] ^ w->chain[i]);
	if (!EVP_EncryptUpdate(w->cbc_run, ct, &l, blk, AES_BLOCK))
		return -EIO;
	if (full > AES_BLOCK && !EVP_EncryptUpdate(w->cbc_run, ct + AES_BLOCK, &l, inner + AES_BLOCK, (int)(full - AES_BLOCK)))
		return -EIO;
	uint32_t skip = full ? 0 : AES_BLOCK; /* the first tail block went out above */
	if (ct_len - full > skip &&
	    !EVP_EncryptUpdate(w->cbc_run, ct + full + skip, &l, tail + skip, (int)(ct_len - full - skip)))
		return -EIO;
	memcpy(w->chain, ct + ct_len - AES_BLOCK, AES_BLOCK);
	hmac_fast(w, out, ESP_HDR_LEN + ESP_IV_LEN + ct_len, md);
	memcpy(ct + ct_len, md, ESP_ICV_LEN);
	return (int)(ESP_HDR_LEN + ESP_IV_LEN + ct_len + ESP_ICV_LEN);
}

int peers_tls_seal(struct peers_worker *w, uint64_t seq, const uint8_t *in, uint32_t len, uint8_t *out)
{
	uint8_t aad[13];
	uint32_t rec = AES_BLOCK + len;

	if (!w->tls)
		return -EOPNOTSUPP;
	nf_put32(aad, (uint32_t)(seq >> 32));
	nf_put32(aad + 4, (uint32_t)seq);
	aad[8] = 23;                  /* application data */
	aad[9] = 3, aad[10] = 3;      /* TLS 1.2: explicit IV in the record */
	nf_put16(aad + 11, (uint16_t)rec);
	/*
	 * The AAD by OSSL_PARAM directly: EVP_CIPHER_CTX_ctrl() would also read the
	 * padding back through a second parameter round; TLS padding is known:
	 * MAC and at least one pad byte, up to a whole block.
	 */
	OSSL_PARAM prm[2] = { OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_AAD, aad, sizeof(aad)),
			      OSSL_PARAM_construct_end() };
	uint32_t pad = ((len + SHA_DIGEST_LENGTH + AES_BLOCK) & ~(uint32_t)(AES_BLOCK - 1)) - len;
	if (!EVP_CIPHER_CTX_set_params(w->tls, prm))
		return -EIO;
	if (EVP_Cipher(w->tls, out, in, rec + pad) <= 0)
		return -EIO;
	return (int)(rec + pad);
}

/* IPv4 offset of a packet in the bench's UMEM, or 0. */
static uint32_t pkt_ip(const struct peers_packets *pk, uint32_t i, struct nf_pkt *p)
{
	const struct gen_desc *d = &pk->descs[i];
	uint64_t base = d->addr - d->addr % pk->frame_size;

	*p = (struct nf_pkt){ .buf = (uint8_t *)pk->umem + base, .off = (uint32_t)(d->addr - base), .len = d->len,
			      .cap = pk->frame_size };
	return nf_ipv4_off(p);
}

typedef int (*seal_fn)(struct peers_worker *w, uint64_t seq, const uint8_t *in, uint32_t len, uint8_t *out);

/* One packet's inner IPv4 packet through a seal; `front` bytes before it are read too. */
static int run_seal(struct peers_worker *w, const struct peers_packets *pk, uint32_t i, seal_fn seal, uint32_t front)
{
	struct nf_pkt p;
	uint32_t ip = pkt_ip(pk, i, &p);

	if (!ip)
		return 0;
	return seal(w, ++w->seq, p.buf + ip - front, nf_get16(p.buf + ip + 2), w->out) < 0 ? -EIO : 0;
}

/* The 16 bytes in front of the inner packet stand in for the record's explicit IV. */
static int run_stitched(struct peers_worker *w, const struct peers_packets *pk, uint32_t i)
{
	return run_seal(w, pk, i, peers_tls_seal, AES_BLOCK);
}

static int run_esp(struct peers_worker *w, const struct peers_packets *pk, uint32_t i)
{
	return run_seal(w, pk, i, peers_esp_seal, 0);
}

static int run_esp_fast(struct peers_worker *w, const struct peers_packets *pk, uint32_t i)
{
	return run_seal(w, pk, i, peers_esp_seal_fast, 0);
}

static int run_hs(struct peers_worker *w, const struct peers_packets *pk, uint32_t i)
{
	struct nf_pkt p;
	struct nids_view v;

	pkt_ip(pk, i, &p);
	if (!nids_view_init(&p, &v))
		return 0;
	int r = peers_hs_count(w, v.l3, v.l3_len);
	if (r < 0)
		return r;
	w->matches += r > 0;
	return 0;
}

/*
 * The chain a CPU deployment would write with libraries: the frame is copied
 * out of the (read-only) UMEM first, standing in for the bench's restore;
 * counters are per thread, so the router is the NF's lookup and rewrite
 * without its shared atomic counters.
 */
static int run_chain(struct peers_worker *w, const struct peers_packets *pk, uint32_t i)
{
	const struct nf_ipv4_router *rt = w->p->cfg.router;
	struct nf_pkt src, p;
	struct nids_view v;

	pkt_ip(pk, i, &src);
	memcpy(w->frame + PEERS_HEADROOM, src.buf + src.off, src.len);
	p = (struct nf_pkt){ .buf = w->frame, .off = PEERS_HEADROOM, .len = src.len, .cap = PEERS_BUF };
	uint32_t ip = nf_ipv4_off(&p);
	if (!ip)
		return 0;
	uint8_t *iph = p.buf + ip;
	uint32_t e = nf_rt_lookup(rt, nf_get32(iph + 16));
	if (!e || e > rt->nnh || iph[8] <= 1)
		return 0;
	nf_ipv4_ttl_dec(iph);
	memcpy(p.buf + p.off, NF_AT(rt, rt->nh_off, const struct nf_rt_nh *)[e - 1].mac, 6);
	if (!nids_view_init(&p, &v))
		return 0;
	int r = peers_hs_count(w, v.l3, v.l3_len);
	if (r < 0)
		return r;
	w->matches += r > 0;
	/* Outer header as the NF writes it, then the ESP payload behind it. */
	uint8_t *o = w->out;
	uint32_t inner = nf_get16(iph + 2);
	uint32_t outer = ESP_OVERHEAD_HEAD + ((inner + 2 + AES_BLOCK - 1) & ~(uint32_t)(AES_BLOCK - 1)) + ESP_ICV_LEN;
	if (w->p->cfg.mtu && outer > w->p->cfg.mtu)
		return 0;
	int n = peers_esp_seal_fast(w, ++w->seq, iph, inner, o + ESP_OUTER_IP_LEN);
	if (n < 0)
		return n;
	memset(o, 0, ESP_OUTER_IP_LEN);
	o[0] = 0x45;
	o[1] = iph[1];
	nf_put16(o + 2, (uint16_t)(ESP_OUTER_IP_LEN + n));
	nf_put16(o + 4, (uint16_t)w->seq);
	o[6] = iph[6] & 0x40;
	o[8] = ESP_TTL;
	o[9] = NF_IPPROTO_ESP;
	nf_put32(o + 12, 0xc0000201u);
	nf_put32(o + 16, 0xc0000202u);
	nf_put16(o + 10, esp_ip_csum(o, ESP_OUTER_IP_LEN));
	return 0;
}

typedef int (*peer_fn)(struct peers_worker *w, const struct peers_packets *pk, uint32_t i);
static const peer_fn peer_fns[PEER_MAX] = { run_stitched, run_esp, run_esp_fast, run_hs, run_chain };

/* ---- the worker pool ------------------------------------------------------------- */

/*
 * A barrier whose party count can still drop after threads are waiting on it,
 * so a failed pthread_create leaves no one stuck (pthread_barrier_t cannot).
 */
struct bar {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned int parties, waiting, gen;
};

static void bar_release(struct bar *b)
{
	b->waiting = 0;
	b->gen++;
	pthread_cond_broadcast(&b->cv);
}

static void bar_wait(struct bar *b)
{
	pthread_mutex_lock(&b->mu);
	unsigned int g = b->gen;
	if (++b->waiting >= b->parties)
		bar_release(b);
	else
		while (g == b->gen)
			pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

static void bar_set_parties(struct bar *b, unsigned int n)
{
	pthread_mutex_lock(&b->mu);
	b->parties = n;
	if (b->waiting && b->waiting >= n)
		bar_release(b);
	pthread_mutex_unlock(&b->mu);
}

struct pool {
	struct bar bar;
	atomic_int stop;
	atomic_int failed;
	bool runnable[PEER_MAX];
	const struct peers_packets *pk;
	int threads;
};

struct slot {
	struct pool *pool;
	struct peers_worker *w;
	uint32_t first, end; /* this thread's slice of the packets */
	uint64_t count[PEER_MAX];
	pthread_t tid;
};

static void *pool_main(void *arg)
{
	struct slot *s = arg;
	struct pool *pl = s->pool;

	for (int k = 0; k < PEER_MAX; k++) {
		uint64_t c = 0;

		bar_wait(&pl->bar); /* start */
		if (pl->runnable[k] && s->first < s->end) {
			for (uint32_t i = s->first; !atomic_load_explicit(&pl->stop, memory_order_relaxed);) {
				if (peer_fns[k](s->w, pl->pk, i)) {
					atomic_store(&pl->failed, 1);
					break;
				}
				c++;
				if (++i == s->end)
					i = s->first;
			}
		}
		s->count[k] = c;
		bar_wait(&pl->bar); /* end */
	}
	return NULL;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int peers_run(struct peers *p, const struct peers_packets *pk, int threads, double seconds,
	      struct peers_result *out)
{
	struct pool pl = { .pk = pk, .threads = threads };
	struct slot *s;
	int started = 0, r = 0;

	if (threads < 1 || threads > PEERS_THREADS_MAX || !pk->n)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	pl.runnable[PEER_STITCHED] = p->stitched;
	pl.runnable[PEER_ESP] = true;
	pl.runnable[PEER_ESP_FAST] = true;
#ifdef GEN_HAVE_HYPERSCAN
	pl.runnable[PEER_HS] = p->db;
	pl.runnable[PEER_CHAIN] = p->db && p->cfg.router;
#endif
	out->why[PEER_STITCHED] = "n/a (no stitched AES-128-CBC-HMAC-SHA1 in OpenSSL for this CPU)";
	out->why[PEER_HS] = p->hs_why;
	out->why[PEER_CHAIN] = p->hs_why ? p->hs_why : "n/a (no ipv4_router NF in the chain)";
	s = calloc((size_t)threads, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (int t = 0; t < threads; t++) {
		s[t] = (struct slot){ .pool = &pl, .first = (uint32_t)((uint64_t)pk->n * t / threads),
				      .end = (uint32_t)((uint64_t)pk->n * (t + 1) / threads) };
		s[t].w = peers_worker_new(p);
		if (!s[t].w) {
			r = -ENOMEM;
			goto out;
		}
	}
	pl.bar = (struct bar){ .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
			       .parties = (unsigned int)threads + 1 };
	for (; started < threads; started++)
		if (pthread_create(&s[started].tid, NULL, pool_main, &s[started]))
			break;
	if (started < threads) {
		/* Figures from fewer threads would be mislabelled: run nothing, let those started finish. */
		memset(pl.runnable, 0, sizeof(pl.runnable));
		bar_set_parties(&pl.bar, (unsigned int)started + 1);
		r = -EAGAIN;
	}
	for (int k = 0; k < PEER_MAX; k++) {
		struct timespec d = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
		uint64_t pkts = 0, hits = 0;

		atomic_store(&pl.stop, 0);
		bar_wait(&pl.bar);
		double t0 = now();
		if (pl.runnable[k])
			nanosleep(&d, NULL);
		atomic_store(&pl.stop, 1);
		bar_wait(&pl.bar);
		double el = now() - t0;
		for (int t = 0; t < threads; t++) {
			pkts += s[t].count[k];
			hits += k == PEER_HS ? s[t].w->matches : 0;
		}
		if (k == PEER_HS && pkts)
			out->hs_hit_share = (double)hits / pkts;
		if (!pl.runnable[k] || !pkts) {
			out->mpps[k] = -1;
			out->ns_per_pkt[k] = -1;
			continue;
		}
		out->mpps[k] = pkts / el / 1e6;
		out->ns_per_pkt[k] = threads * el * 1e9 / pkts;
	}
	for (int t = 0; t < started; t++)
		pthread_join(s[t].tid, NULL);
	if (atomic_load(&pl.failed))
		r = -EIO;
out:
	for (int t = 0; t < threads; t++)
		peers_worker_free(s[t].w);
	free(s);
	return r;
}
