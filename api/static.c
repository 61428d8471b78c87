/*
 * static.c — GET / and GET /web/{name}: the built-in web page (web/), from
 * the table web/embed.sh compiled into the library (web/assets.h), so no
 * file is looked for at run time.
 *
 * Every file is answered with its type, a strong ETag and "Cache-Control:
 * no-cache": a browser keeps its copy but asks again each time, and gets a
 * bodiless 304 while the daemon it talks to carries the same bytes — an
 * upgraded daemon is never paired with a stale script. The page's policy
 * (Content-Security-Policy) allows only this origin's scripts, styles and
 * requests, and blob: URLs for the audio and images the page makes itself;
 * nothing inline, no other site, no framing.
 */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "web/assets.h"

#define WEB_CSP                                                                                              \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "              \
	"media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "                  \
	"frame-ancestors 'none'"

static const web_asset *find_asset(const char *path)
{
	for (size_t i = 0; i < web_assets_count; i++)
		if (strcmp(web_assets[i].path, path) == 0)
			return &web_assets[i];
	return NULL;
}

/* Whether an If-None-Match value (a list of tags, or "*") names etag. */
static int etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	if (strcmp(inm, "*") == 0)
		return 1;
	for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag))
		if (p[n] == '\0' || p[n] == ',' || p[n] == ' ')
			return 1;
	return 0;
}

void api_route_static(api_request *r, const char *name)
{
	char path[160];
	const web_asset *a;
	const char *inm;
	struct MHD_Response *resp;
	int not_modified;

	snprintf(path, sizeof path, "%s%s", name ? "/web/" : "/", name ? name : "");
	a = find_asset(path);
	if (!a) {
		api_answer_problem(r, API_P_NOT_FOUND, "no file %s in the web page; the page is at /",
		                   r->path);
		return;
	}
	inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	not_modified = inm && etag_matches(inm, a->etag);
	resp = not_modified
	           ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
	           : MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		api_answer_problem(r, API_P_INTERNAL, "out of memory");
		return;
	}
	if (!not_modified)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (strcmp(a->path, "/") == 0)
		MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
	api_answer(r, not_modified ? 304 : 200, resp, not_modified ? 0 : a->len);
}
