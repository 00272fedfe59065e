#include "core.h"

#include <stdio.h>

kerr_code kerr_set(kerr *err, kerr_code code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *kerr_name(kerr_code code)
{
    switch (code) {
    case KERR_OK: return "ok";
    case KERR_INVALID: return "invalid";
    case KERR_IO: return "io";
    case KERR_NOMEM: return "nomem";
    case KERR_UNSUPPORTED: return "unsupported";
    case KERR_EOF: return "eof";
    case KERR_AGAIN: return "again";
    case KERR_INTERNAL: return "internal";
    }
    return "unknown";
}
