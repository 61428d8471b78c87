/*
 * png.h — PNG frames in and out of memory, through libpng; the PNG half of
 * image.h, which calls it when the bytes start with the PNG signature (use
 * dn_image_decode / dn_image_encode_as rather than these directly).
 *
 * What a PNG becomes (dn_image is 8-bit gray or RGB):
 *  - palette images become RGB; gray of 1, 2 or 4 bits is scaled to 8 bits;
 *  - 16-bit samples are scaled to 8 bits with rounding (v * 255 / 65535);
 *  - alpha (an alpha channel, or a tRNS chunk) is composited over white,
 *    out = (c * a + 255 * (255 - a)) / 255 rounded, so that a transparent
 *    area comes out as a viewer on a white page shows it and an opaque
 *    image (every a = 255) is unchanged;
 *  - ancillary chunks (gAMA, iCCP, text, ...) are skipped unread: samples
 *    are taken as sRGB-coded, and no compressed side chunk is inflated.
 * The width and height are read from the IHDR chunk (which PNG places
 * first) and checked against the caller's pixel limit before libpng is even
 * created, so a tiny file declaring a huge frame allocates nothing; the
 * image data inflates into rows of the declared size, so a zlib bomb in the
 * IDAT stream cannot make more than w * h pixels either.
 */
#ifndef DN_PNG_H
#define DN_PNG_H

#include <stddef.h>

#include "core/image/image.h"

/* Nonzero if bytes start with the 8-byte PNG signature. */
int dn_png_sniff(const void *bytes, size_t len);

/* Width, height and colour from IHDR (subsamp -1; colorspace 2 gray, 0 RGB).
 * DN_EFORMAT: not a PNG, no IHDR first, zero or over-2^31 size. */
int dn_png_probe(const void *bytes, size_t len, dn_image_header *hdr, dn_error *err);

/* As dn_image_decode, for a PNG. out->format is DN_IMAGE_PNG and
 * out->subsamp is DN_SUBSAMP_444 (RGB: full chroma) or DN_SUBSAMP_GRAY. */
int dn_png_decode(const void *bytes, size_t len, size_t max_pixels, dn_image *out, dn_error *err);

/* img as an 8-bit PNG (gray or RGB, not interlaced) into a malloc'd buffer
 * (*bytes, caller frees with free()). DN_EINVAL, DN_ENOMEM. */
int dn_png_encode(const dn_image *img, void **bytes, size_t *len, dn_error *err);

#endif
