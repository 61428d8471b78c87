/*
 * ws.h — the parts of RFC 6455 (WebSocket) that do not touch a socket:
 * the handshake's accept key (SHA-1 and base64, written here since nothing
 * linked provides them: libmicrohttpd keeps its own SHA-1 internal), frame
 * headers as a server reads and writes them, and close codes. Internal to
 * api/ (api/stream.c uses it; tests/test_ws.c checks it against the
 * standards' test vectors).
 */
#ifndef API_WS_H
#define API_WS_H

#include <stddef.h>
#include <stdint.h>

/* SHA-1 (FIPS 180-4) of n bytes into out[20]. */
void ws_sha1(const void *data, size_t n, unsigned char out[20]);
/* Standard base64 with padding of n bytes; out holds 4 * ((n + 2) / 3) + 1
 * bytes (NUL-terminated). */
void ws_base64(const unsigned char *in, size_t n, char *out);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)),
 * 28 characters and a NUL in out[29]. */
void ws_accept_key(const char *key, char out[29]);

enum ws_opcode { WS_CONT = 0x0, WS_TEXT = 0x1, WS_BINARY = 0x2, WS_CLOSE = 0x8, WS_PING = 0x9, WS_PONG = 0xA };

/* Close codes (RFC 6455 7.4.1) the server sends. */
enum ws_close {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_BAD_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
	WS_CLOSE_TRY_LATER = 1013
};

typedef struct ws_header {
	int fin, opcode, masked;
	uint64_t len;
	unsigned char mask[4];
} ws_header;

/* Parses a frame header from the n bytes at p: returns its length (2..14)
 * with *h filled, 0 when more bytes are needed, -1 when it breaks the
 * protocol for a client's frame (reserved bits, unknown opcode, unmasked,
 * a control frame fragmented or over 125 bytes, a 64-bit length with the
 * top bit set). */
int ws_parse_header(const unsigned char *p, size_t n, ws_header *h);
/* Writes a server's (unmasked) frame header for a payload of len into
 * out[10]; returns its length. */
size_t ws_make_header(int opcode, int fin, uint64_t len, unsigned char out[10]);
/* XORs n payload bytes with the mask, starting at payload offset off. */
void ws_unmask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t off);

#endif
