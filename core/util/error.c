/*
 * error.c — the dn_error value (see dn.h).
 */
#include "core/dn.h"

#include <stdarg.h>
#include <stdio.h>

int dn_error_set(dn_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

void dn_error_clear(dn_error *err)
{
	if (err) {
		err->code = DN_OK;
		err->msg[0] = '\0';
	}
}

const char *dn_strerror(int code)
{
	switch (code) {
	case DN_OK: return "success";
	case DN_EINVAL: return "invalid argument";
	case DN_ENOMEM: return "out of memory";
	case DN_EIO: return "input/output error";
	case DN_EFORMAT: return "malformed input";
	case DN_ELIMIT: return "limit exceeded";
	case DN_EUNSUPPORTED: return "unsupported";
	case DN_ECANCELLED: return "cancelled";
	case DN_ESHAPE: return "shape mismatch";
	case DN_ENOTFOUND: return "not found";
	case DN_EDEVICE: return "device error";
	case DN_ENOSPACE: return "no space left";
	case DN_EEXIST: return "already exists";
	default: return "unknown error";
	}
}
