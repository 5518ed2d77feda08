/* The Range header of a request (RFC 9110 14.1.2): a single byte range, against the
 * size of what is served. Pure functions: any thread. */
#ifndef IMGARC_NET_HTTP_RANGE_H
#define IMGARC_NET_HTTP_RANGE_H

#include <stdint.h>

/* Parses a single "bytes=a-b", "bytes=a-" or "bytes=-n" range of header value @h
 * (NULL: absent) against @size. Returns 1 with [*from, *to] set; 0 when absent,
 * malformed ("bytes=--1", "bytes=5-2", a sign, spaces) or several ranges, which are
 * not served: the Range header is then ignored and the whole content served, as RFC
 * 9110 14.2 says; -1 when well formed but unsatisfiable (416). */
int http_range_parse(const char *h, uint64_t size, uint64_t *from, uint64_t *to);

#endif
