/*
 * frames.c — POST /v1/frames:denoise: the body is one JPEG (image/jpeg), or
 * a form (multipart/form-data) with one or more JPEG file parts, answered as
 * one JPEG or, for a form, as multipart/mixed with one JPEG part per input
 * part in the same order. Query (or form fields): model (a frame model; the
 * first loaded frame model by name when absent), quality (1..100, default
 * 95). Output keeps each input's size, grayscale-ness and chroma
 * subsampling.
 *
 * As for audio, the header-only checks (content type, parameters, model) run
 * on libmicrohttpd's thread; decoding, inference and encoding run on a
 * worker. Frames of a form are done one after the other, so a request holds
 * the encoded body, the answers so far and one decoded frame at a time.
 * Each frame's size is checked against max_frame_pixels from its JPEG
 * header, before its pixels are allocated (413).
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

static int jpeg_media_type(const char *mt)
{
	return strcmp(mt, "image/jpeg") == 0 || strcmp(mt, "image/jpg") == 0 ||
	       strcmp(mt, "image/pjpeg") == 0;
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

/* Resolves model and quality. Sets an answer and returns 0 on refusal. */
static int resolve_params(api_request *r, const char *model, const char *quality)
{
	api_server *s = r->srv;

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
	if (!api_upload_content_type(r, jpeg_media_type, "image/jpeg", "image/jpeg"))
		return;
	{
		const char *model, *quality;

		if (!api_query_param(r, "model", &model) || !api_query_param(r, "quality", &quality))
			return;
		r->query_model = model != NULL;
		r->query_quality = quality != NULL;
		resolve_params(r, model, quality);
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

/* Decodes, denoises and encodes one frame; on failure answers (naming the
 * frame when label is not NULL) and returns 0. */
static int one_frame(api_request *r, dn_frame *fr, const void *data, size_t len, const char *label,
                     void **jpeg, size_t *jlen)
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
		api_answer_problem(r, API_P_NO_FRAME, "%sempty: send a JPEG", where);
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
	rc = dn_image_encode(&out, r->quality, DN_SUBSAMP_KEEP, jpeg, jlen, &err);
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
		if (!one_frame(r, fr, r->body, r->len, NULL, &jpeg, &jlen))
			goto done;
		api_answer_bytes(r, 200, "image/jpeg", jpeg, jlen);
		jpeg = NULL;
		if (r->resp) {
			MHD_add_response_header(r->resp, "X-Denoised-Model", s->host.model_name(r->model));
			MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
			                        "inline; filename=\"denoised.jpg\"");
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
		char model[128], quality[32], mt[128], boundary[64], head[512];
		size_t nframes = 0;

		/* Query parameters win over form fields. */
		if (!api_form_field(r, api_multipart_find(mp, "model"), "model", model, sizeof model) ||
		    !api_form_field(r, api_multipart_find(mp, "quality"), "quality", quality, sizeof quality))
			goto done;
		if (!r->query_model && model[0] && !resolve_params(r, model, NULL))
			goto done;
		if (!r->query_quality && quality[0] && !resolve_params(r, NULL, quality))
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
				if (!jpeg_media_type(mt) && strcmp(mt, "application/octet-stream") != 0) {
					api_answer_problem(
					    r, API_P_MEDIA_TYPE,
					    "part '%s' ('%s') has content type '%s': send image/jpeg",
					    p->name, p->filename, mt);
					goto done;
				}
			}
			nframes++;
		}
		if (nframes == 0) {
			api_answer_problem(r, API_P_NO_FRAME,
			                   "the form has no file part: send JPEGs as file fields");
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
			if (!one_frame(r, fr, p->data, p->len, label, &jpeg, &jlen))
				goto done;
			n = snprintf(head, sizeof head,
			             "--%s\r\nContent-Type: image/jpeg\r\nContent-Disposition: inline; "
			             "name=\"%.100s\"; filename=\"%.200s\"\r\nContent-Length: %zu\r\n\r\n",
			             boundary, p->name, name, jlen);
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
			if (r->resp)
				MHD_add_response_header(r->resp, "X-Denoised-Model",
				                        s->host.model_name(r->model));
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
		api_answer_problem(r, API_P_NO_FRAME, "the body is empty: send a JPEG");
		return 0;
	}
	if (!api_sniff_ok(r, "image"))
		return 0;
	return api_upload_queue(r, denoise_job);
}
