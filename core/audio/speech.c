/*
 * speech.c — the audio denoising pipeline (speech.h), streamed chunk by chunk.
 *
 * Each channel flows through three stages that never hold more than one
 * chunk of it:
 *
 *   source:  input samples -> (soxr) -> model-rate samples, kept in a window
 *            just wide enough for the STFT frames of the current chunk;
 *   chunk:   STFT of chunk_frames frames -> scaled magnitude -> U-Net ->
 *            output magnitude (or mask x noisy magnitude), its first
 *            overlap_frames cross-faded with the previous chunk's last ones;
 *            frames no later chunk will touch are committed: multiplied by
 *            the noisy phase and overlap-added into an accumulator;
 *   sink:    accumulator samples no later frame reaches are divided by the
 *            window-sum-square and go (soxr) back to the input rate, straight
 *            into the output buffer.
 *
 * So memory is the input and output buffers plus O(chunk), whatever the
 * length. The model-rate length is fixed beforehand to ceil(N * model_rate /
 * in_rate) and the output cut (or zero-padded) to the input's N frames.
 *
 * Chunks start on multiples of 2^depth frames, the U-Net's pooling grid, so a
 * frame far enough from a chunk's edges gets exactly the value an unchunked
 * run would give it. The noisy phase is applied as the unit phasor X/|X|,
 * zero where |X| is zero: silent input gives exactly silent output whatever
 * the network adds (biases) to a zero spectrogram.
 *
 * A model with a lookahead of La frames (causal ones, for streaming) gives
 * frame t's output in its network's column t + La: each chunk's network
 * also sees the La frames after it (zero columns past the last frame, as a
 * stream's end gets), and column j + La of its output is the chunk's frame j.
 *
 * With threads > 1, the chunk stage is split: the STFTs of the next
 * `threads` chunks are taken in order, their networks run at once on as many
 * threads (dn_threads_run, one workspace each), then the cross-fades and
 * overlap-adds run in order. Each chunk sees exactly the inputs it would see
 * serially, so the output is bit-identical whatever the thread count.
 */
#include "core/audio/speech.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/resample.h"
#include "core/audio/stft.h"
#include "core/nn/tensor.h"
#include "core/nn/unet.h"
#include "core/util/threads.h"

/* Samples per resampler call. */
#define BLK 4096
/* The soft limiter leaves samples below this level alone. */
#define LIMIT_KNEE 0.9f

/* One chunk in flight: its spectrum, magnitudes and network, one per thread. */
typedef struct chunk_slot {
	float *re, *im; /* [bins][W] spectrum of the chunk and its lookahead */
	float *mag;     /* noisy magnitude */
	float *omag;    /* output magnitude, [bins][W] (first L columns) */
	dn_unet_ws *ws;
	dn_tensor x, y;
	size_t f0, L; /* first frame and frame count */
	size_t W;     /* columns of the network: L + lookahead */
	int last;     /* the channel's last chunk */
} chunk_slot;

struct dn_speech {
	const dn_model *model;
	const dn_model_info *info;
	const dn_unet_infer *inf;
	dn_speech_params p; /* chunk and overlap after alignment */
	dn_stft *stft;
	int nslot;
	chunk_slot *slot;
	int n, hop, half, bins;
	int la;        /* the model's lookahead, frames */
	float mag_cap; /* largest magnitude the pipeline lets out of the network */
	float log_cap; /* logf(mag_cap) */
	float *xwin;   /* model-rate input window */
	size_t xwin_cap;
	float *acc; /* overlap-add accumulator */
	size_t acc_cap;
	float *pend; /* [bins][overlap] output magnitudes awaiting the next chunk */
	float *fade; /* [overlap] weight of the newer chunk, rising; the older gets 1 - w */
	float *blk;  /* BLK resampler samples */
	dn_cancel_fn cancel; /* asked between chunks; NULL: never */
	void *cancel_arg;
};

void dn_speech_set_cancel(dn_speech *s, dn_cancel_fn fn, void *arg)
{
	s->cancel = fn;
	s->cancel_arg = arg;
}

dn_speech_params dn_speech_default_params(void)
{
	dn_speech_params p = {.chunk_frames = 256, .overlap_frames = 32, .limit = 1};
	return p;
}

int dn_speech_check_model(const dn_model *m, const dn_model_info **out, dn_error *err)
{
	if (!m)
		return dn_error_set(err, DN_EINVAL, "no model");
	const dn_model_info *mi = *out = dn_model_get_info(m);
	if (mi->kind != DN_MODEL_AUDIO)
		return dn_error_set(err, DN_EINVAL, "model '%s' is not an audio model", mi->name);
	if (mi->arch.in_channels != 1 || mi->arch.out_channels != 1)
		return dn_error_set(err, DN_EINVAL, "audio model '%s' must map 1 channel to 1 (has %d -> %d)",
		                    mi->name, mi->arch.in_channels, mi->arch.out_channels);
	if (mi->sample_rate < 1000 || mi->sample_rate > 384000)
		return dn_error_set(err, DN_EINVAL, "model sample rate %d Hz is out of range",
		                    mi->sample_rate);
	if (mi->scaling < DN_SCALE_NONE || mi->scaling > DN_SCALE_POWER ||
	    (mi->scaling == DN_SCALE_POWER && !(mi->power > 0.0f && mi->power <= 4.0f)))
		return dn_error_set(err, DN_EINVAL, "model input scaling %d (power %g) is not usable",
		                    mi->scaling, (double)mi->power);
	if (!isfinite(mi->input_scale) || mi->input_scale == 0.0f)
		return dn_error_set(err, DN_EINVAL, "model input scale %g is not usable",
		                    (double)mi->input_scale);
	if (mi->output < DN_OUTPUT_MAGNITUDE || mi->output > DN_OUTPUT_CMASK)
		return dn_error_set(err, DN_EINVAL, "model output mode %d is unknown", mi->output);
	return DN_OK;
}

void dn_speech_destroy(dn_speech *s)
{
	if (!s)
		return;
	dn_stft_destroy(s->stft);
	for (int k = 0; s->slot && k < s->nslot; k++) {
		chunk_slot *c = &s->slot[k];
		dn_unet_ws_destroy(c->ws);
		dn_free(c->re);
		dn_free(c->im);
		dn_free(c->mag);
		dn_free(c->omag);
		dn_tensor_free(&c->x);
		dn_tensor_free(&c->y);
	}
	free(s->slot);
	dn_free(s->xwin);
	dn_free(s->acc);
	dn_free(s->pend);
	dn_free(s->fade);
	dn_free(s->blk);
	free(s);
}

int dn_speech_create(const dn_model *m, const dn_speech_params *p, dn_speech **out, dn_error *err)
{
	const dn_model_info *mi;
	*out = NULL;
	int rc = dn_speech_check_model(m, &mi, err);
	if (rc != DN_OK)
		return rc;
	dn_speech_params prm = p ? *p : dn_speech_default_params();
	if (prm.chunk_frames < 1 || prm.chunk_frames > 65536 || prm.overlap_frames < 0 ||
	    prm.overlap_frames >= prm.chunk_frames)
		return dn_error_set(err, DN_EINVAL, "chunk of %d frames with %d overlapping is not usable",
		                    prm.chunk_frames, prm.overlap_frames);
	if (prm.threads < 0 || prm.threads > 64)
		return dn_error_set(err, DN_EINVAL, "%d threads: must be 1..64", prm.threads);
	if (prm.threads == 0)
		prm.threads = 1;
	/* Align the step between chunks to the pooling grid (see top). */
	int align = 1 << mi->arch.depth;
	int step = (prm.chunk_frames - prm.overlap_frames) / align * align;
	if (step < align)
		step = align;
	if (prm.chunk_frames < step)
		prm.chunk_frames = step;
	prm.overlap_frames = prm.chunk_frames - step;

	dn_speech *s = calloc(1, sizeof *s);
	if (!s)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	s->model = m;
	s->info = mi;
	s->inf = dn_model_infer(m);
	s->p = prm;
	rc = dn_stft_create(mi->n_fft, mi->hop, &s->stft, err);
	if (rc != DN_OK) {
		dn_speech_destroy(s);
		return rc;
	}
	s->n = mi->n_fft;
	s->hop = mi->hop;
	s->half = mi->n_fft / 2;
	s->bins = dn_stft_bins(s->stft);
	s->la = mi->lookahead;
	s->mag_cap = dn_speech_mag_cap(mi);
	s->log_cap = logf(s->mag_cap);
	size_t C = (size_t)prm.chunk_frames, B = (size_t)s->bins, O = (size_t)prm.overlap_frames;
	size_t W = C + (size_t)s->la; /* network columns, lookahead included */
	s->xwin_cap = (W - 1) * (size_t)s->hop + (size_t)s->n + 2;
	s->acc_cap = (C - 1) * (size_t)s->hop + (size_t)s->n;
	s->xwin = dn_alloc(s->xwin_cap * sizeof(float));
	s->acc = dn_alloc(s->acc_cap * sizeof(float));
	s->pend = dn_alloc((B * O + 1) * sizeof(float));
	s->fade = dn_alloc((O + 1) * sizeof(float));
	s->blk = dn_alloc(BLK * sizeof(float));
	s->nslot = prm.threads;
	s->slot = calloc((size_t)s->nslot, sizeof *s->slot);
	int ok = s->xwin && s->acc && s->pend && s->fade && s->blk && s->slot;
	for (int k = 0; ok && k < s->nslot; k++) {
		chunk_slot *c = &s->slot[k];
		c->re = dn_alloc(B * W * sizeof(float));
		c->im = dn_alloc(B * W * sizeof(float));
		c->mag = dn_alloc(B * W * sizeof(float));
		c->omag = dn_alloc(B * W * sizeof(float));
		c->ws = dn_unet_ws_create();
		ok = c->re && c->im && c->mag && c->omag && c->ws;
	}
	if (!ok) {
		dn_speech_destroy(s);
		return dn_error_set(err, DN_ENOMEM, "out of memory for a %zu-frame chunk", C);
	}
	for (int k = 0; k < s->nslot; k++)
		if ((rc = dn_tensor_init(&s->slot[k].x, 1, 1, s->bins, (int)W, err)) != DN_OK ||
		    (rc = dn_tensor_init(&s->slot[k].y, 1, 1, s->bins, (int)W, err)) != DN_OK) {
			dn_speech_destroy(s);
			return rc;
		}
	/* Raised cosine: the two weights sum to 1 at every frame. */
	for (size_t j = 0; j < O; j++)
		s->fade[j] = (float)(0.5 - 0.5 * cos(M_PI * ((double)j + 0.5) / (double)O));
	*out = s;
	return DN_OK;
}

/* ---- one channel's streaming state ---- */

typedef struct chan {
	const dn_audio *in;
	dn_audio *out;
	int c;
	size_t N;          /* input (and output) frames */
	size_t M, T;       /* model-rate samples and STFT frames */
	dn_resampler *rin; /* NULL when the rates agree */
	dn_resampler *rout;
	size_t in_pos; /* input frames handed to the source */
	int drained;   /* source resampler flushed dry */
	size_t x_off, x_count;
	size_t acc_off;
	size_t out_pos; /* output frames written */
} chan;

/* A NaN or infinity in the input would spread over a whole chunk (every
 * STFT bin it touches, then the network's receptive field): it becomes 0. */
static inline float finite_or_zero(float v)
{
	return isfinite(v) ? v : 0.0f;
}

/* Makes the input window hold model-rate samples [lo, hi). */
static int source_fill(dn_speech *s, chan *ch, size_t lo, size_t hi, dn_error *err)
{
	if (lo < ch->x_off || hi - lo > s->xwin_cap)
		return dn_error_set(err, DN_EINVAL, "internal: input window %zu..%zu cannot be served", lo,
		                    hi);
	size_t drop = lo - ch->x_off;
	if (drop > ch->x_count)
		drop = ch->x_count; /* cannot happen with monotonic chunks; harmless */
	memmove(s->xwin, s->xwin + drop, (ch->x_count - drop) * sizeof(float));
	ch->x_off += drop;
	ch->x_count -= drop;
	const int nc = ch->in->channels;
	int stalls = 0;
	while (ch->x_off + ch->x_count < hi) {
		size_t produced = ch->x_off + ch->x_count;
		size_t room = s->xwin_cap - ch->x_count;
		if (room > ch->M - produced)
			room = ch->M - produced;
		float *dst = s->xwin + ch->x_count;
		size_t done = 0, used = 0;
		if (!ch->rin) {
			/* same rate: M == N, sample i is input frame i */
			for (; done < room; done++)
				dst[done] = finite_or_zero(ch->in->data[(produced + done) * nc + ch->c]);
		} else if (ch->in_pos < ch->N) {
			size_t n = ch->N - ch->in_pos < BLK ? ch->N - ch->in_pos : BLK;
			for (size_t i = 0; i < n; i++)
				s->blk[i] = finite_or_zero(ch->in->data[(ch->in_pos + i) * nc + ch->c]);
			int rc = dn_resampler_process(ch->rin, s->blk, n, &used, dst, room, &done, err);
			if (rc != DN_OK)
				return rc;
			ch->in_pos += used;
		} else if (!ch->drained) {
			int rc = dn_resampler_process(ch->rin, NULL, 0, NULL, dst, room, &done, err);
			if (rc != DN_OK)
				return rc;
			ch->drained = done == 0;
		} else {
			/* the converter gave fewer than M samples: pad with zeros */
			memset(dst, 0, room * sizeof(float));
			done = room;
		}
		ch->x_count += done;
		/* soxr always makes progress; this only guards against a hang */
		stalls = done || used ? 0 : stalls + 1;
		if (stalls > 1000)
			return dn_error_set(err, DN_EINVAL, "internal: the resampler stopped producing");
	}
	return DN_OK;
}

/* Writes model-rate output samples y[0..n) on towards the output buffer. */
static int sink_write(const float *y, size_t n, chan *ch)
{
	const int nc = ch->out->channels;
	for (size_t i = 0; i < n && ch->out_pos < ch->N; i++, ch->out_pos++)
		ch->out->data[ch->out_pos * nc + ch->c] = y[i];
	return DN_OK;
}

static int sink_emit(dn_speech *s, chan *ch, const float *y, size_t n, dn_error *err)
{
	if (!ch->rout)
		return sink_write(y, n, ch);
	size_t pos = 0;
	for (;;) {
		size_t used = 0, done = 0;
		int rc = dn_resampler_process(ch->rout, y + pos, n - pos, &used, s->blk, BLK, &done, err);
		if (rc != DN_OK)
			return rc;
		sink_write(s->blk, done, ch);
		pos += used;
		if (pos == n && done < BLK)
			return DN_OK;
	}
}

static int sink_finish(dn_speech *s, chan *ch, dn_error *err)
{
	if (ch->rout) {
		size_t done;
		do {
			int rc = dn_resampler_process(ch->rout, NULL, 0, NULL, s->blk, BLK, &done, err);
			if (rc != DN_OK)
				return rc;
			sink_write(s->blk, done, ch);
		} while (done > 0 && ch->out_pos < ch->N);
	}
	const int nc = ch->out->channels;
	for (; ch->out_pos < ch->N; ch->out_pos++)
		ch->out->data[ch->out_pos * nc + ch->c] = 0.0f;
	return DN_OK;
}

float dn_speech_scale_in(const dn_model_info *mi, float m)
{
	switch (mi->scaling) {
	case DN_SCALE_LOG1P: m = log1pf(m); break;
	case DN_SCALE_POWER: m = powf(m, mi->power); break;
	default: break;
	}
	return m * mi->input_scale;
}

float dn_speech_mag_cap(const dn_model_info *mi)
{
	/* A full-scale signal's magnitude is at most sum(window) = n/2; 64 times
	 * that bounds an untrained network's output without changing a real one. */
	return 32.0f * (float)mi->n_fft;
}

/* fmaxf/fminf also turn a NaN into 0. */
float dn_speech_scale_out(const dn_model_info *mi, float mag_cap, float log_cap, float v, float m)
{
	float r;
	if (mi->output == DN_OUTPUT_MASK) {
		r = fmaxf(v, 0.0f) * m;
	} else if (mi->output == DN_OUTPUT_CMASK) {
		r = powf(fminf(fmaxf(v, 0.0f), 1.0f), 1.0f / mi->power) * m;
	} else {
		v = fminf(fmaxf(v / mi->input_scale, 0.0f), mag_cap);
		switch (mi->scaling) {
		case DN_SCALE_LOG1P: r = expm1f(fminf(v, log_cap)); break;
		case DN_SCALE_POWER: r = powf(v, 1.0f / mi->power); break;
		default: r = v; break;
		}
	}
	return fminf(fmaxf(r, 0.0f), mag_cap);
}

/* The network part of a chunk, on any thread: slot `task` in, omag out. */
static int chunk_net(void *arg, int task, int thread, dn_error *err)
{
	dn_speech *s = arg;
	chunk_slot *c = &s->slot[task];
	const size_t n = (size_t)s->bins * c->W, W = c->W, L = c->L, la = (size_t)s->la;
	(void)thread;
	int rc = dn_tensor_resize(&c->x, 1, 1, s->bins, (int)W, err);
	if (rc != DN_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		c->mag[i] = hypotf(c->re[i], c->im[i]);
		c->x.data[i] = dn_speech_scale_in(s->info, c->mag[i]);
	}
	rc = s->p.runner.run ? s->p.runner.run(s->p.runner.ctx, &c->x, &c->y, err)
	                     : dn_unet_infer_run(s->inf, c->ws, &c->x, &c->y, err);
	if (rc != DN_OK)
		return rc;
	/* frame j's output is column j + la */
	for (size_t k = 0; k < (size_t)s->bins; k++)
		for (size_t j = 0; j < L; j++)
			c->omag[k * W + j] = dn_speech_scale_out(
			    s->info, s->mag_cap, s->log_cap, c->y.data[k * W + j + la], c->mag[k * W + j]);
	return DN_OK;
}

/* Cross-fade, commit and overlap-add of a chunk whose omag is ready, in
 * chunk order. */
static int chunk_commit(dn_speech *s, chan *ch, chunk_slot *c, int *have_pend, dn_error *err)
{
	const size_t B = (size_t)s->bins, O = (size_t)s->p.overlap_frames, L = c->L, W = c->W, f0 = c->f0;
	const size_t hop = (size_t)s->hop, half = (size_t)s->half;
	const int last = c->last;
	int rc;

	/* cross-fade with the previous chunk's last O frames */
	if (*have_pend)
		for (size_t k = 0; k < B; k++)
			for (size_t j = 0; j < O; j++) {
				float w = s->fade[j];
				float *o = &c->omag[k * W + j];
				*o = (1.0f - w) * s->pend[k * O + j] + w * *o;
			}
	size_t commit = last ? L : L - O;
	if (!last) {
		for (size_t k = 0; k < B; k++)
			memcpy(&s->pend[k * O], &c->omag[k * W + commit], O * sizeof(float));
		*have_pend = O > 0;
	}

	/* committed frames: output magnitude x noisy phasor, overlap-add */
	for (size_t k = 0; k < B; k++)
		for (size_t j = 0; j < commit; j++) {
			size_t i = k * W + j;
			float g = c->mag[i] > 0.0f ? c->omag[i] / c->mag[i] : 0.0f;
			c->re[i] *= g;
			c->im[i] *= g;
		}
	rc = dn_stft_synthesize(s->stft, c->re, c->im, W, f0, commit, s->acc, ch->acc_off, s->acc_cap, ch->M,
	                        err);
	if (rc != DN_OK)
		return rc;

	/* sink: samples no later frame reaches */
	size_t fc = f0 + commit;
	size_t fin = last ? ch->M : (fc * hop > half ? fc * hop - half : 0);
	if (fin > ch->M)
		fin = ch->M;
	if (fin > ch->acc_off) {
		size_t n = fin - ch->acc_off;
		for (size_t j = 0; j < n; j++) {
			float w = dn_stft_wss(s->stft, ch->T, ch->acc_off + j);
			s->acc[j] = w > 1e-11f ? s->acc[j] / w : 0.0f;
		}
		if ((rc = sink_emit(s, ch, s->acc, n, err)) != DN_OK)
			return rc;
		memmove(s->acc, s->acc + n, (s->acc_cap - n) * sizeof(float));
		memset(s->acc + (s->acc_cap - n), 0, n * sizeof(float));
		ch->acc_off = fin;
	}
	return DN_OK;
}

static int denoise_channel(dn_speech *s, chan *ch, dn_error *err)
{
	const size_t C = (size_t)s->p.chunk_frames, O = (size_t)s->p.overlap_frames;
	int rc;
	memset(s->acc, 0, s->acc_cap * sizeof(float));
	size_t f0 = 0;
	int have_pend = 0, done = 0;
	while (!done) {
		if (s->cancel && s->cancel(s->cancel_arg, err))
			return err ? (err->code = DN_ECANCELLED) : DN_ECANCELLED;
		/* source and STFT of up to nslot chunks, in order */
		int n = 0;
		while (n < s->nslot && !done) {
			chunk_slot *c = &s->slot[n++];
			size_t f1 = f0 + C < ch->T ? f0 + C : ch->T;
			/* the frames analysed: the chunk's and its lookahead's */
			size_t fa = f1 + (size_t)s->la < ch->T ? f1 + (size_t)s->la : ch->T;
			c->f0 = f0;
			c->L = f1 - f0;
			c->W = c->L + (size_t)s->la;
			c->last = done = f1 == ch->T;
			size_t lo = ch->M, hi = 0, a, b;
			for (size_t t = f0; t < fa; t++) {
				dn_stft_frame_span(s->stft, t, ch->M, &a, &b);
				lo = a < lo ? a : lo;
				hi = b > hi ? b : hi;
			}
			if ((rc = source_fill(s, ch, lo, hi, err)) != DN_OK)
				return rc;
			float *xw = s->xwin + (lo - ch->x_off);
			if ((rc = dn_stft_analyze(s->stft, xw, lo, hi - lo, ch->M, f0, fa - f0, c->re, c->im,
			                          c->W, err)) != DN_OK)
				return rc;
			/* past the last frame: zero columns */
			for (size_t k = 0; k < (size_t)s->bins; k++)
				for (size_t j = fa - f0; j < c->W; j++)
					c->re[k * c->W + j] = c->im[k * c->W + j] = 0.0f;
			f0 = f1 - O;
		}
		/* their networks at once */
		if ((rc = dn_threads_run(n, n, chunk_net, s, err)) != DN_OK)
			return rc;
		for (int k = 0; k < n; k++)
			if ((rc = chunk_commit(s, ch, &s->slot[k], &have_pend, err)) != DN_OK)
				return rc;
	}
	return sink_finish(s, ch, err);
}

/* Smooth above the knee, never reaching full scale: y = k + (1 - k) tanh((|x| - k) / (1 - k)). */
size_t dn_speech_soft_limit(float *x, size_t n)
{
	size_t changed = 0;
	const float k = LIMIT_KNEE, r = 1.0f - LIMIT_KNEE;
	for (size_t i = 0; i < n; i++) {
		float a = fabsf(x[i]);
		if (a > k) {
			float y = k + r * tanhf((a - k) / r);
			y = x[i] < 0 ? -y : y;
			changed += y != x[i];
			x[i] = y;
		}
	}
	return changed;
}

int dn_speech_denoise(dn_speech *s, const dn_audio *in, dn_audio *out, dn_speech_stats *stats, dn_error *err)
{
	if (!s || !in || !out)
		return dn_error_set(err, DN_EINVAL, "dn_speech_denoise: missing argument");
	memset(out, 0, sizeof *out);
	if (stats)
		memset(stats, 0, sizeof *stats);
	if (in->channels < 1 || in->frames < 1 || in->rate < 1 || !in->data)
		return dn_error_set(err, DN_EINVAL, "nothing to denoise: %zu frames of %d channels at %d Hz",
		                    in->frames, in->channels, in->rate);
	const int mr = s->info->sample_rate;
	size_t M = dn_resample_length(in->frames, in->rate, mr);
	if (M == 0 || M > (size_t)1 << 40)
		return dn_error_set(err, DN_ELIMIT, "%zu frames at %d Hz are too many", in->frames, in->rate);
	size_t total = in->frames * (size_t)in->channels;
	out->data = malloc(total * sizeof(float));
	if (!out->data)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate the output (%zu samples)", total);
	out->frames = in->frames;
	out->channels = in->channels;
	out->rate = in->rate;

	int rc = DN_OK;
	for (int c = 0; c < in->channels && rc == DN_OK; c++) {
		chan ch = {.in = in, .out = out, .c = c, .N = in->frames, .M = M};
		ch.T = dn_stft_frames(s->stft, M);
		if (in->rate != mr) {
			rc = dn_resampler_create(in->rate, mr, &ch.rin, err);
			if (rc == DN_OK)
				rc = dn_resampler_create(mr, in->rate, &ch.rout, err);
		}
		if (rc == DN_OK)
			rc = denoise_channel(s, &ch, err);
		dn_resampler_destroy(ch.rin);
		dn_resampler_destroy(ch.rout);
	}
	if (rc != DN_OK) {
		dn_audio_free(out);
		return rc;
	}
	float peak = 0.0f;
	for (size_t i = 0; i < total; i++)
		peak = fmaxf(peak, fabsf(out->data[i]));
	size_t limited = 0;
	if (peak > 1.0f && s->p.limit)
		limited = dn_speech_soft_limit(out->data, total);
	if (stats) {
		stats->peak = peak;
		stats->limited_samples = limited;
	}
	return DN_OK;
}
