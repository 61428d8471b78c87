/*
 * audio.h — sound files in and out of memory, through libsndfile.
 *
 * dn_audio holds interleaved float samples in [-1, 1] (nominally). Decoding
 * reads any format libsndfile reads, from memory (virtual I/O), and checks the
 * header against limits before it allocates for the samples.
 */
#ifndef DN_AUDIO_H
#define DN_AUDIO_H

#include <stddef.h>

#include "core/dn.h"

typedef struct dn_audio {
	float *data;   /* interleaved, frames * channels; owned (dn_audio_free) */
	size_t frames; /* samples per channel */
	int channels;
	int rate; /* Hz */
	/* After dn_audio_decode returned DN_ELIMIT: which limit was hit
	 * (DN_AUDIO_LIMIT_*), so that a caller can name its own setting. */
	int limit_hit;
} dn_audio;

enum dn_audio_limit {
	DN_AUDIO_LIMIT_NONE = 0,
	DN_AUDIO_LIMIT_SECONDS,
	DN_AUDIO_LIMIT_CHANNELS,
	DN_AUDIO_LIMIT_RATE,
	DN_AUDIO_LIMIT_BYTES
};

typedef struct dn_audio_limits {
	double max_seconds; /* 0: no limit */
	int max_channels;   /* 0: no limit */
	int min_rate, max_rate;
	/* Largest decoded size, channels x frames x sizeof(float); 0: no limit.
	 * Checked from the header before any allocation (a FLAC of silence is
	 * tiny yet can declare hours of 8-channel 384 kHz audio), and again as
	 * samples arrive when the header does not say. */
	size_t max_decoded_bytes;
} dn_audio_limits;

/* 1 hour, 8 channels, 1 kHz .. 384 kHz, 1 GiB decoded. */
dn_audio_limits dn_audio_default_limits(void);

enum dn_audio_format { DN_AUDIO_WAV16 = 0, DN_AUDIO_WAVF32 = 1, DN_AUDIO_FLAC = 2 };

/* "wav" (16-bit PCM), "wav16", "wavf32"/"float", "flac" -> enum; -1 if unknown. */
int dn_audio_format_parse(const char *name);
const char *dn_audio_format_mime(int format);

/* Decodes bytes[0..len). DN_EFORMAT (empty, truncated, not audio, zero
 * channels), DN_ELIMIT (over lim; out->limit_hit says which), DN_ENOMEM.
 * Samples are read in blocks into a buffer that grows with what actually
 * arrives, so memory follows the decoded audio, never the header's promise. out is owned by the caller.
 * A file cut short inside its sample data decodes to the frames present (as
 * players do); one with no frames at all (a header alone) is DN_EFORMAT, and
 * so is a NaN or infinite sample. lim NULL: dn_audio_default_limits(). */
int dn_audio_decode(const void *bytes, size_t len, const dn_audio_limits *lim, dn_audio *out, dn_error *err);
int dn_audio_read_file(const char *path, const dn_audio_limits *lim, dn_audio *out, dn_error *err);

/* Encodes to a malloc'd buffer (*bytes, freed by the caller with free()).
 * 16-bit output is clipped to full scale; callers limit beforehand. */
int dn_audio_encode(const dn_audio *a, int format, void **bytes, size_t *len, dn_error *err);
/* Writes atomically (temporary file beside path, fsync, rename). */
int dn_audio_write_file(const dn_audio *a, int format, const char *path, dn_error *err);

void dn_audio_free(dn_audio *a);

#endif
