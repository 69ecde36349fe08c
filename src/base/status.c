/*
 * status.c: per-thread last-error message and status names.
 */
#include "base/base.h"

#include <stdio.h>

static _Thread_local char g_msg[1024];

enum um_status um_set_error(enum um_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return st;
}

const char *um_last_error(void) {
    return g_msg;
}

const char *um_status_str(enum um_status st) {
    switch (st) {
    case UM_OK: return "ok";
    case UM_ERR_IO: return "io";
    case UM_ERR_FORMAT: return "format";
    case UM_ERR_UNSUPPORTED: return "unsupported";
    case UM_ERR_NOMEM: return "out of memory";
    case UM_ERR_ARG: return "invalid argument";
    case UM_ERR_CANCELLED: return "cancelled";
    }
    return "unknown";
}
