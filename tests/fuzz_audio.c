/*
 * fuzz_audio.c — libFuzzer target for decoding sound files from memory
 * (audio.h): every container and codec libsndfile reads (WAV, WAVEX, RF64,
 * W64, AIFF/AIFC, AU, CAF, FLAC, Ogg Vorbis/Opus, MP3, VOC, NIST, IRCAM,
 * PAF, SVX, ...) through its virtual I/O, under small limits.
 *
 * A decode that succeeds must respect the limits it was given (checked
 * against what it returned, not what the header said) and hold only finite
 * samples; one that fails must name a reason, say which limit when it was
 * one, and leave nothing allocated. Every success is encoded again and
 * must decode to the same shape.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Its own allocation, so reads past the end are caught. */
	uint8_t *buf = malloc(size ? size : 1);
	dn_audio_limits lim = dn_audio_default_limits();
	dn_audio a, back;
	dn_error err;
	void *enc;
	size_t elen;
	int rc;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	lim.max_seconds = 30;
	lim.max_channels = 8;
	lim.max_decoded_bytes = (size_t)4 << 20;
	rc = dn_audio_decode(buf, size, &lim, &a, &err);
	if (rc == DN_OK) {
		if (!a.data || a.frames == 0 || a.channels < 1 || a.channels > lim.max_channels ||
		    a.rate < lim.min_rate || a.rate > lim.max_rate ||
		    a.frames * (size_t)a.channels * sizeof(float) > lim.max_decoded_bytes ||
		    (double)a.frames > lim.max_seconds * a.rate + 1)
			abort();
		for (size_t i = 0; i < a.frames * (size_t)a.channels; i++)
			if (!isfinite(a.data[i]))
				abort();
		if (dn_audio_encode(&a, DN_AUDIO_WAVF32, &enc, &elen, &err) != DN_OK)
			abort();
		if (dn_audio_decode(enc, elen, &lim, &back, &err) != DN_OK || back.frames != a.frames ||
		    back.channels != a.channels || back.rate != a.rate)
			abort();
		free(enc);
		dn_audio_free(&back);
		dn_audio_free(&a);
	} else {
		if (a.data || !err.msg[0])
			abort(); /* a failed decode leaves nothing and says why */
		if (rc == DN_ELIMIT && a.limit_hit == DN_AUDIO_LIMIT_NONE)
			abort();
	}
	free(buf);
	return 0;
}
