/*
 * test_blas.c — the OpenBLAS kernel choice (core/util/blas.h): the decision
 * table on made-up CPUs, then this process: on a CPU with AVX2 or AVX-512
 * the kernel running after dn_threads_prepare() must be of the CPU's tier,
 * never a generic one (Prescott, Core2, Katmai...). Skips (77) on CPUs with
 * neither. A user's OPENBLAS_CORETYPE is kept and reported as such.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util/blas.h"
#include "core/util/threads.h"
#include "tests/check.h"

#define STREQ(a, b) ((a) && (b) ? !strcmp((a), (b)) : (a) == (b))

static void decision_table(void)
{
	dn_cpu_caps spr = {.avx = 1, .avx2 = 1, .avx512 = 1, .avx512bf16 = 1};
	dn_cpu_caps skx = {.avx = 1, .avx2 = 1, .avx512 = 1};
	dn_cpu_caps hsw = {.avx = 1, .avx2 = 1};
	dn_cpu_caps zen = {.amd = 1, .avx = 1, .avx2 = 1};
	dn_cpu_caps zen4 = {.amd = 1, .avx = 1, .avx2 = 1, .avx512 = 1, .avx512bf16 = 1};
	dn_cpu_caps snb = {.avx = 1};
	dn_cpu_caps old = {0};

	CHECK(dn_blas_kernel_tier("Prescott") == 0);
	CHECK(dn_blas_kernel_tier("prescott") == 0);
	CHECK(dn_blas_kernel_tier("Core2") == 0);
	CHECK(dn_blas_kernel_tier("Katmai") == 0);
	CHECK(dn_blas_kernel_tier("Sandybridge") == 1);
	CHECK(dn_blas_kernel_tier("Haswell") == 2);
	CHECK(dn_blas_kernel_tier("Zen") == 2);
	CHECK(dn_blas_kernel_tier("SkylakeX") == 3);
	CHECK(dn_blas_kernel_tier("Cooperlake") == 3);
	CHECK(dn_blas_kernel_tier("FutureLake") == -1);
	CHECK(dn_blas_kernel_tier(NULL) == -1);
	CHECK(dn_cpu_caps_tier(&spr) == 3 && dn_cpu_caps_tier(&hsw) == 2 && dn_cpu_caps_tier(&old) == 0);
	CHECK(STREQ(dn_cpu_caps_level(&spr), "avx512bf16"));
	CHECK(STREQ(dn_cpu_caps_level(&skx), "avx512"));
	CHECK(STREQ(dn_cpu_caps_level(&snb), "avx"));

	/* The case of issue 13: 0.3.21 on a Xeon newer than itself. */
	CHECK(STREQ(dn_blas_override("Prescott", &spr, 1, 0, 3, 21), "Cooperlake"));
	/* Before 0.3.11 there are no Cooperlake kernels to ask for. */
	CHECK(STREQ(dn_blas_override("Prescott", &spr, 1, 0, 3, 10), "SkylakeX"));
	CHECK(STREQ(dn_blas_override("Haswell", &skx, 1, 0, 3, 21), "SkylakeX"));
	CHECK(STREQ(dn_blas_override("Prescott", &zen, 1, 0, 3, 21), "Zen"));
	CHECK(STREQ(dn_blas_override("Zen", &zen4, 1, 0, 3, 21), "Cooperlake"));
	CHECK(STREQ(dn_blas_override("Nehalem", &hsw, 1, 0, 3, 21), "Haswell"));
	CHECK(STREQ(dn_blas_override("Core2", &snb, 1, 0, 3, 21), "Sandybridge"));
	/* Already as good as the CPU: kept, whatever the flavour. */
	CHECK(STREQ(dn_blas_override("SkylakeX", &spr, 1, 0, 3, 21), NULL));
	CHECK(STREQ(dn_blas_override("Cooperlake", &spr, 1, 0, 3, 21), NULL));
	CHECK(STREQ(dn_blas_override("Haswell", &zen, 1, 0, 3, 21), NULL));
	/* Nothing better to run, nothing to change, or a name we do not know. */
	CHECK(STREQ(dn_blas_override("Prescott", &old, 1, 0, 3, 21), NULL));
	CHECK(STREQ(dn_blas_override("Prescott", &spr, 0, 0, 3, 21), NULL));
	CHECK(STREQ(dn_blas_override("FutureLake", &spr, 1, 0, 3, 21), NULL));
}

int main(int argc, char **argv)
{
	(void)argc;
	/* The second run (below) has a user's OPENBLAS_CORETYPE=Prescott. */
	if (getenv("DN_TEST_BLAS_USER")) {
		dn_threads_prepare(argv);
		dn_blas_info bi;
		dn_blas_info_get(&bi);
		fprintf(stderr, "user's choice: %s\n", bi.line);
		CHECK(!strcmp(bi.kernel, "Prescott"));
		CHECK(!bi.overridden);
		CHECK(bi.generic);
		CHECK(strstr(bi.line, "set in the environment, kept") != NULL);
		CHECK(strstr(bi.line, "WARNING") != NULL);
		return check_status();
	}
	/* A coretype the harness's caller set would hide what is tested here. */
	if (getenv("OPENBLAS_CORETYPE") && !getenv(DN_BLAS_ENV_CHOSE)) {
		unsetenv("OPENBLAS_CORETYPE");
		execv("/proc/self/exe", argv);
		return 99;
	}
	dn_threads_prepare(argv);
	decision_table();

	dn_cpu_caps caps = dn_cpu_caps_get();
	dn_blas_info bi;
	dn_blas_info_get(&bi);
	fprintf(stderr, "%s\n", bi.line);
	if (check_status() != 0)
		return check_status();
	if (!caps.avx2) {
		fprintf(stderr, "SKIP: this CPU has neither AVX2 nor AVX-512\n");
		return 77;
	}
	int tier = dn_blas_kernel_tier(bi.kernel);
	CHECK_MSG(tier >= 2, "kernel %s is generic on a CPU with %s", bi.kernel, bi.cpu);
	CHECK_MSG(tier == dn_cpu_caps_tier(&caps), "kernel %s (tier %d) on a CPU with %s", bi.kernel, tier,
	          bi.cpu);
	CHECK(!bi.generic);
	CHECK(strstr(bi.line, bi.kernel) != NULL);
	CHECK(strstr(bi.line, "WARNING") == NULL);
	if (bi.overridden)
		CHECK(!strcmp(getenv("OPENBLAS_CORETYPE"), bi.kernel));

	/* The same binary with a user's generic choice: kept, and warned. */
	if (check_status() == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			setenv("DN_TEST_BLAS_USER", "1", 1);
			setenv("OPENBLAS_CORETYPE", "Prescott", 1);
			unsetenv(DN_BLAS_ENV_CHOSE);
			execv("/proc/self/exe", argv);
			_exit(99);
		}
		int st = 0;
		CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
		CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the user's-choice run failed (%d)", st);
	}
	return check_status();
}
