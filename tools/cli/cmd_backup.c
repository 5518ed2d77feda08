/* imgarc backup, backup-verify and restore (docs/backup.md).
 *
 * A backup directory holds any number of backups of one cluster, sharing their content:
 *
 *   DIR/IMGARC-BACKUP          "imgarc-backup 1": what the directory is, and its format
 *   DIR/blobs/XX/HASH          content, named by its BLAKE2b-256 (XX: the first two hex
 *                              digits), each written once and kept by every later backup
 *   DIR/metadata/INDEX.snap    the metadata store at raft index INDEX: the stream a
 *                              joining member fetches (storage/snapshot.h), checksummed
 *   DIR/metadata/INDEX.json    its manifest, written last: a backup exists once it does
 *
 * `backup` streams the store (GET /api/v1/cluster/backup?consistent=true) into a file,
 * then reads it back record by record and fetches every referenced blob the directory
 * lacks (GET /api/v1/cluster/blobs/HASH/content), each checked against its name before
 * it is renamed into place. Memory: a record and a read buffer, whatever the size of
 * the archive. `backup-verify` re-reads a backup offline: the stream's checksum and
 * every referenced blob's hash. `restore` writes a new node's data dir from a backup:
 * the store, the blobs through the node's own blob store, and the marker that makes the
 * node adopt them at its first start (archive/restore.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/keys.h"
#include "archive/restore.h"
#include "base/hex.h"
#include "storage/blobstore.h"
#include "storage/snapshot.h"
#include "storage/store_swap.h"
#include "tools/cli/backup_int.h"
#include "tools/cli/cli.h"

#define BACKUP_FORMAT "imgarc-backup 1\n"
#define READ_PIECE (1u << 20)
/* Problems listed one by one before only their count goes on. */
#define PROBLEMS_LISTED 20

/* ---- Files ---- */

int local_error(const char *cmd, const char *what, const char *path)
{
    fprintf(stderr, "imgarc: %s: %s %s: %s\n", cmd, what, path, strerror(errno));
    return CLI_ELOCAL;
}

int make_dir(const char *cmd, const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return local_error(cmd, "cannot create", path);
    }
    return 0;
}

int sync_dir(const char *cmd, const char *dir)
{
    struct base_err err = {{0}};
    if (storage_fsync_dir(dir, &err) != 0) {
        fprintf(stderr, "imgarc: %s: %s\n", cmd, err.msg);
        return CLI_ELOCAL;
    }
    return 0;
}

/* Writes @text to @path durably: a temp file, fsync, rename, fsync of @dir. */
static int write_durably(const char *cmd, const char *dir, const char *path, const char *text)
{
    char *tmp = xasprintf("%s.tmp", path);
    size_t len = strlen(text);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rv = 0;
    if (fd < 0) {
        rv = local_error(cmd, "cannot create", tmp);
    } else {
        if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
            rv = local_error(cmd, "cannot write", tmp);
        }
        close(fd);
    }
    if (rv == 0 && rename(tmp, path) != 0) {
        rv = local_error(cmd, "cannot rename", tmp);
    }
    if (rv != 0) {
        unlink(tmp);
    }
    free(tmp);
    return rv == 0 ? sync_dir(cmd, dir) : rv;
}

char *blob_file(const char *dir, const char hex[BLOB_HEX_BYTES])
{
    return xasprintf("%s/blobs/%.2s/%s", dir, hex, hex);
}

/* The BLAKE2b-256 of file @path and its size; BASE_ENOTFOUND when it does not exist. */
int hash_path(const char *path, uint8_t out[32], uint64_t *size)
{
    crypto_generichash_state st;
    char *buf;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? BASE_ENOTFOUND : BASE_EIO;
    }
    buf = xmalloc(READ_PIECE);
    crypto_generichash_init(&st, NULL, 0, 32);
    *size = 0;
    while ((n = read(fd, buf, READ_PIECE)) > 0) {
        crypto_generichash_update(&st, (const uint8_t *)buf, (size_t)n);
        *size += (uint64_t)n;
    }
    close(fd);
    free(buf);
    crypto_generichash_final(&st, out, 32);
    return n < 0 ? BASE_EIO : 0;
}

/* Feeds file @path to @p in pieces and finishes it. */
int parse_file(const char *cmd, const char *path, struct snapshot_parser *p,
                      uint64_t *index, uint8_t hash[32])
{
    struct base_err err = {{0}};
    char *buf;
    ssize_t n;
    int rv = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return local_error(cmd, "cannot read", path);
    }
    buf = xmalloc(READ_PIECE);
    while (rv == 0 && (n = read(fd, buf, READ_PIECE)) > 0) {
        rv = storage_snapshot_parse(p, buf, (size_t)n, &err);
    }
    if (rv == 0 && n < 0) {
        rv = local_error(cmd, "cannot read", path);
    } else if (rv == 0) {
        rv = storage_snapshot_parser_finish(p, index, hash, &err);
    }
    close(fd);
    free(buf);
    if (rv < 0 && rv != CLI_ELOCAL && err.msg[0] != '\0') {
        /* A callback's own failure was printed where it happened. */
        fprintf(stderr, "imgarc: %s: %s: %s\n", cmd, path, err.msg);
        rv = rv == BASE_ECORRUPT ? CLI_EATTENTION : CLI_ELOCAL;
    }
    return rv;
}

/* A referenced blob record (cross-tenant family) of the stream: its hash and size. */
bool referenced_blob(uint8_t family, size_t klen, const uint8_t *value, size_t vlen,
                            uint64_t *size)
{
    BlobRecord *rec;
    bool referenced;
    if (family != ARCHIVE_CF_BLOBS || klen != BLOB_HASH_BYTES ||
        (rec = blob_record__unpack(NULL, vlen, value)) == NULL) {
        return false;
    }
    referenced = rec->refs > 0; /* released content waits for its purge: not kept */
    *size = rec->size;
    blob_record__free_unpacked(rec, NULL);
    return referenced;
}

/* ---- backup ---- */

struct backup_run {
    struct cli *cli;
    const char *dir;
    uint64_t records, blobs, blob_bytes, fetched, fetched_bytes;
    int failed; /* a CLI_E* code, printed */
    struct fetch_pool *pool; /* the blobs being fetched, several at once */
    /* blobs/XX directories that got a new name: synced once each before the manifest
     * is written (each blob's bytes were synced before its rename). */
    bool renamed_in[256];
};

/* Fetches blob @hash (@size bytes) into the backup unless it is there already: the
 * fetch pool does it (backup_fetch.c). */
static int fetch_blob(struct backup_run *b, const uint8_t *hash, uint64_t size)
{
    char hex[BLOB_HEX_BYTES];
    char *path;
    struct stat st;
    bool have;
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    path = blob_file(b->dir, hex);
    have = stat(path, &st) == 0 && (uint64_t)st.st_size == size;
    free(path);
    if (have) {
        return 0; /* kept from an earlier backup (backup-verify re-hashes it) */
    }
    return fetch_pool_add(b->pool, hash, size);
}

static int backup_record(void *arg, uint8_t family, const uint8_t *key, size_t klen,
                         const uint8_t *value, size_t vlen, struct base_err *err)
{
    struct backup_run *b = arg;
    uint64_t size;
    int rv;
    b->records++;
    if (!referenced_blob(family, klen, value, vlen, &size)) {
        return 0;
    }
    b->blobs++;
    b->blob_bytes += size;
    if ((rv = fetch_blob(b, key, size)) != 0) {
        b->failed = rv;
        base_err_set(err, "stopped at the blob above");
        return BASE_EIO;
    }
    return 0;
}

/* Holds a lock on @marker for the rest of the process: exclusive for a command that
 * adds or removes files (backup, backup-prune), shared for one that reads them. */
static int lock_backup_dir(const char *cmd, const char *dir, const char *marker,
                           bool exclusive)
{
    static int fd = -1;
    if (fd >= 0) {
        return 0;
    }
    fd = open(marker, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return local_error(cmd, "cannot open", marker);
    }
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        fprintf(stderr, "imgarc: %s: another imgarc %s using %s (a backup or a prune changes "
                "it): wait for it to end\n", cmd,
                exclusive ? "command is" : "backup or backup-prune is", dir);
        close(fd);
        fd = -1;
        return CLI_ELOCAL;
    }
    return 0; /* kept open: the lock lasts until the process exits */
}

int open_backup_dir(const char *cmd, const char *dir, bool create, bool exclusive)
{
    char *marker = xasprintf("%s/%s", dir, BACKUP_MARKER);
    char text[64] = "";
    FILE *f = fopen(marker, "re");
    int rv = 0;
    if (f != NULL) {
        if (fgets(text, sizeof text, f) == NULL || strcmp(text, BACKUP_FORMAT) != 0) {
            fprintf(stderr, "imgarc: %s: %s is not a backup of this version's format "
                    "(\"%.*s\")\n", cmd, marker, (int)strcspn(BACKUP_FORMAT, "\n"),
                    BACKUP_FORMAT);
            rv = CLI_ELOCAL;
        }
        fclose(f);
    } else if (!create) {
        fprintf(stderr, "imgarc: %s: %s is not a backup directory (no %s)\n", cmd, dir,
                BACKUP_MARKER);
        rv = CLI_ELOCAL;
    } else {
        DIR *d = opendir(dir);
        struct dirent *e;
        bool empty = true;
        while (d != NULL && (e = readdir(d)) != NULL) {
            empty = empty && (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0);
        }
        if (d != NULL) {
            closedir(d);
        }
        if (!empty) {
            fprintf(stderr, "imgarc: %s: %s is neither empty nor a backup directory: give "
                    "a new directory, or one that holds backups\n", cmd, dir);
            rv = CLI_ELOCAL;
        } else {
            rv = write_durably(cmd, dir, marker, BACKUP_FORMAT);
        }
    }
    if (rv == 0) {
        rv = lock_backup_dir(cmd, dir, marker, exclusive);
    }
    free(marker);
    return rv;
}

static void print_backup(const struct backup_run *b, uint64_t index, const char *hash_hex,
                         double seconds)
{
    if (b->cli->json) {
        json_t *ans = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:f}", "index",
                                (json_int_t)index, "metadata_blake2b", hash_hex, "records",
                                (json_int_t)b->records, "blobs", (json_int_t)b->blobs,
                                "blob_bytes", (json_int_t)b->blob_bytes, "fetched",
                                (json_int_t)b->fetched, "fetched_bytes",
                                (json_int_t)b->fetched_bytes, "seconds", seconds);
        print_json(ans, false);
        json_decref(ans);
        return;
    }
    printf("backup at index %" PRIu64 " in %s: %" PRIu64 " metadata records, %" PRIu64
           " blobs (%" PRIu64 " bytes); %" PRIu64 " blobs (%" PRIu64 " bytes) fetched, the "
           "rest kept from earlier backups; %.1f s\n", index, b->dir, b->records, b->blobs,
           b->blob_bytes, b->fetched, b->fetched_bytes, seconds);
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
    const char *flag_parallel = NULL;
    uint64_t parallel = BACKUP_PARALLEL_DEFAULT;
    const struct flag flags[] = {{"--parallel", NULL, FLAG_VALUE, &flag_parallel},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct backup_run b = {.cli = cli};
    struct snapshot_parser *p = NULL;
    struct timespec t0, t1;
    char *meta = NULL, *incoming = NULL, *snap = NULL, *manifest = NULL, *text = NULL;
    char hash_hex[65];
    uint8_t hash[32];
    uint64_t index = 0;
    struct args a;
    int rv = parse_command(cli, "backup", argc, argv, flags, ARRAY_SIZE(flags), &a);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rv == 0) {
        rv = want_args("backup", &a, 1, 1, "DIR");
    }
    if (rv == 0 && flag_parallel != NULL &&
        (!parse_count(flag_parallel, false, &parallel) || parallel == 0 || parallel > 64)) {
        rv = usage_error("backup", "--parallel is 1 to 64: blobs fetched at once");
    }
    if (rv == 0) {
        /* A backup holds what the data dir does (the token key, password and secret
         * hashes): 0600 files and 0700 directories, whatever the caller's umask. */
        umask(077);
        b.dir = a.pos[0];
        meta = xasprintf("%s/metadata", b.dir);
        incoming = xasprintf("%s/incoming.snap", meta);
        if ((rv = make_dir("backup", b.dir)) == 0 &&
            (rv = open_backup_dir("backup", b.dir, true, true)) == 0 &&
            (rv = make_dir("backup", meta)) == 0) {
            char *blobs = xasprintf("%s/blobs", b.dir);
            rv = make_dir("backup", blobs);
            free(blobs);
        }
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        /* consistent: the store as of a read index, so it holds every write
         * acknowledged before the backup began, whichever node answers. */
        const struct cli_param params[] = {{"consistent", "true"}};
        const struct cli_request req = {.method = "GET",
                                        .path = "/api/v1/cluster/backup",
                                        .params = params,
                                        .n_params = ARRAY_SIZE(params),
                                        .progress_label = "metadata"};
        rv = cli_http_download(cli->http, &req, NULL, incoming);
    }
    if (rv == 0) {
        rv = fetch_pool_new(&b.pool, cli, b.dir, (unsigned)parallel);
    }
    if (rv == 0) {
        p = storage_snapshot_parser_new(ARCHIVE_CF_COUNT, backup_record, &b);
        rv = parse_file("backup", incoming, p, &index, hash);
        if (b.failed != 0) {
            rv = b.failed;
        }
    }
    if (b.pool != NULL) {
        /* Every fetch ends before the directories are synced and the manifest written. */
        int frv = fetch_pool_finish(b.pool, &b.fetched, &b.fetched_bytes, b.renamed_in);
        b.pool = NULL;
        rv = rv != 0 ? rv : frv;
    }
    for (unsigned i = 0; rv == 0 && i < 256; i++) {
        if (b.renamed_in[i]) {
            char *sub = xasprintf("%s/blobs/%02x", b.dir, i);
            rv = sync_dir("backup", sub);
            free(sub);
        }
    }
    if (rv == 0) {
        hex_encode(hash, 32, hash_hex);
        snap = xasprintf("%s/%" PRIu64 ".snap", meta, index);
        manifest = xasprintf("%s/%" PRIu64 ".json", meta, index);
        if (rename(incoming, snap) != 0) {
            rv = local_error("backup", "cannot rename", incoming);
        }
    }
    if (rv == 0) {
        json_t *m;
        time_t now = time(NULL);
        char when[32];
        clock_gettime(CLOCK_MONOTONIC, &t1);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        m = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I}", "format", "imgarc-backup/1",
                      "index", (json_int_t)index, "taken_at", when, "metadata_blake2b",
                      hash_hex, "records", (json_int_t)b.records, "blobs",
                      (json_int_t)b.blobs, "blob_bytes", (json_int_t)b.blob_bytes);
        text = json_dumps(m, JSON_INDENT(2));
        json_decref(m);
        rv = write_durably("backup", meta, manifest, text);
    }
    if (rv == 0) {
        print_backup(&b, index, hash_hex,
                     (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    } else if (incoming != NULL) {
        unlink(incoming);
    }
    storage_snapshot_parser_free(p);
    free(text);
    free(manifest);
    free(snap);
    free(incoming);
    free(meta);
    free(a.pos);
    return rv;
}

/* ---- choosing a backup ---- */

/* The backup to read in @dir: @flag_index (given with --index) or the newest one with a
 * manifest; its stream's path into *@snap and its manifest (parsed) into *@manifest. */
static int pick_backup(const char *cmd, const char *dir, const char *flag_index,
                       uint64_t *index, char **snap, json_t **manifest)
{
    char *meta = xasprintf("%s/metadata", dir);
    char *path;
    json_error_t jerr;
    int rv = open_backup_dir(cmd, dir, false, false);
    *index = 0;
    if (rv == 0 && flag_index != NULL && (!parse_count(flag_index, false, index) ||
                                          *index == 0)) {
        rv = usage_error(cmd, "--index must be the raft index of a backup (the number in "
                         "DIR/metadata/INDEX.json)");
    }
    if (rv == 0 && flag_index == NULL) {
        DIR *d = opendir(meta);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            char *end;
            uint64_t v;
            errno = 0;
            v = strtoull(e->d_name, &end, 10);
            if (errno == 0 && end != e->d_name && strcmp(end, ".json") == 0 && v > *index) {
                *index = v;
            }
        }
        if (d != NULL) {
            closedir(d);
        }
        if (*index == 0) {
            fprintf(stderr, "imgarc: %s: %s holds no complete backup (no "
                    "metadata/INDEX.json)\n", cmd, dir);
            rv = CLI_ELOCAL;
        }
    }
    if (rv == 0) {
        path = xasprintf("%s/%" PRIu64 ".json", meta, *index);
        *manifest = json_load_file(path, 0, &jerr);
        if (*manifest == NULL || jint(*manifest, "index") != (long long)*index) {
            fprintf(stderr, "imgarc: %s: %s: %s\n", cmd, path,
                    *manifest == NULL ? jerr.text : "not the manifest of this index");
            json_decref(*manifest);
            *manifest = NULL;
            rv = CLI_ELOCAL;
        }
        free(path);
    }
    if (rv == 0) {
        *snap = xasprintf("%s/%" PRIu64 ".snap", meta, *index);
    }
    free(meta);
    return rv;
}

/* ---- backup-verify ---- */

struct verify_run {
    const char *dir;
    uint64_t records, blobs, blob_bytes;
    unsigned problems;
};

static void problem(struct verify_run *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct verify_run *v, const char *fmt, ...)
{
    va_list ap;
    if (v->problems++ < PROBLEMS_LISTED) {
        fputs("imgarc: backup-verify: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    } else if (v->problems == PROBLEMS_LISTED + 1) {
        fputs("imgarc: backup-verify: more problems: only their count follows\n", stderr);
    }
}

static int verify_record(void *arg, uint8_t family, const uint8_t *key, size_t klen,
                         const uint8_t *value, size_t vlen, struct base_err *err)
{
    struct verify_run *v = arg;
    char hex[BLOB_HEX_BYTES];
    uint8_t got[32];
    uint64_t size, got_size = 0;
    char *path;
    int rv;
    (void)err;
    v->records++;
    if (!referenced_blob(family, klen, value, vlen, &size)) {
        return 0;
    }
    v->blobs++;
    v->blob_bytes += size;
    hex_encode(key, BLOB_HASH_BYTES, hex);
    path = blob_file(v->dir, hex);
    rv = hash_path(path, got, &got_size);
    if (rv == BASE_ENOTFOUND) {
        problem(v, "blob %s is missing (%" PRIu64 " bytes referenced)", hex, size);
    } else if (rv != 0) {
        problem(v, "blob %s cannot be read: %s", hex, strerror(errno));
    } else if (got_size != size || sodium_memcmp(got, key, 32) != 0) {
        problem(v, "blob %s does not hash to its name (%" PRIu64 " bytes, its record says %"
                PRIu64 ")", hex, got_size, size);
    }
    free(path);
    return 0;
}

int cmd_backup_verify(struct cli *cli, int argc, char **argv)
{
    const char *flag_index = NULL;
    const struct flag flags[] = {{"--index", NULL, FLAG_VALUE, &flag_index},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct verify_run v = {0};
    struct snapshot_parser *p;
    json_t *manifest = NULL;
    char *snap = NULL;
    char hash_hex[65];
    uint8_t hash[32];
    uint64_t index = 0, got_index = 0;
    struct args a;
    int rv = parse_command(cli, "backup-verify", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("backup-verify", &a, 1, 1, "DIR");
    }
    if (rv == 0) {
        v.dir = a.pos[0];
        rv = pick_backup("backup-verify", v.dir, flag_index, &index, &snap, &manifest);
    }
    if (rv == 0) {
        p = storage_snapshot_parser_new(ARCHIVE_CF_COUNT, verify_record, &v);
        rv = parse_file("backup-verify", snap, p, &got_index, hash);
        storage_snapshot_parser_free(p);
        if (rv == CLI_EATTENTION) {
            v.problems++; /* the stream itself: printed */
            rv = 0;
        } else if (rv == 0) {
            hex_encode(hash, 32, hash_hex);
            if (got_index != index || strcmp(jstr(manifest, "metadata_blake2b"), hash_hex) != 0) {
                problem(&v, "metadata %s is at index %" PRIu64 " with checksum %s; its "
                        "manifest says index %" PRIu64 " and %s", snap, got_index, hash_hex,
                        index, jstr(manifest, "metadata_blake2b"));
            }
        }
    }
    if (rv == 0 && cli->json) {
        json_t *ans = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "valid", v.problems == 0,
                                "problems", (json_int_t)v.problems, "index", (json_int_t)index,
                                "records", (json_int_t)v.records, "blobs", (json_int_t)v.blobs,
                                "blob_bytes", (json_int_t)v.blob_bytes);
        print_json(ans, false);
        json_decref(ans);
    } else if (rv == 0 && v.problems == 0) {
        printf("valid: backup at index %" PRIu64 ", %" PRIu64 " metadata records, %" PRIu64
               " blobs (%" PRIu64 " bytes), every checksum and hash as recorded\n", index,
               v.records, v.blobs, v.blob_bytes);
    } else if (rv == 0) {
        printf("not valid: %u problem%s (listed above)\n", v.problems,
               v.problems == 1 ? "" : "s");
    }
    if (rv == 0 && v.problems > 0) {
        rv = CLI_ESERVER; /* exit 1, as export-verify */
    }
    json_decref(manifest);
    free(snap);
    free(a.pos);
    return rv;
}

/* ---- restore ---- */

/* Blobs written before one group commit (one syncfs for all of them). */
#define RESTORE_COMMIT_BATCH 64

struct restore_run {
    const char *dir;
    struct blob_store *blobs;
    uint64_t blob_count, blob_bytes, missing;
    struct blob_writer *pending[RESTORE_COMMIT_BATCH]; /* finished, not committed */
    size_t n_pending;
};

/* Renames the finished blobs into place, made durable together (@commit false: drops
 * them, after a failure). */
static int commit_pending(struct restore_run *r, bool commit, struct base_err *err)
{
    int results[RESTORE_COMMIT_BATCH];
    int rv = commit && r->n_pending > 0 ? blob_commit_batch(r->blobs, r->pending, r->n_pending,
                                                            results, true, err)
                                        : 0;
    for (size_t i = 0; i < r->n_pending; i++) {
        blob_writer_abort(r->pending[i]);
        free(r->pending[i]);
    }
    r->n_pending = 0;
    return rv;
}

/* Copies blob @hash of the backup into the node's blob store, hashed on the way; it
 * is committed with the next batch. */
static int restore_blob(struct restore_run *r, const uint8_t *hash, uint64_t size,
                        struct base_err *err)
{
    struct blob_writer *w;
    char hex[BLOB_HEX_BYTES];
    char *path, *buf;
    ssize_t n = 0;
    int fd, rv;
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    path = blob_file(r->dir, hex);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0) {
        r->missing++;
        fprintf(stderr, "imgarc: restore: blob %s is not in the backup; its files will "
                "answer errors (imgarc backup-verify lists what a backup lacks)\n", hex);
        return 0;
    }
    w = xcalloc(1, sizeof *w);
    if ((rv = blob_writer_open(r->blobs, w, err)) != 0) {
        close(fd);
        free(w);
        return rv;
    }
    buf = xmalloc(READ_PIECE);
    while (rv == 0 && (n = read(fd, buf, READ_PIECE)) > 0) {
        rv = blob_writer_write(w, buf, (size_t)n, err);
    }
    free(buf);
    close(fd);
    if (rv == 0 && n < 0) {
        base_err_set(err, "reading blob %s of the backup: %s", hex, strerror(errno));
        rv = BASE_EIO;
    }
    if (rv == 0) {
        rv = blob_writer_finish(w, true, err);
    }
    if (rv == 0 && (w->size != size || sodium_memcmp(w->hash, hash, 32) != 0)) {
        base_err_set(err, "blob %s of the backup does not hash to its name: run imgarc "
                     "backup-verify, and restore from another backup", hex);
        rv = BASE_ECORRUPT;
    }
    if (rv != 0) {
        blob_writer_abort(w);
        free(w);
        return rv;
    }
    r->pending[r->n_pending++] = w;
    r->blob_count++;
    r->blob_bytes += size;
    return r->n_pending == RESTORE_COMMIT_BATCH ? commit_pending(r, true, err) : 0;
}

static int restore_record(void *arg, uint8_t family, const uint8_t *key, size_t klen,
                          const uint8_t *value, size_t vlen, struct base_err *err)
{
    uint64_t size;
    if (!referenced_blob(family, klen, value, vlen, &size)) {
        return 0;
    }
    return restore_blob(arg, key, size, err);
}

/* The data dir must not hold a node already. */
static int check_new_data_dir(const char *data)
{
    DIR *d = opendir(data);
    struct dirent *e;
    int rv = 0;
    if (d == NULL) {
        return errno == ENOENT ? 0 : local_error("restore", "cannot read", data);
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            fprintf(stderr, "imgarc: restore: %s is not empty (it holds %s): a backup is "
                    "restored into a new data dir, never over a node's\n", data, e->d_name);
            rv = CLI_ELOCAL;
            break;
        }
    }
    closedir(d);
    return rv;
}

/* Writes the store of @snap into DATA/meta, then the blobs into DATA/blobs. */
static int restore_into(const char *snap, const char *data, struct restore_run *r,
                        uint64_t index, struct base_err *err)
{
    struct rocks *db = NULL;
    struct snapshot_writer *w;
    struct snapshot_parser *p;
    struct blob_store bs;
    char *meta = xasprintf("%s/meta", data);
    char *buf = xmalloc(READ_PIECE);
    uint64_t got = 0;
    ssize_t n = 0;
    int rv, fd = open(snap, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        base_err_set(err, "cannot read %s: %s", snap, strerror(errno));
        free(buf);
        free(meta);
        return BASE_EIO;
    }
    rv = archive_store_open(&db, meta, err);
    if (rv == 0) {
        w = storage_snapshot_writer_new(db);
        while (rv == 0 && (n = read(fd, buf, READ_PIECE)) > 0) {
            rv = storage_snapshot_write(w, buf, (size_t)n, err);
        }
        if (rv == 0 && n < 0) {
            base_err_set(err, "cannot read %s: %s", snap, strerror(errno));
            rv = BASE_EIO;
        }
        if (rv == 0) {
            rv = storage_snapshot_writer_finish(w, &got, err);
        }
        storage_snapshot_writer_free(w);
        rocks_close(db);
    }
    close(fd);
    free(buf);
    free(meta);
    if (rv == 0 && got != index) {
        base_err_set(err, "%s holds index %" PRIu64 ", its manifest %" PRIu64, snap, got,
                     index);
        rv = BASE_ECORRUPT;
    }
    if (rv == 0 && (rv = blob_store_open(&bs, data, err)) == 0) {
        r->blobs = &bs;
        p = storage_snapshot_parser_new(ARCHIVE_CF_COUNT, restore_record, r);
        fd = open(snap, O_RDONLY | O_CLOEXEC);
        buf = xmalloc(READ_PIECE);
        while (rv == 0 && fd >= 0 && (n = read(fd, buf, READ_PIECE)) > 0) {
            rv = storage_snapshot_parse(p, buf, (size_t)n, err);
        }
        if (rv == 0 && (fd < 0 || n < 0)) {
            base_err_set(err, "cannot read %s: %s", snap, strerror(errno));
            rv = BASE_EIO;
        }
        if (rv == 0) {
            rv = storage_snapshot_parser_finish(p, &got, NULL, err);
        }
        if (rv == 0) {
            rv = commit_pending(r, true, err);
        } else {
            (void)commit_pending(r, false, err);
        }
        if (fd >= 0) {
            close(fd);
        }
        free(buf);
        storage_snapshot_parser_free(p);
        blob_store_close(&bs);
    }
    return rv;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
    const char *flag_index = NULL, *data = NULL;
    const struct flag flags[] = {{"--index", NULL, FLAG_VALUE, &flag_index},
                                 {"--data", NULL, FLAG_VALUE, &data},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct base_err err = {{0}};
    struct restore_run r = {0};
    json_t *manifest = NULL;
    char *snap = NULL;
    uint64_t index = 0;
    struct args a;
    int rv = parse_command(cli, "restore", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("restore", &a, 1, 1, "DIR");
    }
    if (rv == 0 && (data == NULL || data[0] == '\0')) {
        rv = usage_error("restore", "--data is required: the new node's data dir");
    }
    if (rv == 0) {
        r.dir = a.pos[0];
        rv = pick_backup("restore", r.dir, flag_index, &index, &snap, &manifest);
    }
    if (rv == 0 && (rv = check_new_data_dir(data)) == 0) {
        rv = make_dir("restore", data);
    }
    if (rv == 0) {
        umask(077); /* the node's files are its own, as imgarcd makes them */
        rv = restore_into(snap, data, &r, index, &err);
        if (rv == 0) {
            rv = archive_restore_mark(data, index, &err);
        }
        if (rv != 0) {
            fprintf(stderr, "imgarc: restore: %s; remove %s before trying again\n", err.msg,
                    data);
            rv = rv == BASE_ECORRUPT ? CLI_EATTENTION : CLI_ELOCAL;
        }
    }
    if (rv == 0 && cli->json) {
        json_t *ans = json_pack("{s:I, s:s, s:I, s:I, s:I}", "index", (json_int_t)index,
                                "data_dir", data, "blobs", (json_int_t)r.blob_count,
                                "blob_bytes", (json_int_t)r.blob_bytes, "missing",
                                (json_int_t)r.missing);
        print_json(ans, false);
        json_decref(ans);
    } else if (rv == 0) {
        printf("restored the backup at index %" PRIu64 " into %s: the metadata store and %"
               PRIu64 " blobs (%" PRIu64 " bytes)%s\n"
               "Start a node on it (imgarcd --data %s, with the flags of a new node):\n"
               "it founds a new cluster with this archive; join other nodes to it with\n"
               "--join, and they take the store and the copies from it.\n",
               index, data, r.blob_count, r.blob_bytes,
               r.missing > 0 ? "; some referenced blobs were missing (listed above)" : "",
               data);
    }
    if (rv == 0 && r.missing > 0) {
        rv = CLI_EATTENTION;
    }
    json_decref(manifest);
    free(snap);
    free(a.pos);
    return rv;
}
