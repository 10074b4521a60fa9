/*
 * gen-span: how fast the GPU reads packets out of host memory as the span of
 * frames in flight grows, for each way of getting that memory.
 *
 * gen-bench's 16k/64k batches ran a third slower than 4k ones, and the rate
 * followed the span of host frames the batches in flight read (RESULTS.md,
 * "the span of frames the GPU reads"); 2 MiB hugepages under cudaHostRegister
 * did not change it. This separates the candidates: the same gather (16-byte
 * loads, one packet's chunks on adjacent threads, packed device records) over
 * frames 2 KiB apart, batches walking a window of SPAN bytes, eight launches
 * in flight, from memory that is
 *   reg4k    mmap'ed 4 KiB pages, cudaHostRegister'ed (gend's UMEM today)
 *   reghuge  MAP_HUGETLB 2 MiB pages, cudaHostRegister'ed
 *   hostalloc cudaHostAlloc(Mapped): pinned memory the driver allocates
 *   vmmhost  cuMemCreate with a host location (2 MiB granules), mapped for both
 * For each it also says whether AF_XDP accepts the area as a UMEM
 * (XDP_UMEM_REG), which is what gend needs of it.
 *
 *   gen-span [SIZE_BYTES] [SECONDS]    (defaults 64 and 0.25)
 *
 * A benchmark: it prints figures and asserts nothing.
 */
#include <cuda.h>
#include <cuda_runtime.h>
#include <errno.h>
#include <linux/if_xdp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define FRAME 2048u
#define INFLIGHT 8
#define AREA (2ull << 30)

__global__ void gather(const uint4 *__restrict__ umem, uint4 *__restrict__ out, uint32_t first, uint32_t nframes,
		       uint32_t n, uint32_t chunks, int write_back)
{
	uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
	if (t >= n * chunks)
		return;
	uint32_t p = t / chunks, c = t % chunks;
	size_t f = (first + p) % nframes;
	const uint4 *src = umem + f * (FRAME / 16) + c;
	uint4 v = *src;
	out[t] = v;
	if (write_back) {
		v.x ^= 1;
		*(uint4 *)src = v;
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *umem_reg(void *p, size_t len)
{
	static char msg[64];
	int fd = socket(AF_XDP, SOCK_RAW, 0);
	if (fd < 0) {
		snprintf(msg, sizeof(msg), "no AF_XDP socket: %s", strerror(errno));
		return msg;
	}
	struct xdp_umem_reg r;
	memset(&r, 0, sizeof(r));
	r.addr = (uintptr_t)p;
	r.len = len;
	r.chunk_size = FRAME;
	int rc = setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &r, sizeof(r));
	snprintf(msg, sizeof(msg), "%s", rc ? strerror(errno) : "accepted");
	close(fd);
	return msg;
}

struct area {
	const char *name;
	void *host;
	void *dev;
	CUmemGenericAllocationHandle h;
	int kind;
};

static int area_get(struct area *a, int kind)
{
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	switch (kind) {
	case 0:
	case 1:
		a->name = kind ? "reghuge" : "reg4k";
		a->host = mmap(NULL, AREA, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | (kind ? MAP_HUGETLB : 0), -1, 0);
		if (a->host == MAP_FAILED) {
			printf("%-9s skipped: mmap: %s\n", a->name, strerror(errno));
			return -1;
		}
		if (cudaHostRegister(a->host, AREA, cudaHostRegisterMapped | cudaHostRegisterPortable) != cudaSuccess ||
		    cudaHostGetDevicePointer(&a->dev, a->host, 0) != cudaSuccess) {
			printf("%-9s skipped: cudaHostRegister: %s\n", a->name, cudaGetErrorString(cudaGetLastError()));
			munmap(a->host, AREA);
			return -1;
		}
		return 0;
	case 2:
		a->name = "hostalloc";
		if (cudaHostAlloc(&a->host, AREA, cudaHostAllocMapped | cudaHostAllocPortable) != cudaSuccess ||
		    cudaHostGetDevicePointer(&a->dev, a->host, 0) != cudaSuccess) {
			printf("%-9s skipped: %s\n", a->name, cudaGetErrorString(cudaGetLastError()));
			return -1;
		}
		return 0;
	default: {
		a->name = "vmmhost";
		CUmemAllocationProp prop;
		memset(&prop, 0, sizeof(prop));
		prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
		prop.location.type = CU_MEM_LOCATION_TYPE_HOST;
		prop.location.id = 0;
		size_t gran = 0;
		CUdeviceptr p = 0;
		CUresult r = cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED);
		if (r == CUDA_SUCCESS)
			r = cuMemCreate(&a->h, AREA, &prop, 0);
		if (r == CUDA_SUCCESS)
			r = cuMemAddressReserve(&p, AREA, 2u << 20, 0, 0);
		if (r == CUDA_SUCCESS)
			r = cuMemMap(p, AREA, 0, a->h, 0);
		if (r == CUDA_SUCCESS) {
			CUmemAccessDesc acc[2];
			memset(acc, 0, sizeof(acc));
			acc[0].location.type = CU_MEM_LOCATION_TYPE_DEVICE;
			acc[0].location.id = 0;
			acc[0].flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
			acc[1].location.type = CU_MEM_LOCATION_TYPE_HOST;
			acc[1].location.id = 0;
			acc[1].flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
			r = cuMemSetAccess(p, AREA, acc, 2);
		}
		if (r != CUDA_SUCCESS) {
			const char *s = NULL;
			cuGetErrorString(r, &s);
			printf("%-9s skipped: %s (granule %zu)\n", a->name, s ? s : "?", gran);
			return -1;
		}
		a->host = a->dev = (void *)p;
		printf("%-9s granule %zu KiB\n", a->name, gran >> 10);
		return 0;
	}
	}
}

static void area_put(struct area *a)
{
	if (a->kind <= 1) {
		cudaHostUnregister(a->host);
		munmap(a->host, AREA);
	} else if (a->kind == 2) {
		cudaFreeHost(a->host);
	} else {
		cuMemUnmap((CUdeviceptr)a->dev, AREA);
		cuMemAddressFree((CUdeviceptr)a->dev, AREA);
		cuMemRelease(a->h);
	}
}

int main(int argc, char **argv)
{
	uint32_t size = argc > 1 ? (uint32_t)atoi(argv[1]) : 64;
	double secs = argc > 2 ? atof(argv[2]) : 0.25;
	uint32_t chunks = (size + 15) / 16;
	static const size_t spans[] = { 32ull << 20, 128ull << 20, 512ull << 20, 2ull << 30 };
	static const uint32_t batches[] = { 4096, 65536 };
	cudaStream_t st[INFLIGHT];
	uint4 *out[INFLIGHT];

	if (cudaSetDevice(0) != cudaSuccess || cudaFree(0) != cudaSuccess) {
		printf("gen-span: no CUDA device: %s\n", cudaGetErrorString(cudaGetLastError()));
		return 0;
	}
	cuInit(0);
	for (int i = 0; i < INFLIGHT; i++) {
		cudaStreamCreateWithFlags(&st[i], cudaStreamNonBlocking);
		cudaMalloc(&out[i], (size_t)65536 * chunks * 16);
	}
	printf("gen-span: %u B packets in %u B frames, %d launches in flight, %.2f s a point\n", size, FRAME, INFLIGHT,
	       secs);
	printf("%-9s %6s %8s %10s %10s %10s\n", "memory", "batch", "span", "read Mpps", "GB/s", "rw Mpps");
	for (int kind = 0; kind < 4; kind++) {
		struct area a;
		if (area_get(&a, kind))
			continue;
		double t0 = now();
		for (size_t off = 0; off < AREA; off += 4096)
			((volatile uint8_t *)a.host)[off] = (uint8_t)off;
		printf("%-9s touched 2 GiB in %.2f s; AF_XDP UMEM: %s\n", a.name, now() - t0, umem_reg(a.host, AREA));
		for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
			for (size_t s = 0; s < sizeof(spans) / sizeof(spans[0]); s++) {
				uint32_t n = batches[b], nframes = (uint32_t)(spans[s] / FRAME);
				if (nframes < n)
					continue;
				double mpps[2];
				for (int wb = 0; wb < 2; wb++) {
					uint32_t threads = n * chunks, blocks = (threads + 255) / 256;
					uint64_t launches = 0, first = 0;
					double start = now();
					while (now() - start < secs) {
						int i = launches % INFLIGHT;
						gather<<<blocks, 256, 0, st[i]>>>((const uint4 *)a.dev, out[i],
										 (uint32_t)(first % nframes), nframes, n,
										 chunks, wb);
						first += n;
						launches++;
						if (launches >= INFLIGHT)
							cudaStreamSynchronize(st[launches % INFLIGHT]);
					}
					cudaDeviceSynchronize();
					double el = now() - start;
					cudaError_t e = cudaGetLastError();
					if (e != cudaSuccess) {
						printf("gen-span: %s\n", cudaGetErrorString(e));
						return 1;
					}
					mpps[wb] = launches * (double)n / el / 1e6;
				}
				printf("%-9s %6u %7zuM %10.1f %10.1f %10.1f\n", a.name, n, spans[s] >> 20, mpps[0],
				       mpps[0] * chunks * 16 / 1e3, mpps[1]);
			}
		}
		area_put(&a);
	}
	return 0;
}
