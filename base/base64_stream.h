/* Incremental base64 decoding: a text of any length fed in pieces of any size, decoded
 * as it comes, with at most three characters carried from one piece to the next (the
 * vendor's fileCollect sends a file as one base64 string of hundreds of MB: it is
 * decoded while it streams, never held whole).
 *
 * Accepted: the standard alphabet (RFC 4648 section 4) and the URL-safe one (section
 * 5, '-' and '_'), mixed; whitespace (space, tab, CR, LF) anywhere, ignored (MIME line
 * breaks); '=' padding at the end, or none (a final group of 2 or 3 characters); unused
 * low bits of the last character need not be zero (as most decoders allow). Refused:
 * any other character, data after padding, padding in the wrong place, a final group of
 * one character. Any thread; the state is the caller's. */
#ifndef IMGARC_BASE_BASE64_STREAM_H
#define IMGARC_BASE_BASE64_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct base64_stream {
    uint8_t group[4]; /* 6-bit values of the group being read */
    unsigned n;       /* how many of them */
    unsigned pad;     /* '=' seen: the text has ended but for more '=' and whitespace */
    uint64_t offset;  /* characters consumed, for error messages */
};

/* The most bytes base64_stream_feed() writes for @len characters. */
#define BASE64_STREAM_OUT_MAX(len) (((len) + 3) / 4 * 3)

void base64_stream_init(struct base64_stream *s);
/* Decodes @len characters of @in into @out (room for BASE64_STREAM_OUT_MAX(@len)
 * bytes); *@out_len the bytes written. 0, or BASE_EINVAL with @err naming the
 * character and its offset (the stream is then unusable). */
int base64_stream_feed(struct base64_stream *s, const char *in, size_t len, uint8_t *out,
                       size_t *out_len, struct base_err *err) WARN_UNUSED;
/* The text has ended: writes the last 0-2 bytes of an unpadded text into @out (room for
 * 3). 0, or BASE_EINVAL when the text ends in the middle of a group. */
int base64_stream_finish(struct base64_stream *s, uint8_t *out, size_t *out_len,
                         struct base_err *err) WARN_UNUSED;

#endif
