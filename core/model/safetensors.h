/*
 * safetensors.h — reading and writing the safetensors format.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON (tensor name
 * -> {dtype, shape, data_offsets}, plus an optional "__metadata__" map of
 * string -> string), then the raw little-endian tensor bytes. Offsets are
 * relative to the end of the header.
 *
 * The reader validates everything before it hands anything out: header length
 * against the file size and DN_ST_MAX_HEADER, JSON well-formedness, dtypes,
 * shapes, offsets in range, non-overlapping and matching dtype x shape. Each
 * refusal is DN_EFORMAT (or DN_ELIMIT) with a message naming the tensor and
 * the problem.
 */
#ifndef DN_SAFETENSORS_H
#define DN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/dn.h"

#define DN_ST_MAX_HEADER (16u << 20) /* bytes of JSON header accepted */
#define DN_ST_MAX_DIMS   8

enum dn_st_dtype { DN_ST_F32 = 0, DN_ST_F16, DN_ST_BF16, DN_ST_F64, DN_ST_I64, DN_ST_I32, DN_ST_U8 };

typedef struct dn_st_tensor {
	const char *name; /* owned by the file */
	int dtype;        /* enum dn_st_dtype */
	int ndim;
	int64_t shape[DN_ST_MAX_DIMS];
	const void *data; /* into the file's buffer */
	size_t nbytes;
} dn_st_tensor;

typedef struct dn_st_file dn_st_file;

/* Parses a copy of bytes[0..len). The caller owns *out (dn_st_free). */
int dn_st_parse(const void *bytes, size_t len, dn_st_file **out, dn_error *err);
/* Reads and parses a file. */
int dn_st_read_file(const char *path, dn_st_file **out, dn_error *err);
void dn_st_free(dn_st_file *f);

size_t dn_st_count(const dn_st_file *f);
/* i-th tensor in header order; NULL if out of range. */
const dn_st_tensor *dn_st_at(const dn_st_file *f, size_t i);
/* By name; NULL if absent. */
const dn_st_tensor *dn_st_find(const dn_st_file *f, const char *name);
/* Copies tensor `name` to dst as float32 (from F32, F16, BF16 or F64),
 * checking that its shape equals shape[0..ndim). DN_ENOTFOUND when absent,
 * DN_ESHAPE on a mismatch (message gives both shapes). */
int dn_st_get_f32(const dn_st_file *f, const char *name, int ndim, const int64_t *shape, float *dst,
                  dn_error *err);

/* __metadata__ value for key, or NULL. */
const char *dn_st_metadata(const dn_st_file *f, const char *key);
size_t dn_st_metadata_count(const dn_st_file *f);
/* i-th metadata key/value pair; returns 0 or DN_EINVAL if out of range. */
int dn_st_metadata_at(const dn_st_file *f, size_t i, const char **key, const char **value);

typedef struct dn_st_writer dn_st_writer;

dn_st_writer *dn_st_writer_create(void);
void dn_st_writer_destroy(dn_st_writer *w);
/* Adds a float32 tensor; data is copied. Names must be unique. */
int dn_st_writer_add_f32(dn_st_writer *w, const char *name, int ndim, const int64_t *shape, const float *data,
                         dn_error *err);
/* Sets (or replaces) a metadata string. */
int dn_st_writer_set_metadata(dn_st_writer *w, const char *key, const char *value, dn_error *err);
/* Serialises to a malloc'd buffer the caller frees with free(). */
int dn_st_writer_serialize(const dn_st_writer *w, void **bytes, size_t *len, dn_error *err);
/* Writes atomically: a temporary file beside path, fsync, rename. */
int dn_st_writer_write_file(const dn_st_writer *w, const char *path, dn_error *err);

#endif
