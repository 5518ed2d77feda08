/* Request headers that choose among representations (RFC 9110): Accept-Encoding (may
 * the answer be gzip-encoded?) and If-None-Match (does the client hold this one?).
 *
 * Pure functions over one header's value; any bytes are safe (fuzzed by
 * tests/fuzz/fuzz_http_accept.c). Used by api/console.c for the embedded console. */
#ifndef IMGARC_NET_HTTP_ACCEPT_H
#define IMGARC_NET_HTTP_ACCEPT_H

#include <stdbool.h>

/* Whether Accept-Encoding value @value (NULL when the header is absent) accepts gzip:
 * "gzip" or "x-gzip" with a weight above 0, or, when neither is listed, "*" with a weight
 * above 0. Names and "q" are case-insensitive; "q=0" (also "0.0", "0.000") refuses; an
 * element with a broken weight counts as not listed. An absent header gives false (the
 * identity answer is always acceptable). */
bool http_accepts_gzip(const char *value);

/* Whether If-None-Match value @value lists entity tag @etag (quoted, "\"...\""): "*", or
 * one element equal to it by the weak comparison (a "W/" prefix ignored). False for NULL
 * or a list it is not in. */
bool http_etag_listed(const char *value, const char *etag);

#endif
