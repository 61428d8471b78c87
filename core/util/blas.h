/*
 * blas.h — which OpenBLAS kernel the process runs, and whether it is the one
 * this CPU should run.
 *
 * OpenBLAS built with DYNAMIC_ARCH picks its kernels when it loads, from the
 * CPU model number. A CPU newer than the library (Debian 12 ships 0.3.21)
 * gets the generic Prescott kernels, 3-5x slower on GEMM than the AVX-512
 * ones, without a word. The only cure is OPENBLAS_CORETYPE, which OpenBLAS
 * reads while loading, before main: dn_threads_prepare() (threads.h)
 * compares what OpenBLAS chose with what the CPU supports and executes the
 * program again with the right OPENBLAS_CORETYPE; this module says what was
 * chosen and why, for --version, the daemon's log and /metrics.
 */
#ifndef DN_BLAS_H
#define DN_BLAS_H

/* Environment variable through which dn_threads_prepare() tells the program
 * it executed again what OpenBLAS had chosen by itself. */
#define DN_BLAS_ENV_CHOSE "DN_BLAS_AUTODETECTED"

/* What the CPU can run, as far as OpenBLAS's kernels care. */
typedef struct dn_cpu_caps {
	int amd;        /* AuthenticAMD or HygonGenuine: AVX2 kernels are "Zen" */
	int avx;        /* AVX usable (OS saves the YMM state) */
	int avx2;       /* AVX2 and FMA */
	int avx512;     /* AVX-512 F, BW, DQ and VL (the SkylakeX kernels' needs) */
	int avx512bf16; /* AVX512_BF16 (the Cooperlake kernels add bf16 GEMM) */
} dn_cpu_caps;

/* The calling CPU's capabilities; all zero on other architectures. */
dn_cpu_caps dn_cpu_caps_get(void);

/* "avx512bf16", "avx512", "avx2", "avx" or "sse": the best level in caps. */
const char *dn_cpu_caps_level(const dn_cpu_caps *caps);

/* How capable an OpenBLAS core name is (case-insensitive): 0 generic (SSE:
 * Prescott, Core2, Nehalem, Katmai, Opteron...), 1 AVX (Sandybridge,
 * Bulldozer...), 2 AVX2 (Haswell, Zen, Excavator), 3 AVX-512 (SkylakeX,
 * Cooperlake, SapphireRapids); -1 for a name it does not know. */
int dn_blas_kernel_tier(const char *corename);

/* The tier the CPU deserves, by the same scale. */
int dn_cpu_caps_tier(const dn_cpu_caps *caps);

/* The OPENBLAS_CORETYPE value this CPU should run with an OpenBLAS of the
 * given version (major, minor, patch; Cooperlake needs 0.3.11), or NULL when
 * the CPU has nothing past SSE. Static string. */
const char *dn_blas_kernel_for(const dn_cpu_caps *caps, int major, int minor, int patch);

/* The decision dn_threads_prepare() takes: when OpenBLAS (of that version,
 * dynamic = built with DYNAMIC_ARCH) chose `chosen` by itself on a CPU with
 * caps, the OPENBLAS_CORETYPE to run with instead, or NULL to keep it. */
const char *dn_blas_override(const char *chosen, const dn_cpu_caps *caps, int dynamic, int major, int minor,
                             int patch);

/* dn_blas_override() for the running process and its OpenBLAS; NULL as
 * well when OPENBLAS_CORETYPE is set already (the user's choice is kept). */
const char *dn_blas_override_now(void);

typedef struct dn_blas_info {
	char library[64];   /* "OpenBLAS 0.3.21" */
	char kernel[32];    /* openblas_get_corename(): what runs now */
	char cpu[16];       /* dn_cpu_caps_level() */
	char cpu_model[64]; /* the CPU's brand string (cpuid), "" when unknown */
	int generic;        /* the kernel is older than the CPU (a bug to report) */
	int overridden;     /* dn_threads_prepare() set OPENBLAS_CORETYPE */
	char line[512];     /* one line: what was chosen and why */
} dn_blas_info;

/* Fills bi for the running process. Never fails. */
void dn_blas_info_get(dn_blas_info *bi);

#endif
