/* A streaming scanner of one JSON object. See json_stream.h. */
#include "net/json_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    S_START,
    S_FIRST,  /* after '{': a member or '}' */
    S_MEMBER, /* after ',': a member */
    S_KEY,
    S_COLON,
    S_VALUE,
    S_STRING,
    S_LITERAL,
    S_NESTED,
    S_AFTER, /* after a value: ',' or '}' */
    S_END,
};

/* Where the bytes of the string being read go. */
enum { TO_KEY, TO_VALUE, TO_STREAM, TO_NOWHERE };

void json_stream_init(struct json_stream *js, const struct json_stream_cbs *cbs)
{
    memset(js, 0, sizeof *js);
    js->cbs = *cbs;
    js->state = S_START;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int fail(struct json_stream *js, int code, struct base_err *err, const char *msg)
{
    base_err_set(err, "JSON body, byte %llu: %s", (unsigned long long)js->offset, msg);
    js->error = code;
    return code;
}

/* A failure about the value of the current member. */
static int fail_value(struct json_stream *js, int code, struct base_err *err, const char *what)
{
    base_err_set(err, "JSON body, byte %llu: the value of '%s' %s",
                 (unsigned long long)js->offset, js->key, what);
    js->error = code;
    return code;
}

static int flush(struct json_stream *js, bool end)
{
    int rv = 0;
    if (js->out_len > 0 || end) {
        rv = js->cbs.chunk_cb(js->cbs.arg, js->key, js->out, js->out_len, false);
        js->out_len = 0;
        if (rv == 0 && end) {
            rv = js->cbs.chunk_cb(js->cbs.arg, js->key, js->out, 0, true);
        }
    }
    if (rv != 0) {
        js->error = rv;
    }
    return rv;
}

static int target(const struct json_stream *js)
{
    if (js->state == S_KEY) {
        return TO_KEY;
    }
    switch (js->mode) {
    case JSON_STREAM_COLLECT:
        return TO_VALUE;
    case JSON_STREAM_STREAM:
        return TO_STREAM;
    default:
        return TO_NOWHERE;
    }
}

static int emit(struct json_stream *js, unsigned char c, struct base_err *err)
{
    switch (target(js)) {
    case TO_KEY:
        if (js->key_len >= JSON_STREAM_KEY_MAX) {
            return fail(js, BASE_ETOOBIG, err, "a member name is longer than 64 bytes");
        }
        js->key[js->key_len++] = (char)c;
        return 0;
    case TO_VALUE:
        if (js->value_len >= JSON_STREAM_VALUE_MAX) {
            return fail_value(js, BASE_ETOOBIG, err, "is longer than 4096 bytes");
        }
        js->value[js->value_len++] = (char)c;
        return 0;
    case TO_STREAM:
        js->out[js->out_len++] = (char)c;
        return js->out_len == sizeof js->out ? flush(js, false) : 0;
    default:
        return 0;
    }
}

static int emit_code(struct json_stream *js, uint32_t cp, struct base_err *err)
{
    unsigned char b[4];
    size_t n;
    int rv = 0;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = emit(js, b[i], err);
    }
    return rv;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The end of a \uXXXX escape. */
static int escaped_code(struct json_stream *js, struct base_err *err)
{
    uint32_t cp = js->code;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (js->high != 0) {
            return fail(js, BASE_EINVAL, err, "a high surrogate follows a high surrogate");
        }
        js->high = cp;
        return 0;
    }
    if (cp >= 0xdc00 && cp <= 0xdfff) {
        if (js->high == 0) {
            return fail(js, BASE_EINVAL, err, "a low surrogate without its high half");
        }
        cp = 0x10000 + ((js->high - 0xd800) << 10) + (cp - 0xdc00);
        js->high = 0;
    } else if (js->high != 0) {
        return fail(js, BASE_EINVAL, err, "a high surrogate without its low half");
    }
    return emit_code(js, cp, err);
}

/* One byte of a string (key or value); *@closed at its closing quote. */
static int string_byte(struct json_stream *js, unsigned char c, bool *closed,
                       struct base_err *err)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    *closed = false;
    if (js->esc == 1) {
        const char *p = c != '\0' ? strchr(from, c) : NULL;
        if (c == 'u') {
            js->esc = 2;
            js->code = 0;
            return 0;
        }
        js->esc = 0;
        if (p == NULL) {
            return fail(js, BASE_EINVAL, err, "an unknown escape in a string");
        }
        if (js->high != 0) {
            return fail(js, BASE_EINVAL, err, "a high surrogate without its low half");
        }
        return emit(js, (unsigned char)to[p - from], err);
    }
    if (js->esc >= 2) {
        int d = hex_digit(c);
        if (d < 0) {
            return fail(js, BASE_EINVAL, err, "a \\u escape needs four hex digits");
        }
        js->code = js->code << 4 | (uint32_t)d;
        if (++js->esc < 6) {
            return 0;
        }
        js->esc = 0;
        return escaped_code(js, err);
    }
    if (c == '\\') {
        js->esc = 1;
        return 0;
    }
    if (js->high != 0) {
        return fail(js, BASE_EINVAL, err, "a high surrogate without its low half");
    }
    if (c == '"') {
        *closed = true;
        return 0;
    }
    if (c < 0x20) {
        return fail(js, BASE_EINVAL, err, "a control character in a string (escape it)");
    }
    return emit(js, c, err);
}

static bool literal_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '.' || c == '+' || c == '-';
}

/* A JSON number (RFC 8259 grammar). */
static bool valid_number(const char *s)
{
    if (*s == '-') {
        s++;
    }
    if (*s == '0') {
        s++;
    } else if (*s >= '1' && *s <= '9') {
        while (*s >= '0' && *s <= '9') {
            s++;
        }
    } else {
        return false;
    }
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9')) {
            return false;
        }
        while (*s >= '0' && *s <= '9') {
            s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') {
            s++;
        }
        if (!(*s >= '0' && *s <= '9')) {
            return false;
        }
        while (*s >= '0' && *s <= '9') {
            s++;
        }
    }
    return *s == '\0';
}

static int end_literal(struct json_stream *js, struct base_err *err)
{
    enum json_stream_kind kind;
    js->value[js->value_len] = '\0';
    if (strcmp(js->value, "true") == 0) {
        kind = JSON_STREAM_TRUE;
    } else if (strcmp(js->value, "false") == 0) {
        kind = JSON_STREAM_FALSE;
    } else if (strcmp(js->value, "null") == 0) {
        kind = JSON_STREAM_NULL;
    } else if (valid_number(js->value)) {
        kind = JSON_STREAM_NUMBER;
    } else {
        return fail_value(js, BASE_EINVAL, err, "is not JSON");
    }
    js->state = S_AFTER;
    if (js->mode == JSON_STREAM_COLLECT) {
        int rv = js->cbs.value_cb(js->cbs.arg, js->key, kind, js->value, js->value_len);
        if (rv != 0) {
            js->error = rv;
            return rv;
        }
    }
    return 0;
}

static int end_string(struct json_stream *js)
{
    int rv = 0;
    if (js->mode == JSON_STREAM_COLLECT) {
        js->value[js->value_len] = '\0';
        rv = js->cbs.value_cb(js->cbs.arg, js->key, JSON_STREAM_STRING, js->value,
                              js->value_len);
    } else if (js->mode == JSON_STREAM_STREAM) {
        rv = flush(js, true);
    }
    js->error = rv;
    js->state = S_AFTER;
    return rv;
}

/* Skipping a nested value: strings are followed so their brackets do not count. */
static int nested_byte(struct json_stream *js, unsigned char c, struct base_err *err)
{
    if (js->skip_in_string) {
        if (js->skip_escape) {
            js->skip_escape = false;
        } else if (c == '\\') {
            js->skip_escape = true;
        } else if (c == '"') {
            js->skip_in_string = false;
        } else if (c < 0x20) {
            return fail(js, BASE_EINVAL, err, "a control character in a string");
        }
        return 0;
    }
    if (c == '"') {
        js->skip_in_string = true;
    } else if (c == '{' || c == '[') {
        if (++js->depth > JSON_STREAM_DEPTH_MAX) {
            return fail(js, BASE_EINVAL, err, "values nested deeper than 64 levels");
        }
    } else if (c == '}' || c == ']') {
        if (--js->depth == 0) {
            js->state = S_AFTER;
            if (js->mode == JSON_STREAM_COLLECT) {
                int rv = js->cbs.value_cb(js->cbs.arg, js->key, JSON_STREAM_NESTED, "", 0);
                js->error = rv;
                return rv;
            }
        }
    }
    return 0;
}

static int value_start(struct json_stream *js, unsigned char c, struct base_err *err)
{
    js->value_len = 0;
    if (c == '"') {
        js->state = S_STRING;
        js->esc = 0;
        js->high = 0;
        return 0;
    }
    if (js->mode == JSON_STREAM_STREAM) {
        return fail_value(js, BASE_EINVAL, err, "must be a string");
    }
    if (c == '{' || c == '[') {
        js->state = S_NESTED;
        js->depth = 1;
        js->skip_in_string = js->skip_escape = false;
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
        js->state = S_LITERAL;
        js->value[js->value_len++] = (char)c;
        return 0;
    }
    return fail_value(js, BASE_EINVAL, err, "is not JSON");
}

static int step(struct json_stream *js, unsigned char c, struct base_err *err)
{
    bool closed;
    int rv;
    switch (js->state) {
    case S_START:
        if (is_space(c)) {
            return 0;
        }
        if (c != '{') {
            return fail(js, BASE_EINVAL, err, "the body must be a JSON object");
        }
        js->state = S_FIRST;
        return 0;
    case S_FIRST:
    case S_MEMBER:
        if (is_space(c)) {
            return 0;
        }
        if (c == '}' && js->state == S_FIRST) {
            js->state = S_END;
            return 0;
        }
        if (c != '"') {
            return fail(js, BASE_EINVAL, err, "a member name (a string) is expected");
        }
        js->state = S_KEY;
        js->key_len = 0;
        js->esc = 0;
        js->high = 0;
        return 0;
    case S_KEY:
        if ((rv = string_byte(js, c, &closed, err)) != 0 || !closed) {
            return rv;
        }
        if (memchr(js->key, '\0', js->key_len) != NULL) {
            return fail(js, BASE_EINVAL, err, "a member name holds a NUL character");
        }
        js->key[js->key_len] = '\0';
        js->state = S_COLON;
        return 0;
    case S_COLON:
        if (is_space(c)) {
            return 0;
        }
        if (c != ':') {
            return fail(js, BASE_EINVAL, err, "':' is expected after a member name");
        }
        js->mode = js->cbs.member_cb(js->cbs.arg, js->key);
        js->state = S_VALUE;
        return 0;
    case S_VALUE:
        return is_space(c) ? 0 : value_start(js, c, err);
    case S_STRING:
        if ((rv = string_byte(js, c, &closed, err)) != 0 || !closed) {
            return rv;
        }
        return end_string(js);
    case S_LITERAL:
        if (literal_char(c)) {
            if (js->value_len >= 64) {
                return fail_value(js, BASE_ETOOBIG, err, "is too long");
            }
            js->value[js->value_len++] = (char)c;
            return 0;
        }
        if ((rv = end_literal(js, err)) != 0) {
            return rv;
        }
        return step(js, c, err); /* the delimiter, in S_AFTER */
    case S_NESTED:
        return nested_byte(js, c, err);
    case S_AFTER:
        if (is_space(c)) {
            return 0;
        }
        if (c == ',') {
            js->state = S_MEMBER;
        } else if (c == '}') {
            js->state = S_END;
        } else {
            return fail(js, BASE_EINVAL, err, "',' or '}' is expected after a value");
        }
        return 0;
    default: /* S_END */
        if (!is_space(c)) {
            return fail(js, BASE_EINVAL, err, "data after the end of the object");
        }
        return 0;
    }
}

int json_stream_feed(struct json_stream *js, const char *data, size_t len,
                     struct base_err *err)
{
    int rv;
    if (js->error != 0) {
        base_err_set(err, "JSON body: the scan failed already");
        return js->error;
    }
    for (size_t i = 0; i < len; i++, js->offset++) {
        if ((rv = step(js, (unsigned char)data[i], err)) != 0) {
            if (js->error == 0) {
                js->error = rv;
            }
            return rv;
        }
    }
    /* What a streamed string gathered goes out with each piece of the body. */
    if (js->state == S_STRING && js->mode == JSON_STREAM_STREAM) {
        return flush(js, false);
    }
    return 0;
}

int json_stream_finish(struct json_stream *js, struct base_err *err)
{
    if (js->error != 0) {
        base_err_set(err, "JSON body: the scan failed already");
        return js->error;
    }
    if (js->state != S_END) {
        return fail(js, BASE_EINVAL, err,
                    js->state == S_START ? "the body is empty: send a JSON object"
                                         : "the body ends before the object does");
    }
    return 0;
}
