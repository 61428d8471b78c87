/*
 * check.h — the few assertion macros the unit tests share.
 *
 * A failed check prints where and why and is counted; a test program ends
 * with `return check_status();`, which is non-zero when any check failed, so
 * automake's harness records the program as failed.
 */
#ifndef DN_TESTS_CHECK_H
#define DN_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		check_count++;                                                                               \
		if (!(cond)) {                                                                               \
			check_failures++;                                                                    \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
		}                                                                                            \
	} while (0)

#define CHECK_MSG(cond, ...)                                                                                 \
	do {                                                                                                 \
		check_count++;                                                                               \
		if (!(cond)) {                                                                               \
			check_failures++;                                                                    \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);             \
			fprintf(stderr, __VA_ARGS__);                                                        \
			fputc('\n', stderr);                                                                 \
		}                                                                                            \
	} while (0)

/* |a - b| <= tol, with NaN always failing. */
#define CHECK_NEAR(a, b, tol)                                                                                \
	do {                                                                                                 \
		double check_a_ = (a), check_b_ = (b);                                                       \
		check_count++;                                                                               \
		if (!(fabs(check_a_ - check_b_) <= (tol))) {                                                 \
			check_failures++;                                                                    \
			fprintf(stderr, "%s:%d: %s = %.9g, expected %s = %.9g (tol %g)\n", __FILE__,         \
			        __LINE__, #a, check_a_, #b, check_b_, (double)(tol));                        \
		}                                                                                            \
	} while (0)

/* An integer result code equals the expected one. */
#define CHECK_RC(rc, want)                                                                                   \
	do {                                                                                                 \
		int check_rc_ = (rc);                                                                        \
		check_count++;                                                                               \
		if (check_rc_ != (want)) {                                                                   \
			check_failures++;                                                                    \
			fprintf(stderr, "%s:%d: %s returned %d, expected %d\n", __FILE__, __LINE__, #rc,     \
			        check_rc_, (int)(want));                                                     \
		}                                                                                            \
	} while (0)

static inline int check_status(void)
{
	fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
