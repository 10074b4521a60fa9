// SPDX-License-Identifier: GPL-2.0
/*
 * Fused agents on a device (see fused.h). One worker thread per process builds
 * them in order (a synchronous request jumps the queue); chain_create never
 * blocks on NVRTC unless the chain cannot run without its fused agent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cuda.h>
#include "fused.h"
#include "rtc.h"

struct fused_agent {
	char key[65];
	int dev, arch;
	int refs;                 /* under f.lock: chains + the queue while queued or building */
	_Atomic int state;        /* enum fused_state; READY is published with release */
	struct rtc_src src;       /* freed once built */
	CUmodule mod;
	CUfunction fn;
	bool cache_hit;
	double build_ms, ready_ms;
	struct timespec t0;
	int err;                  /* FAILED: -errno of the build */
	char why[2048];           /* FAILED: the reason, NVRTC's log */
	struct fused_agent *next; /* registry */
	struct fused_agent *qnext;
};

/* The driver entry points used, taken from the runtime (it has loaded libcuda.so.1 already). */
static struct {
	CUresult (*load)(CUmodule *, const void *);
	CUresult (*get_fn)(CUfunction *, CUmodule, const char *);
	CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
			   void **, void **);
	CUresult (*unload)(CUmodule);
	CUresult (*err_str)(CUresult, const char **);
	CUresult (*set_attr)(CUfunction, CUfunction_attribute, int);
	int status;
	char why[160];
} drv;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	pthread_once_t once;
	struct fused_agent *agents;
	struct fused_agent *qhead;
	bool worker;
	bool busy;     /* the worker is building an agent */
	bool stopping; /* fused_shutdown(): build nothing more */
} f = { .lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER,
	.once = PTHREAD_ONCE_INIT };

static void drv_load(void)
{
	static const char *const names[] = { "cuModuleLoadData", "cuModuleGetFunction", "cuLaunchKernel",
					     "cuModuleUnload", "cuGetErrorString", "cuFuncSetAttribute" };
	void **slots[] = { (void **)&drv.load, (void **)&drv.get_fn, (void **)&drv.launch, (void **)&drv.unload,
			   (void **)&drv.err_str, (void **)&drv.set_attr };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		enum cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
		cudaError_t e = cudaGetDriverEntryPointByVersion(names[i], slots[i], 12000, cudaEnableDefault, &q);

		if (e != cudaSuccess || q != cudaDriverEntryPointSuccess || !*slots[i]) {
			snprintf(drv.why, sizeof(drv.why), "CUDA driver has no %s: %s", names[i],
				 e != cudaSuccess ? cudaGetErrorString(e) : "symbol not found");
			drv.status = -ENOSYS;
			return;
		}
	}
}

static const char *cu_str(CUresult e)
{
	const char *s = NULL;

	if (drv.err_str)
		drv.err_str(e, &s);
	return s ? s : "unknown CUDA driver error";
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void agent_free(struct fused_agent *a)
{
	if (a->mod) {
		/* The module lives in the device's primary context. */
		cudaSetDevice(a->dev);
		drv.unload(a->mod);
	}
	rtc_src_free(&a->src);
	free(a);
}

void fused_put(struct fused_agent *a)
{
	struct fused_agent **pp;

	if (!a)
		return;
	pthread_mutex_lock(&f.lock);
	if (--a->refs > 0) {
		pthread_mutex_unlock(&f.lock);
		return;
	}
	for (pp = &f.agents; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	pthread_mutex_unlock(&f.lock);
	agent_free(a);
}

/* Build and load one agent; on the worker thread, f.lock not held. */
static void build(struct fused_agent *a)
{
	struct rtc_cubin cub;
	char err[sizeof(a->why)] = "";
	CUmodule mod = NULL;
	CUfunction fn = NULL;
	int e = rtc_build(&a->src, a->arch, &cub, err, sizeof(err));

	if (!e) {
		CUresult c;

		if (cudaSetDevice(a->dev) != cudaSuccess || cudaFree(NULL) != cudaSuccess) {
			snprintf(err, sizeof(err), "cannot make device %d current for the fused agent", a->dev);
			e = -EIO;
		} else if ((c = drv.load(&mod, cub.data)) != CUDA_SUCCESS) {
			snprintf(err, sizeof(err), "cuModuleLoadData(fused agent %.16s): %s", a->key, cu_str(c));
			e = -EIO;
		} else if ((c = drv.get_fn(&fn, mod, RTC_KERNEL)) != CUDA_SUCCESS) {
			snprintf(err, sizeof(err), "cuModuleGetFunction(" RTC_KERNEL "): %s", cu_str(c));
			drv.unload(mod);
			mod = NULL;
			e = -EIO;
		}
	}
	/*
	 * GEN_GPU_CARVEOUT=P (test override, 0-100): the share of each SM's
	 * unified L1/shared memory the fused agent prefers as shared memory (the
	 * rest is L1, which caches the agent's stack and the NF tables); unset:
	 * the driver's choice.
	 */
	const char *cv = getenv("GEN_GPU_CARVEOUT");
	if (!e && cv && *cv) {
		char *end;
		long pct = strtol(cv, &end, 10);
		CUresult c;

		if (*end || pct < 0 || pct > 100 ||
		    (c = drv.set_attr(fn, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, (int)pct)) != CUDA_SUCCESS)
			fprintf(stderr, "gen: GEN_GPU_CARVEOUT=%s not applied (0-100)\n", cv);
	}
	pthread_mutex_lock(&f.lock);
	if (!e) {
		a->mod = mod;
		a->fn = fn;
		a->cache_hit = cub.cache_hit;
		a->build_ms = cub.ms;
		a->ready_ms = ms_since(&a->t0);
		atomic_store_explicit(&a->state, FUSED_READY, memory_order_release);
	} else {
		snprintf(a->why, sizeof(a->why), "%s", err);
		a->err = e;
		atomic_store_explicit(&a->state, FUSED_FAILED, memory_order_release);
	}
	rtc_src_free(&a->src);
	pthread_cond_broadcast(&f.done);
	pthread_mutex_unlock(&f.lock);
	rtc_cubin_free(&cub);
}

static void *worker(void *arg)
{
	for (;;) {
		struct fused_agent *a;
		bool orphan;

		pthread_mutex_lock(&f.lock);
		while (!f.qhead)
			pthread_cond_wait(&f.work, &f.lock);
		a = f.qhead;
		f.qhead = a->qnext;
		/* Every chain that wanted it is gone already, or the backend is shutting down. */
		orphan = a->refs == 1 || f.stopping;
		f.busy = !orphan;
		pthread_mutex_unlock(&f.lock);
		if (orphan) {
			pthread_mutex_lock(&f.lock);
			snprintf(a->why, sizeof(a->why), "not built: no chain uses it any more");
			atomic_store(&a->state, FUSED_FAILED);
			pthread_mutex_unlock(&f.lock);
		} else {
			build(a);
		}
		pthread_mutex_lock(&f.lock);
		f.busy = false;
		pthread_cond_broadcast(&f.done);
		pthread_mutex_unlock(&f.lock);
		fused_put(a); /* the queue's reference */
	}
	return NULL;
}

/* Called with f.lock held. */
static int enqueue(struct fused_agent *a, bool front)
{
	if (!f.worker) {
		pthread_t t;
		pthread_attr_t at;

		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		int e = pthread_create(&t, &at, worker, NULL);
		pthread_attr_destroy(&at);
		if (e)
			return -e;
		f.worker = true;
	}
	a->refs++;
	if (front || !f.qhead) {
		a->qnext = f.qhead;
		f.qhead = a;
	} else {
		struct fused_agent *q = f.qhead;
		while (q->qnext)
			q = q->qnext;
		q->qnext = a;
	}
	pthread_cond_signal(&f.work);
	return 0;
}

/* Wait for a's build: 0, or -errno with err (-ETIMEDOUT after timeout_s). */
static int wait_built(struct fused_agent *a, int timeout_s, char *err, size_t errlen)
{
	struct timespec dl;
	int e = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_s > 0 ? timeout_s : RTC_TIMEOUT_DEFAULT;
	pthread_mutex_lock(&f.lock);
	while (atomic_load(&a->state) == FUSED_PENDING && e != ETIMEDOUT)
		e = pthread_cond_timedwait(&f.done, &f.lock, &dl);
	if (atomic_load(&a->state) == FUSED_READY)
		e = 0;
	else if (atomic_load(&a->state) == FUSED_FAILED)
		e = a->err ? -a->err : EIO;
	if (e == ETIMEDOUT)
		snprintf(err, errlen, "fused agent: compile timed out after %d s (gpu_compile_timeout)",
			 timeout_s > 0 ? timeout_s : RTC_TIMEOUT_DEFAULT);
	else if (e)
		snprintf(err, errlen, "%s", a->why);
	pthread_mutex_unlock(&f.lock);
	return -e;
}

struct fused_agent *fused_get(const struct chain_prog *prog, int dev, bool sync, int timeout_s, char *err,
			      size_t errlen)
{
	struct fused_agent *a;
	struct rtc_src src;
	int maj = 0, min = 0, e;

	if (rtc_available(err, errlen)) {
		errno = ENOENT;
		return NULL;
	}
	pthread_once(&f.once, drv_load);
	if (drv.status) {
		snprintf(err, errlen, "%s", drv.why);
		errno = ENOSYS;
		return NULL;
	}
	if (cudaDeviceGetAttribute(&maj, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
	    cudaDeviceGetAttribute(&min, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
		snprintf(err, errlen, "cannot read device %d's architecture", dev);
		errno = ENODEV;
		return NULL;
	}
	e = rtc_generate(prog, maj * 10 + min, &src, err, errlen);
	if (e) {
		errno = -e;
		return NULL;
	}
	pthread_mutex_lock(&f.lock);
	for (a = f.agents; a; a = a->next)
		if (a->dev == dev && !strcmp(a->key, src.key))
			break;
	if (a) {
		a->refs++;
		rtc_src_free(&src);
	} else {
		a = calloc(1, sizeof(*a));
		if (!a) {
			pthread_mutex_unlock(&f.lock);
			rtc_src_free(&src);
			errno = ENOMEM;
			return NULL;
		}
		memcpy(a->key, src.key, sizeof(a->key));
		a->src = src;
		a->dev = dev;
		a->arch = maj * 10 + min;
		a->refs = 1;
		clock_gettime(CLOCK_MONOTONIC, &a->t0);
		atomic_init(&a->state, FUSED_PENDING);
		e = enqueue(a, sync);
		if (e) {
			pthread_mutex_unlock(&f.lock);
			snprintf(err, errlen, "cannot start the fused agent builder: %s", strerror(-e));
			agent_free(a);
			errno = -e;
			return NULL;
		}
		a->next = f.agents;
		f.agents = a;
	}
	pthread_mutex_unlock(&f.lock);
	if (sync && (e = wait_built(a, timeout_s, err, errlen))) {
		fused_put(a);
		errno = -e;
		return NULL;
	}
	return a;
}

bool fused_ready(const struct fused_agent *a)
{
	return a && atomic_load_explicit(&((struct fused_agent *)a)->state, memory_order_acquire) == FUSED_READY;
}

int fused_launch(struct fused_agent *a, const struct gpu_launch *l, const struct gpu_grid *g, cudaStream_t s, char *err,
		 size_t errlen)
{
	struct gpu_launch p = *l;
	void *args[] = { &p };
	CUresult c;

	if (!p.n)
		return 0;
	/* The same shape as the prebuilt agent's (backend_gpu.c chose it). */
	c = drv.launch(a->fn, g->blocks, 1, 1, g->threads, 1, 1, g->smem, (CUstream)s, args, NULL);
	if (c != CUDA_SUCCESS) {
		snprintf(err, errlen, "%s:%d: launch fused agent: %s", __FILE__, __LINE__, cu_str(c));
		return -EIO;
	}
	return 0;
}

int fused_timing(const struct fused_agent *a, double *ms, bool *cache_hit)
{
	if (!fused_ready(a))
		return -EAGAIN;
	*ms = a->ready_ms;
	*cache_hit = a->cache_hit;
	return 0;
}

void fused_describe(const struct fused_agent *a, char *buf, size_t len)
{
	switch (atomic_load_explicit(&((struct fused_agent *)a)->state, memory_order_acquire)) {
	case FUSED_READY:
		snprintf(buf, len, "fused agent (%s, %.0f ms)", a->cache_hit ? "cache hit" : "compiled", a->ready_ms);
		break;
	case FUSED_PENDING:
		snprintf(buf, len, "generic agent (fused compiling)");
		break;
	default: {
		const char *nl = strchr(a->why, '\n');
		snprintf(buf, len, "generic agent (fused failed: %.*s)", nl ? (int)(nl - a->why) : (int)strlen(a->why),
			 a->why);
	}
	}
}

/*
 * Before the process tears down: queued builds are dropped and a build in
 * progress is waited for, so no NVRTC compile or module load runs while the
 * CUDA runtime and libnvrtc are being unloaded at exit.
 */
void fused_shutdown(void)
{
	pthread_mutex_lock(&f.lock);
	f.stopping = true;
	while (f.busy || f.qhead)
		pthread_cond_wait(&f.done, &f.lock);
	pthread_mutex_unlock(&f.lock);
}
