/*
 * denoise_example.c — libdenoise from the outside: includes only <denoise.h>
 * and links only what `pkg-config --cflags --libs denoise` gives.
 *
 *     cc denoise_example.c $(pkg-config --cflags --libs denoise) -lm
 *     ./a.out [MODEL]
 *
 * Makes two seconds of a voiced, speech-like test signal (a 150 Hz buzz
 * with formant-like harmonics, switched on and off like syllables), adds
 * white noise at 5 dB SNR, denoises it with the speech model (MODEL, else
 * the installed speech.safetensors) and prints SI-SDR, STOI and PESQ of the
 * noisy and of the denoised signal against the clean one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <denoise.h>

#define SECONDS 2

/* A small deterministic generator (no global state of libc's rand()). */
static double uniform(unsigned long long *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return ((*s >> 11) + 0.5) / 9007199254740992.0;
}

static void make_signals(float *clean, float *noisy, size_t n, int rate)
{
	const double pi = 3.14159265358979323846;
	unsigned long long seed = 20261203;
	double signal = 0.0, noise = 0.0;
	float *w = malloc(n * sizeof *w);
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / rate, v = 0.0;
		for (int h = 1; h <= 20; h++) {
			double f = 150.0 * h, formant = exp(-pow((f - 700.0) / 400.0, 2)) +
			                                0.5 * exp(-pow((f - 1800.0) / 500.0, 2));
			v += formant * sin(2.0 * pi * f * t) / h;
		}
		double syllable = fmax(0.0, sin(2.0 * pi * 2.5 * t)); /* on and off, 2.5 Hz */
		clean[i] = (float)(0.3 * v * syllable);
		/* Box-Muller */
		w[i] = (float)(sqrt(-2.0 * log(uniform(&seed))) * cos(2.0 * pi * uniform(&seed)));
		signal += (double)clean[i] * clean[i];
		noise += (double)w[i] * w[i];
	}
	double gain = sqrt(signal / noise / pow(10.0, 5.0 / 10.0));
	for (size_t i = 0; i < n; i++)
		noisy[i] = clean[i] + (float)(gain * w[i]);
	free(w);
}

static int report(const char *what, const float *clean, const float *x, size_t n, int rate)
{
	denoise_speech_metrics m;
	denoise_error err;
	if (denoise_metrics_speech(clean, x, n, rate, &m, &err) != DENOISE_OK) {
		fprintf(stderr, "metrics: %s\n", err.msg);
		return -1;
	}
	printf("%-9s si_sdr %6.2f dB  stoi %.3f  pesq_wb %.2f\n", what, m.si_sdr_db, m.stoi, m.pesq_wb);
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	denoise_error err;
	denoise_model *model = NULL;
	denoise_audio *ctx = NULL;
	int rc = 1;

	if (argc > 1)
		snprintf(path, sizeof path, "%s", argv[1]);
	else
		snprintf(path, sizeof path, "%s/speech.safetensors", denoise_models_dir());
	printf("libdenoise %s, model %s\n", denoise_version(), path);
	if (denoise_model_load(path, &model, &err) != DENOISE_OK) {
		fprintf(stderr, "%s: %s (%s)\n", path, err.msg, denoise_strerror(err.code));
		return 1;
	}
	if (denoise_model_kind(model) != DENOISE_MODEL_AUDIO) {
		fprintf(stderr, "%s is not an audio model\n", path);
		denoise_model_free(model);
		return 1;
	}
	const int rate = denoise_model_sample_rate(model);
	const size_t n = (size_t)rate * SECONDS;
	float *clean = malloc(n * sizeof *clean), *noisy = malloc(n * sizeof *noisy),
	      *out = malloc(n * sizeof *out);
	denoise_audio_params p = denoise_audio_default_params();

	if (!clean || !noisy || !out) {
		fprintf(stderr, "out of memory\n");
		goto done;
	}
	make_signals(clean, noisy, n, rate);
	if (denoise_audio_create(model, &p, &ctx, &err) != DENOISE_OK ||
	    denoise_audio_process(ctx, noisy, n, 1, rate, out, &err) != DENOISE_OK) {
		fprintf(stderr, "denoise: %s\n", err.msg);
		goto done;
	}
	if (report("noisy", clean, noisy, n, rate) == 0 && report("denoised", clean, out, n, rate) == 0)
		rc = 0;
done:
	denoise_audio_destroy(ctx);
	denoise_model_free(model);
	free(clean);
	free(noisy);
	free(out);
	return rc;
}
