/*
 * ws.c — see ws.h. SHA-1 as FIPS 180-4 section 6.1 states it (80 rounds
 * over 512-bit blocks, big-endian words), base64 as RFC 4648 section 4,
 * frame headers as RFC 6455 section 5.2.
 */
#include "api/ws.h"

#include <string.h>

static uint32_t rol(uint32_t x, int n)
{
	return x << n | x >> (32 - n);
}

static void sha1_block(uint32_t h[5], const unsigned char *b)
{
	uint32_t w[80];
	for (int t = 0; t < 16; t++)
		w[t] = (uint32_t)b[4 * t] << 24 | (uint32_t)b[4 * t + 1] << 16 | (uint32_t)b[4 * t + 2] << 8 |
		       b[4 * t + 3];
	for (int t = 16; t < 80; t++)
		w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
	uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
	for (int t = 0; t < 80; t++) {
		uint32_t f, k;
		if (t < 20) {
			f = (bb & c) | (~bb & d);
			k = 0x5A827999;
		} else if (t < 40) {
			f = bb ^ c ^ d;
			k = 0x6ED9EBA1;
		} else if (t < 60) {
			f = (bb & c) | (bb & d) | (c & d);
			k = 0x8F1BBCDC;
		} else {
			f = bb ^ c ^ d;
			k = 0xCA62C1D6;
		}
		uint32_t tmp = rol(a, 5) + f + e + k + w[t];
		e = d;
		d = c;
		c = rol(bb, 30);
		bb = a;
		a = tmp;
	}
	h[0] += a;
	h[1] += bb;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void ws_sha1(const void *data, size_t n, unsigned char out[20])
{
	uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	const unsigned char *p = data;
	size_t i = 0;
	for (; i + 64 <= n; i += 64)
		sha1_block(h, p + i);
	/* the tail, a 1 bit, zeros, and the length in bits: one or two blocks */
	unsigned char last[128] = {0};
	size_t rem = n - i, total = rem + 9 <= 64 ? 64 : 128;
	memcpy(last, p + i, rem);
	last[rem] = 0x80;
	uint64_t bits = (uint64_t)n * 8;
	for (int k = 0; k < 8; k++)
		last[total - 1 - k] = (unsigned char)(bits >> (8 * k));
	sha1_block(h, last);
	if (total == 128)
		sha1_block(h, last + 64);
	for (int k = 0; k < 5; k++) {
		out[4 * k] = (unsigned char)(h[k] >> 24);
		out[4 * k + 1] = (unsigned char)(h[k] >> 16);
		out[4 * k + 2] = (unsigned char)(h[k] >> 8);
		out[4 * k + 3] = (unsigned char)h[k];
	}
}

void ws_base64(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
		             (i + 2 < n ? in[i + 2] : 0);
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

void ws_accept_key(const char *key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char buf[256];
	size_t kl = strlen(key);
	if (kl > sizeof buf - sizeof guid)
		kl = sizeof buf - sizeof guid;
	memcpy(buf, key, kl);
	memcpy(buf + kl, guid, sizeof guid - 1);
	unsigned char d[20];
	ws_sha1(buf, kl + sizeof guid - 1, d);
	ws_base64(d, 20, out);
}

int ws_parse_header(const unsigned char *p, size_t n, ws_header *h)
{
	if (n < 2)
		return 0;
	h->fin = p[0] >> 7;
	h->opcode = p[0] & 0x0f;
	h->masked = p[1] >> 7;
	if (p[0] & 0x70)
		return -1; /* no extension was negotiated */
	if (h->opcode != WS_CONT && h->opcode != WS_TEXT && h->opcode != WS_BINARY && h->opcode != WS_CLOSE &&
	    h->opcode != WS_PING && h->opcode != WS_PONG)
		return -1;
	if (!h->masked)
		return -1; /* a client masks every frame (5.3) */
	size_t at = 2;
	uint64_t len = p[1] & 0x7f;
	if (len == 126) {
		if (n < 4)
			return 0;
		len = (uint64_t)p[2] << 8 | p[3];
		at = 4;
	} else if (len == 127) {
		if (n < 10)
			return 0;
		len = 0;
		for (int k = 0; k < 8; k++)
			len = len << 8 | p[2 + k];
		if (len >> 63)
			return -1;
		at = 10;
	}
	if (h->opcode >= WS_CLOSE && (!h->fin || len > 125))
		return -1;
	if (n < at + 4)
		return 0;
	memcpy(h->mask, p + at, 4);
	h->len = len;
	return (int)(at + 4);
}

size_t ws_make_header(int opcode, int fin, uint64_t len, unsigned char out[10])
{
	out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for (int k = 0; k < 8; k++)
		out[2 + k] = (unsigned char)(len >> (56 - 8 * k));
	return 10;
}

void ws_unmask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= mask[(off + i) & 3];
}
