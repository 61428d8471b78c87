/*
 * audio.c — sound files in and out of memory through libsndfile (audio.h).
 *
 * Decoding uses libsndfile's virtual I/O over the caller's bytes, so anything
 * libsndfile reads (WAV in all its subtypes, FLAC, Ogg/Vorbis, AIFF, ...) is
 * accepted without touching the disk. The header is checked against the
 * limits before the sample buffer is allocated; when the header does not say
 * how long the file is, samples are read in bounded blocks and the duration
 * limit is checked as they arrive, so a hostile header cannot make us
 * allocate more than the limits allow.
 *
 * Truncation: libsndfile clamps a WAV's declared data length to the bytes
 * actually present, so a file cut in the middle of its data decodes to the
 * frames that are there (this is what players do). A file with no frames at
 * all (e.g. a header alone) is refused: there is nothing to denoise.
 *
 * Encoding writes through virtual I/O into a growing memory buffer; writing a
 * file encodes to memory first and then writes it atomically.
 */
#include "core/audio/audio.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sndfile.h>

#include "core/util/file.h"

/* Frames read per call; the buffer grows geometrically from the first
 * block, up to the header's count when it gives one. */
#define BLOCK_FRAMES 65536

dn_audio_limits dn_audio_default_limits(void)
{
	dn_audio_limits l = {.max_seconds = 3600.0,
	                     .max_channels = 8,
	                     .min_rate = 1000,
	                     .max_rate = 384000,
	                     .max_decoded_bytes = (size_t)1 << 30};
	return l;
}

int dn_audio_format_parse(const char *name)
{
	if (!name)
		return -1;
	if (!strcasecmp(name, "wav") || !strcasecmp(name, "wav16"))
		return DN_AUDIO_WAV16;
	if (!strcasecmp(name, "wavf32") || !strcasecmp(name, "float"))
		return DN_AUDIO_WAVF32;
	if (!strcasecmp(name, "flac"))
		return DN_AUDIO_FLAC;
	return -1;
}

const char *dn_audio_format_mime(int format)
{
	switch (format) {
	case DN_AUDIO_WAV16:
	case DN_AUDIO_WAVF32: return "audio/wav";
	case DN_AUDIO_FLAC: return "audio/flac";
	default: return "application/octet-stream";
	}
}

void dn_audio_free(dn_audio *a)
{
	if (a) {
		free(a->data);
		memset(a, 0, sizeof *a);
	}
}

/* ---- virtual I/O over a memory buffer --------------------------------- */

/* One buffer for both directions: reading borrows `rd`, writing grows `wr`. */
typedef struct membuf {
	const unsigned char *rd;
	unsigned char *wr;
	sf_count_t len, cap, pos;
	int oom; /* a write could not grow the buffer */
} membuf;

static sf_count_t mem_filelen(void *u)
{
	return ((membuf *)u)->len;
}

static sf_count_t mem_seek(sf_count_t off, int whence, void *u)
{
	membuf *m = u;
	sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
	if (off > 0 ? base > INT64_MAX - off : base + off < 0)
		return -1;
	m->pos = base + off;
	return m->pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *u)
{
	membuf *m = u;
	const unsigned char *src = m->rd ? m->rd : m->wr;
	if (count <= 0 || m->pos >= m->len)
		return 0;
	if (count > m->len - m->pos)
		count = m->len - m->pos;
	memcpy(ptr, src + m->pos, (size_t)count);
	m->pos += count;
	return count;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *u)
{
	membuf *m = u;
	if (m->rd || count <= 0)
		return 0;
	if (m->pos > INT64_MAX - count)
		return 0;
	sf_count_t end = m->pos + count;
	if (end > m->cap) {
		sf_count_t cap = m->cap ? m->cap : 65536;
		while (cap < end)
			cap = cap > INT64_MAX / 2 ? end : cap * 2;
		unsigned char *p = (size_t)cap == (uint64_t)cap ? realloc(m->wr, (size_t)cap) : NULL;
		if (!p) {
			m->oom = 1;
			return 0;
		}
		m->wr = p;
		m->cap = cap;
	}
	if (m->pos > m->len) /* a seek past the end leaves a gap: zero it */
		memset(m->wr + m->len, 0, (size_t)(m->pos - m->len));
	memcpy(m->wr + m->pos, ptr, (size_t)count);
	m->pos = end;
	if (end > m->len)
		m->len = end;
	return count;
}

static sf_count_t mem_tell(void *u)
{
	return ((membuf *)u)->pos;
}

static SF_VIRTUAL_IO mem_vio = {mem_filelen, mem_seek, mem_read, mem_write, mem_tell};

/* ---- decoding ----------------------------------------------------------- */

/* Seconds for `frames` at `rate`, for messages and the duration check. */
static double seconds(sf_count_t frames, int rate)
{
	return (double)frames / (double)rate;
}

static int check_header(const SF_INFO *info, const dn_audio_limits *lim, dn_audio *out, dn_error *err)
{
	if (info->channels <= 0)
		return dn_error_set(err, DN_EFORMAT, "audio header declares %d channels", info->channels);
	if (lim->max_channels > 0 && info->channels > lim->max_channels) {
		out->limit_hit = DN_AUDIO_LIMIT_CHANNELS;
		return dn_error_set(err, DN_ELIMIT, "audio has %d channels; at most %d are accepted",
		                    info->channels, lim->max_channels);
	}
	if (info->samplerate <= 0)
		return dn_error_set(err, DN_EFORMAT, "audio header declares a sample rate of %d Hz",
		                    info->samplerate);
	if ((lim->min_rate > 0 && info->samplerate < lim->min_rate) ||
	    (lim->max_rate > 0 && info->samplerate > lim->max_rate)) {
		out->limit_hit = DN_AUDIO_LIMIT_RATE;
		return dn_error_set(err, DN_ELIMIT,
		                    "sample rate %d Hz is outside the accepted range %d..%d Hz",
		                    info->samplerate, lim->min_rate, lim->max_rate);
	}
	return DN_OK;
}

/* Whether `frames` of `ch` channels at `rate` stay within the duration and
 * decoded-size limits; sets out->limit_hit and err when not. */
static int over_limits(sf_count_t frames, int ch, int rate, const dn_audio_limits *lim, dn_audio *out,
                       dn_error *err)
{
	if (lim->max_seconds > 0 && seconds(frames, rate) > lim->max_seconds) {
		out->limit_hit = DN_AUDIO_LIMIT_SECONDS;
		return dn_error_set(err, DN_ELIMIT, "audio lasts %.1f s, over the limit of %.1f s",
		                    seconds(frames, rate), lim->max_seconds);
	}
	if (lim->max_decoded_bytes > 0 &&
	    (double)frames * ch * sizeof(float) > (double)lim->max_decoded_bytes) {
		out->limit_hit = DN_AUDIO_LIMIT_BYTES;
		return dn_error_set(err, DN_ELIMIT,
		                    "audio decodes to %.0f bytes (%d channels x %d Hz x %.1f s as 32-bit "
		                    "floats), over the limit of %zu bytes",
		                    (double)frames * ch * sizeof(float), ch, rate, seconds(frames, rate),
		                    lim->max_decoded_bytes);
	}
	return DN_OK;
}

/* Reads every frame of sf into out->data. `known` is the header's frame count
 * when it is usable (already checked against the limits), else -1. The
 * buffer starts at one block and doubles as frames arrive (capped at `known`),
 * so a header that promises more than the data holds costs nothing. */
static int read_frames(SNDFILE *sf, const SF_INFO *info, sf_count_t known, const dn_audio_limits *lim,
                       dn_audio *out, dn_error *err)
{
	size_t ch = (size_t)info->channels;
	sf_count_t cap = known > 0 && known < BLOCK_FRAMES ? known : BLOCK_FRAMES;
	sf_count_t have = 0;
	float *buf = NULL;
	int rc = DN_OK;

	for (;;) {
		if (have == cap || !buf) {
			if (buf) {
				cap = cap > INT64_MAX / 2 ? INT64_MAX : cap * 2;
				if (known > 0 && cap > known)
					cap = known;
			}
			if ((uint64_t)cap > SIZE_MAX / sizeof(float) / ch) {
				rc = dn_error_set(err, DN_ELIMIT, "audio too long for this machine's memory");
				break;
			}
			float *p = realloc(buf, (size_t)cap * ch * sizeof(float));
			if (!p) {
				rc = dn_error_set(err, DN_ENOMEM,
				                  "cannot allocate %lld frames of %zu channels",
				                  (long long)cap, ch);
				break;
			}
			buf = p;
		}
		sf_count_t want = cap - have;
		if (want > BLOCK_FRAMES)
			want = BLOCK_FRAMES;
		sf_count_t got = sf_readf_float(sf, buf + (size_t)have * ch, want);
		if (got < 0)
			got = 0;
		have += got;
		if ((rc = over_limits(have, info->channels, info->samplerate, lim, out, err)) != DN_OK)
			break;
		if (got < want || (known > 0 && have == known))
			break;
	}
	if (rc == DN_OK && sf_error(sf) != SF_ERR_NO_ERROR)
		rc = dn_error_set(err, DN_EFORMAT, "corrupt audio data after %lld frames: %s",
		                  (long long)have, sf_strerror(sf));
	if (rc == DN_OK && have == 0)
		rc = dn_error_set(err, DN_EFORMAT, "audio contains no frames (header only, or truncated)");
	if (rc == DN_OK) {
		size_t n = (size_t)have * ch;
		for (size_t i = 0; i < n; i++)
			if (!isfinite(buf[i])) {
				rc = dn_error_set(err, DN_EFORMAT,
				                  "audio sample %zu (frame %zu) is not a finite number", i,
				                  i / ch);
				break;
			}
	}
	if (rc != DN_OK) {
		free(buf);
		return rc;
	}
	if (have < cap) { /* give back what a short read left unused */
		float *p = realloc(buf, (size_t)have * ch * sizeof(float));
		if (p)
			buf = p;
	}
	out->data = buf;
	out->frames = (size_t)have;
	out->channels = info->channels;
	out->rate = info->samplerate;
	return DN_OK;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* When libsndfile refuses a RIFF/WAVE file, its message can be obscure ("SF_INFO
 * struct incomplete" for a 0 Hz header): look at the fmt chunk ourselves to
 * name the field that is wrong. Returns DN_OK when nothing specific is found. */
static int wav_diagnose(const unsigned char *b, size_t len, dn_error *err)
{
	if (len < 12 || memcmp(b, "RIFF", 4) != 0 || memcmp(b + 8, "WAVE", 4) != 0)
		return DN_OK;
	size_t off = 12;
	while (off + 8 <= len) {
		uint32_t size = le32(b + off + 4);
		if (memcmp(b + off, "fmt ", 4) == 0) {
			if (size < 16 || off + 8 + 16 > len)
				return dn_error_set(err, DN_EFORMAT, "WAV fmt chunk is truncated");
			unsigned channels = (unsigned)b[off + 10] | (unsigned)b[off + 11] << 8;
			uint32_t rate = le32(b + off + 12);
			if (channels == 0)
				return dn_error_set(err, DN_EFORMAT, "WAV header declares 0 channels");
			if (rate == 0)
				return dn_error_set(err, DN_EFORMAT,
				                    "WAV header declares a sample rate of 0 Hz");
			return DN_OK;
		}
		if (size > len - off - 8)
			break;
		off += 8 + size + (size & 1);
	}
	return DN_OK;
}

int dn_audio_decode(const void *bytes, size_t len, const dn_audio_limits *lim, dn_audio *out, dn_error *err)
{
	dn_audio_limits dflt = dn_audio_default_limits();
	if (!out)
		return dn_error_set(err, DN_EINVAL, "dn_audio_decode: no output");
	memset(out, 0, sizeof *out);
	if (!lim)
		lim = &dflt;
	if (!bytes || len == 0)
		return dn_error_set(err, DN_EFORMAT, "empty audio: the body has no bytes");
	if ((uint64_t)len > (uint64_t)INT64_MAX)
		return dn_error_set(err, DN_ELIMIT, "audio body too large");

	membuf m = {.rd = bytes, .len = (sf_count_t)len};
	SF_INFO info;
	memset(&info, 0, sizeof info);
	SNDFILE *sf = sf_open_virtual(&mem_vio, SFM_READ, &info, &m);
	if (!sf) {
		/* sf_strerror(NULL) reports libsndfile's last open error. */
		int rc = dn_error_set(err, DN_EFORMAT, "not a readable audio file (%zu bytes): %s", len,
		                      sf_strerror(NULL));
		wav_diagnose(bytes, len, err);
		return rc;
	}

	int rc = check_header(&info, lim, out, err);
	sf_count_t known = -1;
	if (rc == DN_OK && info.frames >= 0 && info.frames < SF_COUNT_MAX) {
		/* The header's count is a promise: hold it to the limits before
		 * allocating for it. */
		rc = over_limits(info.frames, info.channels, info.samplerate, lim, out, err);
		known = info.frames;
	}
	if (rc == DN_OK && known == 0)
		rc = dn_error_set(err, DN_EFORMAT, "audio contains no frames (header only, or truncated)");
	/* Without a duration limit, a declared length is only trusted up to what
	 * a block-wise read would have reached anyway. */
	if (rc == DN_OK && known > 0 && lim->max_seconds <= 0 && known > (sf_count_t)len)
		known = -1;
	if (rc == DN_OK)
		rc = read_frames(sf, &info, known, lim, out, err);
	sf_close(sf);
	return rc;
}

int dn_audio_read_file(const char *path, const dn_audio_limits *lim, dn_audio *out, dn_error *err)
{
	if (!path || !out)
		return dn_error_set(err, DN_EINVAL, "dn_audio_read_file: no path or output");
	memset(out, 0, sizeof *out);
	unsigned char *buf;
	size_t size;
	int rc = dn_file_read(path, &buf, &size, err);
	if (rc != DN_OK)
		return rc;
	rc = dn_audio_decode(buf, size, lim, out, err);
	free(buf);
	if (rc != DN_OK && err) { /* say which file */
		char msg[DN_ERROR_MSG_MAX];
		snprintf(msg, sizeof msg, "%s", err->msg);
		dn_error_set(err, rc, "%s: %s", path, msg);
	}
	return rc;
}

/* ---- encoding ----------------------------------------------------------- */

int dn_audio_encode(const dn_audio *a, int format, void **bytes, size_t *len, dn_error *err)
{
	if (!a || !bytes || !len)
		return dn_error_set(err, DN_EINVAL, "dn_audio_encode: missing argument");
	*bytes = NULL;
	*len = 0;
	if (a->channels <= 0 || a->rate <= 0 || (a->frames > 0 && !a->data))
		return dn_error_set(err, DN_EINVAL, "cannot encode audio with %d channels at %d Hz",
		                    a->channels, a->rate);
	SF_INFO info;
	memset(&info, 0, sizeof info);
	info.channels = a->channels;
	info.samplerate = a->rate;
	switch (format) {
	case DN_AUDIO_WAV16: info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16; break;
	case DN_AUDIO_WAVF32: info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT; break;
	case DN_AUDIO_FLAC: info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16; break;
	default: return dn_error_set(err, DN_EINVAL, "unknown audio output format %d", format);
	}
	if (!sf_format_check(&info))
		return dn_error_set(err, DN_EUNSUPPORTED, "%s cannot hold %d channels at %d Hz",
		                    format == DN_AUDIO_FLAC ? "FLAC" : "WAV", a->channels, a->rate);

	membuf m = {0};
	SNDFILE *sf = sf_open_virtual(&mem_vio, SFM_WRITE, &info, &m);
	if (!sf) {
		free(m.wr);
		return dn_error_set(err, m.oom ? DN_ENOMEM : DN_EUNSUPPORTED, "cannot encode: %s",
		                    sf_strerror(NULL));
	}
	/* Integer output saturates at full scale instead of wrapping around. */
	sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
	/* No PEAK chunk in float WAV: it holds the time of writing, and the
	 * same audio should encode to the same bytes. */
	sf_command(sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
	int rc = DN_OK;
	sf_count_t done = a->frames ? sf_writef_float(sf, a->data, (sf_count_t)a->frames) : 0;
	if (done != (sf_count_t)a->frames)
		rc = dn_error_set(err, m.oom ? DN_ENOMEM : DN_EIO,
		                  "encoding stopped after %lld of %zu frames: %s", (long long)done, a->frames,
		                  sf_strerror(sf));
	if (sf_close(sf) != 0 && rc == DN_OK)
		rc = dn_error_set(err, m.oom ? DN_ENOMEM : DN_EIO, "cannot finish encoding");
	if (rc == DN_OK && m.oom)
		rc = dn_error_set(err, DN_ENOMEM, "out of memory while encoding");
	if (rc != DN_OK) {
		free(m.wr);
		return rc;
	}
	*bytes = m.wr;
	*len = (size_t)m.len;
	return DN_OK;
}

int dn_audio_write_file(const dn_audio *a, int format, const char *path, dn_error *err)
{
	if (!path || !*path)
		return dn_error_set(err, DN_EINVAL, "no output path");
	void *bytes;
	size_t len;
	int rc = dn_audio_encode(a, format, &bytes, &len, err);
	if (rc != DN_OK)
		return rc;
	rc = dn_file_write(path, bytes, len, err);
	free(bytes);
	return rc;
}
