/*
 * stream.c — live denoising (stream.h), one hop at a time.
 *
 * Each channel runs the whole-file pipeline of speech.c with every stage
 * made incremental:
 *
 *   source:  input samples -> (soxr) -> model-rate samples appended to a
 *            window that holds from (about) the next frame's first sample on;
 *   frame:   as soon as the window holds frame t's n_fft samples, its STFT
 *            column -> scaled magnitude -> dn_unet_stream_step (the causal
 *            U-Net, one column) -> output magnitude -> times the noisy
 *            phasor -> inverse FFT overlap-added into an accumulator of
 *            n_fft samples;
 *   sink:    accumulator samples before frame t+1's start are final: divided
 *            by the window-sum-square, (soxr) back to the input rate,
 *            limited, appended to the output.
 *
 * A model with a lookahead of La frames gives frame t - La's output when
 * frame t goes through the network: each channel keeps the spectra of its
 * last La + 1 frames, and at the end La zero columns (as the whole-file run
 * pads) bring out the last frames.
 *
 * Until the end is known the signal's length is taken as STREAM_LEN, far
 * beyond any stream: the STFT's centre padding reflects at the start as the
 * whole-file run does, and no frame before the end is computed until all
 * its samples are in, so those frames are the whole-file run's. At
 * dn_stream_finish the model-rate length M of the whole input is known:
 * the remaining frames up to 1 + M/hop are taken with the true length
 * (reflection at the end) and the output is cut or zero-padded to the
 * input's length, as dn_speech_denoise does.
 */
#include "core/audio/stream.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/resample.h"
#include "core/audio/speech.h"
#include "core/audio/stft.h"
#include "core/nn/tensor.h"
#include "core/nn/unet.h"

/* The length (in samples, and in frames) a stream is taken to have until
 * its end is known. */
#define STREAM_LEN ((size_t)1 << 52)
#define MAX_CHANNELS 8
/* Model-rate samples per resampler call. */
#define BLK 1024

int dn_pcm_format_parse(const char *name)
{
	if (name && !strcmp(name, "s16le"))
		return DN_PCM_S16LE;
	if (name && !strcmp(name, "f32le"))
		return DN_PCM_F32LE;
	return -1;
}

const char *dn_pcm_format_name(int fmt)
{
	return fmt == DN_PCM_F32LE ? "f32le" : "s16le";
}

size_t dn_pcm_sample_bytes(int fmt)
{
	return fmt == DN_PCM_F32LE ? 4 : 2;
}

void dn_pcm_decode(const void *bytes, size_t samples, int fmt, float *out)
{
	const unsigned char *b = bytes;
	for (size_t i = 0; i < samples; i++) {
		if (fmt == DN_PCM_F32LE) {
			uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
			             (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
			float v;
			memcpy(&v, &u, sizeof v);
			out[i] = v;
		} else {
			int16_t v = (int16_t)((uint16_t)b[2 * i] | (uint16_t)b[2 * i + 1] << 8);
			out[i] = (float)v / 32768.0f;
		}
	}
}

void dn_pcm_encode(const float *x, size_t samples, int fmt, void *bytes)
{
	unsigned char *b = bytes;
	for (size_t i = 0; i < samples; i++) {
		if (fmt == DN_PCM_F32LE) {
			uint32_t u;
			memcpy(&u, &x[i], sizeof u);
			for (int k = 0; k < 4; k++)
				b[4 * i + k] = (unsigned char)(u >> (8 * k));
		} else {
			float v = x[i] * 32768.0f;
			v = v != v ? 0.0f : v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v;
			uint16_t u = (uint16_t)(int16_t)lrintf(v);
			b[2 * i] = (unsigned char)(u & 0xff);
			b[2 * i + 1] = (unsigned char)(u >> 8);
		}
	}
}

dn_stream_params dn_stream_default_params(void)
{
	return (dn_stream_params){.rate = 0, .channels = 1};
}

typedef struct chan {
	dn_resampler *rin, *rout; /* NULL when the rates agree */
	dn_unet_stream *net;
	float *xw; /* model-rate input window: samples [x_off, x_off + x_count) */
	size_t x_off, x_count;
	float *acc; /* overlap-add accumulator: samples [acc_off, acc_off + n) */
	size_t acc_off;
	float *rre, *rim, *rmag; /* the last la + 1 frames' spectra: [la + 1][bins] */
	size_t t;                /* next STFT frame into the network */
	size_t u;                /* next frame out of it (t - la once t >= la) */
	size_t produced; /* model-rate samples the source has made */
	float *out;      /* this push's output at the input rate */
	size_t out_n, out_cap;
} chan;

struct dn_stream {
	const dn_model_info *info;
	const dn_unet_infer *inf;
	dn_stft *stft;
	int rate, channels, n, hop, half, bins, la;
	float mag_cap, log_cap;
	size_t xw_cap;
	chan ch[MAX_CHANNELS];
	float *x, *y;                 /* one frame's network input and output: [bins] */
	float *blk, *blk2;            /* resampler scratch */
	float *deint;                 /* one push's samples of one channel */
	size_t deint_cap;
	float *pcm; /* float copy of pushed bytes */
	size_t pcm_cap;
	unsigned char carry[MAX_CHANNELS * 4]; /* a partial frame of bytes */
	size_t carry_n;
	float *out; /* interleaved output handed out by take */
	size_t out_n, out_cap;
	size_t in_frames, out_frames, emitted, net_frames;
	double resample_latency; /* both converters' lag, seconds */
	int finished;
};

void dn_stream_destroy(dn_stream *s)
{
	if (!s)
		return;
	for (int c = 0; c < MAX_CHANNELS; c++) {
		dn_resampler_destroy(s->ch[c].rin);
		dn_resampler_destroy(s->ch[c].rout);
		dn_unet_stream_destroy(s->ch[c].net);
		dn_free(s->ch[c].xw);
		dn_free(s->ch[c].acc);
		dn_free(s->ch[c].rre);
		dn_free(s->ch[c].rim);
		dn_free(s->ch[c].rmag);
		free(s->ch[c].out);
	}
	dn_stft_destroy(s->stft);
	dn_free(s->x);
	dn_free(s->y);
	dn_free(s->blk);
	dn_free(s->blk2);
	free(s->deint);
	free(s->pcm);
	free(s->out);
	free(s);
}

int dn_stream_create(const dn_model *m, const dn_stream_params *p, dn_stream **out, dn_error *err)
{
	const dn_model_info *mi;
	*out = NULL;
	int rc = dn_speech_check_model(m, &mi, err);
	if (rc != DN_OK)
		return rc;
	if (!mi->arch.causal)
		return dn_error_set(err, DN_EUNSUPPORTED,
		                    "model '%s' is not causal and cannot stream: use a model trained with "
		                    "causal = 1 (denoise train --causal)",
		                    mi->name);
	dn_stream_params prm = p ? *p : dn_stream_default_params();
	if (prm.rate == 0)
		prm.rate = mi->sample_rate;
	if (prm.rate < 8000 || prm.rate > 192000)
		return dn_error_set(err, DN_EINVAL, "rate %d Hz: must be 8000..192000", prm.rate);
	if (prm.channels < 1 || prm.channels > MAX_CHANNELS)
		return dn_error_set(err, DN_EINVAL, "%d channels: must be 1..%d", prm.channels, MAX_CHANNELS);
	dn_stream *s = calloc(1, sizeof *s);
	if (!s)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	s->info = mi;
	s->inf = dn_model_infer(m);
	s->rate = prm.rate;
	s->channels = prm.channels;
	if ((rc = dn_stft_create(mi->n_fft, mi->hop, &s->stft, err)) != DN_OK) {
		dn_stream_destroy(s);
		return rc;
	}
	s->n = mi->n_fft;
	s->hop = mi->hop;
	s->half = mi->n_fft / 2;
	s->bins = dn_stft_bins(s->stft);
	s->la = mi->lookahead;
	s->mag_cap = dn_speech_mag_cap(mi);
	s->log_cap = logf(s->mag_cap);
	/* A frame's samples, the margin before it (run_frame) and one resampler
	 * block's worth arriving at once. */
	s->xw_cap = (size_t)s->n + (size_t)s->half + BLK + 2;
	const size_t B = (size_t)s->bins;
	const size_t R = (size_t)s->la + 1;
	s->x = dn_alloc(B * sizeof(float));
	s->y = dn_alloc(B * sizeof(float));
	s->blk = dn_alloc(BLK * sizeof(float));
	s->blk2 = dn_alloc(BLK * sizeof(float));
	int ok = s->x && s->y && s->blk && s->blk2;
	for (int c = 0; ok && c < s->channels; c++) {
		chan *ch = &s->ch[c];
		ch->xw = dn_alloc(s->xw_cap * sizeof(float));
		ch->acc = dn_alloc((size_t)s->n * sizeof(float));
		ch->rre = dn_alloc(R * B * sizeof(float));
		ch->rim = dn_alloc(R * B * sizeof(float));
		ch->rmag = dn_alloc(R * B * sizeof(float));
		ok = ch->xw && ch->acc && ch->rre && ch->rim && ch->rmag;
		if (ok && (rc = dn_unet_stream_create(s->inf, s->bins, &ch->net, err)) != DN_OK)
			break;
		if (ok && s->rate != mi->sample_rate &&
		    ((rc = dn_resampler_create(s->rate, mi->sample_rate, &ch->rin, err)) != DN_OK ||
		     (rc = dn_resampler_create(mi->sample_rate, s->rate, &ch->rout, err)) != DN_OK))
			break;
	}
	if (rc == DN_OK && !ok)
		rc = dn_error_set(err, DN_ENOMEM, "out of memory for a stream");
	if (rc == DN_OK && s->ch[0].rin)
		s->resample_latency = dn_resample_latency(s->rate, mi->sample_rate) +
		                      dn_resample_latency(mi->sample_rate, s->rate);
	if (rc != DN_OK) {
		dn_stream_destroy(s);
		return rc;
	}
	*out = s;
	return DN_OK;
}

/* Appends n output samples (input rate) to the channel's output. */
static int out_append(chan *ch, const float *y, size_t n, dn_error *err)
{
	if (n == 0)
		return DN_OK;
	if (ch->out_n + n > ch->out_cap) {
		size_t cap = ch->out_cap ? ch->out_cap : 1024;
		while (cap < ch->out_n + n)
			cap *= 2;
		float *o = realloc(ch->out, cap * sizeof(float));
		if (!o)
			return dn_error_set(err, DN_ENOMEM, "out of memory for %zu output samples", cap);
		ch->out = o;
		ch->out_cap = cap;
	}
	memcpy(ch->out + ch->out_n, y, n * sizeof(float));
	ch->out_n += n;
	return DN_OK;
}

/* Model-rate output samples on to the input rate. */
static int sink(dn_stream *s, chan *ch, const float *y, size_t n, dn_error *err)
{
	if (!ch->rout)
		return out_append(ch, y, n, err);
	size_t pos = 0;
	for (;;) {
		size_t used = 0, done = 0;
		int rc = dn_resampler_process(ch->rout, y ? y + pos : NULL, n - pos, &used, s->blk2, BLK, &done,
		                              err);
		if (rc == DN_OK)
			rc = out_append(ch, s->blk2, done, err);
		if (rc != DN_OK)
			return rc;
		pos += used;
		if (y ? pos == n && done < BLK : done == 0)
			return DN_OK;
	}
}

/* Frame ch->u out of the network (y, its column): output magnitude times
 * the noisy phasor, overlap-add, and the samples it finishes to the sink.
 * len and frames are STREAM_LEN until the end is known. */
static int emit_frame(dn_stream *s, chan *ch, const float *y, size_t len, size_t frames, dn_error *err)
{
	const size_t B = (size_t)s->bins, u = ch->u, r = (u % ((size_t)s->la + 1)) * B;
	float *re = ch->rre + r, *im = ch->rim + r;
	const float *mag = ch->rmag + r;
	for (size_t k = 0; k < B; k++) {
		float om = dn_speech_scale_out(s->info, s->mag_cap, s->log_cap, y[k], mag[k]);
		float g = mag[k] > 0.0f ? om / mag[k] : 0.0f;
		re[k] *= g;
		im[k] *= g;
	}
	int rc = dn_stft_synthesize(s->stft, re, im, 1, u, 1, ch->acc, ch->acc_off, (size_t)s->n, len, err);
	if (rc != DN_OK)
		return rc;
	ch->u = u + 1;
	s->net_frames += ch == &s->ch[0];
	/* Samples before the next frame's start are final (all of them at the
	 * last frame). */
	size_t fin = ch->u * (size_t)s->hop > (size_t)s->half ? ch->u * (size_t)s->hop - (size_t)s->half : 0;
	if (ch->u == frames || fin > len)
		fin = len;
	if (fin > ch->acc_off) {
		size_t n = fin - ch->acc_off;
		for (size_t j = 0; j < n; j++) {
			float w = dn_stft_wss(s->stft, frames, ch->acc_off + j);
			ch->acc[j] = w > 1e-11f ? ch->acc[j] / w : 0.0f;
		}
		if ((rc = sink(s, ch, ch->acc, n, err)) != DN_OK)
			return rc;
		memmove(ch->acc, ch->acc + n, ((size_t)s->n - n) * sizeof(float));
		memset(ch->acc + ((size_t)s->n - n), 0, n * sizeof(float));
		ch->acc_off = fin;
	}
	return DN_OK;
}

/* Frame ch->t: STFT column into the ring, the network, and the frame it
 * brings out (from the la-th on). len is STREAM_LEN until the end is known. */
static int run_frame(dn_stream *s, chan *ch, size_t len, size_t frames, dn_error *err)
{
	const size_t B = (size_t)s->bins, t = ch->t, r = (t % ((size_t)s->la + 1)) * B;
	float *re = ch->rre + r, *im = ch->rim + r, *mag = ch->rmag + r;
	int rc = dn_stft_analyze(s->stft, ch->xw, ch->x_off, ch->x_count, len, t, 1, re, im, 1, err);
	if (rc != DN_OK)
		return rc;
	for (size_t k = 0; k < B; k++) {
		mag[k] = hypotf(re[k], im[k]);
		s->x[k] = dn_speech_scale_in(s->info, mag[k]);
	}
	if ((rc = dn_unet_stream_step(ch->net, s->x, s->y, err)) != DN_OK)
		return rc;
	ch->t = t + 1;
	if (t >= (size_t)s->la && (rc = emit_frame(s, ch, s->y, len, frames, err)) != DN_OK)
		return rc;
	/* The window keeps from half a window before the next frame's first
	 * sample on: at the end, the reflection of the last frame reaches up to
	 * a sample before its start. */
	size_t first = ch->t * (size_t)s->hop > (size_t)s->n ? ch->t * (size_t)s->hop - (size_t)s->n : 0;
	if (first > ch->x_off) {
		size_t drop = first - ch->x_off < ch->x_count ? first - ch->x_off : ch->x_count;
		memmove(ch->xw, ch->xw + drop, (ch->x_count - drop) * sizeof(float));
		ch->x_off += drop;
		ch->x_count -= drop;
	}
	return DN_OK;
}

/* At the end: zero columns through the network for the last la frames. */
static int flush_frames(dn_stream *s, chan *ch, size_t len, size_t frames, dn_error *err)
{
	/* scale_in(0) is 0 for every scaling: the whole-file run's padding */
	memset(s->x, 0, (size_t)s->bins * sizeof(float));
	while (ch->u < frames) {
		int rc = dn_unet_stream_step(ch->net, s->x, s->y, err);
		if (rc == DN_OK)
			rc = emit_frame(s, ch, s->y, len, frames, err);
		if (rc != DN_OK)
			return rc;
	}
	return DN_OK;
}

/* Appends model-rate samples to the window, running every frame they
 * complete. */
static int source(dn_stream *s, chan *ch, const float *x, size_t n, dn_error *err)
{
	while (n > 0) {
		size_t room = s->xw_cap - ch->x_count, k = n < room ? n : room;
		memcpy(ch->xw + ch->x_count, x, k * sizeof(float));
		ch->x_count += k;
		ch->produced += k;
		x += k;
		n -= k;
		for (;;) {
			size_t first, end; /* the samples frame t reads, reflection included */
			dn_stft_frame_span(s->stft, ch->t, STREAM_LEN, &first, &end);
			if (ch->x_off + ch->x_count < end)
				break;
			int rc = run_frame(s, ch, STREAM_LEN, STREAM_LEN, err);
			if (rc != DN_OK)
				return rc;
		}
	}
	return DN_OK;
}

/* One channel's input-rate samples through the input resampler. */
static int feed(dn_stream *s, chan *ch, const float *x, size_t n, dn_error *err)
{
	if (!ch->rin)
		return source(s, ch, x, n, err);
	size_t pos = 0;
	for (;;) {
		size_t used = 0, done = 0;
		int rc = dn_resampler_process(ch->rin, x ? x + pos : NULL, n - pos, &used, s->blk, BLK, &done,
		                              err);
		if (rc == DN_OK)
			rc = source(s, ch, s->blk, done, err);
		if (rc != DN_OK)
			return rc;
		pos += used;
		if (x ? pos == n && done < BLK : done == 0)
			return DN_OK;
	}
}

/* Interleaves what every channel has made (the same count for all: they
 * see the same samples) into s->out. */
static int gather(dn_stream *s, dn_error *err)
{
	size_t n = s->ch[0].out_n;
	for (int c = 1; c < s->channels; c++)
		if (s->ch[c].out_n < n)
			n = s->ch[c].out_n;
	/* never more than the input: the end is cut to its length */
	if (s->emitted + n > s->in_frames)
		n = s->in_frames - s->emitted;
	size_t need = (s->out_n + n) * (size_t)s->channels;
	if (need > s->out_cap) {
		float *o = realloc(s->out, need * sizeof(float));
		if (!o)
			return dn_error_set(err, DN_ENOMEM, "out of memory for %zu output samples", need);
		s->out = o;
		s->out_cap = need;
	}
	for (int c = 0; c < s->channels; c++) {
		chan *ch = &s->ch[c];
		for (size_t i = 0; i < n; i++)
			s->out[(s->out_n + i) * (size_t)s->channels + c] = ch->out[i];
		if (ch->out_n > n)
			memmove(ch->out, ch->out + n, (ch->out_n - n) * sizeof(float));
		ch->out_n -= n;
	}
	/* The limiter, per sample (see stream.h). */
	dn_speech_soft_limit(s->out + s->out_n * (size_t)s->channels, n * (size_t)s->channels);
	s->out_n += n;
	s->emitted += n;
	return DN_OK;
}

int dn_stream_push(dn_stream *s, const float *pcm, size_t frames, dn_error *err)
{
	if (!s || (!pcm && frames))
		return dn_error_set(err, DN_EINVAL, "dn_stream_push: missing argument");
	if (s->finished)
		return dn_error_set(err, DN_EINVAL, "the stream has finished");
	if (frames > s->deint_cap) {
		float *d = realloc(s->deint, frames * sizeof(float));
		if (!d)
			return dn_error_set(err, DN_ENOMEM, "out of memory for %zu frames", frames);
		s->deint = d;
		s->deint_cap = frames;
	}
	s->in_frames += frames;
	for (int c = 0; c < s->channels; c++) {
		for (size_t i = 0; i < frames; i++) {
			float v = pcm[i * (size_t)s->channels + c];
			s->deint[i] = isfinite(v) ? v : 0.0f;
		}
		int rc = feed(s, &s->ch[c], s->deint, frames, err);
		if (rc != DN_OK)
			return rc;
	}
	return gather(s, err);
}

int dn_stream_push_bytes(dn_stream *s, const void *bytes, size_t n, int fmt, dn_error *err)
{
	if (!s || (!bytes && n))
		return dn_error_set(err, DN_EINVAL, "dn_stream_push_bytes: missing argument");
	if (fmt != DN_PCM_S16LE && fmt != DN_PCM_F32LE)
		return dn_error_set(err, DN_EINVAL, "unknown sample format %d", fmt);
	const size_t sb = dn_pcm_sample_bytes(fmt), fb = sb * (size_t)s->channels;
	const unsigned char *b = bytes;
	if (n == 0) /* bytes may be NULL then */
		return DN_OK;
	/* complete the carried partial frame first */
	if (s->carry_n) {
		size_t k = fb - s->carry_n < n ? fb - s->carry_n : n;
		memcpy(s->carry + s->carry_n, b, k);
		s->carry_n += k;
		b += k;
		n -= k;
		if (s->carry_n < fb)
			return DN_OK;
		float f[MAX_CHANNELS];
		dn_pcm_decode(s->carry, (size_t)s->channels, fmt, f);
		s->carry_n = 0;
		int rc = dn_stream_push(s, f, 1, err);
		if (rc != DN_OK)
			return rc;
	}
	size_t frames = n / fb;
	if (frames * (size_t)s->channels > s->pcm_cap) {
		float *p = realloc(s->pcm, frames * (size_t)s->channels * sizeof(float));
		if (!p)
			return dn_error_set(err, DN_ENOMEM, "out of memory for %zu frames", frames);
		s->pcm = p;
		s->pcm_cap = frames * (size_t)s->channels;
	}
	dn_pcm_decode(b, frames * (size_t)s->channels, fmt, s->pcm);
	memcpy(s->carry, b + frames * fb, n - frames * fb);
	s->carry_n = n - frames * fb;
	return frames ? dn_stream_push(s, s->pcm, frames, err) : DN_OK;
}

int dn_stream_finish(dn_stream *s, dn_error *err)
{
	if (!s)
		return dn_error_set(err, DN_EINVAL, "dn_stream_finish: missing argument");
	if (s->finished)
		return DN_OK;
	s->finished = 1;
	s->carry_n = 0;
	if (s->in_frames == 0)
		return DN_OK;
	const size_t M = dn_resample_length(s->in_frames, s->rate, s->info->sample_rate);
	const size_t T = dn_stft_frames(s->stft, M);
	for (int c = 0; c < s->channels; c++) {
		chan *ch = &s->ch[c];
		int rc = feed(s, ch, NULL, 0, err); /* drain the input resampler */
		if (rc != DN_OK)
			return rc;
		/* exactly M model-rate samples, as the whole-file run takes */
		if (ch->x_off + ch->x_count > M)
			ch->x_count = M > ch->x_off ? M - ch->x_off : 0;
		while (ch->x_off + ch->x_count < M) {
			size_t room = s->xw_cap - ch->x_count;
			size_t k = M - ch->x_off - ch->x_count < room ? M - ch->x_off - ch->x_count : room;
			memset(ch->xw + ch->x_count, 0, k * sizeof(float));
			ch->x_count += k;
			if (ch->x_off + ch->x_count < M && ch->t < T) {
				/* cannot happen: the window held every unfinished frame */
				return dn_error_set(err, DN_EINVAL, "internal: stream window overrun");
			}
		}
		while (ch->t < T)
			if ((rc = run_frame(s, ch, M, T, err)) != DN_OK)
				return rc;
		if ((rc = flush_frames(s, ch, M, T, err)) != DN_OK)
			return rc;
		if (ch->acc_off < M) {
			/* cannot happen either: the last frame finishes every sample */
			return dn_error_set(err, DN_EINVAL, "internal: %zu samples left unfinished",
			                    M - ch->acc_off);
		}
		if (ch->rout && (rc = sink(s, ch, NULL, 0, err)) != DN_OK)
			return rc;
		/* pad to the input's length if the converter gave fewer */
		size_t have = s->emitted + ch->out_n;
		while (have < s->in_frames) {
			float z[64] = {0};
			size_t k = s->in_frames - have < 64 ? s->in_frames - have : 64;
			if ((rc = out_append(ch, z, k, err)) != DN_OK)
				return rc;
			have += k;
		}
	}
	return gather(s, err);
}

const float *dn_stream_take(dn_stream *s, size_t *frames)
{
	*frames = s->out_n;
	s->out_frames += s->out_n;
	s->out_n = 0;
	return s->out;
}

size_t dn_stream_frames_in(const dn_stream *s)
{
	return s->in_frames;
}

size_t dn_stream_frames_out(const dn_stream *s)
{
	return s->out_frames;
}

size_t dn_stream_net_frames(const dn_stream *s)
{
	return s->net_frames;
}

double dn_stream_latency(const dn_stream *s)
{
	return dn_model_stream_latency(s->info) + s->resample_latency;
}
