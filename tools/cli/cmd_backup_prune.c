/* imgarc backup-prune DIR --keep N: the newest N backups of a backup directory stay,
 * older ones go, and then the content no remaining backup references (docs/backup.md,
 * "Pruning").
 *
 * The order keeps DIR valid if the command is stopped at any point: the content the
 * backups that stay reference is read from their streams first (a set of hashes, 32
 * bytes each, sorted once; a stream that does not read stops the prune before anything
 * is removed); then each older backup is removed manifest first (it ceases to exist),
 * then its stream; only then is any blob deleted. Leftovers of
 * an interrupted backup (a stream without manifest, incoming files) go too: the
 * directory is locked against a backup running meanwhile. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/keys.h"
#include "base/hex.h"
#include "tools/cli/backup_int.h"
#include "tools/cli/cli.h"

struct prune_run {
    const char *dir;
    bool dry_run;
    uint8_t (*keep)[BLOB_HASH_BYTES]; /* referenced by a remaining backup */
    size_t n_keep, cap_keep;
    uint64_t blobs_removed, bytes_removed, blobs_kept, bytes_kept;
    uint64_t leftovers; /* files of interrupted backups removed */
};

static int keep_record(void *arg, uint8_t family, const uint8_t *key, size_t klen,
                       const uint8_t *value, size_t vlen, struct base_err *err)
{
    struct prune_run *r = arg;
    uint64_t size;
    (void)err;
    if (!referenced_blob(family, klen, value, vlen, &size)) {
        return 0;
    }
    if (r->n_keep == r->cap_keep) {
        r->cap_keep = r->cap_keep == 0 ? 4096 : 2 * r->cap_keep;
        r->keep = xrealloc(r->keep, r->cap_keep * sizeof *r->keep);
    }
    memcpy(r->keep[r->n_keep++], key, BLOB_HASH_BYTES);
    return 0;
}

static int hash_cmp(const void *a, const void *b)
{
    return memcmp(a, b, BLOB_HASH_BYTES);
}

static int index_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0; /* newest first */
}

/* Removes @path (unless a dry run), counting it. */
static int remove_file(struct prune_run *r, const char *path)
{
    if (!r->dry_run && unlink(path) != 0 && errno != ENOENT) {
        return local_error("backup-prune", "cannot remove", path);
    }
    return 0;
}

/* The indexes of the complete backups (metadata/INDEX.json), newest first; streams
 * without a manifest and incoming files are removed as leftovers. */
static int list_backups(struct prune_run *r, uint64_t **out, size_t *n)
{
    char *meta = xasprintf("%s/metadata", r->dir);
    DIR *d = opendir(meta);
    struct dirent *e;
    size_t cap = 0;
    int rv = 0;
    *out = NULL;
    *n = 0;
    if (d == NULL) {
        rv = local_error("backup-prune", "cannot read", meta);
        free(meta);
        return rv;
    }
    while (rv == 0 && (e = readdir(d)) != NULL) {
        char *end, *path;
        uint64_t v;
        errno = 0;
        v = strtoull(e->d_name, &end, 10);
        if (errno == 0 && end != e->d_name && strcmp(end, ".json") == 0 && v > 0) {
            if (*n == cap) {
                cap = cap == 0 ? 16 : 2 * cap;
                *out = xrealloc(*out, cap * sizeof **out);
            }
            (*out)[(*n)++] = v;
            continue;
        }
        path = xasprintf("%s/%" PRIu64 ".json", meta, v);
        if ((errno == 0 && end != e->d_name && strcmp(end, ".snap") == 0 &&
             access(path, F_OK) != 0) ||
            strcmp(e->d_name, "incoming.snap") == 0 ||
            (strlen(e->d_name) > 4 && strcmp(e->d_name + strlen(e->d_name) - 4, ".tmp") == 0)) {
            char *file = xasprintf("%s/%s", meta, e->d_name);
            rv = remove_file(r, file);
            r->leftovers++;
            free(file);
        }
        free(path);
    }
    closedir(d);
    free(meta);
    qsort(*out, *n, sizeof **out, index_cmp);
    return rv;
}

/* Every file under blobs/: kept when a remaining backup references it, else removed
 * (as are a fetch's leftovers, blobs/incoming-*). */
static int sweep_blobs(struct prune_run *r)
{
    char *blobs = xasprintf("%s/blobs", r->dir);
    DIR *top = opendir(blobs);
    struct dirent *e;
    int rv = 0;
    if (top == NULL) {
        rv = errno == ENOENT ? 0 : local_error("backup-prune", "cannot read", blobs);
        free(blobs);
        return rv;
    }
    while (rv == 0 && (e = readdir(top)) != NULL) {
        char *sub = xasprintf("%s/%s", blobs, e->d_name);
        DIR *d;
        struct dirent *f;
        bool removed = false;
        if (strncmp(e->d_name, "incoming-", 9) == 0) {
            rv = remove_file(r, sub);
            r->leftovers++;
        }
        if (rv != 0 || strlen(e->d_name) != 2 || (d = opendir(sub)) == NULL) {
            free(sub);
            continue;
        }
        while (rv == 0 && (f = readdir(d)) != NULL) {
            uint8_t hash[BLOB_HASH_BYTES];
            char *path;
            struct stat st;
            if (f->d_name[0] == '.' || strlen(f->d_name) != 2 * BLOB_HASH_BYTES ||
                !hex_decode(f->d_name, hash, BLOB_HASH_BYTES)) {
                continue; /* not a blob: not ours to remove */
            }
            path = xasprintf("%s/%s", sub, f->d_name);
            if (stat(path, &st) != 0) {
                free(path);
                continue;
            }
            if (bsearch(hash, r->keep, r->n_keep, BLOB_HASH_BYTES, hash_cmp) != NULL) {
                r->blobs_kept++;
                r->bytes_kept += (uint64_t)st.st_size;
            } else {
                rv = remove_file(r, path);
                r->blobs_removed++;
                r->bytes_removed += (uint64_t)st.st_size;
                removed = true;
            }
            free(path);
        }
        closedir(d);
        if (rv == 0 && removed && !r->dry_run) {
            rv = sync_dir("backup-prune", sub);
        }
        free(sub);
    }
    closedir(top);
    free(blobs);
    return rv;
}

static void print_prune(const struct cli *cli, const struct prune_run *r, const uint64_t *idx,
                        size_t n, size_t keep)
{
    if (cli->json) {
        json_t *kept = json_array(), *removed = json_array(), *ans;
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(i < keep ? kept : removed, json_integer((json_int_t)idx[i]));
        }
        ans = json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:b}", "kept", kept, "removed",
                        removed, "blobs_removed", (json_int_t)r->blobs_removed,
                        "bytes_removed", (json_int_t)r->bytes_removed, "blobs_kept",
                        (json_int_t)r->blobs_kept, "bytes_kept", (json_int_t)r->bytes_kept,
                        "leftovers", (json_int_t)r->leftovers, "dry_run", r->dry_run);
        print_json(ans, false);
        json_decref(ans);
        return;
    }
    printf("%s%zu backups kept (", r->dry_run ? "dry run: " : "", n < keep ? n : keep);
    for (size_t i = 0; i < n && i < keep; i++) {
        printf("%s%" PRIu64, i > 0 ? ", " : "index ", idx[i]);
    }
    printf("), %zu removed", n > keep ? n - keep : 0);
    for (size_t i = keep; i < n; i++) {
        printf("%s%" PRIu64, i > keep ? ", " : " (index ", idx[i]);
    }
    printf("%s; %" PRIu64 " blobs (%" PRIu64 " bytes) %s, %" PRIu64 " blobs (%" PRIu64
           " bytes) still referenced", n > keep ? ")" : "", r->blobs_removed,
           r->bytes_removed, r->dry_run ? "would go" : "removed", r->blobs_kept, r->bytes_kept);
    if (r->leftovers > 0) {
        printf("; %" PRIu64 " leftovers of interrupted backups %s", r->leftovers,
               r->dry_run ? "would go" : "removed");
    }
    putchar('\n');
}

int cmd_backup_prune(struct cli *cli, int argc, char **argv)
{
    const char *flag_keep = NULL;
    struct prune_run r = {0};
    const struct flag flags[] = {{"--keep", NULL, FLAG_VALUE, &flag_keep},
                                 {"--dry-run", NULL, FLAG_BOOL, &r.dry_run},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    uint64_t keep = 0, *idx = NULL;
    size_t n = 0;
    struct args a;
    int rv = parse_command(cli, "backup-prune", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("backup-prune", &a, 1, 1, "DIR");
    }
    if (rv == 0 && (flag_keep == NULL || !parse_count(flag_keep, false, &keep) || keep == 0)) {
        rv = usage_error("backup-prune", "--keep N is required: how many of the newest "
                                         "backups stay (1 or more)");
    }
    if (rv == 0) {
        r.dir = a.pos[0];
        rv = open_backup_dir("backup-prune", r.dir, false, true);
    }
    if (rv == 0) {
        rv = list_backups(&r, &idx, &n);
    }
    /* What the backups that stay reference, read from their streams first: one that
     * does not read (a damaged stream) stops the prune before anything is removed. */
    for (size_t i = 0; rv == 0 && i < n && i < keep; i++) {
        char *snap = xasprintf("%s/metadata/%" PRIu64 ".snap", r.dir, idx[i]);
        struct snapshot_parser *p = storage_snapshot_parser_new(ARCHIVE_CF_COUNT, keep_record,
                                                                &r);
        uint64_t index = 0;
        uint8_t hash[32];
        rv = parse_file("backup-prune", snap, p, &index, hash);
        if (rv == 0 && index != idx[i]) {
            fprintf(stderr, "imgarc: backup-prune: %s holds index %" PRIu64 ", not its name's; "
                    "nothing removed from blobs/ (run backup-verify)\n", snap, index);
            rv = CLI_EATTENTION;
        }
        storage_snapshot_parser_free(p);
        free(snap);
    }
    /* The backups beyond the newest @keep: manifest first, then the stream. */
    for (size_t i = (size_t)keep; rv == 0 && i < n; i++) {
        char *json = xasprintf("%s/metadata/%" PRIu64 ".json", r.dir, idx[i]);
        char *snap = xasprintf("%s/metadata/%" PRIu64 ".snap", r.dir, idx[i]);
        rv = remove_file(&r, json);
        if (rv == 0) {
            rv = remove_file(&r, snap);
        }
        free(json);
        free(snap);
    }
    if (rv == 0 && !r.dry_run && n > keep) {
        char *meta = xasprintf("%s/metadata", r.dir);
        rv = sync_dir("backup-prune", meta);
        free(meta);
    }
    if (rv == 0) {
        qsort(r.keep, r.n_keep, BLOB_HASH_BYTES, hash_cmp);
        rv = sweep_blobs(&r);
    }
    if (rv == 0) {
        print_prune(cli, &r, idx, n, (size_t)keep);
    }
    free(r.keep);
    free(idx);
    free(a.pos);
    return rv;
}
