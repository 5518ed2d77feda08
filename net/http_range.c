/* The Range header. See http_range.h. */
#include "net/http_range.h"

#include <string.h>
#include <strings.h>

/* A byte position of a Range header: 1 or more digits, saturating at UINT64_MAX (a
 * position past any file). Returns the end of the digits, or NULL when there are none. */
static const char *range_number(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return p != s ? p : NULL;
}

int http_range_parse(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    uint64_t a, b;
    const char *p;
    if (h == NULL || strncasecmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL) {
        return 0;
    }
    h += 6;
    if (*h == '-') {
        p = range_number(h + 1, &b);
        if (p == NULL || *p != '\0') {
            return 0;
        }
        if (b == 0 || size == 0) {
            return -1;
        }
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return 1;
    }
    p = range_number(h, &a);
    if (p == NULL || *p != '-') {
        return 0;
    }
    b = UINT64_MAX;
    if (p[1] != '\0') {
        p = range_number(p + 1, &b);
        if (p == NULL || *p != '\0' || b < a) {
            return 0;
        }
    }
    if (a >= size) {
        return -1;
    }
    *from = a;
    *to = b >= size ? size - 1 : b;
    return 1;
}
