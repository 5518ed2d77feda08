/* Error codes shared by every layer.
 *
 * A function that can fail returns int: 0 on success or one of the negative BASE_E*
 * codes below. When the caller needs to know why, it passes a struct base_err that
 * each layer wraps with context ("blob 3fa2...: rename: No space left on device").
 * Used from every thread; holds no state. */
#ifndef IMGARC_BASE_ERR_H
#define IMGARC_BASE_ERR_H

#include <stddef.h>

#define BASE_ERR_MAP(X)                                                                  \
    X(NOMEM, -1, "out of memory")                                                        \
    X(IO, -2, "input/output error")                                                      \
    X(CORRUPT, -3, "stored data is corrupt")                                             \
    X(INVAL, -4, "invalid argument")                                                     \
    X(NOTFOUND, -5, "not found")                                                         \
    X(EXISTS, -6, "already exists")                                                      \
    X(TOOBIG, -7, "too large")                                                           \
    X(NOSPACE, -8, "no space left on device")                                            \
    X(NOTLEADER, -9, "not the leader")                                                   \
    X(RETRY, -10, "outcome unknown, retry")                                              \
    X(SHUTDOWN, -11, "shutting down")                                                    \
    X(CANCELED, -12, "canceled")                                                         \
    X(CONFLICT, -13, "conflict")                                                         \
    X(EMPTY, -14, "nothing to read")                                                     \
    X(REFUSED, -15, "refused by another node")

enum {
#define BASE_ERR_ENUM(name, value, text) BASE_E##name = (value),
    BASE_ERR_MAP(BASE_ERR_ENUM)
#undef BASE_ERR_ENUM
};

#define BASE_ERR_MSG_SIZE 256

/* Why an operation failed, as a message each layer prefixes with its context. */
struct base_err {
    char msg[BASE_ERR_MSG_SIZE];
};

#define WARN_UNUSED __attribute__((warn_unused_result))

/* Static text for a BASE_E* code; "unknown error" for anything else. */
const char *base_strerror(int code);

/* Replaces the message. @err may be NULL (nothing is recorded). */
void base_err_set(struct base_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the existing message with "<context>: ". @err may be NULL. */
void base_err_wrap(struct base_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Maps an errno value to a BASE_E* code (ENOSPC -> NOSPACE, ENOENT -> NOTFOUND...). */
int base_err_from_errno(int errnum);

#endif
