/*
 * fuzz_image.c — libFuzzer target for JPEG and PNG decoding from memory
 * (image.h, png.h): the header probes, the pixel limit, libjpeg-turbo under
 * STOPONWARNING, our own marker scan for progressive files, our IHDR parse
 * and libpng's conversions. A frame that decodes must have the size it
 * declared within the limit, must encode and decode again as a JPEG, and
 * must come back bit-exact through PNG.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Its own allocation, so reads past the end are caught. */
	uint8_t *buf = malloc(size ? size : 1);
	const size_t limit = (size_t)1 << 20;
	dn_image img, back;
	dn_image_header hdr;
	void *jpeg;
	size_t jlen;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	if (dn_image_decode(buf, size, limit, &img, NULL) == DN_OK) {
		if (dn_image_probe(buf, size, &hdr, NULL) != DN_OK || hdr.w != img.w || hdr.h != img.h ||
		    (size_t)img.w * img.h > limit || (img.channels != 1 && img.channels != 3))
			abort();
		if (dn_image_encode(&img, 75, DN_SUBSAMP_KEEP, &jpeg, &jlen, NULL) != DN_OK)
			abort();
		if (dn_image_decode(jpeg, jlen, 0, &back, NULL) != DN_OK || back.w != img.w || back.h != img.h ||
		    back.channels != img.channels)
			abort();
		free(jpeg);
		dn_image_free(&back);
		if (dn_image_encode_as(&img, DN_IMAGE_PNG, 0, DN_SUBSAMP_KEEP, &jpeg, &jlen, NULL) != DN_OK ||
		    dn_image_decode(jpeg, jlen, 0, &back, NULL) != DN_OK || back.channels != img.channels ||
		    back.w != img.w || back.h != img.h ||
		    memcmp(back.data, img.data, (size_t)img.w * img.h * img.channels) != 0)
			abort();
		free(jpeg);
		dn_image_free(&back);
		dn_image_free(&img);
	} else if (img.data) {
		abort(); /* a failed decode leaves nothing allocated */
	}
	free(buf);
	return 0;
}
