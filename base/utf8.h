/* UTF-8 validation for text that arrives outside JSON (file names in query strings,
 * headers). JSON text is validated by the JSON parser. Pure functions, any thread. */
#ifndef IMGARC_BASE_UTF8_H
#define IMGARC_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when @len bytes of @s are well-formed UTF-8 (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
bool utf8_valid(const char *s, size_t len);

#endif
