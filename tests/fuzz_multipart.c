/*
 * fuzz_multipart.c — libFuzzer target for the multipart/form-data parser.
 *
 * The input is a Content-Type value, a newline, then the body, so the fuzzer
 * explores boundary parameters as well as framing. Every part returned must
 * lie inside the body, with NUL-terminated fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t ctlen = nl ? (size_t)(nl - data) : size;
	char *ct = malloc(ctlen + 1);
	/* The body in its own allocation, so reads past it are caught. */
	size_t blen = nl ? size - ctlen - 1 : 0;
	uint8_t *body = malloc(blen ? blen : 1);
	api_multipart *m = malloc(sizeof *m);
	dn_error err;

	if (!ct || !body || !m)
		abort();
	memcpy(ct, data, ctlen);
	ct[ctlen] = '\0';
	if (blen)
		memcpy(body, nl + 1, blen);
	if (api_multipart_parse(ct, body, blen, m, &err) == DN_OK) {
		if (m->count == 0 || m->count > API_MULTIPART_MAX_PARTS)
			abort();
		for (size_t i = 0; i < m->count; i++) {
			const api_part *p = &m->parts[i];

			if (p->data < body || p->data + p->len > body + blen)
				abort();
			if (!memchr(p->name, 0, sizeof p->name) || !memchr(p->filename, 0, sizeof p->filename) ||
			    !memchr(p->content_type, 0, sizeof p->content_type) || !p->name[0])
				abort();
		}
	} else if (err.msg[0] == '\0') {
		abort(); /* every refusal says why */
	}
	free(m);
	free(body);
	free(ct);
	return 0;
}
