// SPDX-License-Identifier: GPL-2.0
/*
 * Builder for custom NFs: compile `source = FILE` with the host compiler into a
 * shared object (cached by content), load it and wrap it in a blob (nf/custom.h).
 *
 * The code runs inside gend's data path, which holds CAP_BPF/CAP_NET_ADMIN and
 * maps every packet: whoever can change the source can act as gend. So the file
 * and every directory above it must be writable by nobody but root (or the user
 * gend runs as), and so must the cache of compiled objects (nf/rtcache.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "registry.h"
#include "gen_nf.h"
#include "custom.h"
#include "rtcache.h"

#ifndef GEN_NF_INCLUDE_DIR
#define GEN_NF_INCLUDE_DIR "/usr/include/gen"
#endif
#define CUSTOM_SOURCE_MAX (4u << 20)
#define CUSTOM_TIMEOUT_DEFAULT 30
/* Below gend's bound on one long step (GEN_STEP_MAX_S, 100 s), which systemd grants through the watchdog. */
#define CUSTOM_TIMEOUT_MAX 90
#define CUSTOM_CC_ARGS_MAX 16

extern char **environ;

/* Where errors point: the `source =` line of chains.ini and the NF's name. */
struct where {
	const struct nf_cfg *cfg;
	int line;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(const struct where *w, int r, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(w->err, w->errlen, "%s:%d: nf '%s': %s", w->cfg->file, w->line, w->cfg->name, msg);
	return r;
}

/* ---- files ---- */

static int read_all(const char *path, size_t max, char **ret, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) {
			char *nb;

			if (cap >= max) {
				r = -EFBIG;
				break;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

static bool trusted_owner(uid_t uid) { return uid == 0 || uid == geteuid(); }

/*
 * The file, and every directory from it up to /, must be owned by root (or
 * gend's user) and writable by no one else. An ancestor may be world-writable
 * when sticky (/tmp): others can then neither rename nor replace what we own.
 * The file's own directory gets no such leniency.
 */
static int check_trusted_path(const struct where *w, const char *real)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	if (stat(real, &st))
		return fail(w, -errno, "cannot stat source '%s': %s", real, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(w, -EINVAL, "source '%s' is not a regular file", real);
	if (!trusted_owner(st.st_uid))
		return fail(w, -EPERM, "source '%s' is owned by uid %u: it must belong to root, "
			    "since its code runs inside gend", real, (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return fail(w, -EPERM, "source '%s' is writable by group or others (mode %04o): "
			    "anyone who can edit it runs code as gend", real, (unsigned)(st.st_mode & 07777));
	snprintf(dir, sizeof(dir), "%s", real);
	for (bool first = true;; first = false) {
		slash = strrchr(dir, '/');
		if (!slash)
			break;
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(dir, &st))
			return fail(w, -errno, "cannot stat directory '%s': %s", dir, strerror(errno));
		if (!trusted_owner(st.st_uid))
			return fail(w, -EPERM, "directory '%s' above source '%s' is owned by uid %u: it must "
				    "belong to root", dir, real, (unsigned)st.st_uid);
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (first || !(st.st_mode & S_ISVTX)))
			return fail(w, -EPERM, "directory '%s' of source '%s' is writable by group or others "
				    "(mode %04o): anyone who can replace the file runs code as gend",
				    dir, real, (unsigned)(st.st_mode & 07777));
		if (!strcmp(dir, "/"))
			break;
	}
	return 0;
}

/* ---- hashing ---- */

uint64_t nf_custom_hash(const void *data, size_t len)
{
	uint8_t md[32];
	unsigned int olen = 0;
	uint64_t h = 0;

	if (!EVP_Digest(data, len, md, &olen, EVP_sha256(), NULL) || olen != 32)
		return 0;
	for (int i = 0; i < 8; i++)
		h = h << 8 | md[i];
	return h;
}

/* ---- include directory ---- */

static bool has_header(const char *dir)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/gen_nf.h", dir);
	return access(p, R_OK) == 0;
}

const char *nf_custom_include_dir(void)
{
	const char *e = getenv("GEN_NF_INCLUDE");

	if (e && e[0])
		return has_header(e) ? e : NULL;
	if (has_header(GEN_NF_INCLUDE_DIR))
		return GEN_NF_INCLUDE_DIR;
	if (has_header("/usr/include/gen"))
		return "/usr/include/gen";
	return NULL;
}

/* ---- the compiler ---- */

struct cc_result {
	int status;      /* waitpid status */
	bool timed_out;
	char out[4096];  /* the start of its stderr + stdout */
	size_t out_len;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Run argv in its own process group with stdout+stderr captured; kill the whole
 * group (the driver and its cc1/as/ld) once timeout_s have passed.
 * 0 with *res filled, or -errno when it could not start (-ENOENT: no such program).
 */
static int run_compiler(char *const argv[], int timeout_s, struct cc_result *res)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	long long deadline = now_ms() + (long long)timeout_s * 1000;
	bool exited = false;
	int pfd[2], r;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pfd[1]);
	if (r) {
		close(pfd[0]);
		return -r;
	}
	while (pfd[0] >= 0 || !exited) {
		long long left = deadline - now_ms();

		if (left <= 0) {
			kill(-pid, SIGKILL);
			if (!exited)
				waitpid(pid, &res->status, 0);
			res->timed_out = true;
			break;
		}
		if (pfd[0] >= 0) {
			struct pollfd p = { .fd = pfd[0], .events = POLLIN };
			char sink[4096];
			ssize_t n;

			if (poll(&p, 1, (int)(left < 50 ? left : 50)) > 0) {
				size_t room = sizeof(res->out) - 1 - res->out_len;
				/* Keep the start (the first error); drain the rest. */
				n = read(pfd[0], room ? res->out + res->out_len : sink, room ? room : sizeof(sink));
				if (n > 0 && room)
					res->out_len += (size_t)n;
				if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
					close(pfd[0]);
					pfd[0] = -1;
				}
			}
		} else {
			usleep(10000);
		}
		if (!exited) {
			pid_t w = waitpid(pid, &res->status, WNOHANG);

			if (w == pid) {
				exited = true;
			} else if (w < 0 && errno == ECHILD) {
				/* Reaped behind our back (SIGCHLD ignored): never take that for success. */
				res->status = 255 << 8;
				exited = true;
			}
		}
	}
	if (pfd[0] >= 0)
		close(pfd[0]);
	res->out[res->out_len] = '\0';
	return 0;
}

/* Length of "FILE:LINE:COL:" at the start of line, when FILE is file; else 0. */
static size_t loc_len(const char *line, const char *file)
{
	size_t n = strlen(file), i;

	if (strncmp(line, file, n) || line[n] != ':')
		return 0;
	i = n + 1;
	for (int field = 0; field < 2; field++) {
		size_t d = strspn(line + i, "0123456789");

		if (!d || line[i + d] != ':')
			return field ? i : 0;
		i += d + 1;
	}
	return i;
}

/*
 * The line that says what went wrong: the first "error" line, else the first
 * line. An error inside a header's macro (the GEN_NF static asserts) is moved to
 * the author's line that expanded it, which gcc gives in a following note.
 */
static void first_error_line(const char *out, const char *file, char *buf, size_t len)
{
	const char *pick = NULL, *p = out, *note = NULL;

	while (*p && !pick) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);

		if ((memmem(p, n, "error:", 6) && !memmem(p, n, "collect2", 8)) || memmem(p, n, "undefined reference", 19))
			pick = p;
		p = eol ? eol + 1 : p + n;
	}
	if (!pick) {
		pick = out;
		while (*pick == '\n')
			pick++;
	} else if (!loc_len(pick, file)) {
		for (p = strchr(pick, '\n'); p && p[1] && !note; p = strchr(p + 1, '\n')) {
			size_t n = strcspn(p + 1, "\n");

			if (memmem(p + 1, n, "error:", 6))
				break;
			if (loc_len(p + 1, file))
				note = p + 1;
		}
	}
	size_t n = strcspn(pick, "\n");
	const char *msg = note ? memmem(pick, n, "error:", 6) : NULL;

	if (msg)
		snprintf(buf, len, "%.*s %.*s", (int)loc_len(note, file), note, (int)(n - (size_t)(msg - pick)), msg);
	else
		snprintf(buf, len, "%.*s", (int)n, pick);
}

/* Split GEN_CC ("cc", "ccache gcc") into argv words; returns how many. */
static int split_words(char *s, char **words, int max)
{
	int n = 0;

	for (char *save = NULL, *t = strtok_r(s, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save))
		words[n++] = t;
	return n;
}

/* ---- build ---- */

struct custom_opts {
	const char *source;
	uint32_t state_size;
	uint32_t params[GEN_NF_PARAMS_MAX];
	uint32_t nparams;
	int timeout_s;
};

static int parse_u32(const char *s, unsigned long max, uint32_t *ret)
{
	char *end;
	unsigned long v;

	if (!s[0] || s[0] == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int parse_opts(const struct nf_cfg *cfg, struct custom_opts *o, int *ret_src_line, char *err, size_t errlen)
{
	static const char *const known[] = { "source", "state_size", "params", "compile_timeout", NULL };
	const char *v;
	uint32_t t;
	int line, r;

	r = nf_cfg_check_keys(cfg, known, err, errlen);
	if (r)
		return r;
	memset(o, 0, sizeof(*o));
	o->state_size = NF_CUSTOM_STATE_DEFAULT;
	o->timeout_s = CUSTOM_TIMEOUT_DEFAULT;
	o->source = nf_cfg_get(cfg, "source", ret_src_line);
	if (!o->source || !o->source[0]) {
		snprintf(err, errlen, "%s:%d: nf '%s': custom needs source = FILE (one C file with GEN_NF)",
			 cfg->file, *ret_src_line, cfg->name);
		return -EINVAL;
	}
	v = nf_cfg_get(cfg, "state_size", &line);
	if (v && (parse_u32(v, NF_CUSTOM_STATE_MAX, &o->state_size) || !o->state_size)) {
		snprintf(err, errlen, "%s:%d: nf '%s': state_size '%s' must be 1..%u bytes", cfg->file, line,
			 cfg->name, v, NF_CUSTOM_STATE_MAX);
		return -EINVAL;
	}
	v = nf_cfg_get(cfg, "compile_timeout", &line);
	if (v) {
		if (parse_u32(v, CUSTOM_TIMEOUT_MAX, &t) || !t) {
			snprintf(err, errlen, "%s:%d: nf '%s': compile_timeout '%s' must be 1..%d seconds",
				 cfg->file, line, cfg->name, v, CUSTOM_TIMEOUT_MAX);
			return -EINVAL;
		}
		o->timeout_s = (int)t;
	}
	v = nf_cfg_get(cfg, "params", &line);
	if (v) {
		char buf[256], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", v);
		for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
			if (o->nparams == GEN_NF_PARAMS_MAX) {
				snprintf(err, errlen, "%s:%d: nf '%s': more than %d params", cfg->file, line,
					 cfg->name, GEN_NF_PARAMS_MAX);
				return -EINVAL;
			}
			if (parse_u32(tok, UINT32_MAX, &o->params[o->nparams])) {
				snprintf(err, errlen, "%s:%d: nf '%s': param '%s' is not an unsigned 32-bit number",
					 cfg->file, line, cfg->name, tok);
				return -EINVAL;
			}
			o->nparams++;
		}
		if (o->nparams * 4 > o->state_size) {
			snprintf(err, errlen, "%s:%d: nf '%s': %u params need state_size >= %u", cfg->file, line,
				 cfg->name, o->nparams, o->nparams * 4);
			return -EINVAL;
		}
	}
	return 0;
}

/* Compile real (whose content is src) into so; the compiler's verdict becomes a FILE:LINE error. */
static int compile(const struct where *w, const struct custom_opts *o, const char *cc, const char *inc,
		   const char *real, const char *so, const char *src, size_t src_len)
{
	char ccbuf[256], incopt[PATH_MAX + 2], defopt[64], tmp[PATH_MAX + 128];
	char *argv[CUSTOM_CC_ARGS_MAX + 16];
	struct cc_result *res;
	char *again = NULL;
	size_t again_len = 0;
	int n, r;

	snprintf(ccbuf, sizeof(ccbuf), "%s", cc);
	n = split_words(ccbuf, argv, CUSTOM_CC_ARGS_MAX);
	if (!n)
		return fail(w, -EINVAL, "GEN_CC is empty");
	snprintf(incopt, sizeof(incopt), "-I%s", inc);
	snprintf(defopt, sizeof(defopt), "-DGEN_NF_DECLARED_SIZE=%u", o->state_size);
	if (rtcache_tmp_path(so, tmp, sizeof(tmp)))
		return fail(w, -ENAMETOOLONG, "cache path '%s' is too long", so);
	const char *flags[] = { "-std=gnu11", "-O2", "-fPIC", "-shared", "-fvisibility=hidden",
				/* NVRTC refuses these too: fail here, not at dlopen. */
				"-Werror=implicit-function-declaration",
				incopt, defopt, "-o", tmp, real };
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		argv[n++] = (char *)flags[i];
	argv[n] = NULL;

	res = malloc(sizeof(*res));
	if (!res)
		return fail(w, -ENOMEM, "out of memory");
	r = run_compiler(argv, o->timeout_s, res);
	if (r == -ENOENT || r == -EACCES) {
		r = fail(w, -ENOENT, "no C compiler found ('%s'): custom NFs need one on the cpu backend", argv[0]);
		goto out;
	}
	if (r) {
		r = fail(w, r, "cannot run the C compiler '%s': %s", argv[0], strerror(-r));
		goto out;
	}
	if (res->timed_out) {
		r = fail(w, -ETIMEDOUT, "compile timed out after %d s", o->timeout_s);
		goto out;
	}
	if (!WIFEXITED(res->status) || WEXITSTATUS(res->status)) {
		char line[512];

		first_error_line(res->out, real, line, sizeof(line));
		if (WIFSIGNALED(res->status))
			r = fail(w, -EIO, "compiler '%s' killed by signal %d%s%s", argv[0], WTERMSIG(res->status),
				 line[0] ? ": " : "", line);
		else if (WEXITSTATUS(res->status) == 127 && !line[0])
			r = fail(w, -ENOENT, "no C compiler found ('%s'): custom NFs need one on the cpu backend", argv[0]);
		else if (line[0])
			r = fail(w, -EINVAL, "%s", line);
		else
			r = fail(w, -EINVAL, "compiler '%s' failed with status %d", argv[0], WEXITSTATUS(res->status));
		goto out;
	}
	/* The cache is keyed by what we hashed: make sure that is what was compiled. */
	r = read_all(real, CUSTOM_SOURCE_MAX, &again, &again_len);
	if (r || again_len != src_len || memcmp(again, src, src_len)) {
		r = fail(w, -ESTALE, "source '%s' changed while it was compiled", real);
		goto out;
	}
	r = rtcache_commit(tmp, so, 0500);
	if (r) {
		r = fail(w, r, "cannot store '%s': %s", so, strerror(-r));
		goto out;
	}
out:
	if (r)
		unlink(tmp);
	free(again);
	free(res);
	return r;
}

static int load(const struct where *w, const char *real, const char *so, void **ret_fn, uint32_t *ret_sizeof,
		uint32_t state_size)
{
	const uint32_t *abi, *sz;
	void *h, *fn;

	dlerror();
	h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return fail(w, -ELIBBAD, "cannot load the compiled '%s': %s", real, dlerror());
	/* The handle is never closed: blobs are freed with free(), and any may still run. */
	fn = dlsym(h, "gen_nf_entry");
	abi = dlsym(h, "gen_nf_abi");
	sz = dlsym(h, "gen_nf_state_sizeof");
	if (!fn || !abi || !sz)
		return fail(w, -ENOENT, "no entry point in '%s': the file needs a line "
			    "GEN_NF(entry_function, struct state_type); (gen_nf_entry not found)", real);
	if (*abi != GEN_NF_ABI_VERSION)
		return fail(w, -EPROTO, "'%s' was built for NF ABI %u, gend speaks %u", real, *abi, GEN_NF_ABI_VERSION);
	if (*sz > state_size)
		return fail(w, -E2BIG, "state of '%s' is %u bytes, more than state_size %u", real, *sz, state_size);
	*ret_fn = fn;
	*ret_sizeof = *sz;
	return 0;
}

static int custom_build(const struct nf_cfg *cfg, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	char path[PATH_MAX], real[PATH_MAX], cache[PATH_MAX], so[PATH_MAX + 80], hex[RTCACHE_KEY_LEN];
	char hpath[PATH_MAX + 16], why[PATH_MAX + 128];
	char *src = NULL, *h_author = NULL, *h_abi = NULL;
	size_t src_len = 0, ha_len = 0, hb_len = 0;
	struct custom_opts o;
	struct where w = { .cfg = cfg, .err = err, .errlen = errlen };
	const char *cc, *inc;
	void *fn = NULL;
	uint32_t st_sizeof = 0;
	int r;

	r = parse_opts(cfg, &o, &w.line, err, errlen);
	if (r)
		return r;
	nf_cfg_path(cfg, o.source, path, sizeof(path));
	if (!realpath(path, real))
		return fail(&w, -errno, "source '%s': %s", path, strerror(errno));
	r = check_trusted_path(&w, real);
	if (r)
		return r;
	r = read_all(real, CUSTOM_SOURCE_MAX, &src, &src_len);
	if (r) {
		fail(&w, r, "cannot read source '%s': %s", real, strerror(-r));
		goto out;
	}
	inc = nf_custom_include_dir();
	if (!inc) {
		r = fail(&w, -ENOENT, "gen_nf.h not found (GEN_NF_INCLUDE, %s, /usr/include/gen)", GEN_NF_INCLUDE_DIR);
		goto out;
	}
	/* The headers are part of what gets compiled: an upgrade must miss the cache. */
	snprintf(hpath, sizeof(hpath), "%s/gen_nf.h", inc);
	r = read_all(hpath, CUSTOM_SOURCE_MAX, &h_author, &ha_len);
	if (!r) {
		snprintf(hpath, sizeof(hpath), "%s/nf.h", inc);
		r = read_all(hpath, CUSTOM_SOURCE_MAX, &h_abi, &hb_len);
	}
	if (r) {
		fail(&w, r, "cannot read '%s': %s", hpath, strerror(-r));
		goto out;
	}
	cc = getenv("GEN_CC");
	if (!cc || !cc[0])
		cc = "cc";
	r = rtcache_dir(cache, sizeof(cache), why, sizeof(why));
	if (r) {
		fail(&w, r, "%s", why);
		goto out;
	}
	{
		static const char flags_id[] = "-std=gnu11 -O2 -fPIC -shared -fvisibility=hidden -Werror=implicit-function-declaration";
		struct rtcache_key k;
		char size_str[16];

		snprintf(size_str, sizeof(size_str), "%u", o.state_size);
		r = rtcache_key_init(&k, "gen-custom-nf-v3");
		if (!r) {
			rtcache_key_add_str(&k, "flags", flags_id);
			rtcache_key_add_str(&k, "cc", cc);
			rtcache_key_add_str(&k, "state_size", size_str);
			rtcache_key_add(&k, "gen_nf.h", h_author, ha_len);
			rtcache_key_add(&k, "nf.h", h_abi, hb_len);
			rtcache_key_add(&k, "source", src, src_len);
			r = rtcache_key_end(&k, hex);
		}
		if (r) {
			fail(&w, r, "SHA-256 failed");
			goto out;
		}
	}
	if (rtcache_path(cache, hex, "so", so, sizeof(so))) {
		r = fail(&w, -ENAMETOOLONG, "cache directory '%s': name too long", cache);
		goto out;
	}
	if (!rtcache_entry_ok(so)) {
		unlink(so);
		r = compile(&w, &o, cc, inc, real, so, src, src_len);
		if (r)
			goto out;
	}
	r = load(&w, real, so, &fn, &st_sizeof, o.state_size);
	if (r)
		goto out;

	{
		size_t plen = strlen(real);
		size_t state_area = ((size_t)o.state_size + 7) & ~(size_t)7;
		size_t src_off = NF_CUSTOM_STATE_OFF + state_area;
		struct nf_hdr *hdr = nf_blob_alloc(NF_T_CUSTOM, src_off + plen + 1,
						   offsetof(struct nf_custom, passed), CUSTOM_C_MAX);
		struct nf_custom *c = (struct nf_custom *)hdr;

		if (!hdr) {
			r = fail(&w, -errno, "cannot allocate %zu bytes of state", src_off + plen + 1);
			goto out;
		}
		c->host_fn = (uint64_t)(uintptr_t)fn;
		c->src_hash = nf_custom_hash(src, src_len);
		c->state_off = NF_CUSTOM_STATE_OFF;
		c->state_size = o.state_size;
		c->src_off = (uint32_t)src_off;
		c->src_len = (uint32_t)plen + 1; /* with the NUL */
		c->nparams = o.nparams;
		c->abi = GEN_NF_ABI_VERSION;
		memcpy(nf_custom_state(c), o.params, o.nparams * sizeof(uint32_t));
		memcpy((char *)c + src_off, real, plen + 1);
		*ret_state = hdr;
	}
	r = 0;
out:
	free(src);
	free(h_author);
	free(h_abi);
	return r;
}

const char *nf_custom_source(const struct nf_hdr *h)
{
	const struct nf_custom *c = (const struct nf_custom *)h;

	if (!h || h->type != NF_T_CUSTOM || h->size < sizeof(*c) || c->src_off < sizeof(*c) || !c->src_len ||
	    (uint64_t)c->src_off + c->src_len > h->size || ((const char *)c)[c->src_off + c->src_len - 1])
		return NULL;
	return (const char *)c + c->src_off;
}

int nf_custom_read_source(const struct nf_hdr *h, char **ret_text, size_t *ret_len)
{
	const char *path = nf_custom_source(h);
	char *text;
	size_t len;
	int r;

	if (!path)
		return -EINVAL;
	r = read_all(path, CUSTOM_SOURCE_MAX, &text, &len);
	if (r)
		return r;
	if (nf_custom_hash(text, len) != ((const struct nf_custom *)h)->src_hash) {
		free(text);
		return -ESTALE;
	}
	*ret_text = text;
	*ret_len = len;
	return 0;
}

static const char *const custom_counters[] = { "passed", "dropped", "no_code" };

const struct nf_ops nf_ops_custom = {
	.type_name = "custom",
	.type = NF_T_CUSTOM,
	.build = custom_build,
	.counter_names = custom_counters,
};
