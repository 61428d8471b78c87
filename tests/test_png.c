/*
 * test_png.c — PNG decoding and encoding in memory (png.h, through image.h).
 *
 * Reference files are written here by libpng itself, in each colour type a
 * PNG can have: 8-bit RGB and gray, 1/2/4-bit gray, 16-bit RGB, palette
 * with and without tRNS, gray + alpha, RGBA, and Adam7-interlaced; each is
 * decoded through dn_image_decode and compared sample by sample with what
 * png.h promises (exact, not approximately). Our encoder's output must
 * decode back bit-exactly. Bad input: a header declaring a frame over the
 * pixel limit (refused from the IHDR alone, before any pixel exists), a
 * zero-sized or over-2^31 IHDR, a PNG cut short inside the image data, a
 * flipped bit in the image data (its CRC), and an IDAT stream that inflates
 * to far more than the declared rows (a zlib bomb), which must yield the
 * declared frame and nothing more.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zlib.h>

#include "core/image/image.h"
#include "core/image/png.h"
#include "tests/check.h"

#define W 37
#define H 23

typedef struct membuf {
	unsigned char *p;
	size_t len, cap;
} membuf;

static void mem_write(png_structp png, png_bytep src, size_t n)
{
	membuf *b = png_get_io_ptr(png);
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void mem_flush(png_structp png)
{
	(void)png;
}

/* A libpng-made PNG of rows (bytes per row as the colour type and depth
 * need); the caller frees b.p. */
static membuf make_png(int depth, int type, int interlace, const uint8_t *rows, size_t stride,
                       const png_color *pal, int npal, const uint8_t *trns, int ntrns)
{
	membuf b = {0};
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	if (setjmp(png_jmpbuf(png))) {
		fprintf(stderr, "make_png failed\n");
		exit(1);
	}
	png_set_write_fn(png, &b, mem_write, mem_flush);
	png_set_IHDR(png, info, W, H, depth, type, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
	             PNG_FILTER_TYPE_DEFAULT);
	if (pal)
		png_set_PLTE(png, info, pal, npal);
	if (trns)
		png_set_tRNS(png, info, trns, ntrns, NULL);
	png_write_info(png, info);
	if (depth == 16)
		png_set_swap(png); /* rows hold little-endian uint16 */
	png_bytep rp[H];
	for (int y = 0; y < H; y++)
		rp[y] = (png_bytep)(rows + (size_t)y * stride);
	png_write_image(png, rp);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return b;
}

static uint8_t sample(int x, int y, int c)
{
	return (uint8_t)(c == 0 ? 7 * x + 3 * y : c == 1 ? 255 - 5 * y : (x * y) ^ 0x5a);
}

static void test_rgb_gray_exact(void)
{
	uint8_t rgb[H][W * 3], g[H][W];
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			for (int c = 0; c < 3; c++)
				rgb[y][3 * x + c] = sample(x, y, c);
			g[y][x] = sample(x, y, 2);
		}
	dn_error err = {0};
	dn_image img;
	for (int il = 0; il < 2; il++) {
		membuf b = make_png(8, PNG_COLOR_TYPE_RGB, il ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
		                    &rgb[0][0], W * 3, NULL, 0, NULL, 0);
		CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_OK);
		CHECK(img.w == W && img.h == H && img.channels == 3 && img.format == DN_IMAGE_PNG &&
		      img.subsamp == DN_SUBSAMP_444);
		CHECK_MSG(memcmp(img.data, rgb, sizeof rgb) == 0, "RGB (interlaced %d) not exact", il);
		dn_image_header hdr;
		CHECK_RC(dn_image_probe(b.p, b.len, &hdr, &err), DN_OK);
		CHECK(hdr.w == W && hdr.h == H && hdr.colorspace == 0);
		dn_image_free(&img);
		free(b.p);
	}
	membuf b = make_png(8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, &g[0][0], W, NULL, 0, NULL, 0);
	CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_OK);
	CHECK(img.channels == 1 && img.subsamp == DN_SUBSAMP_GRAY);
	CHECK(memcmp(img.data, g, sizeof g) == 0);
	dn_image_free(&img);
	free(b.p);
}

/* Gray of 1, 2 and 4 bits: value v of 2^d - 1 becomes v * 255 / (2^d - 1). */
static void test_low_depth_gray(void)
{
	for (int d = 1; d <= 4; d *= 2) {
		const int max = (1 << d) - 1;
		uint8_t rows[H][24];
		memset(rows, 0, sizeof rows);
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++) {
				const int v = (x + y) % (max + 1), bit = x * d;
				rows[y][bit / 8] |= (uint8_t)(v << (8 - d - bit % 8));
			}
		membuf b = make_png(d, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, &rows[0][0], 24, NULL, 0, NULL, 0);
		dn_image img;
		dn_error err = {0};
		CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_OK);
		CHECK(img.channels == 1);
		int bad = 0;
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++)
				bad += img.data[y * W + x] != (x + y) % (max + 1) * 255 / max;
		CHECK_MSG(bad == 0, "%d-bit gray: %d samples wrong", d, bad);
		dn_image_free(&img);
		free(b.p);
	}
}

/* 16-bit RGB: rounded to the nearest 8-bit value, v * 255 / 65535. */
static void test_16bit(void)
{
	uint16_t rows[H][W * 3];
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W * 3; x++)
			rows[y][x] = (uint16_t)((x * 7919u + y * 104729u) * 2654435761u >> 16);
	membuf b = make_png(16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, (const uint8_t *)&rows[0][0], W * 6,
	                    NULL, 0, NULL, 0);
	dn_image img;
	dn_error err = {0};
	CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_OK);
	CHECK(img.channels == 3 && img.w == W);
	int bad = 0;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W * 3; x++)
			bad += img.data[y * W * 3 + x] != (rows[y][x] * 255u + 32767u) / 65535u;
	CHECK_MSG(bad == 0, "16-bit: %d samples not rounded to nearest", bad);
	dn_image_free(&img);
	free(b.p);
}

static uint8_t over_white(unsigned c, unsigned a)
{
	return (uint8_t)((c * a + 255u * (255u - a) + 127u) / 255u);
}

/* Palette (+ tRNS), gray + alpha and RGBA: colours composited over white. */
static void test_palette_alpha(void)
{
	png_color pal[4] = {{255, 0, 0}, {0, 128, 0}, {10, 20, 30}, {200, 100, 0}};
	uint8_t trns[4] = {255, 0, 128, 64};
	uint8_t idx[H][W];
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			idx[y][x] = (uint8_t)((x + 2 * y) % 4);
	for (int t = 0; t < 2; t++) {
		membuf b = make_png(8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, &idx[0][0], W, pal, 4,
		                    t ? trns : NULL, t ? 4 : 0);
		dn_image img;
		dn_error err = {0};
		CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_OK);
		CHECK(img.channels == 3);
		const uint8_t *flat = &idx[0][0];
		int bad = 0;
		for (int i = 0; i < W * H; i++) {
			const png_color *p = &pal[flat[i]];
			const unsigned a = t ? trns[flat[i]] : 255;
			bad += img.data[3 * i] != over_white(p->red, a) ||
			       img.data[3 * i + 1] != over_white(p->green, a) ||
			       img.data[3 * i + 2] != over_white(p->blue, a);
		}
		CHECK_MSG(bad == 0, "palette (tRNS %d): %d pixels wrong", t, bad);
		dn_image_free(&img);
		free(b.p);
	}
	uint8_t ga[H][W * 2], rgba[H][W * 4];
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			ga[y][2 * x] = sample(x, y, 0);
			ga[y][2 * x + 1] = (uint8_t)(11 * x + y);
			for (int c = 0; c < 3; c++)
				rgba[y][4 * x + c] = sample(x, y, c);
			rgba[y][4 * x + 3] = (uint8_t)(x == 0 ? 255 : x == 1 ? 0 : 13 * x + 5 * y);
		}
	membuf b = make_png(8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, &ga[0][0], W * 2, NULL, 0, NULL, 0);
	dn_image img;
	dn_error err = {0};
	CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_OK);
	CHECK(img.channels == 1);
	int bad = 0;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			bad += img.data[y * W + x] != over_white(ga[y][2 * x], ga[y][2 * x + 1]);
	CHECK_MSG(bad == 0, "gray+alpha: %d pixels wrong", bad);
	dn_image_free(&img);
	free(b.p);
	b = make_png(8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_ADAM7, &rgba[0][0], W * 4, NULL, 0, NULL, 0);
	CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_OK);
	CHECK(img.channels == 3);
	bad = 0;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			for (int c = 0; c < 3; c++)
				bad += img.data[(y * W + x) * 3 + c] != over_white(rgba[y][4 * x + c], rgba[y][4 * x + 3]);
	CHECK_MSG(bad == 0, "RGBA: %d samples wrong", bad);
	CHECK(img.data[0] == rgba[0][0] && img.data[3 * 1] == 255); /* opaque kept, clear is white */
	dn_image_free(&img);
	free(b.p);
}

/* Our encoder: decode(encode(x)) == x, RGB and gray, and the PNG is 8-bit. */
static void test_round_trip(void)
{
	dn_image img, back;
	dn_error err = {0};
	for (int ch = 1; ch <= 3; ch += 2) {
		CHECK_RC(dn_image_alloc(&img, 301, 207, ch, &err), DN_OK);
		uint32_t s = 12345;
		for (size_t i = 0; i < (size_t)img.w * img.h * ch; i++) {
			s = s * 1664525u + 1013904223u;
			img.data[i] = (uint8_t)(s >> 24);
		}
		void *bytes;
		size_t len;
		CHECK_RC(dn_image_encode_as(&img, DN_IMAGE_PNG, 0, DN_SUBSAMP_KEEP, &bytes, &len, &err), DN_OK);
		CHECK(dn_png_sniff(bytes, len));
		CHECK(((unsigned char *)bytes)[24] == 8); /* IHDR bit depth */
		CHECK_RC(dn_image_decode(bytes, len, 0, &back, &err), DN_OK);
		CHECK(back.w == img.w && back.h == img.h && back.channels == ch && back.format == DN_IMAGE_PNG);
		CHECK_MSG(memcmp(back.data, img.data, (size_t)img.w * img.h * ch) == 0,
		          "%d-channel round trip not bit-exact", ch);
		free(bytes);
		/* DN_IMAGE_ANY follows the image's own format. */
		CHECK_RC(dn_image_encode_as(&back, DN_IMAGE_ANY, 90, DN_SUBSAMP_KEEP, &bytes, &len, &err), DN_OK);
		CHECK(dn_png_sniff(bytes, len));
		free(bytes);
		back.format = DN_IMAGE_JPEG;
		CHECK_RC(dn_image_encode_as(&back, DN_IMAGE_ANY, 90, DN_SUBSAMP_KEEP, &bytes, &len, &err), DN_OK);
		CHECK(len > 2 && ((unsigned char *)bytes)[0] == 0xFF && ((unsigned char *)bytes)[1] == 0xD8);
		free(bytes);
		CHECK_RC(dn_image_encode_as(&back, 7, 90, DN_SUBSAMP_KEEP, &bytes, &len, &err), DN_EINVAL);
		dn_image_free(&back);
		dn_image_free(&img);
	}
	CHECK(dn_image_format_parse("PNG") == DN_IMAGE_PNG && dn_image_format_parse("jpg") == DN_IMAGE_JPEG &&
	      dn_image_format_parse("jpeg") == DN_IMAGE_JPEG && dn_image_format_parse("gif") == -1);
	CHECK(dn_image_format_of_path("a/b.c/x.Png") == DN_IMAGE_PNG &&
	      dn_image_format_of_path("x.jpeg") == DN_IMAGE_JPEG && dn_image_format_of_path("a.d/x") == 0);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Appends a chunk with its CRC. */
static void chunk(membuf *b, const char *type, const unsigned char *data, uint32_t n)
{
	if (b->len + n + 12 > b->cap) {
		b->cap = b->len + n + 12;
		b->p = realloc(b->p, b->cap);
	}
	unsigned char *p = b->p + b->len;
	put32(p, n);
	memcpy(p + 4, type, 4);
	if (n)
		memcpy(p + 8, data, n);
	put32(p + 8 + n, (uint32_t)crc32(crc32(0, NULL, 0), p + 4, n + 4));
	b->len += n + 12;
}

/* Signature and IHDR for w x h, 8-bit RGB. */
static membuf header(uint32_t w, uint32_t h)
{
	membuf b = {.p = malloc(64), .cap = 64};
	memcpy(b.p, "\x89PNG\r\n\x1a\n", 8);
	b.len = 8;
	unsigned char ihdr[13] = {0};
	put32(ihdr, w);
	put32(ihdr + 4, h);
	ihdr[8] = 8;
	ihdr[9] = PNG_COLOR_TYPE_RGB;
	chunk(&b, "IHDR", ihdr, 13);
	return b;
}

static void test_bad(void)
{
	dn_image img;
	dn_error err = {0};

	/* A bomb: 100000 x 100000 declared in a 45-byte file. */
	membuf b = header(100000, 100000);
	chunk(&b, "IEND", NULL, 0);
	CHECK_RC(dn_image_decode(b.p, b.len, 1 << 24, &img, &err), DN_ELIMIT);
	CHECK_MSG(strstr(err.msg, "10000000000 pixels") && strstr(err.msg, "limit of 16777216"), "%s", err.msg);
	CHECK(img.data == NULL);
	free(b.p);
	b = header(0, 5);
	CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_EFORMAT);
	CHECK(strstr(err.msg, "zero-sized") != NULL);
	free(b.p);
	b = header(0x80000000u, 1);
	CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_EFORMAT);
	free(b.p);
	CHECK_RC(dn_image_decode("\x89PNG\r\n\x1a\n", 8, 0, &img, &err), DN_EFORMAT);
	CHECK(strstr(err.msg, "IHDR") != NULL);

	/* A real PNG cut short, and one with a flipped bit in its IDAT. */
	uint8_t rgb[H][W * 3];
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W * 3; x++)
			rgb[y][x] = sample(x / 3, y, x % 3);
	b = make_png(8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, &rgb[0][0], W * 3, NULL, 0, NULL, 0);
	CHECK_RC(dn_image_decode(b.p, b.len, (size_t)W * H, &img, &err), DN_OK);
	dn_image_free(&img);
	CHECK_RC(dn_image_decode(b.p, b.len, (size_t)W * H - 1, &img, &err), DN_ELIMIT);
	for (size_t cut = 40; cut < b.len; cut += b.len / 7) {
		CHECK_RC(dn_image_decode(b.p, cut, 0, &img, &err), DN_EFORMAT);
		CHECK(img.data == NULL);
	}
	CHECK_MSG(strstr(err.msg, "PNG") != NULL, "%s", err.msg);
	size_t at = 8;
	while (at + 8 < b.len && memcmp(b.p + at + 4, "IDAT", 4))
		at += 12 + be32(b.p + at);
	CHECK(at + 8 < b.len);
	b.p[at + 8 + be32(b.p + at) / 2] ^= 0x10;
	CHECK_RC(dn_image_decode(b.p, b.len, 0, &img, &err), DN_EFORMAT);
	CHECK(img.data == NULL);
	free(b.p);

	/* A zlib bomb: 64 MiB of zeros deflated into the IDAT of a 37x23 frame
	 * (filter byte 0 and zero samples are a valid start): the declared frame,
	 * all black, is what comes back. */
	const size_t big = (size_t)64 << 20;
	unsigned char *zeros = calloc(big, 1);
	uLongf zlen = compressBound(big);
	unsigned char *z = malloc(zlen);
	CHECK(compress2(z, &zlen, zeros, big, 9) == Z_OK);
	free(zeros);
	b = header(W, H);
	chunk(&b, "IDAT", z, (uint32_t)zlen);
	chunk(&b, "IEND", NULL, 0);
	free(z);
	int rc = dn_image_decode(b.p, b.len, (size_t)W * H, &img, &err);
	CHECK_MSG(rc == DN_OK || rc == DN_EFORMAT, "zlib bomb: rc %d", rc);
	if (rc == DN_OK) {
		CHECK(img.w == W && img.h == H && img.channels == 3);
		int nonzero = 0;
		for (size_t i = 0; i < (size_t)W * H * 3; i++)
			nonzero += img.data[i] != 0;
		CHECK(nonzero == 0);
		dn_image_free(&img);
	}
	free(b.p);

	/* Encoder arguments. */
	dn_image bad = {.data = rgb[0], .w = W, .h = H, .channels = 2};
	void *bytes;
	size_t len;
	CHECK_RC(dn_png_encode(&bad, &bytes, &len, &err), DN_EINVAL);
}

int main(void)
{
	test_rgb_gray_exact();
	test_low_depth_gray();
	test_16bit();
	test_palette_alpha();
	test_round_trip();
	test_bad();
	return check_status();
}
