/* A streaming scanner of one JSON object, for request bodies too large to hold: the
 * vendor's fileCollect body is {"base64": "<hundreds of MB>", "fileSuffix": "pdf", ...}
 * with its fields in any order. The body is fed in pieces of any size; for each member
 * of the top-level object the owner chooses (from its name) to collect the value (a
 * short string, number, true, false or null, handed over whole, at most
 * JSON_STREAM_VALUE_MAX bytes), to stream it (a string, handed over unescaped in pieces
 * as it arrives) or to skip it (any value, nested ones included, never held).
 *
 * Strict JSON (RFC 8259): escapes are decoded (\" \\ \/ \b \f \n \r \t and \uXXXX,
 * surrogate pairs into UTF-8; a lone surrogate is refused), raw control characters in
 * strings are refused, nothing but whitespace may follow the object. Memory is fixed
 * (the struct), whatever the body. Loop thread or any; the state is the caller's. */
#ifndef IMGARC_NET_JSON_STREAM_H
#define IMGARC_NET_JSON_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define JSON_STREAM_KEY_MAX 64
#define JSON_STREAM_VALUE_MAX 4096
#define JSON_STREAM_DEPTH_MAX 64

enum json_stream_mode {
    JSON_STREAM_SKIP,
    JSON_STREAM_COLLECT,
    JSON_STREAM_STREAM,
};

/* The kinds of collected values. */
enum json_stream_kind {
    JSON_STREAM_STRING,
    JSON_STREAM_NUMBER,
    JSON_STREAM_TRUE,
    JSON_STREAM_FALSE,
    JSON_STREAM_NULL,
    JSON_STREAM_NESTED, /* an object or array where a collected value was asked: not kept */
};

struct json_stream_cbs {
    /* Member @key begins: how to take its value. */
    enum json_stream_mode (*member_cb)(void *arg, const char *key);
    /* A collected value (@text NUL-terminated; a string unescaped, which may hold NUL
     * bytes: @len counts them). Non-zero stops the scan with that code. */
    int (*value_cb)(void *arg, const char *key, enum json_stream_kind kind, const char *text,
                    size_t len);
    /* Streamed string bytes, unescaped; then @end once with len 0 at its closing quote.
     * A streamed member whose value is not a string is refused. Non-zero stops. */
    int (*chunk_cb)(void *arg, const char *key, const char *data, size_t len, bool end);
    void *arg;
};

struct json_stream {
    struct json_stream_cbs cbs;
    uint64_t offset; /* bytes consumed, for messages */
    /* Private. */
    int state;
    int mode;
    int kind;
    int error;
    unsigned depth;       /* nesting while skipping */
    bool skip_in_string;  /* skipping: inside a string */
    bool skip_escape;
    unsigned esc;         /* 0: none; 1: after '\'; 2-5: reading \u hex digits */
    uint32_t code;        /* \u value being read */
    uint32_t high;        /* a high surrogate waiting for its low half */
    char key[JSON_STREAM_KEY_MAX + 1];
    size_t key_len;
    char value[JSON_STREAM_VALUE_MAX + 1];
    size_t value_len;
    char out[1024]; /* streamed bytes gathered before chunk_cb */
    size_t out_len;
};

void json_stream_init(struct json_stream *js, const struct json_stream_cbs *cbs);
/* Scans @len bytes. 0; BASE_EINVAL (not JSON, or not an object) or BASE_ETOOBIG (a name
 * or collected value too long) with @err saying where; or a callback's code. After a
 * failure the scanner stays failed. */
int json_stream_feed(struct json_stream *js, const char *data, size_t len,
                     struct base_err *err) WARN_UNUSED;
/* The body has ended: 0 when it was one complete object, else BASE_EINVAL. */
int json_stream_finish(struct json_stream *js, struct base_err *err) WARN_UNUSED;

#endif
