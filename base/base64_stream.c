/* Incremental base64 decoding. See base64_stream.h. */
#include "base/base64_stream.h"

#include <string.h>

#define BAD 0xff
#define SPACE 0xfe
#define PAD 0xfd

/* The 6-bit value of character @c, or BAD, SPACE or PAD. */
static uint8_t value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return (uint8_t)(c - 'A');
    }
    if (c >= 'a' && c <= 'z') {
        return (uint8_t)(c - 'a' + 26);
    }
    if (c >= '0' && c <= '9') {
        return (uint8_t)(c - '0' + 52);
    }
    switch (c) {
    case '+':
    case '-':
        return 62;
    case '/':
    case '_':
        return 63;
    case ' ':
    case '\t':
    case '\r':
    case '\n':
        return SPACE;
    case '=':
        return PAD;
    default:
        return BAD;
    }
}

void base64_stream_init(struct base64_stream *s)
{
    memset(s, 0, sizeof *s);
}

static int bad(struct base64_stream *s, unsigned char c, struct base_err *err, const char *why)
{
    if (c >= 0x20 && c < 0x7f) {
        base_err_set(err, "base64: '%c' at character %llu: %s", c,
                     (unsigned long long)s->offset, why);
    } else {
        base_err_set(err, "base64: byte 0x%02x at character %llu: %s", c,
                     (unsigned long long)s->offset, why);
    }
    return BASE_EINVAL;
}

int base64_stream_feed(struct base64_stream *s, const char *in, size_t len, uint8_t *out,
                       size_t *out_len, struct base_err *err)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++, s->offset++) {
        unsigned char c = (unsigned char)in[i];
        uint8_t v = value(c);
        if (v == SPACE) {
            continue;
        }
        if (v == BAD) {
            *out_len = o;
            return bad(s, c, err, "not a base64 character");
        }
        if (v == PAD) {
            /* "xx==" or "xxx=": padding completes a group of 2 or 3 characters. */
            if (s->n + s->pad < 2 || s->n + s->pad >= 4) {
                *out_len = o;
                return bad(s, c, err, "padding in the wrong place");
            }
            s->pad++;
            if (s->n + s->pad == 4) {
                out[o++] = (uint8_t)(s->group[0] << 2 | s->group[1] >> 4);
                if (s->n == 3) {
                    out[o++] = (uint8_t)(s->group[1] << 4 | s->group[2] >> 2);
                }
                s->n = 0;
                s->pad = 4; /* ended: only whitespace may follow */
            }
            continue;
        }
        if (s->pad > 0) {
            *out_len = o;
            return bad(s, c, err, "data after the padding");
        }
        s->group[s->n++] = v;
        if (s->n == 4) {
            out[o++] = (uint8_t)(s->group[0] << 2 | s->group[1] >> 4);
            out[o++] = (uint8_t)(s->group[1] << 4 | s->group[2] >> 2);
            out[o++] = (uint8_t)(s->group[2] << 6 | s->group[3]);
            s->n = 0;
        }
    }
    *out_len = o;
    return 0;
}

int base64_stream_finish(struct base64_stream *s, uint8_t *out, size_t *out_len,
                         struct base_err *err)
{
    *out_len = 0;
    if (s->pad > 0 && s->pad < 4) {
        base_err_set(err, "base64: the text ends inside its padding");
        return BASE_EINVAL;
    }
    if (s->n == 1) {
        base_err_set(err, "base64: the text ends with a group of one character");
        return BASE_EINVAL;
    }
    if (s->n >= 2) {
        out[(*out_len)++] = (uint8_t)(s->group[0] << 2 | s->group[1] >> 4);
    }
    if (s->n == 3) {
        out[(*out_len)++] = (uint8_t)(s->group[1] << 4 | s->group[2] >> 2);
    }
    s->n = 0;
    return 0;
}
