/*
 * test_safetensors.c — the safetensors reader and writer: round trips, the
 * exact byte layout of a small file, a file made by numpy/PyTorch
 * (tests/gen_safetensors.py), F16/BF16 conversions against values from the
 * IEEE definitions, one test per refusal (code and message), and the atomic
 * file writer under failures (missing directory, rename onto a directory,
 * a write cut short by RLIMIT_FSIZE).
 */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/model/safetensors.h"
#include "tests/check.h"

/* ---- helpers ---- */

/* A safetensors image: 8-byte length, json verbatim, dlen data bytes (a
 * repeating pattern). Caller frees. */
static unsigned char *mk(const char *json, size_t dlen, size_t *len)
{
	size_t n = strlen(json);
	unsigned char *b = malloc(8 + n + dlen + 1);
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)n >> (8 * i));
	memcpy(b + 8, json, n);
	for (size_t i = 0; i < dlen; i++)
		b[8 + n + i] = (unsigned char)(i * 7 + 1);
	*len = 8 + n + dlen;
	return b;
}

/* Parsing bytes must fail with want and a message containing each of the
 * NULL-terminated substrings. */
static void refuse_bytes(int line, const void *bytes, size_t len, int want, const char *const *needles)
{
	dn_error err;
	dn_error_clear(&err);
	dn_st_file *f = (dn_st_file *)1;
	int rc = dn_st_parse(bytes, len, &f, &err);
	CHECK_MSG(rc == want, "line %d: rc %d, expected %d (%s)", line, rc, want, err.msg);
	CHECK_MSG(f == NULL, "line %d: *out not NULL on failure", line);
	CHECK_MSG(err.code == want, "line %d: err.code %d", line, err.code);
	for (; *needles; needles++)
		CHECK_MSG(strstr(err.msg, *needles) != NULL, "line %d: message \"%s\" lacks \"%s\"", line,
		          err.msg, *needles);
	CHECK_MSG(strchr(err.msg, '\n') == NULL, "line %d: message has a newline", line);
	fprintf(stderr, "line %d refused: %s\n", line, err.msg); /* for the log reader */
	if (rc == DN_OK)
		dn_st_free(f);
}

#define REFUSE_JSON(json, dlen, want, ...)                                                                   \
	do {                                                                                                 \
		size_t len_;                                                                                 \
		unsigned char *b_ = mk(json, dlen, &len_);                                                   \
		refuse_bytes(__LINE__, b_, len_, want, (const char *const[]){__VA_ARGS__, NULL});            \
		free(b_);                                                                                    \
	} while (0)

static uint32_t bits_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static float float_of(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Deterministic test values, with the awkward ones mixed in. */
static void fill(float *x, size_t n, uint32_t seed)
{
	static const uint32_t specials[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,
	                                    0x7fc00001u, 0xffa5a5a5u, 0x00000001u, 0x7f7fffffu};
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		x[i] = i < 8 ? float_of(specials[i]) : float_of(seed);
	}
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
	*len = fread(b, 1, (size_t)n, fp);
	fclose(fp);
	return b;
}

/* ---- success paths ---- */

static void test_round_trip(void)
{
	dn_error err;
	float a[12], b[10], s[1];
	fill(a, 12, 1);
	fill(b, 10, 2);
	s[0] = -1.5f;
	const int64_t sa[] = {3, 4}, sb[] = {2, 1, 5}, se[] = {0, 7};
	dn_st_writer *w = dn_st_writer_create();
	CHECK(w != NULL);
	CHECK_RC(dn_st_writer_add_f32(w, "enc0.conv1.weight", 2, sa, a, &err), DN_OK);
	CHECK_RC(dn_st_writer_add_f32(w, "dec.bias", 3, sb, b, &err), DN_OK);
	CHECK_RC(dn_st_writer_add_f32(w, "scalar", 0, NULL, s, &err), DN_OK);
	CHECK_RC(dn_st_writer_add_f32(w, "empty", 2, se, NULL, &err), DN_OK);
	CHECK_RC(dn_st_writer_set_metadata(w, "kind", "audio", &err), DN_OK);
	CHECK_RC(dn_st_writer_set_metadata(w, "version", "1", &err), DN_OK);
	CHECK_RC(dn_st_writer_set_metadata(w, "kind", "frame", &err), DN_OK); /* replaces */
	CHECK_RC(dn_st_writer_set_metadata(w, "note", "caf\xc3\xa9 \"quoted\"\n", &err), DN_OK);

	void *bytes, *again;
	size_t len, len2;
	CHECK_RC(dn_st_writer_serialize(w, &bytes, &len, &err), DN_OK);
	CHECK_RC(dn_st_writer_serialize(w, &again, &len2, &err), DN_OK);
	CHECK(len == len2 && memcmp(bytes, again, len) == 0); /* deterministic */
	free(again);
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | ((unsigned char *)bytes)[i];
	CHECK(hlen % 8 == 0 && len == 8 + hlen + 4 * 23); /* padded header, 23 floats */

	dn_st_file *f = NULL;
	CHECK_RC(dn_st_parse(bytes, len, &f, &err), DN_OK);
	CHECK(dn_st_count(f) == 4);
	const char *order[] = {"enc0.conv1.weight", "dec.bias", "scalar", "empty"};
	for (size_t i = 0; i < 4; i++) {
		const dn_st_tensor *t = dn_st_at(f, i);
		CHECK(t && strcmp(t->name, order[i]) == 0);
		CHECK(t && dn_st_find(f, order[i]) == t);
		CHECK(t && t->dtype == DN_ST_F32);
		CHECK(t && (uintptr_t)t->data % 4 == 0);
	}
	CHECK(dn_st_at(f, 4) == NULL);
	CHECK(dn_st_find(f, "enc0") == NULL);
	CHECK(dn_st_at(f, 0)->nbytes == 48 && dn_st_at(f, 0)->ndim == 2 && dn_st_at(f, 0)->shape[1] == 4);
	CHECK(dn_st_at(f, 2)->ndim == 0 && dn_st_at(f, 2)->nbytes == 4);
	CHECK(dn_st_at(f, 3)->nbytes == 0);

	float ga[12], gb[10], gs[1];
	CHECK_RC(dn_st_get_f32(f, "enc0.conv1.weight", 2, sa, ga, &err), DN_OK);
	CHECK_RC(dn_st_get_f32(f, "dec.bias", 3, sb, gb, &err), DN_OK);
	CHECK_RC(dn_st_get_f32(f, "scalar", 0, NULL, gs, &err), DN_OK);
	CHECK_RC(dn_st_get_f32(f, "empty", 2, se, NULL, &err), DN_OK);
	for (int i = 0; i < 12; i++)
		CHECK_MSG(bits_of(ga[i]) == bits_of(a[i]), "a[%d] %08x != %08x", i, bits_of(ga[i]),
		          bits_of(a[i]));
	for (int i = 0; i < 10; i++)
		CHECK(bits_of(gb[i]) == bits_of(b[i]));
	CHECK(gs[0] == -1.5f);

	CHECK(dn_st_metadata_count(f) == 3);
	const char *k, *v;
	CHECK_RC(dn_st_metadata_at(f, 0, &k, &v), DN_OK);
	CHECK(strcmp(k, "kind") == 0 && strcmp(v, "frame") == 0);
	CHECK_RC(dn_st_metadata_at(f, 1, &k, &v), DN_OK);
	CHECK(strcmp(k, "version") == 0 && strcmp(v, "1") == 0);
	CHECK_RC(dn_st_metadata_at(f, 3, &k, &v), DN_EINVAL);
	CHECK(strcmp(dn_st_metadata(f, "note"), "caf\xc3\xa9 \"quoted\"\n") == 0);
	CHECK(dn_st_metadata(f, "absent") == NULL);
	dn_st_free(f);
	free(bytes);
	dn_st_writer_destroy(w);
}

/* The smallest interesting file, byte by byte. Header (79 bytes) padded
 * with one space to 80 = 0x50; data 1.0f = 0x3f800000, -2.0f = 0xc0000000
 * little-endian. */
static void test_layout(void)
{
	static const char expect[] = "\x50\0\0\0\0\0\0\0"
	                             "{\"__metadata__\":{\"k\":\"v\"},"
	                             "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} "
	                             "\x00\x00\x80\x3f\x00\x00\x00\xc0";
	dn_error err;
	const float x[2] = {1.0f, -2.0f};
	const int64_t shape[1] = {2};
	dn_st_writer *w = dn_st_writer_create();
	CHECK_RC(dn_st_writer_add_f32(w, "a", 1, shape, x, &err), DN_OK);
	CHECK_RC(dn_st_writer_set_metadata(w, "k", "v", &err), DN_OK);
	void *bytes;
	size_t len;
	CHECK_RC(dn_st_writer_serialize(w, &bytes, &len, &err), DN_OK);
	CHECK_MSG(len == sizeof expect - 1, "len %zu", len);
	CHECK(len == sizeof expect - 1 && memcmp(bytes, expect, len) == 0);
	free(bytes);
	dn_st_writer_destroy(w);

	/* An empty writer still makes a valid file: "{}" padded to 8. */
	w = dn_st_writer_create();
	CHECK_RC(dn_st_writer_serialize(w, &bytes, &len, &err), DN_OK);
	CHECK(len == 16 && memcmp(bytes, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
	dn_st_file *f;
	CHECK_RC(dn_st_parse(bytes, len, &f, &err), DN_OK);
	CHECK(dn_st_count(f) == 0 && dn_st_metadata_count(f) == 0);
	dn_st_free(f);
	free(bytes);
	dn_st_writer_destroy(w);
}

/* Checks tensor name against name.expect (F32 written by numpy/PyTorch). */
static void check_against_expect(const dn_st_file *f, const char *name)
{
	dn_error err;
	char ename[128];
	snprintf(ename, sizeof ename, "%s.expect", name);
	const dn_st_tensor *t = dn_st_find(f, name), *e = dn_st_find(f, ename);
	CHECK_MSG(t && e, "%s or its .expect missing", name);
	if (!t || !e)
		return;
	size_t n = e->nbytes / 4;
	float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
	CHECK_RC(dn_st_get_f32(f, name, t->ndim, t->shape, got, &err), DN_OK);
	CHECK_RC(dn_st_get_f32(f, ename, e->ndim, e->shape, want, &err), DN_OK);
	for (size_t i = 0; i < n; i++)
		CHECK_MSG(bits_of(got[i]) == bits_of(want[i]),
		          "%s[%zu]: %08x (%g), numpy/torch say %08x (%g)", name, i, bits_of(got[i]), got[i],
		          bits_of(want[i]), want[i]);
	free(got);
	free(want);
}

static void test_interop(void)
{
	const char *src = getenv("DN_SRCDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/data/interop.safetensors", src ? src : ".");
	dn_error err;
	dn_st_file *f = NULL;
	CHECK_RC(dn_st_read_file(path, &f, &err), DN_OK);
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		return;
	}
	CHECK(dn_st_count(f) == 12);
	CHECK(strcmp(dn_st_at(f, 0)->name, "plain.f32") == 0); /* header order, not data order */
	CHECK(dn_st_metadata_count(f) == 3);
	CHECK(dn_st_metadata(f, "format") && strcmp(dn_st_metadata(f, "format"), "pt") == 0);
	CHECK(dn_st_metadata(f, "snowman") && strcmp(dn_st_metadata(f, "snowman"), "\xe2\x98\x83") == 0);

	float x[24];
	const int64_t s[3] = {2, 3, 4};
	CHECK_RC(dn_st_get_f32(f, "plain.f32", 3, s, x, &err), DN_OK);
	for (int i = 0; i < 24; i++)
		CHECK(x[i] == i * 0.25f - 3.0f);

	check_against_expect(f, "enc0.conv1.weight.f16");
	check_against_expect(f, "dec1.bn.running_var.bf16");
	check_against_expect(f, "scale.f64");

	const dn_st_tensor *t = dn_st_find(f, "step.i64");
	CHECK(t && t->dtype == DN_ST_I64 && t->nbytes == 16);
	CHECK(t && ((const unsigned char *)t->data)[0] == 7 && ((const unsigned char *)t->data)[8] == 0xff);
	CHECK_RC(dn_st_get_f32(f, "step.i64", t->ndim, t->shape, x, &err), DN_EUNSUPPORTED);
	CHECK(strstr(err.msg, "I64") != NULL);
	t = dn_st_find(f, "bytes.u8");
	CHECK(t && t->dtype == DN_ST_U8 && t->nbytes == 5 && ((const unsigned char *)t->data)[4] == 255);
	t = dn_st_find(f, "mask.i32");
	CHECK(t && t->dtype == DN_ST_I32 && t->nbytes == 12);
	t = dn_st_find(f, "empty.f32");
	CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3 && t->nbytes == 0);
	CHECK_RC(dn_st_get_f32(f, "scalar.f32", 0, NULL, x, &err), DN_OK);
	CHECK(x[0] == 42.5f);
	dn_st_free(f);
}

/* F16 and BF16 decoded from a hand-built file, against values that follow
 * from the IEEE 754 / bfloat16 definitions. */
static void test_half_known(void)
{
	static const uint16_t h[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400,
	                             0x3555, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x0000};
	const float hv[] = {1.0f,
	                    -2.0f,
	                    65504.0f,
	                    ldexpf(1.0f, -24),
	                    ldexpf(1023.0f, -24),
	                    ldexpf(1.0f, -14),
	                    0.333251953125f,
	                    INFINITY,
	                    -INFINITY,
	                    NAN,
	                    -0.0f,
	                    0.0f};
	static const uint16_t b[] = {0x3f80, 0xc020, 0x7f7f, 0x0001, 0x7f80, 0x4049, 0x8000, 0xffc1};
	const float bv[] = {1.0f,  -2.5f, ldexpf(255.0f, 120), ldexpf(1.0f, -133), INFINITY, 3.140625f,
	                    -0.0f, NAN};
	char json[256];
	snprintf(json, sizeof json,
	         "{\"h\":{\"dtype\":\"F16\",\"shape\":[12],\"data_offsets\":[0,24]},"
	         "\"b\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[24,40]}}");
	size_t len;
	unsigned char *buf = mk(json, 40, &len);
	unsigned char *d = buf + len - 40;
	for (int i = 0; i < 12; i++) {
		d[2 * i] = (unsigned char)(h[i] & 0xff);
		d[2 * i + 1] = (unsigned char)(h[i] >> 8);
	}
	for (int i = 0; i < 8; i++) {
		d[24 + 2 * i] = (unsigned char)(b[i] & 0xff);
		d[24 + 2 * i + 1] = (unsigned char)(b[i] >> 8);
	}
	dn_error err;
	dn_st_file *f;
	CHECK_RC(dn_st_parse(buf, len, &f, &err), DN_OK);
	free(buf);
	float out[12];
	const int64_t s12[1] = {12}, s8[1] = {8};
	CHECK_RC(dn_st_get_f32(f, "h", 1, s12, out, &err), DN_OK);
	for (int i = 0; i < 12; i++) {
		if (isnan(hv[i]))
			CHECK_MSG(isnan(out[i]), "f16 %04x -> %g", h[i], out[i]);
		else
			CHECK_MSG(out[i] == hv[i] && signbit(out[i]) == signbit(hv[i]),
			          "f16 %04x -> %.9g, want %.9g", h[i], out[i], hv[i]);
	}
	CHECK(bits_of(out[9]) == 0x7fc00000u);
	CHECK_RC(dn_st_get_f32(f, "b", 1, s8, out, &err), DN_OK);
	for (int i = 0; i < 8; i++) {
		if (isnan(bv[i]))
			CHECK_MSG(isnan(out[i]), "bf16 %04x -> %g", b[i], out[i]);
		else
			CHECK_MSG(out[i] == bv[i] && signbit(out[i]) == signbit(bv[i]),
			          "bf16 %04x -> %.9g, want %.9g", b[i], out[i], bv[i]);
	}
	CHECK(bits_of(out[7]) == 0xffc10000u); /* NaN sign and payload kept */
	dn_st_free(f);
}

/* ---- refusals ---- */

#define T_F32_4 "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"

static void test_refusals(void)
{
	/* Truncation, three ways. */
	refuse_bytes(__LINE__, "\x05\0\0\0\0", 5, DN_EFORMAT,
	             (const char *const[]){"5 bytes", "too short", NULL});
	refuse_bytes(__LINE__, "", 0, DN_EFORMAT, (const char *const[]){"too short", NULL});
	refuse_bytes(__LINE__, "\x64\0\0\0\0\0\0\0{\"a\":1}", 15, DN_EFORMAT,
	             (const char *const[]){"header length 100", "7 bytes", "truncated", NULL});
	REFUSE_JSON("{\"enc0.conv1.weight\":" T_F32_4 "}", 8, DN_EFORMAT, "\"enc0.conv1.weight\"",
	            "data_offsets [0, 16) exceed the 8-byte data section");

	/* Header length past the limit is refused before anything is read. */
	unsigned char big[16] = {0};
	uint64_t n = (uint64_t)DN_ST_MAX_HEADER + 1;
	for (int i = 0; i < 8; i++)
		big[i] = (unsigned char)(n >> (8 * i));
	refuse_bytes(__LINE__, big, sizeof big, DN_ELIMIT, (const char *const[]){"16777217", "limit", NULL});
	big[7] = 0x80; /* 2^63 and more: no wrap-around in the size checks */
	refuse_bytes(__LINE__, big, sizeof big, DN_ELIMIT, (const char *const[]){"limit", NULL});

	/* JSON. */
	REFUSE_JSON("{\"a\": }", 0, DN_EFORMAT, "not valid JSON", "line 1");
	REFUSE_JSON("{} trailing", 0, DN_EFORMAT, "not valid JSON");
	REFUSE_JSON(" {}", 0, DN_EFORMAT, "begin with '{'");
	REFUSE_JSON("[]", 0, DN_EFORMAT, "begin with '{'");
	REFUSE_JSON("{\"a\":" T_F32_4 ",\"a\":" T_F32_4 "}", 32, DN_EFORMAT, "not valid JSON", "duplicate");
	REFUSE_JSON("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
	            DN_EFORMAT, "duplicate");
	REFUSE_JSON("{\"a\\u0000b\":" T_F32_4 "}", 16, DN_EFORMAT, "NUL");
	REFUSE_JSON("{\"a\":\"\xff\"}", 0, DN_EFORMAT, "not valid JSON");

	/* Entries. */
	REFUSE_JSON("{\"w\":3}", 0, DN_EFORMAT, "\"w\"", "an integer, not an object");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],\"extra\":1}}", 16,
	            DN_EFORMAT, "\"w\"", "unknown field \"extra\"");
	REFUSE_JSON("{\"w\":{\"shape\":[4],\"data_offsets\":[0,16]}}", 16, DN_EFORMAT, "\"w\"",
	            "missing \"dtype\"");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16, DN_EFORMAT,
	            "missing \"shape\"");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16, DN_EFORMAT, "missing \"data_offsets\"");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, DN_EFORMAT, "\"w\"",
	            "unknown dtype \"F8\"");
	REFUSE_JSON("{\"w\":{\"dtype\":32,\"shape\":[4],\"data_offsets\":[0,16]}}", 16, DN_EFORMAT,
	            "dtype is an integer");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,16]}}", 16, DN_EFORMAT,
	            "\"w\"", "shape[1] is -1, not a non-negative integer");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,16]}}", 16, DN_EFORMAT,
	            "shape[0] is a real number");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]}}", 16, DN_EFORMAT,
	            "shape[0] is a string");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16, DN_EFORMAT,
	            "shape is an integer, not an array");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
	            DN_ELIMIT, "\"w\"", "9 dimensions");
	REFUSE_JSON(
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,16]}}", 16,
	    DN_EFORMAT, "\"w\"", "overflows");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,16]}}", 16,
	            DN_EFORMAT, "\"w\"", "overflows");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,16]}}",
	            16, DN_EFORMAT, "not valid JSON");

	/* Offsets. */
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 16, DN_EFORMAT,
	            "\"w\"", "[8, 4) end before they begin");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 16, DN_EFORMAT,
	            "\"w\"", "non-negative");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 16, DN_EFORMAT,
	            "not an array [begin, end]");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 16, DN_EFORMAT,
	            "non-negative integers");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16, DN_EFORMAT,
	            "\"w\"", "hold 12 bytes, but F32 of shape [2, 2] needs 16");
	REFUSE_JSON("{\"w\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,4]}}", 16, DN_EFORMAT,
	            "needs 0");
	REFUSE_JSON("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
	            12, DN_EFORMAT, "\"a\" [0, 8) and \"b\" [4, 12) overlap");
	/* Overlap hidden behind a later-starting neighbour: c lies inside a. */
	REFUSE_JSON("{\"a\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]},"
	            "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]},"
	            "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}",
	            12, DN_EFORMAT, "\"a\" [0, 10) and \"c\" [4, 6) overlap");
	REFUSE_JSON("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
	            "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
	            8, DN_EFORMAT, "overlap");

	/* Metadata. */
	REFUSE_JSON("{\"__metadata__\":{\"k\":1}}", 0, DN_EFORMAT, "__metadata__ \"k\": value is an integer");
	REFUSE_JSON("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, DN_EFORMAT, "\"k\": value is an object");
	REFUSE_JSON("{\"__metadata__\":[\"k\"]}", 0, DN_EFORMAT, "\"__metadata__\" is an array");
	REFUSE_JSON("{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, DN_EFORMAT, "not valid JSON");

	/* A hostile name is quoted, not echoed. */
	REFUSE_JSON("{\"evil\\nFAKE LOG LINE\\\"\":3}", 0, DN_EFORMAT, "evil\\x0aFAKE LOG LINE\\\"");
	char longname[400];
	memset(longname, 'n', sizeof longname);
	memcpy(longname, "{\"", 2);
	memcpy(longname + 300, "\":3}", 5);
	REFUSE_JSON(longname, 0, DN_EFORMAT, "nnn...\"");

	/* Things that are accepted although they look odd. */
	const char *ok[] = {
	    "{}",
	    "{}      ",
	    "{\"__metadata__\":{}}",
	    "{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[3,3]}," /* empty inside another */
	    "\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
	    "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}", /* holes, trailing bytes */
	    "{\"w\":{\"dtype\":\"F32\",\"shape\":[0,4294967296,4294967296,16],\"data_offsets\":[0,0]}}",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		size_t len;
		unsigned char *b = mk(ok[i], 8, &len);
		dn_error err;
		dn_st_file *f = NULL;
		int rc = dn_st_parse(b, len, &f, &err);
		CHECK_MSG(rc == DN_OK, "%s: %s", ok[i], err.msg);
		dn_st_free(f);
		free(b);
	}
}

static void test_get_errors(void)
{
	size_t len;
	unsigned char *b =
	    mk("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, &len);
	dn_error err;
	dn_st_file *f;
	CHECK_RC(dn_st_parse(b, len, &f, &err), DN_OK);
	free(b);
	float dst[6];
	const int64_t good[2] = {2, 3}, swapped[2] = {3, 2}, flat[1] = {6};
	CHECK_RC(dn_st_get_f32(f, "nope", 2, good, dst, &err), DN_ENOTFOUND);
	CHECK(strstr(err.msg, "\"nope\"") != NULL);
	CHECK_RC(dn_st_get_f32(f, "w", 2, swapped, dst, &err), DN_ESHAPE);
	CHECK_MSG(strstr(err.msg, "\"w\" has shape [2, 3], expected [3, 2]") != NULL, "%s", err.msg);
	CHECK_RC(dn_st_get_f32(f, "w", 1, flat, dst, &err), DN_ESHAPE);
	CHECK(strstr(err.msg, "expected [6]") != NULL);
	CHECK_RC(dn_st_get_f32(f, "w", -1, good, dst, &err), DN_EINVAL);
	CHECK_RC(dn_st_get_f32(f, "w", 2, good, dst, &err), DN_OK);
	CHECK_RC(dn_st_get_f32(f, "w", 2, good, dst, NULL), DN_OK); /* err may be NULL */
	dn_st_free(f);
	dn_st_free(NULL);
	CHECK(dn_st_count(NULL) == 0 && dn_st_find(NULL, "w") == NULL);
}

static void test_writer_errors(void)
{
	dn_error err;
	dn_st_writer *w = dn_st_writer_create();
	const float x[4] = {1, 2, 3, 4};
	const int64_t s[1] = {4}, neg[1] = {-4};
	const int64_t huge[3] = {INT64_MAX, INT64_MAX, 2};
	CHECK_RC(dn_st_writer_add_f32(w, "a", 1, s, x, &err), DN_OK);
	CHECK_RC(dn_st_writer_add_f32(w, "a", 1, s, x, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "\"a\" was already added") != NULL);
	CHECK_RC(dn_st_writer_add_f32(w, "__metadata__", 1, s, x, &err), DN_EINVAL);
	CHECK_RC(dn_st_writer_add_f32(w, "bad\xc3(", 1, s, x, &err), DN_EINVAL);
	CHECK_RC(dn_st_writer_add_f32(w, "surrogate\xed\xa0\x80", 1, s, x, &err), DN_EINVAL);
	CHECK_RC(dn_st_writer_add_f32(w, "n", 1, neg, x, &err), DN_EINVAL);
	CHECK_RC(dn_st_writer_add_f32(w, "h", 3, huge, x, &err), DN_ELIMIT);
	CHECK_RC(dn_st_writer_add_f32(w, "d", DN_ST_MAX_DIMS + 1, s, x, &err), DN_EINVAL);
	CHECK_RC(dn_st_writer_add_f32(w, "z", 1, s, NULL, &err), DN_EINVAL);
	CHECK_RC(dn_st_writer_set_metadata(w, "k", "\xff", &err), DN_EINVAL);
	CHECK_RC(dn_st_writer_add_f32(w, "ok\xf0\x9f\x98\x80", 1, s, x, &err), DN_OK); /* 4-byte UTF-8 */
	void *bytes;
	size_t len;
	CHECK_RC(dn_st_writer_serialize(w, &bytes, &len, &err), DN_OK);
	dn_st_file *f;
	CHECK_RC(dn_st_parse(bytes, len, &f, &err), DN_OK);
	CHECK(dn_st_count(f) == 2 && dn_st_find(f, "ok\xf0\x9f\x98\x80") != NULL);
	dn_st_free(f);
	free(bytes);
	dn_st_writer_destroy(w);
	dn_st_writer_destroy(NULL);
}

/* ---- files ---- */

static dn_st_writer *writer_of(size_t n, uint32_t seed)
{
	float *x = malloc(n * sizeof *x);
	fill(x, n, seed);
	const int64_t s[1] = {(int64_t)n};
	dn_st_writer *w = dn_st_writer_create();
	dn_st_writer_add_f32(w, "x", 1, s, x, NULL);
	free(x);
	return w;
}

static int file_matches(const char *path, const dn_st_writer *w)
{
	void *bytes;
	size_t len, flen = 0;
	if (dn_st_writer_serialize(w, &bytes, &len, NULL))
		return 0;
	unsigned char *got = slurp(path, &flen);
	int same = got && flen == len && memcmp(got, bytes, len) == 0;
	free(got);
	free(bytes);
	return same;
}

static void test_files(void)
{
	char dir[] = "/tmp/test_safetensors.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], missing[256], sub[256];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	snprintf(missing, sizeof missing, "%s/no/such/dir/model.safetensors", dir);
	snprintf(sub, sizeof sub, "%s/sub", dir);
	dn_error err;
	dn_st_writer *big = writer_of(1000, 3), *small = writer_of(2, 4);

	/* A directory that does not exist: a clean failure, nothing created. */
	CHECK_RC(dn_st_writer_write_file(small, missing, &err), DN_EIO);
	CHECK(strstr(err.msg, "no/such/dir/model.safetensors") != NULL);
	CHECK(count_entries(dir) == 0);

	/* New file: the serialized bytes, mode 0644, no temporary left. */
	CHECK_RC(dn_st_writer_write_file(big, path, &err), DN_OK);
	CHECK(file_matches(path, big));
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
	CHECK(count_entries(dir) == 1);

	/* Over an existing, larger file: replaced whole, its mode kept. */
	CHECK(chmod(path, 0600) == 0);
	CHECK_RC(dn_st_writer_write_file(small, path, &err), DN_OK);
	CHECK(file_matches(path, small));
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(count_entries(dir) == 1);
	dn_st_file *f = NULL;
	CHECK_RC(dn_st_read_file(path, &f, &err), DN_OK);
	CHECK(dn_st_count(f) == 1 && dn_st_find(f, "x")->nbytes == 8);
	dn_st_free(f);

	/* A write cut short (file size limit): error, old file intact, no
	 * temporary left. */
	struct rlimit old;
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	struct rlimit lim = old;
	lim.rlim_cur = 1024;
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	CHECK_RC(dn_st_writer_write_file(big, path, &err), DN_EIO);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, oldsig);
	CHECK_MSG(strstr(err.msg, "cannot write") != NULL, "%s", err.msg);
	CHECK(file_matches(path, small));
	CHECK(count_entries(dir) == 1);

	/* The target is a directory: rename fails, the temporary goes. */
	CHECK(mkdir(sub, 0755) == 0);
	CHECK_RC(dn_st_writer_write_file(small, sub, &err), DN_EIO);
	CHECK(strstr(err.msg, "rename") != NULL);
	CHECK(count_entries(dir) == 2);
	CHECK(count_entries(sub) == 0);

	/* Reading: missing, a directory, a truncated file. */
	CHECK_RC(dn_st_read_file(missing, &f, &err), DN_ENOTFOUND);
	CHECK(f == NULL && strstr(err.msg, "no/such/dir") != NULL);
	CHECK_RC(dn_st_read_file(sub, &f, &err), DN_EIO);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
	CHECK(truncate(path, 12) == 0);
	CHECK_RC(dn_st_read_file(path, &f, &err), DN_EFORMAT);
	CHECK(strstr(err.msg, "truncated") != NULL);
	CHECK(truncate(path, 3) == 0);
	CHECK_RC(dn_st_read_file(path, &f, &err), DN_EFORMAT);
	CHECK(strstr(err.msg, "too short") != NULL);

	/* A relative path (no directory part) works too. */
	char cwd[4096];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK(chdir(dir) == 0);
	CHECK_RC(dn_st_writer_write_file(small, "rel.safetensors", &err), DN_OK);
	CHECK(file_matches("rel.safetensors", small));
	CHECK(chdir(cwd) == 0);

	unlink(path);
	snprintf(path, sizeof path, "%s/rel.safetensors", dir);
	unlink(path);
	rmdir(sub);
	CHECK(rmdir(dir) == 0);
	dn_st_writer_destroy(big);
	dn_st_writer_destroy(small);
}

int main(void)
{
	test_round_trip();
	test_layout();
	test_interop();
	test_half_known();
	test_refusals();
	test_get_errors();
	test_writer_errors();
	test_files();
	return check_status();
}
