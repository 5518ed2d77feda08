/* Adopting a store restored from a backup: see restore.h. */
#include "archive/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "storage/store_swap.h"

/* Records rewritten per batch. */
#define ADOPT_BATCH 4096
#define MARKER_MAGIC "imgarc-restored 1 index "

static int fail_errno(struct base_err *err, const char *what, const char *path)
{
    int e = errno;
    base_err_set(err, "%s %s: %s", what, path, strerror(e));
    return base_err_from_errno(e);
}

int archive_restore_mark(const char *data_dir, uint64_t index, struct base_err *err)
{
    char *path = xasprintf("%s/%s", data_dir, ARCHIVE_RESTORE_MARKER);
    char *tmp = xasprintf("%s.tmp", path);
    char text[64];
    int n = snprintf(text, sizeof text, MARKER_MAGIC "%" PRIu64 "\n", index);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rv = 0;
    if (fd < 0) {
        rv = fail_errno(err, "create", tmp);
    } else {
        if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
            rv = fail_errno(err, "write", tmp);
        }
        close(fd);
    }
    if (rv == 0 && rename(tmp, path) != 0) {
        rv = fail_errno(err, "rename", tmp);
    }
    if (rv == 0) {
        rv = storage_fsync_dir(data_dir, err);
    } else {
        unlink(tmp);
    }
    free(tmp);
    free(path);
    return rv;
}

int archive_restore_marked(const char *data_dir, uint64_t *index, struct base_err *err)
{
    char *path = xasprintf("%s/%s", data_dir, ARCHIVE_RESTORE_MARKER);
    char text[64] = "";
    char *end;
    FILE *f = fopen(path, "re");
    int rv = 0;
    if (f == NULL) {
        rv = errno == ENOENT ? BASE_ENOTFOUND : fail_errno(err, "open", path);
        free(path);
        return rv;
    }
    if (fgets(text, sizeof text, f) == NULL ||
        strncmp(text, MARKER_MAGIC, strlen(MARKER_MAGIC)) != 0) {
        rv = BASE_ECORRUPT;
    } else {
        const char *v = text + strlen(MARKER_MAGIC);
        errno = 0;
        *index = strtoull(v, &end, 10);
        if (*v < '0' || *v > '9' || errno != 0 || *end != '\n' || *index == 0) {
            rv = BASE_ECORRUPT;
        }
    }
    fclose(f);
    if (rv == BASE_ECORRUPT) {
        base_err_set(err, "%s is not a restore marker (\"%s<index>\"); was the restore "
                          "cut short? run imgarc restore again into an empty data dir",
                     path, MARKER_MAGIC);
    }
    free(path);
    return rv;
}

int archive_restore_unmark(const char *data_dir, struct base_err *err)
{
    char *path = xasprintf("%s/%s", data_dir, ARCHIVE_RESTORE_MARKER);
    int rv = 0;
    if (unlink(path) != 0 && errno != ENOENT) {
        rv = fail_errno(err, "remove", path);
    }
    free(path);
    return rv != 0 ? rv : storage_fsync_dir(data_dir, err);
}

/* Deletes every member record. */
static int forget_members(struct rocks *db, struct rocks_batch *b, size_t *n,
                          struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(db, ARCHIVE_CF_NODES, "", 0);
    int rv;
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen;
        const char *key = rocks_iter_key(it, &klen);
        rocks_batch_delete(b, ARCHIVE_CF_NODES, key, klen);
        (*n)++;
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

int archive_restore_adopt(struct rocks *db, uint64_t node_id, archive_held_fn held, void *arg,
                          struct base_err *err)
{
    struct rocks_batch *b = rocks_batch_new(db);
    struct rocks_iter *it;
    size_t members = 0, blobs = 0, kept = 0, missing = 0, pending = 0;
    int rv = forget_members(db, b, &members, err);
    it = rocks_iter_new(db, ARCHIVE_CF_BLOBS, "", 0);
    for (rocks_iter_first(it); rv == 0 && rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocks_iter_key(it, &klen);
        const char *val = rocks_iter_value(it, &vlen);
        BlobRecord *rec;
        uint64_t self = node_id;
        uint8_t *packed;
        size_t len;
        bool have;
        if (klen != 32 || (rec = blob_record__unpack(NULL, vlen, (const uint8_t *)val)) ==
                              NULL) {
            continue; /* left for the keeper's checks, as on any node */
        }
        have = held((const uint8_t *)key, arg);
        if (have) {
            kept++;
        } else if (rec->refs > 0) {
            missing++;
        }
        blobs++;
        {
            /* The record lists this node alone when it has the blob, else no one. */
            uint64_t *old = rec->holders;
            size_t n_old = rec->n_holders;
            rec->holders = have ? &self : NULL;
            rec->n_holders = have ? 1 : 0;
            len = blob_record__get_packed_size(rec);
            packed = xmalloc(len > 0 ? len : 1);
            blob_record__pack(rec, packed);
            rec->holders = old;
            rec->n_holders = n_old;
        }
        rocks_batch_put(b, ARCHIVE_CF_BLOBS, key, klen, packed, len);
        free(packed);
        blob_record__free_unpacked(rec, NULL);
        if (++pending == ADOPT_BATCH) {
            rv = rocks_write(db, b, false, err);
            rocks_batch_clear(b);
            pending = 0;
        }
    }
    if (rv == 0) {
        rv = rocks_iter_status(it, err);
    }
    rocks_iter_free(it);
    if (rv == 0) {
        blob_index_forget(b);
        rv = rocks_write(db, b, true, err);
    }
    rocks_batch_free(b);
    if (rv == 0) {
        LOG_INFO("restore", "adopted the restored store as node %" PRIu64 ": forgot %zu "
                 "members of the backed-up cluster; %zu blob records, %zu with their "
                 "content here, %zu referenced ones without", node_id, members, blobs, kept,
                 missing);
        if (missing > 0) {
            LOG_WARN("restore", "%zu referenced blobs are not on this node: the backup "
                     "lacked them; their files answer errors until the content is put "
                     "back (imgarc backup verify names them)", missing);
        }
    }
    return rv;
}
