/* Fuzz target: the request headers that choose a representation (net/http_accept.c):
 * Accept-Encoding and If-None-Match, as the console's answers read them
 * (api/console.c).
 *
 * The input is split at its first NUL: the header value, then an entity tag (without
 * a NUL, the second part is the console's shape of tag). Checked: an Accept-Encoding
 * that accepts gzip names gzip or "*"; appending another coding (", br") changes
 * nothing; one that lists "gzip;q=0" first refuses. If-None-Match lists the tag only
 * when the value holds "*" or the tag's opaque text, always when the value is the tag
 * itself, and the tag appended after a comma is always listed. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "net/http_accept.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static bool contains_ci(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (; *s != '\0'; s++) {
        if (strncasecmp(s, word, n) == 0) {
            return true;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t vlen = nul != NULL ? (size_t)(nul - data) : size;
    char *value = xmalloc(vlen + 1);
    char *etag, *more, *refused;
    const char *opaque;
    bool gz;
    memcpy(value, data, vlen);
    value[vlen] = '\0';
    if (nul != NULL) {
        size_t tlen = strnlen((const char *)nul + 1, size - vlen - 1);
        etag = xmalloc(tlen + 1);
        memcpy(etag, nul + 1, tlen);
        etag[tlen] = '\0';
    } else {
        etag = xstrdup("\"0123456789abcdef0123456789abcdef\"");
    }

    gz = http_accepts_gzip(value);
    if (gz && !contains_ci(value, "gzip") && strchr(value, '*') == NULL) {
        abort(); /* accepted without naming gzip or "*" */
    }
    more = xasprintf("%s, br", value);
    if (http_accepts_gzip(more) != gz) {
        abort(); /* another coding changed the answer */
    }
    refused = xasprintf("gzip;q=0, %s", value);
    if (http_accepts_gzip(refused)) {
        abort(); /* gzip refused, yet accepted */
    }
    free(more);
    free(refused);

    opaque = strncmp(etag, "W/", 2) == 0 ? etag + 2 : etag;
    if (http_etag_listed(value, etag) && strchr(value, '*') == NULL &&
        (opaque[0] == '\0' || strstr(value, opaque) == NULL)) {
        abort(); /* listed without "*" or the tag */
    }
    if (strchr(etag, ',') == NULL && opaque[0] != '\0' &&
        opaque[strspn(opaque, " \t")] != '\0' && opaque[0] != ' ' && opaque[0] != '\t' &&
        opaque[strlen(opaque) - 1] != ' ' && opaque[strlen(opaque) - 1] != '\t') {
        char *with = xasprintf("%s,%s", value, etag);
        if (!http_etag_listed(etag, etag) || !http_etag_listed(with, etag)) {
            abort(); /* the tag itself is not listed */
        }
        free(with);
    }
    free(value);
    free(etag);
    return 0;
}
