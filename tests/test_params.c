/*
 * test_params.c — the table of training parameters (core/train/params.c):
 * every row reads back its default within its own bounds, names and flags
 * find their rows, text and numbers are checked against the bounds, and the
 * check that dn_train_speech runs refuses what the table refuses.
 */
#include <string.h>

#include "core/train/params.h"
#include "tests/check.h"

int main(void)
{
	dn_train_config c = dn_train_config_default();
	dn_error err;
	size_t n;
	const dn_train_param *t = dn_train_params_table(&n);
	char help[4096];

	CHECK(n >= 18);
	for (size_t i = 0; i < n; i++) {
		CHECK_MSG(dn_train_param_find(t[i].name) == &t[i], "%s", t[i].name);
		if (t[i].flag)
			CHECK_MSG(dn_train_param_find(t[i].flag) == &t[i], "%s", t[i].flag);
		CHECK_MSG(dn_train_param_set(&t[i], &c, dn_train_param_get(&t[i], &c), &err) == DN_OK,
		          "the default of %s is outside its bounds: %s", t[i].name, err.msg);
	}
	CHECK_RC(dn_train_config_check(&c, &err), DN_OK);
	CHECK(dn_train_param_find("nope") == NULL);

	/* The seed's recipe, as DESIGN gives it. */
	CHECK(dn_train_param_get(dn_train_param_find("epochs"), &c) == 50);
	CHECK(dn_train_param_get(dn_train_param_find("batch"), &c) == 16);
	CHECK(dn_train_param_get(dn_train_param_find("filters"), &c) == 32);
	CHECK(dn_train_param_find("filters")->hi == 512);

	/* Text as a command line gives it. */
	const dn_train_param *lr = dn_train_param_find("--lr"), *loss = dn_train_param_find("loss"),
	                     *ep = dn_train_param_find("epochs"), *noise = dn_train_param_find("noise");
	CHECK_RC(dn_train_param_parse(lr, &c, "2e-3", &err), DN_OK);
	CHECK(c.train.lr == 2e-3f);
	CHECK_RC(dn_train_param_parse(lr, &c, "2", &err), DN_EINVAL);
	CHECK(strstr(err.msg, "lr") != NULL);
	CHECK_RC(dn_train_param_parse(lr, &c, "x", &err), DN_EINVAL);
	CHECK_RC(dn_train_param_parse(loss, &c, "mae", &err), DN_OK);
	CHECK(c.train.loss == DN_LOSS_MAE);
	CHECK_RC(dn_train_param_parse(loss, &c, "l3", &err), DN_EINVAL);
	CHECK(strstr(err.msg, "mse, mae") != NULL);
	CHECK_RC(dn_train_param_parse(ep, &c, "1.5", &err), DN_EINVAL);
	CHECK_RC(dn_train_param_parse(ep, &c, "1001", &err), DN_EINVAL);
	CHECK_RC(dn_train_param_parse(noise, &c, "white,brown", &err), DN_OK);
	CHECK(c.data.noise_kinds == 5u);
	CHECK_RC(dn_train_param_parse(noise, &c, "file", &err), DN_EINVAL);
	CHECK_RC(dn_train_param_set(noise, &c, 0, &err), DN_EINVAL);

	/* The run's own check: out of the table's bounds is refused. */
	c = dn_train_config_default();
	c.train.batch = 0;
	CHECK_RC(dn_train_params_check(&c.train, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "batch") != NULL);
	c = dn_train_config_default();
	c.data.snr_min_db = 10;
	c.data.snr_max_db = 0;
	CHECK_RC(dn_train_config_check(&c, &err), DN_EINVAL);

	/* --help: a line per flag, with bounds and default. */
	dn_train_params_help(help, sizeof help);
	CHECK(strstr(help, "--patch-frames N") != NULL);
	CHECK(strstr(help, "(1..512; default 32)") != NULL);
	CHECK(strstr(help, "--snr") == NULL);
	return check_status();
}
