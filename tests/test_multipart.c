/*
 * test_multipart.c — the multipart/form-data parser: what browsers send
 * parses (with preamble, epilogue, quoted boundaries, binary data holding
 * CR, LF and near-boundaries), and each defect is refused with a reason.
 */
#include <string.h>

#include "api/multipart.h"
#include "tests/check.h"

#define CT "multipart/form-data; boundary=XyZ"

static int parse(const char *ct, const char *body, api_multipart *m, dn_error *err)
{
	return api_multipart_parse(ct, body, strlen(body), m, err);
}

static void test_boundary(void)
{
	char b[80];
	dn_error err;

	CHECK_RC(api_multipart_boundary("multipart/form-data; boundary=abc", b, sizeof b, &err), DN_OK);
	CHECK(strcmp(b, "abc") == 0);
	CHECK_RC(api_multipart_boundary("Multipart/Form-Data;boundary=\"a b:c\"; charset=utf-8", b, sizeof b, &err),
		 DN_OK);
	CHECK(strcmp(b, "a b:c") == 0);
	CHECK_RC(api_multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW", b,
					sizeof b, &err),
		 DN_OK);
	CHECK_RC(api_multipart_boundary("multipart/form-data", b, sizeof b, &err), DN_EFORMAT);
	CHECK_MSG(strstr(err.msg, "no boundary"), "%s", err.msg);
	CHECK_RC(api_multipart_boundary("multipart/mixed; boundary=abc", b, sizeof b, &err), DN_EFORMAT);
	CHECK_RC(api_multipart_boundary("multipart/form-data; boundary=", b, sizeof b, &err), DN_EFORMAT);
	CHECK_RC(api_multipart_boundary("multipart/form-data; boundary=\"abc \"", b, sizeof b, &err), DN_EFORMAT);
	CHECK_RC(api_multipart_boundary("multipart/form-data; boundary=\"a<b\"", b, sizeof b, &err), DN_EFORMAT);
	CHECK_RC(api_multipart_boundary("multipart/form-data; boundary=\"abc", b, sizeof b, &err), DN_EFORMAT);
	CHECK_RC(api_multipart_boundary("multipart/form-data; boundary=a; boundary=b", b, sizeof b, &err),
		 DN_EFORMAT);
	{
		char ct[200];

		snprintf(ct, sizeof ct, "multipart/form-data; boundary=%071d", 0);
		CHECK_RC(api_multipart_boundary(ct, b, sizeof b, &err), DN_EFORMAT);
		snprintf(ct, sizeof ct, "multipart/form-data; boundary=%070d", 0);
		CHECK_RC(api_multipart_boundary(ct, b, sizeof b, &err), DN_OK);
	}
}

static void test_good(void)
{
	api_multipart m;
	dn_error err;
	const api_part *p;
	static const char body[] = "--XyZ\r\n"
				   "Content-Disposition: form-data; name=\"model\"\r\n"
				   "\r\n"
				   "speech\r\n"
				   "--XyZ\r\n"
				   "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\n"
				   "Content-Type: audio/wav\r\n"
				   "X-Other: ignored\r\n"
				   "\r\n"
				   "RI\0F\r\n--Xy\r\n-\r\n"
				   "--XyZ--\r\n";

	CHECK_RC(api_multipart_parse(CT, body, sizeof body - 1, &m, &err), DN_OK);
	CHECK(m.count == 2);
	p = api_multipart_find(&m, "model");
	CHECK(p && p->len == 6 && memcmp(p->data, "speech", 6) == 0 && !p->has_filename);
	p = api_multipart_find(&m, "file");
	CHECK(p && p->has_filename && strcmp(p->filename, "a \"b\".wav") == 0);
	CHECK(p && strcmp(p->content_type, "audio/wav") == 0);
	/* Binary data with NUL, CRLF and a near-boundary comes back whole. */
	CHECK(p && p->len == 13 && memcmp(p->data, "RI\0F\r\n--Xy\r\n-", 13) == 0);
	CHECK(api_multipart_find(&m, "nope") == NULL);

	/* Preamble, epilogue, an empty part, transport padding. */
	CHECK_RC(parse(CT,
		       "preamble to ignore\r\n--XyZ  \r\nContent-Disposition: form-data; name=e\r\n\r\n\r\n--XyZ--"
		       "epilogue",
		       &m, &err),
		 DN_OK);
	CHECK(m.count == 1 && m.parts[0].len == 0 && strcmp(m.parts[0].name, "e") == 0);
}

static void test_bad(void)
{
	static const struct {
		const char *body;
		int rc;
		const char *why;
	} bad[] = {
		{"", DN_EFORMAT, "boundary not found"},
		{"no delimiter here", DN_EFORMAT, "boundary not found"},
		{"--XyZ--\r\n", DN_EFORMAT, "no parts"},
		{"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\ndata", DN_EFORMAT, "closing boundary missing"},
		{"--XyZ\r\nContent-Disposition: form-data; name=a\r\n", DN_EFORMAT, "not terminated"},
		{"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ", DN_EFORMAT, "CRLF"},
		{"--XyZ\r\n\r\nx\r\n--XyZ--", DN_EFORMAT, "without Content-Disposition"},
		{"--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", DN_EFORMAT, "without Content-Disposition"},
		{"--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--", DN_EFORMAT, "not form-data"},
		{"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--", DN_EFORMAT, "no name"},
		{"--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n--XyZ--", DN_EFORMAT, "empty name"},
		{"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--", DN_EFORMAT, "malformed"},
		{"--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--XyZ--", DN_EFORMAT, "folded"},
		{"--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--XyZ--", DN_EFORMAT,
		 "malformed"},
		{"--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=a\r\n\r\nx"
		 "\r\n--XyZ--",
		 DN_EFORMAT, "two Content-Disposition"},
		{"--XyZ\r\nno colon\r\n\r\nx\r\n--XyZ--", DN_EFORMAT, "without a name"},
		{"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ junk", DN_EFORMAT, "CRLF"},
		{"--XyZ\r\nContent-Disposition: form-data; name=a\nContent-Type: x\r\n\r\nx\r\n--XyZ--", DN_EFORMAT,
		 "control character"},
	};
	api_multipart m;
	dn_error err;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse(CT, bad[i].body, &m, &err);

		CHECK_MSG(rc == bad[i].rc, "case %zu: rc %d", i, rc);
		CHECK_MSG(rc != DN_OK && strstr(err.msg, bad[i].why), "case %zu: '%s' lacks '%s'", i, err.msg,
			  bad[i].why);
	}
	CHECK_RC(parse("text/plain", "--XyZ\r\n", &m, &err), DN_EFORMAT);
}

static void test_limits(void)
{
	char body[20000];
	size_t n = 0;
	api_multipart m;
	dn_error err;

	/* One part more than allowed. */
	for (int i = 0; i <= API_MULTIPART_MAX_PARTS; i++)
		n += (size_t)snprintf(body + n, sizeof body - n,
				      "--XyZ\r\nContent-Disposition: form-data; name=f%d\r\n\r\nv\r\n", i);
	n += (size_t)snprintf(body + n, sizeof body - n, "--XyZ--\r\n");
	CHECK_RC(api_multipart_parse(CT, body, n, &m, &err), DN_ELIMIT);
	/* Exactly the maximum is fine. */
	n = 0;
	for (int i = 0; i < API_MULTIPART_MAX_PARTS; i++)
		n += (size_t)snprintf(body + n, sizeof body - n,
				      "--XyZ\r\nContent-Disposition: form-data; name=f%d\r\n\r\nv\r\n", i);
	n += (size_t)snprintf(body + n, sizeof body - n, "--XyZ--\r\n");
	CHECK_RC(api_multipart_parse(CT, body, n, &m, &err), DN_OK);
	CHECK(m.count == API_MULTIPART_MAX_PARTS);
	/* A header block over the limit. */
	n = (size_t)snprintf(body, sizeof body, "--XyZ\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ");
	memset(body + n, 'p', API_MULTIPART_MAX_HEADER);
	n += API_MULTIPART_MAX_HEADER;
	n += (size_t)snprintf(body + n, sizeof body - n, "\r\n\r\nx\r\n--XyZ--");
	CHECK_RC(api_multipart_parse(CT, body, n, &m, &err), DN_ELIMIT);
	/* A name longer than the field. */
	n = (size_t)snprintf(body, sizeof body, "--XyZ\r\nContent-Disposition: form-data; name=");
	memset(body + n, 'n', API_MULTIPART_MAX_FIELD);
	n += API_MULTIPART_MAX_FIELD;
	n += (size_t)snprintf(body + n, sizeof body - n, "\r\n\r\nx\r\n--XyZ--");
	CHECK_RC(api_multipart_parse(CT, body, n, &m, &err), DN_EFORMAT);
}

int main(void)
{
	test_boundary();
	test_good();
	test_bad();
	test_limits();
	return check_status();
}
