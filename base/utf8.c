#include "utf8.h"

#include <stdint.h>

/* Length and payload bits of a sequence's first byte; 0 when it cannot start one. */
static size_t lead(unsigned char c, uint32_t *cp, uint32_t *min)
{
    if (c >= 0xC2 && c <= 0xDF) {
        *cp = c & 0x1F;
        *min = 0x80;
        return 2;
    }
    if ((c & 0xF0) == 0xE0) {
        *cp = c & 0x0F;
        *min = 0x800;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        *cp = c & 0x07;
        *min = 0x10000;
        return 4;
    }
    return 0;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp, min;
        size_t n;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        n = lead(p[i], &cp, &min);
        if (n == 0 || n > len - i) {
            return false;
        }
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n;
    }
    return true;
}
