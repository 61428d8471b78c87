/*
 * body.c — what the upload routes (POST /v1/audio:denoise and
 * /v1/frames:denoise) share about their bodies: the first check of the
 * Content-Type, before the body is read, and the reading of media types and
 * form fields.
 *
 * Each route says which single-file media types it takes; both take a
 * multipart/form-data form as well, whose boundary is checked here so that a
 * bad one is refused before any byte of the body is stored. Once the body is
 * complete, both hand their job to a worker the same way (api_upload_queue).
 */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"

void api_media_type(const char *ct, char *out, size_t cap)
{
	size_t n = 0;

	while (*ct == ' ')
		ct++;
	while (ct[n] && ct[n] != ';' && ct[n] != ' ' && n + 1 < cap) {
		out[n] = (char)(ct[n] >= 'A' && ct[n] <= 'Z' ? ct[n] + 32 : ct[n]);
		n++;
	}
	out[n] = '\0';
}

void api_field_value(const api_part *p, char *out, size_t cap)
{
	size_t n = p && p->len < cap ? p->len : 0;

	if (n)
		memcpy(out, p->data, n);
	out[n] = '\0';
}

int api_query_param(api_request *r, const char *name, const char **out)
{
	const char *v = NULL;
	size_t n = 0;

	*out = NULL;
	if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v, &n) !=
	        MHD_YES ||
	    !v)
		return 1;
	if (memchr(v, '\0', n)) {
		api_answer_problem(r, API_P_BAD_PARAMETER,
		                   "query parameter '%s' holds a NUL byte (%%00): remove it", name);
		return 0;
	}
	*out = v;
	return 1;
}

int api_form_field(api_request *r, const api_part *p, const char *name, char *out, size_t cap)
{
	out[0] = '\0';
	if (!p)
		return 1;
	if (p->len >= cap) {
		api_answer_problem(r, API_P_BAD_PARAMETER,
		                   "form field '%s' is %zu bytes long; it may be at most %zu", name, p->len,
		                   cap - 1);
		return 0;
	}
	if (memchr(p->data, '\0', p->len)) {
		api_answer_problem(r, API_P_BAD_PARAMETER, "form field '%s' holds a NUL byte: remove it",
		                   name);
		return 0;
	}
	memcpy(out, p->data, p->len);
	out[p->len] = '\0';
	return 1;
}

/* Magic bytes of the formats each route decodes. */
static int looks_audio(const unsigned char *b, size_t n)
{
	return (n >= 12 && (!memcmp(b, "RIFF", 4) || !memcmp(b, "RF64", 4)) && !memcmp(b + 8, "WAVE", 4)) ||
	       (n >= 4 && (!memcmp(b, "fLaC", 4) || !memcmp(b, "OggS", 4) || !memcmp(b, "ID3", 3))) ||
	       (n >= 12 && !memcmp(b, "FORM", 4) &&
	        (!memcmp(b + 8, "AIFF", 4) || !memcmp(b + 8, "AIFC", 4))) ||
	       (n >= 2 && b[0] == 0xff && (b[1] & 0xe0) == 0xe0);
}

static int looks_image(const unsigned char *b, size_t n)
{
	return (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) ||
	       (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8));
}

int api_sniff_ok(api_request *r, const char *kind)
{
	int audio = strcmp(kind, "audio") == 0;

	if (!r->sniff)
		return 1;
	if (audio ? looks_audio(r->body, r->len) : looks_image(r->body, r->len))
		return 1;
	api_answer_problem(r, API_P_MEDIA_TYPE,
	                   "content type 'application/x-www-form-urlencoded' is not accepted and the "
	                   "body is not %s: send Content-Type: %s",
	                   audio ? "WAV, FLAC, Ogg, MP3 or AIFF" : "a JPEG or PNG",
	                   audio ? "audio/wav (or audio/flac, ...)" : "image/jpeg or image/png");
	return 0;
}

int api_upload_content_type(api_request *r, int (*accepted)(const char *mt), const char *missing_hint,
                            const char *refused_hint)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	char mt[128];

	if (!ct) {
		api_answer_problem(r, API_P_MEDIA_TYPE, "send a Content-Type: %s or multipart/form-data",
		                   missing_hint);
		return 0;
	}
	api_media_type(ct, mt, sizeof mt);
	snprintf(r->content_type, sizeof r->content_type, "%s", ct);
	if (strcmp(mt, "multipart/form-data") == 0) {
		char boundary[80];
		dn_error err;

		if (api_multipart_boundary(ct, boundary, sizeof boundary, &err) != DN_OK) {
			api_answer_problem(r, API_P_BAD_MULTIPART, "%s", err.msg);
			return 0;
		}
		r->multipart = 1;
	} else if (strcmp(mt, "application/x-www-form-urlencoded") == 0) {
		/* What curl --data-binary sends without -H: a real form is never
		 * a sound file or a JPEG, so the body's first bytes decide. */
		r->sniff = 1;
	} else if (!accepted(mt)) {
		api_answer_problem(r, API_P_MEDIA_TYPE,
		                   "content type '%s' is not accepted: send %s or multipart/form-data", mt,
		                   refused_hint);
		return 0;
	}
	return 1;
}

int api_upload_queue(api_request *r, void (*job)(void *arg, void *worker))
{
	api_server *s = r->srv;
	int rc;

	/* Suspend before queueing, so a fast worker cannot resume a connection
	 * that is not suspended yet. */
	r->suspended = 1;
	MHD_suspend_connection(r->conn);
	rc = s->host.submit(s->host.ctx, job, r);
	if (rc == DN_OK)
		return 1;
	if (rc == DN_ELIMIT) {
		api_gauges g;

		memset(&g, 0, sizeof g);
		s->host.gauges(s->host.ctx, &g);
		api_answer_problem(r, API_P_OVERLOADED, "all %d workers are busy and the queue (%zu) is full",
		                   g.workers, g.queue_capacity);
	} else
		api_answer_problem(r, API_P_SHUTTING_DOWN, "the server is shutting down");
	MHD_resume_connection(r->conn);
	return 1;
}
