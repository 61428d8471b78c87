/*
 * image.c — JPEG decode and encode in memory with libturbojpeg (image.h).
 *
 * Decoding is two-phase on purpose: tjDecompressHeader3 reads only the SOF
 * marker, so the pixel limit is applied to the declared size before any
 * buffer for the pixels exists. Decompression then runs with
 * TJFLAG_STOPONWARNING (a truncated or corrupt stream is an error, not a
 * half-grey frame) and TJFLAG_LIMITSCANS (a progressive file with thousands
 * of tiny scans, a known CPU-exhaustion trick, is refused).
 *
 * CMYK and YCCK files are decompressed to CMYK and converted here with
 * libjpeg-turbo's own convention (cmyk.h in its sources: R = (255 − C)(255 −
 * K)/255, and likewise for G, B), which is what TurboJPEG's encoder assumes
 * for TJPF_CMYK input, so a round trip through it returns the colours.
 *
 * Chroma subsampling on encode: by default the frame keeps the subsampling
 * of the file it came from. A 4:2:0 input has no chroma detail that 4:4:4
 * could carry, and a 4:4:4 input was chosen by someone who wanted the
 * chroma; 4:2:0 (what cameras and browsers default to, half the chroma data)
 * is used when there is no input subsampling to keep.
 */
#include "core/image/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <turbojpeg.h>

#include "core/image/png.h"
#include "core/util/file.h"

/* The largest side TurboJPEG (and JPEG itself) can hold. */
#define JPEG_MAX_SIDE 65500

static int tj_fail(tjhandle h, dn_error *err, int code, const char *what)
{
	return dn_error_set(err, code, "%s: %s", what, tjGetErrorStr2(h));
}

int dn_image_alloc(dn_image *img, int w, int h, int channels, dn_error *err)
{
	if (!img || w < 1 || h < 1 || (channels != 1 && channels != 3))
		return dn_error_set(err, DN_EINVAL,
		                    "image %dx%d with %d channels: need w, h >= 1 and 1 or 3 channels", w, h,
		                    channels);
	size_t n = (size_t)w * (size_t)h * (size_t)channels;
	uint8_t *p = calloc(n, 1);
	if (!p)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate a %dx%d image", w, h);
	*img = (dn_image){.data = p, .w = w, .h = h, .channels = channels, .subsamp = -1};
	return DN_OK;
}

void dn_image_free(dn_image *img)
{
	if (!img)
		return;
	free(img->data);
	memset(img, 0, sizeof *img);
}

static int probe(tjhandle h, const void *bytes, size_t len, dn_image_header *hdr, dn_error *err)
{
	if (!bytes || len == 0)
		return dn_error_set(err, DN_EFORMAT, "empty image: no bytes");
	if (len < 4 || ((const unsigned char *)bytes)[0] != 0xFF || ((const unsigned char *)bytes)[1] != 0xD8)
		return dn_error_set(err, DN_EFORMAT,
		                    "neither a JPEG (no SOI marker at the start) nor a PNG (no signature)");
	if (len > (unsigned long)-1)
		return dn_error_set(err, DN_ELIMIT, "image of %zu bytes is too large", len);
	int w = 0, hh = 0, ss = -1, cs = -1;
	if (tjDecompressHeader3(h, bytes, (unsigned long)len, &w, &hh, &ss, &cs) != 0)
		return tj_fail(h, err, DN_EFORMAT, "not a readable JPEG header");
	if (w < 1 || hh < 1)
		return dn_error_set(err, DN_EFORMAT, "JPEG declares a zero-sized frame (%dx%d)", w, hh);
	*hdr = (dn_image_header){.w = w, .h = hh, .subsamp = ss, .colorspace = cs};
	return DN_OK;
}

int dn_image_probe(const void *bytes, size_t len, dn_image_header *hdr, dn_error *err)
{
	if (dn_png_sniff(bytes, len))
		return dn_png_probe(bytes, len, hdr, err);
	tjhandle h = tjInitDecompress();
	if (!h)
		return dn_error_set(err, DN_ENOMEM, "cannot create a JPEG decoder");
	int rc = probe(h, bytes, len, hdr, err);
	tjDestroy(h);
	return rc;
}

/* SOF2 (progressive, Huffman) or SOF10 (progressive, arithmetic) marker. */
static int is_progressive(const unsigned char *p, size_t len)
{
	size_t i = 2;
	while (i + 4 <= len) {
		if (p[i] != 0xFF) {
			i++;
			continue;
		}
		unsigned m = p[i + 1];
		if (m == 0xC2 || m == 0xCA)
			return 1;
		if (m == 0xC0 || m == 0xC1 || m == 0xC9 || m == 0xDA)
			return 0;
		if (m == 0xFF || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
			i += m == 0xFF ? 1 : 2;
			continue;
		}
		i += 2 + ((size_t)p[i + 2] << 8 | p[i + 3]);
	}
	return 0;
}

int dn_image_decode(const void *bytes, size_t len, size_t max_pixels, dn_image *out, dn_error *err)
{
	if (!out)
		return dn_error_set(err, DN_EINVAL, "dn_image_decode: no output");
	if (dn_png_sniff(bytes, len))
		return dn_png_decode(bytes, len, max_pixels, out, err);
	memset(out, 0, sizeof *out);
	tjhandle h = tjInitDecompress();
	if (!h)
		return dn_error_set(err, DN_ENOMEM, "cannot create a JPEG decoder");
	dn_image_header hdr;
	int rc = probe(h, bytes, len, &hdr, err);
	if (rc) {
		tjDestroy(h);
		return rc;
	}
	const size_t pixels = (size_t)hdr.w * (size_t)hdr.h;
	if (max_pixels && pixels > max_pixels) {
		tjDestroy(h);
		return dn_error_set(err, DN_ELIMIT,
		                    "frame of %dx%d = %zu pixels is over the limit of %zu pixels", hdr.w,
		                    hdr.h, pixels, max_pixels);
	}
	const int gray = hdr.colorspace == TJCS_GRAY,
	          cmyk = hdr.colorspace == TJCS_CMYK || hdr.colorspace == TJCS_YCCK;
	const int pf = gray ? TJPF_GRAY : cmyk ? TJPF_CMYK : TJPF_RGB, bpp = tjPixelSize[pf];
	uint8_t *buf = malloc(pixels * (size_t)bpp);
	if (!buf) {
		tjDestroy(h);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate a %dx%d frame", hdr.w, hdr.h);
	}
	if (tjDecompress2(h, bytes, (unsigned long)len, buf, hdr.w, 0, hdr.h, pf,
	                  TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
		rc = tj_fail(h, err, DN_EFORMAT, "corrupt or truncated JPEG");
		free(buf);
		tjDestroy(h);
		return rc;
	}
	tjDestroy(h);
	if (cmyk) {
		/* In place: pixel i's RGB is written at 3i, after its CMYK at 4i was read. */
		for (size_t i = 0; i < pixels; i++) {
			const unsigned c = buf[4 * i], m = buf[4 * i + 1], y = buf[4 * i + 2],
			               k = buf[4 * i + 3];
			buf[3 * i] = (uint8_t)(((255 - c) * (255 - k) + 127) / 255);
			buf[3 * i + 1] = (uint8_t)(((255 - m) * (255 - k) + 127) / 255);
			buf[3 * i + 2] = (uint8_t)(((255 - y) * (255 - k) + 127) / 255);
		}
		uint8_t *shrunk = realloc(buf, pixels * 3);
		if (shrunk)
			buf = shrunk;
	}
	*out = (dn_image){.data = buf,
	                  .w = hdr.w,
	                  .h = hdr.h,
	                  .channels = gray ? 1 : 3,
	                  .subsamp = hdr.subsamp,
	                  .progressive = is_progressive(bytes, len),
	                  .format = DN_IMAGE_JPEG};
	return DN_OK;
}

int dn_image_read_file(const char *path, size_t max_pixels, dn_image *out, dn_error *err)
{
	if (!path || !out)
		return dn_error_set(err, DN_EINVAL, "dn_image_read_file: no path or output");
	memset(out, 0, sizeof *out);
	unsigned char *buf;
	size_t size;
	int rc = dn_file_read(path, &buf, &size, err);
	if (rc != DN_OK)
		return rc;
	rc = dn_image_decode(buf, size, max_pixels, out, err);
	free(buf);
	if (rc != DN_OK && err) { /* say which file */
		char msg[DN_ERROR_MSG_MAX];
		snprintf(msg, sizeof msg, "%s", err->msg);
		dn_error_set(err, rc, "%s: %.200s", path, msg);
	}
	return rc;
}

int dn_image_encode(const dn_image *img, int quality, int subsamp, void **bytes, size_t *len, dn_error *err)
{
	if (!img || !img->data || !bytes || !len)
		return dn_error_set(err, DN_EINVAL, "dn_image_encode: no image or output");
	*bytes = NULL;
	*len = 0;
	if (img->w < 1 || img->h < 1 || img->w > JPEG_MAX_SIDE || img->h > JPEG_MAX_SIDE ||
	    (img->channels != 1 && img->channels != 3))
		return dn_error_set(err, DN_EINVAL, "cannot encode a %dx%d image with %d channels as JPEG",
		                    img->w, img->h, img->channels);
	if (quality == 0)
		quality = DN_IMAGE_DEFAULT_QUALITY;
	if (quality < 1 || quality > 100)
		return dn_error_set(err, DN_EINVAL, "JPEG quality %d: must be 1..100", quality);
	if (subsamp == DN_SUBSAMP_KEEP)
		subsamp = img->subsamp >= DN_SUBSAMP_444 && img->subsamp <= DN_SUBSAMP_411 &&
		                  img->subsamp != DN_SUBSAMP_GRAY
		              ? img->subsamp
		              : DN_SUBSAMP_420;
	if (subsamp < DN_SUBSAMP_444 || subsamp > DN_SUBSAMP_411)
		return dn_error_set(err, DN_EINVAL, "unknown chroma subsampling %d", subsamp);
	if (img->channels == 1)
		subsamp = DN_SUBSAMP_GRAY;
	else if (subsamp == DN_SUBSAMP_GRAY)
		return dn_error_set(err, DN_EINVAL, "grayscale subsampling asked for an RGB image");
	tjhandle h = tjInitCompress();
	if (!h)
		return dn_error_set(err, DN_ENOMEM, "cannot create a JPEG encoder");
	unsigned char *jpeg = NULL;
	unsigned long jlen = 0;
	int rc = DN_OK;
	if (tjCompress2(h, img->data, img->w, 0, img->h, img->channels == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg,
	                &jlen, subsamp, quality, TJFLAG_ACCURATEDCT) != 0) {
		rc = tj_fail(h, err, DN_ENOMEM, "JPEG encoding failed");
	} else {
		/* Hand the caller a malloc'd copy: tjFree need not be free(). */
		void *copy = malloc(jlen);
		if (!copy)
			rc = dn_error_set(err, DN_ENOMEM, "cannot allocate %lu bytes of JPEG", jlen);
		else {
			memcpy(copy, jpeg, jlen);
			*bytes = copy;
			*len = jlen;
		}
	}
	tjFree(jpeg);
	tjDestroy(h);
	return rc;
}

int dn_image_encode_as(const dn_image *img, int format, int quality, int subsamp, void **bytes, size_t *len,
                       dn_error *err)
{
	if (format == DN_IMAGE_ANY)
		format = img && img->format == DN_IMAGE_PNG ? DN_IMAGE_PNG : DN_IMAGE_JPEG;
	if (format == DN_IMAGE_PNG)
		return dn_png_encode(img, bytes, len, err);
	if (format != DN_IMAGE_JPEG)
		return dn_error_set(err, DN_EINVAL, "unknown image format %d", format);
	return dn_image_encode(img, quality, subsamp, bytes, len, err);
}

int dn_image_write_file(const dn_image *img, int quality, int subsamp, const char *path, dn_error *err)
{
	return dn_image_write_file_as(img, DN_IMAGE_JPEG, quality, subsamp, path, err);
}

int dn_image_write_file_as(const dn_image *img, int format, int quality, int subsamp, const char *path,
                           dn_error *err)
{
	if (!path || !*path)
		return dn_error_set(err, DN_EINVAL, "no output path");
	void *bytes;
	size_t len;
	int rc = dn_image_encode_as(img, format, quality, subsamp, &bytes, &len, err);
	if (rc != DN_OK)
		return rc;
	rc = dn_file_write(path, bytes, len, err);
	free(bytes);
	return rc;
}

int dn_image_format_parse(const char *name)
{
	if (!name)
		return -1;
	if (!strcasecmp(name, "png"))
		return DN_IMAGE_PNG;
	if (!strcasecmp(name, "jpeg") || !strcasecmp(name, "jpg"))
		return DN_IMAGE_JPEG;
	return -1;
}

int dn_image_format_of_path(const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;
	if (!dot || strchr(dot, '/'))
		return DN_IMAGE_ANY;
	const int f = dn_image_format_parse(dot + 1);
	return f < 0 ? DN_IMAGE_ANY : f;
}

const char *dn_image_format_mime(int format)
{
	return format == DN_IMAGE_PNG ? "image/png" : "image/jpeg";
}

const char *dn_image_format_ext(int format)
{
	return format == DN_IMAGE_PNG ? "png" : "jpg";
}
