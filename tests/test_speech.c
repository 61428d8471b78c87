/*
 * test_speech.c — the denoising pipeline end to end (speech.h).
 *
 * Two kinds of model. A small random U-Net (base 4, depth 2): chunked output
 * must equal the unchunked one (a single chunk over all frames) wherever a
 * frame lies beyond the network's receptive field from every chunk edge;
 * silence must come out as exact zeros; channels are independent (swapping
 * them swaps the output); 8 kHz and 44.1 kHz input come back at their rate
 * and length. And U-Nets whose weights make them an exact identity (a mask of
 * 1, or a residual net with zero weights in magnitude mode, under each input
 * scaling): then the whole chain — resampling, STFT, chunks and cross-fade,
 * scaling and its inverse, iSTFT — must give the input back, and a gain of 2
 * must drive the soft limiter.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/model.h"
#include "core/audio/speech.h"
#include "core/util/threads.h"
#include "tests/check.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

/* Speech-like test signal: a few sines below 4 kHz plus a little white noise
 * (none when amp is negative: band-limited, for the resampled identity). */
static void make_signal(float *x, size_t frames, int ch, int c, int rate, double amp)
{
	double noise = amp < 0 ? 0.0 : 0.05;
	amp = fabs(amp);
	for (size_t i = 0; i < frames; i++) {
		double t = (double)i / rate;
		double v = 0.4 * sin(2 * M_PI * (220.0 + 100 * c) * t) +
		           0.3 * sin(2 * M_PI * 1330.0 * t + c) + 0.2 * sin(2 * M_PI * 3100.0 * t) +
		           noise * frand();
		x[i * ch + c] = (float)(amp * v);
	}
}

static dn_model *random_model(void)
{
	dn_unet_config cfg = dn_unet_default_config();
	cfg.base_filters = 4;
	cfg.depth = 2;
	dn_unet *net;
	dn_model *m = NULL;
	dn_error err;
	CHECK_RC(dn_unet_create(&cfg, 7, &net, &err), DN_OK);
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	info.arch = cfg;
	CHECK_RC(dn_model_create(&info, net, &m, &err), DN_OK);
	return m;
}

/* A U-Net that computes the identity: all weights zero, and either
 *  - mask mode, output bias `gain` through ReLU: a constant mask, or
 *  - magnitude mode with a residual output: x - relu(0) = x. */
static dn_model *identity_model(int output, int scaling, float gain)
{
	dn_unet_config cfg = dn_unet_default_config();
	cfg.base_filters = 4;
	cfg.depth = 2;
	cfg.residual = output == DN_OUTPUT_MAGNITUDE;
	dn_unet *net;
	dn_model *m = NULL;
	dn_error err;
	CHECK_RC(dn_unet_create(&cfg, 3, &net, &err), DN_OK);
	size_t np;
	const dn_param *ps = dn_unet_params(net, &np);
	for (size_t i = 0; i < np; i++) {
		float v = 0.0f;
		if (strstr(ps[i].name, ".running_var") ||
		    (strstr(ps[i].name, "bn") && strstr(ps[i].name, ".weight")))
			v = 1.0f;
		if (!strcmp(ps[i].name, "out.bias") && output == DN_OUTPUT_MASK)
			v = gain;
		for (size_t j = 0; j < ps[i].size; j++)
			ps[i].data[j] = v;
	}
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	info.arch = cfg;
	info.output = output;
	info.scaling = scaling;
	info.power = 0.3f;
	info.input_scale = scaling == DN_SCALE_NONE ? 1.0f : 2.5f;
	CHECK_RC(dn_model_create(&info, net, &m, &err), DN_OK);
	return m;
}

static dn_audio make_audio(size_t frames, int ch, int rate, double amp)
{
	dn_audio a = {.frames = frames, .channels = ch, .rate = rate};
	a.data = malloc(sizeof(float) * frames * ch);
	for (int c = 0; c < ch; c++)
		make_signal(a.data, frames, ch, c, rate, amp);
	return a;
}

static int run(const dn_model *m, int chunk, int overlap, int limit, const dn_audio *in, dn_audio *out,
               dn_speech_stats *st)
{
	dn_speech_params p = dn_speech_default_params();
	p.chunk_frames = chunk;
	p.overlap_frames = overlap;
	p.limit = limit;
	dn_speech *s;
	dn_error err;
	int rc = dn_speech_create(m, &p, &s, &err);
	CHECK_MSG(rc == DN_OK, "%s", err.msg);
	if (rc)
		return rc;
	rc = dn_speech_denoise(s, in, out, st, &err);
	CHECK_MSG(rc == DN_OK, "%s", err.msg);
	dn_speech_destroy(s);
	return rc;
}

static void test_chunking(const dn_model *m)
{
	/* 3 s at 16 kHz: 376 frames, several chunks of 96 (step 80) */
	dn_audio in = make_audio(48000, 1, 16000, 1.0), a, b;
	const int C = 96, O = 16, step = C - O;
	/* frames within reach of a chunk edge may differ: depth 2 with two 3x3
	 * convs per level reaches 2 + 4 + 8 + 4 + 2 = 20 frames, pooling and
	 * upsampling add up to 2 more, and an output sample depends on the
	 * frames within n_fft/2/hop = 2 of it. (Measured: 24 is exact, 22 not.) */
	const int rf = 24;
	if (run(m, C, O, 0, &in, &a, NULL) || run(m, 4096, 0, 0, &in, &b, NULL))
		return;
	CHECK(a.frames == in.frames && b.frames == in.frames);
	double maxdiff = 0, peak = 0, alldiff = 0;
	size_t compared = 0;
	for (size_t i = 0; i < in.frames; i++) {
		peak = fmax(peak, fabs(b.data[i]));
		double d = fabs((double)a.data[i] - b.data[i]);
		alldiff = fmax(alldiff, d);
		long t = (long)((i + 64) / 128); /* frame nearest the sample */
		long k = t / step, pos = t % step;
		/* frame t comes from chunk k at position pos (cross-faded with chunk
		 * k-1 when pos < O); compare where it is rf from chunk k's edges, the
		 * first chunk's left edge being the signal's own */
		if ((k == 0 || pos >= rf) && pos <= C - 1 - rf) {
			maxdiff = fmax(maxdiff, d);
			compared++;
		}
	}
	CHECK_MSG(compared > in.frames / 4, "only %zu samples compared", compared);
	CHECK_MSG(maxdiff <= 1e-3 * peak, "chunked vs unchunked: %g (peak %g)", maxdiff, peak);
	CHECK_MSG(peak > 1e-3, "the random model output is silent (peak %g)", peak);
	printf("chunked vs unchunked: max difference %.3g away from chunk edges (%zu samples), %.3g overall, "
	       "peak %.3g\n",
	       maxdiff, compared, alldiff, peak);
	dn_audio_free(&a);
	dn_audio_free(&b);
	dn_audio_free(&in);
}

/* Chunks on several threads (dn_speech_params.threads): the same samples,
 * bit for bit, as one thread gives — stereo at 44.1 kHz so the resamplers
 * and several chunks per channel are in play, with thread counts that do
 * and do not divide the chunk count; one-chunk input too. */
static void test_threads(const dn_model *m)
{
	const size_t lens[] = {132300, 2000};
	dn_threads_set(1); /* single-threaded GEMMs, as the threads need */
	for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
		dn_audio in = make_audio(lens[li], 2, 44100, 0.8), ref;
		dn_speech_params p = dn_speech_default_params();
		p.chunk_frames = 96;
		p.overlap_frames = 16;
		dn_speech *s;
		dn_error err;
		CHECK_RC(dn_speech_create(m, &p, &s, &err), DN_OK);
		CHECK_RC(dn_speech_denoise(s, &in, &ref, NULL, &err), DN_OK);
		dn_speech_destroy(s);
		for (int th = 2; th <= 4; th++) {
			dn_audio out;
			p.threads = th;
			CHECK_RC(dn_speech_create(m, &p, &s, &err), DN_OK);
			/* twice: the second call reuses the slots' workspaces */
			for (int rep = 0; rep < 2; rep++) {
				CHECK_RC(dn_speech_denoise(s, &in, &out, NULL, &err), DN_OK);
				CHECK(out.frames == ref.frames && out.channels == ref.channels);
				size_t diff = 0;
				for (size_t i = 0; i < ref.frames * 2 && out.data; i++)
					diff += memcmp(&out.data[i], &ref.data[i], sizeof(float)) != 0;
				CHECK_MSG(diff == 0, "%zu frames, %d threads: %zu samples differ", lens[li],
				          th, diff);
				dn_audio_free(&out);
			}
			dn_speech_destroy(s);
		}
		dn_audio_free(&ref);
		dn_audio_free(&in);
	}
	dn_speech_params bad = dn_speech_default_params();
	dn_speech *s;
	dn_error err;
	bad.threads = 65;
	CHECK_RC(dn_speech_create(m, &bad, &s, &err), DN_EINVAL);
	bad.threads = -1;
	CHECK_RC(dn_speech_create(m, &bad, &s, &err), DN_EINVAL);
}

static void test_silence(const dn_model *m)
{
	int rates[] = {16000, 44100, 8000};
	for (int r = 0; r < 3; r++) {
		dn_audio in = {.frames = (size_t)rates[r], .channels = 2, .rate = rates[r]}, out;
		in.data = calloc(in.frames * 2, sizeof(float));
		dn_speech_stats st;
		dn_speech_params p = dn_speech_default_params();
		dn_speech *s;
		dn_error err;
		CHECK_RC(dn_speech_create(m, &p, &s, &err), DN_OK);
		CHECK_RC(dn_speech_denoise(s, &in, &out, &st, &err), DN_OK);
		size_t nz = 0;
		for (size_t i = 0; i < out.frames * 2; i++)
			nz += out.data[i] != 0.0f;
		CHECK_MSG(nz == 0, "%d Hz: %zu non-zero samples from silence", rates[r], nz);
		CHECK(st.peak == 0.0f && st.limited_samples == 0);
		dn_speech_destroy(s);
		dn_audio_free(&out);
		free(in.data);
	}
}

static void test_stereo(const dn_model *m)
{
	dn_audio in = make_audio(20000, 2, 16000, 1.0), sw = in, a, b;
	sw.data = malloc(sizeof(float) * in.frames * 2);
	for (size_t i = 0; i < in.frames; i++) {
		sw.data[2 * i] = in.data[2 * i + 1];
		sw.data[2 * i + 1] = in.data[2 * i];
	}
	if (run(m, 64, 16, 1, &in, &a, NULL) || run(m, 64, 16, 1, &sw, &b, NULL))
		return;
	double d = 0, cross = 0;
	for (size_t i = 0; i < in.frames; i++) {
		d = fmax(d, fabs(a.data[2 * i] - b.data[2 * i + 1]));
		d = fmax(d, fabs(a.data[2 * i + 1] - b.data[2 * i]));
		cross = fmax(cross, fabs(a.data[2 * i] - a.data[2 * i + 1]));
	}
	CHECK_MSG(d <= 1e-6, "swapped channels differ by %g", d);
	CHECK_MSG(cross > 1e-4, "both channels came out the same (%g)", cross);
	/* and channel 0 alone gives channel 0 of the pair */
	dn_audio mono = {.frames = in.frames, .channels = 1, .rate = in.rate}, c;
	mono.data = malloc(sizeof(float) * in.frames);
	for (size_t i = 0; i < in.frames; i++)
		mono.data[i] = in.data[2 * i];
	if (!run(m, 64, 16, 1, &mono, &c, NULL)) {
		double e = 0;
		for (size_t i = 0; i < in.frames; i++)
			e = fmax(e, fabs(c.data[i] - a.data[2 * i]));
		CHECK_MSG(e <= 1e-6 || a.frames == 0, "mono vs stereo channel 0: %g", e);
		dn_audio_free(&c);
	}
	dn_audio_free(&mono);
	dn_audio_free(&a);
	dn_audio_free(&b);
	dn_audio_free(&in);
	free(sw.data);
}

static void test_rates(const dn_model *m)
{
	int rates[] = {8000, 44100, 22050, 48000};
	size_t lens[] = {8001, 44099, 777, 100};
	for (int r = 0; r < 4; r++) {
		dn_audio in = make_audio(lens[r], 1, rates[r], 0.5), out;
		if (run(m, 256, 32, 1, &in, &out, NULL))
			continue;
		CHECK(out.frames == in.frames && out.rate == in.rate && out.channels == 1);
		double e = 0;
		int finite = 1;
		for (size_t i = 0; i < out.frames; i++) {
			e += (double)out.data[i] * out.data[i];
			finite &= isfinite(out.data[i]);
		}
		CHECK_MSG(finite && e > 0, "%d Hz: energy %g", rates[r], e);
		dn_audio_free(&out);
		dn_audio_free(&in);
	}
}

/* Identity models: the pipeline itself must be transparent. */
static void test_identity(void)
{
	struct {
		int output, scaling, rate;
		size_t frames;
		double tol;
	} cases[] = {
	    {DN_OUTPUT_MASK, DN_SCALE_NONE, 16000, 40001, 1e-5},
	    {DN_OUTPUT_MAGNITUDE, DN_SCALE_NONE, 16000, 40001, 1e-5},
	    {DN_OUTPUT_MAGNITUDE, DN_SCALE_LOG1P, 16000, 30000, 1e-4},
	    {DN_OUTPUT_MAGNITUDE, DN_SCALE_POWER, 16000, 30000, 1e-4},
	    /* through the resamplers, signal below 4 kHz: soxr HQ is ~-70 dB */
	    {DN_OUTPUT_MASK, DN_SCALE_NONE, 44100, 44100, 3e-3},
	    {DN_OUTPUT_MASK, DN_SCALE_NONE, 8000, 12345, 3e-3},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		dn_model *m = identity_model(cases[k].output, cases[k].scaling, 1.0f);
		dn_audio in = make_audio(cases[k].frames, 1, cases[k].rate,
		                         cases[k].rate == 16000 ? 0.9 : -0.9),
		         out;
		dn_speech_stats st;
		if (!m || run(m, 64, 24, 1, &in, &out, &st))
			continue;
		/* the resampler's filters ring at the ends: skip 10 ms there */
		size_t edge = cases[k].rate == 16000 ? 0 : (size_t)cases[k].rate / 100;
		double e = 0;
		for (size_t i = edge; i + edge < in.frames; i++)
			e = fmax(e, fabs((double)out.data[i] - in.data[i]));
		CHECK_MSG(e <= cases[k].tol, "identity case %zu: max error %g", k, e);
		printf("identity model, case %zu (%d Hz): max error %.3g\n", k, cases[k].rate, e);
		CHECK(st.limited_samples == 0);
		dn_audio_free(&out);
		dn_audio_free(&in);
		dn_model_destroy(m);
	}

	/* a gain of 2 drives the limiter: nothing reaches full scale, quiet
	 * samples are untouched, and the changed ones are counted */
	dn_model *m = identity_model(DN_OUTPUT_MASK, DN_SCALE_NONE, 2.0f);
	dn_audio in = make_audio(16000, 1, 16000, 0.8), out, raw;
	dn_speech_stats st, st_raw;
	if (m && !run(m, 256, 32, 1, &in, &out, &st) && !run(m, 256, 32, 0, &in, &raw, &st_raw)) {
		size_t over = 0, changed = 0, bad = 0;
		for (size_t i = 0; i < out.frames; i++) {
			over += fabsf(out.data[i]) >= 1.0f;
			changed += out.data[i] != raw.data[i];
			if (fabsf(raw.data[i]) <= 0.9f && out.data[i] != raw.data[i])
				bad++;
		}
		CHECK_NEAR(st.peak, 2 * 0.8 * 0.95, 0.1);
		CHECK(st.peak == st_raw.peak && st_raw.limited_samples == 0);
		CHECK(over == 0 && bad == 0);
		CHECK(st.limited_samples == changed && changed > 0);
		dn_audio_free(&out);
		dn_audio_free(&raw);
	}
	dn_audio_free(&in);
	dn_model_destroy(m);
}

/* NaN and infinity in the input (a caller's buffer, not a decoded file,
 * which dn_audio_decode refuses) do not poison the output. */
static void test_nonfinite(const dn_model *m)
{
	dn_audio in = make_audio(16000, 1, 22050, 0.5), out;
	in.data[100] = NAN;
	in.data[5000] = INFINITY;
	in.data[9000] = -INFINITY;
	if (run(m, 64, 16, 1, &in, &out, NULL))
		return;
	size_t bad = 0;
	for (size_t i = 0; i < out.frames; i++)
		bad += !isfinite(out.data[i]);
	CHECK_MSG(bad == 0, "%zu non-finite output samples", bad);
	dn_audio_free(&out);
	dn_audio_free(&in);
}

static void test_errors(const dn_model *m)
{
	dn_error err;
	dn_speech *s;
	dn_speech_params p = dn_speech_default_params();
	p.overlap_frames = p.chunk_frames;
	CHECK_RC(dn_speech_create(m, &p, &s, &err), DN_EINVAL);
	p = dn_speech_default_params();
	p.chunk_frames = 0;
	CHECK_RC(dn_speech_create(m, &p, &s, &err), DN_EINVAL);

	dn_unet_config cfg = dn_unet_default_config();
	cfg.base_filters = 2;
	cfg.depth = 1;
	cfg.in_channels = cfg.out_channels = 3;
	dn_unet *net;
	dn_model *frame;
	CHECK_RC(dn_unet_create(&cfg, 1, &net, &err), DN_OK);
	dn_model_info info = dn_model_default_info(DN_MODEL_FRAME);
	info.arch = cfg;
	CHECK_RC(dn_model_create(&info, net, &frame, &err), DN_OK);
	CHECK_RC(dn_speech_create(frame, NULL, &s, &err), DN_EINVAL);
	CHECK_MSG(strstr(err.msg, "not an audio model") != NULL, "%s", err.msg);
	dn_model_destroy(frame);

	CHECK_RC(dn_speech_create(m, NULL, &s, &err), DN_OK);
	dn_audio empty = {.channels = 1, .rate = 16000}, out;
	CHECK_RC(dn_speech_denoise(s, &empty, &out, NULL, &err), DN_EINVAL);
	CHECK(out.data == NULL);
	dn_speech_destroy(s);
}

/* A runner elsewhere (the GPU server's seat): one that runs the model's own
 * folded net gives bit-identical output, called once per chunk, from every
 * chunk thread; one that fails fails the call with its error. */
struct count_runner {
	const dn_model *m;
	atomic_int calls;
	int fail;
};

static int counting_run(void *ctx, const dn_tensor *x, dn_tensor *y, dn_error *err)
{
	struct count_runner *c = ctx;
	atomic_fetch_add(&c->calls, 1);
	if (c->fail)
		return dn_error_set(err, DN_EDEVICE, "device lost");
	dn_unet_ws *ws = dn_unet_ws_create();
	int rc = ws ? dn_unet_infer_run(dn_model_infer(c->m), ws, x, y, err) : DN_ENOMEM;
	dn_unet_ws_destroy(ws);
	return rc;
}

static void test_runner(const dn_model *m)
{
	dn_audio in = make_audio(16000 * 3, 1, 16000, 0.8), ref, out;
	dn_speech_params p = dn_speech_default_params();
	p.chunk_frames = 96;
	p.overlap_frames = 16;
	dn_speech *s;
	dn_error err;
	CHECK_RC(dn_speech_create(m, &p, &s, &err), DN_OK);
	CHECK_RC(dn_speech_denoise(s, &in, &ref, NULL, &err), DN_OK);
	dn_speech_destroy(s);
	struct count_runner cr = {.m = m};
	atomic_init(&cr.calls, 0);
	p.runner = (dn_net_runner){counting_run, &cr};
	p.threads = 3;
	dn_threads_set(1);
	CHECK_RC(dn_speech_create(m, &p, &s, &err), DN_OK);
	CHECK_RC(dn_speech_denoise(s, &in, &out, NULL, &err), DN_OK);
	CHECK(out.frames == ref.frames && !memcmp(out.data, ref.data, ref.frames * sizeof(float)));
	const int frames = (int)(in.frames / 128) + 1, chunks = (frames - 16 + 79) / 80;
	CHECK_MSG(atomic_load(&cr.calls) >= chunks, "%d runner calls for about %d chunks",
	          atomic_load(&cr.calls), chunks);
	dn_audio_free(&out);
	cr.fail = 1;
	CHECK_RC(dn_speech_denoise(s, &in, &out, NULL, &err), DN_EDEVICE);
	CHECK(strstr(err.msg, "device lost") != NULL);
	dn_speech_destroy(s);
	dn_audio_free(&ref);
	dn_audio_free(&in);
}

int main(void)
{
	dn_model *m = random_model();
	if (!m)
		return check_status();
	test_chunking(m);
	test_threads(m);
	test_runner(m);
	test_silence(m);
	test_stereo(m);
	test_rates(m);
	test_identity();
	test_nonfinite(m);
	test_errors(m);
	dn_model_destroy(m);
	return check_status();
}
