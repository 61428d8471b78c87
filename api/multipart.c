/*
 * multipart.c — see multipart.h. The parser walks the body once, finding
 * each delimiter with memmem; all lengths are checked before any copy.
 */
#include "api/multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_BOUNDARY 70 /* RFC 2046 5.1.1 */

static int is_bchar(int c)
{
	/* bcharsnospace of RFC 2046, plus space (not allowed last). */
	return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static int is_tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Reads a parameter value (token or quoted-string) at *pp into out; returns
 * 0, or -1 when malformed or too long. Quoted strings may escape with '\'. */
static int read_param_value(const char **pp, char *out, size_t cap)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '"') {
		p++;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1])
				p++;
			if ((unsigned char)*p < 0x20 && *p != '\t')
				return -1;
			if (n + 1 >= cap)
				return -1;
			out[n++] = *p++;
		}
		if (*p != '"')
			return -1;
		p++;
	} else {
		while (is_tchar((unsigned char)*p)) {
			if (n + 1 >= cap)
				return -1;
			out[n++] = *p++;
		}
		if (n == 0)
			return -1;
	}
	out[n] = '\0';
	*pp = p;
	return 0;
}

/* Walks "; name=value" parameters after a media type or disposition type.
 * Calls fn for each; -1 on syntax error. */
static int each_param(const char *p, int (*fn)(void *ctx, const char *name, size_t nlen, const char *value),
                      void *ctx)
{
	char value[API_MULTIPART_MAX_FIELD];

	for (;;) {
		const char *name;
		size_t nlen;

		p = skip_ws(p);
		if (*p == '\0')
			return 0;
		if (*p != ';')
			return -1;
		p = skip_ws(p + 1);
		if (*p == '\0')
			return 0; /* a trailing ';' is common and harmless */
		name = p;
		while (is_tchar((unsigned char)*p))
			p++;
		nlen = (size_t)(p - name);
		if (nlen == 0)
			return -1;
		p = skip_ws(p);
		if (*p != '=')
			return -1;
		p = skip_ws(p + 1);
		if (read_param_value(&p, value, sizeof value) != 0)
			return -1;
		if (fn(ctx, name, nlen, value) != 0)
			return -1;
	}
}

typedef struct boundary_ctx {
	char *out;
	size_t cap;
	int found;
} boundary_ctx;

static int boundary_param(void *vctx, const char *name, size_t nlen, const char *value)
{
	boundary_ctx *b = vctx;
	size_t len = strlen(value);

	if (nlen != 8 || strncasecmp(name, "boundary", 8) != 0)
		return 0;
	if (b->found)
		return -1; /* given twice */
	if (len == 0 || len > MAX_BOUNDARY || len + 1 > b->cap || value[len - 1] == ' ')
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!is_bchar((unsigned char)value[i]))
			return -1;
	memcpy(b->out, value, len + 1);
	b->found = 1;
	return 0;
}

int api_multipart_boundary(const char *content_type, char *out, size_t cap, dn_error *err)
{
	static const char mt[] = "multipart/form-data";
	boundary_ctx b = {out, cap, 0};
	const char *p = skip_ws(content_type);

	if (strncasecmp(p, mt, sizeof mt - 1) != 0)
		return dn_error_set(err, DN_EFORMAT, "content type is not multipart/form-data");
	p += sizeof mt - 1;
	if (each_param(p, boundary_param, &b) != 0)
		return dn_error_set(err, DN_EFORMAT, "malformed parameters in the multipart content type");
	if (!b.found)
		return dn_error_set(err, DN_EFORMAT, "multipart content type has no boundary parameter");
	return DN_OK;
}

typedef struct disp_ctx {
	api_part *part;
	int has_name;
} disp_ctx;

static int disposition_param(void *vctx, const char *name, size_t nlen, const char *value)
{
	disp_ctx *d = vctx;

	if (nlen == 4 && strncasecmp(name, "name", 4) == 0) {
		if (d->has_name)
			return -1;
		strcpy(d->part->name, value);
		d->has_name = 1;
	} else if (nlen == 8 && strncasecmp(name, "filename", 8) == 0) {
		if (d->part->has_filename)
			return -1;
		strcpy(d->part->filename, value);
		d->part->has_filename = 1;
	}
	/* Other parameters (filename* of RFC 5987...) are allowed and ignored. */
	return 0;
}

/* Parses one header line "Name: value" (without CRLF) into part. */
static int part_header(api_part *part, const char *line, int *has_disposition, dn_error *err)
{
	const char *colon = strchr(line, ':'), *v;
	size_t nlen;

	if (!colon || colon == line)
		return dn_error_set(err, DN_EFORMAT, "part header line without a name");
	nlen = (size_t)(colon - line);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)line[i]))
			return dn_error_set(err, DN_EFORMAT, "invalid character in a part header name");
	v = skip_ws(colon + 1);
	if (nlen == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
		disp_ctx d = {part, 0};

		if (*has_disposition)
			return dn_error_set(err, DN_EFORMAT, "part has two Content-Disposition headers");
		if (strncasecmp(v, "form-data", 9) != 0 ||
		    (v[9] && v[9] != ';' && v[9] != ' ' && v[9] != '\t'))
			return dn_error_set(err, DN_EFORMAT, "part disposition is not form-data");
		if (each_param(v + 9, disposition_param, &d) != 0)
			return dn_error_set(err, DN_EFORMAT, "malformed Content-Disposition parameters");
		if (!d.has_name)
			return dn_error_set(err, DN_EFORMAT, "part has no name");
		/* RFC 7578: the name says which field a part is; "" names none. */
		if (!d.part->name[0])
			return dn_error_set(err, DN_EFORMAT, "part has an empty name");
		*has_disposition = 1;
	} else if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
		size_t len = strlen(v);

		while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (part->content_type[0] || len == 0 || len >= sizeof part->content_type)
			return dn_error_set(err, DN_EFORMAT, "bad or repeated part Content-Type");
		memcpy(part->content_type, v, len);
		part->content_type[len] = '\0';
	}
	return DN_OK;
}

/* Parses the header block at h[0..len) (ending before the empty line). */
static int part_headers(api_part *part, const unsigned char *h, size_t len, dn_error *err)
{
	char line[API_MULTIPART_MAX_HEADER + 1];
	int has_disposition = 0;
	size_t i = 0;

	/* Obsolete line folding (RFC 7230 3.2.4) is refused outright. */
	if (memmem(h, len, "\r\n ", 3) || memmem(h, len, "\r\n\t", 3))
		return dn_error_set(err, DN_EFORMAT, "folded part header lines are not accepted");
	while (i < len) {
		const unsigned char *eol = memmem(h + i, len - i, "\r\n", 2);
		size_t n = eol ? (size_t)(eol - (h + i)) : len - i;
		int rc;

		if (n == 0)
			return dn_error_set(err, DN_EFORMAT, "empty part header line");
		if (h[i] == ' ' || h[i] == '\t')
			return dn_error_set(err, DN_EFORMAT, "folded part header lines are not accepted");
		for (size_t j = 0; j < n; j++)
			if (h[i + j] == '\0' || h[i + j] == '\r' || h[i + j] == '\n')
				return dn_error_set(err, DN_EFORMAT, "control character in a part header");
		memcpy(line, h + i, n);
		line[n] = '\0';
		rc = part_header(part, line, &has_disposition, err);
		if (rc != DN_OK)
			return rc;
		i += n + 2;
	}
	if (!has_disposition)
		return dn_error_set(err, DN_EFORMAT, "part without Content-Disposition");
	return DN_OK;
}

int api_multipart_parse(const char *content_type, const void *body, size_t len, api_multipart *out,
                        dn_error *err)
{
	const unsigned char *b = body, *end = b + len, *p;
	char boundary[MAX_BOUNDARY + 1], delim[MAX_BOUNDARY + 5];
	size_t dlen;
	int rc;

	memset(out, 0, sizeof *out);
	rc = api_multipart_boundary(content_type, boundary, sizeof boundary, err);
	if (rc != DN_OK)
		return rc;
	/* delim is CRLF "--" boundary; the first one may lack the CRLF when the
	 * body starts with it (no preamble). */
	dlen = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", boundary);
	if (len >= dlen - 2 && memcmp(b, delim + 2, dlen - 2) == 0) {
		p = b + dlen - 2;
	} else {
		const unsigned char *d = memmem(b, len, delim, dlen);

		if (!d)
			return dn_error_set(err, DN_EFORMAT, "boundary not found in the body");
		p = d + dlen;
	}
	for (;;) {
		const unsigned char *hend, *next;
		api_part *part;

		/* After a delimiter: "--" closes, else optional whitespace, CRLF. */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
			if (out->count == 0)
				return dn_error_set(err, DN_EFORMAT, "multipart body has no parts");
			return DN_OK; /* the epilogue is ignored */
		}
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return dn_error_set(err, DN_EFORMAT,
			                    "delimiter not followed by CRLF (truncated body?)");
		p += 2;
		if (out->count == API_MULTIPART_MAX_PARTS)
			return dn_error_set(err, DN_ELIMIT, "more than %d parts", API_MULTIPART_MAX_PARTS);
		part = &out->parts[out->count];
		/* Header block: up to an empty line, bounded in size. */
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
			hend = p;
		} else {
			size_t avail = (size_t)(end - p);
			size_t scan =
			    avail < API_MULTIPART_MAX_HEADER + 4 ? avail : API_MULTIPART_MAX_HEADER + 4;
			const unsigned char *e = memmem(p, scan, "\r\n\r\n", 4);

			if (!e) {
				if (scan < avail)
					return dn_error_set(err, DN_ELIMIT, "part header block over %d bytes",
					                    API_MULTIPART_MAX_HEADER);
				return dn_error_set(err, DN_EFORMAT,
				                    "part headers not terminated (truncated body?)");
			}
			if ((size_t)(e - p) > API_MULTIPART_MAX_HEADER)
				return dn_error_set(err, DN_ELIMIT, "part header block over %d bytes",
				                    API_MULTIPART_MAX_HEADER);
			hend = e + 2; /* keep the last header's CRLF out of the block */
			rc = part_headers(part, p, (size_t)(e - p), err);
			if (rc != DN_OK)
				return rc;
		}
		if (hend == p)
			return dn_error_set(err, DN_EFORMAT, "part without Content-Disposition");
		p = hend + 2;
		next = memmem(p, (size_t)(end - p), delim, dlen);
		if (!next)
			return dn_error_set(err, DN_EFORMAT, "closing boundary missing (truncated body?)");
		part->data = p;
		part->len = (size_t)(next - p);
		out->count++;
		p = next + dlen;
	}
}

const api_part *api_multipart_find(const api_multipart *m, const char *name)
{
	for (size_t i = 0; i < m->count; i++)
		if (strcmp(m->parts[i].name, name) == 0)
			return &m->parts[i];
	return NULL;
}
