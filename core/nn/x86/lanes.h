/*
 * lanes.h — the edge mask both AVX-512 kernels (direct_avx512.c,
 * amx_bf16.c) use to read and write a row in vectors of 16 floats without
 * stepping outside it. Only for x86-64 GCC-compatible compilers, in code
 * compiled for AVX-512F by a function attribute.
 */
#ifndef DN_X86_LANES_H
#define DN_X86_LANES_H

#include <immintrin.h>

/* Lanes j of a vector starting at column c that fall inside [0, w). */
__attribute__((target("avx512f"))) static inline __mmask16 dn_lanes16(int c, int w)
{
	int lo = c < 0 ? -c : 0, hi = w - c;
	if (hi > 16)
		hi = 16;
	if (hi <= lo)
		return 0;
	return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

#endif
