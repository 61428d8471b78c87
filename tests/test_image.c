/*
 * test_image.c — JPEG decoding and encoding in memory (image.h).
 *
 * Reference files are made here by TurboJPEG itself from a smooth synthetic
 * picture: baseline 4:2:0 and 4:4:4, progressive, grayscale and CMYK (YCCK),
 * then decoded and compared with the pixels that went in. Bad input is tested
 * as seriously: no bytes, random bytes, a header cut short, entropy data cut
 * short or scrambled, a frame whose SOF says zero rows, and a frame over the
 * pixel limit (which must be refused from the header alone).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <turbojpeg.h>

#include "core/image/image.h"
#include "tests/check.h"

#define W 96
#define H 64

static void picture(uint8_t *rgb)
{
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			uint8_t *p = rgb + 3 * ((size_t)y * W + x);
			p[0] = (uint8_t)(40 + 2 * x);
			p[1] = (uint8_t)(30 + 3 * y);
			p[2] = (uint8_t)(128 + 60 * ((x / 16 + y / 16) % 2));
		}
}

/* A TurboJPEG-made JPEG of buf (pixel format pf); the caller tjFree()s it. */
static unsigned char *make_jpeg(const uint8_t *buf, int pf, int subsamp, int flags, unsigned long *len)
{
	tjhandle h = tjInitCompress();
	unsigned char *j = NULL;
	*len = 0;
	if (tjCompress2(h, buf, W, 0, H, pf, &j, len, subsamp, 95, flags) != 0) {
		fprintf(stderr, "tjCompress2: %s\n", tjGetErrorStr2(h));
		j = NULL;
	}
	tjDestroy(h);
	return j;
}

static double mean_abs(const uint8_t *a, const uint8_t *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += abs((int)a[i] - (int)b[i]);
	return s / (double)n;
}

static void test_rgb_variants(const uint8_t *rgb)
{
	struct {
		int subsamp, flags, progressive;
	} v[] = {
	    {TJSAMP_420, 0, 0}, {TJSAMP_444, 0, 0}, {TJSAMP_422, 0, 0}, {TJSAMP_420, TJFLAG_PROGRESSIVE, 1}};
	for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
		unsigned long len;
		unsigned char *j = make_jpeg(rgb, TJPF_RGB, v[k].subsamp, v[k].flags, &len);
		CHECK(j != NULL);
		dn_image img;
		dn_error err = {0};
		CHECK_RC(dn_image_decode(j, len, 0, &img, &err), DN_OK);
		CHECK(img.w == W && img.h == H && img.channels == 3);
		CHECK(img.subsamp == v[k].subsamp);
		CHECK(img.progressive == v[k].progressive);
		double e = mean_abs(img.data, rgb, (size_t)W * H * 3);
		CHECK_MSG(e < 3.0, "variant %zu: mean abs error %.2f", k, e);

		/* Re-encode keeping the input's subsampling, then with 4:4:4. */
		void *out;
		size_t olen;
		CHECK_RC(dn_image_encode(&img, 0, DN_SUBSAMP_KEEP, &out, &olen, &err), DN_OK);
		dn_image back;
		CHECK_RC(dn_image_decode(out, olen, 0, &back, &err), DN_OK);
		CHECK(back.subsamp == v[k].subsamp && back.w == W && back.h == H);
		CHECK(mean_abs(back.data, rgb, (size_t)W * H * 3) < 4.0);
		free(out);
		dn_image_free(&back);
		CHECK_RC(dn_image_encode(&img, 80, DN_SUBSAMP_444, &out, &olen, &err), DN_OK);
		CHECK_RC(dn_image_decode(out, olen, 0, &back, &err), DN_OK);
		CHECK(back.subsamp == DN_SUBSAMP_444);
		free(out);
		dn_image_free(&back);
		dn_image_free(&img);
		tjFree(j);
	}
}

static void test_gray(const uint8_t *rgb)
{
	uint8_t g[W * H];
	for (int i = 0; i < W * H; i++)
		g[i] = rgb[3 * i + 1];
	unsigned long len;
	unsigned char *j = make_jpeg(g, TJPF_GRAY, TJSAMP_GRAY, 0, &len);
	dn_image img;
	dn_error err = {0};
	CHECK_RC(dn_image_decode(j, len, 0, &img, &err), DN_OK);
	CHECK(img.channels == 1 && img.subsamp == DN_SUBSAMP_GRAY);
	CHECK(mean_abs(img.data, g, W * H) < 2.0);
	void *out;
	size_t olen;
	CHECK_RC(dn_image_encode(&img, 90, DN_SUBSAMP_KEEP, &out, &olen, &err), DN_OK);
	dn_image_header hdr;
	CHECK_RC(dn_image_probe(out, olen, &hdr, &err), DN_OK);
	CHECK(hdr.colorspace == TJCS_GRAY && hdr.w == W && hdr.h == H);
	free(out);
	dn_image_free(&img);
	tjFree(j);
}

/* libjpeg-turbo's rgb_to_cmyk (cmyk.h), the inverse of what image.c applies. */
static void test_cmyk(const uint8_t *rgb)
{
	uint8_t *cmyk = malloc((size_t)W * H * 4);
	for (int i = 0; i < W * H; i++) {
		double r = rgb[3 * i] / 255.0, g = rgb[3 * i + 1] / 255.0, b = rgb[3 * i + 2] / 255.0;
		double c = 1 - r, m = 1 - g, y = 1 - b, k = c < m ? (c < y ? c : y) : (m < y ? m : y);
		double d = k < 1 ? 1 - k : 1;
		cmyk[4 * i] = (uint8_t)((c - k) / d * 255 + 0.5);
		cmyk[4 * i + 1] = (uint8_t)((m - k) / d * 255 + 0.5);
		cmyk[4 * i + 2] = (uint8_t)((y - k) / d * 255 + 0.5);
		cmyk[4 * i + 3] = (uint8_t)(k * 255 + 0.5);
	}
	unsigned long len;
	unsigned char *j = make_jpeg(cmyk, TJPF_CMYK, TJSAMP_444, 0, &len);
	CHECK(j != NULL);
	dn_image_header hdr;
	dn_error err = {0};
	CHECK_RC(dn_image_probe(j, len, &hdr, &err), DN_OK);
	CHECK(hdr.colorspace == TJCS_YCCK);
	dn_image img;
	CHECK_RC(dn_image_decode(j, len, 0, &img, &err), DN_OK);
	CHECK(img.channels == 3);
	double e = mean_abs(img.data, rgb, (size_t)W * H * 3);
	CHECK_MSG(e < 4.0, "CMYK mean abs error %.2f", e);
	dn_image_free(&img);
	tjFree(j);
	free(cmyk);
}

static void test_bad(const uint8_t *rgb)
{
	dn_image img;
	dn_error err = {0};
	CHECK_RC(dn_image_decode(NULL, 0, 0, &img, &err), DN_EFORMAT);
	CHECK(strstr(err.msg, "empty") != NULL);
	CHECK_RC(dn_image_decode("", 0, 0, &img, &err), DN_EFORMAT);
	unsigned char junk[512];
	srand(7);
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)rand();
	CHECK_RC(dn_image_decode(junk, sizeof junk, 0, &img, &err), DN_EFORMAT);
	CHECK(img.data == NULL);

	unsigned long len;
	unsigned char *j = make_jpeg(rgb, TJPF_RGB, TJSAMP_420, 0, &len);
	/* Cut inside the header, then inside the entropy-coded data. */
	CHECK_RC(dn_image_decode(j, 100, 0, &img, &err), DN_EFORMAT);
	CHECK_RC(dn_image_decode(j, len / 2, 0, &img, &err), DN_EFORMAT);
	CHECK_MSG(err.msg[0] != '\0', "truncated: no message");
	CHECK(img.data == NULL);
	unsigned char *p = make_jpeg(rgb, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE, &len);
	CHECK_RC(dn_image_decode(p, len * 2 / 3, 0, &img, &err), DN_EFORMAT);
	tjFree(p);

	/* Scramble the entropy data (after the header, before EOI). */
	tjFree(j);
	j = make_jpeg(rgb, TJPF_RGB, TJSAMP_420, 0, &len);
	unsigned char *bad = malloc(len);
	memcpy(bad, j, len);
	for (size_t i = len / 2; i < len - 2; i += 3)
		bad[i] = 0xFF;
	CHECK_RC(dn_image_decode(bad, len, 0, &img, &err), DN_EFORMAT);

	/* Zero rows in the SOF0 marker. */
	memcpy(bad, j, len);
	for (size_t i = 2; i + 9 < len; i++)
		if (bad[i] == 0xFF && bad[i + 1] == 0xC0) {
			bad[i + 5] = bad[i + 6] = 0;
			break;
		}
	CHECK_RC(dn_image_decode(bad, len, 0, &img, &err), DN_EFORMAT);
	/* 65000 x 65000 declared: refused by the limit from the header alone. */
	memcpy(bad, j, len);
	for (size_t i = 2; i + 9 < len; i++)
		if (bad[i] == 0xFF && bad[i + 1] == 0xC0) {
			bad[i + 5] = bad[i + 7] = 0xFD;
			bad[i + 6] = bad[i + 8] = 0xE8;
			break;
		}
	CHECK_RC(dn_image_decode(bad, len, 1 << 24, &img, &err), DN_ELIMIT);
	CHECK(strstr(err.msg, "limit") != NULL);
	CHECK(img.data == NULL);
	free(bad);

	/* The limit itself: W*H passes, one pixel less does not. */
	CHECK_RC(dn_image_decode(j, len, (size_t)W * H, &img, &err), DN_OK);
	dn_image_free(&img);
	CHECK_RC(dn_image_decode(j, len, (size_t)W * H - 1, &img, &err), DN_ELIMIT);
	tjFree(j);

	/* Encode arguments. */
	dn_image ok;
	CHECK_RC(dn_image_alloc(&ok, 8, 8, 3, &err), DN_OK);
	void *out;
	size_t olen;
	CHECK_RC(dn_image_encode(&ok, 101, DN_SUBSAMP_KEEP, &out, &olen, &err), DN_EINVAL);
	CHECK_RC(dn_image_encode(&ok, -3, DN_SUBSAMP_KEEP, &out, &olen, &err), DN_EINVAL);
	CHECK_RC(dn_image_encode(&ok, 50, 17, &out, &olen, &err), DN_EINVAL);
	CHECK_RC(dn_image_alloc(&img, 0, 8, 3, &err), DN_EINVAL);
	CHECK_RC(dn_image_encode(&ok, 1, DN_SUBSAMP_KEEP, &out, &olen, &err), DN_OK);
	free(out);
	dn_image_free(&ok);
}

static void test_files(const uint8_t *rgb)
{
	dn_image img = {.data = (uint8_t *)rgb, .w = W, .h = H, .channels = 3, .subsamp = -1};
	dn_error err = {0};
	char path[] = "/tmp/test_image_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_RC(dn_image_write_file(&img, 95, DN_SUBSAMP_KEEP, path, &err), DN_OK);
	dn_image back;
	CHECK_RC(dn_image_read_file(path, 0, &back, &err), DN_OK);
	CHECK(back.subsamp == DN_SUBSAMP_420);
	dn_image_free(&back);
	unlink(path);
	CHECK_RC(dn_image_read_file(path, 0, &back, &err), DN_ENOTFOUND);
}

int main(void)
{
	uint8_t *rgb = malloc((size_t)W * H * 3);
	picture(rgb);
	test_rgb_variants(rgb);
	test_gray(rgb);
	test_cmyk(rgb);
	test_bad(rgb);
	test_files(rgb);
	free(rgb);
	return check_status();
}
