/*
 * assets.h — the built-in web page as the daemon carries it: every file of
 * web/ listed in web/web.am, embedded at build time by web/embed.sh into
 * web/assets.c (generated, never committed), so that an installed daemon
 * serves the page without looking for files anywhere. api/static.c answers
 * GET / and GET /web/{name} from this table.
 */
#ifndef WEB_ASSETS_H
#define WEB_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
	const char *path;          /* "/" for index.html, else "/web/<file name>" */
	const char *type;          /* Content-Type */
	const unsigned char *data; /* the file's bytes (static storage) */
	size_t len;
	const char *etag; /* quoted strong validator: a digest of the bytes */
} web_asset;

/* The table, web_assets_count entries. */
extern const web_asset web_assets[];
extern const size_t web_assets_count;

#endif
