/*
 * test_dataset.c — the three data set layouts, built here in a temporary
 * folder from generated WAV files: listing, speaker-disjoint splits that do
 * not move with the seed, Valentini pairing by file name (and refusal of
 * names that do not pair), the corpus manifest, and reproducible on-the-fly
 * noising, layout guessing and the sources training and evaluation read.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/audio/fft.h"
#include "core/train/augment.h"
#include "core/train/data_io.h"
#include "core/train/dataset.h"
#include "core/audio/noise.h"
#include "core/util/rng.h"
#include "tests/check.h"

#define RATE 16000

static char root[64];

static const char *at(const char *rel)
{
	static char buf[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%.400s", root, rel);
	return buf[k];
}

static void mkdirs(const char *rel)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", root, rel);
	for (char *s = p + strlen(root) + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	}
	mkdir(p, 0755);
}

/* A speech-like signal (harmonics under a syllable envelope), distinct per seed. */
static void speechlike(float *x, size_t n, int rate, uint64_t seed, double level)
{
	dn_rng r;
	dn_rng_seed(&r, seed);
	double f0 = 90 + 150 * dn_rng_uniform(&r), syl = 2 + 3 * dn_rng_uniform(&r);
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / rate, v = 0;
		for (int h = 1; h <= 6; h++)
			v += sin(2 * M_PI * f0 * h * t) / h;
		x[i] = (float)(level * 0.5 * pow(fabs(sin(M_PI * syl * t)), 2) * v);
	}
}

static void write_speech(const char *rel, size_t n, int rate, uint64_t seed)
{
	float *x = malloc(n * sizeof *x);
	speechlike(x, n, rate, seed, 0.5);
	dn_error err;
	CHECK_RC(dn_data_write_wav16(at(rel), x, n, rate, &err), DN_OK);
	free(x);
}

/* A clean file and its noisy namesake at snr dB. */
static void write_pair(const char *cdir, const char *ndir, const char *name, size_t n, uint64_t seed,
                       double snr)
{
	float *c = malloc(n * sizeof *c), *z = malloc(n * sizeof *z);
	speechlike(c, n, RATE, seed, 0.3);
	dn_rng r;
	dn_rng_seed(&r, seed + 1000);
	dn_error err;
	CHECK_RC(dn_noise_generate(DN_NOISE_PINK, RATE, &r, z, n, &err), DN_OK);
	float gain;
	CHECK_RC(dn_mix_at_snr(c, z, n, snr, z, &gain, &err), DN_OK);
	for (size_t i = 0; i < n; i++)
		c[i] *= gain;
	char p[512];
	snprintf(p, sizeof p, "%s/%s", cdir, name);
	CHECK_RC(dn_data_write_wav16(at(p), c, n, RATE, &err), DN_OK);
	snprintf(p, sizeof p, "%s/%s", ndir, name);
	CHECK_RC(dn_data_write_wav16(at(p), z, n, RATE, &err), DN_OK);
	free(c);
	free(z);
}

static void write_text(const char *rel, const char *text)
{
	FILE *f = fopen(at(rel), "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int has_group(const dn_dataset *d, const char *g)
{
	for (size_t i = 0; i < dn_dataset_count(d); i++)
		if (strcmp(dn_dataset_entry_at(d, i)->group, g) == 0)
			return 1;
	return 0;
}

static int same_items(const dn_dataset *a, const dn_dataset *b)
{
	if (dn_dataset_count(a) != dn_dataset_count(b))
		return 0;
	for (size_t i = 0; i < dn_dataset_count(a); i++)
		if (strcmp(dn_dataset_entry_at(a, i)->clean, dn_dataset_entry_at(b, i)->clean) != 0)
			return 0;
	return 1;
}

/* Opens kind/path/split with defaults otherwise; NULL and the code in *rc on failure. */
static dn_dataset *open_split(int kind, const char *rel, int split, uint64_t seed, int *rc, dn_error *err)
{
	dn_dataset_params p = dn_dataset_default_params();
	p.kind = kind;
	p.path = at(rel);
	p.split = split;
	p.seed = seed;
	dn_dataset *d = NULL;
	*rc = dn_dataset_open(&p, &d, err);
	return d;
}

/* Checks that the train/valid/test splits of a layout cover `all` exactly,
 * without a group in two splits, and that another seed gives the same. */
static void check_splits(int kind, const char *rel, size_t want_total)
{
	dn_error err;
	int rc;
	dn_dataset *all = open_split(kind, rel, DN_SPLIT_ALL, 1, &rc, &err);
	CHECK_MSG(rc == DN_OK, "%s", err.msg);
	dn_dataset *s[3];
	size_t sum = 0;
	for (int k = 0; k < 3; k++) {
		s[k] = open_split(kind, rel, k, 1, &rc, &err);
		CHECK_MSG(rc == DN_OK, "split %s: %s", dn_split_name(k), err.msg);
		sum += s[k] ? dn_dataset_count(s[k]) : 0;
	}
	if (!all || !s[0] || !s[1] || !s[2])
		goto out;
	CHECK(dn_dataset_count(all) == want_total);
	CHECK(sum == want_total);
	for (int a = 0; a < 3; a++)
		for (int b = a + 1; b < 3; b++)
			for (size_t i = 0; i < dn_dataset_count(s[a]); i++) {
				const char *g = dn_dataset_entry_at(s[a], i)->group;
				CHECK_MSG(!has_group(s[b], g), "group %s in both %s and %s", g,
				          dn_split_name(a), dn_split_name(b));
			}
	/* every item of `all` is in exactly one split */
	for (size_t i = 0; i < dn_dataset_count(all); i++) {
		const char *c = dn_dataset_entry_at(all, i)->clean;
		int found = 0;
		for (int k = 0; k < 3; k++)
			for (size_t j = 0; j < dn_dataset_count(s[k]); j++)
				found += strcmp(dn_dataset_entry_at(s[k], j)->clean, c) == 0;
		CHECK_MSG(found == 1, "%s in %d splits", c, found);
	}
	/* the seed varies the noise, never the splits */
	for (int k = 0; k < 3; k++) {
		dn_dataset *o = open_split(kind, rel, k, 12345, &rc, &err);
		CHECK(o && same_items(o, s[k]));
		dn_dataset_destroy(o);
	}
out:
	dn_dataset_destroy(all);
	for (int k = 0; k < 3; k++)
		dn_dataset_destroy(s[k]);
}

static void test_folder(void)
{
	dn_error err;
	int rc;
	/* 10 speakers at the top (spkK_00J.wav), one in a nested folder,
	 * one file at 48 kHz, and a file that is not audio. */
	mkdirs("folder/alice/ch1");
	size_t total = 0;
	for (int k = 0; k < 10; k++)
		for (int j = 0; j < 2; j++) {
			char rel[64];
			snprintf(rel, sizeof rel, "folder/spk%d_%03d.wav", k, j);
			write_speech(rel, RATE / 2, RATE, (uint64_t)(k * 10 + j));
			total++;
		}
	write_speech("folder/alice/ch1/a.wav", RATE / 2, RATE, 77);
	write_speech("folder/alice/b.wav", 3 * RATE / 2, 48000, 78); /* 0.5 s at 48 kHz */
	total += 2;
	write_text("folder/readme.txt", "not audio\n");
	check_splits(DN_DATASET_FOLDER, "folder", total);

	dn_dataset *d = open_split(DN_DATASET_FOLDER, "folder", DN_SPLIT_ALL, 1, &rc, &err);
	CHECK_RC(rc, DN_OK);
	if (!d)
		return;
	CHECK(has_group(d, "alice") && has_group(d, "spk3") && !has_group(d, "ch1"));
	for (size_t i = 1; i < dn_dataset_count(d); i++)
		CHECK(strcmp(dn_dataset_entry_at(d, i - 1)->clean, dn_dataset_entry_at(d, i)->clean) < 0);
	CHECK(dn_dataset_entry_at(d, 0)->noisy == NULL);
	CHECK(dn_dataset_entry_at(d, dn_dataset_count(d)) == NULL);

	/* Loading: reproducible per (seed, epoch, index), SNR as drawn, clean
	 * as in the file times the mix gain. */
	const dn_dataset_params *p = dn_dataset_params_of(d);
	int kinds_seen = 0;
	for (size_t i = 0; i < dn_dataset_count(d); i++) {
		dn_dataset_item a, b, c;
		CHECK_RC(dn_dataset_load(d, i, 3, &a, &err), DN_OK);
		CHECK_RC(dn_dataset_load(d, i, 3, &b, &err), DN_OK);
		CHECK_RC(dn_dataset_load(d, i, 4, &c, &err), DN_OK);
		CHECK(a.n == RATE / 2 && a.rate == RATE); /* the 48 kHz file is resampled */
		CHECK(a.n == b.n && memcmp(a.noisy, b.noisy, a.n * sizeof(float)) == 0);
		CHECK(a.snr_db == b.snr_db && a.noise_kind == b.noise_kind);
		CHECK(c.n == a.n && memcmp(a.noisy, c.noisy, a.n * sizeof(float)) != 0);
		CHECK(a.snr_db >= p->snr_min_db && a.snr_db <= p->snr_max_db);
		CHECK(a.noise_kind >= DN_NOISE_WHITE && a.noise_kind <= DN_NOISE_BROWN);
		kinds_seen |= 1 << a.noise_kind;
		CHECK_NEAR(dn_snr_db(a.clean, a.noisy, a.n), a.snr_db, 0.05);
		float *raw;
		size_t n;
		CHECK_RC(dn_data_read_mono(dn_dataset_entry_at(d, i)->clean, RATE, 60, &raw, &n, &err),
		         DN_OK);
		double maxd = 0;
		for (size_t k = 0; k < n && k < a.n; k++)
			maxd = fmax(maxd, fabs(a.clean[k] - a.gain * raw[k]));
		CHECK(n == a.n && maxd < 1e-6);
		free(raw);
		dn_dataset_item_free(&a);
		dn_dataset_item_free(&b);
		dn_dataset_item_free(&c);
	}
	CHECK(kinds_seen == 7); /* 22 items: all three kinds came up */
	dn_dataset_item it;
	CHECK_RC(dn_dataset_load(d, dn_dataset_count(d), 0, &it, &err), DN_EINVAL);
	dn_dataset_destroy(d);

	/* Cropping, SNR range, and noise from recordings only. */
	mkdirs("noises");
	write_speech("noises/hum.wav", RATE, RATE, 999);
	dn_dataset_params q = dn_dataset_default_params();
	q.path = at("folder");
	q.split = DN_SPLIT_ALL;
	q.crop_seconds = 0.25;
	q.snr_min_db = q.snr_max_db = 7.5;
	q.noise_kinds = 1u << DN_NOISE_FILE;
	q.noise_dir = at("noises");
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_OK);
	if (d) {
		CHECK_RC(dn_dataset_load(d, 0, 0, &it, &err), DN_OK);
		CHECK(it.n == RATE / 4);
		CHECK(it.noise_kind == DN_NOISE_FILE);
		CHECK_NEAR(dn_snr_db(it.clean, it.noisy, it.n), 7.5, 0.05);
		dn_dataset_item_free(&it);
		dn_dataset_destroy(d);
	}

	/* Errors, each naming what to change. */
	q.noise_dir = NULL;
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "noise_dir") != NULL);
	q.noise_dir = at("folder/readme.txt");
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_ENOTFOUND);
	mkdirs("empty");
	q.noise_dir = at("empty");
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_ENOTFOUND);
	CHECK(strstr(err.msg, "no noise recordings") != NULL);
	q = dn_dataset_default_params();
	q.path = at("folder");
	q.snr_min_db = 10;
	q.snr_max_db = 0;
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_EINVAL);
	q = dn_dataset_default_params();
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_EINVAL); /* no path */
	q.path = at("nowhere");
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_ENOTFOUND);
	CHECK(strstr(err.msg, "nowhere") != NULL);
	q.path = at("empty");
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_ENOTFOUND);
	CHECK(strstr(err.msg, "no audio files") != NULL);
	q.path = at("folder");
	q.valid_fraction = 0.6;
	q.test_fraction = 0.5;
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_EINVAL);
	q = dn_dataset_default_params();
	q.path = at("folder");
	q.max_seconds = 0.1;
	q.split = DN_SPLIT_ALL;
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_OK);
	if (d) {
		CHECK_RC(dn_dataset_load(d, 0, 0, &it, &err), DN_ELIMIT);
		dn_dataset_destroy(d);
	}

	/* A silent clean file cannot be mixed at an SNR: refused with its name. */
	mkdirs("silent");
	float z[800] = {0};
	CHECK_RC(dn_data_write_wav16(at("silent/quiet.wav"), z, 800, RATE, &err), DN_OK);
	q.path = at("silent");
	q.max_seconds = 60;
	CHECK_RC(dn_dataset_open(&q, &d, &err), DN_OK);
	if (d) {
		CHECK_RC(dn_dataset_load(d, 0, 0, &it, &err), DN_EINVAL);
		CHECK(strstr(err.msg, "quiet.wav") != NULL);
		CHECK(it.clean == NULL && it.noisy == NULL);
		dn_dataset_destroy(d);
	}

	/* Fewer than 3 speakers: files are split one by one instead. */
	mkdirs("two");
	for (int j = 0; j < 10; j++) {
		char rel[64];
		snprintf(rel, sizeof rel, "two/%s_%d.wav", j % 2 ? "bob" : "eve", j);
		write_speech(rel, RATE / 4, RATE, (uint64_t)(500 + j));
	}
	check_splits(DN_DATASET_FOLDER, "two", 10);
}

static void test_valentini(void)
{
	dn_error err;
	int rc;
	const char *tr_c = "val/clean_trainset_28spk_wav", *tr_n = "val/noisy_trainset_28spk_wav";
	const char *te_c = "val/clean_testset_wav", *te_n = "val/noisy_testset_wav";
	mkdirs(tr_c);
	mkdirs(tr_n);
	mkdirs(te_c);
	mkdirs(te_n);
	static const char *spk[] = {"p226", "p227", "p228", "p229", "p230", "p231",
	                            "p233", "p234", "p236", "p239", "p240", "p243"};
	size_t ntrain = 0;
	for (int k = 0; k < 12; k++)
		for (int j = 1; j <= 3; j++) {
			char name[32];
			snprintf(name, sizeof name, "%s_%03d.wav", spk[k], j);
			write_pair(tr_c, tr_n, name, RATE / 4, (uint64_t)(k * 7 + j), 10.0);
			ntrain++;
		}
	write_pair(te_c, te_n, "p232_001.wav", RATE / 4, 900, 2.5);
	write_pair(te_c, te_n, "p257_001.wav", RATE / 4, 901, 2.5);
	write_text("val/readme.txt", "the layout of Valentini et al.\n");

	dn_dataset *te = open_split(DN_DATASET_VALENTINI, "val", DN_SPLIT_TEST, 1, &rc, &err);
	CHECK_MSG(rc == DN_OK, "%s", err.msg);
	dn_dataset *tr = open_split(DN_DATASET_VALENTINI, "val", DN_SPLIT_TRAIN, 1, &rc, &err);
	dn_dataset *va = open_split(DN_DATASET_VALENTINI, "val", DN_SPLIT_VALID, 1, &rc, &err);
	if (!te || !tr || !va) {
		CHECK(0);
		return;
	}
	CHECK(dn_dataset_count(te) == 2);
	CHECK(dn_dataset_count(tr) + dn_dataset_count(va) == ntrain);
	CHECK(dn_dataset_count(va) == 3); /* one speaker of 12 (10 %, rounded, at least one) */
	for (size_t i = 0; i < dn_dataset_count(va); i++)
		CHECK(!has_group(tr, dn_dataset_entry_at(va, i)->group));
	/* pairs share their file name, in the noisy_ twin folder */
	for (size_t i = 0; i < dn_dataset_count(tr); i++) {
		const dn_dataset_entry *e = dn_dataset_entry_at(tr, i);
		CHECK(e->noisy && strcmp(strrchr(e->clean, '/'), strrchr(e->noisy, '/')) == 0);
		CHECK(strstr(e->clean, "/clean_trainset_28spk_wav/") &&
		      strstr(e->noisy, "/noisy_trainset_28spk_wav/"));
		CHECK(strncmp(strrchr(e->clean, '/') + 1, e->group, 4) == 0);
	}
	check_splits(DN_DATASET_VALENTINI, "val", ntrain + 2);

	/* Paired items come from the files, with their SNR measured. */
	dn_dataset_item it, it2;
	CHECK_RC(dn_dataset_load(te, 0, 0, &it, &err), DN_OK);
	CHECK_RC(dn_dataset_load(te, 0, 5, &it2, &err), DN_OK);
	CHECK(it.n == RATE / 4 && it.noise_kind == -1 && it.gain == 1.0f);
	CHECK_NEAR(it.snr_db, 2.5, 0.1);                               /* 16-bit files */
	CHECK(memcmp(it.noisy, it2.noisy, it.n * sizeof(float)) == 0); /* no noising: epochs agree */
	dn_dataset_item_free(&it);
	dn_dataset_item_free(&it2);
	dn_dataset_destroy(te);
	dn_dataset_destroy(tr);
	dn_dataset_destroy(va);

	/* Names that do not pair are refused, naming the file. */
	mkdirs("bad1/clean_trainset_wav");
	mkdirs("bad1/noisy_trainset_wav");
	write_pair("bad1/clean_trainset_wav", "bad1/noisy_trainset_wav", "p226_001.wav", 800, 1, 5);
	write_speech("bad1/clean_trainset_wav/p226_002.wav", 800, RATE, 2);
	dn_dataset *d = open_split(DN_DATASET_VALENTINI, "bad1", DN_SPLIT_ALL, 1, &rc, &err);
	CHECK_RC(rc, DN_EFORMAT);
	CHECK(d == NULL);
	CHECK_MSG(strstr(err.msg, "clean_trainset_wav/p226_002.wav has no namesake in") != NULL, "%s",
	          err.msg);
	mkdirs("bad2/clean_trainset_wav");
	mkdirs("bad2/noisy_trainset_wav");
	write_pair("bad2/clean_trainset_wav", "bad2/noisy_trainset_wav", "p226_001.wav", 800, 1, 5);
	write_speech("bad2/noisy_trainset_wav/p226_01.wav", 800, RATE, 3);
	d = open_split(DN_DATASET_VALENTINI, "bad2", DN_SPLIT_TRAIN, 1, &rc, &err);
	CHECK_RC(rc, DN_EFORMAT);
	CHECK_MSG(strstr(err.msg, "noisy_trainset_wav/p226_01.wav has no namesake") != NULL, "%s", err.msg);
	/* no noisy twin folder */
	mkdirs("bad3/clean_testset_wav");
	write_speech("bad3/clean_testset_wav/p232_001.wav", 800, RATE, 4);
	d = open_split(DN_DATASET_VALENTINI, "bad3", DN_SPLIT_TEST, 1, &rc, &err);
	CHECK_RC(rc, DN_ENOTFOUND);
	CHECK(strstr(err.msg, "noisy_testset_wav") != NULL);
	/* not the layout at all */
	d = open_split(DN_DATASET_VALENTINI, "folder", DN_SPLIT_ALL, 1, &rc, &err);
	CHECK_RC(rc, DN_ENOTFOUND);
	CHECK(strstr(err.msg, "clean_*_wav") != NULL);
	/* pairs of different lengths open, but do not load */
	mkdirs("bad4/clean_testset_wav");
	mkdirs("bad4/noisy_testset_wav");
	write_speech("bad4/clean_testset_wav/x_1.wav", 800, RATE, 5);
	write_speech("bad4/noisy_testset_wav/x_1.wav", 900, RATE, 6);
	d = open_split(DN_DATASET_VALENTINI, "bad4", DN_SPLIT_TEST, 1, &rc, &err);
	CHECK_RC(rc, DN_OK);
	if (d) {
		CHECK_RC(dn_dataset_load(d, 0, 0, &it, &err), DN_EFORMAT);
		CHECK(strstr(err.msg, "not a pair") != NULL);
		dn_dataset_destroy(d);
	}
}

static void test_corpus(void)
{
	dn_error err;
	int rc;
	mkdirs("corpus/wav/train");
	mkdirs("corpus/wav/valid");
	mkdirs("corpus/wav/test");
	/* columns in another order than the script's, plus one we do not read */
	char manifest[4096] = "path\tduration\tsentence_id\tvoice\tsplit\tsynth\n";
	static const struct {
		const char *split, *voice;
		int sid;
	} rows[] = {{"train", "espeak-ng+f1", 1},  {"train", "espeak-ng+f1", 2},
	            {"train", "espeak-ng+m3", 1},  {"train", "festival+kal", 3},
	            {"valid", "espeak-ng+f4", 10}, {"valid", "espeak-ng+f4", 11},
	            {"test", "festival+ked", 20},  {"test", "espeak-ng+croak", 21}};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char rel[128], line[256];
		snprintf(rel, sizeof rel, "wav/%s/u%zu.wav", rows[i].split, i);
		char full[160];
		snprintf(full, sizeof full, "corpus/%s", rel);
		write_speech(full, RATE / 4, RATE, 300 + i);
		snprintf(line, sizeof line, "%s\t0.250\t%d\t%s\t%s\tx\n", rel, rows[i].sid, rows[i].voice,
		         rows[i].split);
		strcat(manifest, line);
	}
	write_text("corpus/manifest.tsv", manifest);
	static const size_t want[3] = {4, 2, 2};
	for (int k = 0; k < 3; k++) {
		dn_dataset *d = open_split(DN_DATASET_CORPUS, "corpus", k, 1, &rc, &err);
		CHECK_MSG(rc == DN_OK, "%s", err.msg);
		if (!d)
			continue;
		CHECK(dn_dataset_count(d) == want[k]);
		for (size_t i = 0; i < dn_dataset_count(d); i++) {
			const dn_dataset_entry *e = dn_dataset_entry_at(d, i);
			CHECK(strstr(e->clean, dn_split_name(k)) != NULL);
			CHECK(e->sentence > 0);
		}
		if (k == 0) {
			CHECK(has_group(d, "festival+kal") && has_group(d, "espeak-ng+m3"));
			dn_dataset_item it;
			CHECK_RC(dn_dataset_load(d, 1, 0, &it, &err), DN_OK);
			CHECK(it.n == RATE / 4);
			CHECK_NEAR(dn_snr_db(it.clean, it.noisy, it.n), it.snr_db, 0.05);
			dn_dataset_item_free(&it);
		}
		dn_dataset_destroy(d);
	}
	dn_dataset *d = open_split(DN_DATASET_CORPUS, "corpus", DN_SPLIT_ALL, 1, &rc, &err);
	CHECK(d && dn_dataset_count(d) == 8);
	dn_dataset_destroy(d);

	/* A listed file that is missing; a manifest without a needed column;
	 * a bad split; no manifest. */
	strcat(manifest, "wav/test/gone.wav\t1.0\t22\tespeak-ng+croak\ttest\tx\n");
	write_text("corpus/manifest.tsv", manifest);
	d = open_split(DN_DATASET_CORPUS, "corpus", DN_SPLIT_TEST, 1, &rc, &err);
	CHECK_RC(rc, DN_ENOTFOUND);
	CHECK(strstr(err.msg, "gone.wav") != NULL && strstr(err.msg, "manifest.tsv:10") != NULL);
	write_text("corpus/manifest.tsv", "path\tvoice\tsplit\nwav/train/u0.wav\tv\ttrain\n");
	d = open_split(DN_DATASET_CORPUS, "corpus", DN_SPLIT_TRAIN, 1, &rc, &err);
	CHECK_RC(rc, DN_EFORMAT);
	CHECK(strstr(err.msg, "sentence_id") != NULL);
	write_text("corpus/manifest.tsv",
	           "split\tvoice\tsentence_id\tpath\nholdout\tv\t1\twav/train/u0.wav\n");
	d = open_split(DN_DATASET_CORPUS, "corpus", DN_SPLIT_TRAIN, 1, &rc, &err);
	CHECK_RC(rc, DN_EFORMAT);
	CHECK(strstr(err.msg, "manifest.tsv:2") != NULL);
	write_text("corpus/manifest.tsv", "split\tvoice\tsentence_id\tpath\ntrain\tv\t1\twav/train/u0.wav\n");
	d = open_split(DN_DATASET_CORPUS, "corpus", DN_SPLIT_TEST, 1, &rc, &err);
	CHECK_RC(rc, DN_ENOTFOUND);
	CHECK(strstr(err.msg, "no items in the test split") != NULL);
	d = open_split(DN_DATASET_CORPUS, "folder", DN_SPLIT_TRAIN, 1, &rc, &err);
	CHECK_RC(rc, DN_ENOTFOUND);
	CHECK(strstr(err.msg, "make-speech-corpus") != NULL);
}

static void test_names(void)
{
	CHECK(dn_dataset_kind_parse("Valentini") == DN_DATASET_VALENTINI);
	CHECK(dn_dataset_kind_parse("corpus") == DN_DATASET_CORPUS);
	CHECK(dn_dataset_kind_parse("librispeech") == -1);
	CHECK(dn_split_parse("validation") == DN_SPLIT_VALID);
	CHECK(dn_split_parse("test") == DN_SPLIT_TEST);
	CHECK(dn_split_parse("dev") == -1);
	CHECK(dn_split_name(4) == NULL);
	dn_dataset_params p = dn_dataset_default_params();
	p.path = "/";
	p.kind = 7;
	dn_dataset *d;
	dn_error err;
	CHECK_RC(dn_dataset_open(&p, &d, &err), DN_EINVAL);
	p.kind = DN_DATASET_FOLDER;
	p.split = 9;
	CHECK_RC(dn_dataset_open(&p, &d, &err), DN_EINVAL);
}

/* Layout guessing and the training/evaluation adapters, on the folders the
 * tests above made. */
static void test_guess_and_sources(void)
{
	CHECK(dn_dataset_kind_guess(at("folder")) == DN_DATASET_FOLDER);
	CHECK(dn_dataset_kind_guess(at("val")) == DN_DATASET_VALENTINI);
	CHECK(dn_dataset_kind_guess(at("corpus")) == DN_DATASET_CORPUS);
	CHECK(dn_dataset_kind_guess(at("no-such-folder")) == DN_DATASET_FOLDER);

	dn_error err;
	int rc;
	dn_dataset *d = open_split(DN_DATASET_VALENTINI, "val", DN_SPLIT_TEST, 1, &rc, &err);
	CHECK_MSG(rc == DN_OK, "%s", err.msg);
	if (!d)
		return;
	dn_pair_source ps = dn_dataset_pair_source(d);
	dn_clean_source cs = dn_dataset_clean_source(d);
	CHECK(ps.count(ps.ctx) == dn_dataset_count(d) && cs.count(cs.ctx) == dn_dataset_count(d));
	float *clean = NULL, *noisy = NULL, *alone = NULL;
	size_t n = 0, m = 0;
	CHECK_RC(ps.load(ps.ctx, 0, 0, &clean, &noisy, &n, &err), DN_OK);
	CHECK_RC(cs.load(cs.ctx, 0, &alone, &m, &err), DN_OK);
	CHECK(n > 0 && m == n);
	CHECK(strcmp(cs.name(cs.ctx, 0), "p232_001.wav") == 0);
	free(clean);
	free(noisy);
	free(alone);
	dn_dataset_destroy(d);
}

/* ---- augmentation (core/train/augment.h) ---- */

static dn_augment_params aug_only(void)
{
	dn_augment_params p = dn_augment_default_params();
	p.level_prob = p.band_prob = p.tilt_prob = p.reverb_prob = p.clip_prob = 0;
	return p;
}

/* Mean power per bin of x over [lo, hi) Hz, in dB (one FFT of the whole). */
static double band_db(const float *x, size_t n, double lo, double hi)
{
	long N = 2;
	while ((size_t)N < n)
		N *= 2;
	dn_fft *f = NULL;
	dn_error err;
	if (dn_fft_create(N, &f, &err))
		return NAN;
	double *b = dn_fft_data(f), e = 0;
	memset(b, 0, (size_t)(N + 2) * sizeof *b);
	for (size_t t = 0; t < n; t++)
		b[t] = x[t];
	dn_fft_forward(f);
	long k0 = (long)ceil(lo * N / RATE), k1 = (long)(hi * N / RATE), cnt = 0;
	for (long k = k0; k < k1 && k <= N / 2; k++, cnt++)
		e += b[2 * k] * b[2 * k] + b[2 * k + 1] * b[2 * k + 1];
	dn_fft_destroy(f);
	return 10 * log10(e / (cnt ? cnt : 1) + 1e-30);
}

static void white(float *x, size_t n, uint64_t seed)
{
	dn_rng r;
	dn_error err;
	dn_rng_seed(&r, seed);
	dn_noise_generate(DN_NOISE_WHITE, RATE, &r, x, n, &err);
	for (size_t i = 0; i < n; i++)
		x[i] *= 0.1f;
}

static void test_augment_params(void)
{
	dn_error err;
	dn_augment_params p = dn_augment_default_params(), r;
	CHECK_RC(dn_augment_check(&p, &err), DN_OK);
	r = dn_augment_resolve(&p);
	CHECK(!dn_augment_active(&r)); /* off by default: evaluation is unchanged */
	p.preset = DN_AUGMENT_REAL;
	r = dn_augment_resolve(&p);
	CHECK(dn_augment_active(&r) && r.reverb_prob > 0 && r.band_prob > 0 && r.clip_prob > 0 &&
	      r.level_prob > 0 && r.tilt_prob > 0);
	p.reverb_prob = 0; /* an explicit value beats the preset */
	CHECK(dn_augment_resolve(&p).reverb_prob == 0);
	p.band_prob = 1.5;
	CHECK_RC(dn_augment_check(&p, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "aug_band_prob") != NULL);
	p.band_prob = -0.5;
	CHECK_RC(dn_augment_check(&p, &err), DN_EINVAL);
	p = dn_augment_default_params();
	p.level_min_dbfs = -5;
	CHECK_RC(dn_augment_check(&p, &err), DN_EINVAL);
	p = dn_augment_default_params();
	p.rt60_max_s = 3;
	CHECK_RC(dn_augment_check(&p, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "RT60") != NULL);
	/* The data set refuses them too, before reading anything. */
	dn_dataset_params dp = dn_dataset_default_params();
	dn_dataset *d;
	dp.path = "/";
	dp.augment.clip_prob = 2;
	CHECK_RC(dn_dataset_open(&dp, &d, &err), DN_EINVAL);
}

static void test_augment_band_and_tilt(void)
{
	size_t n = 2 * RATE;
	float *x = malloc(n * sizeof *x), *side = NULL;
	dn_error err;
	dn_rng r;
	white(x, n, 5);
	/* White noise: flat before, so the test can fail. */
	CHECK(fabs(band_db(x, n, 6000, 7900) - band_db(x, n, 500, 3000)) < 1.0);
	dn_augment_params p = aug_only();
	p.band_prob = 1;
	dn_augment_info in;
	dn_rng_seed(&r, 1);
	CHECK_RC(dn_augment_speech(&p, RATE, &r, x, n, &side, &in, &err), DN_OK);
	CHECK(side == NULL && in.band && !in.reverb && !in.level && !in.tilt);
	double pass = band_db(x, n, 500, 3000);
	CHECK_MSG(band_db(x, n, 6000, 7900) < pass - 30, "above the band: %.1f dB vs %.1f",
	          band_db(x, n, 6000, 7900), pass);
	CHECK_MSG(band_db(x, n, 20, 150) < pass - 30, "below the band: %.1f dB vs %.1f", band_db(x, n, 20, 150),
	          pass);
	CHECK(band_db(x, n, 1000, 2000) > pass - 1.0);

	/* Tilt: the slope drawn, in dB per octave, between 1 and 4 kHz. */
	white(x, n, 6);
	p = aug_only();
	p.tilt_prob = 1;
	p.tilt_db_oct = 6;
	int bright = 0, dark = 0;
	for (uint64_t s = 1; s <= 6; s++) {
		white(x, n, 6);
		dn_rng_seed(&r, s);
		CHECK_RC(dn_augment_speech(&p, RATE, &r, x, n, &side, &in, &err), DN_OK);
		CHECK(in.tilt && fabs(in.tilt_db_oct) <= 6);
		double slope = (band_db(x, n, 3800, 4200) - band_db(x, n, 950, 1050)) / 2;
		CHECK_MSG(fabs(slope - in.tilt_db_oct) < 1.0, "slope %.2f, drawn %.2f", slope, in.tilt_db_oct);
		bright += in.tilt_db_oct > 0;
		dark += in.tilt_db_oct < 0;
	}
	CHECK(bright > 0 && dark > 0);
	CHECK_NEAR(dn_augment_channel_gain(1000, 0, 5), 1.0, 1e-12);
	CHECK_NEAR(20 * log10(dn_augment_channel_gain(2000, 0, 5)), 5.0, 1e-9);
	CHECK(dn_augment_channel_gain(0, 1, 0) == 0.0);
	free(x);
}

static void test_augment_room(void)
{
	dn_error err;
	dn_rng r;
	float *h = NULL;
	size_t len = 0;
	dn_rng_seed(&r, 3);
	CHECK_RC(dn_augment_rir(RATE, 0.5, 6.0, &r, &h, &len, &err), DN_OK);
	CHECK(len == RATE / 2 && h[0] == 1.0f);
	double tail = 0;
	for (size_t t = 1; t < len; t++)
		tail += (double)h[t] * h[t];
	CHECK_NEAR(10 * log10(1.0 / tail), 6.0, 1e-3); /* the direct-to-reverberant ratio asked */
	/* Energy falls 60 dB per RT60: 0.2 s apart is 24 dB (windows of 40 ms). */
	double e1 = 0, e2 = 0;
	for (size_t t = 0; t < 640; t++) {
		e1 += (double)h[1600 + t] * h[1600 + t];
		e2 += (double)h[4800 + t] * h[4800 + t];
	}
	CHECK_MSG(fabs(10 * log10(e2 / e1) + 24.0) < 3.0, "decay %.2f dB over 0.2 s", 10 * log10(e2 / e1));
	free(h);

	/* An impulse through a room: the noisy side has the whole tail, the
	 * target only the first 50 ms, both with the direct path in place. */
	size_t n = RATE, at0 = 1000, early = (size_t)(DN_AUGMENT_EARLY_MS * RATE / 1000);
	float *x = calloc(n, sizeof *x), *side = NULL;
	x[at0] = 1;
	dn_augment_params p = aug_only();
	p.reverb_prob = 1;
	p.rt60_min_s = p.rt60_max_s = 0.6;
	dn_augment_info in;
	dn_rng_seed(&r, 4);
	CHECK_RC(dn_augment_speech(&p, RATE, &r, x, n, &side, &in, &err), DN_OK);
	CHECK(side != NULL && in.reverb && in.rt60_s == 0.6);
	if (side) {
		CHECK_NEAR(x[at0], 1.0, 1e-4);
		CHECK_NEAR(side[at0], 1.0, 1e-4);
		double late_t = 0, late_s = 0, early_t = 0, early_s = 0;
		for (size_t t = at0 + 1; t < n; t++) {
			if (t <= at0 + early) {
				early_t += (double)x[t] * x[t];
				early_s += (double)side[t] * side[t];
			} else if (t > at0 + early + 2) {
				late_t += (double)x[t] * x[t];
				late_s += (double)side[t] * side[t];
			}
		}
		CHECK_MSG(late_t < 1e-8 * late_s, "target tail %g vs room tail %g", late_t, late_s);
		CHECK(late_s > 0.01 && fabs(early_t - early_s) < 1e-4 * early_s);
		double drr = 10 * log10(1.0 / (early_s + late_s));
		CHECK_NEAR(drr, in.drr_db, 0.05);
	}
	free(side);
	free(x);
}

static void test_augment_level_clip_determinism(void)
{
	size_t n = RATE / 2;
	float *x = malloc(n * sizeof *x), *side = NULL;
	dn_error err;
	dn_rng r;
	dn_augment_params p = aug_only();
	p.level_prob = 1;
	double lo = 0, hi = -100;
	for (uint64_t s = 1; s <= 40; s++) {
		speechlike(x, n, RATE, s, 0.5);
		dn_rng_seed(&r, s);
		dn_augment_info in;
		CHECK_RC(dn_augment_speech(&p, RATE, &r, x, n, &side, &in, &err), DN_OK);
		double e = 0;
		for (size_t t = 0; t < n; t++)
			e += (double)x[t] * x[t];
		double db = 10 * log10(e / n);
		CHECK_NEAR(db, in.level_dbfs, 0.01);
		CHECK(db >= -35.01 && db <= -9.99);
		lo = fmin(lo, db);
		hi = fmax(hi, db);
	}
	CHECK(lo < -30 && hi > -15); /* the whole range is drawn */

	/* Clipping: never beyond the drawn level below the peak. */
	p = aug_only();
	p.clip_prob = 1;
	for (uint64_t s = 1; s <= 10; s++) {
		speechlike(x, n, RATE, s, 0.9);
		float peak = 0;
		for (size_t t = 0; t < n; t++)
			peak = fmaxf(peak, fabsf(x[t]));
		dn_augment_info in;
		dn_rng_seed(&r, s);
		CHECK(dn_augment_clip(&p, &r, x, n, &in) == 1);
		float top = 0;
		for (size_t t = 0; t < n; t++)
			top = fmaxf(top, fabsf(x[t]));
		CHECK(in.clip_db >= 1 && in.clip_db <= 6);
		CHECK_NEAR(top, peak * pow(10, -in.clip_db / 20), 1e-5);
	}

	/* The same generator state gives the same signals; another does not. */
	p = dn_augment_default_params();
	p.preset = DN_AUGMENT_REAL;
	p.reverb_prob = p.band_prob = p.tilt_prob = p.level_prob = 1;
	p = dn_augment_resolve(&p);
	float *ref = malloc(n * sizeof *ref), *s2 = NULL;
	for (int k = 0; k < 3; k++) {
		speechlike(x, n, RATE, 9, 0.5);
		dn_rng_seed(&r, k == 2 ? 8 : 7);
		CHECK_RC(dn_augment_speech(&p, RATE, &r, x, n, k ? &s2 : &side, NULL, &err), DN_OK);
		if (k == 0)
			memcpy(ref, x, n * sizeof *x);
		if (k == 1)
			CHECK(memcmp(x, ref, n * sizeof *x) == 0 && side && s2 && memcmp(side, s2, n * sizeof *x) == 0);
		if (k == 2)
			CHECK(memcmp(x, ref, n * sizeof *x) != 0);
		if (k) {
			free(s2);
			s2 = NULL;
		}
	}
	free(ref);
	free(side);
	free(x);
}

/* Augmentation through the data set: reproducible per (seed, epoch, index),
 * and with it off the mix is the one made without augmentation. */
static void test_augment_dataset(void)
{
	dn_error err;
	dn_dataset_params p = dn_dataset_default_params();
	p.kind = DN_DATASET_CORPUS;
	p.path = at("corpus");
	p.split = DN_SPLIT_TRAIN;
	dn_dataset *plain = NULL, *aug = NULL, *aug2 = NULL, *zero = NULL;
	CHECK_RC(dn_dataset_open(&p, &plain, &err), DN_OK);
	p.augment.preset = DN_AUGMENT_REAL;
	p.augment.level_prob = p.augment.reverb_prob = 1;
	CHECK_RC(dn_dataset_open(&p, &aug, &err), DN_OK);
	CHECK_RC(dn_dataset_open(&p, &aug2, &err), DN_OK);
	p.augment = dn_augment_default_params();
	p.augment.clip_prob = 0; /* explicitly off: same as none */
	CHECK_RC(dn_dataset_open(&p, &zero, &err), DN_OK);
	if (!plain || !aug || !aug2 || !zero)
		goto out;
	for (uint64_t e = 0; e < 3; e++) {
		dn_dataset_item a, b, c, z;
		CHECK_RC(dn_dataset_load(aug, 0, e, &a, &err), DN_OK);
		CHECK_RC(dn_dataset_load(aug2, 0, e, &b, &err), DN_OK);
		CHECK_RC(dn_dataset_load(plain, 0, e, &c, &err), DN_OK);
		CHECK_RC(dn_dataset_load(zero, 0, e, &z, &err), DN_OK);
		CHECK(a.n == b.n && memcmp(a.noisy, b.noisy, a.n * sizeof *a.noisy) == 0 &&
		      memcmp(a.clean, b.clean, a.n * sizeof *a.clean) == 0);
		CHECK(a.snr_db == c.snr_db && a.noise_kind == c.noise_kind); /* draws not moved */
		CHECK(memcmp(a.clean, c.clean, a.n * sizeof *a.clean) != 0);
		CHECK(memcmp(z.noisy, c.noisy, z.n * sizeof *z.noisy) == 0);
		/* The target's level is the drawn one (within -35..-10 dBFS, or
		 * lower by the mix's anti-clipping gain). */
		double en = 0;
		for (size_t t = 0; t < a.n; t++)
			en += (double)a.clean[t] * a.clean[t];
		CHECK(10 * log10(en / a.n) <= -9.99 && 10 * log10(en / a.n) >= -35.01 + 20 * log10(a.gain));
		dn_dataset_item_free(&a);
		dn_dataset_item_free(&b);
		dn_dataset_item_free(&c);
		dn_dataset_item_free(&z);
	}
out:
	dn_dataset_destroy(plain);
	dn_dataset_destroy(aug);
	dn_dataset_destroy(aug2);
	dn_dataset_destroy(zero);
}

/* Normalised correlation of a[0..n) and b[0..n). */
static double ncorr(const float *a, const float *b, size_t n)
{
	double ab = 0, aa = 0, bb = 0;
	for (size_t i = 0; i < n; i++) {
		ab += (double)a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += (double)b[i] * b[i];
	}
	return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

/* Synthetic and recorded noise in one data set: every kind is drawn, a
 * recording longer than the item is sliced at random offsets, and one
 * shorter is looped. The corpus left by test_corpus has one 0.25 s item. */
static void test_noise_files(void)
{
	dn_error err;
	size_t nl = RATE, ns = RATE * 3 / 20; /* 1 s and 0.15 s */
	float *lng = malloc(nl * sizeof *lng), *shrt = malloc(ns * sizeof *shrt);
	white(lng, nl, 11);
	white(shrt, ns, 12);
	mkdirs("noise-long");
	mkdirs("noise-short");
	CHECK_RC(dn_data_write_wav16(at("noise-long/long.wav"), lng, nl, RATE, &err), DN_OK);
	CHECK_RC(dn_data_write_wav16(at("noise-short/short.wav"), shrt, ns, RATE, &err), DN_OK);
	/* The samples as read back (16-bit), to find excerpts in. */
	free(lng);
	CHECK_RC(dn_data_read_mono(at("noise-long/long.wav"), RATE, 60, &lng, &nl, &err), DN_OK);

	dn_dataset_params p = dn_dataset_default_params();
	p.kind = DN_DATASET_CORPUS;
	p.path = at("corpus");
	p.noise_dir = at("noise-long");
	dn_dataset *d = NULL;
	CHECK_RC(dn_dataset_open(&p, &d, &err), DN_OK);
	int seen[DN_NOISE_NKINDS] = {0};
	size_t offsets[64], noff = 0;
	for (uint64_t e = 0; d && e < 80; e++) {
		dn_dataset_item it;
		if (dn_dataset_load(d, 0, e, &it, &err) != DN_OK)
			break;
		seen[it.noise_kind]++;
		if (it.noise_kind == DN_NOISE_FILE && noff < 64) {
			const size_t m = 512;
			float r[512];
			for (size_t t = 0; t < m; t++)
				r[t] = it.noisy[t] - it.clean[t];
			double best = 0;
			size_t at_best = 0;
			for (size_t o = 0; o + m <= nl; o++) {
				double c = ncorr(r, lng + o, m);
				if (c > best) {
					best = c;
					at_best = o;
				}
			}
			if (best > 0.99) /* not an excerpt across the cross-faded loop point */
				offsets[noff++] = at_best;
		}
		dn_dataset_item_free(&it);
	}
	for (int k = 0; k < DN_NOISE_NKINDS; k++)
		CHECK_MSG(seen[k] > 5, "kind %s drawn %d times in 80", dn_noise_kind_name(k), seen[k]);
	size_t distinct = 0;
	for (size_t i = 0; i < noff; i++) {
		int dup = 0;
		for (size_t j = 0; j < i; j++)
			dup |= offsets[j] == offsets[i];
		distinct += !dup;
	}
	CHECK_MSG(noff >= 5 && distinct >= noff - 1, "%zu excerpts found, %zu distinct offsets", noff, distinct);
	dn_dataset_destroy(d);

	/* A recording shorter than the item repeats with its loop's period. */
	dn_noise_source *src = NULL;
	CHECK_RC(dn_noise_source_open(at("noise-short/short.wav"), RATE, &src, &err), DN_OK);
	size_t L = src ? dn_noise_source_length(src) : 0;
	dn_noise_source_destroy(src);
	p.noise_dir = at("noise-short");
	p.noise_kinds = 0; /* recordings only */
	d = NULL;
	CHECK_RC(dn_dataset_open(&p, &d, &err), DN_OK);
	dn_dataset_item it;
	if (d && L > 0 && dn_dataset_load(d, 0, 3, &it, &err) == DN_OK) {
		CHECK(it.noise_kind == DN_NOISE_FILE && it.n > 2 * L);
		float *r = malloc(it.n * sizeof *r);
		for (size_t t = 0; t < it.n; t++)
			r[t] = it.noisy[t] - it.clean[t];
		CHECK_MSG(ncorr(r, r + L, it.n - L) > 0.999, "period %zu: corr %.4f", L, ncorr(r, r + L, it.n - L));
		CHECK(ncorr(r, r + L / 2, it.n - L) < 0.5);
		free(r);
		dn_dataset_item_free(&it);
	}
	dn_dataset_destroy(d);
	free(lng);
	free(shrt);
}

int main(void)
{
	snprintf(root, sizeof root, "/tmp/dn-test-dataset-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_names();
	test_folder();
	test_valentini();
	test_corpus();
	test_guess_and_sources();
	test_augment_params();
	test_augment_band_and_tilt();
	test_augment_room();
	test_augment_level_clip_determinism();
	test_augment_dataset();
	test_noise_files();
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_status();
}
