/*
 * dn.h — what every module of libdenoise shares: result codes and the error
 * value that carries a human-readable message beside them.
 *
 * Core functions return 0 on success or a negative DN_E* code, and write the
 * detail into a caller-provided dn_error (which may be NULL when the caller
 * only wants the code). Core never prints, exits or aborts on bad input: the
 * program that links it decides how an error is reported.
 */
#ifndef DN_DN_H
#define DN_DN_H

#include <stddef.h>

enum {
	DN_OK = 0,
	DN_EINVAL = -1,       /* an argument is out of its domain */
	DN_ENOMEM = -2,       /* an allocation failed */
	DN_EIO = -3,          /* reading or writing a file failed */
	DN_EFORMAT = -4,      /* input bytes are not in the expected format */
	DN_ELIMIT = -5,       /* input exceeds a configured limit */
	DN_EUNSUPPORTED = -6, /* well-formed but not something we handle */
	DN_ECANCELLED = -7,   /* stopped on request */
	DN_ESHAPE = -8,       /* tensor shapes do not fit together */
	DN_ENOTFOUND = -9,    /* a named thing does not exist */
	DN_EDEVICE = -10,     /* an accelerator failed (out of its memory, lost) */
	DN_ENOSPACE = -11,    /* writing a file failed: no space left (ENOSPC, EDQUOT) */
	DN_EEXIST = -12,      /* a named thing exists already */
};

#define DN_ERROR_MSG_MAX 256

typedef struct dn_error {
	int code;
	char msg[DN_ERROR_MSG_MAX];
} dn_error;

/* Asked between units of long work (a chunk of audio, a tile of a frame):
 * non-zero stops it with DN_ECANCELLED, and the callback may say why in
 * err. */
typedef int (*dn_cancel_fn)(void *arg, dn_error *err);

/* Records code and a printf-style message in err (if not NULL); returns code,
 * so that callers can write `return dn_error_set(err, DN_EINVAL, "...")`. */
int dn_error_set(dn_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Clears err to DN_OK with an empty message. */
void dn_error_clear(dn_error *err);

/* A static, short name for a code ("invalid argument", ...). */
const char *dn_strerror(int code);

#endif
