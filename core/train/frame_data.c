/*
 * frame_data.c — see frame_data.h. Files are read whole (dn_file_read),
 * probed, counted against the limits, then decoded; the JPEG decoder's own
 * pixel limit stays as a second guard.
 */
#include "core/train/frame_data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util/file.h"

static int is_jpeg_name(const char *s)
{
	size_t l = strlen(s);

	return s[0] != '.' &&
	       ((l > 4 && (!strcasecmp(s + l - 4, ".jpg") || !strcasecmp(s + l - 4, ".png"))) ||
	        (l > 5 && !strcasecmp(s + l - 5, ".jpeg")));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted .jpg/.png names of dir; *n 0 when there are none. */
static int list_dir(const char *dir, char ***names, size_t *n, dn_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return dn_error_set(err, errno == ENOENT ? DN_ENOTFOUND : DN_EIO,
		                    "cannot open folder '%s': %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (!is_jpeg_name(de->d_name))
			continue;
		if (cnt == cap) {
			char **nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);

			if (!nv)
				break;
			v = nv;
		}
		if (!(v[cnt] = strdup(de->d_name)))
			break;
		cnt++;
	}
	closedir(d);
	if (de) {
		for (size_t i = 0; i < cnt; i++)
			free(v[i]);
		free(v);
		return dn_error_set(err, DN_ENOMEM, "out of memory listing '%s'", dir);
	}
	if (cnt)
		qsort(v, cnt, sizeof *v, by_name);
	*names = v;
	*n = cnt;
	return DN_OK;
}

void dn_frame_set_free(dn_frame_set *s)
{
	for (size_t i = 0; s && i < s->n; i++) {
		dn_image_free(&s->img[i]);
		free(s->name[i]);
	}
	if (s) {
		free(s->img);
		free(s->name);
		*s = (dn_frame_set){0};
	}
}

int dn_frame_set_load(const char *dir, size_t max_files, size_t max_pixels, uint64_t max_bytes,
                      dn_frame_set *out, dn_error *err)
{
	char **names;
	size_t cnt;
	int rc = list_dir(dir, &names, &cnt, err);

	*out = (dn_frame_set){0};
	if (rc)
		return rc;
	if (cnt == 0) {
		free(names);
		return dn_error_set(err, DN_ENOTFOUND, "no .jpg or .png photographs in '%s'", dir);
	}
	if (max_files && cnt > max_files) {
		for (size_t i = max_files; i < cnt; i++)
			free(names[i]);
		cnt = max_files;
	}
	out->img = calloc(cnt, sizeof *out->img);
	out->name = names;
	if (!out->img) {
		out->n = cnt;
		dn_frame_set_free(out);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	out->n = cnt;
	for (size_t i = 0; i < cnt && !rc; i++) {
		char path[4096];
		unsigned char *bytes = NULL;
		size_t len = 0;
		dn_image_header h;
		uint64_t need;

		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path) {
			rc = dn_error_set(err, DN_EINVAL, "path too long: %s/%s", dir, names[i]);
			break;
		}
		if ((rc = dn_file_read(path, &bytes, &len, err)))
			break;
		if ((rc = dn_image_probe(bytes, len, &h, err))) {
			dn_error_set(err, rc, "%s: %s", path, err->msg);
		} else if (max_pixels && (uint64_t)h.w * (uint64_t)h.h > max_pixels) {
			rc =
			    dn_error_set(err, DN_ELIMIT, "%s is %dx%d, over the limit of %zu pixels an image",
			                 path, h.w, h.h, max_pixels);
		} else if (need = out->bytes + (uint64_t)h.w * h.h * (h.colorspace == 2 ? 1 : 3),
		           max_bytes && need > max_bytes) {
			rc = dn_error_set(
			    err, DN_ELIMIT,
			    "the photographs of '%s' need more than %.0f MiB decoded (at %s), over "
			    "the limit of %.0f MiB: use fewer or smaller ones",
			    dir, (double)need / 1048576.0, names[i], (double)max_bytes / 1048576.0);
		} else if ((rc = dn_image_decode(bytes, len, max_pixels, &out->img[i], err))) {
			dn_error_set(err, rc, "%s: %s", path, err->msg);
		} else {
			out->bytes += (uint64_t)out->img[i].w * out->img[i].h * out->img[i].channels;
		}
		free(bytes);
	}
	if (rc)
		dn_frame_set_free(out);
	return rc;
}

static int has_jpeg(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;

	while (d && !found && (de = readdir(d)))
		found = is_jpeg_name(de->d_name);
	if (d)
		closedir(d);
	return found;
}

void dn_frame_set_eval_dir(const char *root, char *out, size_t cap)
{
	char test[4096];

	snprintf(test, sizeof test, "%s/test", root);
	if ((size_t)snprintf(out, cap, "%s", !has_jpeg(root) && has_jpeg(test) ? test : root) >= cap && cap)
		out[0] = '\0';
}
