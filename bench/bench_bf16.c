/*
 * bench_bf16.c — the arithmetic peak of one core in fp32 FMA (AVX-512 and
 * AVX2) and in AVX512_BF16's dot product (vdpbf16ps: two bf16 products
 * summed into each fp32 lane), the figure that decides whether a bf16
 * convolution kernel could pay on this CPU (issue 13). Each loop keeps 24
 * (12 for AVX2) independent accumulators, enough to cover the latency, so
 * that it measures throughput; FLOPs count 2 per multiply-add, so a bf16
 * kernel pays only where the second line is well above the first.
 *
 * On the 2-core Xeon (AVX512_BF16, AMX) this was written on: fp32 AVX-512
 * 122-126 GFLOP/s, bf16 52-60, AVX2 64-66: vdpbf16ps issues at a quarter of
 * the FMA rate, so a bf16 direct kernel would run at half the fp32 one's
 * speed before its conversions, and the inference path stays fp32.
 * Exits 77 on CPUs without AVX-512F or AVX512_BF16. Never fails on time.
 */
#include <stdio.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A loop of 24 independent accumulations acc = op(acc, x, y) on 512-bit
 * registers, n times. The asm barrier keeps the compiler from folding the
 * loop's invariant operands; the returned sum keeps it from dropping the
 * loop. */
#define PEAK512(name, isa, xtype, xinit, yinit, op)                                                          \
	__attribute__((target(isa))) static float name(long n)                                               \
	{                                                                                                    \
		__m512 a[24];                                                                                \
		for (int i = 0; i < 24; i++)                                                                 \
			a[i] = _mm512_set1_ps((float)i);                                                     \
		xtype x = xinit, y = yinit;                                                                  \
		for (long k = 0; k < n; k++) {                                                               \
			_Pragma("GCC unroll 24") for (int i = 0; i < 24; i++) a[i] = op(a[i], x, y);         \
			__asm__ volatile("" : "+v"(x));                                                      \
		}                                                                                            \
		__m512 s = a[0];                                                                             \
		for (int i = 1; i < 24; i++)                                                                 \
			s = _mm512_add_ps(s, a[i]);                                                          \
		return _mm512_reduce_add_ps(s);                                                              \
	}

PEAK512(fma512, "avx512f", __m512, _mm512_set1_ps(1.0f), _mm512_set1_ps(1e-9f), _mm512_fmadd_ps)
PEAK512(dpbf16, "avx512f,avx512bf16", __m512bh, (__m512bh)_mm512_set1_epi32(0x3f803f80),
        (__m512bh)_mm512_set1_epi32(0x30803080), _mm512_dpbf16_ps)

__attribute__((target("avx2,fma"))) static float fma256(long n)
{
	__m256 a[12];
	for (int i = 0; i < 12; i++)
		a[i] = _mm256_set1_ps((float)i);
	__m256 x = _mm256_set1_ps(1.0f), y = _mm256_set1_ps(1e-9f);
	for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
		for (int i = 0; i < 12; i++)
			a[i] = _mm256_fmadd_ps(a[i], x, y);
		__asm__ volatile("" : "+x"(x));
	}
	float r[8];
	__m256 s = a[0];
	for (int i = 1; i < 12; i++)
		s = _mm256_add_ps(s, a[i]);
	_mm256_storeu_ps(r, s);
	return r[0] + r[7];
}

int main(void)
{
	if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) {
		printf("bench_bf16: this CPU has no AVX512_BF16, nothing to compare\n");
		return 77;
	}
	const long n = 20000000;
	double t = now();
	float sink = fma512(n);
	printf("fp32 FMA, AVX-512:      %6.1f GFLOP/s\n", (double)n * 24 * 16 * 2 / (now() - t) * 1e-9);
	t = now();
	sink += dpbf16(n);
	printf("bf16 dot, vdpbf16ps:    %6.1f GFLOP/s\n", (double)n * 24 * 32 * 2 / (now() - t) * 1e-9);
	t = now();
	sink += fma256(n);
	printf("fp32 FMA, AVX2:         %6.1f GFLOP/s\n", (double)n * 12 * 8 * 2 / (now() - t) * 1e-9);
	return sink == 12345.0f; /* never: keeps the sums alive */
}
#else
int main(void)
{
	printf("bench_bf16: x86-64 only\n");
	return 77;
}
#endif
