/*
 * frame_data.h — a folder of photographs for frame training and evaluation:
 * the *.jpg / *.jpeg files directly in it, sorted by name (so runs repeat),
 * decoded to 8-bit images. Each file's size is read from its header before
 * its pixels are allocated, against a per-image pixel limit and a limit on
 * the decoded bytes of the whole set, so a folder cannot make its reader
 * allocate more than it was told to.
 *
 * A training data set is a folder with train/ and val/ (as
 * scripts/make-frame-data.py writes it); an evaluation folder holds its
 * photographs itself, or in test/ (dn_frame_set_eval_dir).
 */
#ifndef DN_FRAME_DATA_H
#define DN_FRAME_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/dn.h"
#include "core/image/image.h"

typedef struct dn_frame_set {
	dn_image *img; /* n images, owned */
	char **name;   /* their file names (no folder), owned */
	size_t n;
	uint64_t bytes; /* decoded pixel bytes in all */
} dn_frame_set;

/* Loads the photographs of dir (at most max_files, 0: all) into *out.
 * max_pixels bounds each image (0: none), max_bytes the decoded bytes of all
 * (0: none). DN_ENOTFOUND (no such folder, or no .jpg in it), DN_ELIMIT (a
 * limit, named with its value), DN_EFORMAT (a file that is not a JPEG,
 * named), DN_EIO, DN_ENOMEM. On error *out is empty. */
int dn_frame_set_load(const char *dir, size_t max_files, size_t max_pixels, uint64_t max_bytes,
                      dn_frame_set *out, dn_error *err);
void dn_frame_set_free(dn_frame_set *s);

/* The folder an evaluation of root reads: root itself when it holds a .jpg,
 * else root/test when that does, else root (whose load then says what is
 * missing). out gets cap bytes. */
void dn_frame_set_eval_dir(const char *root, char *out, size_t cap);

#endif
