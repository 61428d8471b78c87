/*
 * png.c — PNG decode and encode in memory with libpng (png.h).
 *
 * libpng reports errors by calling our error function, which must not
 * return: it keeps the message and longjmps back to the setjmp of the call
 * in progress. Everything allocated between setjmp and the longjmp lives in
 * a context struct libpng holds a pointer to, so it is in memory (not in a
 * register the jump would roll back) and freed on the way out.
 *
 * The pixel limit is applied twice: to the IHDR we parse ourselves before
 * libpng exists, and to what libpng read (they agree unless the IHDR's CRC
 * is wrong, which libpng refuses anyway). libpng's own per-side limit
 * (png_set_user_limits, 1,000,000 by default) is lowered to dn_image's int
 * range, which the pixel limit almost always undercuts.
 *
 * Warnings are not errors (libpng warns about harmless things such as an
 * sRGB profile it thinks wrong), but a truncated or corrupt image data stream
 * is: libpng raises it as an error, and the reader refuses to read past the
 * end of the bytes, so a PNG cut short never comes back half-decoded.
 */
#include "core/image/png.h"

#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

static const unsigned char SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* PNG allows 2^31 - 1 per side; dn_image holds ints, libpng wants less. */
#define PNG_SIDE_MAX 0x7fffffffu

typedef struct ctx {
	const unsigned char *p;
	size_t len, off;
	char msg[200];
	/* decode */
	uint8_t *pix;
	png_bytep *rows;
	/* encode */
	unsigned char *out;
	size_t olen, ocap;
	int oom;
} ctx;

static void on_error(png_structp png, png_const_charp msg)
{
	ctx *c = png_get_error_ptr(png);
	snprintf(c->msg, sizeof c->msg, "%s", msg);
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void read_bytes(png_structp png, png_bytep dst, size_t n)
{
	ctx *c = png_get_io_ptr(png);
	if (n > c->len - c->off)
		png_error(png, "truncated PNG (the data ends inside a chunk)");
	memcpy(dst, c->p + c->off, n);
	c->off += n;
}

int dn_png_sniff(const void *bytes, size_t len)
{
	return bytes && len >= sizeof SIG && memcmp(bytes, SIG, sizeof SIG) == 0;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int dn_png_probe(const void *bytes, size_t len, dn_image_header *hdr, dn_error *err)
{
	const unsigned char *p = bytes;
	if (!dn_png_sniff(bytes, len))
		return dn_error_set(err, DN_EFORMAT, "not a PNG (no PNG signature at the start)");
	/* signature, then length 13, "IHDR", width, height, depth, colour type */
	if (len < 8 + 8 + 13 || be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4) != 0)
		return dn_error_set(err, DN_EFORMAT, "not a readable PNG header: IHDR must come first");
	const uint32_t w = be32(p + 16), h = be32(p + 20);
	if (w == 0 || h == 0)
		return dn_error_set(err, DN_EFORMAT, "PNG declares a zero-sized frame (%ux%u)", w, h);
	if (w > PNG_SIDE_MAX || h > PNG_SIDE_MAX)
		return dn_error_set(err, DN_EFORMAT, "PNG declares %ux%u: a side is over 2^31 - 1", w, h);
	const int type = p[25];
	*hdr = (dn_image_header){.w = (int)w,
	                         .h = (int)h,
	                         .subsamp = -1,
	                         .colorspace = type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 0};
	return DN_OK;
}

/* Over white, in place: px holds n pixels of ch colour channels + alpha;
 * pixel i's colour is written at ch*i after its ch+1 bytes at (ch+1)*i
 * were read. */
static void composite_white(uint8_t *px, size_t n, int ch)
{
	for (size_t i = 0; i < n; i++) {
		const uint8_t *s = px + i * (size_t)(ch + 1);
		const unsigned a = s[ch];
		uint8_t v[3];
		for (int k = 0; k < ch; k++)
			v[k] = (uint8_t)((s[k] * a + 255u * (255u - a) + 127u) / 255u);
		memcpy(px + i * (size_t)ch, v, (size_t)ch);
	}
}

int dn_png_decode(const void *bytes, size_t len, size_t max_pixels, dn_image *out, dn_error *err)
{
	if (!out)
		return dn_error_set(err, DN_EINVAL, "dn_png_decode: no output");
	memset(out, 0, sizeof *out);
	dn_image_header hdr;
	int rc = dn_png_probe(bytes, len, &hdr, err);
	if (rc)
		return rc;
	const size_t pixels = (size_t)hdr.w * (size_t)hdr.h;
	if (max_pixels && pixels > max_pixels)
		return dn_error_set(err, DN_ELIMIT, "frame of %dx%d = %zu pixels is over the limit of %zu pixels",
		                    hdr.w, hdr.h, pixels, max_pixels);

	ctx c = {.p = bytes, .len = len};
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		return dn_error_set(err, DN_ENOMEM, "cannot create a PNG decoder");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		free(c.rows);
		free(c.pix);
		if (strstr(c.msg, "memory"))
			return dn_error_set(err, DN_ENOMEM, "PNG: %s", c.msg);
		return dn_error_set(err, DN_EFORMAT, "corrupt or truncated PNG: %s", c.msg);
	}
	png_set_read_fn(png, &c, read_bytes);
	png_set_user_limits(png, PNG_SIDE_MAX, PNG_SIDE_MAX);
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
	png_read_info(png, info);
	const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
	if ((int)w != hdr.w || (int)h != hdr.h)
		png_error(png, "IHDR changed between reads");
	const int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
	if (type == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (png_get_valid(png, info, PNG_INFO_tRNS))
		png_set_tRNS_to_alpha(png);
	if (depth == 16)
		png_set_scale_16(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	const int nch = png_get_channels(png, info);
	const int gray = nch <= 2, alpha = nch == 2 || nch == 4, ch = gray ? 1 : 3;
	if (png_get_bit_depth(png, info) != 8 || nch < 1 || nch > 4 ||
	    png_get_rowbytes(png, info) != (size_t)w * (size_t)nch)
		png_error(png, "unexpected sample layout after conversion");

	c.pix = malloc(pixels * (size_t)nch);
	c.rows = malloc((size_t)h * sizeof *c.rows);
	if (!c.pix || !c.rows) {
		snprintf(c.msg, sizeof c.msg, "cannot allocate a %ux%u frame", w, h);
		png_longjmp(png, 1);
	}
	for (png_uint_32 y = 0; y < h; y++)
		c.rows[y] = c.pix + (size_t)y * w * (size_t)nch;
	png_read_image(png, c.rows);
	png_read_end(png, NULL);
	png_destroy_read_struct(&png, &info, NULL);
	free(c.rows);
	if (alpha) {
		composite_white(c.pix, pixels, ch);
		uint8_t *shrunk = realloc(c.pix, pixels * (size_t)ch);
		if (shrunk)
			c.pix = shrunk;
	}
	*out = (dn_image){.data = c.pix,
	                  .w = (int)w,
	                  .h = (int)h,
	                  .channels = ch,
	                  .subsamp = gray ? DN_SUBSAMP_GRAY : DN_SUBSAMP_444,
	                  .format = DN_IMAGE_PNG};
	return DN_OK;
}

static void write_bytes(png_structp png, png_bytep src, size_t n)
{
	ctx *c = png_get_io_ptr(png);
	if (n > c->ocap - c->olen) {
		size_t cap = c->ocap ? c->ocap : 65536;
		while (cap - c->olen < n) {
			if (cap > SIZE_MAX / 2) {
				c->oom = 1;
				png_error(png, "PNG too large");
			}
			cap *= 2;
		}
		unsigned char *p = realloc(c->out, cap);
		if (!p) {
			c->oom = 1;
			png_error(png, "out of memory");
		}
		c->out = p;
		c->ocap = cap;
	}
	memcpy(c->out + c->olen, src, n);
	c->olen += n;
}

static void flush_bytes(png_structp png)
{
	(void)png;
}

int dn_png_encode(const dn_image *img, void **bytes, size_t *len, dn_error *err)
{
	if (!img || !img->data || !bytes || !len)
		return dn_error_set(err, DN_EINVAL, "dn_png_encode: no image or output");
	*bytes = NULL;
	*len = 0;
	if (img->w < 1 || img->h < 1 || (img->channels != 1 && img->channels != 3))
		return dn_error_set(err, DN_EINVAL, "cannot encode a %dx%d image with %d channels as PNG", img->w,
		                    img->h, img->channels);
	ctx c = {0};
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return dn_error_set(err, DN_ENOMEM, "cannot create a PNG encoder");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(c.out);
		return dn_error_set(err, c.oom ? DN_ENOMEM : DN_EINVAL, "PNG encoding failed: %s", c.msg);
	}
	png_set_write_fn(png, &c, write_bytes, flush_bytes);
	png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
	             img->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
	             PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	const size_t stride = (size_t)img->w * (size_t)img->channels;
	for (int y = 0; y < img->h; y++)
		png_write_row(png, img->data + (size_t)y * stride);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	*bytes = c.out;
	*len = c.olen;
	return DN_OK;
}
