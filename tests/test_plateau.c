/*
 * test_plateau.c — the plateau schedule both training loops share
 * (core/train/plateau.c): new bests reset the waits, the rate drops after
 * patience epochs without one and never below min_lr, the run stops after
 * early_stop such epochs, and min_delta and the mode decide what counts as
 * better.
 */
#include <math.h>

#include "core/train/plateau.h"
#include "tests/check.h"

int main(void)
{
	/* Lower is better: 1.0 then three epochs that do not improve. */
	dn_plateau s = dn_plateau_start(DN_PLATEAU_MIN, 0.0, 1e-3f, 0.5f, 3e-4f, 2, 3);

	CHECK(isinf(s.best) && s.best > 0);
	CHECK(dn_plateau_update(&s, 1.0) == 1);
	CHECK(s.best == 1.0 && s.wait_lr == 0 && s.wait_stop == 0);
	CHECK(dn_plateau_update(&s, 1.0) == 0); /* equal is no improvement */
	CHECK(s.lr == 1e-3f && !dn_plateau_should_stop(&s));
	CHECK(dn_plateau_update(&s, 2.0) == 0); /* patience 2: the rate halves */
	CHECK(fabsf(s.lr - 5e-4f) < 1e-9f && s.wait_lr == 0 && s.wait_stop == 2);
	CHECK(dn_plateau_update(&s, 0.5) == 1); /* a new best resets both waits */
	CHECK(s.wait_lr == 0 && s.wait_stop == 0 && s.best == 0.5);
	for (int i = 0; i < 2; i++)
		CHECK(dn_plateau_update(&s, 0.9) == 0);
	CHECK(s.lr == 3e-4f); /* 2.5e-4 is below min_lr */
	CHECK(!dn_plateau_should_stop(&s));
	CHECK(dn_plateau_update(&s, 0.9) == 0);
	CHECK(dn_plateau_should_stop(&s));

	/* Higher is better, with a margin. */
	s = dn_plateau_start(DN_PLATEAU_MAX, 1e-4, 1e-3f, 0.5f, 1e-6f, 5, 10);
	CHECK(isinf(s.best) && s.best < 0);
	CHECK(dn_plateau_update(&s, 30.0) == 1);
	CHECK(dn_plateau_update(&s, 30.00005) == 0); /* within min_delta */
	CHECK(dn_plateau_update(&s, 30.001) == 1);
	CHECK(s.best == 30.001);
	return check_status();
}
