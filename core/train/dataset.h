/*
 * dataset.h — speech data sets for training and evaluation: pairs of
 * (clean, noisy) mono float signals at one rate.
 *
 * Three layouts:
 *  - DN_DATASET_FOLDER: a folder (searched recursively) of clean speech
 *    files, noised on the fly;
 *  - DN_DATASET_VALENTINI: paired folders as in Valentini-Botinhao et al.
 *    (2016): clean_NAME_wav/ and noisy_NAME_wav/ side by side, with the same
 *    file names (clean_trainset_28spk_wav/, noisy_trainset_28spk_wav/,
 *    clean_testset_wav/, noisy_testset_wav/); used as they are;
 *  - DN_DATASET_CORPUS: the built-in corpus of scripts/make-speech-corpus.py
 *    (a folder with manifest.tsv), noised on the fly.
 *
 * Splits are disjoint by speaker. In a folder, a speaker is the first
 * sub-folder of a file, or for files at the top the part of the name before
 * its first '_' (p226_001.wav -> p226); with fewer than 3 speakers each file
 * is its own group. Groups are ordered by a fixed hash of their name (not by
 * the seed, so every seed sees the same splits) and the first ones go to
 * validation, the next to test. Valentini: test = the folders whose NAME
 * contains "test"; the others are training, less the validation speakers
 * picked the same way. Corpus: the manifest's split column (the script makes
 * voices and sentences disjoint across splits).
 *
 * Noising on the fly is a pure function of (seed, epoch, index): the SNR is
 * drawn uniformly from [snr_min_db, snr_max_db], the noise kind uniformly
 * from noise_kinds (and a recording uniformly from noise_dir for "file"), so
 * an epoch can be reproduced, and loaded in any order by any thread.
 *
 * Augmentation (augment.h; off unless p.augment asks for it, so evaluation
 * and existing runs are unchanged): after the crop, the clean speech of an
 * on-the-fly item gets its level, channel (phone band-pass, EQ tilt) and
 * room drawn, then noise is mixed at the drawn SNR into the reverberant
 * speech, then the mix may be clipped. The reference (clean) is the speech
 * after the same level and channel with only the room's first 50 ms: the
 * model is asked to remove noise and late reverberation, not to undo the
 * channel nor to bandwidth-extend. Its draws come from a second generator
 * seeded by (seed, epoch, index) too, so they do not move the SNR, noise
 * and crop draws: the same item with augmentation off is the same mix as
 * before. Paired (Valentini) data is never augmented.
 *
 * Files may be any format libsndfile reads, at any rate: channels are
 * averaged and the signal resampled to `rate`.
 */
#ifndef DN_DATASET_H
#define DN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/dn.h"
#include "core/train/augment.h"
#include "core/train/eval.h"
#include "core/train/train.h"

enum dn_dataset_kind { DN_DATASET_FOLDER = 0, DN_DATASET_VALENTINI = 1, DN_DATASET_CORPUS = 2 };
enum dn_split { DN_SPLIT_TRAIN = 0, DN_SPLIT_VALID = 1, DN_SPLIT_TEST = 2, DN_SPLIT_ALL = 3 };

/* "folder", "valentini", "corpus"; "train", "valid", "test", "all".
 * Parsers return -1 for an unknown name ("validation" is accepted too). */
const char *dn_dataset_kind_name(int kind);
int dn_dataset_kind_parse(const char *name);
/* The layout a folder has: DN_DATASET_CORPUS if it holds manifest.tsv,
 * DN_DATASET_VALENTINI if it holds clean_*_wav folders, else
 * DN_DATASET_FOLDER (also when it cannot be read: opening then says why). */
int dn_dataset_kind_guess(const char *path);
const char *dn_split_name(int split);
int dn_split_parse(const char *name);

typedef struct dn_dataset_params {
	int kind;
	const char *path; /* the folder, the Valentini root, or the corpus folder */
	int split;
	int rate;                      /* Hz, default 16000 */
	double snr_min_db, snr_max_db; /* on-the-fly SNR range, default -5 .. 20 */
	unsigned noise_kinds;          /* mask of 1u << DN_NOISE_*; default white|pink|brown */
	const char *noise_dir;         /* recordings for DN_NOISE_FILE (implies it); NULL: none */
	uint64_t seed;                 /* default 1 */
	double valid_fraction;         /* of speakers, default 0.1 (folder, Valentini training) */
	double test_fraction;          /* of speakers, default 0.1 (folder only) */
	double max_seconds;            /* longer files are refused, default 60 */
	double crop_seconds;           /* > 0: a random excerpt at most this long; default 0 (whole) */
	dn_augment_params augment;     /* default dn_augment_default_params(): none */
	size_t cache_bytes;            /* decoded clean audio kept in memory, at most; default 0 */
} dn_dataset_params;

dn_dataset_params dn_dataset_default_params(void);

typedef struct dn_dataset dn_dataset;

/* What one item is, for listing and for reports. Strings are owned by the
 * data set. */
typedef struct dn_dataset_entry {
	const char *clean; /* path of the clean file */
	const char *noisy; /* path of the noisy file (Valentini), else NULL */
	const char *group; /* speaker or voice: the unit of splitting */
	int sentence;      /* corpus sentence id, else -1 */
} dn_dataset_entry;

/* Lists the items of p->split. Errors (the message says what to change):
 * DN_EINVAL (bad parameters), DN_ENOTFOUND (a folder or listed file missing,
 * or no items in the split), DN_EFORMAT (Valentini names that do not pair,
 * a malformed manifest), DN_EIO, DN_ENOMEM, and those of noise recordings
 * (see dn_noise_source_open). Noise recordings are loaded here, once. The
 * strings in p are copied. */
int dn_dataset_open(const dn_dataset_params *p, dn_dataset **out, dn_error *err);
void dn_dataset_destroy(dn_dataset *d);

size_t dn_dataset_count(const dn_dataset *d);
/* Item i (< count), items sorted by clean path. */
const dn_dataset_entry *dn_dataset_entry_at(const dn_dataset *d, size_t i);
const dn_dataset_params *dn_dataset_params_of(const dn_dataset *d);
/* The noise recordings loaded from p.noise_dir (sorted by path), *n of them;
 * NULL and 0 without a noise folder. Owned by the data set. */
const dn_noise_source *const *dn_dataset_noises(const dn_dataset *d, size_t *n);

typedef struct dn_dataset_item {
	float *clean, *noisy; /* n samples each, malloc'd; dn_dataset_item_free */
	size_t n;
	int rate;
	double snr_db;  /* the SNR made (on the fly) or measured (paired) */
	int noise_kind; /* DN_NOISE_*, or -1 for paired data */
	float gain;     /* the mix's anti-clipping gain, already applied to clean */
} dn_dataset_item;

/* Loads item i for a training epoch: same (seed, epoch, i), same signals.
 * clean is the reference that matches noisy (scaled by the same gain).
 * Thread-safe: many threads may load from one data set at once. Errors of
 * reading (with the path), DN_EFORMAT when a Valentini pair differs in
 * length, DN_EINVAL when a clean file is silent (no SNR can be set). */
int dn_dataset_load(const dn_dataset *d, size_t i, uint64_t epoch, dn_dataset_item *it, dn_error *err);
void dn_dataset_item_free(dn_dataset_item *it);

/* Adapters to the sources that training and evaluation read: pairs for
 * epoch e; clean speech alone (the reference undone of the mix's gain) named
 * by file name. `d` is borrowed and must outlive the source. */
dn_pair_source dn_dataset_pair_source(dn_dataset *d);
dn_clean_source dn_dataset_clean_source(dn_dataset *d);

#endif
