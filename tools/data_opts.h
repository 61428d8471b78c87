/*
 * data_opts.h — the dataset options that `denoise train` and `denoise eval`
 * share (--data, --dataset, --split, --snr, --noise, --noise-dir, --crop,
 * --cache-mb),
 * parsed into dn_dataset_params.
 */
#ifndef DN_TOOLS_DATA_OPTS_H
#define DN_TOOLS_DATA_OPTS_H

#include "core/train/dataset.h"

#define DATA_OPTS_HELP                                                                                       \
	"  --data DIR            the data set: a corpus made by scripts/make-speech-corpus.py (default\n"    \
	"                        data/speech), a folder of clean speech, or a Valentini root\n"              \
	"  --dataset KIND        corpus | folder | valentini (default: corpus if DIR/manifest.tsv exists,\n" \
	"                        valentini if DIR holds clean_*_wav folders, else folder)\n"                 \
	"  --snr MIN:MAX         SNR range in dB for noise added on the fly (default -5:20)\n"               \
	"  --noise LIST          noise kinds: white,pink,brown[,file] (default white,pink,brown)\n"          \
	"  --noise-dir DIR       noise recordings (adds 'file' to the kinds)\n"                              \
	"  --crop SECONDS        use a random excerpt of at most this length per file\n"                     \
	"  --cache-mb MIB        decoded clean audio kept in memory per split, at most (default 2048;\n"   \
	"                        0: decode every time)\n"

/* The default of --cache-mb: a split of 3.5 hours at 16 kHz is 800 MiB. */
#define DATA_OPTS_CACHE_MB ((size_t)2048)

/* If argv[*i] is a dataset option, consumes it (and its value) into p and
 * returns 1; 0 if it is not one; -1 after printing a message naming a bad
 * value. */
int data_opts_parse(int argc, char **argv, int *i, dn_dataset_params *p, const char *cmd);
/* Fills in the kind when --dataset was not given (from the folder's layout). */
void data_opts_guess_kind(dn_dataset_params *p, int kind_given);

#endif
