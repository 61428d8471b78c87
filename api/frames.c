/*
 * frames.c — POST /v1/frames:denoise: the body is one frame (image/jpeg or
 * image/png), or a form (multipart/form-data) with one or more JPEG or PNG
 * file parts, answered as one frame or, for a form, as multipart/mixed with
 * one part per input part in the same order. Query (or form fields): model
 * (a frame model; the first loaded frame model by name when absent),
 * format (png, jpeg), subsampling (444, 420: JPEG chroma), quality (JPEG,
 * 1..100, default 95). Output keeps each input's size and grayscale-ness.
 *
 * The answer's format: the format parameter, else the one the Accept header
 * prefers of image/png and image/jpeg (by q, the most specific range
 * deciding: image/png beats image/any beats any/any), else the input's format.
 * JPEG chroma: the subsampling parameter, else the input's own — a PNG
 * counts as 4:4:4, since it carried full chroma that 4:2:0 would halve,
 * while a 4:2:0 JPEG has no chroma detail 4:4:4 could keep (it would only
 * make the answer larger).
 *
 * As for audio, the header-only checks (content type, parameters, model) run
 * on libmicrohttpd's thread; decoding, inference and encoding run on a
 * worker. Frames of a form are done one after the other, so a request holds
 * the encoded body, the answers so far and one decoded frame at a time.
 * Each frame's size is checked against max_frame_pixels from its JPEG
 * header or PNG IHDR, before its pixels are allocated (413).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "api/internal.h"
#include "api/multipart.h"
#include "core/image/frame.h"
#include "core/image/image.h"

static int frame_media_type(const char *mt)
{
	return strcmp(mt, "image/jpeg") == 0 || strcmp(mt, "image/jpg") == 0 ||
	       strcmp(mt, "image/pjpeg") == 0 || strcmp(mt, "image/png") == 0;
}

/* How well one Accept range matches type ("image/png"): 3 exact, 2 the
 * image wildcard, 1 the full wildcard, 0 not at all. */
static int range_match(const char *range, size_t n, const char *type)
{
	if (n == strlen(type) && strncasecmp(range, type, n) == 0)
		return 3;
	if (n == 7 && strncasecmp(range, "image/*", 7) == 0)
		return 2;
	if (n == 3 && strncmp(range, "*/*", 3) == 0)
		return 1;
	return 0;
}

/* The q an Accept header gives type: that of its most specific matching
 * range (RFC 9110 12.5.1), 0 when none matches. In thousandths. */
static int accept_q(const char *accept, const char *type)
{
	int best = 0, q_best = 0;

	for (const char *p = accept; *p;) {
		const char *end = strchr(p, ','), *semi;
		size_t len = end ? (size_t)(end - p) : strlen(p), n;
		int m, q = 1000;

		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		semi = memchr(p, ';', len);
		n = semi ? (size_t)(semi - p) : len;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		for (const char *a = semi; a && a < p + len; a = memchr(a + 1, ';', (size_t)(p + len - a - 1))) {
			const char *v = a + 1;

			while (v < p + len && (*v == ' ' || *v == '\t'))
				v++;
			if (v + 1 < p + len && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
				double d = strtod(v + 2, NULL);

				q = d < 0 ? 0 : d > 1 ? 1000 : (int)(d * 1000 + 0.5);
			}
		}
		m = range_match(p, n, type);
		if (m > best) {
			best = m;
			q_best = q;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return q_best;
}

/* DN_IMAGE_PNG or DN_IMAGE_JPEG when Accept prefers one; 0 on a tie. */
static int accept_format(const char *accept)
{
	int png, jpeg;

	if (!accept)
		return 0;
	png = accept_q(accept, "image/png");
	jpeg = accept_q(accept, "image/jpeg");
	return png > jpeg ? DN_IMAGE_PNG : jpeg > png ? DN_IMAGE_JPEG : 0;
}

/* Finds the first frame model by name (model_each goes in name order). */
typedef struct find_ctx {
	api_server *s;
	char name[128];
} find_ctx;

static void find_frame(void *arg, api_model *m, int is_default)
{
	find_ctx *c = arg;

	(void)is_default;
	if (!c->name[0] && dn_model_get_info(c->s->host.model_get(m))->kind == DN_MODEL_FRAME)
		snprintf(c->name, sizeof c->name, "%s", c->s->host.model_name(m));
}

/* Resolves model, quality, format and subsampling (NULL or "": not given).
 * Sets an answer and returns 0 on refusal. */
static int resolve_params(api_request *r, const char *model, const char *quality, const char *format,
                          const char *subsampling)
{
	api_server *s = r->srv;

	if (format && *format) {
		int f = dn_image_format_parse(format);

		if (f < 0) {
			api_answer_problem(r, API_P_BAD_PARAMETER, "format '%.32s' is unknown: use png or jpeg",
			                   format);
			return 0;
		}
		r->format = f;
	}
	if (subsampling && *subsampling) {
		if (strcmp(subsampling, "444") == 0 || strcmp(subsampling, "4:4:4") == 0)
			r->subsamp = DN_SUBSAMP_444;
		else if (strcmp(subsampling, "420") == 0 || strcmp(subsampling, "4:2:0") == 0)
			r->subsamp = DN_SUBSAMP_420;
		else {
			api_answer_problem(r, API_P_BAD_PARAMETER,
			                   "subsampling '%.32s' is unknown: use 444 (full chroma) or 420", subsampling);
			return 0;
		}
	}
	if (quality && *quality) {
		char *end;
		long q = strtol(quality, &end, 10);

		if (end == quality || *end || q < 1 || q > 100) {
			api_answer_problem(r, API_P_BAD_PARAMETER,
			                   "quality '%.32s' must be a whole number 1..100", quality);
			return 0;
		}
		r->quality = (int)q;
	}
	if (r->model && model && *model && strcmp(model, s->host.model_name(r->model)) != 0) {
		s->host.model_release(s->host.ctx, r->model);
		r->model = NULL;
	}
	if (!r->model) {
		if (model && *model) {
			r->model = s->host.model_acquire(s->host.ctx, model);
			if (!r->model) {
				api_answer_problem(
				    r, API_P_UNKNOWN_MODEL,
				    "no model called '%s' is loaded; GET /v1/models lists them", model);
				return 0;
			}
		} else {
			find_ctx c = {.s = s};

			s->host.model_each(s->host.ctx, find_frame, &c);
			r->model = c.name[0] ? s->host.model_acquire(s->host.ctx, c.name) : NULL;
			if (!r->model) {
				api_answer_problem(r, API_P_NOT_READY, "no frame model is loaded");
				return 0;
			}
		}
	}
	if (dn_model_get_info(s->host.model_get(r->model))->kind != DN_MODEL_FRAME) {
		api_answer_problem(r, API_P_MODEL_KIND, "model '%s' is an audio model; name a frame model",
		                   s->host.model_name(r->model));
		return 0;
	}
	return 1;
}

void api_frames_begin(api_request *r, const char *rest)
{
	r->quality = DN_IMAGE_DEFAULT_QUALITY;
	r->format = DN_IMAGE_ANY;
	r->subsamp = DN_SUBSAMP_KEEP;
	r->accept_format =
	    accept_format(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
	if (!api_upload_content_type(r, frame_media_type, "image/jpeg or image/png",
	                             "image/jpeg, image/png"))
		return;
	{
		const char *model, *quality, *format, *subsampling;

		if (!api_query_param(r, "model", &model) || !api_query_param(r, "quality", &quality) ||
		    !api_query_param(r, "format", &format) || !api_query_param(r, "subsampling", &subsampling))
			return;
		r->query_model = model != NULL;
		r->query_quality = quality != NULL;
		r->query_format = format != NULL;
		r->query_subsamp = subsampling != NULL;
		resolve_params(r, model, quality, format, subsampling);
	}
}

/* A growing byte buffer for the multipart/mixed answer. */
typedef struct outbuf {
	char *p;
	size_t len, cap;
} outbuf;

static int put(outbuf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

/* Decodes, denoises and encodes one frame into *jpeg (a JPEG or a PNG, as
 * *fmt then says); on failure answers (naming the frame when label is not
 * NULL) and returns 0. */
static int one_frame(api_request *r, dn_frame *fr, const void *data, size_t len, const char *label,
                     void **jpeg, size_t *jlen, int *fmt)
{
	api_server *s = r->srv;
	dn_image in = {0}, out = {0};
	dn_error err;
	char where[300] = "";
	uint64_t need;
	int rc;

	if (label)
		snprintf(where, sizeof where, "%s: ", label);
	if (len == 0) {
		api_answer_problem(r, API_P_NO_FRAME, "%sempty: send a JPEG or PNG", where);
		return 0;
	}
	rc = dn_image_decode(data, len, (size_t)s->p.max_frame_pixels, &in, &err);
	if (rc == DN_ELIMIT) {
		api_answer_problem(r, API_P_FRAME_TOO_LARGE, "%s%s (max_frame_pixels is %llu)", where,
		                   err.msg, (unsigned long long)s->p.max_frame_pixels);
		return 0;
	}
	if (rc != DN_OK) {
		api_answer_problem(r, rc == DN_ENOMEM ? API_P_INTERNAL : API_P_BAD_FRAME, "%s%s", where,
		                   err.msg);
		return 0;
	}
	/* Pixels in and out, and the float tiles between them. */
	need = (uint64_t)in.w * (uint64_t)in.h * (uint64_t)in.channels * (2 + 2 * sizeof(float));
	if (!api_mem_reserve(r, need, "the decoded frame", API_P_FRAME_TOO_LARGE)) {
		dn_image_free(&in);
		return 0;
	}
	dn_frame_set_cancel(fr, api_request_cancel, r);
	rc = dn_frame_denoise(fr, &in, &out, &err);
	dn_frame_set_cancel(fr, NULL, NULL); /* the context outlives r */
	dn_image_free(&in);
	if (rc == DN_ECANCELLED) {
		api_answer_cancelled(r, label ? label : "the frame");
		return 0;
	}
	if (rc != DN_OK) {
		api_answer_problem(r, API_P_INTERNAL, "%sdenoising failed: %s", where, err.msg);
		return 0;
	}
	*fmt = r->format ? r->format : r->accept_format ? r->accept_format : out.format ? out.format : DN_IMAGE_JPEG;
	rc = dn_image_encode_as(&out, *fmt, r->quality, r->subsamp, jpeg, jlen, &err);
	dn_image_free(&out);
	api_mem_release(r, need);
	if (rc != DN_OK) {
		api_answer_problem(r, API_P_INTERNAL, "%sencoding failed: %s", where, err.msg);
		return 0;
	}
	return 1;
}

/* A filename safe inside a quoted header value. */
static void safe_name(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (; *in && n + 1 < cap; in++)
		if (*in != '"' && *in != '\\' && (unsigned char)*in >= 0x20 && *in != 0x7f)
			out[n++] = *in;
	out[n] = '\0';
}

/* A part's file name with the extension of the format it is answered in
 * (a.png answered as JPEG is a.jpg); a name without a frame extension
 * keeps its name. */
static void rename_ext(char *name, size_t cap, int fmt)
{
	char *dot = strrchr(name, '.');

	if (dot && dn_image_format_of_path(name) && (size_t)(dot - name) + 5 <= cap)
		sprintf(dot, ".%s", dn_image_format_ext(fmt));
}

static void denoise_job(void *arg, void *worker)
{
	api_request *r = arg;
	api_server *s = r->srv;
	api_multipart *mp = NULL;
	dn_frame *fr;
	dn_error err;
	outbuf ob = {0};
	void *jpeg = NULL;
	size_t jlen = 0;
	int fmt = DN_IMAGE_JPEG;

	if (!worker) {
		api_answer_problem(r, API_P_SHUTTING_DOWN, "the server stopped before this request was run");
		goto done;
	}
	fr = s->host.worker_frame(s->host.ctx, worker, r->model, &err);
	if (!fr) {
		api_answer_problem(r, API_P_INTERNAL, "cannot prepare model '%s': %s",
		                   s->host.model_name(r->model), err.msg);
		goto done;
	}
	if (!r->multipart) {
		if (!one_frame(r, fr, r->body, r->len, NULL, &jpeg, &jlen, &fmt))
			goto done;
		api_answer_bytes(r, 200, dn_image_format_mime(fmt), jpeg, jlen);
		jpeg = NULL;
		if (r->resp) {
			char disp[64];

			snprintf(disp, sizeof disp, "inline; filename=\"denoised.%s\"", dn_image_format_ext(fmt));
			MHD_add_response_header(r->resp, "X-Denoised-Model", s->host.model_name(r->model));
			MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
			MHD_add_response_header(r->resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT);
		}
		goto done;
	}
	mp = malloc(sizeof *mp);
	if (!mp) {
		api_answer_problem(r, API_P_INTERNAL, "out of memory");
		goto done;
	}
	if (api_multipart_parse(r->content_type, r->body, r->len, mp, &err) != DN_OK) {
		api_answer_problem(r, API_P_BAD_MULTIPART, "%s", err.msg);
		goto done;
	}
	{
		char model[128], quality[32], format[32], subsampling[32], mt[128], boundary[64], head[512];
		size_t nframes = 0;

		/* Query parameters win over form fields. */
		if (!api_form_field(r, api_multipart_find(mp, "model"), "model", model, sizeof model) ||
		    !api_form_field(r, api_multipart_find(mp, "quality"), "quality", quality, sizeof quality) ||
		    !api_form_field(r, api_multipart_find(mp, "format"), "format", format, sizeof format) ||
		    !api_form_field(r, api_multipart_find(mp, "subsampling"), "subsampling", subsampling,
		                    sizeof subsampling))
			goto done;
		if (!r->query_model && model[0] && !resolve_params(r, model, NULL, NULL, NULL))
			goto done;
		if (!resolve_params(r, NULL, r->query_quality ? NULL : quality, r->query_format ? NULL : format,
		                    r->query_subsamp ? NULL : subsampling))
			goto done;
		if (!r->query_model && model[0]) {
			fr = s->host.worker_frame(s->host.ctx, worker, r->model, &err);
			if (!fr) {
				api_answer_problem(r, API_P_INTERNAL, "cannot prepare model '%s': %s",
				                   s->host.model_name(r->model), err.msg);
				goto done;
			}
		}
		for (size_t i = 0; i < mp->count; i++) {
			const api_part *p = &mp->parts[i];

			if (!p->has_filename)
				continue;
			if (p->content_type[0]) {
				api_media_type(p->content_type, mt, sizeof mt);
				if (!frame_media_type(mt) && strcmp(mt, "application/octet-stream") != 0) {
					api_answer_problem(
					    r, API_P_MEDIA_TYPE,
					    "part '%s' ('%s') has content type '%s': send image/jpeg or image/png",
					    p->name, p->filename, mt);
					goto done;
				}
			}
			nframes++;
		}
		if (nframes == 0) {
			api_answer_problem(r, API_P_NO_FRAME,
			                   "the form has no file part: send JPEGs or PNGs as file fields");
			goto done;
		}
		/* A boundary no JPEG is likely to contain; parts are framed by
		 * length anyway once the client has the boundary. */
		{
			/* Random, so that it says nothing about our memory. */
			unsigned char rnd[16];
			char hex[33];

			if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
				for (size_t k = 0; k < sizeof rnd; k++)
					rnd[k] =
					    (unsigned char)(r->t0.tv_nsec >> (k % 4 * 8)) ^ (unsigned char)k;
			for (size_t k = 0; k < sizeof rnd; k++)
				sprintf(hex + 2 * k, "%02x", rnd[k]);
			snprintf(boundary, sizeof boundary, "denoised-frames-%s", hex);
		}
		for (size_t i = 0, k = 0; i < mp->count; i++) {
			const api_part *p = &mp->parts[i];
			char label[300], name[API_MULTIPART_MAX_FIELD];
			int n;

			if (!p->has_filename)
				continue;
			k++;
			safe_name(p->filename, name, sizeof name);
			snprintf(label, sizeof label, "frame %zu ('%.200s')", k, name);
			if (!one_frame(r, fr, p->data, p->len, label, &jpeg, &jlen, &fmt))
				goto done;
			rename_ext(name, sizeof name, fmt);
			n = snprintf(head, sizeof head,
			             "--%s\r\nContent-Type: %s\r\nContent-Disposition: inline; "
			             "name=\"%.100s\"; filename=\"%.200s\"\r\nContent-Length: %zu\r\n\r\n",
			             boundary, dn_image_format_mime(fmt), p->name, name, jlen);
			if (put(&ob, head, (size_t)n) || put(&ob, jpeg, jlen) || put(&ob, "\r\n", 2)) {
				api_answer_problem(r, API_P_INTERNAL, "out of memory");
				goto done;
			}
			free(jpeg);
			jpeg = NULL;
		}
		{
			int n = snprintf(head, sizeof head, "--%s--\r\n", boundary);
			char ctype[128];

			if (put(&ob, head, (size_t)n)) {
				api_answer_problem(r, API_P_INTERNAL, "out of memory");
				goto done;
			}
			snprintf(ctype, sizeof ctype, "multipart/mixed; boundary=%s", boundary);
			api_answer_bytes(r, 200, ctype, ob.p, ob.len);
			ob.p = NULL;
			if (r->resp) {
				MHD_add_response_header(r->resp, "X-Denoised-Model",
				                        s->host.model_name(r->model));
				MHD_add_response_header(r->resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT);
			}
		}
	}
done:
	free(jpeg);
	free(ob.p);
	free(mp);
	/* The last touch of r: once resumed, the HTTP thread owns it again. */
	MHD_resume_connection(r->conn);
}

int api_frames_submit(api_request *r)
{
	if (!r->multipart && r->len == 0) {
		api_answer_problem(r, API_P_NO_FRAME, "the body is empty: send a JPEG or PNG");
		return 0;
	}
	if (!api_sniff_ok(r, "image"))
		return 0;
	return api_upload_queue(r, denoise_job);
}
