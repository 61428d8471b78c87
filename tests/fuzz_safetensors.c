/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors reader (built and
 * run by tests/extra-fuzz.sh).
 *
 * Any input must either be refused with a code and a message, or give a file
 * whose every accessor works: each tensor found by name, decoded into a
 * buffer sized from its own shape (ASan catches a shape/size disagreement),
 * refused with DN_ESHAPE for a different shape, and the metadata readable.
 * Float32 tensors and the metadata are then written back with the writer and
 * re-read: the second file must hold the same bits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink; /* keeps the byte reads below */

static size_t elements(const dn_st_tensor *t)
{
	size_t n = 1;
	for (int d = 0; d < t->ndim; d++)
		n *= (size_t)t->shape[d]; /* cannot overflow: the parser checked */
	return n;
}

static void round_trip(const dn_st_file *f)
{
	dn_st_writer *w = dn_st_writer_create();
	if (!w)
		return;
	size_t nf = 0;
	for (size_t i = 0; i < dn_st_count(f); i++) {
		const dn_st_tensor *t = dn_st_at(f, i);
		if (t->dtype != DN_ST_F32)
			continue;
		size_t n = elements(t);
		float *x = malloc(n ? n * sizeof *x : 1);
		if (dn_st_get_f32(f, t->name, t->ndim, t->shape, x, NULL) != DN_OK ||
		    dn_st_writer_add_f32(w, t->name, t->ndim, t->shape, x, NULL) != DN_OK)
			abort();
		free(x);
		nf++;
	}
	for (size_t i = 0; i < dn_st_metadata_count(f); i++) {
		const char *k, *v;
		if (dn_st_metadata_at(f, i, &k, &v) != DN_OK ||
		    dn_st_writer_set_metadata(w, k, v, NULL) != DN_OK)
			abort();
	}
	void *bytes;
	size_t len;
	dn_error err;
	if (dn_st_writer_serialize(w, &bytes, &len, &err) != DN_OK) {
		if (err.code != DN_ELIMIT)
			abort();
		dn_st_writer_destroy(w);
		return;
	}
	dn_st_file *g;
	if (dn_st_parse(bytes, len, &g, &err) != DN_OK || dn_st_count(g) != nf ||
	    dn_st_metadata_count(g) != dn_st_metadata_count(f))
		abort();
	for (size_t i = 0; i < dn_st_count(g); i++) {
		const dn_st_tensor *b = dn_st_at(g, i), *a = dn_st_find(f, b->name);
		if (!a || a->nbytes != b->nbytes || memcmp(a->data, b->data, a->nbytes) != 0)
			abort();
	}
	for (size_t i = 0; i < dn_st_metadata_count(f); i++) {
		const char *k, *v, *v2;
		dn_st_metadata_at(f, i, &k, &v);
		v2 = dn_st_metadata(g, k);
		if (!v2 || strcmp(v, v2) != 0)
			abort();
	}
	dn_st_free(g);
	free(bytes);
	dn_st_writer_destroy(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dn_error err;
	dn_st_file *f = NULL;
	int rc = dn_st_parse(data, size, &f, &err);
	if (rc != DN_OK) {
		/* A refusal is one of the documented codes, with a message. */
		if (f || (rc != DN_EFORMAT && rc != DN_ELIMIT && rc != DN_ENOMEM) || err.code != rc ||
		    !err.msg[0])
			abort();
		return 0;
	}
	for (size_t i = 0; i < dn_st_count(f); i++) {
		const dn_st_tensor *t = dn_st_at(f, i);
		if (!t || dn_st_find(f, t->name) != t || t->ndim < 0 || t->ndim > DN_ST_MAX_DIMS)
			abort();
		size_t n = elements(t);
		float *x = malloc(n ? n * sizeof *x : 1);
		rc = dn_st_get_f32(f, t->name, t->ndim, t->shape, x, &err);
		int convertible = t->dtype == DN_ST_F32 || t->dtype == DN_ST_F16 || t->dtype == DN_ST_BF16 ||
		                  t->dtype == DN_ST_F64;
		if (rc != (convertible ? DN_OK : DN_EUNSUPPORTED))
			abort();
		/* Touch the tensor's bytes so ASan sees any out-of-bounds pointer. */
		for (size_t j = 0; j < t->nbytes; j++)
			sink += ((const unsigned char *)t->data)[j];
		int64_t other[DN_ST_MAX_DIMS + 1];
		for (int d = 0; d < t->ndim; d++)
			other[d] = t->shape[d];
		other[t->ndim] = 1;
		if (t->ndim < DN_ST_MAX_DIMS &&
		    dn_st_get_f32(f, t->name, t->ndim + 1, other, x, &err) != DN_ESHAPE)
			abort();
		free(x);
	}
	if (dn_st_at(f, dn_st_count(f)) != NULL)
		abort();
	for (size_t i = 0; i < dn_st_metadata_count(f); i++) {
		const char *k, *v;
		if (dn_st_metadata_at(f, i, &k, &v) != DN_OK || !k || !v)
			abort();
		/* Keys are unique (duplicates refused), so lookup finds this one. */
		if (dn_st_metadata(f, k) != v)
			abort();
	}
	round_trip(f);
	dn_st_free(f);
	return 0;
}
