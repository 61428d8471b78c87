/*
 * safetensors.c — strict reader and deterministic writer of safetensors files
 * (see safetensors.h for the layout).
 *
 * Model files come from outside (downloads, uploads to the daemon), so the
 * reader treats every byte as hostile: the header length is checked against
 * DN_ST_MAX_HEADER and the file size before any JSON is parsed, Jansson parses
 * with duplicate keys refused (its own depth limit bounds nesting, and a valid
 * header is only two levels deep), and every tensor entry is validated —
 * fields, dtype, shape, offsets, size, overlap — before a dn_st_file is handed
 * out. After that, accessors cannot fail on the file's account.
 *
 * The parsed image is one private copy of the file whose data section starts
 * on a 64-byte boundary, so that tensors at 4-byte multiples of it (all that
 * our writer produces) can be read in place as floats on a little-endian host.
 * dn_st_get_f32 never relies on that: it assembles values from bytes, which is
 * correct on any host.
 */
#include "core/model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/util/file.h"

#define ST_ALIGN     64
#define ST_QUOTE_MAX 64 /* bytes of a name quoted in messages */

struct dn_st_file {
	unsigned char *base; /* allocation holding the image */
	const unsigned char *data;
	size_t data_len;
	dn_st_tensor *tensors; /* header order */
	size_t n_tensors;
	const dn_st_tensor **by_name; /* sorted by name for dn_st_find */
	char **meta_keys;             /* header order */
	char **meta_values;
	size_t n_meta;
};

static const struct {
	const char *name;
	size_t size;
} st_dtypes[] = {
    [DN_ST_F32] = {"F32", 4}, [DN_ST_F16] = {"F16", 2}, [DN_ST_BF16] = {"BF16", 2}, [DN_ST_F64] = {"F64", 8},
    [DN_ST_I64] = {"I64", 8}, [DN_ST_I32] = {"I32", 4}, [DN_ST_U8] = {"U8", 1},
};
#define ST_NDTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

/* ---- bytes ---- */

static uint64_t st_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t st_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t st_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void st_put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void st_put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static float st_f32_from_bits(uint32_t bits)
{
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* IEEE 754 binary16 -> binary32 bits, exact for every input (NaN payloads are
 * kept in the top mantissa bits, as numpy and PyTorch do). */
static uint32_t st_f16_to_f32_bits(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t man = h & 0x3ffu;
	if (exp == 0x1f)
		return sign | 0x7f800000u | man << 13;
	if (exp != 0)
		return sign | (exp + (127 - 15)) << 23 | man << 13;
	if (man == 0)
		return sign;
	/* Subnormal man * 2^-24: shift the leading one into the implicit bit;
	 * after k shifts the value is 1.f * 2^(-14-k). */
	uint32_t k = 0;
	while (!(man & 0x400u)) {
		man <<= 1;
		k++;
	}
	return sign | (127 - 14 - k) << 23 | (man & 0x3ffu) << 13;
}

/* ---- messages ---- */

/* Copies text into q (ST_QBUF bytes) for a message: control bytes escaped
 * (and, with quotes set, '"' and '\\' too), long text cut at a UTF-8
 * boundary with "...", so that a hostile name cannot forge log lines. */
static void st_clean(char *q, const char *text, int quotes)
{
	size_t o = 0;
	const unsigned char *s = (const unsigned char *)text;
	for (; *s; s++) {
		if (o >= ST_QUOTE_MAX) {
			while (o > 0 && ((unsigned char)q[o - 1] & 0xc0) == 0x80)
				o--;
			if (o > 0 && (unsigned char)q[o - 1] >= 0xc0)
				o--;
			memcpy(q + o, "...", 3);
			o += 3;
			break;
		}
		if (*s < 0x20 || *s == 0x7f) {
			snprintf(q + o, 5, "\\x%02x", *s);
			o += 4;
		} else if (quotes && (*s == '"' || *s == '\\')) {
			q[o++] = '\\';
			q[o++] = (char)*s;
		} else {
			q[o++] = (char)*s;
		}
	}
	q[o] = '\0';
}

static void st_quote(char *q, const char *name)
{
	st_clean(q, name, 1);
}

#define ST_QBUF (ST_QUOTE_MAX + 8)

/* Sets err to `tensor "NAME": <fmt...>` and returns code. */
__attribute__((format(printf, 4, 5))) static int st_fail(dn_error *err, int code, const char *name,
                                                         const char *fmt, ...)
{
	char q[ST_QBUF], what[DN_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	st_quote(q, name);
	return dn_error_set(err, code, "tensor \"%s\": %s", q, what);
}

static const char *st_json_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "an unknown value";
}

/* Formats shape as "[2, 3]" into buf. */
static void st_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
	size_t o = 0;
	o += (size_t)snprintf(buf, cap, "[");
	for (int i = 0; i < ndim && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (o < cap)
		snprintf(buf + o, cap - o, "]");
}

/* strerror is not thread-safe and core runs in serving threads. */
static const char *st_strerror(int e, char *buf, size_t cap)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(e, buf, cap);
#else
	return strerror_r(e, buf, cap) == 0 ? buf : "unknown error";
#endif
}

/* ---- reader ---- */

static void st_free_meta(char **keys, char **values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(keys[i]);
		free(values[i]);
	}
	free(keys);
	free(values);
}

void dn_st_free(dn_st_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_tensors; i++)
		free((char *)f->tensors[i].name);
	free(f->tensors);
	free(f->by_name);
	st_free_meta(f->meta_keys, f->meta_values, f->n_meta);
	free(f->base);
	free(f);
}

/* Checks the 8-byte header length of a len-byte file against the file size
 * and our limit; first8 holds its first 8 bytes (len >= 8). */
static int st_check_prefix(const unsigned char *first8, size_t len, uint64_t *hlen, dn_error *err)
{
	if (len < 8)
		return dn_error_set(err, DN_EFORMAT,
		                    "file is %zu bytes, too short for the 8-byte header length", len);
	uint64_t n = st_le64(first8);
	if (n > DN_ST_MAX_HEADER)
		return dn_error_set(err, DN_ELIMIT, "header length %llu exceeds the limit of %u bytes",
		                    (unsigned long long)n, (unsigned)DN_ST_MAX_HEADER);
	if (n > len - 8)
		return dn_error_set(
		    err, DN_EFORMAT,
		    "header length %llu exceeds the %zu bytes that follow it (truncated file)",
		    (unsigned long long)n, len - 8);
	*hlen = n;
	return DN_OK;
}

/* Allocates room for a len-byte image whose data section (after 8 + hlen
 * bytes) starts 64-byte aligned; returns the image start, *base the block.
 * The padding goes before the image, so that the image ends exactly where
 * the allocation does and AddressSanitizer catches any read past it. */
static unsigned char *st_alloc_image(size_t len, uint64_t hlen, unsigned char **base)
{
	size_t pre = (size_t)((ST_ALIGN - (8 + hlen) % ST_ALIGN) % ST_ALIGN);
	void *p = NULL;
	*base = NULL;
	if (len > SIZE_MAX - ST_ALIGN || posix_memalign(&p, ST_ALIGN, pre + len) != 0)
		return NULL;
	*base = p;
	return *base + pre;
}

struct st_range {
	uint64_t begin, end;
	size_t index;
};

static int st_cmp_range(const void *a, const void *b)
{
	const struct st_range *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

static int st_cmp_by_name(const void *a, const void *b)
{
	const dn_st_tensor *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

/* A non-negative JSON integer, or -1. */
static long long st_json_uint(const json_t *v)
{
	if (!json_is_integer(v))
		return -1;
	long long x = json_integer_value(v);
	return x < 0 ? -1 : x;
}

static int st_parse_metadata(dn_st_file *f, json_t *meta, dn_error *err)
{
	if (!json_is_object(meta))
		return dn_error_set(err, DN_EFORMAT, "\"__metadata__\" is %s, not an object of strings",
		                    st_json_type(meta));
	size_t n = json_object_size(meta);
	f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
	f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
	if (!f->meta_keys || !f->meta_values)
		return dn_error_set(err, DN_ENOMEM, "out of memory for %zu metadata entries", n);
	const char *key;
	size_t keylen;
	json_t *v;
	char q[ST_QBUF];
	json_object_keylen_foreach(meta, key, keylen, v)
	{
		st_quote(q, key);
		if (keylen != strlen(key))
			return dn_error_set(err, DN_EFORMAT, "__metadata__ key \"%s\" contains a NUL byte",
			                    q);
		if (!json_is_string(v))
			return dn_error_set(err, DN_EFORMAT, "__metadata__ \"%s\": value is %s, not a string",
			                    q, st_json_type(v));
		if (json_string_length(v) != strlen(json_string_value(v)))
			return dn_error_set(err, DN_EFORMAT, "__metadata__ \"%s\": value contains a NUL byte",
			                    q);
		f->meta_keys[f->n_meta] = strdup(key);
		f->meta_values[f->n_meta] = strdup(json_string_value(v));
		f->n_meta++; /* counted now so that dn_st_free releases a half pair */
		if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1])
			return dn_error_set(err, DN_ENOMEM, "out of memory for metadata");
	}
	return DN_OK;
}

/* Validates one tensor entry and fills t (but for name) and *range. */
static int st_parse_entry(const dn_st_file *f, const char *name, json_t *entry, dn_st_tensor *t,
                          struct st_range *range, dn_error *err)
{
	if (!json_is_object(entry))
		return st_fail(err, DN_EFORMAT, name, "entry is %s, not an object", st_json_type(entry));
	const char *field;
	json_t *v;
	json_object_foreach(entry, field, v)
	{
		if (strcmp(field, "dtype") && strcmp(field, "shape") && strcmp(field, "data_offsets")) {
			char q[ST_QBUF];
			st_quote(q, field);
			return st_fail(err, DN_EFORMAT, name, "unknown field \"%s\"", q);
		}
	}

	/* dtype */
	json_t *jdtype = json_object_get(entry, "dtype");
	if (!jdtype)
		return st_fail(err, DN_EFORMAT, name, "missing \"dtype\"");
	if (!json_is_string(jdtype))
		return st_fail(err, DN_EFORMAT, name, "dtype is %s, not a string", st_json_type(jdtype));
	t->dtype = -1;
	for (size_t i = 0; i < ST_NDTYPES; i++)
		if (!strcmp(json_string_value(jdtype), st_dtypes[i].name))
			t->dtype = (int)i;
	if (t->dtype < 0) {
		char q[ST_QBUF];
		st_quote(q, json_string_value(jdtype));
		return st_fail(err, DN_EFORMAT, name,
		               "unknown dtype \"%s\" (known: F32, F16, BF16, F64, I64, I32, U8)", q);
	}

	/* shape, and its element count without overflow: a zero dimension
	 * makes the count 0 whatever the others are, so it is looked for
	 * first (the spec allows empty tensors). */
	json_t *jshape = json_object_get(entry, "shape");
	if (!jshape)
		return st_fail(err, DN_EFORMAT, name, "missing \"shape\"");
	if (!json_is_array(jshape))
		return st_fail(err, DN_EFORMAT, name, "shape is %s, not an array", st_json_type(jshape));
	size_t nd = json_array_size(jshape);
	if (nd > DN_ST_MAX_DIMS)
		return st_fail(err, DN_ELIMIT, name, "shape has %zu dimensions, more than the %d supported",
		               nd, DN_ST_MAX_DIMS);
	t->ndim = (int)nd;
	int empty = 0;
	for (size_t i = 0; i < nd; i++) {
		json_t *d = json_array_get(jshape, i);
		long long x = st_json_uint(d);
		if (x < 0) {
			if (json_is_integer(d))
				return st_fail(err, DN_EFORMAT, name,
				               "shape[%zu] is %lld, not a non-negative integer", i,
				               (long long)json_integer_value(d));
			return st_fail(err, DN_EFORMAT, name, "shape[%zu] is %s, not a non-negative integer",
			               i, st_json_type(d));
		}
		t->shape[i] = x;
		if (x == 0)
			empty = 1;
	}
	uint64_t count = 1;
	if (empty) {
		count = 0;
	} else {
		for (size_t i = 0; i < nd; i++) {
			if ((uint64_t)t->shape[i] > UINT64_MAX / count) {
				char s[192];
				st_format_shape(s, sizeof s, t->ndim, t->shape);
				return st_fail(err, DN_EFORMAT, name, "element count of shape %s overflows",
				               s);
			}
			count *= (uint64_t)t->shape[i];
		}
	}
	size_t esize = st_dtypes[t->dtype].size;

	/* data_offsets */
	json_t *joff = json_object_get(entry, "data_offsets");
	if (!joff)
		return st_fail(err, DN_EFORMAT, name, "missing \"data_offsets\"");
	if (!json_is_array(joff) || json_array_size(joff) != 2)
		return st_fail(err, DN_EFORMAT, name, "data_offsets is not an array [begin, end]");
	long long b = st_json_uint(json_array_get(joff, 0));
	long long e = st_json_uint(json_array_get(joff, 1));
	if (b < 0 || e < 0)
		return st_fail(err, DN_EFORMAT, name, "data_offsets are not two non-negative integers");
	if (b > e)
		return st_fail(err, DN_EFORMAT, name, "data_offsets [%lld, %lld) end before they begin", b,
		               e);
	if ((uint64_t)e > f->data_len)
		return st_fail(err, DN_EFORMAT, name,
		               "data_offsets [%lld, %lld) exceed the %zu-byte data section", b, e,
		               f->data_len);
	uint64_t have = (uint64_t)(e - b);
	if (count > UINT64_MAX / esize || count * esize != have) {
		char s[192];
		st_format_shape(s, sizeof s, t->ndim, t->shape);
		if (count > UINT64_MAX / esize)
			return st_fail(err, DN_EFORMAT, name, "byte size of %s %s overflows",
			               st_dtypes[t->dtype].name, s);
		return st_fail(err, DN_EFORMAT, name,
		               "data_offsets [%lld, %lld) hold %llu bytes, but %s of shape %s needs %llu", b,
		               e, (unsigned long long)have, st_dtypes[t->dtype].name, s,
		               (unsigned long long)(count * esize));
	}
	t->data = f->data + b;
	t->nbytes = (size_t)have;
	range->begin = (uint64_t)b;
	range->end = (uint64_t)e;
	return DN_OK;
}

/* Validates the image buf[0..len) (inside the block base, which this takes
 * over, also on failure) with a header of hlen bytes already checked against
 * len and the limit. */
static int st_parse_image(unsigned char *base, const unsigned char *buf, size_t len, uint64_t hlen,
                          dn_st_file **out, dn_error *err)
{
	int rc = DN_OK;
	json_t *root = NULL;
	struct st_range *ranges = NULL;
	dn_st_file *f = calloc(1, sizeof *f);
	if (!f) {
		free(base);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	f->base = base;
	f->data = buf + 8 + hlen;
	f->data_len = len - 8 - (size_t)hlen;

	const char *hdr = (const char *)buf + 8;
	if (hlen == 0 || hdr[0] != '{') {
		rc = dn_error_set(err, DN_EFORMAT, "header does not begin with '{'");
		goto fail;
	}
	json_error_t jerr;
	root = json_loadb(hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char q[ST_QBUF];
		st_clean(q, jerr.text, 0);
		rc = dn_error_set(err, DN_EFORMAT, "header is not valid JSON: %s (line %d, column %d)", q,
		                  jerr.line, jerr.column);
		goto fail;
	}
	if (!json_is_object(root)) {
		rc = dn_error_set(err, DN_EFORMAT, "header is %s, not an object", st_json_type(root));
		goto fail;
	}

	size_t n = json_object_size(root);
	f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
	ranges = calloc(n ? n : 1, sizeof *ranges);
	if (!f->tensors || !ranges) {
		rc = dn_error_set(err, DN_ENOMEM, "out of memory for %zu tensors", n);
		goto fail;
	}
	const char *key;
	size_t keylen;
	json_t *v;
	json_object_keylen_foreach(root, key, keylen, v)
	{
		if (keylen != strlen(key)) {
			rc = st_fail(err, DN_EFORMAT, key, "name contains a NUL byte");
			goto fail;
		}
		if (!strcmp(key, "__metadata__")) {
			rc = st_parse_metadata(f, v, err);
			if (rc)
				goto fail;
			continue;
		}
		dn_st_tensor *t = &f->tensors[f->n_tensors];
		rc = st_parse_entry(f, key, v, t, &ranges[f->n_tensors], err);
		if (rc)
			goto fail;
		ranges[f->n_tensors].index = f->n_tensors;
		t->name = strdup(key);
		if (!t->name) {
			rc = dn_error_set(err, DN_ENOMEM, "out of memory");
			goto fail;
		}
		f->n_tensors++;
	}

	/* No two tensors may share bytes. Empty tensors own no bytes, so they
	 * are left out (one may sit at any offset). The reference
	 * implementation goes further: sorted, the ranges must tile the data
	 * section exactly, with no holes and no trailing bytes, so that a file
	 * cannot double as another format (a polyglot). We accept holes and
	 * trailing bytes — they cannot make us read out of bounds — and our
	 * writer never produces them. */
	if (f->n_tensors > 1)
		qsort(ranges, f->n_tensors, sizeof *ranges, st_cmp_range);
	const struct st_range *prev = NULL;
	for (size_t i = 0; i < f->n_tensors; i++) {
		const struct st_range *r = &ranges[i];
		if (r->begin == r->end)
			continue;
		if (prev && r->begin < prev->end) {
			char q1[ST_QBUF], q2[ST_QBUF];
			st_quote(q1, f->tensors[prev->index].name);
			st_quote(q2, f->tensors[r->index].name);
			rc = dn_error_set(err, DN_EFORMAT,
			                  "tensors \"%s\" [%llu, %llu) and \"%s\" [%llu, %llu) overlap", q1,
			                  (unsigned long long)prev->begin, (unsigned long long)prev->end, q2,
			                  (unsigned long long)r->begin, (unsigned long long)r->end);
			goto fail;
		}
		if (!prev || r->end > prev->end)
			prev = r;
	}

	f->by_name = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *f->by_name);
	if (!f->by_name) {
		rc = dn_error_set(err, DN_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < f->n_tensors; i++)
		f->by_name[i] = &f->tensors[i];
	if (f->n_tensors > 1)
		qsort(f->by_name, f->n_tensors, sizeof *f->by_name, st_cmp_by_name);

	free(ranges);
	json_decref(root);
	*out = f;
	return DN_OK;
fail:
	free(ranges);
	json_decref(root);
	dn_st_free(f);
	return rc;
}

int dn_st_parse(const void *bytes, size_t len, dn_st_file **out, dn_error *err)
{
	if (!out || (!bytes && len))
		return dn_error_set(err, DN_EINVAL, "dn_st_parse: NULL argument");
	*out = NULL;
	uint64_t hlen = 0;
	int rc = st_check_prefix(bytes, len, &hlen, err);
	if (rc)
		return rc;
	unsigned char *base;
	unsigned char *buf = st_alloc_image(len, hlen, &base);
	if (!buf)
		return dn_error_set(err, DN_ENOMEM, "out of memory for a %zu-byte file", len);
	memcpy(buf, bytes, len);
	return st_parse_image(base, buf, len, hlen, out, err);
}

/* Reads exactly n bytes at offset off; DN_EIO otherwise. */
static int st_pread_all(int fd, unsigned char *p, size_t n, off_t off, const char *path, dn_error *err)
{
	char q[ST_QBUF], eb[128];
	while (n > 0) {
		ssize_t r = pread(fd, p, n > (1u << 30) ? (1u << 30) : n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			st_quote(q, path);
			return dn_error_set(err, DN_EIO, "cannot read \"%s\": %s", q,
			                    r < 0 ? st_strerror(errno, eb, sizeof eb)
			                          : "file shrank while being read");
		}
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return DN_OK;
}

int dn_st_read_file(const char *path, dn_st_file **out, dn_error *err)
{
	if (!path || !out)
		return dn_error_set(err, DN_EINVAL, "dn_st_read_file: NULL argument");
	*out = NULL;
	char q[ST_QBUF], eb[128];
	st_quote(q, path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return dn_error_set(err, e == ENOENT ? DN_ENOTFOUND : DN_EIO, "cannot open \"%s\": %s", q,
		                    st_strerror(e, eb, sizeof eb));
	}
	struct stat st;
	int rc;
	if (fstat(fd, &st) != 0) {
		rc =
		    dn_error_set(err, DN_EIO, "cannot stat \"%s\": %s", q, st_strerror(errno, eb, sizeof eb));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = dn_error_set(err, DN_EIO, "\"%s\" is not a regular file", q);
		goto out;
	}
	if ((uintmax_t)st.st_size > SIZE_MAX - ST_ALIGN) {
		rc = dn_error_set(err, DN_ELIMIT, "\"%s\" is too large to load", q);
		goto out;
	}
	size_t len = (size_t)st.st_size;
	unsigned char first8[8];
	if (len >= 8 && (rc = st_pread_all(fd, first8, 8, 0, path, err)) != DN_OK)
		goto out;
	uint64_t hlen = 0;
	if ((rc = st_check_prefix(first8, len, &hlen, err)) != DN_OK)
		goto out;
	unsigned char *base;
	unsigned char *buf = st_alloc_image(len, hlen, &base);
	if (!buf) {
		rc = dn_error_set(err, DN_ENOMEM, "out of memory for the %zu bytes of \"%s\"", len, q);
		goto out;
	}
	if ((rc = st_pread_all(fd, buf, len, 0, path, err)) != DN_OK) {
		free(base);
		goto out;
	}
	rc = st_parse_image(base, buf, len, hlen, out, err);
out:
	close(fd);
	return rc;
}

size_t dn_st_count(const dn_st_file *f)
{
	return f ? f->n_tensors : 0;
}

const dn_st_tensor *dn_st_at(const dn_st_file *f, size_t i)
{
	return f && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const dn_st_tensor *dn_st_find(const dn_st_file *f, const char *name)
{
	if (!f || !name)
		return NULL;
	dn_st_tensor key = {.name = name};
	const dn_st_tensor *pkey = &key;
	const dn_st_tensor **hit =
	    bsearch(&pkey, f->by_name, f->n_tensors, sizeof *f->by_name, st_cmp_by_name);
	return hit ? *hit : NULL;
}

int dn_st_get_f32(const dn_st_file *f, const char *name, int ndim, const int64_t *shape, float *dst,
                  dn_error *err)
{
	if (!f || !name || ndim < 0 || ndim > DN_ST_MAX_DIMS || (ndim > 0 && !shape))
		return dn_error_set(err, DN_EINVAL, "dn_st_get_f32: bad argument");
	char q[ST_QBUF];
	const dn_st_tensor *t = dn_st_find(f, name);
	if (!t) {
		st_quote(q, name);
		return dn_error_set(err, DN_ENOTFOUND, "no tensor \"%s\" in the file", q);
	}
	int same = ndim == t->ndim;
	for (int i = 0; same && i < ndim; i++)
		same = shape[i] == t->shape[i];
	if (!same) {
		char have[192], want[192];
		st_format_shape(have, sizeof have, t->ndim, t->shape);
		st_format_shape(want, sizeof want, ndim, shape);
		st_quote(q, name);
		return dn_error_set(err, DN_ESHAPE, "tensor \"%s\" has shape %s, expected %s", q, have, want);
	}
	size_t count = t->nbytes / st_dtypes[t->dtype].size;
	if (count > 0 && !dst)
		return dn_error_set(err, DN_EINVAL, "dn_st_get_f32: NULL destination");
	const unsigned char *p = t->data;
	switch (t->dtype) {
	case DN_ST_F32:
		for (size_t i = 0; i < count; i++)
			dst[i] = st_f32_from_bits(st_le32(p + 4 * i));
		break;
	case DN_ST_F16:
		for (size_t i = 0; i < count; i++)
			dst[i] = st_f32_from_bits(st_f16_to_f32_bits(st_le16(p + 2 * i)));
		break;
	case DN_ST_BF16: /* bfloat16 is the top half of a binary32 */
		for (size_t i = 0; i < count; i++)
			dst[i] = st_f32_from_bits((uint32_t)st_le16(p + 2 * i) << 16);
		break;
	case DN_ST_F64:
		for (size_t i = 0; i < count; i++) {
			uint64_t bits = st_le64(p + 8 * i);
			double d;
			memcpy(&d, &bits, sizeof d);
			dst[i] = (float)d; /* IEEE rounding; out of range gives inf */
		}
		break;
	default:
		st_quote(q, name);
		return dn_error_set(err, DN_EUNSUPPORTED,
		                    "tensor \"%s\" is %s; only F32, F16, BF16 and F64 convert to float32", q,
		                    st_dtypes[t->dtype].name);
	}
	return DN_OK;
}

const char *dn_st_metadata(const dn_st_file *f, const char *key)
{
	if (!f || !key)
		return NULL;
	for (size_t i = 0; i < f->n_meta; i++)
		if (!strcmp(f->meta_keys[i], key))
			return f->meta_values[i];
	return NULL;
}

size_t dn_st_metadata_count(const dn_st_file *f)
{
	return f ? f->n_meta : 0;
}

int dn_st_metadata_at(const dn_st_file *f, size_t i, const char **key, const char **value)
{
	if (!f || i >= f->n_meta)
		return DN_EINVAL;
	if (key)
		*key = f->meta_keys[i];
	if (value)
		*value = f->meta_values[i];
	return DN_OK;
}

/* ---- writer ---- */

struct st_wtensor {
	char *name;
	int ndim;
	int64_t shape[DN_ST_MAX_DIMS];
	size_t count;
	float *data;
};

struct dn_st_writer {
	struct st_wtensor *t;
	size_t n, cap;
	struct {
		char *key, *value;
	} * meta; /* insertion order */
	size_t n_meta, cap_meta;
};

dn_st_writer *dn_st_writer_create(void)
{
	return calloc(1, sizeof(dn_st_writer));
}

void dn_st_writer_destroy(dn_st_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free(w->t[i].name);
		free(w->t[i].data);
	}
	free(w->t);
	for (size_t i = 0; i < w->n_meta; i++) {
		free(w->meta[i].key);
		free(w->meta[i].value);
	}
	free(w->meta);
	free(w);
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), the same rule Jansson applies when it reads a header back. */
static int st_utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		unsigned c = *s;
		int n;
		unsigned cp;
		if (c < 0x80) {
			s++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		for (int i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3fu);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

static int st_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 8;
	if (c < need)
		c = need;
	if (c > SIZE_MAX / elem)
		return -1;
	void *q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

int dn_st_writer_add_f32(dn_st_writer *w, const char *name, int ndim, const int64_t *shape, const float *data,
                         dn_error *err)
{
	if (!w || !name || ndim < 0 || (ndim > 0 && !shape))
		return dn_error_set(err, DN_EINVAL, "dn_st_writer_add_f32: bad argument");
	char q[ST_QBUF];
	st_quote(q, name);
	if (ndim > DN_ST_MAX_DIMS)
		return dn_error_set(err, DN_EINVAL,
		                    "tensor \"%s\": %d dimensions, more than the %d supported", q, ndim,
		                    DN_ST_MAX_DIMS);
	if (!strcmp(name, "__metadata__") || !st_utf8_valid(name))
		return dn_error_set(err, DN_EINVAL, "tensor name \"%s\" is reserved or not valid UTF-8", q);
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->t[i].name, name))
			return dn_error_set(err, DN_EINVAL, "tensor \"%s\" was already added", q);
	size_t count = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return dn_error_set(err, DN_EINVAL, "tensor \"%s\": shape[%d] is negative", q, i);
		if (shape[i] == 0)
			count = 0;
	}
	for (int i = 0; i < ndim && count; i++) {
		if ((uint64_t)shape[i] > (SIZE_MAX / sizeof(float)) / count)
			return dn_error_set(err, DN_ELIMIT, "tensor \"%s\": element count overflows", q);
		count *= (size_t)shape[i];
	}
	if (count > 0 && !data)
		return dn_error_set(err, DN_EINVAL, "tensor \"%s\": NULL data", q);
	if (st_grow((void **)&w->t, &w->cap, w->n + 1, sizeof *w->t))
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	struct st_wtensor *t = &w->t[w->n];
	memset(t, 0, sizeof *t);
	t->name = strdup(name);
	t->data = malloc(count ? count * sizeof(float) : 1);
	if (!t->name || !t->data) {
		free(t->name);
		free(t->data);
		return dn_error_set(err, DN_ENOMEM, "out of memory for tensor \"%s\"", q);
	}
	if (count)
		memcpy(t->data, data, count * sizeof(float));
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->count = count;
	w->n++;
	return DN_OK;
}

int dn_st_writer_set_metadata(dn_st_writer *w, const char *key, const char *value, dn_error *err)
{
	if (!w || !key || !value)
		return dn_error_set(err, DN_EINVAL, "dn_st_writer_set_metadata: NULL argument");
	if (!st_utf8_valid(key) || !st_utf8_valid(value)) {
		char q[ST_QBUF];
		st_quote(q, key);
		return dn_error_set(err, DN_EINVAL, "metadata \"%s\": key or value is not valid UTF-8", q);
	}
	char *v = strdup(value);
	if (!v)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	for (size_t i = 0; i < w->n_meta; i++) {
		if (!strcmp(w->meta[i].key, key)) {
			free(w->meta[i].value);
			w->meta[i].value = v;
			return DN_OK;
		}
	}
	char *k = strdup(key);
	if (!k || st_grow((void **)&w->meta, &w->cap_meta, w->n_meta + 1, sizeof *w->meta)) {
		free(k);
		free(v);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	w->meta[w->n_meta].key = k;
	w->meta[w->n_meta].value = v;
	w->n_meta++;
	return DN_OK;
}

/* The header object for w, with the tensors' offsets laid out contiguously
 * in insertion order; *data_len gets the data section's size. */
static json_t *st_build_header(const dn_st_writer *w, size_t *data_len)
{
	json_t *root = json_object();
	if (!root)
		return NULL;
	if (w->n_meta) {
		json_t *meta = json_object();
		for (size_t i = 0; meta && i < w->n_meta; i++) {
			if (json_object_set_new(meta, w->meta[i].key, json_string(w->meta[i].value))) {
				json_decref(meta);
				meta = NULL;
			}
		}
		if (!meta || json_object_set_new(root, "__metadata__", meta))
			goto fail;
	}
	size_t off = 0;
	for (size_t i = 0; i < w->n; i++) {
		const struct st_wtensor *t = &w->t[i];
		size_t nbytes = t->count * sizeof(float);
		if (off > SIZE_MAX - nbytes || off + nbytes > (size_t)LLONG_MAX)
			goto fail;
		json_t *shape = json_array();
		for (int d = 0; shape && d < t->ndim; d++) {
			if (json_array_append_new(shape, json_integer((json_int_t)t->shape[d]))) {
				json_decref(shape);
				shape = NULL;
			}
		}
		if (!shape)
			goto fail;
		/* "o" hands shape over to the entry, also when packing fails. */
		json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets",
		                      (json_int_t)off, (json_int_t)(off + nbytes));
		if (!e || json_object_set_new(root, t->name, e))
			goto fail;
		off += nbytes;
	}
	*data_len = off;
	return root;
fail:
	json_decref(root);
	return NULL;
}

int dn_st_writer_serialize(const dn_st_writer *w, void **bytes, size_t *len, dn_error *err)
{
	if (!w || !bytes || !len)
		return dn_error_set(err, DN_EINVAL, "dn_st_writer_serialize: NULL argument");
	*bytes = NULL;
	*len = 0;
	size_t data_len = 0;
	json_t *root = st_build_header(w, &data_len);
	/* Insertion order is kept (Jansson objects are ordered), so the same
	 * writer always gives the same bytes. */
	char *hdr = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!hdr)
		return dn_error_set(err, DN_ENOMEM, "cannot build the header (out of memory or too large)");
	/* Spaces pad the header to a multiple of 8 bytes, as the format
	 * recommends, so the data section stays 8-byte aligned in the file. */
	size_t hlen = strlen(hdr);
	size_t padded = (hlen + 7) & ~(size_t)7;
	if (padded > DN_ST_MAX_HEADER || data_len > SIZE_MAX - 8 - padded) {
		free(hdr);
		return dn_error_set(err, DN_ELIMIT, "the header (%zu bytes) exceeds the limit of %u bytes",
		                    padded, (unsigned)DN_ST_MAX_HEADER);
	}
	size_t total = 8 + padded + data_len;
	unsigned char *out = malloc(total);
	if (!out) {
		free(hdr);
		return dn_error_set(err, DN_ENOMEM, "out of memory for a %zu-byte file", total);
	}
	st_put_le64(out, padded);
	memcpy(out + 8, hdr, hlen);
	memset(out + 8 + hlen, ' ', padded - hlen);
	free(hdr);
	unsigned char *p = out + 8 + padded;
	for (size_t i = 0; i < w->n; i++) {
		for (size_t j = 0; j < w->t[i].count; j++) {
			uint32_t bits;
			memcpy(&bits, &w->t[i].data[j], sizeof bits);
			st_put_le32(p, bits);
			p += 4;
		}
	}
	*bytes = out;
	*len = total;
	return DN_OK;
}

int dn_st_writer_write_file(const dn_st_writer *w, const char *path, dn_error *err)
{
	if (!w || !path || !*path)
		return dn_error_set(err, DN_EINVAL, "dn_st_writer_write_file: bad argument");
	void *bytes;
	size_t len;
	int rc = dn_st_writer_serialize(w, &bytes, &len, err);
	if (rc)
		return rc;

	/* Atomically and durably, keeping the mode of the file replaced
	 * (core/util/file.c). */
	rc = dn_file_write(path, bytes, len, err);
	free(bytes);
	return rc;
}
