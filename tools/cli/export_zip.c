/* The export zip's format, shared by imgarc export (cmd_export.c) and its verifier,
 * which lives here so that it can be fuzzed alone (tests/fuzz/fuzz_export_verify.c):
 * the two hashes of every file, the CSV manifest's lines, and the checks of an export
 * against its manifest. */
#include "tools/cli/export_zip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"

/* ---- hashing ---- */

void hashes_init(struct hashes *h)
{
    crypto_generichash_init(&h->blake, NULL, 0, HASH_BYTES);
    crypto_hash_sha256_init(&h->sha);
    h->size = 0;
}

void hashes_update(struct hashes *h, const void *data, size_t len)
{
    crypto_generichash_update(&h->blake, data, len);
    crypto_hash_sha256_update(&h->sha, data, len);
    h->size += len;
}

void hashes_final(struct hashes *h, char blake_hex[2 * HASH_BYTES + 1],
                         char sha_hex[2 * HASH_BYTES + 1])
{
    uint8_t b[HASH_BYTES], s[HASH_BYTES];
    crypto_generichash_final(&h->blake, b, HASH_BYTES);
    crypto_hash_sha256_final(&h->sha, s);
    hex_encode(b, HASH_BYTES, blake_hex);
    hex_encode(s, HASH_BYTES, sha_hex);
}

/* ---- CSV ---- */

void text_add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->buf = xrealloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

/* One CSV field (RFC 4180: quoted when it holds a comma, quote or line break). */
void csv_field(struct text *t, const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n") != NULL) {
        text_add(t, "\"", 1);
        for (const char *p = s; *p != '\0'; p++) {
            text_add(t, p, 1);
            if (*p == '"') {
                text_add(t, "\"", 1);
            }
        }
        text_add(t, "\"", 1);
    } else {
        text_add(t, s, strlen(s));
    }
    text_add(t, last ? "\r\n" : ",", last ? 2 : 1);
}


/* ---- export-verify ---- */

struct verifier {
    zip_t *zip;
    unsigned problems;
};

static void problem(struct verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct verifier *v, const char *fmt, ...)
{
    va_list ap;
    v->problems++;
    fprintf(stderr, "imgarc: export-verify: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* @s for a message on stderr, unless it holds control characters (a name from a zip
 * that may be anyone's): UTF-8 names are shown as they are. */
static const char *safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return "(a name with control characters)";
        }
    }
    return s;
}

/* Reads entry @name whole (at most @max bytes) into a NUL-terminated buffer. */
static char *read_entry(struct verifier *v, const char *name, size_t max, size_t *len)
{
    zip_stat_t st;
    zip_file_t *zf;
    char *buf;
    zip_int64_t n;
    if (zip_stat(v->zip, name, ZIP_FL_ENC_UTF_8, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
        problem(v, "%s is missing", safe(name));
        return NULL;
    }
    if (st.size > max) {
        problem(v, "%s is %llu bytes, more than %zu", safe(name), (unsigned long long)st.size, max);
        return NULL;
    }
    if ((zf = zip_fopen(v->zip, name, ZIP_FL_ENC_UTF_8)) == NULL) {
        problem(v, "%s cannot be opened: %s", safe(name), zip_strerror(v->zip));
        return NULL;
    }
    buf = xmalloc((size_t)st.size + 1);
    n = zip_fread(zf, buf, st.size);
    zip_fclose(zf);
    if (n < 0 || (zip_uint64_t)n != st.size) {
        problem(v, "%s cannot be read whole", safe(name));
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static json_t *read_json_entry(struct verifier *v, const char *name)
{
    size_t len;
    json_error_t jerr;
    char *text = read_entry(v, name, MANIFEST_MAX, &len);
    json_t *j;
    if (text == NULL) {
        return NULL;
    }
    j = json_loadb(text, len, 0, &jerr);
    free(text);
    if (j == NULL) {
        problem(v, "%s is not JSON: %s (line %d)", safe(name), safe(jerr.text), jerr.line);
    }
    return j;
}

/* Streams entry @path through both hashes and compares them and its size with @f. */
static void verify_file(struct verifier *v, const json_t *f)
{
    const char *raw = jstr(f, "path");
    const char *path = safe(raw); /* for messages */
    char blake[2 * HASH_BYTES + 1], sha[2 * HASH_BYTES + 1];
    char buf[1 << 16];
    struct hashes h;
    zip_file_t *zf = zip_fopen(v->zip, raw, ZIP_FL_ENC_UTF_8);
    zip_int64_t n;
    if (zf == NULL) {
        problem(v, "%s is listed in the manifest but not in the zip", path);
        return;
    }
    hashes_init(&h);
    while ((n = zip_fread(zf, buf, sizeof buf)) > 0) {
        hashes_update(&h, buf, (size_t)n);
    }
    zip_fclose(zf);
    if (n < 0) {
        problem(v, "%s cannot be read (damaged zip)", path);
        return;
    }
    hashes_final(&h, blake, sha);
    if ((long long)h.size != jint(f, "size")) {
        problem(v, "%s has %llu bytes, the manifest says %lld", path,
                (unsigned long long)h.size, jint(f, "size"));
    }
    if (strcmp(blake, jstr(f, "blake2b_256")) != 0) {
        problem(v, "%s: BLAKE2b-256 %s, the manifest says %s", path, blake,
                safe(jstr(f, "blake2b_256")));
    }
    if (strcmp(sha, jstr(f, "sha256")) != 0) {
        problem(v, "%s: SHA-256 %s, the manifest says %s", path, sha, safe(jstr(f, "sha256")));
    }
}

/* manifest.csv must list exactly the files of manifest.json, in the same order. */
static void verify_csv(struct verifier *v, const json_t *manifest)
{
    struct text want = {0};
    const json_t *b, *f;
    size_t i, k, len;
    char *csv = read_entry(v, "manifest.csv", MANIFEST_MAX, &len);
    if (csv == NULL) {
        return;
    }
    text_add(&want, CSV_HEADER, strlen(CSV_HEADER));
    json_array_foreach(json_object_get(manifest, "bills"), i, b)
    {
        json_array_foreach(json_object_get(b, "files"), k, f)
        {
            char size_s[24], pos_s[24];
            snprintf(size_s, sizeof size_s, "%lld", jint(f, "size"));
            snprintf(pos_s, sizeof pos_s, "%lld", jint(f, "position"));
            csv_field(&want, jstr(b, "image_no"), false);
            csv_field(&want, pos_s, false);
            csv_field(&want, jstr(f, "file_id"), false);
            csv_field(&want, jstr(f, "name"), false);
            csv_field(&want, jstr(f, "category"), false);
            csv_field(&want, size_s, false);
            csv_field(&want, jstr(f, "blake2b_256"), false);
            csv_field(&want, jstr(f, "sha256"), false);
            csv_field(&want, jstr(f, "path"), true);
        }
    }
    if (len != want.len || memcmp(csv, want.buf, len) != 0) {
        problem(v, "manifest.csv does not list the files of manifest.json");
    }
    free(want.buf);
    free(csv);
}

/* Every entry of the zip is one the manifest names. */
static void verify_no_strays(struct verifier *v, const json_t *manifest)
{
    zip_int64_t n = zip_get_num_entries(v->zip, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(v->zip, (zip_uint64_t)i, ZIP_FL_ENC_GUESS);
        const json_t *b, *f;
        size_t k, j;
        bool known = name != NULL && (strcmp(name, "manifest.json") == 0 ||
                                      strcmp(name, "manifest.csv") == 0);
        json_array_foreach(json_object_get(manifest, "bills"), k, b)
        {
            if (known) {
                break;
            }
            known = strcmp(name, jstr(b, "bill")) == 0 || strcmp(name, jstr(b, "log")) == 0;
            json_array_foreach(json_object_get(b, "files"), j, f)
            {
                known = known || strcmp(name, jstr(f, "path")) == 0;
            }
        }
        if (!known) {
            problem(v, "%s is in the zip but not in the manifest", name != NULL ? safe(name) : "?");
        }
    }
}

/* The checks of one export. */
int export_zip_verify(const char *path, struct export_totals *t, unsigned *problems)
{
    struct verifier v = {0};
    json_t *manifest = NULL;
    const json_t *b, *f;
    size_t i, k;
    int zerr = 0;
    memset(t, 0, sizeof *t);
    *problems = 0;
    if ((v.zip = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr)) == NULL) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        fprintf(stderr, "imgarc: export-verify: cannot open %s as a zip: %s\n", path,
                zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return CLI_ELOCAL;
    }
    manifest = read_json_entry(&v, "manifest.json");
    if (manifest != NULL && (!json_is_object(manifest) ||
                             strcmp(jstr(manifest, "format"), EXPORT_FORMAT) != 0)) {
        problem(&v, "manifest.json is not of format " EXPORT_FORMAT);
        json_decref(manifest);
        manifest = NULL;
    }
    if (manifest != NULL) {
        json_array_foreach(json_object_get(manifest, "bills"), i, b)
        {
            json_t *bill = read_json_entry(&v, jstr(b, "bill"));
            json_t *log = read_json_entry(&v, jstr(b, "log"));
            if (bill != NULL && strcmp(jstr(bill, "image_no"), jstr(b, "image_no")) != 0) {
                problem(&v, "%s is the bill %s, not %s", safe(jstr(b, "bill")),
                        safe(jstr(bill, "image_no")), safe(jstr(b, "image_no")));
            }
            if (bill != NULL && json_array_size(json_object_get(bill, "files")) !=
                                    json_array_size(json_object_get(b, "files"))) {
                problem(&v, "%s lists %zu files, the manifest %zu", safe(jstr(b, "bill")),
                        json_array_size(json_object_get(bill, "files")),
                        json_array_size(json_object_get(b, "files")));
            }
            if (log != NULL && (long long)json_array_size(json_object_get(log, "entries")) !=
                                   jint(b, "log_entries")) {
                problem(&v, "%s has %zu entries, the manifest says %lld", safe(jstr(b, "log")),
                        json_array_size(json_object_get(log, "entries")),
                        jint(b, "log_entries"));
            }
            json_decref(bill);
            json_decref(log);
            json_array_foreach(json_object_get(b, "files"), k, f)
            {
                verify_file(&v, f);
                t->files++;
                t->bytes += (uint64_t)jint(f, "size");
            }
            t->bills++;
        }
        if ((long long)t->files != jint(manifest, "files_total") ||
            (long long)t->bytes != jint(manifest, "bytes_total") ||
            (long long)t->bills != jint(manifest, "bills_total")) {
            problem(&v, "manifest.json's totals do not add up");
        }
        verify_csv(&v, manifest);
        verify_no_strays(&v, manifest);
    }
    json_decref(manifest);
    zip_discard(v.zip);
    *problems = v.problems;
    return 0;
}
