/* export: bills with their files, their audit logs and a manifest (JSON and CSV, with
 * the BLAKE2b-256 and the SHA-256 of every file) as one zip an auditor can take away;
 * export-verify checks such a zip against its manifest.
 *
 * The zip (format "imgarc-export/1", docs/cli.md):
 *   manifest.json              what is in it, every file with its size and hashes
 *   manifest.csv               the same files, one line each
 *   IMAGE_NO/bill.json         the bill as GET /api/v1/bills/IMAGE_NO answered
 *   IMAGE_NO/log.json          its audit log (GET .../log)
 *   IMAGE_NO/files/NNN-FILE_ID-NAME   each file's content, in bill order
 * Files are downloaded one at a time into a temp dir beside the output, hashed there
 * and stored uncompressed (scans are compressed already); the zip is written as
 * OUT.part and renamed once complete. Memory does not grow with the files' sizes. */
#include "tools/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zip.h>

#include "tools/cli/export_zip.h"

#define NAME_MAX_BYTES 120 /* of a file's name inside the zip */

/* ---- export ---- */

struct exporter {
    struct cli *cli;
    zip_t *zip;
    char tmpdir[PATH_MAX];
    unsigned seq;    /* temp files made */
    json_t *bills;   /* the manifest's bills */
    struct text csv;
    uint64_t files, bytes;
};

/* A file's name as it may appear inside the zip: no path separators, no control
 * characters, no leading dot, at most NAME_MAX_BYTES bytes (cut on a UTF-8 boundary). */
static void safe_name(const char *name, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = name; *p != '\0' && n + 1 < size && n < NAME_MAX_BYTES; p++) {
        unsigned char c = (unsigned char)*p;
        out[n++] = c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ':' ? '_' : (char)c;
    }
    while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80) {
        n--; /* a cut continuation byte */
    }
    if (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0) {
        n--; /* a lead byte without its continuation */
    }
    out[n] = '\0';
    if (out[0] == '.' || out[0] == '\0') {
        memmove(out + 1, out, n + 1 < size ? n + 1 : size - 1);
        out[0] = '_';
        out[size - 1] = '\0';
    }
}

/* Adds @text (copied) as @path. */
static int add_text(struct exporter *e, const char *path, const char *text)
{
    size_t len = strlen(text);
    char *copy = xmalloc(len + 1);
    zip_source_t *src;
    memcpy(copy, text, len + 1);
    src = zip_source_buffer(e->zip, copy, len, 1);
    if (src == NULL) {
        free(copy);
    }
    if (src == NULL || zip_file_add(e->zip, path, src, ZIP_FL_ENC_UTF_8) < 0) {
        fprintf(stderr, "imgarc: export: cannot add %s: %s\n", path, zip_strerror(e->zip));
        if (src != NULL) {
            zip_source_free(src);
        }
        return CLI_ELOCAL;
    }
    return 0;
}

static int add_json(struct exporter *e, const char *path, const json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int rv = add_text(e, path, text);
    free(text);
    return rv;
}

/* Hashes the downloaded file @tmp. */
static int hash_file(const char *tmp, struct hashes *h)
{
    char buf[1 << 16];
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    if (fd < 0) {
        fprintf(stderr, "imgarc: export: cannot read %s: %s\n", tmp, strerror(errno));
        return CLI_ELOCAL;
    }
    hashes_init(h);
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        hashes_update(h, buf, (size_t)n);
    }
    close(fd);
    if (n < 0) {
        fprintf(stderr, "imgarc: export: cannot read %s: %s\n", tmp, strerror(errno));
        return CLI_ELOCAL;
    }
    return 0;
}

/* Downloads file @f of bill @image_no, checks it against its blob hash and adds it. */
static int export_file(struct exporter *e, const char *image_no, const char *dir,
                       const json_t *f, json_t *entries)
{
    const char *file_id = jstr(f, "file_id");
    char name[NAME_MAX_BYTES * 2], path[PATH_MAX], tmp[PATH_MAX + 16];
    char blake[2 * HASH_BYTES + 1], sha[2 * HASH_BYTES + 1], size_s[24], pos_s[24];
    struct hashes h;
    zip_source_t *src;
    zip_int64_t idx;
    char *url;
    int rv;
    safe_name(jstr(f, "name"), name, sizeof name);
    snprintf(path, sizeof path, "%s/files/%03lld-%s-%s", dir, jint(f, "position"), file_id,
             name);
    snprintf(tmp, sizeof tmp, "%s/f%u", e->tmpdir, e->seq++);
    url = cli_http_path("/api/v1/files/", file_id, "/content");
    {
        const struct cli_request req = {.method = "GET", .path = url, .progress_label = path};
        rv = cli_http_download(e->cli->http, &req, NULL, tmp);
    }
    free(url);
    if (rv != 0 || (rv = hash_file(tmp, &h)) != 0) {
        return rv;
    }
    hashes_final(&h, blake, sha);
    if (strcmp(blake, jstr(f, "blob")) != 0 || (long long)h.size != jint(f, "size")) {
        fprintf(stderr, "imgarc: export: file %s of %s arrived with %llu bytes and BLAKE2b "
                "%s, its record says %lld bytes and %s; nothing was written\n", file_id,
                image_no, (unsigned long long)h.size, blake, jint(f, "size"), jstr(f, "blob"));
        return CLI_ETRANSPORT;
    }
    src = zip_source_file(e->zip, tmp, 0, -1);
    if (src == NULL || (idx = zip_file_add(e->zip, path, src, ZIP_FL_ENC_UTF_8)) < 0 ||
        zip_set_file_compression(e->zip, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0) {
        fprintf(stderr, "imgarc: export: cannot add %s: %s\n", path, zip_strerror(e->zip));
        if (src != NULL) {
            zip_source_free(src);
        }
        return CLI_ELOCAL;
    }
    json_array_append_new(entries,
                          json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:s, s:s}", "file_id",
                                    file_id, "position", (json_int_t)jint(f, "position"),
                                    "name", jstr(f, "name"), "category", jstr(f, "category"),
                                    "size", (json_int_t)h.size, "blake2b_256", blake, "sha256",
                                    sha, "path", path));
    snprintf(size_s, sizeof size_s, "%llu", (unsigned long long)h.size);
    snprintf(pos_s, sizeof pos_s, "%lld", jint(f, "position"));
    csv_field(&e->csv, image_no, false);
    csv_field(&e->csv, pos_s, false);
    csv_field(&e->csv, file_id, false);
    csv_field(&e->csv, jstr(f, "name"), false);
    csv_field(&e->csv, jstr(f, "category"), false);
    csv_field(&e->csv, size_s, false);
    csv_field(&e->csv, blake, false);
    csv_field(&e->csv, sha, false);
    csv_field(&e->csv, path, true);
    e->files++;
    e->bytes += h.size;
    return 0;
}

/* One bill: its record, its audit log and every file, under a folder named after its
 * image number (made safe for a path). */
static int export_bill(struct exporter *e, const char *image_no)
{
    json_t *bill = NULL, *log = NULL, *entries;
    char dir[NAME_MAX_BYTES * 2], bill_path[PATH_MAX], log_path[PATH_MAX];
    char *url = cli_http_path("/api/v1/bills/", image_no, "");
    const json_t *f;
    size_t i;
    int rv;
    {
        const struct cli_request req = {.method = "GET", .path = url};
        rv = cli_http_json(e->cli->http, &req, NULL, &bill);
    }
    free(url);
    if (rv == 0) {
        url = cli_http_path("/api/v1/bills/", image_no, "/log");
        const struct cli_request req = {.method = "GET", .path = url};
        rv = cli_http_json(e->cli->http, &req, NULL, &log);
        free(url);
    }
    if (rv != 0) {
        json_decref(bill);
        return rv;
    }
    safe_name(image_no, dir, sizeof dir);
    snprintf(bill_path, sizeof bill_path, "%s/bill.json", dir);
    snprintf(log_path, sizeof log_path, "%s/log.json", dir);
    entries = json_array();
    json_array_foreach(json_object_get(bill, "files"), i, f)
    {
        if ((rv = export_file(e, image_no, dir, f, entries)) != 0) {
            break;
        }
    }
    if (rv == 0) {
        rv = add_json(e, bill_path, bill);
    }
    if (rv == 0) {
        rv = add_json(e, log_path, log);
    }
    if (rv == 0) {
        json_array_append_new(
            e->bills,
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:O}", "image_no", image_no, "state",
                      jstr(bill, "state"), "bill", bill_path, "log", log_path, "log_entries",
                      (json_int_t)json_array_size(json_object_get(log, "entries")), "files",
                      entries));
    }
    json_decref(entries);
    json_decref(bill);
    json_decref(log);
    return rv;
}

/* The image numbers of every bill the filters match, all pages. */
static int list_matching(struct cli *cli, const struct bills_opts *o, json_t *out)
{
    char *cursor = NULL;
    int rv;
    for (;;) {
        json_t *page = NULL;
        const json_t *b;
        const char *next;
        size_t i;
        if ((rv = bills_page(cli, o, cursor, &page)) != 0) {
            break;
        }
        json_array_foreach(json_object_get(page, "bills"), i, b)
        {
            json_array_append_new(out, json_string(jstr(b, "image_no")));
        }
        next = json_string_value(json_object_get(page, "next_cursor"));
        if (next != NULL && cursor != NULL && strcmp(next, cursor) == 0) {
            fprintf(stderr, "imgarc: the server returned the same cursor %s twice\n",
                    plain(next));
            rv = CLI_ETRANSPORT;
        }
        free(cursor);
        cursor = next != NULL && rv == 0 ? xstrdup(next) : NULL;
        json_decref(page);
        if (cursor == NULL) {
            break;
        }
    }
    free(cursor);
    return rv;
}

static void remove_tmpdir(const char *dir, unsigned n)
{
    char p[PATH_MAX + 16];
    for (unsigned i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/f%u", dir, i);
        unlink(p);
    }
    rmdir(dir);
}

/* Writes the zip of the bills in @image_nos to @out. */
static int write_export(struct cli *cli, const json_t *image_nos, const char *out)
{
    struct exporter e = {.cli = cli};
    char part[PATH_MAX], dir_template[PATH_MAX], when[32];
    const char *slash = strrchr(out, '/');
    const json_t *no;
    json_t *manifest;
    time_t now = time(NULL);
    struct tm tm;
    int zerr = 0, rv = 0;
    size_t i;
    snprintf(part, sizeof part, "%s.part", out);
    snprintf(dir_template, sizeof dir_template, "%.*s.imgarc-export-XXXXXX",
             slash != NULL ? (int)(slash - out + 1) : 0, out);
    if (mkdtemp(dir_template) == NULL) {
        fprintf(stderr, "imgarc: export: cannot make a temp dir beside %s: %s\n", out,
                strerror(errno));
        return CLI_ELOCAL;
    }
    snprintf(e.tmpdir, sizeof e.tmpdir, "%s", dir_template);
    unlink(part);
    e.zip = zip_open(part, ZIP_CREATE | ZIP_EXCL, &zerr);
    if (e.zip == NULL) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        fprintf(stderr, "imgarc: export: cannot create %s: %s\n", part, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        remove_tmpdir(e.tmpdir, 0);
        return CLI_ELOCAL;
    }
    e.bills = json_array();
    text_add(&e.csv, CSV_HEADER, strlen(CSV_HEADER));
    json_array_foreach(image_nos, i, no)
    {
        if ((rv = export_bill(&e, json_string_value(no))) != 0) {
            break;
        }
    }
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    manifest = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:O}", "format", EXPORT_FORMAT,
                         "exported_at", when, "server", cli_http_server(cli->http), "tenant",
                         tenant_or_default(cli), "bills_total",
                         (json_int_t)json_array_size(e.bills), "files_total",
                         (json_int_t)e.files, "bytes_total", (json_int_t)e.bytes, "bills",
                         e.bills);
    if (rv == 0) {
        rv = add_json(&e, "manifest.json", manifest);
    }
    if (rv == 0) {
        rv = add_text(&e, "manifest.csv", e.csv.buf);
    }
    json_decref(manifest);
    json_decref(e.bills);
    free(e.csv.buf);
    if (rv == 0 && zip_close(e.zip) != 0) {
        fprintf(stderr, "imgarc: export: cannot write %s: %s\n", part, zip_strerror(e.zip));
        rv = CLI_ELOCAL;
    }
    if (rv != 0) {
        zip_discard(e.zip);
        unlink(part);
    } else if (rename(part, out) != 0) {
        fprintf(stderr, "imgarc: export: cannot rename %s to %s: %s\n", part, out,
                strerror(errno));
        unlink(part);
        rv = CLI_ELOCAL;
    }
    remove_tmpdir(e.tmpdir, e.seq);
    if (rv == 0) {
        printf("exported %zu bill%s, %llu file%s, %llu bytes to %s\n", i, i == 1 ? "" : "s",
               (unsigned long long)e.files, e.files == 1 ? "" : "s",
               (unsigned long long)e.bytes, out);
    }
    return rv;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
    struct bills_opts o = {0};
    const char *out = NULL;
    bool every = false;
    const struct flag flags[] = {
        {"--output", "-o", FLAG_VALUE, &out},
        {"--all", NULL, FLAG_BOOL, &every},
        {"--state", NULL, FLAG_VALUE, &o.state},
        {"--bill-type", NULL, FLAG_VALUE, &o.bill_type},
        {"--org", NULL, FLAG_VALUE, &o.org},
        {"--bill-no", NULL, FLAG_VALUE, &o.bill_no},
        {"--fbill-id", NULL, FLAG_VALUE, &o.fbill_id},
        {"--created-from", NULL, FLAG_VALUE, &o.created_from},
        {"--created-to", NULL, FLAG_VALUE, &o.created_to},
        {"--mode", NULL, FLAG_VALUE, &o.mode},
    };
    bool filtered;
    json_t *image_nos = json_array();
    struct stat st;
    struct args a;
    int rv = parse_command(cli, "export", argc, argv, flags, ARRAY_SIZE(flags), &a);
    filtered = o.state != NULL || o.bill_type != NULL || o.org != NULL || o.bill_no != NULL ||
               o.fbill_id != NULL || o.created_from != NULL || o.created_to != NULL ||
               o.mode != NULL;
    if (rv == 0 && out == NULL) {
        rv = usage_error("export", "-o FILE.zip is required");
    }
    if (rv == 0 && a.n > 0 && (filtered || every)) {
        rv = usage_error("export", "give IMAGE_NOs or filters (or --all), not both");
    }
    if (rv == 0 && a.n == 0 && !filtered && !every) {
        rv = usage_error("export", "name the bills: IMAGE_NO..., filters such as --state or "
                         "--created-from, or --all for every bill of the tenant");
    }
    /* OUT.part and the temp dir's name beside it must fit a path, whole. */
    if (rv == 0 && strlen(out) + sizeof ".imgarc-export-XXXXXX" > PATH_MAX) {
        rv = usage_error("export", "-o: the path is too long (at most %zu bytes)",
                         (size_t)PATH_MAX - sizeof ".imgarc-export-XXXXXX");
    }
    if (rv == 0 && (strcmp(out, "-") == 0 || (stat(out, &st) == 0 && S_ISDIR(st.st_mode)))) {
        rv = usage_error("export", "-o must name a file to write, not '%s'", out);
    }
    for (size_t i = 0; rv == 0 && i < a.n; i++) {
        json_array_append_new(image_nos, json_string(a.pos[i]));
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0 && a.n == 0) {
        rv = list_matching(cli, &o, image_nos);
    }
    if (rv == 0 && json_array_size(image_nos) == 0) {
        fprintf(stderr, "imgarc: export: no bills match; nothing written\n");
        rv = CLI_ESERVER;
    }
    if (rv == 0) {
        rv = write_export(cli, image_nos, out);
    }
    json_decref(image_nos);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_export_verify(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    struct export_totals t;
    unsigned problems = 0;
    struct args a;
    int rv = parse_command(cli, "export-verify", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("export-verify", &a, 1, 1, "FILE.zip");
    }
    if (rv == 0) {
        rv = export_zip_verify(a.pos[0], &t, &problems);
    }
    if (rv == 0 && cli->json) {
        json_t *ans = json_pack("{s:b, s:I, s:I, s:I, s:I}", "valid", problems == 0,
                                "problems", (json_int_t)problems, "bills", (json_int_t)t.bills,
                                "files", (json_int_t)t.files, "bytes", (json_int_t)t.bytes);
        print_json(ans, false);
        json_decref(ans);
    } else if (rv == 0 && problems == 0) {
        printf("valid: %llu bill%s, %llu file%s, %llu bytes, every hash as the manifest "
               "says\n", (unsigned long long)t.bills, t.bills == 1 ? "" : "s",
               (unsigned long long)t.files, t.files == 1 ? "" : "s",
               (unsigned long long)t.bytes);
    } else if (rv == 0) {
        printf("not valid: %u problem%s (listed above)\n", problems, problems == 1 ? "" : "s");
    }
    if (rv == 0 && problems > 0) {
        rv = CLI_ESERVER; /* exit 1, as license verify does for a document not valid */
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}
