// SPDX-License-Identifier: GPL-2.0
/* Builders for the two small NFs: l2_rewrite and ttl_dec. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "registry.h"
#include "l2_rewrite.h"
#include "ttl_dec.h"

static int l2_rewrite_build(const struct nf_cfg *cfg, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	static const char *const known[] = { "dst_mac", "src_mac", NULL };
	struct nf_l2_rewrite st = { 0 };
	const char *v;
	int line, r;

	r = nf_cfg_check_keys(cfg, known, err, errlen);
	if (r)
		return r;
	v = nf_cfg_get(cfg, "dst_mac", &line);
	if (v) {
		if (nf_parse_mac(v, st.dst)) {
			snprintf(err, errlen, "%s:%d: dst_mac '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", cfg->file, line, v);
			return -EINVAL;
		}
		st.set_dst = 1;
	}
	v = nf_cfg_get(cfg, "src_mac", &line);
	if (v) {
		if (nf_parse_mac(v, st.src)) {
			snprintf(err, errlen, "%s:%d: src_mac '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", cfg->file, line, v);
			return -EINVAL;
		}
		st.set_src = 1;
	}
	if (!st.set_dst && !st.set_src) {
		snprintf(err, errlen, "%s:%d: nf '%s': l2_rewrite needs dst_mac and/or src_mac", cfg->file, cfg->line, cfg->name);
		return -EINVAL;
	}
	struct nf_hdr *h = nf_blob_alloc(NF_T_L2_REWRITE, sizeof(st), offsetof(struct nf_l2_rewrite, counters), L2RW_C_MAX);
	if (!h)
		return -errno;
	st.hdr = *h;
	memcpy(h, &st, sizeof(st));
	*ret_state = h;
	return 0;
}

static int ttl_dec_build(const struct nf_cfg *cfg, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	static const char *const known[] = { NULL };
	int r = nf_cfg_check_keys(cfg, known, err, errlen);
	if (r)
		return r;
	struct nf_hdr *h = nf_blob_alloc(NF_T_TTL_DEC, sizeof(struct nf_ttl_dec), offsetof(struct nf_ttl_dec, counters), TTL_C_MAX);
	if (!h)
		return -errno;
	*ret_state = h;
	return 0;
}

static const char *const l2_counters[] = { "rewritten", "runt" };
static const char *const ttl_counters[] = { "forwarded", "expired", "not_ipv4" };

const struct nf_ops nf_ops_l2_rewrite = {
	.type_name = "l2_rewrite",
	.type = NF_T_L2_REWRITE,
	.build = l2_rewrite_build,
	.counter_names = l2_counters,
};

const struct nf_ops nf_ops_ttl_dec = {
	.type_name = "ttl_dec",
	.type = NF_T_TTL_DEC,
	.build = ttl_dec_build,
	.counter_names = ttl_counters,
};
