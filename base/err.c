#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *base_strerror(int code)
{
    switch (code) {
#define BASE_ERR_CASE(name, value, text)                                                 \
    case value:                                                                          \
        return text;
        BASE_ERR_MAP(BASE_ERR_CASE)
#undef BASE_ERR_CASE
    case 0:
        return "success";
    default:
        return "unknown error";
    }
}

void base_err_set(struct base_err *err, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

void base_err_wrap(struct base_err *err, const char *fmt, ...)
{
    char prefix[BASE_ERR_MSG_SIZE];
    char old[BASE_ERR_MSG_SIZE];
    va_list ap;
    if (err == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t n;
    memcpy(old, err->msg, sizeof old);
    /* Truncation is fine: the start of the message says the most. */
    n = strnlen(prefix, sizeof prefix - 1);
    memcpy(err->msg, prefix, n);
    if (n + 2 < sizeof err->msg) {
        err->msg[n++] = ':';
        err->msg[n++] = ' ';
    }
    memcpy(err->msg + n, old, sizeof err->msg - n - 1);
    err->msg[sizeof err->msg - 1] = '\0';
}

int base_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return 0;
    case ENOMEM:
        return BASE_ENOMEM;
    case ENOSPC:
    case EDQUOT:
        return BASE_ENOSPACE;
    case ENOENT:
        return BASE_ENOTFOUND;
    case EEXIST:
        return BASE_EEXISTS;
    case EINVAL:
        return BASE_EINVAL;
    case EFBIG:
        return BASE_ETOOBIG;
    default:
        return BASE_EIO;
    }
}
