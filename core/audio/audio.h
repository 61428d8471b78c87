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
} dn_audio;

typedef struct dn_audio_limits {
	double max_seconds; /* 0: no limit */
	int max_channels;   /* 0: no limit */
	int min_rate, max_rate;
} dn_audio_limits;

/* 1 hour, 8 channels, 1 kHz .. 384 kHz. */
dn_audio_limits dn_audio_default_limits(void);

enum dn_audio_format { DN_AUDIO_WAV16 = 0, DN_AUDIO_WAVF32 = 1, DN_AUDIO_FLAC = 2 };

/* "wav" (16-bit PCM), "wav16", "wavf32"/"float", "flac" -> enum; -1 if unknown. */
int dn_audio_format_parse(const char *name);
const char *dn_audio_format_mime(int format);

/* Decodes bytes[0..len). DN_EFORMAT (empty, truncated, not audio, zero
 * channels), DN_ELIMIT (over lim), DN_ENOMEM. out is owned by the caller.
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
