/*
 * test_audio.c — decoding and encoding of sound files in memory (audio.h).
 *
 * Bad input is the larger half: empty, header-only and truncated files,
 * random bytes, hand-built headers with zero channels or absurd rates, and
 * files over the duration limit must each be refused with the right code and
 * a message that says what is wrong. Good input is every format libsndfile
 * can write, generated here in memory by libsndfile itself, decoded back and
 * compared with the signal that went in.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>

#include "core/audio/audio.h"
#include "tests/check.h"

/* A growing memory file for libsndfile's virtual I/O (writing reference files). */
typedef struct vbuf {
	unsigned char *p;
	sf_count_t len, cap, pos;
} vbuf;

static sf_count_t vb_len(void *u)
{
	return ((vbuf *)u)->len;
}
static sf_count_t vb_seek(sf_count_t off, int wh, void *u)
{
	vbuf *b = u;
	b->pos = (wh == SEEK_SET ? 0 : wh == SEEK_CUR ? b->pos : b->len) + off;
	return b->pos;
}
static sf_count_t vb_read(void *ptr, sf_count_t n, void *u)
{
	vbuf *b = u;
	if (b->pos >= b->len)
		return 0;
	if (n > b->len - b->pos)
		n = b->len - b->pos;
	memcpy(ptr, b->p + b->pos, (size_t)n);
	b->pos += n;
	return n;
}
static sf_count_t vb_write(const void *ptr, sf_count_t n, void *u)
{
	vbuf *b = u;
	if (b->pos + n > b->cap) {
		b->cap = (b->pos + n) * 2;
		b->p = realloc(b->p, (size_t)b->cap);
	}
	memcpy(b->p + b->pos, ptr, (size_t)n);
	b->pos += n;
	if (b->pos > b->len)
		b->len = b->pos;
	return n;
}
static sf_count_t vb_tell(void *u)
{
	return ((vbuf *)u)->pos;
}

/* Encodes x (frames x ch interleaved) with libsndfile in `format`; returns 0 if
 * libsndfile cannot write that format. */
static int make_file(int format, const float *x, int frames, int ch, int rate, vbuf *out)
{
	SF_VIRTUAL_IO vio = {vb_len, vb_seek, vb_read, vb_write, vb_tell};
	SF_INFO info = {.samplerate = rate, .channels = ch, .format = format};
	memset(out, 0, sizeof *out);
	if (!sf_format_check(&info))
		return 0;
	SNDFILE *sf = sf_open_virtual(&vio, SFM_WRITE, &info, out);
	if (!sf)
		return 0;
	sf_writef_float(sf, x, frames);
	sf_close(sf);
	return 1;
}

/* A 44-byte canonical PCM WAV header followed by `data_bytes` of data. */
static size_t wav_header(unsigned char *h, int channels, uint32_t rate, int bits, uint32_t data_bytes)
{
	uint32_t block = (uint32_t)(channels * bits / 8);
	uint32_t v32;
	uint16_t v16;
	memcpy(h, "RIFF", 4);
	v32 = 36 + data_bytes;
	memcpy(h + 4, &v32, 4);
	memcpy(h + 8, "WAVEfmt ", 8);
	v32 = 16;
	memcpy(h + 16, &v32, 4);
	v16 = 1;
	memcpy(h + 20, &v16, 2);
	v16 = (uint16_t)channels;
	memcpy(h + 22, &v16, 2);
	memcpy(h + 24, &rate, 4);
	v32 = rate * block;
	memcpy(h + 28, &v32, 4);
	v16 = (uint16_t)block;
	memcpy(h + 32, &v16, 2);
	v16 = (uint16_t)bits;
	memcpy(h + 34, &v16, 2);
	memcpy(h + 36, "data", 4);
	memcpy(h + 40, &data_bytes, 4);
	return 44;
}

static void signal(float *x, int frames, int ch, int rate)
{
	for (int i = 0; i < frames; i++)
		for (int c = 0; c < ch; c++)
			x[i * ch + c] = 0.5f * (float)sin(2 * M_PI * (440.0 + 110.0 * c) * i / rate);
}

static double max_err(const float *a, const float *b, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e = fmax(e, fabs((double)a[i] - b[i]));
	return e;
}

static double rms_err(const float *a, const float *b, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
	return sqrt(e / (double)n);
}

static void test_bad_input(void)
{
	dn_error err;
	dn_audio a;
	dn_audio_limits lim = dn_audio_default_limits();
	unsigned char buf[4096];

	/* empty */
	CHECK_RC(dn_audio_decode(buf, 0, &lim, &a, &err), DN_EFORMAT);
	CHECK_MSG(strstr(err.msg, "empty") != NULL, "%s", err.msg);
	CHECK_RC(dn_audio_decode(NULL, 10, &lim, &a, &err), DN_EFORMAT);

	/* random bytes */
	uint32_t s = 12345;
	for (size_t i = 0; i < sizeof buf; i++) {
		s = s * 1664525u + 1013904223u;
		buf[i] = (unsigned char)(s >> 24);
	}
	CHECK_RC(dn_audio_decode(buf, sizeof buf, &lim, &a, &err), DN_EFORMAT);
	CHECK_MSG(strstr(err.msg, "not a readable audio file") != NULL, "%s", err.msg);
	CHECK(a.data == NULL);

	/* header only: declares 1000 bytes of data, has none */
	size_t n = wav_header(buf, 1, 16000, 16, 1000);
	CHECK_RC(dn_audio_decode(buf, n, &lim, &a, &err), DN_EFORMAT);
	CHECK_MSG(strstr(err.msg, "no frames") != NULL, "%s", err.msg);

	/* truncated in the data: accepted with the frames present */
	n = wav_header(buf, 1, 16000, 16, 2000);
	for (int i = 0; i < 500; i++) {
		int16_t v = (int16_t)(i * 37);
		memcpy(buf + n + 2 * i, &v, 2);
	}
	CHECK_RC(dn_audio_decode(buf, n + 1000, &lim, &a, &err), DN_OK);
	CHECK(a.frames == 500);
	CHECK(a.channels == 1 && a.rate == 16000);
	CHECK_NEAR(a.data[3], 3 * 37 / 32768.0, 1e-7);
	dn_audio_free(&a);

	/* a header cut short of its own chunks */
	CHECK_RC(dn_audio_decode(buf, 30, &lim, &a, &err), DN_EFORMAT);

	/* zero channels */
	n = wav_header(buf, 0, 16000, 16, 1000);
	memset(buf + n, 0, 1000);
	CHECK_RC(dn_audio_decode(buf, n + 1000, &lim, &a, &err), DN_EFORMAT);
	CHECK_MSG(strstr(err.msg, "hannel") != NULL, "%s", err.msg);

	/* absurd sample rates: 0 Hz, 10 MHz, and 100 Hz (below the minimum) */
	n = wav_header(buf, 1, 0, 16, 1000);
	CHECK_RC(dn_audio_decode(buf, n + 1000, &lim, &a, &err) < 0, 1);
	CHECK_MSG(strstr(err.msg, "rate") != NULL || strstr(err.msg, "Hz") != NULL, "%s", err.msg);
	n = wav_header(buf, 1, 10000000, 16, 1000);
	CHECK_RC(dn_audio_decode(buf, n + 1000, &lim, &a, &err), DN_ELIMIT);
	CHECK_MSG(strstr(err.msg, "10000000 Hz") != NULL, "%s", err.msg);
	n = wav_header(buf, 1, 100, 16, 1000);
	CHECK_RC(dn_audio_decode(buf, n + 1000, &lim, &a, &err), DN_ELIMIT);

	/* too many channels for the limit */
	lim.max_channels = 2;
	n = wav_header(buf, 4, 16000, 16, 1000);
	CHECK_RC(dn_audio_decode(buf, n + 1000, &lim, &a, &err), DN_ELIMIT);
	CHECK_MSG(strstr(err.msg, "4 channels") != NULL, "%s", err.msg);
	lim = dn_audio_default_limits();

	/* over the duration limit: 500 frames at 1 kHz is 0.5 s > 0.25 s */
	lim.min_rate = 1000;
	lim.max_seconds = 0.25;
	n = wav_header(buf, 1, 1000, 16, 1000);
	CHECK_RC(dn_audio_decode(buf, n + 1000, &lim, &a, &err), DN_ELIMIT);
	CHECK_MSG(strstr(err.msg, "0.5 s") != NULL && strstr(err.msg, "0.2") != NULL, "%s", err.msg);
	CHECK(a.data == NULL);
	lim = dn_audio_default_limits();

	/* a float WAV holding a NaN */
	float f[64] = {0};
	f[10] = NAN;
	vbuf vb;
	CHECK(make_file(SF_FORMAT_WAV | SF_FORMAT_FLOAT, f, 64, 1, 16000, &vb));
	CHECK_RC(dn_audio_decode(vb.p, (size_t)vb.len, &lim, &a, &err), DN_EFORMAT);
	CHECK_MSG(strstr(err.msg, "finite") != NULL, "%s", err.msg);
	free(vb.p);
}

/* The duration limit also holds for formats whose length is only known by
 * reading them (Ogg/Vorbis reports frames, but test the block path by a
 * stream that is longer than the limit either way). */
static void test_limit_compressed(void)
{
	dn_error err;
	dn_audio a;
	int frames = 16000 * 3;
	float *x = malloc(sizeof(float) * frames);
	signal(x, frames, 1, 16000);
	vbuf vb;
	CHECK(make_file(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, x, frames, 1, 16000, &vb));
	dn_audio_limits lim = dn_audio_default_limits();
	lim.max_seconds = 2.0;
	CHECK_RC(dn_audio_decode(vb.p, (size_t)vb.len, &lim, &a, &err), DN_ELIMIT);
	CHECK_MSG(strstr(err.msg, "3.0 s") != NULL, "%s", err.msg);
	/* a FLAC stream cut in half: decodes what is there or says it is corrupt */
	lim = dn_audio_default_limits();
	int rc = dn_audio_decode(vb.p, (size_t)vb.len / 2, &lim, &a, &err);
	CHECK(rc == DN_OK || rc == DN_EFORMAT);
	if (rc == DN_OK)
		CHECK(a.frames > 0 && a.frames < (size_t)frames);
	dn_audio_free(&a);
	free(vb.p);
	free(x);
}

static void test_formats(void)
{
	struct {
		int format;
		double tol;
	} fmts[] = {
	    {SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 1.0 / 64}, {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1e-4},
	    {SF_FORMAT_WAV | SF_FORMAT_PCM_24, 1e-6},     {SF_FORMAT_WAV | SF_FORMAT_PCM_32, 1e-6},
	    {SF_FORMAT_WAV | SF_FORMAT_FLOAT, 0},         {SF_FORMAT_WAV | SF_FORMAT_DOUBLE, 0},
	    {SF_FORMAT_WAV | SF_FORMAT_ULAW, 0.02},       {SF_FORMAT_WAV | SF_FORMAT_ALAW, 0.02},
	    {SF_FORMAT_WAV | SF_FORMAT_IMA_ADPCM, 0.1},   {SF_FORMAT_WAV | SF_FORMAT_MS_ADPCM, 0.1},
	    {SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1e-4},    {SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 1e-6},
	    {SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0.1},      {SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 1e-4},
	    {SF_FORMAT_AIFF | SF_FORMAT_FLOAT, 0},        {SF_FORMAT_AU | SF_FORMAT_PCM_16, 1e-4},
	    {SF_FORMAT_W64 | SF_FORMAT_PCM_16, 1e-4},     {SF_FORMAT_CAF | SF_FORMAT_ALAC_16, 1e-4},
	};
	int frames = 4000, ch = 2, rate = 16000;
	float *x = malloc(sizeof(float) * frames * ch);
	signal(x, frames, ch, rate);
	dn_audio_limits lim = dn_audio_default_limits();
	for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
		vbuf vb;
		dn_error err;
		dn_audio a;
		if (!make_file(fmts[i].format, x, frames, ch, rate, &vb)) {
			fprintf(stderr, "format 0x%x: libsndfile cannot write it here, skipped\n",
			        fmts[i].format);
			continue;
		}
		int rc = dn_audio_decode(vb.p, (size_t)vb.len, &lim, &a, &err);
		CHECK_MSG(rc == DN_OK, "format 0x%x: %s", fmts[i].format, err.msg);
		if (rc == DN_OK) {
			/* ADPCM codecs pad to whole blocks */
			CHECK_MSG(a.frames >= (size_t)frames && a.frames < (size_t)frames + 2048,
			          "format 0x%x: %zu frames", fmts[i].format, a.frames);
			CHECK(a.channels == ch && a.rate == rate);
			/* lossy codecs (tolerance >= 0.02) are held to an RMS error */
			double e = fmts[i].tol >= 0.02 ? rms_err(a.data, x, (size_t)frames * ch)
			                               : max_err(a.data, x, (size_t)frames * ch);
			CHECK_MSG(e <= fmts[i].tol, "format 0x%x: max error %g > %g", fmts[i].format, e,
			          fmts[i].tol);
		}
		dn_audio_free(&a);
		free(vb.p);
	}
	free(x);
}

static void test_roundtrip(void)
{
	int frames = 3001, ch = 3, rate = 22050;
	float *x = malloc(sizeof(float) * frames * ch);
	signal(x, frames, ch, rate);
	x[5] = 1.5f; /* over full scale: 16-bit output saturates, float keeps it */
	x[8] = -1.5f;
	dn_audio in = {.data = x, .frames = (size_t)frames, .channels = ch, .rate = rate};
	const char *names[] = {"wav", "wavf32", "flac"};
	double tols[] = {1.0 / 32768, 0, 1.0 / 32768};
	for (int i = 0; i < 3; i++) {
		int fmt = dn_audio_format_parse(names[i]);
		CHECK(fmt >= 0);
		void *bytes;
		size_t len;
		dn_error err;
		dn_audio a;
		CHECK_RC(dn_audio_encode(&in, fmt, &bytes, &len, &err), DN_OK);
		/* libsndfile's PEAK chunk would carry the time of writing */
		CHECK_MSG(!memmem(bytes, len, "PEAK", 4), "%s output has a PEAK chunk", names[i]);
		CHECK_RC(dn_audio_decode(bytes, len, NULL, &a, &err), DN_OK);
		CHECK(a.frames == (size_t)frames && a.channels == ch && a.rate == rate);
		if (fmt == DN_AUDIO_WAVF32) {
			CHECK(a.data[5] == 1.5f && a.data[8] == -1.5f);
		} else {
			CHECK_NEAR(a.data[5], 1.0, 1.0 / 32768);
			CHECK_NEAR(a.data[8], -1.0, 1.0 / 32768);
			a.data[5] = x[5];
			a.data[8] = x[8];
		}
		CHECK_MSG(max_err(a.data, x, (size_t)frames * ch) <= tols[i], "%s", names[i]);
		dn_audio_free(&a);
		free(bytes);
	}
	CHECK(dn_audio_format_parse("mp3") == -1);
	CHECK(dn_audio_format_parse("FLAC") == DN_AUDIO_FLAC);
	CHECK(strcmp(dn_audio_format_mime(DN_AUDIO_FLAC), "audio/flac") == 0);

	/* encoding refuses what it cannot represent */
	dn_error err;
	void *bytes;
	size_t len;
	dn_audio bad = in;
	bad.channels = 0;
	CHECK_RC(dn_audio_encode(&bad, DN_AUDIO_WAV16, &bytes, &len, &err), DN_EINVAL);
	CHECK_RC(dn_audio_encode(&in, 7, &bytes, &len, &err), DN_EINVAL);
	bad = in;
	bad.rate = 1000000; /* FLAC stops at 655350 Hz */
	CHECK_RC(dn_audio_encode(&bad, DN_AUDIO_FLAC, &bytes, &len, &err), DN_EUNSUPPORTED);

	/* files: atomic write, read back, failure leaves nothing behind */
	char dir[] = "/tmp/test_audio.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof path, "%s/out.flac", dir);
	CHECK_RC(dn_audio_write_file(&in, DN_AUDIO_FLAC, path, &err), DN_OK);
	dn_audio a;
	CHECK_RC(dn_audio_read_file(path, NULL, &a, &err), DN_OK);
	CHECK(a.frames == (size_t)frames);
	dn_audio_free(&a);
	/* an unwritable target: the rename fails (target is a non-empty dir) */
	char sub[300];
	snprintf(sub, sizeof sub, "%s/d", dir);
	mkdir(sub, 0755);
	char inner[320];
	snprintf(inner, sizeof inner, "%s/x", sub);
	FILE *f = fopen(inner, "w");
	if (f)
		fclose(f);
	CHECK_RC(dn_audio_write_file(&in, DN_AUDIO_WAV16, sub, &err), DN_EIO);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 2", dir); /* out.flac and d only */
	CHECK_MSG(system(cmd) == 0, "a temporary file was left in %s", dir);
	char missing[300];
	snprintf(missing, sizeof missing, "%s/nope.wav", dir);
	CHECK_RC(dn_audio_read_file(missing, NULL, &a, &err), DN_ENOTFOUND);
	CHECK_MSG(strstr(err.msg, "nope.wav") != NULL, "%s", err.msg);
	snprintf(missing, sizeof missing, "%s/nodir/x.wav", dir);
	CHECK_RC(dn_audio_write_file(&in, DN_AUDIO_WAV16, missing, &err), DN_EIO);
	unlink(inner);
	rmdir(sub);
	unlink(path);
	rmdir(dir);
	free(x);
}

/* Issue 14, item 2: a tiny FLAC of silence that decodes to far more than the
 * byte limit is refused from its header, before any sample buffer exists,
 * and the error says which limit it was. */
static void test_decompression_bomb(void)
{
	enum { CH = 8, RATE = 96000 };
	int frames = RATE * 2; /* 2 s: 6 MB decoded */
	float *x = calloc((size_t)frames * CH, sizeof(float));
	dn_audio_limits lim = dn_audio_default_limits();
	dn_error err;
	dn_audio a;
	vbuf vb;

	CHECK(x != NULL);
	CHECK(make_file(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, x, frames, CH, RATE, &vb));
	free(x);
	CHECK_MSG(vb.len < 200000, "silence compressed to %lld bytes", (long long)vb.len);
	lim.max_decoded_bytes = 1 << 20;
	CHECK_RC(dn_audio_decode(vb.p, (size_t)vb.len, &lim, &a, &err), DN_ELIMIT);
	CHECK(a.limit_hit == DN_AUDIO_LIMIT_BYTES);
	CHECK(a.data == NULL);
	CHECK_MSG(strstr(err.msg, "1048576 bytes") != NULL, "%s", err.msg);
	/* Within the limit it decodes, and the buffer is exactly what arrived. */
	lim.max_decoded_bytes = 8u << 20;
	CHECK_RC(dn_audio_decode(vb.p, (size_t)vb.len, &lim, &a, &err), DN_OK);
	CHECK(a.frames == (size_t)frames && a.channels == CH && a.limit_hit == DN_AUDIO_LIMIT_NONE);
	dn_audio_free(&a);
	/* The other limits say which they are, too. */
	lim = dn_audio_default_limits();
	lim.max_channels = 2;
	CHECK_RC(dn_audio_decode(vb.p, (size_t)vb.len, &lim, &a, &err), DN_ELIMIT);
	CHECK(a.limit_hit == DN_AUDIO_LIMIT_CHANNELS);
	lim = dn_audio_default_limits();
	lim.max_seconds = 1;
	CHECK_RC(dn_audio_decode(vb.p, (size_t)vb.len, &lim, &a, &err), DN_ELIMIT);
	CHECK(a.limit_hit == DN_AUDIO_LIMIT_SECONDS);
	free(vb.p);
}

int main(void)
{
	test_decompression_bomb();
	test_bad_input();
	test_limit_compressed();
	test_formats();
	test_roundtrip();
	return check_status();
}
