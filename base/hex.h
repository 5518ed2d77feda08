/* Lowercase hexadecimal encoding of byte strings (blob hashes, ids). */
#ifndef IMGARC_BASE_HEX_H
#define IMGARC_BASE_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes 2*@len hex digits and a NUL to @out (2*@len+1 bytes). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* The value of one hex digit (either case), or -1 for any other character. */
int hex_value(char c);
/* Decodes exactly 2*@len hex digits of @in; false on any other input. */
bool hex_decode(const char *in, uint8_t *out, size_t len);
/* True when @s is exactly @digits lowercase hex digits. */
bool hex_is_lower(const char *s, size_t digits);

#endif
