/*
 * pesq.c — dn_metrics_pesq(): PESQ, ITU-T P.862 with the P.862.1 mapping
 * (narrow-band) and P.862.2 (wide-band), from float samples.
 *
 * This file runs the stages in the reference implementation's order:
 * padding, level alignment to a fixed power in the 350 Hz - 3.25 kHz band,
 * the receive filter (IRS for narrow-band, a high-pass for wide-band), time
 * alignment on a DC-blocked, receive-filtered copy (pesq_align.c), the
 * perceptual model on the level-aligned signals (pesq_model.c), and the
 * mapping of the raw score to MOS-LQO. Narrow-band mode at 16 kHz is what
 * the reference does with "+16000" and no "+wb": the 16 kHz tables and the
 * IRS filter, whose response ends at 4 kHz.
 */
#include "core/dn.h"
#include "core/metrics/metrics.h"
#include "core/metrics/pesq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TARGET_AVG_POWER 1e7

/* Scales data[0..sig->n) so that its power in the speech band (measured
 * over the longer signal's duration) is TARGET_AVG_POWER. */
static int fix_power_level(pesq_ctx *ctx, pesq_signal *sig, long max_n, const char *name, dn_error *err)
{
	const long sb = ctx->sb, pad = ctx->pad;
	float *filtered = malloc((size_t)(sig->n + pad) * sizeof *filtered);
	if (!filtered)
		return dn_error_set(err, DN_ENOMEM, "pesq: out of memory");
	memcpy(filtered, sig->data, (size_t)(sig->n + pad) * sizeof *filtered);
	int rc = pesq_curve_filter(&ctx->fft, ctx->p, filtered, sig->n, pesq_align_filter_db);
	if (rc != DN_OK) {
		free(filtered);
		return dn_error_set(err, rc, "pesq: out of memory");
	}
	float power = (float)pesq_pow_of(filtered, sb, sig->n - sb + pad, max_n - 2 * sb + pad);
	free(filtered);
	/* The reference divides by this power; silence would give inf/NaN. */
	if (!(power > 0.0f) || !isfinite(power))
		return dn_error_set(err, DN_EINVAL, "pesq: %s signal is silent in the speech band", name);
	float scale = (float)sqrt(TARGET_AVG_POWER / power);
	for (long i = 0; i < sig->n; i++)
		sig->data[i] *= scale;
	return DN_OK;
}

/* P.862.2 receive filter: 16-sample fades at both ends, then one IIR
 * high-pass section over the signal proper. */
static void wideband_filter(pesq_ctx *ctx, pesq_signal *sig)
{
	const long sb = ctx->sb;
	for (long i = 0; i < 16; i++) {
		sig->data[sb + i - 1] *= (float)i / 16.0f;
		sig->data[sig->n - sb - i] *= (float)i / 16.0f;
	}
	pesq_iir((const float(*)[5])ctx->p->wb_sos, 1, sig->data + sb, sig->n - 2 * sb);
}

/* Removes the mean and fades the first and last VAD window (the
 * reference's DC_block; note the mean is taken over the padded length). */
static void dc_block(pesq_ctx *ctx, pesq_signal *sig)
{
	const long ofs = ctx->sb, ds = ctx->p->downsample;
	float acc = 0.0f;
	for (long i = ofs; i < sig->n - ofs; i++)
		acc += sig->data[i];
	acc /= (float)sig->n;
	for (long i = ofs; i < sig->n - ofs; i++)
		sig->data[i] -= acc;
	for (long c = 0; c < ds; c++)
		sig->data[ofs + c] *= (0.5f + (float)c) / (float)ds;
	for (long c = 0; c < ds; c++)
		sig->data[sig->n - ofs - 1 - c] *= (0.5f + (float)c) / (float)ds;
}

static void ctx_free(pesq_ctx *ctx)
{
	free(ctx->ref.data);
	free(ctx->ref.vad);
	free(ctx->ref.logvad);
	free(ctx->deg.data);
	free(ctx->deg.vad);
	free(ctx->deg.logvad);
	free(ctx->tmp);
	free(ctx->utt.search_start);
	free(ctx->utt.search_end);
	free(ctx->utt.delay_est);
	free(ctx->utt.delay);
	free(ctx->utt.delay_conf);
	free(ctx->utt.start);
	free(ctx->utt.end);
	pesq_fft_cache_free(&ctx->fft);
}

/* Pads x (scaled to 16-bit range, as the reference reads PCM) with sb
 * zeros in front and sb + pad behind, in a zeroed buffer of `cap` samples. */
static int signal_load(pesq_signal *sig, const float *x, size_t n, long sb, long cap, long ds)
{
	sig->n = (long)n + 2 * sb;
	sig->data = calloc((size_t)cap, sizeof *sig->data);
	sig->vad = calloc((size_t)(sig->n / ds + 1), sizeof *sig->vad);
	sig->logvad = calloc((size_t)(sig->n / ds + 1), sizeof *sig->logvad);
	if (!sig->data || !sig->vad || !sig->logvad)
		return DN_ENOMEM;
	for (size_t i = 0; i < n; i++)
		sig->data[sb + (long)i] = x[i] * 32768.0f;
	return DN_OK;
}

static int check_finite(const float *x, size_t n, const char *name, dn_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return dn_error_set(err, DN_EINVAL, "pesq: %s signal has a non-finite sample at %zu",
			                    name, i);
	return DN_OK;
}

int dn_metrics_pesq(const float *ref, size_t n_ref, const float *deg, size_t n_deg, int rate, int mode,
                    double *out, dn_error *err)
{
	if (!ref || !deg || !out)
		return dn_error_set(err, DN_EINVAL, "pesq: NULL argument");
	if (mode != DN_PESQ_NB && mode != DN_PESQ_WB)
		return dn_error_set(err, DN_EINVAL, "pesq: unknown mode %d", mode);
	const pesq_params *p = pesq_params_for(rate);
	if (!p)
		return dn_error_set(err, DN_EINVAL, "pesq: sample rate %d Hz (8000 or 16000 needed)", rate);
	if (mode == DN_PESQ_WB && rate != 16000)
		return dn_error_set(err, DN_EINVAL, "pesq: wide-band mode needs 16000 Hz, not %d", rate);
	/* The reference refuses less than a quarter of a second. */
	if (n_ref < (size_t)(rate / 4) || n_deg < (size_t)(rate / 4))
		return dn_error_set(err, DN_EINVAL, "pesq: signals shorter than 1/4 s (%zu and %zu samples)",
		                    n_ref, n_deg);
	/* Keeps every index within long and float-exact sample counts. */
	if (n_ref > (size_t)1 << 28 || n_deg > (size_t)1 << 28)
		return dn_error_set(err, DN_ELIMIT, "pesq: signals longer than 2^28 samples");
	int rc;
	if ((rc = check_finite(ref, n_ref, "reference", err)) != DN_OK ||
	    (rc = check_finite(deg, n_deg, "degraded", err)) != DN_OK)
		return rc;

	pesq_ctx ctx = {.p = p};
	ctx.sb = PESQ_SEARCHBUFFER * p->downsample;
	ctx.pad = PESQ_DATAPADDING_MS * (p->fs / 1000);
	long n_max = (long)(n_ref > n_deg ? n_ref : n_deg) + 2 * ctx.sb;
	long cap = n_max + ctx.pad;
	float *model_ref = NULL, *model_deg = NULL;

	rc = DN_ENOMEM;
	ctx.tmp = malloc((size_t)(6 * p->align_nfft + 8) * sizeof *ctx.tmp);
	if (!ctx.tmp || signal_load(&ctx.ref, ref, n_ref, ctx.sb, cap, p->downsample) != DN_OK ||
	    signal_load(&ctx.deg, deg, n_deg, ctx.sb, cap, p->downsample) != DN_OK)
		goto nomem;

	if ((rc = fix_power_level(&ctx, &ctx.ref, n_max, "reference", err)) != DN_OK ||
	    (rc = fix_power_level(&ctx, &ctx.deg, n_max, "degraded", err)) != DN_OK)
		goto out;

	if (mode == DN_PESQ_NB) {
		if ((rc = pesq_curve_filter(&ctx.fft, p, ctx.ref.data, ctx.ref.n, pesq_irs_filter_db)) !=
		        DN_OK ||
		    (rc = pesq_curve_filter(&ctx.fft, p, ctx.deg.data, ctx.deg.n, pesq_irs_filter_db)) !=
		        DN_OK)
			goto nomem;
	} else {
		wideband_filter(&ctx, &ctx.ref);
		wideband_filter(&ctx, &ctx.deg);
	}

	/* Alignment works on a DC-blocked, receive-filtered copy; the model
	 * gets the signals as they are now. */
	rc = DN_ENOMEM;
	model_ref = malloc((size_t)(ctx.ref.n + ctx.pad) * sizeof *model_ref);
	model_deg = malloc((size_t)(ctx.deg.n + ctx.pad) * sizeof *model_deg);
	if (!model_ref || !model_deg)
		goto nomem;
	memcpy(model_ref, ctx.ref.data, (size_t)(ctx.ref.n + ctx.pad) * sizeof *model_ref);
	memcpy(model_deg, ctx.deg.data, (size_t)(ctx.deg.n + ctx.pad) * sizeof *model_deg);

	dc_block(&ctx, &ctx.ref);
	dc_block(&ctx, &ctx.deg);
	pesq_iir(p->sos, p->n_sos, ctx.ref.data, ctx.ref.n + ctx.pad);
	pesq_iir(p->sos, p->n_sos, ctx.deg.data, ctx.deg.n + ctx.pad);
	pesq_vad(p, &ctx.ref);
	pesq_vad(p, &ctx.deg);

	rc = pesq_align(&ctx);
	if (rc == DN_EINVAL) {
		dn_error_set(err, rc, "pesq: no utterances detected in the reference");
		goto out;
	}
	if (rc != DN_OK)
		goto nomem;

	/* Back to the model signals, both zero-extended to the longer one. */
	memcpy(ctx.ref.data, model_ref, (size_t)(ctx.ref.n + ctx.pad) * sizeof *model_ref);
	memcpy(ctx.deg.data, model_deg, (size_t)(ctx.deg.n + ctx.pad) * sizeof *model_deg);

	double raw;
	rc = pesq_model(&ctx, &raw);
	if (rc == DN_EINVAL) {
		dn_error_set(err, rc, "pesq: the reference has no audible frames");
		goto out;
	}
	if (rc != DN_OK)
		goto nomem;

	/* P.862.1 (narrow-band) and P.862.2 (wide-band) mappings to MOS-LQO,
	 * in single precision as the reference computes them. */
	float mos = (float)raw, lqo;
	if (mode == DN_PESQ_NB)
		lqo = 0.999f + 4.0f / (1.0f + (float)exp(-1.4945f * mos + 4.6607f));
	else
		lqo = 0.999f + 4.0f / (1.0f + (float)exp(-1.3669f * mos + 3.8224f));
	if (!isfinite(lqo)) {
		rc = dn_error_set(err, DN_EINVAL, "pesq: score is not finite");
		goto out;
	}
	*out = lqo;
	rc = DN_OK;
	goto out;
nomem:
	rc = dn_error_set(err, DN_ENOMEM, "pesq: out of memory");
out:
	free(model_ref);
	free(model_deg);
	ctx_free(&ctx);
	return rc;
}
