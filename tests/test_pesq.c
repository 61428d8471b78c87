/*
 * test_pesq.c — dn_metrics_pesq() against the ITU-T reference's scores on the
 * shared test vectors (±0.05 MOS, narrow- and wide-band, every case), plus
 * identical signals, unequal lengths, 8 kHz, and the error paths.
 *
 * Vectors: $DN_TESTVECTORS, else $DN_SRCDIR/../shared/testvectors/metrics,
 * else /work/shared/testvectors/metrics; none of them: skipped (exit 77).
 */
#include <jansson.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/metrics/metrics.h"
#include "tests/check.h"

#define TOLERANCE 0.05

static float *read_wav(const char *path, size_t *n, int *rate)
{
	SF_INFO info = {0};
	SNDFILE *f = sf_open(path, SFM_READ, &info);
	if (!f)
		return NULL;
	float *x = NULL;
	if (info.channels == 1 && info.frames > 0) {
		x = malloc((size_t)info.frames * sizeof *x);
		if (x && sf_readf_float(f, x, info.frames) != info.frames) {
			free(x);
			x = NULL;
		}
	}
	sf_close(f);
	*n = (size_t)info.frames;
	*rate = info.samplerate;
	return x;
}

/* dir/name/suffix into out; 0 when it does not fit. */
static int path_of(char *out, size_t size, const char *dir, const char *name, const char *suffix)
{
	int len = snprintf(out, size, "%s/%s%s", dir, name, suffix);
	return len > 0 && (size_t)len < size;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *vector_dir(char *buf, size_t size)
{
	const char *env = getenv("DN_TESTVECTORS");
	if (env && is_dir(env))
		return env;
	const char *src = getenv("DN_SRCDIR");
	if (src) {
		if (path_of(buf, size, src, "../shared/testvectors/metrics", "") && is_dir(buf))
			return buf;
	}
	return is_dir("/work/shared/testvectors/metrics") ? "/work/shared/testvectors/metrics" : NULL;
}

/* Every case of expected.json, both modes; prints a table. */
static void test_vectors(const char *dir)
{
	char path[4096];
	json_error_t jerr = {0};
	json_t *root =
	    path_of(path, sizeof path, dir, "expected.json", "") ? json_load_file(path, 0, &jerr) : NULL;
	CHECK_MSG(root != NULL, "cannot read %s: %s", path, jerr.text);
	if (!root)
		return;
	json_t *cases = json_object_get(root, "cases");
	CHECK(json_is_array(cases) && json_array_size(cases) > 0);

	double worst[2] = {0, 0};
	size_t i, n_cases = 0;
	json_t *c;
	printf("%-28s %8s %8s %8s   %8s %8s %8s\n", "id", "nb", "ref", "diff", "wb", "ref", "diff");
	json_array_foreach(cases, i, c)
	{
		const char *id = json_string_value(json_object_get(c, "id"));
		json_t *jnb = json_object_get(c, "pesq_nb"), *jwb = json_object_get(c, "pesq_wb");
		CHECK(id && json_is_number(jnb) && json_is_number(jwb));
		if (!id || !json_is_number(jnb) || !json_is_number(jwb))
			continue;
		size_t n_ref = 0, n_deg = 0;
		int rate_ref = 0, rate_deg = 0;
		float *ref = path_of(path, sizeof path, dir, id, ".clean.wav")
		                 ? read_wav(path, &n_ref, &rate_ref)
		                 : NULL;
		float *deg = path_of(path, sizeof path, dir, id, ".degraded.wav")
		                 ? read_wav(path, &n_deg, &rate_deg)
		                 : NULL;
		CHECK_MSG(ref && deg && rate_ref == rate_deg, "cannot read the wavs of %s", id);
		if (ref && deg && rate_ref == rate_deg) {
			double want[2] = {json_number_value(jnb), json_number_value(jwb)},
			       got[2] = {NAN, NAN};
			for (int mode = 0; mode < 2; mode++) {
				dn_error err = {0};
				int rc =
				    dn_metrics_pesq(ref, n_ref, deg, n_deg, rate_ref, mode, &got[mode], &err);
				CHECK_MSG(rc == DN_OK, "%s mode %d: %s", id, mode, err.msg);
				CHECK_MSG(fabs(got[mode] - want[mode]) <= TOLERANCE,
				          "%s %s: %.4f, reference %.4f", id, mode ? "wb" : "nb", got[mode],
				          want[mode]);
				if (!(fabs(got[mode] - want[mode]) <= fabs(worst[mode])))
					worst[mode] = got[mode] - want[mode];
			}
			printf("%-28s %8.4f %8.4f %+8.4f   %8.4f %8.4f %+8.4f\n", id, got[0], want[0],
			       got[0] - want[0], got[1], want[1], got[1] - want[1]);
			n_cases++;
		}
		free(ref);
		free(deg);
	}
	printf("%zu cases; largest difference nb %+.4f, wb %+.4f\n", n_cases, worst[0], worst[1]);
	json_decref(root);
}

/* The clean speech of the first vector, for the property tests below. */
static float *some_speech(const char *dir, size_t *n, int *rate)
{
	char path[4096];
	float *x = path_of(path, sizeof path, dir, "tts0_white_+20dB", ".clean.wav") ? read_wav(path, n, rate)
	                                                                             : NULL;
	CHECK_MSG(x != NULL, "cannot read %s", path);
	return x;
}

static void test_properties(const char *dir)
{
	size_t n;
	int rate;
	float *x = some_speech(dir, &n, &rate);
	if (!x)
		return;
	dn_error err;
	double nb = 0, wb = 0, v = 0;

	/* Identical signals: the top of each scale (raw 4.5 maps to 4.549
	 * narrow-band, 4.644 wide-band). */
	CHECK_RC(dn_metrics_pesq(x, n, x, n, rate, DN_PESQ_NB, &nb, &err), DN_OK);
	CHECK_RC(dn_metrics_pesq(x, n, x, n, rate, DN_PESQ_WB, &wb, &err), DN_OK);
	printf("identical: nb %.4f wb %.4f\n", nb, wb);
	CHECK_NEAR(nb, 4.549, 0.01);
	CHECK_NEAR(wb, 4.644, 0.01);

	/* Scale does not matter (level alignment). */
	float *y = malloc(n * sizeof *y);
	CHECK(y != NULL);
	if (y) {
		for (size_t i = 0; i < n; i++)
			y[i] = 0.25f * x[i];
		CHECK_RC(dn_metrics_pesq(x, n, y, n, rate, DN_PESQ_NB, &v, &err), DN_OK);
		CHECK_NEAR(v, nb, 0.01);
	}

	/* A delayed copy, 300 samples longer, still scores near the top. */
	float *d = calloc(n + 300, sizeof *d);
	CHECK(d != NULL);
	if (d) {
		memcpy(d + 300, x, n * sizeof *d);
		CHECK_RC(dn_metrics_pesq(x, n, d, n + 300, rate, DN_PESQ_WB, &v, &err), DN_OK);
		printf("delayed by 300 samples: wb %.4f\n", v);
		CHECK(v > 4.5);
		/* And the degraded one shorter by 200. */
		CHECK_RC(dn_metrics_pesq(x, n, x + 200, n - 200, rate, DN_PESQ_NB, &v, &err), DN_OK);
		printf("advanced by 200 samples: nb %.4f\n", v);
		CHECK(v > 4.4);
	}

	/* 8 kHz narrow-band: decimate by 2 (crudely; both the same way). */
	float *h = malloc(n / 2 * sizeof *h);
	CHECK(h != NULL);
	if (h) {
		for (size_t i = 0; i < n / 2; i++)
			h[i] = 0.5f * (x[2 * i] + x[2 * i + 1]);
		CHECK_RC(dn_metrics_pesq(h, n / 2, h, n / 2, 8000, DN_PESQ_NB, &v, &err), DN_OK);
		CHECK_NEAR(v, 4.549, 0.01);
		CHECK_RC(dn_metrics_pesq(h, n / 2, h, n / 2, 8000, DN_PESQ_WB, &v, &err), DN_EINVAL);
	}

	/* Noise makes it worse. */
	if (y) {
		unsigned s = 1;
		for (size_t i = 0; i < n; i++) {
			s = s * 1103515245u + 12345u;
			y[i] = x[i] + 0.05f * ((float)(s >> 8) / (float)(1u << 24) - 0.5f);
		}
		CHECK_RC(dn_metrics_pesq(x, n, y, n, rate, DN_PESQ_NB, &v, &err), DN_OK);
		CHECK(v < nb - 0.5);
	}

	/* Errors. */
	CHECK_RC(dn_metrics_pesq(x, n, x, n, 44100, DN_PESQ_NB, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_pesq(x, n, x, n, 16000, 7, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_pesq(NULL, n, x, n, 16000, DN_PESQ_NB, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_pesq(x, n, NULL, n, 16000, DN_PESQ_NB, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_pesq(x, n, x, n, 16000, DN_PESQ_NB, NULL, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_pesq(x, 3999, x, n, 16000, DN_PESQ_NB, &v, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "1/4") != NULL);
	CHECK_RC(dn_metrics_pesq(x, n, x, 100, 16000, DN_PESQ_WB, &v, &err), DN_EINVAL);
	/* Exactly a quarter of a second is long enough (the error, if any, is
	 * about the content). */
	int rc = dn_metrics_pesq(x + n / 2, 4000, x + n / 2, 4000, 16000, DN_PESQ_NB, &v, &err);
	CHECK_MSG(rc == DN_OK || strstr(err.msg, "1/4") == NULL, "%s", err.msg);
	float *z = calloc(n, sizeof *z);
	CHECK(z != NULL);
	if (z) {
		CHECK_RC(dn_metrics_pesq(z, n, x, n, 16000, DN_PESQ_NB, &v, &err), DN_EINVAL);
		CHECK(strstr(err.msg, "silent") != NULL);
		CHECK_RC(dn_metrics_pesq(x, n, z, n, 16000, DN_PESQ_WB, &v, &err), DN_EINVAL);
		z[10] = NAN;
		CHECK_RC(dn_metrics_pesq(x, n, z, n, 16000, DN_PESQ_WB, &v, &err), DN_EINVAL);
	}
	free(z);
	free(h);
	free(d);
	free(y);
	free(x);
}

int main(void)
{
	char buf[4096];
	const char *dir = vector_dir(buf, sizeof buf);
	if (!dir) {
		/* Every check here needs the vectors: automake's "skipped". */
		printf("SKIP: no test vectors (set DN_TESTVECTORS, or put shared/ beside the source tree)\n");
		return 77;
	}
	printf("test vectors: %s\n", dir);
	test_vectors(dir);
	test_properties(dir);
	return check_status();
}
