/*
 * metrics_speech.c — every waveform metric of one (reference, degraded) pair
 * at once, for `denoise metrics` and evaluation runs.
 *
 * Kept apart from metrics.c because it needs PESQ (pesq.c). PESQ is defined
 * only at 8 and 16 kHz: at 16 kHz both scores are computed, at 8 kHz the
 * wide-band one is NaN, at any other rate both are NaN (resampling first is
 * the caller's choice, not a silent one made here). Any other failure (too
 * short for STOI, silent reference, ...) is returned with the metric's own
 * message and leaves *out unspecified.
 */
#include <math.h>

#include "core/metrics/metrics.h"

int dn_metrics_speech(const float *ref, const float *deg, size_t n, int rate, dn_speech_metrics *out,
                      dn_error *err)
{
	if (!ref || !deg || !out)
		return dn_error_set(err, DN_EINVAL, "metrics: NULL argument");
	int rc;
	if ((rc = dn_metrics_snr(ref, deg, n, &out->snr_db, err)) ||
	    (rc = dn_metrics_seg_snr(ref, deg, n, &out->seg_snr_db, err)) ||
	    (rc = dn_metrics_si_sdr(ref, deg, n, &out->si_sdr_db, err)) ||
	    (rc = dn_metrics_stoi(ref, deg, n, rate, 0, &out->stoi, err)) ||
	    (rc = dn_metrics_stoi(ref, deg, n, rate, 1, &out->estoi, err)))
		return rc;
	out->pesq_wb = NAN;
	out->pesq_nb = NAN;
	if (rate == 16000 && (rc = dn_metrics_pesq(ref, n, deg, n, rate, DN_PESQ_WB, &out->pesq_wb, err)))
		return rc;
	if ((rate == 8000 || rate == 16000) &&
	    (rc = dn_metrics_pesq(ref, n, deg, n, rate, DN_PESQ_NB, &out->pesq_nb, err)))
		return rc;
	return DN_OK;
}
