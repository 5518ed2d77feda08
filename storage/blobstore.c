/* The blob store (see blobstore.h): opening, counting and the reserve; hashing and
 * checksums; writers, placing and the group commit; reads by name; removal,
 * quarantine and the walk over blobs/. Chunk lists and verification are in
 * blob_chunks.c. Blocks on disk I/O: worker threads only. */
#include "storage/blobstore_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <xxhash.h>

#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"

static int ensure_dir(const char *path, struct base_err *err)
{
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        return errno_fail(err, "mkdir", path);
    }
    return 0;
}

static void clean_tmp(const char *tmp_dir)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    unsigned removed = 0;
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "upload-", 7) == 0 && unlinkat(dirfd(d), e->d_name, 0) == 0) {
            removed++;
        }
    }
    closedir(d);
    if (removed > 0) {
        LOG_INFO("blobstore", "removed %u unfinished uploads from %s", removed, tmp_dir);
    }
}

struct tally {
    uint64_t bytes, count;
};

static bool tally_one(void *arg, const uint8_t hash[BLOB_HASH_BYTES], uint64_t size,
                      uint64_t mtime_ms)
{
    struct tally *t = arg;
    (void)hash;
    (void)mtime_ms;
    t->bytes += size;
    t->count++;
    return true;
}

static void count_blobs(struct blob_store *bs)
{
    struct tally t = {0};
    blob_walk(bs, tally_one, &t);
    atomic_store(&bs->bytes, t.bytes);
    atomic_store(&bs->count, t.count);
}

uint64_t blob_store_bytes(const struct blob_store *bs)
{
    return atomic_load(&bs->bytes);
}

uint64_t blob_store_count(const struct blob_store *bs)
{
    return atomic_load(&bs->count);
}

uint64_t blob_store_free_bytes(const struct blob_store *bs)
{
    struct statvfs st;
    if (fstatvfs(bs->root_fd, &st) != 0) {
        return 0;
    }
    return (uint64_t)st.f_bavail * st.f_frsize;
}

uint64_t blob_store_total_bytes(const struct blob_store *bs)
{
    struct statvfs st;
    if (fstatvfs(bs->root_fd, &st) != 0) {
        return 0;
    }
    return (uint64_t)st.f_blocks * st.f_frsize;
}

#define RESERVE_NAME "reserve"

int blob_store_reserve(struct blob_store *bs, uint64_t bytes, struct base_err *err)
{
    int fd, rv;
    fd = openat(bs->root_fd, RESERVE_NAME, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return errno_fail(err, "create the reserve in", bs->root);
    }
    rv = posix_fallocate(fd, 0, (off_t)bytes);
    if (rv == 0 && fsync(fd) != 0) {
        rv = errno;
    }
    close(fd);
    if (rv != 0) {
        unlinkat(bs->root_fd, RESERVE_NAME, 0);
        base_err_set(err, "allocate a reserve of %llu bytes in %s: %s",
                     (unsigned long long)bytes, bs->root, strerror(rv));
        return base_err_from_errno(rv);
    }
    return 0;
}

int blob_store_release_reserve(struct blob_store *bs, struct base_err *err)
{
    if (unlinkat(bs->root_fd, RESERVE_NAME, 0) != 0 && errno != ENOENT) {
        return errno_fail(err, "delete the reserve in", bs->root);
    }
    return 0;
}

uint64_t blob_store_reserve_bytes(const struct blob_store *bs)
{
    struct stat st;
    if (fstatat(bs->root_fd, RESERVE_NAME, &st, 0) != 0) {
        return 0;
    }
    return (uint64_t)st.st_blocks * 512;
}

int blob_store_open(struct blob_store *bs, const char *root, struct base_err *err)
{
    int rv;
    memset(bs, 0, sizeof *bs);
    bs->root = xstrdup(root);
    bs->blob_dir = xasprintf("%s/blobs", root);
    bs->tmp_dir = xasprintf("%s/tmp", root);
    bs->chunk_dir = xasprintf("%s/chunks", root);
    bs->root_fd = -1;
    if ((rv = ensure_dir(root, err)) != 0 || (rv = ensure_dir(bs->blob_dir, err)) != 0 ||
        (rv = ensure_dir(bs->tmp_dir, err)) != 0 || (rv = ensure_dir(bs->chunk_dir, err)) != 0) {
        goto err_free;
    }
    bs->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bs->root_fd < 0) {
        rv = errno_fail(err, "open", root);
        goto err_free;
    }
    clean_tmp(bs->tmp_dir);
    count_blobs(bs);
    bs->verified = blob_verified_new();
    return 0;

err_free:
    blob_store_close(bs);
    return rv;
}

void blob_store_close(struct blob_store *bs)
{
    if (bs->root_fd >= 0) {
        close(bs->root_fd);
    }
    free(bs->root);
    free(bs->blob_dir);
    free(bs->tmp_dir);
    free(bs->chunk_dir);
    blob_verified_free(bs->verified);
    memset(bs, 0, sizeof *bs);
    bs->root_fd = -1;
}

void blob_hash_init(crypto_generichash_state *st)
{
    crypto_generichash_init(st, NULL, 0, BLOB_HASH_BYTES);
}

void blob_hash_update(crypto_generichash_state *st, const void *data, size_t len)
{
    crypto_generichash_update(st, data, len);
}

void blob_hash_final(crypto_generichash_state *st, uint8_t out[BLOB_HASH_BYTES])
{
    crypto_generichash_final(st, out, BLOB_HASH_BYTES);
}

void blob_check_init(struct blob_check *c)
{
    c->state = XXH3_createState();
    ASSERT(c->state != NULL);
    XXH3_64bits_reset(c->state);
}

void blob_check_update(struct blob_check *c, const void *data, size_t len)
{
    XXH3_64bits_update(c->state, data, len);
}

uint64_t blob_check_final(struct blob_check *c)
{
    uint64_t v = XXH3_64bits_digest(c->state);
    blob_check_discard(c);
    return v;
}

void blob_check_discard(struct blob_check *c)
{
    XXH3_freeState(c->state);
    c->state = NULL;
}

/* ---- Writers ---- */

int blob_tmp_open(const struct blob_store *bs, char path[PATH_MAX], struct base_err *err)
{
    int fd;
    snprintf(path, PATH_MAX, "%s/upload-XXXXXX", bs->tmp_dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        int rv = errno_fail(err, "create temp file in", bs->tmp_dir);
        path[0] = '\0';
        return rv;
    }
    return fd;
}

int blob_writer_open(struct blob_store *bs, struct blob_writer *w, struct base_err *err)
{
    memset(w, 0, sizeof *w);
    w->fd = blob_tmp_open(bs, w->tmp_path, err);
    if (w->fd < 0) {
        return w->fd;
    }
    blob_hash_init(&w->hash_state);
    blob_check_init(&w->check_state);
    blob_chunker_init(&w->chunker);
    return 0;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct base_err *err)
{
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(w->fd, p, left);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_fail(err, "write", w->tmp_path);
        }
        p += n;
        left -= (size_t)n;
    }
    blob_hash_update(&w->hash_state, data, len);
    blob_check_update(&w->check_state, data, len);
    blob_chunker_update(&w->chunker, data, len);
    w->size += len;
    return 0;
}

int blob_writer_finish(struct blob_writer *w, bool sync, struct base_err *err)
{
    struct base_err why = {{0}};
    blob_hash_final(&w->hash_state, w->hash);
    w->check = blob_check_final(&w->check_state);
    blob_chunker_final(&w->chunker);
    /* The chunk list beside the temp file, from the bytes just hashed. Not synced on its
     * own: the batch's syncfs covers it, and one lost in a crash is rebuilt. Without
     * one the blob is still good, so a failure here is only logged. */
    snprintf(w->chunks_tmp_path, sizeof w->chunks_tmp_path, "%s.chunks", w->tmp_path);
    if (blob_chunks_write_file(w->chunks_tmp_path, w->hash, w->size, &w->chunker, &why) != 0) {
        LOG_WARN("blobstore", "chunk list not written (reads rebuild it): %s", why.msg);
        w->chunks_tmp_path[0] = '\0';
    }
    blob_chunker_free(&w->chunker);
    if (sync && fdatasync(w->fd) != 0) {
        int rv = errno_fail(err, "fdatasync", w->tmp_path);
        close(w->fd);
        w->fd = -1;
        return rv;
    }
    w->synced = sync;
    if (close(w->fd) != 0) {
        w->fd = -1;
        return errno_fail(err, "close", w->tmp_path);
    }
    w->fd = -1;
    w->finished = true;
    return 0;
}

void blob_writer_abort(struct blob_writer *w)
{
    if (w->check_state.state != NULL) {
        blob_check_discard(&w->check_state);
    }
    blob_chunker_free(&w->chunker);
    if (w->chunks_tmp_path[0] != '\0') {
        unlink(w->chunks_tmp_path);
        w->chunks_tmp_path[0] = '\0';
    }
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->tmp_path[0] != '\0') {
        unlink(w->tmp_path);
        w->tmp_path[0] = '\0';
    }
}

void blob_path(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], char *buf,
               size_t size)
{
    char hex[BLOB_HEX_BYTES];
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    snprintf(buf, size, "%s/%.2s/%.2s/%s", bs->blob_dir, hex, hex + 2, hex);
}

/* Creates @top/ab and @top/ab/cd for @hash (@top: blobs/ or chunks/). New directories
 * become durable with the batch's final syncfs. */
int blob_make_parents(const char *top, const uint8_t hash[BLOB_HASH_BYTES],
                      struct base_err *err)
{
    char hex[BLOB_HEX_BYTES];
    char dir[PATH_MAX];
    int rv;
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    snprintf(dir, sizeof dir, "%s/%.2s", top, hex);
    if ((rv = ensure_dir(dir, err)) != 0) {
        return rv;
    }
    snprintf(dir, sizeof dir, "%s/%.2s/%.2s", top, hex, hex + 2);
    return ensure_dir(dir, err);
}

/* After the blob is in place: its chunk list follows (replacing any, which can only
 * be damaged or equal: every list of a hash describes the same bytes). A blob whose
 * list did not make it is still good: the list is rebuilt when needed. */
static void place_chunks(struct blob_store *bs, struct blob_writer *w)
{
    struct base_err err = {{0}};
    if (w->chunks_tmp_path[0] == '\0') {
        return;
    }
    if (blob_chunks_install(bs, w->hash, w->chunks_tmp_path, &err) != 0) {
        LOG_WARN("blobstore", "chunk list not stored (reads rebuild it): %s", err.msg);
    }
    w->chunks_tmp_path[0] = '\0';
}

static int place(struct blob_store *bs, struct blob_writer *w, bool sync, struct base_err *err)
{
    char path[PATH_MAX];
    struct stat st;
    int rv;
    ASSERT(w->finished);
    ASSERT(w->synced || !sync);
    blob_path(bs, w->hash, path, sizeof path);
    bool replaces = stat(path, &st) == 0;
    if (replaces && (uint64_t)st.st_size == w->size) {
        /* Same content already stored: keep the existing copy, fresh again, so that
         * garbage collection waits its grace period before it may delete it (the
         * record that needs it may be on its way). */
        unlink(w->tmp_path);
        w->tmp_path[0] = '\0';
        utimensat(AT_FDCWD, path, NULL, 0);
        w->existed = true;
        place_chunks(bs, w);
        return 0;
    }
    if ((rv = blob_make_parents(bs->blob_dir, w->hash, err)) != 0) {
        return rv;
    }
    if (rename(w->tmp_path, path) != 0) {
        return errno_fail(err, "rename into", path);
    }
    w->tmp_path[0] = '\0';
    place_chunks(bs, w);
    if (replaces) {
        atomic_fetch_sub(&bs->bytes, (uint64_t)st.st_size); /* a torn copy replaced */
    } else {
        atomic_fetch_add(&bs->count, 1);
    }
    atomic_fetch_add(&bs->bytes, w->size);
    return 0;
}

static int sync_fs(struct blob_store *bs, struct base_err *err)
{
    if (syncfs(bs->root_fd) != 0) {
        return errno_fail(err, "syncfs", bs->root);
    }
    return 0;
}

int blob_commit_batch(struct blob_store *bs, struct blob_writer **writers, size_t n,
                      int *results, bool sync, struct base_err *err)
{
    int first = 0;
    int rv;
    /* The bytes are durable already (blob_writer_finish with sync): a crash can never
     * leave a torn file under a valid name, which dedup would then trust. */
    for (size_t i = 0; i < n; i++) {
        results[i] = place(bs, writers[i], sync, err);
        if (results[i] != 0 && first == 0) {
            first = results[i];
        }
    }
    if (sync && (rv = sync_fs(bs, err)) != 0) {
        for (size_t i = 0; i < n; i++) {
            results[i] = rv;
        }
        return rv;
    }
    return first;
}

bool blob_exists(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES])
{
    char path[PATH_MAX];
    blob_path(bs, hash, path, sizeof path);
    return access(path, F_OK) == 0;
}

int blob_open(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], int *fd,
              uint64_t *size, struct base_err *err)
{
    struct blob_ident ident;
    int rv = blob_open_ident(bs, hash, fd, &ident, err);
    *size = rv == 0 ? ident.size : 0;
    return rv;
}

int blob_open_ident(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], int *fd,
                    struct blob_ident *ident, struct base_err *err)
{
    char path[PATH_MAX];
    struct stat st;
    int f;
    blob_path(bs, hash, path, sizeof path);
    f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) {
        return errno_fail(err, "open", path);
    }
    if (fstat(f, &st) != 0) {
        int rv = errno_fail(err, "stat", path);
        close(f);
        return rv;
    }
    *fd = f;
    blob_ident_of(&st, ident);
    return 0;
}

/* Forgets a blob that left the store: its bytes and count. */
static void count_out(struct blob_store *bs, uint64_t size)
{
    atomic_fetch_sub(&bs->bytes, size);
    atomic_fetch_sub(&bs->count, 1);
}

/* The chunk list goes first: a crash in between leaves a blob without one (rebuilt
 * when needed), never a list without its blob. */
static void remove_chunks(struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES])
{
    char path[PATH_MAX];
    blob_chunks_path(bs, hash, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT) {
        LOG_WARN("blobstore", "unlink %s: %s", path, strerror(errno));
    }
}

static uint64_t mtime_ms(const struct stat *st)
{
    return (uint64_t)st->st_mtim.tv_sec * 1000 + (uint64_t)st->st_mtim.tv_nsec / 1000000;
}

int blob_remove(struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                uint64_t older_than_ms, uint64_t now_ms, struct base_err *err)
{
    char path[PATH_MAX];
    struct stat st;
    blob_path(bs, hash, path, sizeof path);
    if (stat(path, &st) != 0) {
        return errno_fail(err, "stat", path);
    }
    if (mtime_ms(&st) + older_than_ms > now_ms) {
        base_err_set(err, "%s is younger than %llu ms", path, (unsigned long long)older_than_ms);
        return BASE_ERETRY;
    }
    remove_chunks(bs, hash);
    blob_verified_forget(bs, hash);
    if (unlink(path) != 0) {
        return errno_fail(err, "unlink", path);
    }
    count_out(bs, (uint64_t)st.st_size);
    return 0;
}

int blob_quarantine(struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], uint64_t now_ms,
                    struct base_err *err)
{
    char path[PATH_MAX], dir[PATH_MAX], to[PATH_MAX + 96];
    char hex[BLOB_HEX_BYTES];
    struct stat st;
    int rv;
    blob_path(bs, hash, path, sizeof path);
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    snprintf(dir, sizeof dir, "%s/quarantine", bs->root);
    if ((rv = ensure_dir(dir, err)) != 0) {
        return rv;
    }
    if (stat(path, &st) != 0) {
        return errno_fail(err, "stat", path);
    }
    remove_chunks(bs, hash);
    blob_verified_forget(bs, hash);
    snprintf(to, sizeof to, "%s/%s.%llu", dir, hex, (unsigned long long)now_ms);
    if (rename(path, to) != 0) {
        return errno_fail(err, "rename to", to);
    }
    count_out(bs, (uint64_t)st.st_size);
    LOG_WARN("blobstore", "blob %s does not match its hash: moved to %s", hex, to);
    return 0;
}

/* Calls @cb for each file at @depth 2 below blobs/ whose name is a hash. */
static bool walk_dir(int fd, int depth, blob_walk_cb cb, void *arg)
{
    DIR *d = fdopendir(fd);
    struct dirent *e;
    bool go_on = true;
    if (d == NULL) {
        close(fd);
        return true;
    }
    while (go_on && (e = readdir(d)) != NULL) {
        uint8_t hash[BLOB_HASH_BYTES];
        struct stat st;
        if (e->d_name[0] == '.') {
            continue;
        }
        if (depth < 2) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub >= 0) {
                go_on = walk_dir(sub, depth + 1, cb, arg);
            }
        } else if (strlen(e->d_name) == 2 * BLOB_HASH_BYTES &&
                   hex_decode(e->d_name, hash, sizeof hash) &&
                   fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode)) {
            go_on = cb(arg, hash, (uint64_t)st.st_size, mtime_ms(&st));
        }
    }
    closedir(d);
    return go_on;
}

void blob_walk(struct blob_store *bs, blob_walk_cb cb, void *arg)
{
    int fd = open(bs->blob_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        walk_dir(fd, 0, cb, arg);
    }
}
