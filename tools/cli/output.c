/* Output for people: members of JSON answers, text from the network printed with its
 * control characters replaced, table cells padded by terminal columns (CJK characters
 * take two), labelled fields, byte counts, and JSON for --json. */
#include "tools/cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Output ---- */

const char *jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

long long jint(const json_t *obj, const char *key)
{
    return (long long)json_integer_value(json_object_get(obj, key));
}

long long jid_value(const json_t *v)
{
    const char *s = json_string_value(v);
    char *end;
    long long id;
    if (json_is_integer(v)) {
        return (long long)json_integer_value(v);
    }
    if (s == NULL || s[0] < '0' || s[0] > '9') {
        return 0;
    }
    errno = 0;
    id = strtoll(s, &end, 10);
    return *end == '\0' && errno == 0 ? id : 0;
}

long long jid(const json_t *obj, const char *key)
{
    return jid_value(json_object_get(obj, key));
}

bool jbool(const json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

/* Decodes one UTF-8 sequence; returns its length, or 0 when it is not valid. */
static size_t utf8_next(const unsigned char *p, uint32_t *cp)
{
    size_t n = p[0] < 0x80                ? 1
               : (p[0] & 0xE0) == 0xC0 ? 2
               : (p[0] & 0xF0) == 0xE0 ? 3
               : (p[0] & 0xF8) == 0xF0 ? 4
                                       : 0;
    uint32_t v = n == 1 ? p[0] : n == 2 ? p[0] & 0x1Fu : n == 3 ? p[0] & 0x0Fu : p[0] & 0x07u;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = v << 6 | (p[i] & 0x3Fu);
    }
    *cp = v;
    return n;
}

/* Terminal columns of a code point: two for the CJK and fullwidth blocks that file
 * names and bill fields of Chinese companies are written in, one otherwise. */
static int columns(uint32_t cp)
{
    bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD);
    return wide ? 2 : 1;
}

/* Prints @s with control characters replaced, so that text from the network cannot
 * drive the terminal; returns the columns used. */
int put_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int cols = 0;
    while (*p != '\0') {
        uint32_t cp = 0;
        size_t n = utf8_next(p, &cp);
        if (n == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
            putchar('?');
            cols++;
            p += n == 0 ? 1 : n;
            continue;
        }
        fwrite(p, 1, n, stdout);
        cols += columns(cp);
        p += n;
    }
    return cols;
}

/* @s when it is made of the id alphabet (image numbers, cursors), else "?": for
 * server text put into messages on stderr. */
const char *plain(const char *s)
{
    return strspn(s, KEY_ALPHABET) == strlen(s) ? s : "?";
}

/* One table cell: the text ("-" when empty), padded to @width, then a gap. */
void put_cell(const char *s, int width)
{
    int used = put_text(s[0] != '\0' ? s : "-");
    printf("%*s", width > used ? width - used + 2 : 2, "");
}

/* One "label  value" line of a record. */
void put_field(const char *label, const char *value)
{
    printf("%-10s ", label);
    put_text(value[0] != '\0' ? value : "-");
    putchar('\n');
}

void print_json(const json_t *v, bool compact)
{
    json_dumpf(v, stdout, compact ? JSON_COMPACT : JSON_INDENT(2));
    putchar('\n');
}

/* @n as "1.5 GiB": powers of 1024, as --quota-bytes takes them. */
void human_bytes(uint64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n / 1024.0;
    size_t u = 0;
    if (n < 1024) {
        snprintf(buf, size, "%llu B", (unsigned long long)n);
        return;
    }
    while (v >= 1024.0 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* "label      1.5 GiB (1610612736 bytes)", without the newline. */
void put_size(const char *label, long long n)
{
    char human[32];
    uint64_t bytes = n > 0 ? (uint64_t)n : 0;
    human_bytes(bytes, human, sizeof human);
    printf("%-10s %s (%llu bytes)", label, human, (unsigned long long)bytes);
}

/* A comma-separated list of the strings of a JSON array. */
void put_list(const json_t *list)
{
    const json_t *v;
    size_t i;
    json_array_foreach(list, i, v)
    {
        if (i > 0) {
            putchar(',');
        }
        put_text(json_string_value(v) != NULL ? json_string_value(v) : "?");
    }
    if (json_array_size(list) == 0) {
        putchar('-');
    }
}

/* "VALUE: WHAT", VALUE being the answer's member @key: the start of the line that
 * confirms a definition (the node answers with the body it was sent, and the index). */
void print_defined(const json_t *ans, const char *key, const char *what)
{
    put_text(jstr(ans, key));
    printf(": %s", what);
}

/* Columns @s takes when put_cell() prints it ("-" when empty). */
static int text_columns(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int cols = 0;
    if (*p == '\0') {
        return 1;
    }
    while (*p != '\0') {
        uint32_t cp = 0;
        size_t n = utf8_next(p, &cp);
        cols += n == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0) ? 1 : columns(cp);
        p += n == 0 ? 1 : n;
    }
    return cols;
}

/* Prints @n_rows rows of @n_cols cells, row 0 being the header, each column as wide as
 * its widest cell; the last column, free text, is not padded. */
void print_table(const char *const *cells, size_t n_rows, size_t n_cols)
{
    int *width = xcalloc(n_cols, sizeof *width);
    for (size_t i = 0; i < n_rows * n_cols; i++) {
        int w = text_columns(cells[i]);
        width[i % n_cols] = w > width[i % n_cols] ? w : width[i % n_cols];
    }
    for (size_t r = 0; r < n_rows; r++) {
        const char *const *row = cells + r * n_cols;
        for (size_t c = 0; c + 1 < n_cols; c++) {
            put_cell(row[c], width[c]);
        }
        put_text(row[n_cols - 1][0] != '\0' ? row[n_cols - 1] : "-");
        putchar('\n');
    }
    free(width);
}
