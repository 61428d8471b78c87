/*
 * pesq_align.c — PESQ's time alignment (ITU-T P.862 section 10.4): voice
 * activity detection, a crude delay from the cross-correlation of the two
 * log-energy envelopes, then per utterance a refined crude delay and a fine
 * delay from a histogram of sample-level cross-correlation peaks, and finally
 * the splitting of utterances whose two halves show different delays.
 *
 * Positions are in VAD windows of `downsample` samples (4 ms), delays in
 * samples. The code follows the reference implementation's order and
 * single-precision arithmetic: the outcome is a set of integer delays, and
 * equal arithmetic keeps ties and thresholds where the reference puts them.
 */
#include "core/dn.h"
#include "core/metrics/pesq_internal.h"

#include <math.h>
#include <stdlib.h>

void pesq_vad(const pesq_params *p, pesq_signal *sig)
{
	const long ds = p->downsample;
	const long nw = sig->n / ds;
	float *vad = sig->vad;
	long count, i, start, finish, length;

	for (count = 0; count < nw; count++) {
		vad[count] = 0.0f;
		for (i = 0; i < ds; i++) {
			float g = sig->data[count * ds + i];
			vad[count] += g * g;
		}
		vad[count] /= (float)ds;
	}

	float thresh = 0.0f;
	for (count = 0; count < nw; count++)
		thresh += vad[count];
	thresh /= (float)nw;

	float level_min = 0.0f;
	for (count = 0; count < nw; count++)
		if (vad[count] > level_min)
			level_min = vad[count];
	if (level_min > 0.0f)
		level_min *= 1.0e-4f;
	else
		level_min = 1.0f;
	for (count = 0; count < nw; count++)
		if (vad[count] < level_min)
			vad[count] = level_min;

	/* The noise level: iterate mean + 2 sd of the windows below threshold. */
	float noise = 0.0f, sd = 0.0f;
	for (int it = 0; it < 12; it++) {
		noise = 0.0f;
		sd = 0.0f;
		length = 0;
		for (count = 0; count < nw; count++)
			if (vad[count] <= thresh) {
				noise += vad[count];
				length++;
			}
		if (length > 0) {
			noise /= (float)length;
			for (count = 0; count < nw; count++)
				if (vad[count] <= thresh) {
					float g = vad[count] - noise;
					sd += g * g;
				}
			sd = (float)sqrt(sd / (float)length);
		}
		thresh = 1.001f * (noise + 2.0f * sd);
	}

	float level_sig = 0.0f;
	noise = 0.0f;
	length = 0;
	for (count = 0; count < nw; count++) {
		if (vad[count] > thresh) {
			level_sig += vad[count];
			length++;
		} else {
			noise += vad[count];
		}
	}
	if (length > 0)
		level_sig /= (float)length;
	else
		thresh = -1.0f;
	if (length < nw)
		noise /= (float)(nw - length);
	else
		noise = 1.0f;

	/* Speech windows stay positive, the rest are negated. */
	for (count = 0; count < nw; count++)
		if (vad[count] <= thresh)
			vad[count] = -vad[count];
	vad[0] = -level_min;
	vad[nw - 1] = -level_min;

	/* Drop bursts of at most MINSPEECHLGTH windows. */
	start = 0;
	finish = 0;
	for (count = 1; count < nw; count++) {
		if (vad[count] > 0.0f && vad[count - 1] <= 0.0f)
			start = count;
		if (vad[count] <= 0.0f && vad[count - 1] > 0.0f) {
			finish = count;
			if (finish - start <= PESQ_MINSPEECHLGTH)
				for (i = start; i < finish; i++)
					vad[i] = -vad[i];
		}
	}

	/* With a clean signal, also drop bursts that are weak on average. */
	if (level_sig >= noise * 1000.0f) {
		for (count = 1; count < nw; count++) {
			if (vad[count] > 0.0f && vad[count - 1] <= 0.0f)
				start = count;
			if (vad[count] <= 0.0f && vad[count - 1] > 0.0f) {
				finish = count;
				float g = 0.0f;
				for (i = start; i < finish; i++)
					g += vad[i];
				if (g < 3.0f * thresh * (float)(finish - start))
					for (i = start; i < finish; i++)
						vad[i] = -vad[i];
			}
		}
	}

	/* Bridge short gaps. */
	start = 0;
	finish = 0;
	for (count = 1; count < nw; count++) {
		if (vad[count] > 0.0f && vad[count - 1] <= 0.0f) {
			start = count;
			if (finish > 0 && start - finish <= PESQ_JOINSPEECHLGTH)
				for (i = finish; i < start; i++)
					vad[i] = level_min;
		}
		if (vad[count] <= 0.0f && vad[count - 1] > 0.0f)
			finish = count;
	}

	/* No speech found at all: call everything speech. */
	start = 0;
	for (count = 1; count < nw; count++)
		if (vad[count] > 0.0f && vad[count - 1] <= 0.0f)
			start = count;
	if (start == 0) {
		for (count = 0; count < nw; count++)
			vad[count] = (float)fabs(vad[count]);
		vad[0] = -level_min;
		vad[nw - 1] = -level_min;
	}

	/* Soften the edges of each speech segment. */
	count = 3;
	while (count < nw - 2) {
		if (vad[count] > 0.0f && vad[count - 2] <= 0.0f) {
			vad[count - 2] = vad[count] * 0.1f;
			vad[count - 1] = vad[count] * 0.3f;
			count++;
		}
		if (vad[count] <= 0.0f && vad[count - 1] > 0.0f) {
			vad[count] = vad[count - 1] * 0.3f;
			vad[count + 1] = vad[count - 1] * 0.1f;
			count += 3;
		}
		count++;
	}

	for (count = 0; count < nw; count++)
		if (vad[count] < 0.0f)
			vad[count] = 0.0f;

	if (thresh <= 0.0f)
		thresh = level_min;
	for (count = 0; count < nw; count++)
		sig->logvad[count] = vad[count] <= thresh ? 0.0f : (float)log(vad[count] / thresh);
}

/* Delay (in samples, a multiple of downsample) that best aligns the degraded
 * log-VAD envelope with the reference one over reference windows
 * [search_start, search_end), starting from the estimate delay_est; or over
 * both whole signals when whole is set. */
static int crude_lag(pesq_ctx *ctx, int whole, long search_start, long search_end, long delay_est, long *lag)
{
	const long ds = ctx->p->downsample;
	long nr, nd, startr, startd;

	if (whole) {
		nr = ctx->ref.n / ds;
		nd = ctx->deg.n / ds;
		startr = 0;
		startd = 0;
	} else {
		startr = search_start;
		startd = startr + delay_est / ds;
		if (startd < 0) {
			startr = -delay_est / ds;
			startd = 0;
		}
		nr = search_end - startr;
		nd = nr;
		if (startd + nd > ctx->deg.n / ds)
			nd = ctx->deg.n / ds - startd;
	}

	long i_max = nr - 1;
	if (nr > 1 && nd > 1) {
		/* Full cross-correlation as the convolution of the reversed
		 * reference with the degraded envelope. */
		long nx = pesq_nextpow2(nr > nd ? nr : nd);
		float *a = calloc((size_t)(2 * nx + 2), sizeof *a);
		float *b = calloc((size_t)(2 * nx + 2), sizeof *b);
		int rc = (a && b) ? DN_OK : DN_ENOMEM;
		if (rc == DN_OK) {
			const float *x1 = ctx->ref.logvad + startr, *x2 = ctx->deg.logvad + startd;
			for (long c = 0; c < nr; c++)
				a[nr - 1 - c] = x1[c];
			for (long c = 0; c < nd; c++)
				b[c] = x2[c];
			rc = pesq_rfft(&ctx->fft, a, 2 * nx);
		}
		if (rc == DN_OK)
			rc = pesq_rfft(&ctx->fft, b, 2 * nx);
		if (rc == DN_OK) {
			for (long c = 0; c <= nx; c++) {
				float r1 = a[2 * c], i1 = a[2 * c + 1];
				a[2 * c] = r1 * b[2 * c] - i1 * b[2 * c + 1];
				a[2 * c + 1] = r1 * b[2 * c + 1] + i1 * b[2 * c];
			}
			rc = pesq_irfft(&ctx->fft, a, 2 * nx);
		}
		if (rc == DN_OK) {
			float max = 0.0f;
			for (long c = 0; c < nr + nd - 1; c++)
				if (a[c] > max) {
					max = a[c];
					i_max = c;
				}
		}
		free(a);
		free(b);
		if (rc != DN_OK)
			return rc;
	}
	*lag = (i_max - nr + 1) * ds;
	return DN_OK;
}

/* Scratch for the fine alignment: two transform buffers, the delay
 * histogram and the Hann window, all of align_nfft (+2) floats. */
typedef struct fine_buf {
	float *x1, *x2, *h, *window;
} fine_buf;

static fine_buf fine_buffers(pesq_ctx *ctx)
{
	const long nfft = ctx->p->align_nfft;
	fine_buf b = {
	    .x1 = ctx->tmp,
	    .x2 = ctx->tmp + nfft + 2,
	    .h = ctx->tmp + 2 * nfft + 4,
	    .window = ctx->tmp + 3 * nfft + 6,
	};
	for (long c = 0; c < nfft; c++)
		b.window[c] = (float)(0.5 * (1.0 - cos((PESQ_TWOPI * (double)c) / (double)nfft)));
	return b;
}

/* |cross-correlation| of one Hann-windowed frame pair into b->x1 (nfft
 * lags, circular); *peak receives 0.99 times its maximum. */
static int frame_xcorr(pesq_ctx *ctx, const fine_buf *b, long startr, long startd, float *peak)
{
	const long nfft = ctx->p->align_nfft;
	float *x1 = b->x1, *x2 = b->x2;
	for (long c = 0; c < nfft; c++) {
		x1[c] = ctx->ref.data[c + startr] * b->window[c];
		x2[c] = ctx->deg.data[c + startd] * b->window[c];
	}
	int rc = pesq_rfft(&ctx->fft, x1, nfft);
	if (rc == DN_OK)
		rc = pesq_rfft(&ctx->fft, x2, nfft);
	if (rc != DN_OK)
		return rc;
	for (long c = 0; c <= nfft / 2; c++) {
		float r1 = x1[2 * c], i1 = -x1[2 * c + 1];
		x1[2 * c] = r1 * x2[2 * c] - i1 * x2[2 * c + 1];
		x1[2 * c + 1] = r1 * x2[2 * c + 1] + i1 * x2[2 * c];
	}
	rc = pesq_irfft(&ctx->fft, x1, nfft);
	if (rc != DN_OK)
		return rc;
	float v_max = 0.0f;
	for (long c = 0; c < nfft; c++) {
		float r = (float)fabs(x1[c]);
		x1[c] = r;
		if (r > v_max)
			v_max = r;
	}
	*peak = v_max * 0.99f;
	return DN_OK;
}

/* Position of the histogram maximum as a signed lag (first maximum wins). */
static long histogram_peak(const float *h, long nfft, float *v_max)
{
	long i_max = 0;
	*v_max = 0.0f;
	for (long c = 0; c < nfft; c++)
		if (h[c] > *v_max) {
			*v_max = h[c];
			i_max = c;
		}
	if (i_max >= nfft / 2)
		i_max -= nfft;
	return i_max;
}

/* Fine delay of utterance u: each frame votes for the lags within 1% of its
 * correlation peak (weighted by peak^0.125); the histogram is smoothed with
 * a triangle and its maximum gives the delay and, normalised, the
 * confidence. */
static int time_align(pesq_ctx *ctx, long u)
{
	const long nfft = ctx->p->align_nfft, ds = ctx->p->downsample;
	pesq_utts *ut = &ctx->utt;
	fine_buf b = fine_buffers(ctx);
	long estdelay = ut->delay_est[u];
	int rc;

	for (long c = 0; c < nfft; c++)
		b.h[c] = 0.0f;

	long startr = ut->search_start[u] * ds;
	long startd = startr + estdelay;
	if (startd < 0) {
		startr = -estdelay;
		startd = 0;
	}
	while (startd + nfft <= ctx->deg.n && startr + nfft <= ut->search_end[u] * ds) {
		float v_max;
		if ((rc = frame_xcorr(ctx, &b, startr, startd, &v_max)) != DN_OK)
			return rc;
		for (long c = 0; c < nfft; c++)
			if (b.x1[c] > v_max)
				b.h[c] += (float)pow(v_max, 0.125);
		startr += nfft / 4;
		startd += nfft / 4;
	}

	/* Smooth by circular convolution with a triangle of half-width nfft/64. */
	float hsum = 0.0f;
	for (long c = 0; c < nfft; c++) {
		hsum += b.h[c];
		b.x1[c] = b.h[c];
		b.x2[c] = 0.0f;
	}
	long kernel = nfft / 64;
	b.x2[0] = 1.0f;
	for (long c = 1; c < kernel; c++) {
		b.x2[c] = 1.0f - (float)c / (float)kernel;
		b.x2[nfft - c] = 1.0f - (float)c / (float)kernel;
	}
	if ((rc = pesq_rfft(&ctx->fft, b.x1, nfft)) != DN_OK ||
	    (rc = pesq_rfft(&ctx->fft, b.x2, nfft)) != DN_OK)
		return rc;
	for (long c = 0; c <= nfft / 2; c++) {
		float r1 = b.x1[2 * c], i1 = b.x1[2 * c + 1];
		b.x1[2 * c] = r1 * b.x2[2 * c] - i1 * b.x2[2 * c + 1];
		b.x1[2 * c + 1] = r1 * b.x2[2 * c + 1] + i1 * b.x2[2 * c];
	}
	if ((rc = pesq_irfft(&ctx->fft, b.x1, nfft)) != DN_OK)
		return rc;
	for (long c = 0; c < nfft; c++)
		b.h[c] = hsum > 0.0f ? (float)fabs(b.x1[c]) / hsum : 0.0f;

	float v_max;
	long i_max = histogram_peak(b.h, nfft, &v_max);
	ut->delay[u] = estdelay + i_max;
	ut->delay_conf[u] = v_max;
	return DN_OK;
}

/* Reference windows where an utterance's delay is searched: speech runs of
 * the reference VAD widened by SEARCHBUFFER, kept when long enough and
 * overlapping the degraded signal at the crude delay. */
static void search_windows(pesq_ctx *ctx)
{
	const long ds = ctx->p->downsample;
	pesq_utts *ut = &ctx->utt;
	long vad_len = ctx->ref.n / ds;
	long del_deg_start = PESQ_MINUTTLENGTH - ut->crude_delay / ds;
	long del_deg_end = (ctx->deg.n - ut->crude_delay) / ds - PESQ_MINUTTLENGTH;
	long n = 0, this_start = 0;
	int speech = 0;

	for (long count = 0; count < vad_len; count++) {
		float v = ctx->ref.vad[count];
		if (v > 0.0f && !speech) {
			speech = 1;
			this_start = count;
			ut->search_start[n] = count - PESQ_SEARCHBUFFER;
			if (ut->search_start[n] < 0)
				ut->search_start[n] = 0;
		}
		if ((v == 0.0f || count == vad_len - 1) && speech) {
			speech = 0;
			ut->search_end[n] = count + PESQ_SEARCHBUFFER;
			if (ut->search_end[n] > vad_len - 1)
				ut->search_end[n] = vad_len - 1;
			if (count - this_start >= PESQ_MINUTTLENGTH && this_start < del_deg_end &&
			    count > del_deg_start)
				n++;
		}
	}
	ut->count = n;
}

/* Utterance boundaries: speech runs as in search_windows, then each
 * boundary moved to the middle of the gap, and the ends kept inside both
 * signals given the delays. */
static void utterance_bounds(pesq_ctx *ctx)
{
	const long ds = ctx->p->downsample, sb = PESQ_SEARCHBUFFER;
	pesq_utts *ut = &ctx->utt;
	long vad_len = ctx->ref.n / ds;
	long del_deg_start = PESQ_MINUTTLENGTH - ut->crude_delay / ds;
	long del_deg_end = (ctx->deg.n - ut->crude_delay) / ds - PESQ_MINUTTLENGTH;
	long n = 0, this_start = 0, last_end, count;
	int speech = 0;

	for (count = 0; count < vad_len; count++) {
		float v = ctx->ref.vad[count];
		if (v > 0.0f && !speech) {
			speech = 1;
			this_start = count;
			ut->start[n] = count;
		}
		if ((v == 0.0f || count == vad_len - 1) && speech) {
			speech = 0;
			ut->end[n] = count;
			if (count - this_start >= PESQ_MINUTTLENGTH && this_start < del_deg_end &&
			    count > del_deg_start)
				n++;
		}
	}

	long nu = ut->count;
	ut->start[0] = sb;
	ut->end[nu - 1] = vad_len - sb;
	for (long u = 1; u < nu; u++) {
		count = (ut->start[u] + ut->end[u - 1]) / 2;
		ut->start[u] = count;
		ut->end[u - 1] = count;
	}

	this_start = ut->start[0] * ds + ut->delay[0];
	if (this_start < sb * ds)
		ut->start[0] = sb + (ds - 1 - ut->delay[0]) / ds;
	last_end = ut->end[nu - 1] * ds + ut->delay[nu - 1];
	if (last_end > ctx->deg.n - sb * ds)
		ut->end[nu - 1] = (ctx->deg.n - ut->delay[nu - 1]) / ds - sb;

	for (long u = 1; u < nu; u++) {
		this_start = ut->start[u] * ds + ut->delay[u];
		last_end = ut->end[u - 1] * ds + ut->delay[u - 1];
		if (this_start < last_end) {
			count = (this_start + last_end) / 2;
			ut->start[u] = (ds - 1 + count - ut->delay[u]) / ds;
			ut->end[u - 1] = (count - ut->delay[u - 1]) / ds;
		}
	}
}

/* The two halves of a candidate split, per breakpoint. */
typedef struct split_try {
	long bp[41];
	long ed1[41], ed2[41]; /* crude delays before / after the breakpoint */
	long d1[41], d2[41];   /* fine delays */
	float dc1[41], dc2[41];
} split_try;

typedef struct split_best {
	long ed1, d1, ed2, d2, bp;
	float dc1, dc2;
} split_best;

/* Adds one frame pair's correlation peaks to the split histogram: each lag
 * within 1% of the peak adds a triangle of half-width `kernel`. */
static int split_vote(pesq_ctx *ctx, const fine_buf *b, long startr, long startd, float *hsum)
{
	const long nfft = ctx->p->align_nfft, kernel = nfft / 64;
	float v_max;
	int rc = frame_xcorr(ctx, b, startr, startd, &v_max);
	if (rc != DN_OK)
		return rc;
	float n_max = (float)pow(v_max, 0.125) / (float)kernel;
	for (long c = 0; c < nfft; c++)
		if (b->x1[c] > v_max) {
			*hsum += n_max * (float)kernel;
			for (long k = 1 - kernel; k < kernel; k++)
				b->h[(c + k + nfft) % nfft] += n_max * ((float)kernel - (float)labs(k));
		}
	return DN_OK;
}

/* Tries breakpoints through one utterance and returns in *best the split
 * whose two halves align with the highest confidences (best->dc1 stays 0
 * when no split beats the whole utterance). The histograms of consecutive
 * breakpoints with the same crude delay are accumulated incrementally, as
 * in the reference. */
static int split_align(pesq_ctx *ctx, long utt_start, long speech_start, long speech_end, long utt_end,
                       long utt_delay_est, float utt_delay_conf, split_best *best)
{
	const long nfft = ctx->p->align_nfft, ds = ctx->p->downsample;
	long len = speech_end - speech_start;
	fine_buf b = fine_buffers(ctx);
	split_try t;
	long n_bps, bp, count, startr = 0, startd = 0, estdelay;
	float hsum, v_max;
	int rc;

	best->dc1 = 0.0f;
	best->dc2 = 0.0f;

	long delta = nfft / (4 * ds);
	long step = (long)((0.801 * (double)len + (double)(40 * delta) - 1.0) / (double)(40 * delta));
	step *= delta;
	long pad = len / 10;
	if (pad < 75)
		pad = 75;
	t.bp[0] = speech_start + pad;
	n_bps = 0;
	do {
		n_bps++;
		t.bp[n_bps] = t.bp[n_bps - 1] + step;
	} while (t.bp[n_bps] <= speech_end - pad && n_bps < 40);

	for (bp = 0; bp < n_bps; bp++) {
		long lag;
		if ((rc = crude_lag(ctx, 0, utt_start, t.bp[bp], utt_delay_est, &lag)) != DN_OK)
			return rc;
		t.ed1[bp] = lag + utt_delay_est;
		if ((rc = crude_lag(ctx, 0, t.bp[bp], utt_end, utt_delay_est, &lag)) != DN_OK)
			return rc;
		t.ed2[bp] = lag + utt_delay_est;
	}

	/* Before each breakpoint, frames forward from the utterance start.
	 * dc1 = -2 marks "not yet computed". */
	for (bp = 0; bp < n_bps; bp++)
		t.dc1[bp] = -2.0f;
	for (;;) {
		bp = 0;
		while (bp < n_bps && t.dc1[bp] > -2.0f)
			bp++;
		if (bp >= n_bps)
			break;
		estdelay = t.ed1[bp];
		for (count = 0; count < nfft; count++)
			b.h[count] = 0.0f;
		hsum = 0.0f;
		startr = utt_start * ds;
		startd = startr + estdelay;
		if (startd < 0) {
			startr = -estdelay;
			startd = 0;
		}
		for (;;) {
			while (startd + nfft <= ctx->deg.n && startr + nfft <= t.bp[bp] * ds) {
				if ((rc = split_vote(ctx, &b, startr, startd, &hsum)) != DN_OK)
					return rc;
				startr += nfft / 4;
				startd += nfft / 4;
			}
			long i_max = histogram_peak(b.h, nfft, &v_max);
			t.d1[bp] = estdelay + i_max;
			t.dc1[bp] = hsum > 0.0f ? v_max / hsum : 0.0f;
			/* Continue with the next breakpoint of the same crude delay. */
			while (bp < n_bps - 1) {
				bp++;
				if (t.ed1[bp] == estdelay && t.dc1[bp] <= -2.0f)
					break;
			}
			if (!(t.ed1[bp] == estdelay && t.dc1[bp] <= -2.0f))
				break;
		}
	}

	/* After each breakpoint, frames backward from the utterance end; only
	 * where the first half already beats the whole. */
	for (bp = 0; bp < n_bps; bp++)
		t.dc2[bp] = t.dc1[bp] > utt_delay_conf ? -2.0f : 0.0f;
	for (;;) {
		bp = n_bps - 1;
		while (bp >= 0 && t.dc2[bp] > -2.0f)
			bp--;
		if (bp < 0)
			break;
		estdelay = t.ed2[bp];
		for (count = 0; count < nfft; count++)
			b.h[count] = 0.0f;
		hsum = 0.0f;
		startr = utt_end * ds - nfft;
		startd = startr + estdelay;
		if (startd + nfft > ctx->deg.n) {
			startd = ctx->deg.n - nfft;
			startr = startd - estdelay;
		}
		for (;;) {
			while (startd >= 0 && startr >= t.bp[bp] * ds) {
				if ((rc = split_vote(ctx, &b, startr, startd, &hsum)) != DN_OK)
					return rc;
				startr -= nfft / 4;
				startd -= nfft / 4;
			}
			long i_max = histogram_peak(b.h, nfft, &v_max);
			t.d2[bp] = estdelay + i_max;
			t.dc2[bp] = hsum > 0.0f ? v_max / hsum : 0.0f;
			while (bp > 0) {
				bp--;
				if (t.ed2[bp] == estdelay && t.dc2[bp] <= -2.0f)
					break;
			}
			if (!(t.ed2[bp] == estdelay && t.dc2[bp] <= -2.0f))
				break;
		}
	}

	for (bp = 0; bp < n_bps; bp++) {
		if (labs(t.d2[bp] - t.d1[bp]) >= ds && t.dc1[bp] + t.dc2[bp] > best->dc1 + best->dc2 &&
		    t.dc1[bp] > utt_delay_conf && t.dc2[bp] > utt_delay_conf) {
			best->ed1 = t.ed1[bp];
			best->d1 = t.d1[bp];
			best->dc1 = t.dc1[bp];
			best->ed2 = t.ed2[bp];
			best->d2 = t.d2[bp];
			best->dc2 = t.dc2[bp];
			best->bp = t.bp[bp];
		}
	}
	return DN_OK;
}

/* Splits utterances in two where both halves align more confidently with
 * different delays (a delay change inside the utterance), repeatedly. */
static int utterance_split(pesq_ctx *ctx)
{
	const long ds = ctx->p->downsample, sb = PESQ_SEARCHBUFFER;
	pesq_utts *ut = &ctx->utt;
	long u = 0;
	int rc;

	while (u < ut->count && ut->count < PESQ_MAXNUTTERANCES) {
		long delay_est = ut->delay_est[u];
		float delay_conf = ut->delay_conf[u];
		long start = ut->start[u], end = ut->end[u];

		long speech_start = start;
		while (speech_start < end && ctx->ref.vad[speech_start] <= 0.0f)
			speech_start++;
		long speech_end = end;
		while (speech_end > start && ctx->ref.vad[speech_end] <= 0.0f)
			speech_end--;
		speech_end++;

		if (speech_end - speech_start < 200) {
			u++;
			continue;
		}
		split_best best;
		rc = split_align(ctx, start, speech_start, speech_end, end, delay_est, delay_conf, &best);
		if (rc != DN_OK)
			return rc;
		if (!(best.dc1 > delay_conf && best.dc2 > delay_conf)) {
			u++;
			continue;
		}

		/* Make room for u + 1. The reference copies the utterance
		 * bounds (not the search windows) into the search windows
		 * here; kept for identical results. */
		for (long s = ut->count - 1; s > u; s--) {
			ut->delay_est[s + 1] = ut->delay_est[s];
			ut->delay[s + 1] = ut->delay[s];
			ut->delay_conf[s + 1] = ut->delay_conf[s];
			ut->start[s + 1] = ut->start[s];
			ut->end[s + 1] = ut->end[s];
			ut->search_start[s + 1] = ut->start[s];
			ut->search_end[s + 1] = ut->end[s];
		}
		ut->count++;

		ut->delay_est[u] = best.ed1;
		ut->delay[u] = best.d1;
		ut->delay_conf[u] = best.dc1;
		ut->delay_est[u + 1] = best.ed2;
		ut->delay[u + 1] = best.d2;
		ut->delay_conf[u + 1] = best.dc2;
		ut->search_start[u + 1] = ut->search_start[u];
		ut->search_end[u + 1] = ut->search_end[u];

		if (best.d2 < best.d1) {
			ut->start[u] = start;
			ut->end[u] = best.bp;
			ut->start[u + 1] = best.bp;
			ut->end[u + 1] = end;
		} else {
			ut->start[u] = start;
			ut->end[u] = best.bp + (best.d2 - best.d1) / (2 * ds);
			ut->start[u + 1] = best.bp - (best.d2 - best.d1) / (2 * ds);
			ut->end[u + 1] = end;
		}
		if ((ut->start[u] - sb) * ds + best.d1 < 0)
			ut->start[u] = sb + (ds - 1 - best.d1) / ds;
		if (ut->end[u + 1] * ds + best.d2 > ctx->deg.n - sb * ds)
			ut->end[u + 1] = (ctx->deg.n - best.d2) / ds - sb;
	}
	return DN_OK;
}

static int utts_alloc(pesq_utts *ut, long cap)
{
	ut->cap = cap;
	ut->search_start = calloc((size_t)cap, sizeof(long));
	ut->search_end = calloc((size_t)cap, sizeof(long));
	ut->delay_est = calloc((size_t)cap, sizeof(long));
	ut->delay = calloc((size_t)cap, sizeof(long));
	ut->delay_conf = calloc((size_t)cap, sizeof(float));
	ut->start = calloc((size_t)cap, sizeof(long));
	ut->end = calloc((size_t)cap, sizeof(long));
	if (!ut->search_start || !ut->search_end || !ut->delay_est || !ut->delay || !ut->delay_conf ||
	    !ut->start || !ut->end)
		return DN_ENOMEM;
	return DN_OK;
}

int pesq_align(pesq_ctx *ctx)
{
	const long ds = ctx->p->downsample;
	pesq_utts *ut = &ctx->utt;
	int rc;

	/* Room for every speech run of the reference plus the splits (which
	 * stop at PESQ_MAXNUTTERANCES). The reference has fixed room for 50
	 * utterances in all and overruns it on long files. */
	long runs = 0, nw = ctx->ref.n / ds;
	for (long c = 1; c < nw; c++)
		if (ctx->ref.vad[c] > 0.0f && ctx->ref.vad[c - 1] <= 0.0f)
			runs++;
	if ((rc = utts_alloc(ut, runs + PESQ_MAXNUTTERANCES + 2)) != DN_OK)
		return rc;

	if ((rc = crude_lag(ctx, 1, 0, 0, 0, &ut->crude_delay)) != DN_OK)
		return rc;

	search_windows(ctx);
	if (ut->count < 1)
		return DN_EINVAL;
	for (long u = 0; u < ut->count; u++) {
		long lag;
		rc = crude_lag(ctx, 0, ut->search_start[u], ut->search_end[u], ut->crude_delay, &lag);
		if (rc != DN_OK)
			return rc;
		ut->delay_est[u] = lag + ut->crude_delay;
		if ((rc = time_align(ctx, u)) != DN_OK)
			return rc;
	}
	utterance_bounds(ctx);
	return utterance_split(ctx);
}
