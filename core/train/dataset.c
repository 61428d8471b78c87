/*
 * dataset.c — folder, Valentini and corpus data sets (see dataset.h).
 *
 * Opening lists files and decides the split once; loading reads one item
 * and, for clean-only data, noises it from a dn_rng seeded by (seed, epoch,
 * index). A data set can be shared by loader threads: after opening, the
 * only thing that changes is the cache of decoded clean audio
 * (p.cache_bytes, filled first come first kept under a mutex until full),
 * which spares decoding a compressed file again each epoch.
 */
#include "core/train/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/train/augment.h"
#include "core/train/data_io.h"
#include "core/audio/noise.h"
#include "core/util/rng.h"

#define MAX_DEPTH 8
/* Mixed into the seed for augmentation's generator ("augment"). */
#define AUGMENT_STREAM 0x6175676d656e74ULL

struct dn_dataset {
	dn_dataset_params p;
	char *path, *noise_dir; /* owned copies of p.path, p.noise_dir */
	dn_dataset_entry *items;
	size_t n, cap;
	int kinds[DN_NOISE_NKINDS]; /* the kinds in p.noise_kinds, in order */
	int nkinds;
	dn_noise_source **noises;
	size_t nnoises;
	dn_augment_params aug; /* p.augment resolved */
	int aug_on;
	/* The clean audio of items, decoded (p.cache_bytes > 0). */
	pthread_mutex_t cache_mu;
	float **cache_x;
	size_t *cache_n;
	size_t cache_used;
};

const char *dn_dataset_kind_name(int kind)
{
	static const char *const names[] = {"folder", "valentini", "corpus"};
	return kind >= 0 && kind < 3 ? names[kind] : NULL;
}

int dn_dataset_kind_parse(const char *name)
{
	for (int k = 0; k < 3; k++)
		if (name && strcasecmp(name, dn_dataset_kind_name(k)) == 0)
			return k;
	return -1;
}

int dn_dataset_kind_guess(const char *path)
{
	char manifest[4096];
	struct stat st;
	DIR *d;
	struct dirent *e;
	int paired = 0;

	if ((size_t)snprintf(manifest, sizeof manifest, "%s/manifest.tsv", path) < sizeof manifest &&
	    stat(manifest, &st) == 0)
		return DN_DATASET_CORPUS;
	if ((d = opendir(path))) {
		while (!paired && (e = readdir(d)))
			paired = !strncmp(e->d_name, "clean_", 6) && strstr(e->d_name, "_wav") != NULL;
		closedir(d);
	}
	return paired ? DN_DATASET_VALENTINI : DN_DATASET_FOLDER;
}

const char *dn_split_name(int split)
{
	static const char *const names[] = {"train", "valid", "test", "all"};
	return split >= 0 && split < 4 ? names[split] : NULL;
}

int dn_split_parse(const char *name)
{
	if (name && strcasecmp(name, "validation") == 0)
		return DN_SPLIT_VALID;
	for (int k = 0; k < 4; k++)
		if (name && strcasecmp(name, dn_split_name(k)) == 0)
			return k;
	return -1;
}

dn_dataset_params dn_dataset_default_params(void)
{
	dn_dataset_params p;
	memset(&p, 0, sizeof p);
	p.kind = DN_DATASET_FOLDER;
	p.split = DN_SPLIT_TRAIN;
	p.rate = 16000;
	p.snr_min_db = -5.0;
	p.snr_max_db = 20.0;
	p.noise_kinds = (1u << DN_NOISE_WHITE) | (1u << DN_NOISE_PINK) | (1u << DN_NOISE_BROWN);
	p.seed = 1;
	p.valid_fraction = 0.1;
	p.test_fraction = 0.1;
	p.max_seconds = 60.0;
	p.augment = dn_augment_default_params();
	return p;
}

/* ---- string lists ---- */

typedef struct strlist {
	char **v;
	size_t n, cap;
} strlist;

static int strlist_add(strlist *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return DN_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(s)))
		return DN_ENOMEM;
	l->n++;
	return DN_OK;
}

static void strlist_free(strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 2);
	if (s) {
		memcpy(s, a, la);
		s[la] = '/';
		memcpy(s + la + 1, b, lb + 1);
	}
	return s;
}

static int is_audio_name(const char *name)
{
	static const char *const ext[] = {".wav", ".flac", ".ogg", ".opus", ".aif", ".aiff", ".au", ".w64"};
	const char *dot = strrchr(name, '.');
	if (!dot || name[0] == '.')
		return 0;
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
		if (strcasecmp(dot, ext[i]) == 0)
			return 1;
	return 0;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends the audio files under root/rel (relative paths "rel/name") to
 * out, recursing when `recurse`. */
static int walk(const char *root, const char *rel, int depth, int recurse, strlist *out, dn_error *err)
{
	char *dir = rel[0] ? join(root, rel) : strdup(root);
	if (!dir)
		return dn_error_set(err, DN_ENOMEM, "no memory");
	DIR *d = opendir(dir);
	if (!d) {
		int e = errno;
		int rc = dn_error_set(err, e == ENOENT || e == ENOTDIR ? DN_ENOTFOUND : DN_EIO,
		                      "%s: cannot list: %s", dir, strerror(e));
		free(dir);
		return rc;
	}
	int rc = DN_OK;
	struct dirent *de;
	while (rc == DN_OK && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *r = rel[0] ? join(rel, de->d_name) : strdup(de->d_name);
		char *full = r ? join(root, r) : NULL;
		if (!r || !full) {
			rc = dn_error_set(err, DN_ENOMEM, "no memory");
		} else if (is_dir(full)) {
			if (recurse && depth < MAX_DEPTH)
				rc = walk(root, r, depth + 1, recurse, out, err);
		} else if (is_audio_name(de->d_name)) {
			if (strlist_add(out, r))
				rc = dn_error_set(err, DN_ENOMEM, "no memory");
		}
		free(r);
		free(full);
	}
	closedir(d);
	free(dir);
	return rc;
}

/* ---- items ---- */

static int add_item(dn_dataset *d, const char *clean, const char *noisy, const char *group, int sentence)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		dn_dataset_entry *v = realloc(d->items, cap * sizeof *v);
		if (!v)
			return DN_ENOMEM;
		d->items = v;
		d->cap = cap;
	}
	dn_dataset_entry *e = &d->items[d->n];
	e->clean = strdup(clean);
	e->noisy = noisy ? strdup(noisy) : NULL;
	e->group = strdup(group);
	e->sentence = sentence;
	if (!e->clean || !e->group || (noisy && !e->noisy)) {
		free((char *)e->clean);
		free((char *)e->noisy);
		free((char *)e->group);
		return DN_ENOMEM;
	}
	d->n++;
	return DN_OK;
}

/* The speaker of a relative path: its first folder, else the file name up
 * to the first '_', else the name without its extension. */
static void group_of(const char *rel, char *g, size_t cap)
{
	const char *slash = strchr(rel, '/');
	size_t len;
	if (slash) {
		len = (size_t)(slash - rel);
	} else {
		const char *us = strchr(rel, '_');
		const char *dot = strrchr(rel, '.');
		len = us ? (size_t)(us - rel) : dot ? (size_t)(dot - rel) : strlen(rel);
		if (len == 0)
			len = dot ? (size_t)(dot - rel) : strlen(rel);
	}
	if (len >= cap)
		len = cap - 1;
	memcpy(g, rel, len);
	g[len] = '\0';
}

/* A fixed, seed-independent hash of a group name (FNV-1a, then mixed). */
static uint64_t name_hash(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
	return dn_splitmix64(&h);
}

typedef struct ranked {
	uint64_t h;
	const char *name;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
	const ranked *x = a, *y = b;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return strcmp(x->name, y->name);
}

static size_t portion(size_t n, double f)
{
	if (f <= 0.0 || n == 0)
		return 0;
	size_t k = (size_t)llround((double)n * f);
	return k < 1 ? 1 : k;
}

/* The split of each of the distinct sorted `groups`, into splits[]: ranked
 * by hash, the first nv are validation, the next nt test, the rest
 * training. */
static int assign_splits(const strlist *groups, double fv, double ft, int *splits)
{
	size_t n = groups->n;
	ranked *r = malloc((n ? n : 1) * sizeof *r);
	if (!r)
		return DN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r[i].h = name_hash(groups->v[i]);
		r[i].name = groups->v[i];
	}
	if (n > 1)
		qsort(r, n, sizeof *r, cmp_ranked);
	size_t nv = portion(n, fv), nt = portion(n, ft);
	for (size_t i = 0; i < n; i++) {
		char *const *at = bsearch(&r[i].name, groups->v, n, sizeof *groups->v, cmp_str);
		splits[at - groups->v] = i < nv        ? DN_SPLIT_VALID
		                         : i < nv + nt ? DN_SPLIT_TEST
		                                       : DN_SPLIT_TRAIN;
	}
	free(r);
	return DN_OK;
}

/* Distinct groups of a list of relative paths, sorted. */
static int groups_of(const strlist *files, int per_file, strlist *groups)
{
	for (size_t i = 0; i < files->n; i++) {
		char g[256];
		if (per_file)
			snprintf(g, sizeof g, "%s", files->v[i]);
		else
			group_of(files->v[i], g, sizeof g);
		if (strlist_add(groups, g))
			return DN_ENOMEM;
	}
	if (groups->n > 1)
		qsort(groups->v, groups->n, sizeof *groups->v, cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < groups->n; i++) {
		if (k > 0 && strcmp(groups->v[k - 1], groups->v[i]) == 0) {
			free(groups->v[i]);
			continue;
		}
		groups->v[k++] = groups->v[i];
	}
	groups->n = k;
	return DN_OK;
}

/* Adds the files of one folder whose group falls in `want` (or all). With
 * `noisy_dir`, each file must have a namesake there and vice versa. */
static int add_files(dn_dataset *d, const char *dir, const strlist *files, const char *noisy_dir, int want,
                     double fv, double ft, dn_error *err)
{
	strlist groups = {0};
	int rc = DN_OK;
	if (groups_of(files, 0, &groups))
		rc = dn_error_set(err, DN_ENOMEM, "no memory");
	int per_file = 0;
	if (rc == DN_OK && groups.n < 3 && !noisy_dir) { /* too few speakers: split by file */
		strlist_free(&groups);
		per_file = 1;
		if (groups_of(files, 1, &groups))
			rc = dn_error_set(err, DN_ENOMEM, "no memory");
	}
	int *splits = rc == DN_OK ? malloc((groups.n ? groups.n : 1) * sizeof *splits) : NULL;
	if (rc == DN_OK && (!splits || assign_splits(&groups, fv, ft, splits)))
		rc = dn_error_set(err, DN_ENOMEM, "no memory");
	for (size_t i = 0; rc == DN_OK && i < files->n; i++) {
		char g[256];
		if (per_file)
			snprintf(g, sizeof g, "%s", files->v[i]);
		else
			group_of(files->v[i], g, sizeof g);
		const char *key = g;
		char *const *at = bsearch(&key, groups.v, groups.n, sizeof *groups.v, cmp_str);
		if (want != DN_SPLIT_ALL && (!at || splits[at - groups.v] != want))
			continue;
		char *clean = join(dir, files->v[i]);
		char *noisy = noisy_dir ? join(noisy_dir, files->v[i]) : NULL;
		if (!clean || (noisy_dir && !noisy) || add_item(d, clean, noisy, g, -1))
			rc = dn_error_set(err, DN_ENOMEM, "no memory");
		free(clean);
		free(noisy);
	}
	free(splits);
	strlist_free(&groups);
	return rc;
}

static int open_folder(dn_dataset *d, dn_error *err)
{
	strlist files = {0};
	int rc = walk(d->path, "", 0, 1, &files, err);
	if (rc == DN_OK && files.n == 0)
		rc = dn_error_set(err, DN_ENOTFOUND, "%s: no audio files (.wav, .flac, ...) found", d->path);
	if (rc == DN_OK) {
		if (files.n > 1)
			qsort(files.v, files.n, sizeof *files.v, cmp_str);
		rc = add_files(d, d->path, &files, NULL, d->p.split, d->p.valid_fraction, d->p.test_fraction,
		               err);
	}
	strlist_free(&files);
	return rc;
}

/* Checks that two sorted name lists are equal, naming the first odd one. */
static int check_pairs(const char *cdir, const strlist *c, const char *ndir, const strlist *n, dn_error *err)
{
	size_t i = 0, j = 0;
	while (i < c->n || j < n->n) {
		int k = i == c->n ? 1 : j == n->n ? -1 : strcmp(c->v[i], n->v[j]);
		if (k < 0)
			return dn_error_set(err, DN_EFORMAT,
			                    "%s/%s has no namesake in %s (%zu clean, %zu noisy files)", cdir,
			                    c->v[i], ndir, c->n, n->n);
		if (k > 0)
			return dn_error_set(err, DN_EFORMAT,
			                    "%s/%s has no namesake in %s (%zu clean, %zu noisy files)", ndir,
			                    n->v[j], cdir, c->n, n->n);
		i++;
		j++;
	}
	return DN_OK;
}

static int open_valentini(dn_dataset *d, dn_error *err)
{
	DIR *dir = opendir(d->path);
	if (!dir) {
		int e = errno;
		return dn_error_set(err, e == ENOENT || e == ENOTDIR ? DN_ENOTFOUND : DN_EIO,
		                    "%s: cannot list: %s", d->path, strerror(e));
	}
	strlist cleans = {0};
	int rc = DN_OK;
	struct dirent *de;
	while (rc == DN_OK && (de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		if (len > 10 && strncmp(de->d_name, "clean_", 6) == 0 &&
		    strcmp(de->d_name + len - 4, "_wav") == 0)
			if (strlist_add(&cleans, de->d_name))
				rc = dn_error_set(err, DN_ENOMEM, "no memory");
	}
	closedir(dir);
	if (rc == DN_OK && cleans.n == 0)
		rc = dn_error_set(
		    err, DN_ENOTFOUND,
		    "%s: no clean_*_wav folder (the Valentini layout has clean_trainset_28spk_wav/ "
		    "beside noisy_trainset_28spk_wav/, and so on)",
		    d->path);
	if (cleans.n > 1)
		qsort(cleans.v, cleans.n, sizeof *cleans.v, cmp_str);
	for (size_t k = 0; rc == DN_OK && k < cleans.n; k++) {
		const char *name = cleans.v[k];
		int is_test = strstr(name + 6, "test") != NULL;
		if (d->p.split == DN_SPLIT_TEST && !is_test)
			continue;
		if ((d->p.split == DN_SPLIT_TRAIN || d->p.split == DN_SPLIT_VALID) && is_test)
			continue;
		char noisy_name[512];
		snprintf(noisy_name, sizeof noisy_name, "noisy_%s", name + 6);
		char *cdir = join(d->path, name), *ndir = join(d->path, noisy_name);
		strlist cf = {0}, nf = {0};
		if (!cdir || !ndir)
			rc = dn_error_set(err, DN_ENOMEM, "no memory");
		else if (!is_dir(ndir))
			rc = dn_error_set(err, DN_ENOTFOUND, "%s has no noisy counterpart %s", cdir, ndir);
		if (rc == DN_OK)
			rc = walk(cdir, "", 0, 0, &cf, err);
		if (rc == DN_OK)
			rc = walk(ndir, "", 0, 0, &nf, err);
		if (rc == DN_OK) {
			if (cf.n > 1)
				qsort(cf.v, cf.n, sizeof *cf.v, cmp_str);
			if (nf.n > 1)
				qsort(nf.v, nf.n, sizeof *nf.v, cmp_str);
			rc = check_pairs(cdir, &cf, ndir, &nf, err);
		}
		if (rc == DN_OK) {
			/* the test folders are whole; training speakers lend some to validation */
			int want = is_test || d->p.split == DN_SPLIT_ALL ? DN_SPLIT_ALL : d->p.split;
			rc = add_files(d, cdir, &cf, ndir, want, d->p.valid_fraction, 0.0, err);
		}
		strlist_free(&cf);
		strlist_free(&nf);
		free(cdir);
		free(ndir);
	}
	strlist_free(&cleans);
	return rc;
}

/* Splits a line at tabs in place; returns the number of fields (<= max). */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++) {
		if (*p == '\t') {
			*p = '\0';
			f[n++] = p + 1;
		}
	}
	return n;
}

static int open_corpus(dn_dataset *d, dn_error *err)
{
	char *mpath = join(d->path, "manifest.tsv");
	if (!mpath)
		return dn_error_set(err, DN_ENOMEM, "no memory");
	FILE *f = fopen(mpath, "r");
	if (!f) {
		int e = errno;
		int rc = dn_error_set(err, e == ENOENT ? DN_ENOTFOUND : DN_EIO,
		                      "%s: %s (make the corpus with scripts/make-speech-corpus.py --out %s)",
		                      mpath, strerror(e), d->path);
		free(mpath);
		return rc;
	}
	int rc = DN_OK;
	char line[4096];
	int col[4] = {-1, -1, -1, -1}; /* split, voice, sentence_id, path */
	static const char *const want[4] = {"split", "voice", "sentence_id", "path"};
	long lineno = 0;
	while (rc == DN_OK && fgets(line, sizeof line, f)) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			rc = dn_error_set(err, DN_EFORMAT, "%s:%ld: line too long", mpath, lineno);
			break;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		char *fld[32];
		int nf = split_tabs(line, fld, 32);
		if (lineno == 1) {
			for (int i = 0; i < nf; i++)
				for (int k = 0; k < 4; k++)
					if (strcmp(fld[i], want[k]) == 0)
						col[k] = i;
			for (int k = 0; k < 4 && rc == DN_OK; k++)
				if (col[k] < 0)
					rc = dn_error_set(err, DN_EFORMAT, "%s: header has no '%s' column",
					                  mpath, want[k]);
			continue;
		}
		int maxc = col[0];
		for (int k = 1; k < 4; k++)
			if (col[k] > maxc)
				maxc = col[k];
		if (nf <= maxc) {
			rc = dn_error_set(err, DN_EFORMAT, "%s:%ld: %d fields, expected at least %d", mpath,
			                  lineno, nf, maxc + 1);
			break;
		}
		int split = dn_split_parse(fld[col[0]]);
		char *end;
		long sid = strtol(fld[col[2]], &end, 10);
		if (split < 0 || split == DN_SPLIT_ALL || *end || end == fld[col[2]] || sid < 0 ||
		    sid > 1000000000L || !fld[col[1]][0] || !fld[col[3]][0]) {
			rc = dn_error_set(err, DN_EFORMAT, "%s:%ld: bad split, voice, sentence_id or path",
			                  mpath, lineno);
			break;
		}
		if (d->p.split != DN_SPLIT_ALL && split != d->p.split)
			continue;
		char *path = fld[col[3]][0] == '/' ? strdup(fld[col[3]]) : join(d->path, fld[col[3]]);
		if (!path) {
			rc = dn_error_set(err, DN_ENOMEM, "no memory");
			break;
		}
		struct stat st;
		if (stat(path, &st) != 0)
			rc = dn_error_set(err, DN_ENOTFOUND, "%s:%ld: %s is missing (remake the corpus)",
			                  mpath, lineno, path);
		else if (add_item(d, path, NULL, fld[col[1]], (int)sid))
			rc = dn_error_set(err, DN_ENOMEM, "no memory");
		free(path);
	}
	if (rc == DN_OK && ferror(f))
		rc = dn_error_set(err, DN_EIO, "%s: read error", mpath);
	if (rc == DN_OK && lineno == 0)
		rc = dn_error_set(err, DN_EFORMAT, "%s: empty manifest", mpath);
	fclose(f);
	free(mpath);
	return rc;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const dn_dataset_entry *)a)->clean, ((const dn_dataset_entry *)b)->clean);
}

static int load_noises(dn_dataset *d, dn_error *err)
{
	strlist files = {0};
	int rc = walk(d->noise_dir, "", 0, 1, &files, err);
	if (rc == DN_OK && files.n == 0)
		rc = dn_error_set(err, DN_ENOTFOUND, "%s: no noise recordings (.wav, .flac, ...) found",
		                  d->noise_dir);
	if (rc == DN_OK) {
		if (files.n > 1)
			qsort(files.v, files.n, sizeof *files.v, cmp_str);
		d->noises = calloc(files.n, sizeof *d->noises);
		if (!d->noises)
			rc = dn_error_set(err, DN_ENOMEM, "no memory");
	}
	for (size_t i = 0; rc == DN_OK && i < files.n; i++) {
		char *path = join(d->noise_dir, files.v[i]);
		if (!path)
			rc = dn_error_set(err, DN_ENOMEM, "no memory");
		else
			rc = dn_noise_source_open(path, d->p.rate, &d->noises[d->nnoises], err);
		if (rc == DN_OK)
			d->nnoises++;
		free(path);
	}
	strlist_free(&files);
	return rc;
}

static int check_params(const dn_dataset_params *p, dn_error *err)
{
	if (!dn_dataset_kind_name(p->kind))
		return dn_error_set(err, DN_EINVAL, "unknown data set kind %d (folder, valentini or corpus)",
		                    p->kind);
	if (!p->path || !p->path[0])
		return dn_error_set(err, DN_EINVAL, "no data set path given");
	if (!dn_split_name(p->split))
		return dn_error_set(err, DN_EINVAL, "unknown split %d (train, valid, test or all)", p->split);
	if (p->rate < 1000 || p->rate > 384000)
		return dn_error_set(err, DN_EINVAL, "rate %d Hz is outside 1000..384000", p->rate);
	if (!isfinite(p->snr_min_db) || !isfinite(p->snr_max_db) || p->snr_min_db > p->snr_max_db ||
	    p->snr_min_db < -50.0 || p->snr_max_db > 100.0)
		return dn_error_set(err, DN_EINVAL,
		                    "SNR range %g..%g dB must be ordered and within -50..100 dB",
		                    p->snr_min_db, p->snr_max_db);
	unsigned kinds = p->noise_kinds | (p->noise_dir ? 1u << DN_NOISE_FILE : 0u);
	if (kinds == 0 || kinds >> DN_NOISE_NKINDS)
		return dn_error_set(err, DN_EINVAL,
		                    "noise kinds mask 0x%x: choose among white, pink, brown, file",
		                    p->noise_kinds);
	if ((kinds & (1u << DN_NOISE_FILE)) && !p->noise_dir)
		return dn_error_set(err, DN_EINVAL,
		                    "noise kind 'file' needs a folder of noise recordings (noise_dir)");
	if (!(p->valid_fraction >= 0.0 && p->test_fraction >= 0.0 &&
	      p->valid_fraction + p->test_fraction < 1.0))
		return dn_error_set(err, DN_EINVAL,
		                    "validation and test fractions %g, %g must be >= 0 and sum below 1",
		                    p->valid_fraction, p->test_fraction);
	if (!(p->max_seconds > 0.0) || !(p->crop_seconds >= 0.0))
		return dn_error_set(err, DN_EINVAL, "max_seconds must be > 0 and crop_seconds >= 0");
	return dn_augment_check(&p->augment, err);
}

int dn_dataset_open(const dn_dataset_params *p, dn_dataset **out, dn_error *err)
{
	*out = NULL;
	int rc = check_params(p, err);
	if (rc)
		return rc;
	dn_dataset *d = calloc(1, sizeof *d);
	if (!d)
		return dn_error_set(err, DN_ENOMEM, "no memory");
	d->p = *p;
	pthread_mutex_init(&d->cache_mu, NULL);
	d->path = strdup(p->path);
	d->noise_dir = p->noise_dir ? strdup(p->noise_dir) : NULL;
	if (!d->path || (p->noise_dir && !d->noise_dir)) {
		dn_dataset_destroy(d);
		return dn_error_set(err, DN_ENOMEM, "no memory");
	}
	d->p.path = d->path;
	d->p.noise_dir = d->noise_dir;
	d->aug = dn_augment_resolve(&p->augment);
	d->aug_on = dn_augment_active(&d->aug);
	if (d->noise_dir)
		d->p.noise_kinds |= 1u << DN_NOISE_FILE;
	for (int k = 0; k < DN_NOISE_NKINDS; k++)
		if (d->p.noise_kinds & (1u << k))
			d->kinds[d->nkinds++] = k;
	size_t len = strlen(d->path);
	while (len > 1 && d->path[len - 1] == '/')
		d->path[--len] = '\0';
	if (!is_dir(d->path))
		rc = dn_error_set(err, DN_ENOTFOUND, "%s: no such folder", d->path);
	else if (p->kind == DN_DATASET_FOLDER)
		rc = open_folder(d, err);
	else if (p->kind == DN_DATASET_VALENTINI)
		rc = open_valentini(d, err);
	else
		rc = open_corpus(d, err);
	if (rc == DN_OK && d->n == 0)
		rc = dn_error_set(err, DN_ENOTFOUND, "%s: no items in the %s split", d->path,
		                  dn_split_name(p->split));
	if (rc == DN_OK && d->noise_dir && p->kind != DN_DATASET_VALENTINI)
		rc = load_noises(d, err);
	if (rc) {
		dn_dataset_destroy(d);
		return rc;
	}
	if (d->n > 1)
		qsort(d->items, d->n, sizeof *d->items, cmp_entry);
	if (p->cache_bytes && (!(d->cache_x = calloc(d->n, sizeof *d->cache_x)) ||
	                       !(d->cache_n = calloc(d->n, sizeof *d->cache_n)))) {
		dn_dataset_destroy(d);
		return dn_error_set(err, DN_ENOMEM, "no memory");
	}
	*out = d;
	return DN_OK;
}

void dn_dataset_destroy(dn_dataset *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free((char *)d->items[i].clean);
		free((char *)d->items[i].noisy);
		free((char *)d->items[i].group);
	}
	free(d->items);
	if (d->cache_x)
		for (size_t i = 0; i < d->n; i++)
			free(d->cache_x[i]);
	free(d->cache_x);
	free(d->cache_n);
	pthread_mutex_destroy(&d->cache_mu);
	for (size_t i = 0; i < d->nnoises; i++)
		dn_noise_source_destroy(d->noises[i]);
	free(d->noises);
	free(d->path);
	free(d->noise_dir);
	free(d);
}

size_t dn_dataset_count(const dn_dataset *d)
{
	return d->n;
}

const dn_dataset_entry *dn_dataset_entry_at(const dn_dataset *d, size_t i)
{
	return i < d->n ? &d->items[i] : NULL;
}

const dn_dataset_params *dn_dataset_params_of(const dn_dataset *d)
{
	return &d->p;
}

const dn_noise_source *const *dn_dataset_noises(const dn_dataset *d, size_t *n)
{
	*n = d->nnoises;
	return d->nnoises ? (const dn_noise_source *const *)d->noises : NULL;
}

void dn_dataset_item_free(dn_dataset_item *it)
{
	if (it) {
		free(it->clean);
		free(it->noisy);
		memset(it, 0, sizeof *it);
	}
}

/* ---- adapters to the training and evaluation sources ---- */

static size_t src_count(void *ctx)
{
	return dn_dataset_count(ctx);
}

static int src_pair(void *ctx, size_t i, uint64_t epoch, float **clean, float **noisy, size_t *n,
                    dn_error *err)
{
	dn_dataset_item it;
	int rc = dn_dataset_load(ctx, i, epoch, &it, err);

	if (rc)
		return rc;
	*clean = it.clean;
	*noisy = it.noisy;
	*n = it.n;
	return DN_OK;
}

/* Evaluation makes its own noise, so it wants the clean speech as recorded:
 * the mix's anti-clipping gain is undone and the noisy side dropped. */
static int src_clean(void *ctx, size_t i, float **clean, size_t *n, dn_error *err)
{
	dn_dataset_item it;
	int rc = dn_dataset_load(ctx, i, 0, &it, err);

	if (rc)
		return rc;
	if (it.gain > 0.0f && it.gain != 1.0f)
		for (size_t k = 0; k < it.n; k++)
			it.clean[k] /= it.gain;
	*clean = it.clean;
	*n = it.n;
	it.clean = NULL;
	dn_dataset_item_free(&it);
	return DN_OK;
}

static const char *src_name(void *ctx, size_t i)
{
	const char *p = dn_dataset_entry_at(ctx, i)->clean, *slash = strrchr(p, '/');

	return slash ? slash + 1 : p;
}

dn_pair_source dn_dataset_pair_source(dn_dataset *d)
{
	return (dn_pair_source){.ctx = d, .count = src_count, .load = src_pair};
}

dn_clean_source dn_dataset_clean_source(dn_dataset *d)
{
	return (dn_clean_source){.ctx = d, .count = src_count, .load = src_clean, .name = src_name};
}

/* Keeps x[off .. off+len) of x[0..n): memmove to the front. */
static void crop(float *x, size_t off, size_t len)
{
	if (off)
		memmove(x, x + off, len * sizeof *x);
}

/* Item i's clean audio at the data set's rate, from the cache or decoded
 * (and then kept while the cache has room); the caller owns *x. */
static int read_clean(const dn_dataset *d, size_t i, float **x, size_t *n, dn_error *err)
{
	dn_dataset *m = (dn_dataset *)d; /* the cache is the one mutable part */
	if (d->cache_x) {
		pthread_mutex_lock(&m->cache_mu);
		if (d->cache_x[i]) {
			*n = d->cache_n[i];
			*x = malloc((*n ? *n : 1) * sizeof **x);
			if (*x)
				memcpy(*x, d->cache_x[i], *n * sizeof **x);
			pthread_mutex_unlock(&m->cache_mu);
			return *x ? DN_OK : dn_error_set(err, DN_ENOMEM, "no memory for %zu samples", *n);
		}
		pthread_mutex_unlock(&m->cache_mu);
	}
	int rc = dn_data_read_mono(d->items[i].clean, d->p.rate, d->p.max_seconds, x, n, err);
	if (rc || !d->cache_x || *n == 0)
		return rc;
	const size_t bytes = *n * sizeof **x;
	pthread_mutex_lock(&m->cache_mu);
	if (!d->cache_x[i] && d->cache_used + bytes <= d->p.cache_bytes) {
		float *c = malloc(bytes);
		if (c) {
			memcpy(c, *x, bytes);
			m->cache_x[i] = c;
			m->cache_n[i] = *n;
			m->cache_used += bytes;
		}
	}
	pthread_mutex_unlock(&m->cache_mu);
	return DN_OK;
}

int dn_dataset_load(const dn_dataset *d, size_t i, uint64_t epoch, dn_dataset_item *it, dn_error *err)
{
	memset(it, 0, sizeof *it);
	if (i >= d->n)
		return dn_error_set(err, DN_EINVAL, "item %zu out of range (%zu items)", i, d->n);
	const dn_dataset_entry *e = &d->items[i];
	dn_rng rng;
	dn_rng_seed3(&rng, d->p.seed, epoch, i);
	float *clean = NULL, *noisy = NULL;
	size_t n = 0, nn = 0;
	int rc = read_clean(d, i, &clean, &n, err);
	if (rc == DN_OK && e->noisy) {
		rc = dn_data_read_mono(e->noisy, d->p.rate, d->p.max_seconds, &noisy, &nn, err);
		if (rc == DN_OK && nn != n)
			rc = dn_error_set(err, DN_EFORMAT, "%s has %zu samples but %s has %zu: not a pair",
			                  e->clean, n, e->noisy, nn);
	}
	if (rc)
		goto fail;
	size_t keep = n;
	if (d->p.crop_seconds > 0.0) {
		size_t c = (size_t)(d->p.crop_seconds * d->p.rate);
		if (c > 0 && c < n) {
			size_t off = (size_t)dn_rng_below(&rng, n - c + 1);
			crop(clean, off, c);
			if (noisy)
				crop(noisy, off, c);
			keep = c;
		}
	}
	it->rate = d->p.rate;
	it->n = keep;
	if (noisy) {
		it->snr_db = dn_snr_db(clean, noisy, keep);
		it->noise_kind = -1;
		it->gain = 1.0f;
	} else {
		double snr = dn_rng_range(&rng, d->p.snr_min_db, d->p.snr_max_db);
		int kind = d->kinds[dn_rng_below(&rng, (uint64_t)d->nkinds)];
		dn_rng arng; /* augmentation's own stream: see dataset.h */
		float *side = NULL;
		dn_rng_seed3(&arng, d->p.seed ^ AUGMENT_STREAM, epoch, i);
		noisy = malloc((keep ? keep : 1) * sizeof *noisy);
		if (!noisy) {
			rc = dn_error_set(err, DN_ENOMEM, "no memory for %zu samples", keep);
			goto fail;
		}
		if (d->aug_on)
			rc = dn_augment_speech(&d->aug, d->p.rate, &arng, clean, keep, &side, NULL, err);
		if (rc == DN_OK && kind == DN_NOISE_FILE)
			dn_noise_source_fill(d->noises[dn_rng_below(&rng, d->nnoises)], &rng, noisy, keep);
		else if (rc == DN_OK)
			rc = dn_noise_generate(kind, d->p.rate, &rng, noisy, keep, err);
		float gain = 1.0f;
		if (rc == DN_OK)
			rc = dn_mix_at_snr(side ? side : clean, noisy, keep, snr, noisy, &gain, err);
		free(side);
		if (rc == DN_OK && d->aug_on)
			dn_augment_clip(&d->aug, &arng, noisy, keep, NULL);
		if (rc) {
			char msg[DN_ERROR_MSG_MAX];
			if (err) {
				snprintf(msg, sizeof msg, "%s", err->msg);
				dn_error_set(err, rc, "%s: %s", e->clean, msg);
			}
			goto fail;
		}
		if (gain != 1.0f)
			for (size_t k = 0; k < keep; k++)
				clean[k] *= gain;
		it->snr_db = snr;
		it->noise_kind = kind;
		it->gain = gain;
	}
	it->clean = clean;
	it->noisy = noisy;
	return DN_OK;
fail:
	free(clean);
	free(noisy);
	memset(it, 0, sizeof *it);
	return rc;
}
