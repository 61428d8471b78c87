/*
 * plateau.c — see plateau.h. One copy of the schedule both training loops
 * follow, so that the speech and frame runs reduce the rate and stop by the
 * same rule.
 */
#include "core/train/plateau.h"

#include <math.h>

dn_plateau dn_plateau_start(int mode, double min_delta, float lr, float factor, float min_lr, int patience,
                            int early_stop)
{
	return (dn_plateau){.mode = mode,
	                    .min_delta = min_delta,
	                    .factor = factor,
	                    .min_lr = min_lr,
	                    .patience = patience,
	                    .early_stop = early_stop,
	                    .lr = lr,
	                    .best = mode == DN_PLATEAU_MAX ? -INFINITY : INFINITY};
}

int dn_plateau_update(dn_plateau *s, double score)
{
	int better =
	    s->mode == DN_PLATEAU_MAX ? score > s->best + s->min_delta : score < s->best - s->min_delta;

	if (better) {
		s->best = score;
		s->wait_lr = s->wait_stop = 0;
		return 1;
	}
	s->wait_stop++;
	if (++s->wait_lr >= s->patience) {
		s->lr = fmaxf(s->lr * s->factor, s->min_lr);
		s->wait_lr = 0;
	}
	return 0;
}

int dn_plateau_should_stop(const dn_plateau *s)
{
	return s->wait_stop >= s->early_stop;
}
