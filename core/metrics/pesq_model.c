/*
 * pesq_model.c — PESQ's perceptual model and cognitive aggregation
 * (ITU-T P.862 sections 10.2.5 - 10.2.8).
 *
 * Both signals are cut into 32 ms Hann frames (half overlap), the degraded
 * one shifted by its utterance's delay; each frame's power spectrum is
 * warped to Bark bands, the reference is compensated for the system's
 * average frequency response and the degraded for short-term gain, both
 * become loudness densities (Zwicker's law), and their difference, with a
 * dead zone and an asymmetry factor for added components, gives two
 * disturbances per frame. Runs of frames with large disturbance are
 * re-aligned and recomputed ("bad intervals"). The frame disturbances are
 * aggregated by L6 over 320 ms syllables and L2 over time into the raw
 * score 4.5 − 0.1·D − 0.0309·A.
 *
 * Variables mirror the reference implementation's precision (float arrays,
 * double accumulators) so that scores agree with it closely.
 */
#include "core/dn.h"
#include "core/metrics/pesq_internal.h"

#include <math.h>
#include <stdlib.h>

#define SILENCE_5_SAMPLES                500.0f /* sum of |x| over 5 samples below which the ends are trimmed */
#define D_POW_F                          2
#define D_POW_S                          6
#define D_POW_T                          2
#define A_POW_F                          1
#define A_POW_S                          6
#define A_POW_T                          2
#define D_WEIGHT                         0.1
#define A_WEIGHT                         0.0309
#define THRESHOLD_BAD_FRAMES             30
#define MIN_BAD_FRAMES_IN_INTERVAL       5
#define SMEAR_RANGE                      2
#define SEARCH_RANGE_IN_TRANSFORM_LENGTH 4
#define FRAMES_PER_SYLLABLE              20
#define MAX_SCALE                        5.0f
#define MIN_SCALE                        3e-4f

/* Per-run state of the model. */
typedef struct model {
	pesq_ctx *ctx;
	const pesq_params *p;
	int nb;
	long nf;       /* frame length: 8 VAD windows (32 ms) */
	long max_n;    /* longer signal length, padding included */
	long n_frames; /* stop_frame + 1 */
	float *window;
	float *fft_tmp;                                        /* nf + 2 */
	float *hz_ref, *hz_deg;                                /* nf / 2 */
	float *ppd_ref, *ppd_deg;                              /* pitch power densities, n_frames × nb */
	float *loud_ref, *loud_deg, *dist;                     /* nb */
	float *frame_dist, *frame_dist_asym, *total_power_ref; /* n_frames */
	/* Loudness law per band: threshold, exponent, and threshold term. */
	float *thresh;
	double *zw_power, *zw_scale;
} model;

/* Power spectrum of one Hann-windowed frame (DC bin zeroed). */
static int short_term_fft(model *m, const float *data, long start, float *hz)
{
	float *t = m->fft_tmp;
	for (long i = 0; i < m->nf; i++)
		t[i] = data[start + i] * m->window[i];
	int rc = pesq_rfft(&m->ctx->fft, t, m->nf);
	if (rc != DN_OK)
		return rc;
	for (long k = 0; k < m->nf / 2; k++)
		hz[k] = t[2 * k] * t[2 * k] + t[2 * k + 1] * t[2 * k + 1];
	hz[0] = 0.0f;
	return DN_OK;
}

/* Sums FFT bins into Bark bands, scaled to power densities. */
static void freq_warping(const model *m, const float *hz, float *ppd)
{
	int bin = 0;
	for (int band = 0; band < m->nb; band++) {
		double sum = 0.0;
		for (int i = 0; i < m->p->hz_per_bark[band]; i++)
			sum += hz[bin++];
		sum *= m->p->pow_dens_corr[band];
		sum *= m->p->sp;
		ppd[band] = (float)sum;
	}
}

/* Power of the bands (except the lowest) above factor × hearing threshold. */
static float total_audible(const model *m, const float *ppd, float factor)
{
	double result = 0.0;
	for (int band = 1; band < m->nb; band++) {
		float h = ppd[band];
		float threshold = (float)(factor * m->p->abs_thresh[band]);
		if (h > threshold)
			result += h;
	}
	return (float)result;
}

/* Mean over all frames of the audible power in non-silent frames. */
static void time_avg_audible(const model *m, const int *silent, const float *ppd, float *avg, long divisor)
{
	for (int band = 0; band < m->nb; band++) {
		double result = 0.0;
		for (long f = 0; f < m->n_frames; f++) {
			if (silent[f])
				continue;
			float h = ppd[f * m->nb + band];
			if (h > 100 * m->p->abs_thresh[band])
				result += h;
		}
		avg[band] = (float)(result / (double)divisor);
	}
}

/* Zwicker's loudness law with an exponent raised below 4 Bark. */
static void intensity_warping(const model *m, const float *ppd, float *loud)
{
	for (int band = 0; band < m->nb; band++) {
		float threshold = m->thresh[band], input = ppd[band];
		if (input > threshold)
			loud[band] = (float)(m->zw_scale[band] *
			                     (pow(0.5 + 0.5 * input / threshold, m->zw_power[band]) - 1));
		else
			loud[band] = 0.0f;
		loud[band] *= m->p->sl;
	}
}

/* Band-width weighted Lp norm over the bands (except the lowest). */
static float pseudo_lp(const model *m, const float *x, float p)
{
	double total_weight = 0.0, result = 0.0;
	for (int band = 1; band < m->nb; band++) {
		float h = (float)fabs(x[band]);
		float w = (float)m->p->width_bark[band];
		float prod = h * w;
		result += pow(prod, p);
		total_weight += w;
	}
	result /= total_weight;
	result = pow(result, 1 / p);
	result *= total_weight;
	return (float)result;
}

/* Weights the disturbance by how much louder the degraded band is:
 * (ratio)^1.2, capped at 12 and ignored below 3. */
static void asymmetry(const model *m, float *dist, const float *ppd_ref, const float *ppd_deg)
{
	for (int i = 0; i < m->nb; i++) {
		float ratio = (ppd_deg[i] + 50.0f) / (ppd_ref[i] + 50.0f);
		float h = (float)pow(ratio, 1.2f);
		if (h > 12.0f)
			h = 12.0f;
		if (h < 3.0f)
			h = 0.0f;
		dist[i] *= h;
	}
}

/* Gain-compensates frame f of the degraded densities (smoothed with the
 * previous frame's gain in *old_scale) and returns its symmetric and
 * asymmetric disturbances. */
static void frame_disturbance(model *m, long f, float *old_scale, float *d_out, float *a_out)
{
	const int nb = m->nb;
	float *ref = m->ppd_ref + f * nb, *deg = m->ppd_deg + f * nb;

	float audible_ref = total_audible(m, ref, 1.0f);
	float audible_deg = total_audible(m, deg, 1.0f);
	m->total_power_ref[f] = audible_ref;

	float scale = (audible_ref + 5e3f) / (audible_deg + 5e3f);
	if (f > 0)
		scale = 0.2f * *old_scale + 0.8f * scale;
	*old_scale = scale;
	if (scale > MAX_SCALE)
		scale = MAX_SCALE;
	if (scale < MIN_SCALE)
		scale = MIN_SCALE;
	for (int band = 0; band < nb; band++)
		deg[band] *= scale;

	intensity_warping(m, ref, m->loud_ref);
	intensity_warping(m, deg, m->loud_deg);

	/* Differences within a quarter of the smaller loudness are masked. */
	for (int band = 0; band < nb; band++) {
		float d = m->loud_deg[band] - m->loud_ref[band];
		float lo = m->loud_deg[band] < m->loud_ref[band] ? m->loud_deg[band] : m->loud_ref[band];
		float dz = (float)(lo * 0.25);
		if (d > dz)
			d -= dz;
		else if (d < -dz)
			d += dz;
		else
			d = 0.0f;
		m->dist[band] = d;
	}
	*d_out = pseudo_lp(m, m->dist, D_POW_F);
	asymmetry(m, m->dist, ref, deg);
	*a_out = pseudo_lp(m, m->dist, A_POW_F);
}

/* L_{power_syllable} over half-overlapping syllables of 20 frames, then the
 * time-weighted L_{power_time} over syllables. */
static float lpq_weight(long start_frame, long stop_frame, float power_syllable, float power_time,
                        const float *frame_dist, const float *time_weight)
{
	double result_time = 0.0, total_time_weight = 0.0;
	for (long s = start_frame; s <= stop_frame; s += FRAMES_PER_SYLLABLE / 2) {
		double result_syllable = 0.0;
		int count = 0;
		for (long f = s; f < s + FRAMES_PER_SYLLABLE; f++) {
			if (f <= stop_frame)
				result_syllable += pow(frame_dist[f], power_syllable);
			count++;
		}
		result_syllable /= count;
		result_syllable = pow(result_syllable, (double)1 / power_syllable);
		result_time += pow(time_weight[s - start_frame] * result_syllable, power_time);
		total_time_weight += pow(time_weight[s - start_frame], power_time);
	}
	result_time /= total_time_weight;
	result_time = pow(result_time, (float)1 / power_time);
	return (float)result_time;
}

/* Index of the utterance holding reference sample `sample`: the last one
 * whose start is at or before it; -1 if none. */
static long utt_of(const pesq_ctx *ctx, long sample)
{
	long u = ctx->utt.count - 1;
	while (u >= 0 && ctx->utt.start[u] * ctx->p->downsample > sample)
		u--;
	return u;
}

static long delay_at(const pesq_ctx *ctx, long sample)
{
	long u = utt_of(ctx, sample);
	return ctx->utt.delay[u >= 0 ? u : 0];
}

/* Copies of the degraded signal shifted per utterance ("tweaked"), as the
 * bad-interval search correlates against it. */
static float *tweaked_degraded(const model *m)
{
	const pesq_ctx *ctx = m->ctx;
	const long sb = ctx->sb, nn = ctx->pad + m->max_n;
	float *tw = calloc((size_t)nn, sizeof *tw);
	if (!tw)
		return NULL;
	/* The utterance index found by utt_of never decreases with the
	 * sample, so walk it forward instead of searching per sample. */
	long u = -1;
	const pesq_utts *ut = &ctx->utt;
	long *suffix_min = malloc((size_t)(ut->count + 1) * sizeof *suffix_min);
	if (!suffix_min) {
		free(tw);
		return NULL;
	}
	/* utt_of(i) >= v iff some utterance w >= v starts at or before i. */
	for (long v = ut->count - 1; v >= 0; v--) {
		long s = ut->start[v] * ctx->p->downsample;
		suffix_min[v] = (v == ut->count - 1 || s < suffix_min[v + 1]) ? s : suffix_min[v + 1];
	}
	for (long i = sb; i < nn - sb; i++) {
		while (u + 1 < ut->count && suffix_min[u + 1] <= i)
			u++;
		long j = i + ut->delay[u >= 0 ? u : 0];
		if (j < sb)
			j = sb;
		if (j >= nn - sb)
			j = nn - sb - 1;
		tw[i] = ctx->deg.data[j];
	}
	free(suffix_min);
	return tw;
}

/* Delay in [-search_range, search_range) maximising the correlation of the
 * envelopes |x1| and |x2| over n samples; *max_corr gets its normalised
 * value (0 when either is silent). */
static int compute_delay(model *m, long n, long search_range, const float *x1, const float *x2,
                         float *max_corr, long *delay)
{
	long n2 = pesq_nextpow2(2 * n);
	double power1 = pesq_pow_of(x1, 0, n, n) * (double)n / (double)n2;
	double power2 = pesq_pow_of(x2, 0, n, n) * (double)n / (double)n2;
	double normalization = sqrt(power1 * power2);

	*max_corr = 0.0f;
	*delay = 0;
	if (power1 <= 1e-6 || power2 <= 1e-6)
		return DN_OK;

	float *a = calloc((size_t)n2 + 2, sizeof *a), *b = calloc((size_t)n2 + 2, sizeof *b);
	int rc = (a && b) ? DN_OK : DN_ENOMEM;
	if (rc == DN_OK) {
		for (long i = 0; i < n; i++) {
			a[i] = (float)fabs(x1[i]);
			b[i] = (float)fabs(x2[i]);
		}
		rc = pesq_rfft(&m->ctx->fft, a, n2);
	}
	if (rc == DN_OK)
		rc = pesq_rfft(&m->ctx->fft, b, n2);
	if (rc == DN_OK) {
		for (long i = 0; i <= n2 / 2; i++) {
			a[2 * i] /= (float)n2;
			a[2 * i + 1] /= (float)n2;
		}
		/* conj(A)·B, in place in a. */
		for (long i = 0; i <= n2 / 2; i++) {
			float ar = a[2 * i], ai = a[2 * i + 1];
			a[2 * i] = ar * b[2 * i] + ai * b[2 * i + 1];
			a[2 * i + 1] = -ai * b[2 * i] + ar * b[2 * i + 1];
		}
		rc = pesq_irfft(&m->ctx->fft, a, n2);
	}
	if (rc == DN_OK) {
		for (long i = -search_range; i < search_range; i++) {
			double h = (float)fabs(a[i < 0 ? i + n2 : i]) / normalization;
			if (fabs(h) > (double)*max_corr) {
				*max_corr = (float)fabs(h);
				*delay = i;
			}
		}
	}
	free(a);
	free(b);
	return rc;
}

/* Re-aligns runs of badly disturbed frames: finds each run's own delay
 * against the tweaked degraded signal and keeps, per frame, the smaller of
 * the old and re-computed disturbances. */
static int bad_intervals(model *m, const float *tweaked)
{
	pesq_ctx *ctx = m->ctx;
	const long sb = ctx->sb, stop_frame = m->n_frames - 1, nf = m->nf;
	const long nn = m->max_n - sb + ctx->pad;
	int rc = DN_ENOMEM;
	long n_bad = 0;

	int *is_bad = calloc((size_t)m->n_frames, sizeof *is_bad);
	int *smeared = calloc((size_t)m->n_frames, sizeof *smeared);
	long *start_frame = calloc((size_t)m->n_frames, sizeof *start_frame);
	long *stop_frame_of = calloc((size_t)m->n_frames, sizeof *stop_frame_of);
	long *delay = calloc((size_t)m->n_frames, sizeof *delay);
	float *doubly = NULL;
	if (!is_bad || !smeared || !start_frame || !stop_frame_of || !delay)
		goto out;

	for (long f = 0; f <= stop_frame; f++)
		is_bad[f] = m->frame_dist[f] > THRESHOLD_BAD_FRAMES;
	is_bad[0] = 0;
	/* A frame stays bad when bad frames lie within 2 on both sides. */
	for (long f = SMEAR_RANGE; f < stop_frame - SMEAR_RANGE; f++) {
		int left = is_bad[f], right = is_bad[f];
		for (long i = -SMEAR_RANGE; i <= 0; i++)
			if (left < is_bad[f + i])
				left = is_bad[f + i];
		for (long i = 0; i <= SMEAR_RANGE; i++)
			if (right < is_bad[f + i])
				right = is_bad[f + i];
		smeared[f] = left < right ? left : right;
	}

	/* Runs of at least 5 bad frames that end before the last frame. */
	long f = 0;
	while (f <= stop_frame) {
		while (f <= stop_frame && !smeared[f])
			f++;
		if (f > stop_frame)
			break;
		start_frame[n_bad] = f;
		while (f <= stop_frame && smeared[f])
			f++;
		if (f <= stop_frame) {
			stop_frame_of[n_bad] = f;
			if (f - start_frame[n_bad] >= MIN_BAD_FRAMES_IN_INTERVAL)
				n_bad++;
		}
	}
	if (n_bad == 0) {
		rc = DN_OK;
		goto out;
	}

	const long search_range = SEARCH_RANGE_IN_TRANSFORM_LENGTH * nf;
	for (long b = 0; b < n_bad; b++) {
		long start_sample = start_frame[b] * (nf / 2) + sb;
		long n_samples = stop_frame_of[b] * (nf / 2) + nf + sb - start_sample;
		long len = 2 * search_range + n_samples;
		float *ref = calloc((size_t)len, sizeof *ref), *deg = malloc((size_t)len * sizeof *deg);
		if (!ref || !deg) {
			free(ref);
			free(deg);
			goto out;
		}
		for (long i = 0; i < n_samples; i++)
			ref[search_range + i] = ctx->ref.data[start_sample + i];
		for (long i = 0; i < len; i++) {
			long j = start_sample - search_range + i;
			if (j < sb)
				j = sb;
			if (j >= nn)
				j = nn - 1;
			deg[i] = tweaked[j];
		}
		float best;
		rc = compute_delay(m, len, search_range, ref, deg, &best, &delay[b]);
		free(ref);
		free(deg);
		if (rc != DN_OK)
			goto out;
		if (best < 0.5f)
			delay[b] = 0;
	}

	rc = DN_ENOMEM;
	doubly = malloc((size_t)(m->max_n + ctx->pad) * sizeof *doubly);
	if (!doubly)
		goto out;
	for (long i = 0; i < m->max_n + ctx->pad; i++)
		doubly[i] = tweaked[i];
	for (long b = 0; b < n_bad; b++) {
		long start_sample = start_frame[b] * (nf / 2) + sb;
		long stop_sample = stop_frame_of[b] * (nf / 2) + nf + sb;
		for (long i = start_sample; i < stop_sample; i++) {
			long j = i + delay[b];
			if (j < 0)
				j = 0;
			if (j >= m->max_n)
				j = m->max_n - 1;
			doubly[i] = tweaked[j];
		}
	}

	for (long b = 0; b < n_bad; b++) {
		for (f = start_frame[b]; f < stop_frame_of[b]; f++) {
			rc = short_term_fft(m, doubly, sb + f * nf / 2, m->hz_deg);
			if (rc != DN_OK)
				goto out;
			freq_warping(m, m->hz_deg, m->ppd_deg + f * m->nb);
		}
		float old_scale = 1.0f;
		for (f = start_frame[b]; f < stop_frame_of[b]; f++) {
			float d, a;
			frame_disturbance(m, f, &old_scale, &d, &a);
			if (d < m->frame_dist[f])
				m->frame_dist[f] = d;
			if (a < m->frame_dist_asym[f])
				m->frame_dist_asym[f] = a;
		}
	}
	rc = DN_OK;
out:
	free(doubly);
	free(is_bad);
	free(smeared);
	free(start_frame);
	free(stop_frame_of);
	free(delay);
	return rc;
}

static void model_free(model *m)
{
	free(m->window);
	free(m->fft_tmp);
	free(m->hz_ref);
	free(m->hz_deg);
	free(m->ppd_ref);
	free(m->ppd_deg);
	free(m->loud_ref);
	free(m->loud_deg);
	free(m->dist);
	free(m->frame_dist);
	free(m->frame_dist_asym);
	free(m->total_power_ref);
	free(m->thresh);
	free(m->zw_power);
	free(m->zw_scale);
}

static int model_alloc(model *m)
{
	const size_t nb = (size_t)m->nb, nf = (size_t)m->nf, frames = (size_t)m->n_frames;
	m->window = malloc(nf * sizeof(float));
	m->fft_tmp = malloc((nf + 2) * sizeof(float));
	m->hz_ref = malloc(nf / 2 * sizeof(float));
	m->hz_deg = malloc(nf / 2 * sizeof(float));
	m->ppd_ref = malloc(frames * nb * sizeof(float));
	m->ppd_deg = malloc(frames * nb * sizeof(float));
	m->loud_ref = malloc(nb * sizeof(float));
	m->loud_deg = malloc(nb * sizeof(float));
	m->dist = malloc(nb * sizeof(float));
	m->frame_dist = malloc(frames * sizeof(float));
	m->frame_dist_asym = malloc(frames * sizeof(float));
	m->total_power_ref = malloc(frames * sizeof(float));
	m->thresh = malloc(nb * sizeof(float));
	m->zw_power = malloc(nb * sizeof(double));
	m->zw_scale = malloc(nb * sizeof(double));
	if (!m->window || !m->fft_tmp || !m->hz_ref || !m->hz_deg || !m->ppd_ref || !m->ppd_deg ||
	    !m->loud_ref || !m->loud_deg || !m->dist || !m->frame_dist || !m->frame_dist_asym ||
	    !m->total_power_ref || !m->thresh || !m->zw_power || !m->zw_scale)
		return DN_ENOMEM;
	return DN_OK;
}

/* Frames with skipped degraded speech (the delay jumps back by more than
 * half a frame between utterances) carry no disturbance. */
static void skip_delay_jumps(model *m)
{
	const pesq_ctx *ctx = m->ctx;
	const long ds = ctx->p->downsample, half = m->nf / 2, stop_frame = m->n_frames - 1;
	const pesq_utts *ut = &ctx->utt;
	for (long u = 1; u < ut->count; u++) {
		long frame1 = ((ut->start[u] - PESQ_SEARCHBUFFER) * ds + ut->delay[u]) / half;
		long j = ((ut->end[u - 1] - PESQ_SEARCHBUFFER) * ds + ut->delay[u - 1]) / half;
		long jump = ut->delay[u] - ut->delay[u - 1];
		if (frame1 > j)
			frame1 = j;
		if (frame1 < 0)
			frame1 = 0;
		if (jump < -half) {
			long frame2 = ((ut->start[u] - PESQ_SEARCHBUFFER) * ds + labs(jump)) / half + 1;
			for (long f = frame1; f <= frame2; f++)
				if (f < stop_frame) {
					m->frame_dist[f] = 0.0f;
					m->frame_dist_asym[f] = 0.0f;
				}
		}
	}
}

int pesq_model(pesq_ctx *ctx, double *raw_mos)
{
	const pesq_params *p = ctx->p;
	const long sb = ctx->sb, pad = ctx->pad;
	model m = {.ctx = ctx, .p = p, .nb = p->nb, .nf = p->downsample * 8};
	m.max_n = ctx->ref.n > ctx->deg.n ? ctx->ref.n : ctx->deg.n;
	const long half = m.nf / 2, max_n = m.max_n;
	const float *ref = ctx->ref.data;
	int *silent = NULL;
	float *tweaked = NULL, *time_weight = NULL;
	int rc;

	/* Leading and trailing silence of the reference is left out of the
	 * aggregation. */
	long skip_start = 0, skip_end = 0;
	float sum5;
	do {
		sum5 = 0.0f;
		for (int i = 0; i < 5; i++)
			sum5 += (float)fabs(ref[sb + skip_start + i]);
		if (sum5 < SILENCE_5_SAMPLES)
			skip_start++;
	} while (sum5 < SILENCE_5_SAMPLES && skip_start < max_n / 2);
	do {
		sum5 = 0.0f;
		for (int i = 0; i < 5; i++)
			sum5 += (float)fabs(ref[max_n - sb + pad - 1 - skip_end - i]);
		if (sum5 < SILENCE_5_SAMPLES)
			skip_end++;
	} while (sum5 < SILENCE_5_SAMPLES && skip_end < max_n / 2);

	long start_frame = skip_start / half;
	long stop_frame = (max_n - 2 * sb + pad - skip_end) / half - 1;
	if (stop_frame < 0 || start_frame > stop_frame)
		return DN_EINVAL;
	m.n_frames = stop_frame + 1;

	rc = model_alloc(&m);
	silent = malloc((size_t)m.n_frames * sizeof *silent);
	time_weight = malloc((size_t)m.n_frames * sizeof *time_weight);
	if (rc != DN_OK || !silent || !time_weight) {
		rc = DN_ENOMEM;
		goto out;
	}

	for (long n = 0; n < m.nf; n++)
		m.window[n] = (float)(0.5 * (1.0 - cos((PESQ_TWOPI * (double)n) / (double)m.nf)));
	for (int band = 0; band < m.nb; band++) {
		float h = p->centre_bark[band] < 4.0f ? 6.0f / ((float)p->centre_bark[band] + 2.0f) : 1.0f;
		if (h > 2.0f)
			h = 2.0f;
		h = (float)pow(h, 0.15f);
		m.zw_power[band] = 0.23 * h;
		m.thresh[band] = (float)p->abs_thresh[band];
		m.zw_scale[band] = pow(m.thresh[band] / 0.5, m.zw_power[band]);
	}

	/* Bark power densities of every frame; the degraded frame is taken
	 * at its utterance's delay. */
	for (long f = 0; f <= stop_frame; f++) {
		long start_ref = sb + f * half;
		if ((rc = short_term_fft(&m, ref, start_ref, m.hz_ref)) != DN_OK)
			goto out;
		long start_deg = start_ref + delay_at(ctx, start_ref);
		if (start_deg > 0 && start_deg + m.nf < max_n + pad) {
			if ((rc = short_term_fft(&m, ctx->deg.data, start_deg, m.hz_deg)) != DN_OK)
				goto out;
		} else {
			for (long i = 0; i < half; i++)
				m.hz_deg[i] = 0.0f;
		}
		freq_warping(&m, m.hz_ref, m.ppd_ref + f * m.nb);
		freq_warping(&m, m.hz_deg, m.ppd_deg + f * m.nb);
		silent[f] = total_audible(&m, m.ppd_ref + f * m.nb, 1e2f) < 1e7f;
	}

	/* Partial compensation of the system's frequency response: scale the
	 * reference by the ratio of long-term average audible spectra. */
	{
		float avg_ref[49], avg_deg[49];
		long divisor = (max_n - 2 * sb + pad) / half - 1;
		time_avg_audible(&m, silent, m.ppd_ref, avg_ref, divisor);
		time_avg_audible(&m, silent, m.ppd_deg, avg_deg, divisor);
		for (int band = 0; band < m.nb; band++) {
			float x = (avg_deg[band] + 1000.0f) / (avg_ref[band] + 1000.0f);
			if (x > 100.0f)
				x = 100.0f;
			if (x < 0.01f)
				x = 0.01f;
			for (long f = 0; f <= stop_frame; f++)
				m.ppd_ref[f * m.nb + band] *= x;
		}
	}

	int any_bad = 0;
	float old_scale = 1.0f;
	for (long f = 0; f <= stop_frame; f++) {
		frame_disturbance(&m, f, &old_scale, &m.frame_dist[f], &m.frame_dist_asym[f]);
		if (m.frame_dist[f] > THRESHOLD_BAD_FRAMES)
			any_bad = 1;
	}

	skip_delay_jumps(&m);

	if (any_bad) {
		rc = DN_ENOMEM;
		if (!(tweaked = tweaked_degraded(&m)))
			goto out;
		if ((rc = bad_intervals(&m, tweaked)) != DN_OK)
			goto out;
	}

	/* Long recordings weigh later frames more (up to 2:1). */
	for (long f = 0; f <= stop_frame; f++) {
		float h = 1.0f;
		if (stop_frame + 1 > 1000) {
			long n = (max_n - 2 * sb) / half - 1;
			double twf = (float)(n - 1000.0f) / 5500.0f;
			if (twf > 0.5f)
				twf = 0.5f;
			h = (float)((1.0f - twf) + twf * (float)f / (float)n);
		}
		time_weight[f] = h;
	}

	/* Loud reference frames tolerate more disturbance. */
	for (long f = 0; f <= stop_frame; f++) {
		float h = (float)pow((m.total_power_ref[f] + 1e5) / 1e7, 0.04);
		m.frame_dist[f] /= h;
		m.frame_dist_asym[f] /= h;
		if (m.frame_dist[f] > 45)
			m.frame_dist[f] = 45;
		if (m.frame_dist_asym[f] > 45)
			m.frame_dist_asym[f] = 45;
	}

	float d_ind = lpq_weight(start_frame, stop_frame, D_POW_S, D_POW_T, m.frame_dist, time_weight);
	float a_ind = lpq_weight(start_frame, stop_frame, A_POW_S, A_POW_T, m.frame_dist_asym, time_weight);
	*raw_mos = (float)(4.5 - D_WEIGHT * d_ind - A_WEIGHT * a_ind);
	rc = DN_OK;
out:
	free(silent);
	free(tweaked);
	free(time_weight);
	model_free(&m);
	return rc;
}
