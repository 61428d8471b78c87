/*
 * fuzz_jobspec.c — libFuzzer target for the job-spec validator
 * (daemon/jobs_spec.h: jobs_spec_parse), the code that stands between a
 * POST /v1/jobs body and a training run.
 *
 * The manager it is given is real where the validator looks: a registry
 * with one loaded model ("speech"), a data root holding a tiny data set
 * ("tiny"), a state directory, the default job memory budget. The input is
 * the body's bytes; what is not a JSON object is left to the HTTP layer.
 * A spec that is accepted must come back normalized, and the normalized
 * spec must be accepted again and normalize to itself (what spec.json
 * keeps is what a runner re-validates); a refusal must name its field (for
 * DN_EINVAL) and say why. Nothing may leak.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/audio/audio.h"
#include "core/model/model.h"
#include "core/nn/unet.h"
#include "daemon/jobs_internal.h"
#include "daemon/jobs_spec.h"
#include "daemon/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jobs J;
static char root[] = "/tmp/dn_fuzz_jobspec_XXXXXX";

static void die(const char *what, const dn_error *err)
{
	fprintf(stderr, "fuzz_jobspec setup: %s: %s\n", what, err ? err->msg : "");
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[512];
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	dn_unet *net;
	dn_model *m = NULL;
	dn_error err;

	(void)argc;
	(void)argv;
	daemon_log_init(LOG_LVL_ERROR);
	if (!mkdtemp(root))
		die("mkdtemp", NULL);
	snprintf(path, sizeof path, "%s/models", root);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/state", root);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/data", root);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/data/tiny", root);
	mkdir(path, 0755);
	for (int s = 0; s < 2; s++) {
		dn_audio a = {.frames = 8000, .channels = 1, .rate = 16000};

		a.data = calloc(a.frames, sizeof(float));
		for (size_t i = 0; a.data && i < a.frames; i++)
			a.data[i] = 0.1f * (float)sin(0.05 * (double)i * (s + 1));
		snprintf(path, sizeof path, "%s/data/tiny/spk%d_001.wav", root, s + 1);
		if (!a.data || dn_audio_write_file(&a, DN_AUDIO_WAV16, path, &err) != DN_OK)
			die("data", &err);
		free(a.data);
	}
	info.arch.base_filters = 4;
	info.arch.depth = 2;
	snprintf(path, sizeof path, "%s/models/speech.safetensors", root);
	if (dn_unet_create(&info.arch, 1, &net, &err) != DN_OK ||
	    dn_model_create(&info, net, &m, &err) != DN_OK || dn_model_save(m, path, NULL, &err) != DN_OK)
		die("model", &err);
	dn_model_destroy(m);
	snprintf(path, sizeof path, "%s/models", root);
	if (daemon_models_create(path, "", "speech", 0, 8, &J.models, &err) != DN_OK)
		die("models", &err);
	snprintf(path, sizeof path, "%s/state", root);
	J.state_dir = strdup(path);
	snprintf(J.jobs_dir, sizeof J.jobs_dir, "%s/jobs", path);
	snprintf(path, sizeof path, "%s/data", root);
	J.data_roots = strdup(path);
	snprintf(path, sizeof path, "%s/nocorpus", root);
	J.speech_dir = strdup(path);
	J.job_device = strdup("cpu");
	J.job_memory_budget = (uint64_t)8 << 30;
	return 0;
}

/* Parses spec; the normalized spec or NULL, with the code in *rc. */
static json_t *parse(const json_t *spec, int *rc, char *field, size_t cap, dn_error *err)
{
	job_conf *c = calloc(1, sizeof *c);
	json_t *norm = NULL;
	vstate v = {field, cap, err};

	if (!c)
		abort();
	field[0] = '\0';
	err->msg[0] = '\0';
	*rc = jobs_spec_parse(&J, spec, c, &norm, &v);
	free(c);
	if (*rc == DN_OK && !norm)
		abort(); /* accepted, but no normalized spec */
	if (*rc != DN_OK && norm)
		abort(); /* refused, yet something came back */
	return norm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *spec = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je), *n1, *n2;
	char field[96], field2[96];
	dn_error err, err2;
	int rc, rc2;

	if (!json_is_object(spec)) {
		json_decref(spec);
		return 0;
	}
	n1 = parse(spec, &rc, field, sizeof field, &err);
	if (getenv("FUZZ_JOBSPEC_VERBOSE")) /* replaying seeds: what each gets */
		fprintf(stderr, "%d %s %s\n", rc, field, rc ? err.msg : "accepted");
	if (rc != DN_OK) {
		if (!err.msg[0] || (rc == DN_EINVAL && !field[0])) {
			fprintf(stderr, "refusal %d without a field or a reason: field '%s', '%s'\n", rc,
			        field, err.msg);
			abort();
		}
	} else {
		n2 = parse(n1, &rc2, field2, sizeof field2, &err2);
		if (rc2 != DN_OK) {
			fprintf(stderr, "the normalized spec is refused (%s: %s)\n", field2, err2.msg);
			abort();
		}
		if (!json_equal(n1, n2)) {
			char *a = json_dumps(n1, JSON_SORT_KEYS), *b = json_dumps(n2, JSON_SORT_KEYS);

			fprintf(stderr, "normalizing twice differs:\n%s\n%s\n", a, b);
			abort();
		}
		json_decref(n2);
	}
	json_decref(n1);
	json_decref(spec);
	return 0;
}
