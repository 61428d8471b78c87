/*
 * audio.c — POST /v1/audio:denoise: the body is a sound file (audio/wav,
 * audio/flac, ..., or application/octet-stream), or a browser form
 * (multipart/form-data with the file in a part, preferably called "file").
 * Query (or form fields): model, format (wav, wav16, wavf32, flac).
 *
 * Checks that need only headers run on libmicrohttpd's thread before the body
 * is read; decoding, inference and encoding run on a worker, which answers
 * and resumes the connection.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "api/multipart.h"
#include "core/audio/audio.h"

/* Audio we hand to libsndfile, which recognises the format from the bytes. */
static int audio_media_type(const char *mt)
{
	return strncmp(mt, "audio/", 6) == 0 || strcmp(mt, "application/octet-stream") == 0;
}

/* Resolves the model and format parameters (query, or form fields when the
 * query lacks them). Sets an answer and returns 0 on refusal. */
static int resolve_params(api_request *r, const char *model, const char *format)
{
	api_server *s = r->srv;
	const dn_model_info *info;

	if (format && *format) {
		r->format = dn_audio_format_parse(format);
		if (r->format < 0) {
			api_answer_problem(r, API_P_BAD_PARAMETER,
			                   "format '%s' is unknown: use wav, wav16, wavf32 or flac", format);
			return 0;
		}
	}
	if (r->model && model && *model && strcmp(model, s->host.model_name(r->model)) != 0) {
		s->host.model_release(s->host.ctx, r->model);
		r->model = NULL;
	}
	if (!r->model) {
		r->model = s->host.model_acquire(s->host.ctx, model && *model ? model : NULL);
		if (!r->model) {
			if (model && *model)
				api_answer_problem(
				    r, API_P_UNKNOWN_MODEL,
				    "no model called '%s' is loaded; GET /v1/models lists them", model);
			else
				api_answer_problem(r, API_P_NOT_READY, "no audio model is loaded");
			return 0;
		}
	}
	info = dn_model_get_info(s->host.model_get(r->model));
	if (info->kind != DN_MODEL_AUDIO) {
		api_answer_problem(r, API_P_MODEL_KIND, "model '%s' is a frame model; name an audio model",
		                   s->host.model_name(r->model));
		return 0;
	}
	return 1;
}

void api_audio_begin(api_request *r, const char *rest)
{
	r->format = DN_AUDIO_WAV16;
	if (!api_upload_content_type(r, audio_media_type, "audio/wav, audio/flac, ...",
	                             "audio/wav, audio/flac, ... application/octet-stream"))
		return;
	{
		const char *model, *format;

		if (!api_query_param(r, "model", &model) || !api_query_param(r, "format", &format))
			return;
		r->query_model = model != NULL;
		r->query_format = format != NULL;
		resolve_params(r, model, format);
	}
}

/* The job, on a worker (or cancelled when worker is NULL). */
static void denoise_job(void *arg, void *worker)
{
	api_request *r = arg;
	api_server *s = r->srv;
	const unsigned char *data = r->body;
	size_t len = r->len;
	api_multipart *mp = NULL;
	dn_audio_limits lim = dn_audio_default_limits();
	dn_audio in = {0}, out = {0};
	dn_speech *sp;
	dn_error err;
	void *bytes = NULL;
	size_t nbytes = 0;
	int rc;

	if (!worker) {
		api_answer_problem(r, API_P_SHUTTING_DOWN, "the server stopped before this request was run");
		goto done;
	}
	/* Waited in the queue for a client that has left, or too long. */
	if (api_request_cancel(r, NULL)) {
		api_answer_cancelled(r, "the request");
		goto done;
	}
	if (r->multipart) {
		/* Parsed here rather than on the HTTP thread: it is linear in the
		 * body, like decoding. */
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
			const api_part *file = api_multipart_find(mp, "file");
			char model[128], format[32];
			char mt[128];

			for (size_t i = 0; !file && i < mp->count; i++)
				if (mp->parts[i].has_filename)
					file = &mp->parts[i];
			if (!file) {
				api_answer_problem(
				    r, API_P_NO_AUDIO,
				    "the form has no file part: send the audio in a field called 'file'");
				goto done;
			}
			if (file->content_type[0]) {
				api_media_type(file->content_type, mt, sizeof mt);
				if (!audio_media_type(mt)) {
					api_answer_problem(r, API_P_MEDIA_TYPE,
					                   "the file part's content type '%s' is not audio",
					                   mt);
					goto done;
				}
			}
			/* Query parameters win over form fields. */
			if (!api_form_field(r, api_multipart_find(mp, "model"), "model", model,
			                    sizeof model) ||
			    !api_form_field(r, api_multipart_find(mp, "format"), "format", format,
			                    sizeof format))
				goto done;
			if (!r->query_model && model[0] && !resolve_params(r, model, NULL))
				goto done;
			if (!r->query_format && format[0] && !resolve_params(r, NULL, format))
				goto done;
			data = file->data;
			len = file->len;
		}
	}
	if (len == 0) {
		api_answer_problem(r, API_P_NO_AUDIO, "the body is empty: send a sound file");
		goto done;
	}
	lim.max_seconds = s->p.max_audio_seconds;
	lim.max_decoded_bytes = (size_t)s->p.max_decoded_audio_bytes;
	rc = dn_audio_decode(data, len, &lim, &in, &err);
	/* The encoded body is no longer needed: free it before inference. */
	free(mp);
	mp = NULL;
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
	api_mem_release(r, r->reserved); /* the body's share */
	/* The decoded input and the denoised output live together until the
	 * answer is encoded. */
	if (rc == DN_OK &&
	    !api_mem_reserve(r, (uint64_t)in.frames * (uint64_t)in.channels * sizeof(float) * 2,
	                     "the decoded audio", API_P_AUDIO_TOO_LONG))
		goto done;
	if (rc == DN_ELIMIT) {
		/* Name the setting that refused it, and only that one. */
		if (in.limit_hit == DN_AUDIO_LIMIT_SECONDS)
			api_answer_problem(r, API_P_AUDIO_TOO_LONG,
			                   "%s: send at most max_audio_seconds (%g s) of audio", err.msg,
			                   s->p.max_audio_seconds);
		else if (in.limit_hit == DN_AUDIO_LIMIT_BYTES)
			api_answer_problem(r, API_P_AUDIO_TOO_LONG,
			                   "%s: send fewer channels, a lower rate or shorter audio "
			                   "(max_decoded_audio_bytes is %llu)",
			                   err.msg, (unsigned long long)s->p.max_decoded_audio_bytes);
		else
			api_answer_problem(r, API_P_AUDIO_TOO_LONG, "%s", err.msg);
		goto done;
	}
	if (rc != DN_OK) {
		api_answer_problem(r, rc == DN_ENOMEM ? API_P_INTERNAL : API_P_BAD_AUDIO, "%s", err.msg);
		goto done;
	}
	sp = s->host.worker_speech(s->host.ctx, worker, r->model, &err);
	if (!sp) {
		api_answer_problem(r, API_P_INTERNAL, "cannot prepare model '%s': %s",
		                   s->host.model_name(r->model), err.msg);
		goto done;
	}
	dn_speech_set_cancel(sp, api_request_cancel, r);
	rc = dn_speech_denoise(sp, &in, &out, NULL, &err);
	dn_speech_set_cancel(sp, NULL, NULL); /* the context outlives r */
	if (rc == DN_ECANCELLED) {
		api_answer_cancelled(r, "denoising");
		goto done;
	}
	if (rc != DN_OK) {
		api_answer_problem(r, API_P_INTERNAL, "denoising failed: %s", err.msg);
		goto done;
	}
	rc = dn_audio_encode(&out, r->format, &bytes, &nbytes, &err);
	if (rc != DN_OK) {
		api_answer_problem(r, API_P_INTERNAL, "encoding failed: %s", err.msg);
		goto done;
	}
	api_answer_bytes(r, 200, dn_audio_format_mime(r->format), bytes, nbytes);
	if (r->resp) {
		MHD_add_response_header(r->resp, "X-Denoised-Model", s->host.model_name(r->model));
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
		                        r->format == DN_AUDIO_FLAC ? "inline; filename=\"denoised.flac\""
		                                                   : "inline; filename=\"denoised.wav\"");
	}
done:
	free(mp);
	dn_audio_free(&in);
	dn_audio_free(&out);
	/* The last touch of r: once resumed, the HTTP thread owns it again. */
	MHD_resume_connection(r->conn);
}

int api_audio_submit(api_request *r)
{
	if (!r->multipart && r->len == 0) {
		api_answer_problem(r, API_P_NO_AUDIO, "the body is empty: send a sound file");
		return 0;
	}
	if (!api_sniff_ok(r, "audio"))
		return 0;
	return api_upload_queue(r, denoise_job);
}
