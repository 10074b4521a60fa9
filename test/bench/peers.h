/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CPU peers for gen-bench: what a whole host does with the usual libraries on
 * the same packets, so the GPU figures have an honest CPU figure beside them.
 *
 *   stitched  OpenSSL's EVP_aes_128_cbc_hmac_sha1 per TLS 1.2 record (MAC then
 *             encrypt, the library's fastest AES-CBC + HMAC-SHA1 path) over each
 *             frame's inner IPv4 packet;
 *   esp       ESP's real order, encrypt then MAC: IV = AES(iv key, seq) with
 *             EVP_aes_128_ecb, EVP_aes_128_cbc over inner | pad | padlen | 4,
 *             HMAC-SHA1-96 with EVP_MAC over SPI | seq | IV | ciphertext;
 *   esp_fast  the same bytes with less API in the way (peers_esp_seal_fast);
 *   hs        Hyperscan, one literal database of the nids NF's contents, over
 *             each packet's IP payload (the prefilter only: no rule verification);
 *   chain     per packet: the ipv4_router NF's DIR-24-8 lookup, MAC rewrite and
 *             TTL decrement, Hyperscan on the IP payload, then esp_fast.
 *
 * Each runs on persistent worker threads (one per requested thread), every
 * thread over its own slice of the packets, again and again for the given time.
 */
#ifndef GEN_TEST_BENCH_PEERS_H
#define GEN_TEST_BENCH_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "daemon/backend.h"
#include "nf/ipv4_router.h"
#include "nf/nids.h"

/* What the peers are built from; the NF states may be NULL (that peer is then n/a). */
struct peers_config {
	const struct nf_ipv4_router *router;
	const struct nf_nids *nids;
	uint8_t enc_key[16];
	uint8_t auth_key[20];
	uint8_t iv_key[16];
	uint32_t spi;
	uint32_t mtu; /* chain peer: drop what the ipsec_esp NF would drop as too_big; 0 = no limit */
};

/* Packets: n descriptors into umem (frames of frame_size bytes); read, never written. */
struct peers_packets {
	const uint8_t *umem;
	const struct gen_desc *descs;
	uint32_t n;
	uint32_t frame_size;
};

enum { PEER_STITCHED, PEER_ESP, PEER_ESP_FAST, PEER_HS, PEER_CHAIN, PEER_MAX };

struct peers_result {
	double mpps[PEER_MAX];       /* all threads together; < 0: not run */
	double ns_per_pkt[PEER_MAX]; /* per core: threads * elapsed / packets */
	const char *why[PEER_MAX];   /* why a peer did not run, when mpps < 0 */
	double hs_hit_share;         /* hs: share of scanned packets with a literal found */
};

struct peers;        /* keys, the compiled Hyperscan database */
struct peers_worker; /* one thread's OpenSSL contexts, Hyperscan scratch, buffers */

/* NULL + errno when even OpenSSL cannot be set up; why says what failed. */
struct peers *peers_create(const struct peers_config *cfg, char *why, size_t len);
void peers_destroy(struct peers *p);
/* Literals in the Hyperscan database (0 without Hyperscan or nids). */
uint32_t peers_hs_patterns(const struct peers *p);
/* Name of each peer, for reports. */
const char *peers_name(int peer);

/* Run every peer for `seconds` each on `threads` threads. 0 or -errno. */
int peers_run(struct peers *p, const struct peers_packets *pk, int threads, double seconds,
	      struct peers_result *out);

/* One thread's context, for the tests. */
struct peers_worker *peers_worker_new(struct peers *p);
void peers_worker_free(struct peers_worker *w);
/*
 * ESP tunnel payload of one inner IPv4 packet: writes SPI | seq | IV |
 * AES-128-CBC(inner | 1 2 .. | padlen | 4) | ICV (12) at out and returns its
 * length, or -errno. IV = AES-128(iv key, 0^64 | seq), as the ipsec_esp NF.
 */
int peers_esp_seal(struct peers_worker *w, uint64_t seq, const uint8_t *inner, uint32_t len, uint8_t *out);
/*
 * The same bytes as peers_esp_seal, the fastest way libcrypto allows: the CBC
 * context is never re-initialised (the IV enters through the first block) and
 * HMAC runs on SHA1_* with the key's pad states kept.
 */
int peers_esp_seal_fast(struct peers_worker *w, uint64_t seq, const uint8_t *inner, uint32_t len, uint8_t *out);
/* Distinct literals of the nids contents found in buf; -EOPNOTSUPP without Hyperscan. */
int peers_hs_count(struct peers_worker *w, const uint8_t *buf, uint32_t len);
/*
 * One TLS 1.2 record through the stitched cipher: in = 16-byte explicit IV |
 * payload of len bytes; out receives the encrypted IV | payload | MAC | padding.
 * Returns the record length or -errno. The sequence number goes into the MAC.
 */
int peers_tls_seal(struct peers_worker *w, uint64_t seq, const uint8_t *in, uint32_t len, uint8_t *out);

#endif
