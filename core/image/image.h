/*
 * image.h — JPEG and PNG frames in and out of memory, through libturbojpeg
 * and libpng (core/image/png.c; png.h says how palette, 16-bit and alpha
 * PNGs become 8-bit gray or RGB).
 *
 * dn_image holds 8-bit pixels, row-major and interleaved: 3 channels (RGB) or
 * 1 (grayscale). Decoding reads the JPEG header first and refuses a frame over
 * the caller's pixel limit before it allocates anything for the pixels, so a
 * small hostile file cannot make us allocate gigabytes. Decoding tells the
 * formats apart by their first bytes (a PNG signature, else JPEG). Baseline and
 * progressive JPEGs decode; grayscale stays grayscale; CMYK/YCCK is converted
 * to RGB here (libjpeg cannot convert it itself). Truncated or corrupt data is
 * refused rather than half-decoded: libjpeg's warnings (premature end of data,
 * corrupt entropy data) are errors for us, since a server should not answer a
 * grey-padded frame as if it were the caller's picture.
 */
#ifndef DN_IMAGE_H
#define DN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/dn.h"

/* Chroma subsampling of a JPEG (values match TurboJPEG's TJSAMP_*). */
enum dn_subsamp {
	DN_SUBSAMP_KEEP = -1, /* encode: the image's own subsamp (4:2:0 if unknown) */
	DN_SUBSAMP_444 = 0,
	DN_SUBSAMP_422 = 1,
	DN_SUBSAMP_420 = 2,
	DN_SUBSAMP_GRAY = 3,
	DN_SUBSAMP_440 = 4,
	DN_SUBSAMP_411 = 5,
};

/* File formats. DN_IMAGE_ANY asks dn_image_encode_as for the image's own. */
enum dn_image_format {
	DN_IMAGE_ANY = 0,
	DN_IMAGE_JPEG = 1,
	DN_IMAGE_PNG = 2,
};

typedef struct dn_image {
	uint8_t *data; /* h * w * channels; owned (dn_image_free) */
	int w, h;
	int channels; /* 1 (gray) or 3 (RGB) */
	int subsamp;  /* enum dn_subsamp of the file it came from; -1 if none
	               * (a PNG counts as 4:4:4, or gray) */
	int progressive;
	int format; /* enum dn_image_format of the file it came from; 0 if none */
} dn_image;

/* Header facts, read without decoding the pixels. */
typedef struct dn_image_header {
	int w, h;
	int subsamp;
	int colorspace; /* 0 RGB, 1 YCbCr, 2 gray, 3 CMYK, 4 YCCK (TJCS_*) */
} dn_image_header;

#define DN_IMAGE_DEFAULT_QUALITY 95

/* Reads the header. DN_EFORMAT if bytes are empty or neither JPEG nor PNG. */
int dn_image_probe(const void *bytes, size_t len, dn_image_header *hdr, dn_error *err);

/* Decodes bytes[0..len) into out (caller frees with dn_image_free).
 * max_pixels (0: no limit) bounds w*h: DN_ELIMIT before any pixel allocation.
 * DN_EFORMAT: empty, neither JPEG nor PNG, zero-sized, corrupt or truncated.
 * DN_ENOMEM. */
int dn_image_decode(const void *bytes, size_t len, size_t max_pixels, dn_image *out, dn_error *err);
int dn_image_read_file(const char *path, size_t max_pixels, dn_image *out, dn_error *err);

/* Encodes img as a JPEG into a malloc'd buffer (*bytes, caller frees with
 * free()). quality 1..100 (0: DN_IMAGE_DEFAULT_QUALITY). subsamp: an enum
 * dn_subsamp; DN_SUBSAMP_KEEP keeps img->subsamp, 4:2:0 when that is unknown.
 * A grayscale image is always written as grayscale. DN_EINVAL, DN_ENOMEM. */
int dn_image_encode(const dn_image *img, int quality, int subsamp, void **bytes, size_t *len, dn_error *err);
/* Encodes img in format (DN_IMAGE_ANY: img->format, JPEG when it has none):
 * DN_IMAGE_JPEG as dn_image_encode; DN_IMAGE_PNG losslessly (quality and
 * subsamp unused). DN_EINVAL for an unknown format, DN_ENOMEM. */
int dn_image_encode_as(const dn_image *img, int format, int quality, int subsamp, void **bytes, size_t *len,
                       dn_error *err);
/* Writes atomically (temporary file beside path, fsync, rename): as a JPEG,
 * or in format for the _as form. */
int dn_image_write_file(const dn_image *img, int quality, int subsamp, const char *path, dn_error *err);
int dn_image_write_file_as(const dn_image *img, int format, int quality, int subsamp, const char *path,
                           dn_error *err);

/* "png" -> DN_IMAGE_PNG, "jpeg" or "jpg" -> DN_IMAGE_JPEG (any case); -1 else. */
int dn_image_format_parse(const char *name);
/* The format a file name's extension names (.png, .jpg, .jpeg); 0 if none. */
int dn_image_format_of_path(const char *path);
/* "image/png" or "image/jpeg" (DN_IMAGE_ANY: "image/jpeg"); the extension
 * without the dot ("png", "jpg"). Static strings. */
const char *dn_image_format_mime(int format);
const char *dn_image_format_ext(int format);

/* An owned, zeroed image of the given shape (DN_EINVAL, DN_ENOMEM). */
int dn_image_alloc(dn_image *img, int w, int h, int channels, dn_error *err);
void dn_image_free(dn_image *img);

#endif
