/*
 * test_stft.c — the STFT against a direct DFT and torch.stft, and the
 * inverse against the forward.
 *
 * STFT -> iSTFT must give back a random signal of odd length within 1e-5;
 * magnitudes must match a double-precision DFT of the reflect-padded frames
 * computed here, and torch.stft through tests/stft_ref.py (python3-torch is
 * part of the test dependencies). Windowed analysis and synthesis, used by the
 * speech pipeline one chunk at a time, must agree with the whole-signal forms.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/audio/stft.h"
#include "tests/check.h"

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static size_t reflect_ref(long long j, size_t len)
{
	/* torch's reflect padding, written independently: mirror without
	 * repeating the edge, as often as needed */
	while (j < 0 || j >= (long long)len) {
		if (j < 0)
			j = -j;
		if (j >= (long long)len)
			j = 2 * ((long long)len - 1) - j;
	}
	return (size_t)j;
}

/* |DFT| of frame t in double precision, straight from the definition. */
static double dft_mag(const float *x, size_t len, int n, int hop, size_t t, int k)
{
	double re = 0, im = 0;
	for (int i = 0; i < n; i++) {
		double w = 0.5 - 0.5 * cos(2 * M_PI * i / n);
		double v = w * x[reflect_ref((long long)t * hop - n / 2 + i, len)];
		re += v * cos(2 * M_PI * (double)k * i / n);
		im -= v * sin(2 * M_PI * (double)k * i / n);
	}
	return hypot(re, im);
}

static void test_roundtrip(int n_fft, int hop, size_t len)
{
	dn_error err;
	dn_stft *s;
	CHECK_RC(dn_stft_create(n_fft, hop, &s, &err), DN_OK);
	size_t T = dn_stft_frames(s, len);
	int B = dn_stft_bins(s);
	float *x = malloc(len * sizeof(float)), *y = malloc(len * sizeof(float));
	float *mag = malloc(sizeof(float) * B * T), *ph = malloc(sizeof(float) * B * T);
	for (size_t i = 0; i < len; i++)
		x[i] = frand();
	CHECK_RC(dn_stft_forward(s, x, len, mag, ph, &err), DN_OK);
	CHECK_RC(dn_stft_inverse(s, mag, ph, T, y, len, &err), DN_OK);
	double e = 0;
	for (size_t i = 0; i < len; i++)
		e = fmax(e, fabs((double)x[i] - y[i]));
	CHECK_MSG(e < 1e-5, "n_fft %d hop %d len %zu: reconstruction error %g", n_fft, hop, len, e);
	printf("STFT->iSTFT n_fft %d hop %d len %zu: max error %.3g\n", n_fft, hop, len, e);

	/* magnitudes against the direct DFT: first, last and a middle frame */
	size_t frames[] = {0, 1, T / 2, T - 2, T - 1};
	double me = 0;
	for (size_t f = 0; f < 5; f++) {
		if (frames[f] >= T)
			continue;
		for (int k = 0; k < B; k += 7) {
			double ref = dft_mag(x, len, n_fft, hop, frames[f], k);
			me = fmax(me, fabs(ref - mag[(size_t)k * T + frames[f]]) / (1.0 + ref));
		}
	}
	CHECK_MSG(me < 1e-4, "n_fft %d hop %d len %zu: magnitude error vs DFT %g", n_fft, hop, len, me);

	/* windowed analysis and synthesis, 7 frames at a time */
	float *re = malloc(sizeof(float) * B * 7), *im = malloc(sizeof(float) * B * 7);
	float *acc = calloc(len, sizeof(float));
	double ae = 0;
	for (size_t f0 = 0; f0 < T; f0 += 7) {
		size_t n = T - f0 < 7 ? T - f0 : 7;
		/* the window the frames need, reflection included */
		size_t lo = len, hi = 0, first, end;
		for (size_t t = f0; t < f0 + n; t++) {
			dn_stft_frame_span(s, t, len, &first, &end);
			lo = first < lo ? first : lo;
			hi = end > hi ? end : hi;
		}
		CHECK_RC(dn_stft_analyze(s, x + lo, lo, hi - lo, len, f0, n, re, im, 7, &err), DN_OK);
		for (int k = 0; k < B; k++)
			for (size_t j = 0; j < n; j++)
				ae =
				    fmax(ae, fabs(hypot(re[k * 7 + j], im[k * 7 + j]) - mag[k * T + f0 + j]));
		CHECK_RC(dn_stft_synthesize(s, re, im, 7, f0, n, acc, 0, len, len, &err), DN_OK);
		/* a window one sample short is refused */
		CHECK_RC(dn_stft_analyze(s, x + lo + 1, lo + 1, hi - lo - 1, len, f0, n, re, im, 7, &err),
		         DN_EINVAL);
		CHECK_RC(dn_stft_analyze(s, x + lo, lo, hi - lo - 1, len, f0, n, re, im, 7, &err), DN_EINVAL);
	}
	CHECK_MSG(ae < 1e-4, "windowed analysis differs by %g", ae);
	double se = 0;
	for (size_t i = 0; i < len; i++)
		se = fmax(se, fabs(acc[i] / dn_stft_wss(s, T, i) - x[i]));
	CHECK_MSG(se < 1e-5, "windowed synthesis error %g", se);

	free(re);
	free(im);
	free(acc);
	free(x);
	free(y);
	free(mag);
	free(ph);
	dn_stft_destroy(s);
}

/* Magnitudes against torch.stft, through python3. */
static void test_torch(int n_fft, int hop, size_t len)
{
	const char *src = getenv("DN_SRCDIR");
	/* Debian's interpreter, which sees python3-torch, unless PYTHON says */
	const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
	char sig[] = "/tmp/test_stft_sigXXXXXX", ref[] = "/tmp/test_stft_refXXXXXX";
	int fd1 = mkstemp(sig), fd2 = mkstemp(ref);
	CHECK(fd1 >= 0 && fd2 >= 0);
	close(fd1);
	close(fd2);
	float *x = malloc(len * sizeof(float));
	for (size_t i = 0; i < len; i++)
		x[i] = frand() * 0.5f + 0.3f * (float)sin(0.05 * (double)i);
	FILE *f = fopen(sig, "wb");
	fwrite(x, sizeof(float), len, f);
	fclose(f);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s %s/tests/stft_ref.py %s %d %d %s", py, src ? src : "..", sig, n_fft,
	         hop, ref);
	int rc = system(cmd);
	CHECK_MSG(rc == 0, "%s failed (python3 with torch is a test dependency)", cmd);
	dn_stft *s;
	dn_error err;
	CHECK_RC(dn_stft_create(n_fft, hop, &s, &err), DN_OK);
	size_t T = dn_stft_frames(s, len), B = (size_t)dn_stft_bins(s);
	float *mag = malloc(sizeof(float) * B * T), *tm = malloc(sizeof(float) * B * T);
	CHECK_RC(dn_stft_forward(s, x, len, mag, NULL, &err), DN_OK);
	f = fopen(ref, "rb");
	size_t got = f ? fread(tm, sizeof(float), B * T, f) : 0;
	if (f) {
		CHECK(fgetc(f) == EOF); /* same number of frames */
		fclose(f);
	}
	CHECK_MSG(got == B * T, "torch gave %zu values, expected %zu x %zu", got, B, T);
	double e = 0;
	for (size_t i = 0; i < got; i++)
		e = fmax(e, fabs((double)mag[i] - tm[i]) / (1.0 + tm[i]));
	CHECK_MSG(e < 1e-4, "magnitudes differ from torch.stft by %g", e);
	printf("torch.stft n_fft %d hop %d len %zu: max relative magnitude difference %.3g\n", n_fft, hop,
	       len, e);
	unlink(sig);
	unlink(ref);
	free(x);
	free(mag);
	free(tm);
	dn_stft_destroy(s);
}

int main(void)
{
	test_roundtrip(512, 128, 16001);
	test_roundtrip(512, 128, 1001);
	test_roundtrip(512, 128, 257); /* shortest torch accepts */
	test_roundtrip(512, 128, 99);  /* shorter than the padding: reflected back and forth */
	test_roundtrip(400, 100, 4097);
	test_roundtrip(512, 256, 3333);
	test_torch(512, 128, 16001);
	test_torch(400, 160, 5555);

	dn_stft *s;
	dn_error err;
	CHECK_RC(dn_stft_create(511, 128, &s, &err), DN_EINVAL);
	CHECK_RC(dn_stft_create(512, 0, &s, &err), DN_EINVAL);
	CHECK_RC(dn_stft_create(512, 257, &s, &err), DN_EINVAL);
	CHECK(s == NULL);
	CHECK_RC(dn_stft_create(512, 128, &s, &err), DN_OK);
	float x[4] = {0}, m[257], p[257];
	CHECK_RC(dn_stft_forward(s, x, 0, m, p, &err), DN_EINVAL);
	CHECK(dn_stft_frames(s, 1000) == 8);
	CHECK_NEAR(dn_stft_wss(s, 1000, 500), 1.5, 1e-6); /* Hann at 75% overlap */
	dn_stft_destroy(s);
	return check_status();
}
