/*
 * test_model.c — model files: save/load round trip (weights bit-exact, info
 * and provenance kept, same folded output) and a refusal with a precise
 * message for each way a file can be wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/model/model.h"
#include "core/model/safetensors.h"
#include "tests/check.h"
#include "tests/gradcheck.h"

static char dir[] = "/tmp/dn_test_model_XXXXXX";
static unsigned long long seed = 99;

static dn_model *small_model(void)
{
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	info.arch.base_filters = 4;
	info.arch.depth = 2;
	info.scaling = DN_SCALE_POWER;
	info.power = 0.3f;
	info.output = DN_OUTPUT_MASK;
	info.arch.out_act = DN_ACT_SIGMOID;
	dn_unet *net;
	dn_model *m = NULL;
	CHECK_RC(dn_unet_create(&info.arch, 3, &net, NULL), DN_OK);
	size_t np;
	const dn_param *p = dn_unet_params(net, &np);
	for (size_t i = 0; i < np; i++)
		gc_fill(p[i].data, p[i].size, &seed, 0.1f, 1.0f);
	CHECK_RC(dn_model_create(&info, net, &m, NULL), DN_OK);
	return m;
}

/* Writes m's tensors with `skip` left out, `reshape` given a wrong shape and
 * metadata key `meta_key` set to `meta_val` (NULL: removed). */
static void write_variant(const dn_model *m, const char *path, const char *skip, const char *reshape,
                          const char *meta_key, const char *meta_val, const char *extra_tensor)
{
	dn_st_writer *w = dn_st_writer_create();
	dn_unet *net = dn_model_unet((dn_model *)m);
	size_t np;
	const dn_param *p = dn_unet_params(net, &np);
	for (size_t i = 0; i < np; i++) {
		if (skip && !strcmp(p[i].name, skip))
			continue;
		int64_t shape[4];
		for (int d = 0; d < p[i].ndim; d++)
			shape[d] = p[i].shape[d];
		if (reshape && !strcmp(p[i].name, reshape)) {
			shape[0] = 1;
			shape[1] = (int64_t)p[i].size;
			CHECK_RC(dn_st_writer_add_f32(w, p[i].name, 2, shape, p[i].data, NULL), DN_OK);
			continue;
		}
		CHECK_RC(dn_st_writer_add_f32(w, p[i].name, p[i].ndim, shape, p[i].data, NULL), DN_OK);
	}
	if (extra_tensor) {
		int64_t one = 1;
		float v = 1.0f;
		dn_st_writer_add_f32(w, extra_tensor, 1, &one, &v, NULL);
	}
	for (size_t i = 0; i < dn_model_metadata_count(m); i++) {
		const char *k, *v;
		dn_model_metadata_at(m, i, &k, &v);
		if (meta_key && !strcmp(k, meta_key)) {
			if (meta_val)
				dn_st_writer_set_metadata(w, k, meta_val, NULL);
			continue;
		}
		dn_st_writer_set_metadata(w, k, v, NULL);
	}
	CHECK_RC(dn_st_writer_write_file(w, path, NULL), DN_OK);
	dn_st_writer_destroy(w);
}

static void expect_refusal(const char *path, int code, const char *needle)
{
	dn_model *m = NULL;
	dn_error err = {0};
	CHECK_RC(dn_model_load(path, &m, &err), code);
	CHECK_MSG(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
	CHECK(m == NULL);
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL);
	char path[256], bad[256];
	snprintf(path, sizeof path, "%s/m.safetensors", dir);
	snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);

	dn_model *m = small_model();
	const char *extra[] = {"trained_on", "unit test", "command", "test_model", NULL};
	dn_error err;
	CHECK_RC(dn_model_save(m, path, extra, &err), DN_OK);

	dn_model *l = NULL;
	CHECK_RC(dn_model_load(path, &l, &err), DN_OK);
	if (!l)
		return check_status();
	const dn_model_info *a = dn_model_get_info(m), *b = dn_model_get_info(l);
	CHECK(memcmp(&a->arch, &b->arch, sizeof a->arch) == 0);
	CHECK(b->kind == DN_MODEL_AUDIO && b->sample_rate == 16000 && b->n_fft == 512 && b->hop == 128);
	CHECK(b->scaling == DN_SCALE_POWER && b->power == 0.3f && b->output == DN_OUTPUT_MASK);
	CHECK(strcmp(b->name, "speech-unet") == 0);
	CHECK(dn_model_metadata(l, "trained_on") && !strcmp(dn_model_metadata(l, "trained_on"), "unit test"));
	/* a NULL value removes a key and leaves the others */
	size_t nm = dn_model_metadata_count(l);
	CHECK_RC(dn_model_set_metadata(l, "trained_on", NULL, &err), DN_OK);
	CHECK(dn_model_metadata(l, "trained_on") == NULL);
	CHECK(dn_model_metadata_count(l) == nm - 1);
	CHECK(dn_model_metadata(l, "name") && !strcmp(dn_model_metadata(l, "name"), "speech-unet"));
	CHECK_RC(dn_model_set_metadata(l, "trained_on", NULL, &err), DN_OK);
	CHECK(dn_model_metadata_count(l) == nm - 1);
	size_t np, nq;
	const dn_param *p = dn_unet_params(dn_model_unet(m), &np), *q = dn_unet_params(dn_model_unet(l), &nq);
	CHECK(np == nq);
	for (size_t i = 0; i < np && i < nq; i++)
		CHECK_MSG(memcmp(p[i].data, q[i].data, p[i].size * sizeof(float)) == 0, "%s differs",
		          p[i].name);

	/* Same folded output from the saved and the loaded model. */
	dn_tensor x = {0}, y1 = {0}, y2 = {0};
	dn_tensor_init(&x, 1, 1, 37, 29, NULL);
	gc_fill(x.data, dn_tensor_size(&x), &seed, 0.0f, 1.0f);
	dn_unet_ws *ws = dn_unet_ws_create();
	CHECK_RC(dn_unet_infer_run(dn_model_infer(m), ws, &x, &y1, NULL), DN_OK);
	CHECK_RC(dn_unet_infer_run(dn_model_infer(l), ws, &x, &y2, NULL), DN_OK);
	CHECK(memcmp(y1.data, y2.data, dn_tensor_size(&y1) * sizeof(float)) == 0);
	dn_unet_ws_destroy(ws);
	dn_tensor_free(&x);
	dn_tensor_free(&y1);
	dn_tensor_free(&y2);
	dn_model_destroy(l);

	/* Each way to be wrong, named. */
	write_variant(m, bad, "mid.conv2.weight", NULL, NULL, NULL, NULL);
	expect_refusal(bad, DN_ENOTFOUND, "mid.conv2.weight");
	write_variant(m, bad, NULL, "dec1.conv1.weight", NULL, NULL, NULL);
	expect_refusal(bad, DN_ESHAPE, "dec1.conv1.weight");
	write_variant(m, bad, NULL, NULL, NULL, NULL, "enc9.conv1.weight");
	expect_refusal(bad, DN_EFORMAT, "enc9.conv1.weight");
	write_variant(m, bad, NULL, NULL, "depth", NULL, NULL);
	expect_refusal(bad, DN_EFORMAT, "\"depth\"");
	write_variant(m, bad, NULL, NULL, "depth", "two", NULL);
	expect_refusal(bad, DN_EFORMAT, "\"depth\" = \"two\"");
	write_variant(m, bad, NULL, NULL, "depth", "3", NULL);
	expect_refusal(bad, DN_ENOTFOUND, "enc2.conv1.weight");
	write_variant(m, bad, NULL, NULL, "format", "something-else", NULL);
	expect_refusal(bad, DN_EFORMAT, "format");
	write_variant(m, bad, NULL, NULL, "kind", "video", NULL);
	expect_refusal(bad, DN_EFORMAT, "\"kind\"");
	write_variant(m, bad, NULL, NULL, "hop", "1024", NULL);
	expect_refusal(bad, DN_EINVAL, "hop");
	write_variant(m, bad, NULL, NULL, "arch", "transformer", NULL);
	expect_refusal(bad, DN_EUNSUPPORTED, "transformer");

	/* A truncated file and a missing one. */
	FILE *f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)size);
	CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size);
	fclose(f);
	f = fopen(bad, "wb");
	fwrite(buf, 1, (size_t)size / 2, f);
	fclose(f);
	free(buf);
	dn_model *t = NULL;
	CHECK(dn_model_load(bad, &t, &err) == DN_EFORMAT);
	CHECK_MSG(strstr(err.msg, bad) != NULL, "message names the file: %s", err.msg);
	snprintf(bad, sizeof bad, "%s/absent.safetensors", dir);
	CHECK(dn_model_load(bad, &t, &err) != DN_OK);

	/* The info is validated on create too; the net is freed on failure. */
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	dn_unet *net;
	dn_unet_create(&info.arch, 1, &net, NULL);
	info.n_fft = 511;
	CHECK_RC(dn_model_create(&info, net, &t, &err), DN_EINVAL);

	/* A residual frame model saves as non-causal and loads back so: the
	 * metadata macros once wrote "causal" from the residual flag's text,
	 * and every trained frame model loaded as a causal U-Net. */
	for (int causal = 0; causal <= 1; causal++) {
		dn_model_info fi = dn_model_default_info(DN_MODEL_FRAME);
		fi.arch.base_filters = 4;
		fi.arch.depth = 2;
		fi.arch.causal = causal;
		dn_unet *fnet;
		dn_model *fm = NULL, *fl = NULL;
		char fpath[600];
		snprintf(fpath, sizeof fpath, "%s/frame%d.safetensors", dir, causal);
		CHECK_RC(dn_unet_create(&fi.arch, 5, &fnet, NULL), DN_OK);
		CHECK_RC(dn_model_create(&fi, fnet, &fm, &err), DN_OK);
		if (fm) {
			const char *mc = dn_model_metadata(fm, "causal");
			CHECK_MSG(causal ? mc && !strcmp(mc, "1") : mc == NULL, "causal %d: metadata causal=%s",
			          causal, mc ? mc : "(none)");
			CHECK_RC(dn_model_save(fm, fpath, NULL, &err), DN_OK);
			CHECK_RC(dn_model_load(fpath, &fl, &err), DN_OK);
		}
		if (fl) {
			CHECK_MSG(dn_model_get_info(fl)->arch.causal == causal && dn_model_get_info(fl)->arch.residual == 1,
			          "causal %d: loads as causal %d residual %d", causal, dn_model_get_info(fl)->arch.causal,
			          dn_model_get_info(fl)->arch.residual);
		}
		dn_model_destroy(fl);
		dn_model_destroy(fm);
	}

	/* A causal audio model keeps its lookahead through a file, and its
	 * latency says it: 512 samples + 2 hops of 128 at 16 kHz = 48 ms. A
	 * lookahead set afterwards (what train --init --lookahead does) is
	 * what the file then says; a non-causal model has none to set. */
	{
		dn_model_info ai = dn_model_default_info(DN_MODEL_AUDIO);
		ai.arch.base_filters = 4;
		ai.arch.depth = 2;
		ai.arch.causal = 1;
		ai.lookahead = 2;
		dn_unet *anet;
		dn_model *am = NULL, *al = NULL;
		char apath[600];
		snprintf(apath, sizeof apath, "%s/la.safetensors", dir);
		CHECK_RC(dn_unet_create(&ai.arch, 5, &anet, NULL), DN_OK);
		CHECK_RC(dn_model_create(&ai, anet, &am, &err), DN_OK);
		if (am) {
			const char *lat = dn_model_metadata(am, "latency_ms");
			CHECK_MSG(lat && !strcmp(lat, "48"), "latency_ms %s", lat ? lat : "(none)");
			CHECK_RC(dn_model_set_lookahead(am, 3, &err), DN_OK);
			lat = dn_model_metadata(am, "latency_ms");
			CHECK_MSG(lat && !strcmp(lat, "56"), "latency_ms after set %s", lat ? lat : "(none)");
			CHECK_RC(dn_model_set_lookahead(am, DN_MODEL_MAX_LOOKAHEAD + 1, &err), DN_EINVAL);
			CHECK(dn_model_get_info(am)->lookahead == 3);
			CHECK_RC(dn_model_save(am, apath, NULL, &err), DN_OK);
			CHECK_RC(dn_model_load(apath, &al, &err), DN_OK);
		}
		if (al)
			CHECK_MSG(dn_model_get_info(al)->lookahead == 3, "loads with lookahead %d",
			          dn_model_get_info(al)->lookahead);
		dn_model_destroy(al);
		dn_model_destroy(am);
		CHECK_RC(dn_model_set_lookahead(m, 1, &err), DN_EINVAL);
		CHECK(strstr(err.msg, "causal") != NULL);
	}

	dn_model_destroy(m);
	snprintf(bad, sizeof bad, "rm -rf %s", dir);
	CHECK(system(bad) == 0);
	return check_status();
}
