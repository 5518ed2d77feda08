/* Accept-Encoding and If-None-Match (see http_accept.h). */
#include "net/http_accept.h"

#include <string.h>
#include <strings.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* [s, e) without surrounding whitespace. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && is_ows(**s)) {
        (*s)++;
    }
    while (*e > *s && is_ows((*e)[-1])) {
        (*e)--;
    }
}

static bool token_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

/* A qvalue ("0" ["." 0-3 DIGIT] / "1" ["." 0-3 "0"]) in thousandths; -1 when broken. */
static int qvalue(const char *s, const char *e)
{
    int q, scale = 100;
    if (s == e || (*s != '0' && *s != '1')) {
        return -1;
    }
    q = (*s - '0') * 1000;
    s++;
    if (s == e) {
        return q;
    }
    if (*s != '.' || e - s > 4) {
        return -1;
    }
    for (s++; s < e; s++, scale /= 10) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        q += (*s - '0') * scale;
    }
    return q <= 1000 ? q : -1;
}

/* The weight of the element [s, e) ("coding *( OWS ; OWS param )") into *@name_end and
 * the return: 1000 without a q parameter, -1 when a q parameter is broken. */
static int element_weight(const char *s, const char *e, const char **name_end)
{
    const char *semi = memchr(s, ';', (size_t)(e - s));
    const char *ne = semi != NULL ? semi : e;
    int q = 1000;
    trim(&s, &ne);
    *name_end = ne;
    while (semi != NULL) {
        const char *ps = semi + 1;
        const char *pe, *eq;
        semi = memchr(ps, ';', (size_t)(e - ps));
        pe = semi != NULL ? semi : e;
        trim(&ps, &pe);
        eq = memchr(ps, '=', (size_t)(pe - ps));
        if (eq != NULL) {
            const char *ns = ps, *nend = eq, *vs = eq + 1, *vend = pe;
            trim(&ns, &nend);
            trim(&vs, &vend);
            if (token_is(ns, nend, "q")) {
                q = qvalue(vs, vend);
                if (q < 0) {
                    return -1;
                }
            }
        }
    }
    return q;
}

bool http_accepts_gzip(const char *value)
{
    int gzip = -1, star = -1;
    const char *s = value;
    if (value == NULL) {
        return false;
    }
    while (*s != '\0') {
        const char *e = s + strcspn(s, ",");
        const char *name = s, *name_end;
        int q = element_weight(s, e, &name_end);
        while (name < name_end && is_ows(*name)) {
            name++;
        }
        if (q >= 0) {
            if (token_is(name, name_end, "gzip") || token_is(name, name_end, "x-gzip")) {
                gzip = gzip < 0 || q < gzip ? q : gzip; /* listed twice: the stricter */
            } else if (token_is(name, name_end, "*")) {
                star = star < 0 || q < star ? q : star;
            }
        }
        s = *e == ',' ? e + 1 : e;
    }
    return gzip >= 0 ? gzip > 0 : star > 0;
}

bool http_etag_listed(const char *value, const char *etag)
{
    const char *s = value;
    size_t n = etag != NULL ? strlen(etag) : 0;
    const char *tag = etag;
    if (value == NULL || etag == NULL) {
        return false;
    }
    if (n >= 2 && strncmp(tag, "W/", 2) == 0) {
        tag += 2;
        n -= 2;
    }
    while (*s != '\0') {
        const char *e = s + strcspn(s, ",");
        const char *es = s, *ee = e;
        trim(&es, &ee);
        if (ee - es == 1 && *es == '*') {
            return true;
        }
        if (ee - es >= 2 && strncmp(es, "W/", 2) == 0) {
            es += 2;
        }
        if ((size_t)(ee - es) == n && n > 0 && memcmp(es, tag, n) == 0) {
            return true;
        }
        s = *e == ',' ? e + 1 : e;
    }
    return false;
}
