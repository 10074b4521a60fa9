// SPDX-License-Identifier: GPL-2.0
/*
 * Every NF header must compile under NVRTC, the compiler the gpu backend uses for
 * agents built at run time. This compiles a kernel that includes nf/agent.h (and
 * with it every NF) and calls nf_agent_run. No GPU is needed, only libnvrtc.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"

/* The few NVRTC entry points used, declared here so the test needs no CUDA headers. */
typedef int (*nvrtc_create_fn)(void **prog, const char *src, const char *name, int nheaders,
			       const char *const *headers, const char *const *include_names);
typedef int (*nvrtc_compile_fn)(void *prog, int nopts, const char *const *opts);
typedef int (*nvrtc_log_size_fn)(void *prog, size_t *size);
typedef int (*nvrtc_log_fn)(void *prog, char *log);
typedef int (*nvrtc_destroy_fn)(void **prog);
typedef const char *(*nvrtc_err_fn)(int result);

static const char kernel_src[] =
	"#include \"agent.h\"\n"
	"extern \"C\" __global__ void k(const struct nf_chain *c, uint8_t *frames, uint32_t frame_size,\n"
	"                              uint32_t *lens, uint32_t *verdicts, uint32_t n)\n"
	"{\n"
	"	uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;\n"
	"	if (i >= n)\n"
	"		return;\n"
	"	struct nf_pkt p;\n"
	"	p.buf = frames + (uint64_t)i * frame_size;\n"
	"	p.off = 256;\n"
	"	p.len = lens[i];\n"
	"	p.cap = frame_size;\n"
	"	p.in_port = 0;\n"
	"	p.seq = i;\n"
	"	p.chain = 0;\n"
	"	p.now = 0;\n"
	"	verdicts[i] = nf_agent_run(c, NULL, &p);\n"
	"	lens[i] = p.len;\n"
	"}\n";

static void *open_nvrtc(void)
{
	static const char *const names[] = {
		"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12",
		"/usr/local/cuda/lib64/libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so.13",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
	}
	return NULL;
}

Test(nvrtc, agent_and_every_nf_compile)
{
	void *lib = open_nvrtc();
	if (!lib) {
		cr_skip_test("libnvrtc not loadable (tried libnvrtc.so[.13|.12] and /usr/local/cuda/lib64): %s", dlerror());
		return;
	}
	nvrtc_create_fn create = (nvrtc_create_fn)dlsym(lib, "nvrtcCreateProgram");
	nvrtc_compile_fn compile = (nvrtc_compile_fn)dlsym(lib, "nvrtcCompileProgram");
	nvrtc_log_size_fn log_size = (nvrtc_log_size_fn)dlsym(lib, "nvrtcGetProgramLogSize");
	nvrtc_log_fn get_log = (nvrtc_log_fn)dlsym(lib, "nvrtcGetProgramLog");
	nvrtc_destroy_fn destroy = (nvrtc_destroy_fn)dlsym(lib, "nvrtcDestroyProgram");
	nvrtc_err_fn err_str = (nvrtc_err_fn)dlsym(lib, "nvrtcGetErrorString");
	cr_assert(create && compile && log_size && get_log && destroy && err_str,
		  "libnvrtc lacks an expected symbol");

	char inc[4096 + 2] = "-I";
	cr_assert_eq(tl_source_path("nf", inc + 2, sizeof(inc) - 2), 0, "%s: not found", inc + 2);
	const char *opts[] = { inc, "--std=c++17", "-default-device" };
	void *prog = NULL;
	int rc = create(&prog, kernel_src, "agent_probe.cu", 0, NULL, NULL);
	cr_assert_eq(rc, 0, "nvrtcCreateProgram: %s", err_str(rc));
	rc = compile(prog, 3, opts);

	size_t n = 0;
	char *log = NULL;
	if (!log_size(prog, &n) && n > 1) {
		log = calloc(1, n + 1);
		if (log)
			get_log(prog, log);
	}
	cr_expect_eq(rc, 0, "NVRTC failed to compile nf/agent.h (%s):\n%s", err_str(rc), log ? log : "(no log)");
	/* Warnings in NF headers would bite every run-time compile: report them too. */
	if (!rc && log && strstr(log, "warning"))
		cr_log_warn("NVRTC warnings:\n%s", log);
	free(log);
	destroy(&prog);
	dlclose(lib);
}
