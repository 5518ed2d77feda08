/* File content: upload (each file streamed from disk, one request per file, in order;
 * idempotency keys K.1, K.2... so that a rerun replays what was uploaded) and download
 * (streamed to a file renamed once complete, or to stdout). */
#include "tools/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- upload ---- */

struct upload_opts {
    const char *category;
    const char *after;
    const char *replace;
    const char *idem;
    bool resumable;
    const char *upload_id;
    const char *piece_size;
    const char *retries;
    uint64_t piece;
    uint64_t retries_n;
};

#define PIECE_DEFAULT (8u << 20)
#define RETRIES_DEFAULT 8

static size_t decimal_digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* --resumable and its flags. */
static int check_resumable_opts(struct upload_opts *o, size_t n_files)
{
    o->piece = PIECE_DEFAULT;
    o->retries_n = RETRIES_DEFAULT;
    if (!o->resumable) {
        if (o->upload_id != NULL || o->piece_size != NULL || o->retries != NULL) {
            return usage_error("upload", "--upload-id, --piece-size and --retries go with "
                                         "--resumable");
        }
        return 0;
    }
    if (o->idem != NULL) {
        return usage_error("upload", "--idempotency-key does not go with --resumable: a "
                                     "resumable upload's capture has its own key");
    }
    if (o->upload_id != NULL && (n_files != 1 || o->upload_id[0] == '\0' ||
                                 strlen(o->upload_id) > 32 ||
                                 strspn(o->upload_id, "0123456789abcdef") !=
                                     strlen(o->upload_id))) {
        return usage_error("upload", "--upload-id takes the id of an upload (32 hex digits, "
                                     "as the failed run printed it) and one FILE");
    }
    if (o->piece_size != NULL &&
        (!parse_count(o->piece_size, true, &o->piece) || o->piece < 64 * 1024 ||
         o->piece > (1ull << 30))) {
        return usage_error("upload", "--piece-size is 64K to 1G (a count of bytes, with K, M "
                                     "or G)");
    }
    if (o->retries != NULL && (!parse_count(o->retries, false, &o->retries_n) ||
                               o->retries_n > 1000)) {
        return usage_error("upload", "--retries is 0 to 1000");
    }
    return 0;
}

/* With several files each upload gets its own key, KEY.1, KEY.2...: one key for
 * different requests would be refused as a conflict, and a rerun after a failure then
 * replays the files already uploaded instead of adding them twice. */
static int check_upload_opts(struct upload_opts *o, size_t n_files)
{
    if (o->category != NULL && check_category("upload", "--category", o->category) != 0) {
        return CLI_EUSAGE;
    }
    if (check_key("upload", o->idem,
                  KEY_CHARS_MAX - (n_files > 1 ? 1 + decimal_digits(n_files) : 0)) != 0) {
        return CLI_EUSAGE;
    }
    if (o->after != NULL && o->after[0] == '\0') {
        return usage_error("upload", "--after needs a file id");
    }
    if (o->replace != NULL && o->replace[0] == '\0') {
        return usage_error("upload", "--replace needs a file id");
    }
    /* The replacement takes the replaced file's place: one file, nowhere else. */
    if (o->replace != NULL && o->after != NULL) {
        return usage_error("upload", "--replace and --after do not go together: the new file "
                                     "takes the replaced one's place");
    }
    if (o->replace != NULL && n_files > 1) {
        return usage_error("upload", "--replace takes one FILE, not %zu", n_files);
    }
    return check_resumable_opts(o, n_files);
}

/* Every file must be readable before the first is sent, so that a typo in the last
 * name does not leave a bill half uploaded. */
static int check_files(const char *const *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        const char *why = NULL;
        if (stat(files[i], &st) != 0 || access(files[i], R_OK) != 0) {
            why = strerror(errno);
        } else if (!S_ISREG(st.st_mode)) {
            why = S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
        }
        if (why != NULL) {
            fprintf(stderr, "imgarc: %s: %s; nothing was uploaded\n", files[i], why);
            return CLI_ELOCAL;
        }
    }
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static int upload_one(struct cli *cli, const struct upload_opts *o, const char *image_no,
                      const char *path, const char *file, const char *after, const char *key,
                      json_t **ans)
{
    const char *name = base_name(file);
    if (o->resumable) {
        char *uploads = xasprintf("%.*s/uploads", (int)(strlen(path) - strlen("/files")), path);
        const struct resumable r = {.path = uploads,
                                    .image_no = image_no,
                                    .category = o->category,
                                    .after = after,
                                    .replace = o->replace,
                                    .upload_id = o->upload_id,
                                    .label = name,
                                    .piece = o->piece,
                                    .retries = (unsigned)o->retries_n};
        int rv = upload_resumable(cli, &r, file, name, ans);
        free(uploads);
        return rv;
    }
    const struct cli_param params[] = {
        {"name", name}, {"category", o->category}, {"after", after}, {"replace", o->replace}};
    const struct cli_request req = {.method = "POST",
                                    .path = path,
                                    .params = params,
                                    .n_params = ARRAY_SIZE(params),
                                    .idempotency_key = key,
                                    .progress_label = name};
    return cli_http_upload(cli->http, &req, file, ans);
}

static void print_uploaded(const struct cli *cli, const json_t *ans, const char *file)
{
    if (jbool(ans, "replayed")) {
        fprintf(stderr, "imgarc: %s: replayed: this idempotency key was used before, nothing "
                        "changed\n",
                file);
    }
    if (cli->json) {
        print_json(ans, true);
    } else {
        put_cell(jstr(ans, "file_id"), 32);
        put_cell(jstr(ans, "category"), 10);
        printf("%4lld  %12lld  ", jint(ans, "position"), jint(ans, "size"));
        put_text(base_name(file));
        putchar('\n');
    }
    /* Each line appears as its file is done: a long run shows where it is. */
    fflush(stdout);
}

static void report_stopped(const char *const *files, size_t done, size_t n)
{
    if (n < 2) {
        return;
    }
    fprintf(stderr, "imgarc: upload stopped at %s; ", files[done]);
    if (done == 0) {
        fprintf(stderr, "no file was uploaded\n");
        return;
    }
    fprintf(stderr, "uploaded before it (%zu of %zu):", done, n);
    for (size_t i = 0; i < done; i++) {
        fprintf(stderr, " %s", files[i]);
    }
    fputc('\n', stderr);
}

/* Uploads the files in order; with --after each one goes right after the previous,
 * so the run keeps its order wherever it is inserted. */
static int upload_all(struct cli *cli, const struct upload_opts *o, const char *image_no,
                      const char *const *files, size_t n)
{
    char *path = cli_http_path("/api/v1/bills/", image_no, "/files");
    char *after = o->after != NULL ? xstrdup(o->after) : NULL;
    size_t i;
    int rv = 0;
    for (i = 0; i < n; i++) {
        char *key = o->idem != NULL && n > 1 ? xasprintf("%s.%zu", o->idem, i + 1) : NULL;
        json_t *ans = NULL;
        rv = upload_one(cli, o, image_no, path, files[i], after, key != NULL ? key : o->idem,
                        &ans);
        free(key);
        if (rv != 0) {
            break;
        }
        print_uploaded(cli, ans, files[i]);
        if (after != NULL) {
            free(after);
            after = xstrdup(jstr(ans, "file_id"));
        }
        json_decref(ans);
    }
    if (rv != 0) {
        report_stopped(files, i, n);
    }
    free(after);
    free(path);
    return rv;
}

int cmd_upload(struct cli *cli, int argc, char **argv)
{
    struct upload_opts o = {0};
    const struct flag flags[] = {
        {"--category", NULL, FLAG_VALUE, &o.category},
        {"--after", NULL, FLAG_VALUE, &o.after},
        {"--replace", NULL, FLAG_VALUE, &o.replace},
        {"--idempotency-key", NULL, FLAG_VALUE, &o.idem},
        {"--resumable", NULL, FLAG_BOOL, &o.resumable},
        {"--upload-id", NULL, FLAG_VALUE, &o.upload_id},
        {"--piece-size", NULL, FLAG_VALUE, &o.piece_size},
        {"--retries", NULL, FLAG_VALUE, &o.retries},
        {"--json", NULL, FLAG_BOOL, &cli->json},
    };
    struct args a;
    int rv = parse_command(cli, "upload", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("upload", &a, a.n == 0 ? 1 : 2, SIZE_MAX, a.n == 0 ? "IMAGE_NO" : "FILE");
    }
    if (rv == 0) {
        rv = check_upload_opts(&o, a.n - 1);
    }
    if (rv == 0) {
        rv = check_files(a.pos + 1, a.n - 1);
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        rv = upload_all(cli, &o, a.pos[0], a.pos + 1, a.n - 1);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- download ---- */

/* "a-b", "a-" or "-n", as the Range header takes them. */
static bool valid_range(const char *s)
{
    size_t a = strspn(s, "0123456789");
    size_t b;
    if (s[a] != '-') {
        return false;
    }
    b = strspn(s + a + 1, "0123456789");
    if (s[a + 1 + b] != '\0' || (a == 0 && b == 0)) {
        return false;
    }
    return a == 0 || b == 0 || strtoull(s, NULL, 10) <= strtoull(s + a + 1, NULL, 10);
}

static int check_download(const char *out, const char *range)
{
    struct stat st;
    bool to_stdout = out == NULL || strcmp(out, "-") == 0;
    if (range != NULL && !valid_range(range)) {
        return usage_error("download", "--range '%s' is not FIRST-LAST, FIRST- or -SUFFIX "
                                       "(byte offsets, LAST included)",
                           range);
    }
    if (to_stdout && isatty(STDOUT_FILENO)) {
        return usage_error("download", "not writing file content to a terminal; use -o PATH "
                                       "or redirect stdout");
    }
    if (!to_stdout && stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "imgarc: %s: is a directory; -o takes the path of the file\n", out);
        return CLI_ELOCAL;
    }
    return 0;
}

int cmd_download(struct cli *cli, int argc, char **argv)
{
    const char *out = NULL;
    const char *range = NULL;
    const struct flag flags[] = {
        {"--output", "-o", FLAG_VALUE, &out},
        {"--range", NULL, FLAG_VALUE, &range},
    };
    struct args a;
    int rv = parse_command(cli, "download", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("download", &a, 1, 1, "FILE_ID");
    }
    if (rv == 0) {
        rv = check_download(out, range);
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        char *path = cli_http_path("/api/v1/files/", a.pos[0], "/content");
        const struct cli_request req = {
            .method = "GET", .path = path, .progress_label = out != NULL ? out : a.pos[0]};
        rv = cli_http_download(cli->http, &req, range, out);
        free(path);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}
