/*
 * multipart.h — a small, strict multipart/form-data parser (RFC 7578, with
 * the framing of RFC 2046), as browsers send file uploads.
 *
 * It parses bytes from the network, so it is written to refuse rather than
 * guess: the boundary must be valid, every part needs a form-data
 * Content-Disposition with a name, header lines end in CRLF, header blocks
 * and the number of parts are bounded, and the closing delimiter must be
 * there. Part data is not copied: it points into the caller's body, which
 * must outlive the result. A libFuzzer target (tests/fuzz_multipart.c)
 * exercises it.
 */
#ifndef API_MULTIPART_H
#define API_MULTIPART_H

#include <stddef.h>

#include "core/dn.h"

#define API_MULTIPART_MAX_PARTS  16
#define API_MULTIPART_MAX_HEADER 8192 /* bytes of one part's header block */
#define API_MULTIPART_MAX_FIELD  256  /* bytes of a name, filename or type */

typedef struct api_part {
	char name[API_MULTIPART_MAX_FIELD];         /* form field name */
	char filename[API_MULTIPART_MAX_FIELD];     /* "" when not a file */
	char content_type[API_MULTIPART_MAX_FIELD]; /* "" when not given */
	int has_filename;
	const unsigned char *data; /* into the body */
	size_t len;
} api_part;

typedef struct api_multipart {
	api_part parts[API_MULTIPART_MAX_PARTS];
	size_t count;
} api_multipart;

/* Extracts the boundary parameter of a multipart Content-Type value into out
 * (NUL-terminated). DN_EFORMAT when absent or not a valid RFC 2046 boundary. */
int api_multipart_boundary(const char *content_type, char *out, size_t cap, dn_error *err);

/* Parses body[0..len) framed by the boundary of content_type. DN_EFORMAT with
 * a message saying what is wrong; DN_ELIMIT when there are too many parts or
 * a header block is too large. */
int api_multipart_parse(const char *content_type, const void *body, size_t len, api_multipart *out,
                        dn_error *err);

/* The first part called name, or NULL. */
const api_part *api_multipart_find(const api_multipart *m, const char *name);

#endif
