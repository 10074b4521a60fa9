// SPDX-License-Identifier: GPL-2.0
/*
 * esp-speed: ns per packet of the ipsec_esp NF on the host, one thread, next to
 * OpenSSL doing the same cipher work through the peers of gen-bench.
 *
 *   esp-speed [-n ROUNDS]
 *
 * For Ethernet frames of 64, 512 and 1500 bytes (mtu 9000, replay window off):
 * the NF's encrypt and decrypt with what the CPU offers (AES-NI, SHA-NI) and
 * with the portable code the GPU runs; OpenSSL's stitched
 * AES-128-CBC-HMAC-SHA1 per TLS 1.2 record and the ESP-order OpenSSL peers on
 * the same inner packets; the NF packet by packet and through the cpu
 * backend (backend_cpu_run, ESP's batch entries). 256 different frames, all
 * copied from pristine ones before the NF runs over them (the NF works in
 * place); the copies alone are timed and taken off. Best of ROUNDS (default 25)
 * runs, in the thread's CPU time. Figures only.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nf/registry.h"
#include "nf/ipsec_esp.h"
#include "daemon/backend.h"
#include "test/bench/peers.h"

/* The time every batch here is stamped with (nf_pkt.now): a fixed one, the same on every backend. */
#define GEN_TEST_NOW 1764547200000000000ull

#define NFR 256
#define FR 2048
#define HEAD 256
#define REPS 10 /* passes over the NFR frames per timed run */

/* The thread's CPU time: on a shared machine, time other processes hold the core does not count. */
static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x853c49e6748fea9bull;
static uint8_t rnd8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 29);
}

static struct nf_ipsec_esp *make_sa(const char *dir)
{
	struct nf_kv kv[] = {
		{ "direction", dir, 1 },
		{ "spi", "0x1001", 1 },
		{ "enc_key", "000102030405060708090a0b0c0d0e0f", 1 },
		{ "auth_key", "101112131415161718191a1b1c1d1e1f20212223", 1 },
		{ "tunnel_src", "192.0.2.1", 1 },
		{ "tunnel_dst", "192.0.2.2", 1 },
		{ "mtu", "9000", 1 },
		{ "replay_window", "0", 1 },
	};
	struct nf_cfg cfg = { .name = "esp", .file = "esp-speed", .line = 1, .kv = kv,
			      .nkv = strcmp(dir, "decrypt") ? 7 : 8, .base_dir = "." };
	struct nf_hdr *h = NULL;
	char err[256];

	if (nf_ops_find("ipsec_esp")->build(&cfg, &h, err, sizeof(err))) {
		fprintf(stderr, "esp-speed: %s\n", err);
		exit(1);
	}
	return (struct nf_ipsec_esp *)h;
}

struct frames {
	uint8_t *pristine, *work;
	uint32_t len[NFR];
};

/* Frame i at i * FR + HEAD. */
static void fill(struct frames *f, uint32_t size)
{
	for (uint32_t i = 0; i < NFR; i++) {
		uint8_t *d = f->pristine + (size_t)i * FR + HEAD;
		for (uint32_t k = 0; k < size; k++)
			d[k] = rnd8();
		nf_put16(d + 12, NF_ETH_P_IP);
		d[14] = 0x45;
		nf_put16(d + 16, (uint16_t)(size - 14));
		d[20] = d[21] = 0;
		f->len[i] = size;
	}
}

/*
 * ns per packet: copy + NF, less copy alone. The NF runs packet by packet
 * (nf_ipsec_esp_run), or through the cpu backend (backend_cpu_run over the
 * NFR frames: chunks of 64, ESP's batch entries) when backend is set.
 */
static double nf_ns(struct frames *f, struct nf_ipsec_esp *st, int backend, int rounds)
{
	static struct gen_desc d[NFR];
	struct chain_prog prog = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { &st->hdr } };
	double best_nf = 1e30, best_cp = 1e30;

	for (int r = 0; r < rounds; r++) {
		for (int with_nf = 0; with_nf < 2; with_nf++) {
			double t0 = now();
			for (int k = 0; k < REPS; k++) {
				for (uint32_t i = 0; i < NFR; i++) {
					size_t o = (size_t)i * FR;
					memcpy(f->work + o + HEAD - 64, f->pristine + o + HEAD - 64, f->len[i] + 128);
					d[i] = (struct gen_desc){ .addr = o + HEAD, .len = f->len[i] };
				}
				if (!with_nf)
					continue;
				if (backend) {
					backend_cpu_run(&prog, f->work, FR, d, NFR, GEN_TEST_NOW);
					continue;
				}
				for (uint32_t i = 0; i < NFR; i++) {
					struct nf_pkt p = { .buf = f->work + d[i].addr - HEAD, .off = HEAD, .len = f->len[i],
							    .cap = FR };
					nf_ipsec_esp_run(st, &p);
				}
			}
			double t = (now() - t0) / (REPS * NFR) * 1e9;
			if (with_nf)
				best_nf = t < best_nf ? t : best_nf;
			else
				best_cp = t < best_cp ? t : best_cp;
		}
	}
	return best_nf - best_cp;
}

static double peer_ns(struct peers_worker *w, const struct frames *f, int tls, int rounds)
{
	static uint8_t out[4096];
	double best = 1e30;
	uint64_t seq = 0;

	for (int r = 0; r < rounds; r++) {
		double t0 = now();
		for (int k = 0; k < REPS; k++) {
			for (uint32_t i = 0; i < NFR; i++) {
				const uint8_t *ip = f->pristine + (size_t)i * FR + HEAD + 14;
				uint32_t len = f->len[i] - 14;
				if (tls == 2)
					peers_tls_seal(w, ++seq, ip - 16, len, out);
				else if (tls == 1)
					peers_esp_seal_fast(w, ++seq, ip, len, out);
				else
					peers_esp_seal(w, ++seq, ip, len, out);
			}
		}
		double t = (now() - t0) / (REPS * NFR) * 1e9;
		best = t < best ? t : best;
	}
	return best;
}

#if defined(ESP_HOST_X86)
/* ns per packet of the host crypto alone (IV, CBC, HMAC) on NFR jobs: one by one, or through the batch entry. */
static double crypto_ns(const struct nf_ipsec_esp *st, struct frames *f, int batch, int rounds)
{
	static struct esp_ni_job jobs[NFR];
	static uint8_t macs[NFR][SHA1_DIGEST];
	double best = 1e30;

	for (uint32_t i = 0; i < NFR; i++) {
		uint32_t inner = f->len[i] - 14;
		jobs[i] = (struct esp_ni_job){ .esp = f->work + (size_t)i * FR + HEAD, .seq = i + 1, .mac = macs[i],
					       .ct_len = (inner + 2 + AES_BLOCK - 1) & ~(uint32_t)(AES_BLOCK - 1) };
	}
	for (int r = 0; r < rounds; r++) {
		double t0 = now();
		for (int k = 0; k < REPS; k++) {
			if (batch) {
				esp_ni_encrypt_and_mac_batch(st->ni_iv_rk, st->ni_enc_rk, st->hmac_istate, st->hmac_ostate, jobs,
							     NFR);
				continue;
			}
			for (uint32_t i = 0; i < NFR; i++)
				esp_ni_encrypt_and_mac(st->ni_iv_rk, st->ni_enc_rk, st->hmac_istate, st->hmac_ostate,
						       jobs[i].seq, jobs[i].esp, jobs[i].ct_len, jobs[i].mac);
		}
		double t = (now() - t0) / (REPS * NFR) * 1e9;
		best = t < best ? t : best;
	}
	return best;
}

/* ns per packet of the decrypt side's ICV (HMAC over SPI .. ciphertext): one by one, or the batch entry. */
static double hmac_ns(const struct nf_ipsec_esp *st, const struct frames *e, int batch, int rounds)
{
	static struct esp_ni_mac_job jobs[NFR];
	static uint8_t macs[NFR][SHA1_DIGEST];
	double best = 1e30;

	for (uint32_t i = 0; i < NFR; i++) /* the encrypted frames: Eth, outer IPv4, then ESP less its ICV */
		jobs[i] = (struct esp_ni_mac_job){ .msg = e->pristine + (size_t)i * FR + HEAD + 14 + 20,
						   .len = e->len[i] - 14 - 20 - ESP_ICV_LEN, .mac = macs[i] };
	for (int r = 0; r < rounds; r++) {
		double t0 = now();
		for (int k = 0; k < REPS; k++) {
			if (batch) {
				esp_ni_hmac_sha1_batch(st->hmac_istate, st->hmac_ostate, jobs, NFR);
				continue;
			}
			for (uint32_t i = 0; i < NFR; i++)
				esp_ni_hmac_sha1_pre(st->hmac_istate, st->hmac_ostate, jobs[i].msg, jobs[i].len, jobs[i].mac);
		}
		double t = (now() - t0) / (REPS * NFR) * 1e9;
		best = t < best ? t : best;
	}
	return best;
}
#endif

/* The decrypt SA's input: the frames encrypted by the encrypt SA, as the new pristine copies. */
static void encrypt_all(struct frames *in, struct frames *out, struct nf_ipsec_esp *enc)
{
	memcpy(out->pristine, in->pristine, (size_t)NFR * FR);
	for (uint32_t i = 0; i < NFR; i++) {
		size_t o = (size_t)i * FR;
		struct nf_pkt p = { .buf = out->pristine + o, .off = HEAD, .len = in->len[i], .cap = FR };
		nf_ipsec_esp_run(enc, &p);
		/* Put the frame back at HEAD so the copy loop is the same. */
		memmove(out->pristine + o + HEAD, out->pristine + o + p.off, p.len);
		out->len[i] = p.len;
	}
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 64, 512, 1500 };
	int rounds = 25, o;
	struct frames f = { 0 }, e = { 0 };

	while ((o = getopt(argc, argv, "n:")) != -1) {
		if (o == 'n')
			rounds = atoi(optarg) > 0 ? atoi(optarg) : 1;
		else {
			fprintf(stderr, "usage: esp-speed [-n ROUNDS]\n");
			return 2;
		}
	}
	f.pristine = aligned_alloc(64, (size_t)NFR * FR);
	f.work = aligned_alloc(64, (size_t)NFR * FR);
	e.pristine = aligned_alloc(64, (size_t)NFR * FR);
	e.work = f.work;
	struct nf_ipsec_esp *enc = make_sa("encrypt"), *dec = make_sa("decrypt");
	struct nf_ipsec_esp *enc_p = make_sa("encrypt"), *dec_p = make_sa("decrypt");
	enc_p->host_accel = dec_p->host_accel = 0;
	struct peers_config pc = { .spi = 0x1001 };
	char why[128];
	struct peers *p = peers_create(&pc, why, sizeof(why));
	struct peers_worker *w = p ? peers_worker_new(p) : NULL;
	if (!f.pristine || !f.work || !e.pristine || !w) {
		fprintf(stderr, "esp-speed: set-up failed %s\n", p ? "" : why);
		return 1;
	}
	printf("host_accel %#x (1 AES-NI, 2 SHA-NI); ns per packet, 1 thread, best of %d\n", enc->host_accel, rounds);
	printf("%-6s %9s %9s %9s %9s %9s %9s %11s %11s %11s\n", "frame", "enc", "dec", "enc bk", "dec bk", "enc port",
	       "dec port", "ossl tls", "ossl esp", "ossl esp+");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		fill(&f, sizes[s]);
		encrypt_all(&f, &e, enc);
		double t_enc = 1e30, t_dec = 1e30, t_encb = 1e30, t_decb = 1e30, t_tls = 1e30, t_esp = 1e30, t_fast = 1e30;
		/* Each round measures every variant once: on a shared machine a quiet spell then serves them all. */
		for (int r = 0; r < rounds; r++) {
			t_enc = fmin(t_enc, nf_ns(&f, enc, 0, 1));
			t_dec = fmin(t_dec, nf_ns(&e, dec, 0, 1));
			t_encb = fmin(t_encb, nf_ns(&f, enc, 1, 1));
			t_decb = fmin(t_decb, nf_ns(&e, dec, 1, 1));
			t_tls = fmin(t_tls, peer_ns(w, &f, 2, 1));
			t_esp = fmin(t_esp, peer_ns(w, &f, 0, 1));
			t_fast = fmin(t_fast, peer_ns(w, &f, 1, 1));
		}
		double t_encp = nf_ns(&f, enc_p, 0, rounds > 2 ? 2 : rounds);
		double t_decp = nf_ns(&e, dec_p, 0, rounds > 2 ? 2 : rounds);
		printf("%-6u %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %11.1f %11.1f %11.1f\n", sizes[s], t_enc, t_dec, t_encb,
		       t_decb, t_encp, t_decp, t_tls, t_esp, t_fast);
		if (dec->counters[ESP_C_DECRYPTED] == 0 || dec->counters[ESP_C_AUTH_FAILED]) {
			fprintf(stderr, "esp-speed: the decrypt SA did not decrypt (%llu auth failures)\n",
				(unsigned long long)dec->counters[ESP_C_AUTH_FAILED]);
			return 1;
		}
	}
#if defined(ESP_HOST_X86)
	if ((enc->host_accel & 3) == 3) {
		printf("\nhost crypto alone, ns per packet: encrypt (IV + CBC + HMAC) and the decrypt side's ICV,\n"
		       "one by one and through the batch entry\n%-6s %9s %9s %9s %9s\n", "frame", "enc 1by1", "enc batch",
		       "icv 1by1", "icv batch");
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			fill(&f, sizes[s]);
			encrypt_all(&f, &e, enc);
			double one = crypto_ns(enc, &f, 0, rounds), two = crypto_ns(enc, &f, 1, rounds);
			double h1 = hmac_ns(dec, &e, 0, rounds), h2 = hmac_ns(dec, &e, 1, rounds);
			printf("%-6u %9.1f %9.1f %9.1f %9.1f\n", sizes[s], one, two, h1, h2);
		}
	}
#endif
	printf("enc, dec: the NF packet by packet; bk: through the cpu backend (ESP's batch entries); port: the\n"
	       "portable code the GPU runs, packet by packet\n");
	printf("ossl tls: EVP aes-128-cbc-hmac-sha1 per TLS 1.2 record (MAC then encrypt); ossl esp: EVP cbc re-init +\n"
	       "EVP_MAC; ossl esp+: EVP cbc chained + SHA1 with kept pads (test/bench/peers.h)\n");
	peers_worker_free(w);
	peers_destroy(p);
	return 0;
}
