/*
 * blas.c — OpenBLAS's kernel against the CPU's capabilities (blas.h).
 *
 * The capabilities come from GCC's __builtin_cpu_supports, which reads
 * cpuid and also checks (xgetbv) that the OS saves the AVX and AVX-512
 * registers, so a feature the kernel would fault on is never reported.
 * The tiers follow the corename table of OpenBLAS's driver/others/dynamic.c.
 */
#include "core/util/blas.h"

#include <cblas.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

dn_cpu_caps dn_cpu_caps_get(void)
{
	dn_cpu_caps c;
	memset(&c, 0, sizeof c);
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	c.amd = __builtin_cpu_is("amd");
	c.avx = __builtin_cpu_supports("avx");
	c.avx2 = c.avx && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	c.avx512 = c.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
	c.avx512bf16 = c.avx512 && __builtin_cpu_supports("avx512bf16");
#endif
	return c;
}

int dn_cpu_caps_tier(const dn_cpu_caps *c)
{
	return c->avx512 ? 3 : c->avx2 ? 2 : c->avx ? 1 : 0;
}

const char *dn_cpu_caps_level(const dn_cpu_caps *c)
{
	if (c->avx512bf16)
		return "avx512bf16";
	static const char *names[] = {"sse", "avx", "avx2", "avx512"};
	return names[dn_cpu_caps_tier(c)];
}

static const struct {
	const char *name;
	int tier;
} kernels[] = {
    {"Unknown", 0},     {"Katmai", 0},         {"Coppermine", 0},  {"Northwood", 0},    {"Prescott", 0},
    {"Banias", 0},      {"Atom", 0},           {"Core2", 0},       {"Penryn", 0},       {"Dunnington", 0},
    {"Nehalem", 0},     {"Athlon", 0},         {"Opteron", 0},     {"Opteron_SSE3", 0}, {"Barcelona", 0},
    {"Nano", 0},        {"Bobcat", 0},         {"Sandybridge", 1}, {"Bulldozer", 1},    {"Piledriver", 1},
    {"Steamroller", 1}, {"Haswell", 2},        {"Excavator", 2},   {"Zen", 2},          {"SkylakeX", 3},
    {"Cooperlake", 3},  {"SapphireRapids", 3},
};

int dn_blas_kernel_tier(const char *corename)
{
	if (!corename)
		return -1;
	for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
		if (!strcasecmp(corename, kernels[i].name))
			return kernels[i].tier;
	return -1;
}

const char *dn_blas_kernel_for(const dn_cpu_caps *c, int major, int minor, int patch)
{
	/* Cooperlake's kernels (SkylakeX's plus bf16 GEMM) came in 0.3.11. */
	int has_cooperlake = (long)major * 10000 + (long)minor * 100 + patch >= 311;
	if (c->avx512)
		return c->avx512bf16 && has_cooperlake ? "Cooperlake" : "SkylakeX";
	if (c->avx2)
		return c->amd ? "Zen" : "Haswell";
	if (c->avx)
		return "Sandybridge";
	return NULL;
}

const char *dn_blas_override(const char *chosen, const dn_cpu_caps *c, int dynamic, int major, int minor,
                             int patch)
{
	int have = dn_blas_kernel_tier(chosen);
	/* A name we do not know may be newer than our table: leave it be. */
	if (!dynamic || have < 0 || have >= dn_cpu_caps_tier(c))
		return NULL;
	return dn_blas_kernel_for(c, major, minor, patch);
}

/* Version and DYNAMIC_ARCH from openblas_get_config(), e.g.
 * "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64". */
static void library(char *name, size_t cap, int *dynamic, int v[3])
{
	const char *cfg = openblas_get_config();
	v[0] = v[1] = v[2] = 0;
	*dynamic = 0;
	if (!cfg)
		cfg = "OpenBLAS";
	if (sscanf(cfg, "OpenBLAS %d.%d.%d", &v[0], &v[1], &v[2]) < 2)
		v[0] = v[1] = v[2] = 0;
	*dynamic = strstr(cfg, "DYNAMIC_ARCH") != NULL;
	if (name) {
		const char *sp = strchr(cfg, ' ');
		sp = sp ? strchr(sp + 1, ' ') : NULL;
		size_t n = sp ? (size_t)(sp - cfg) : strlen(cfg);
		snprintf(name, cap, "%.*s", (int)n, cfg);
	}
}

const char *dn_blas_override_now(void)
{
	if (getenv("OPENBLAS_CORETYPE"))
		return NULL;
	int dynamic, v[3];
	library(NULL, 0, &dynamic, v);
	dn_cpu_caps c = dn_cpu_caps_get();
	return dn_blas_override(openblas_get_corename(), &c, dynamic, v[0], v[1], v[2]);
}

/* cpuid leaves 0x80000002..4: 48 bytes of brand string, spaces trimmed. */
static void brand(char *out, size_t cap)
{
	out[0] = '\0';
#if defined(__x86_64__) || defined(__i386__)
	unsigned int r[12];
	if ((unsigned int)__get_cpuid_max(0x80000000u, NULL) < 0x80000004u)
		return;
	for (unsigned int i = 0; i < 3; i++)
		__get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
	char s[49];
	memcpy(s, r, 48);
	s[48] = '\0';
	const char *b = s;
	while (*b == ' ')
		b++;
	snprintf(out, cap, "%s", b);
	for (size_t n = strlen(out); n > 0 && out[n - 1] == ' '; n--)
		out[n - 1] = '\0';
#else
	(void)cap;
#endif
}

void dn_blas_info_get(dn_blas_info *bi)
{
	int dynamic, v[3];
	memset(bi, 0, sizeof *bi);
	library(bi->library, sizeof bi->library, &dynamic, v);
	const char *core = openblas_get_corename();
	snprintf(bi->kernel, sizeof bi->kernel, "%s", core ? core : "unknown");
	dn_cpu_caps c = dn_cpu_caps_get();
	snprintf(bi->cpu, sizeof bi->cpu, "%s", dn_cpu_caps_level(&c));
	brand(bi->cpu_model, sizeof bi->cpu_model);
	int have = dn_blas_kernel_tier(bi->kernel), want = dn_cpu_caps_tier(&c);
	bi->generic = have >= 0 && have < want;

	const char *set = getenv("OPENBLAS_CORETYPE"), *chose = getenv(DN_BLAS_ENV_CHOSE);
	char why[200];
	if (set && chose) {
		bi->overridden = 1;
		snprintf(why, sizeof why,
		         "OpenBLAS chose %s by itself, older than this CPU; set OPENBLAS_CORETYPE=%s%s",
		         chose, set,
		         strcasecmp(set, bi->kernel) ? " but this OpenBLAS does not know it" : "");
	} else if (set) {
		snprintf(why, sizeof why, "OPENBLAS_CORETYPE=%s set in the environment, kept", set);
	} else if (bi->generic) {
		snprintf(why, sizeof why, "chosen by OpenBLAS; %s",
		         dynamic ? "not overridden (the program did not run dn_threads_prepare)"
		                 : "built without DYNAMIC_ARCH, so it cannot be changed");
	} else {
		snprintf(why, sizeof why, "chosen by OpenBLAS, as good as this CPU can run");
	}
	snprintf(bi->line, sizeof bi->line, "%s kernel %s on a CPU with %s: %s%s", bi->library, bi->kernel,
	         bi->cpu, why,
	         bi->generic ? " (WARNING: older kernels than the CPU supports, GEMM several times slower)"
	                     : "");
}
