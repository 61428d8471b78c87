/*
 * test_stream.c — live denoising (stream.h) against itself and against the
 * whole-file pipeline.
 *
 * A small random causal U-Net (mask output, so that the output follows the
 * input): the same audio pushed in 10 ms, 37 ms, 1 s and uneven pieces must
 * give bit-identical output, as many frames as went in, and equal
 * dn_speech_denoise of the whole input as one chunk up to rounding; at
 * 48 kHz stereo (resampled around the 16 kHz model) the pieces agree and
 * stay close to the whole-file run; s16le bytes split mid-sample give what
 * their decoded floats give; a model that is not causal, and bad rates or
 * channel counts, are refused with a message that says what to change.
 * Models with a lookahead of 1 and 3 frames pass the same checks (their
 * output moves, and their latency grows by a hop a frame), and chunked
 * whole-file runs of them agree with the one-chunk run away from the seams.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/speech.h"
#include "core/audio/stream.h"
#include "core/model/model.h"
#include "core/nn/amx.h"
#include "tests/check.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

/* A sine chord plus white noise, below 0.9 (the limiter's knee). */
static float *make_signal(size_t frames, int ch, int rate)
{
	float *x = malloc(frames * ch * sizeof(float));
	for (size_t i = 0; i < frames; i++)
		for (int c = 0; c < ch; c++) {
			double t = (double)i / rate;
			x[i * ch + c] = (float)(0.3 * sin(2 * M_PI * (220.0 + 110 * c) * t) +
			                        0.2 * sin(2 * M_PI * 1330.0 * t) + 0.15 * frand());
		}
	return x;
}

static dn_model *causal_model_la(int causal, int lookahead)
{
	dn_unet_config cfg = dn_unet_default_config();
	cfg.base_filters = 4;
	cfg.depth = 2;
	cfg.causal = causal;
	cfg.out_act = DN_ACT_SIGMOID;
	dn_unet *net;
	dn_model *m = NULL;
	dn_error err;
	CHECK_RC(dn_unet_create(&cfg, 11, &net, &err), DN_OK);
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	info.arch = cfg;
	info.output = DN_OUTPUT_MASK;
	info.scaling = DN_SCALE_LOG1P;
	info.lookahead = lookahead;
	CHECK_RC(dn_model_create(&info, net, &m, &err), DN_OK);
	return m;
}

static dn_model *causal_model(int causal)
{
	return causal_model_la(causal, 0);
}

/* Appends what s has ready to y (which has room for `frames`, `got` of
 * them taken); returns the new count. */
static size_t take_into(dn_stream *s, float *y, size_t got, size_t frames, int ch)
{
	size_t n;
	const float *o = dn_stream_take(s, &n);
	CHECK(got + n <= frames);
	if (n && got + n <= frames)
		memcpy(y + got * ch, o, n * ch * sizeof(float));
	return got + n;
}

/* Streams x (frames x ch at rate) in pieces of `piece` frames (0: uneven
 * pieces of 1..3000); returns the output (frames x ch), *out_n its frames. */
static float *stream_all(const dn_model *m, const float *x, size_t frames, int ch, int rate, size_t piece,
                         size_t *out_n)
{
	dn_stream_params p = {.rate = rate, .channels = ch};
	dn_stream *s;
	dn_error err = {0};
	CHECK_RC(dn_stream_create(m, &p, &s, &err), DN_OK);
	float *y = calloc(frames * ch + 1, sizeof(float));
	size_t pos = 0, got = 0;
	while (pos < frames) {
		size_t k = piece ? piece : 1 + (size_t)((frand() + 1.0f) * 1500.0f);
		if (k > frames - pos)
			k = frames - pos;
		CHECK_RC(dn_stream_push(s, x + pos * ch, k, &err), DN_OK);
		pos += k;
		got = take_into(s, y, got, frames, ch);
	}
	CHECK_RC(dn_stream_finish(s, &err), DN_OK);
	got = take_into(s, y, got, frames, ch);
	CHECK(dn_stream_frames_in(s) == frames && dn_stream_frames_out(s) == got);
	dn_stream_destroy(s);
	*out_n = got;
	return y;
}

static double max_diff(const float *a, const float *b, size_t n, double *scale)
{
	double d = 0.0, s = 0.0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)a[i] - b[i]));
		s = fmax(s, fabs((double)b[i]));
	}
	*scale = s;
	return d;
}

/* The whole-file pipeline over all frames as one chunk. */
static float *offline(const dn_model *m, const float *x, size_t frames, int ch, int rate)
{
	dn_speech_params sp = dn_speech_default_params();
	sp.chunk_frames = 8192;
	sp.overlap_frames = 16;
	dn_speech *sc;
	dn_error err = {0};
	CHECK_RC(dn_speech_create(m, &sp, &sc, &err), DN_OK);
	dn_audio in = {.data = (float *)x, .frames = frames, .channels = ch, .rate = rate}, out = {0};
	CHECK_RC(dn_speech_denoise(sc, &in, &out, NULL, &err), DN_OK);
	dn_speech_destroy(sc);
	return out.data;
}

/* frames: 1.3 s plus `extra` (64 at 16 kHz: 163 hops exactly, where
 * the last frame's reflection reaches before its start). */
static void test_chunking(int rate, int ch, int extra, int la, double tol)
{
	dn_model *m = causal_model_la(1, la);
	const size_t frames = (size_t)(1.3 * rate) + (size_t)extra;
	float *x = make_signal(frames, ch, rate);
	const size_t pieces[4] = {(size_t)rate / 100, (size_t)rate * 37 / 1000, (size_t)rate, 0};
	float *ref = NULL;
	for (int k = 0; k < 4; k++) {
		size_t n;
		float *y = stream_all(m, x, frames, ch, rate, pieces[k], &n);
		CHECK_MSG(n == frames, "%d Hz x%d, pieces of %zu: %zu frames out of %zu in", rate, ch, pieces[k], n,
		          frames);
		if (!ref) {
			ref = y;
			continue;
		}
		CHECK_MSG(memcmp(y, ref, frames * ch * sizeof(float)) == 0,
		          "%d Hz x%d: pieces of %zu frames differ from pieces of %zu", rate, ch, pieces[k],
		          pieces[0]);
		free(y);
	}
	float *whole = offline(m, x, frames, ch, rate);
	double scale, d = max_diff(ref, whole, frames * ch, &scale);
	CHECK_MSG(scale > 0.05, "output scale %g: the comparison would prove nothing", scale);
	CHECK_MSG(d <= tol * scale, "%d Hz x%d: stream differs from the whole-file run by %g (scale %g)", rate, ch,
	          d, scale);
	printf("%5d Hz x%d, lookahead %d: chunkings bit-identical; max |stream - whole file| = %.3g at scale "
	       "%.3g\n",
	       rate, ch, la, d, scale);
	if (la) {
		/* the same weights without the lookahead give another output */
		dn_model *m0 = causal_model_la(1, 0);
		size_t n0;
		float *y0 = stream_all(m0, x, frames, ch, rate, 0, &n0);
		double s0, d0 = max_diff(ref, y0, frames * ch, &s0);
		CHECK_MSG(d0 > 100 * tol * scale, "lookahead %d changed the output by only %g", la, d0);
		free(y0);
		dn_model_destroy(m0);
	}
	free(whole);
	free(ref);
	free(x);
	dn_model_destroy(m);
}

static void test_bytes(void)
{
	dn_model *m = causal_model(1);
	const size_t frames = 9000;
	float *x = make_signal(frames, 2, 16000);
	unsigned char *b = malloc(frames * 2 * 2);
	dn_pcm_encode(x, frames * 2, DN_PCM_S16LE, b);
	float *xq = malloc(frames * 2 * sizeof(float));
	dn_pcm_decode(b, frames * 2, DN_PCM_S16LE, xq);
	CHECK(fabsf(xq[5] - x[5]) <= 1.0f / 32768);
	size_t n;
	float *ref = stream_all(m, xq, frames, 2, 16000, 333, &n);
	dn_stream_params p = {.rate = 16000, .channels = 2};
	dn_stream *s;
	dn_error err = {0};
	CHECK_RC(dn_stream_create(m, &p, &s, &err), DN_OK);
	float *y = calloc(frames * 2, sizeof(float));
	size_t pos = 0, got = 0;
	/* 7 bytes at a time: pieces end mid-sample and mid-frame */
	while (pos < frames * 4) {
		size_t k = frames * 4 - pos < 7 ? frames * 4 - pos : 7;
		CHECK_RC(dn_stream_push_bytes(s, b + pos, k, DN_PCM_S16LE, &err), DN_OK);
		pos += k;
		const float *o = dn_stream_take(s, &n);
		if (n)
			memcpy(y + got * 2, o, n * 2 * sizeof(float));
		got += n;
	}
	CHECK_RC(dn_stream_finish(s, &err), DN_OK);
	const float *o = dn_stream_take(s, &n);
	if (n)
		memcpy(y + got * 2, o, n * 2 * sizeof(float));
	got += n;
	CHECK(got == frames);
	CHECK_MSG(memcmp(y, ref, frames * 2 * sizeof(float)) == 0, "s16le bytes in 7-byte pieces differ from floats");
	/* f32le round trip is exact */
	unsigned char f4[8];
	float v[2] = {0.123f, -1.5f}, w[2];
	dn_pcm_encode(v, 2, DN_PCM_F32LE, f4);
	dn_pcm_decode(f4, 2, DN_PCM_F32LE, w);
	CHECK(w[0] == v[0] && w[1] == v[1]);
	CHECK(dn_pcm_format_parse("s16le") == DN_PCM_S16LE && dn_pcm_format_parse("f32le") == DN_PCM_F32LE &&
	      dn_pcm_format_parse("u8") == -1);
	CHECK_RC(dn_stream_push(s, x, 1, &err), DN_EINVAL); /* after finish */
	dn_stream_destroy(s);
	free(y);
	free(ref);
	free(xq);
	free(b);
	free(x);
	dn_model_destroy(m);
}

static void test_refusals(void)
{
	dn_model *m = causal_model(0);
	dn_stream *s = NULL;
	dn_error err = {0};
	CHECK_RC(dn_stream_create(m, NULL, &s, &err), DN_EUNSUPPORTED);
	CHECK(s == NULL && strstr(err.msg, "not causal") && strstr(err.msg, "--causal"));
	dn_model_destroy(m);
	m = causal_model(1);
	dn_stream_params p = {.rate = 1000, .channels = 1};
	CHECK_RC(dn_stream_create(m, &p, &s, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "8000..192000") != NULL);
	p = (dn_stream_params){.rate = 16000, .channels = 9};
	CHECK_RC(dn_stream_create(m, &p, &s, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "channels") != NULL);
	/* the declared latency: the 512-sample window at 16 kHz */
	CHECK_RC(dn_stream_create(m, NULL, &s, &err), DN_OK);
	CHECK(fabs(dn_stream_latency(s) - 0.032) < 1e-9);
	CHECK(fabs(dn_model_stream_latency(dn_model_get_info(m)) - 0.032) < 1e-9);
	/* nothing pushed: nothing out, and finish is fine */
	CHECK_RC(dn_stream_finish(s, &err), DN_OK);
	size_t n;
	dn_stream_take(s, &n);
	CHECK(n == 0);
	dn_stream_destroy(s);
	p = (dn_stream_params){.rate = 48000, .channels = 1};
	CHECK_RC(dn_stream_create(m, &p, &s, &err), DN_OK);
	printf("48 kHz: declared latency %.2f ms (model 32 ms + resamplers)\n", 1e3 * dn_stream_latency(s));
	CHECK(dn_stream_latency(s) > 0.032 && dn_stream_latency(s) < 0.2);
	dn_stream_destroy(s);
	dn_model_destroy(m);
	/* a lookahead of 2 frames holds two more hops back: 32 + 16 ms */
	m = causal_model_la(1, 2);
	CHECK_RC(dn_stream_create(m, NULL, &s, &err), DN_OK);
	CHECK(fabs(dn_stream_latency(s) - 0.048) < 1e-9);
	dn_stream_destroy(s);
	dn_model_destroy(m);
	/* a lookahead needs a causal net, and a bound */
	{
		dn_unet_config cfg = dn_unet_default_config();
		cfg.base_filters = 4;
		cfg.depth = 2;
		dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
		info.arch = cfg;
		info.lookahead = 1;
		dn_unet *net;
		CHECK_RC(dn_unet_create(&cfg, 1, &net, &err), DN_OK);
		CHECK_RC(dn_model_create(&info, net, &m, &err), DN_EINVAL);
		CHECK(strstr(err.msg, "causal") != NULL);
		info.arch.causal = cfg.causal = 1;
		info.lookahead = DN_MODEL_MAX_LOOKAHEAD + 1;
		CHECK_RC(dn_unet_create(&cfg, 1, &net, &err), DN_OK);
		CHECK_RC(dn_model_create(&info, net, &m, &err), DN_EINVAL);
		CHECK(strstr(err.msg, "lookahead") != NULL);
	}
}

/* Chunked whole-file runs of a lookahead model against one chunk: chunks of
 * 64 frames, none cross-faded. The first chunk starts where the one-chunk
 * run does, so its frames have the same history; its last la frames take
 * their outputs from columns past its end, which it must have read: every
 * sample they reach (up to the next chunk's first frame) is the one-chunk
 * run's. The last chunk's end, far enough from its start for a causal net's
 * history, checks the zero columns past the last frame. */
static void test_seams(int la)
{
	dn_model *m = causal_model_la(1, la);
	const size_t frames = 24000; /* 188 frames: chunks 0, 64, 128 (the last) */
	float *x = make_signal(frames, 1, 16000);
	float *whole = offline(m, x, frames, 1, 16000);
	dn_speech_params p = dn_speech_default_params();
	p.chunk_frames = 64;
	p.overlap_frames = 0;
	dn_speech *sc;
	dn_error err;
	dn_audio in = {.data = x, .frames = frames, .channels = 1, .rate = 16000}, out;
	CHECK_RC(dn_speech_create(m, &p, &sc, &err), DN_OK);
	CHECK_RC(dn_speech_denoise(sc, &in, &out, NULL, &err), DN_OK);
	/* samples before 64 * 128 - 256 are reached by frames 0..63 only */
	const size_t first = 64 * 128 - 256;
	double scale, d = max_diff(out.data, whole, first, &scale);
	CHECK_MSG(d <= 1e-5 * scale, "lookahead %d: the first chunk differs by %g (scale %g)", la, d, scale);
	double s2, d2 = max_diff(out.data + frames - 1500, whole + frames - 1500, 1500, &s2);
	CHECK_MSG(d2 <= 1e-5 * s2, "lookahead %d: the last chunk's end differs by %g (scale %g)", la, d2, s2);
	printf("lookahead %d: chunks of 64 frames against one chunk: %.3g (first chunk), %.3g (the end)\n",
	       la, d / scale, d2 / s2);
	dn_audio_free(&out);
	dn_speech_destroy(sc);
	free(whole);
	free(x);
	dn_model_destroy(m);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Streaming runs its causal convolutions one column at a time in fp32;
	 * the whole-file run it is compared with to 1e-5 stays fp32 too (on
	 * AMX it would round to bf16, about 3e-4 of the scale). */
	dn_amx_set_enabled(0);
	test_chunking(16000, 1, 77, 0, 1e-5);
	test_chunking(16000, 1, 64, 0, 1e-5);
	test_chunking(48000, 2, 77, 0, 1e-3);
	test_chunking(16000, 1, 77, 1, 1e-5);
	test_chunking(16000, 1, 64, 3, 1e-5);
	test_chunking(48000, 2, 77, 1, 1e-3);
	test_seams(3);
	test_bytes();
	test_refusals();
	return check_status();
}
