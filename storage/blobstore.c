#include "blobstore.h"

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

static int errno_fail(struct base_err *err, const char *what, const char *path)
{
    int e = errno;
    base_err_set(err, "%s %s: %s", what, path, strerror(e));
    return base_err_from_errno(e);
}

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

/* ---- Chunk lists ----
 *
 * chunks/ab/cd/<hash>, little-endian:
 *   0   8 bytes  magic "IMGCHK1\n"
 *   8   4        chunk size (BLOB_CHUNK_BYTES; any other size is rebuilt)
 *   12  4        zero
 *   16  8        the blob's size
 *   24  32 * n   BLAKE2b-256 of each chunk, n = size / chunk size rounded up
 *   ..  32       seal: BLAKE2b-256 keyed with the blob's hash, of all bytes before it
 * The seal ties the list to its blob and catches any damage to it; a list is only ever
 * written from bytes whose BLAKE2b-256 is the blob's name. */

#define CHUNKS_MAGIC "IMGCHK1\n"
#define CHUNKS_HEAD 24u

static void chunker_init(struct blob_chunker *c)
{
    memset(c, 0, sizeof *c);
    blob_hash_init(&c->state);
}

static void chunker_close_one(struct blob_chunker *c)
{
    if (c->count == c->cap) {
        c->cap = c->cap == 0 ? 16 : 2 * c->cap;
        c->hashes = xrealloc(c->hashes, c->cap * BLOB_HASH_BYTES);
    }
    blob_hash_final(&c->state, c->hashes + c->count * BLOB_HASH_BYTES);
    c->count++;
    c->fill = 0;
    blob_hash_init(&c->state);
}

static void chunker_update(struct blob_chunker *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        uint64_t room = BLOB_CHUNK_BYTES - c->fill;
        size_t n = len < room ? len : (size_t)room;
        blob_hash_update(&c->state, p, n);
        c->fill += n;
        p += n;
        len -= n;
        if (c->fill == BLOB_CHUNK_BYTES) {
            chunker_close_one(c);
        }
    }
}

/* Closes the last, partial chunk. */
static void chunker_final(struct blob_chunker *c)
{
    if (c->fill > 0) {
        chunker_close_one(c);
    }
}

static void chunker_free(struct blob_chunker *c)
{
    free(c->hashes);
    c->hashes = NULL;
    c->count = c->cap = 0;
}

static uint64_t chunk_count(uint64_t size)
{
    return size / BLOB_CHUNK_BYTES + (size % BLOB_CHUNK_BYTES != 0);
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static void chunks_seal(const uint8_t hash[BLOB_HASH_BYTES], const uint8_t *buf, size_t len,
                        uint8_t out[BLOB_HASH_BYTES])
{
    crypto_generichash(out, BLOB_HASH_BYTES, buf, len, hash, BLOB_HASH_BYTES);
}

/* The file's bytes for a list of @count hashes (count must fit @size). */
static uint8_t *chunks_encode(const uint8_t hash[BLOB_HASH_BYTES], uint64_t size,
                              const uint8_t *hashes, uint64_t count, size_t *len)
{
    size_t n = CHUNKS_HEAD + (size_t)count * BLOB_HASH_BYTES + BLOB_HASH_BYTES;
    uint8_t *buf = xmalloc(n);
    ASSERT(count == chunk_count(size));
    memcpy(buf, CHUNKS_MAGIC, 8);
    put_le(buf + 8, BLOB_CHUNK_BYTES, 4);
    put_le(buf + 12, 0, 4);
    put_le(buf + 16, size, 8);
    if (count > 0) {
        memcpy(buf + CHUNKS_HEAD, hashes, (size_t)count * BLOB_HASH_BYTES);
    }
    chunks_seal(hash, buf, n - BLOB_HASH_BYTES, buf + n - BLOB_HASH_BYTES);
    *len = n;
    return buf;
}

static int write_all(int fd, const void *data, size_t len, const char *path,
                     struct base_err *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_fail(err, "write", path);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes a chunk list to @path (created, must not exist). */
static int chunks_write_file(const char *path, const uint8_t hash[BLOB_HASH_BYTES],
                             uint64_t size, const struct blob_chunker *c,
                             struct base_err *err)
{
    size_t len;
    uint8_t *buf = chunks_encode(hash, size, c->hashes, c->count, &len);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rv;
    if (fd < 0) {
        free(buf);
        return errno_fail(err, "create", path);
    }
    rv = write_all(fd, buf, len, path, err);
    free(buf);
    if (close(fd) != 0 && rv == 0) {
        rv = errno_fail(err, "close", path);
    }
    if (rv != 0) {
        unlink(path);
    }
    return rv;
}

void blob_chunks_path(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                      char *buf, size_t size)
{
    char hex[BLOB_HEX_BYTES];
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    snprintf(buf, size, "%s/%.2s/%.2s/%s", bs->chunk_dir, hex, hex + 2, hex);
}

static int make_parents(const char *top, const uint8_t hash[BLOB_HASH_BYTES],
                        struct base_err *err);

/* Renames the list at @from into place for @hash; on failure @from is removed. No sync:
 * a list lost or torn by a crash is rebuilt from its blob. */
static int chunks_install(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                          const char *from, struct base_err *err)
{
    char path[PATH_MAX];
    int rv;
    blob_chunks_path(bs, hash, path, sizeof path);
    if ((rv = make_parents(bs->chunk_dir, hash, err)) != 0) {
        unlink(from);
        return rv;
    }
    if (rename(from, path) != 0) {
        rv = errno_fail(err, "rename into", path);
        unlink(from);
        return rv;
    }
    return 0;
}

/* Reads and checks the list of @hash for a blob of @size bytes: 0 and @out filled,
 * BASE_ENOTFOUND when there is none, BASE_ECORRUPT when it is damaged or not this
 * blob's (err says how), BASE_EIO when unreadable. */
static int chunks_read_file(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                            uint64_t size, struct blob_chunks *out, struct base_err *err)
{
    char path[PATH_MAX];
    uint8_t seal[BLOB_HASH_BYTES];
    struct stat st;
    uint64_t count = chunk_count(size);
    uint64_t want = CHUNKS_HEAD + count * BLOB_HASH_BYTES + BLOB_HASH_BYTES;
    uint8_t *buf;
    size_t got = 0;
    int fd, rv = 0;
    blob_chunks_path(bs, hash, path, sizeof path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno_fail(err, "open", path);
    }
    if (fstat(fd, &st) != 0) {
        rv = errno_fail(err, "stat", path);
        close(fd);
        return rv;
    }
    /* The size is checked before anything is read: the blob's size bounds it. */
    if ((uint64_t)st.st_size != want) {
        base_err_set(err, "%s: %llu bytes, a list for %llu bytes of blob has %llu", path,
                     (unsigned long long)st.st_size, (unsigned long long)size,
                     (unsigned long long)want);
        close(fd);
        return BASE_ECORRUPT;
    }
    buf = xmalloc((size_t)want);
    while (got < want) {
        ssize_t n = pread(fd, buf + got, (size_t)want - got, (off_t)got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rv = n < 0 ? errno_fail(err, "read", path) : BASE_ECORRUPT;
            if (n == 0) {
                base_err_set(err, "%s: shorter than it was", path);
            }
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (rv == 0) {
        chunks_seal(hash, buf, (size_t)want - BLOB_HASH_BYTES, seal);
        if (memcmp(buf, CHUNKS_MAGIC, 8) != 0 || get_le(buf + 8, 4) != BLOB_CHUNK_BYTES ||
            get_le(buf + 12, 4) != 0 || get_le(buf + 16, 8) != size ||
            sodium_memcmp(seal, buf + want - BLOB_HASH_BYTES, BLOB_HASH_BYTES) != 0) {
            base_err_set(err, "%s: damaged or not this blob's (header or seal)", path);
            rv = BASE_ECORRUPT;
        }
    }
    if (rv != 0) {
        free(buf);
        return rv;
    }
    out->size = size;
    out->count = count;
    out->hashes = xmalloc(count > 0 ? (size_t)count * BLOB_HASH_BYTES : 1);
    memcpy(out->hashes, buf + CHUNKS_HEAD, (size_t)count * BLOB_HASH_BYTES);
    free(buf);
    return 0;
}

/* Writes a new list for @hash through a temp file; failures are logged, not returned:
 * the list is rebuilt again next time. */
static void chunks_rebuild_file(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                                uint64_t size, const struct blob_chunker *c)
{
    struct base_err err = {{0}};
    char tmp[PATH_MAX];
    int fd;
    snprintf(tmp, sizeof tmp, "%s/upload-XXXXXX", bs->tmp_dir);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        errno_fail(&err, "create temp file in", bs->tmp_dir);
    } else {
        size_t len;
        uint8_t *buf = chunks_encode(hash, size, c->hashes, c->count, &len);
        int rv = write_all(fd, buf, len, tmp, &err);
        free(buf);
        if (close(fd) != 0 && rv == 0) {
            rv = errno_fail(&err, "close", tmp);
        }
        if (rv != 0) {
            unlink(tmp);
        } else if (chunks_install(bs, hash, tmp, &err) == 0) {
            return;
        }
    }
    LOG_WARN("blobstore", "chunk list not written (reads rebuild it again): %s", err.msg);
}

/* Hashes the whole blob open as @fd into @whole and, with @c, its chunks. */
static int hash_blob(int fd, struct blob_chunker *c, uint8_t whole[BLOB_HASH_BYTES],
                     bool (*on_read)(void *arg, size_t n), void *arg, struct base_err *err)
{
    crypto_generichash_state st;
    char *buf = xmalloc(1 << 20);
    uint64_t off = 0;
    int rv = 0;
    blob_hash_init(&st);
    for (;;) {
        ssize_t n = pread(fd, buf, 1 << 20, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rv = errno_fail(err, "read", "blob");
            break;
        }
        if (n == 0) {
            break;
        }
        off += (uint64_t)n;
        blob_hash_update(&st, buf, (size_t)n);
        if (c != NULL) {
            chunker_update(c, buf, (size_t)n);
        }
        if (on_read != NULL && !on_read(arg, (size_t)n)) {
            base_err_set(err, "verification stopped");
            rv = BASE_ECANCELED;
            break;
        }
    }
    free(buf);
    if (rv == 0) {
        blob_hash_final(&st, whole);
        if (c != NULL) {
            chunker_final(c);
        }
    }
    return rv;
}

static int content_mismatch(const uint8_t hash[BLOB_HASH_BYTES], struct base_err *err)
{
    char hex[BLOB_HEX_BYTES];
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    base_err_set(err, "blob %s: content does not match its hash", hex);
    return BASE_ECORRUPT;
}

int blob_chunks_load(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], int fd,
                     uint64_t size, struct blob_chunks *out, bool *rebuilt,
                     struct base_err *err)
{
    struct base_err why = {{0}};
    struct blob_chunker c;
    uint8_t whole[BLOB_HASH_BYTES];
    int had = chunks_read_file(bs, hash, size, out, &why);
    int rv;
    if (rebuilt != NULL) {
        *rebuilt = false;
    }
    if (had == 0) {
        return 0;
    }
    /* Missing (an older version's blob, a crash before the rename) or bad: the whole
     * blob is verified once against its name and the list built from the same pass. */
    chunker_init(&c);
    if ((rv = hash_blob(fd, &c, whole, NULL, NULL, err)) != 0) {
        chunker_free(&c);
        return rv;
    }
    if (sodium_memcmp(whole, hash, BLOB_HASH_BYTES) != 0 || c.count != chunk_count(size)) {
        chunker_free(&c);
        return content_mismatch(hash, err);
    }
    if (had != BASE_ENOTFOUND) {
        char hex[BLOB_HEX_BYTES];
        hex_encode(hash, BLOB_HASH_BYTES, hex);
        LOG_WARN("blobstore", "blob %s: chunk list rebuilt: %s", hex, why.msg);
    }
    chunks_rebuild_file(bs, hash, size, &c);
    out->size = size;
    out->count = c.count;
    out->hashes = c.hashes != NULL ? c.hashes : xmalloc(1);
    if (rebuilt != NULL) {
        *rebuilt = true;
    }
    return 0;
}

void blob_chunks_free(struct blob_chunks *c)
{
    free(c->hashes);
    memset(c, 0, sizeof *c);
}

int blob_chunk_read(const struct blob_chunks *c, int fd, uint64_t index, char *buf,
                    size_t *len, struct base_err *err)
{
    uint8_t got_hash[BLOB_HASH_BYTES];
    uint64_t off = index * BLOB_CHUNK_BYTES;
    size_t n, got = 0;
    ASSERT(index < c->count);
    n = c->size - off < BLOB_CHUNK_BYTES ? (size_t)(c->size - off) : BLOB_CHUNK_BYTES;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return errno_fail(err, "read", "blob");
        }
        if (r == 0) {
            base_err_set(err, "blob chunk %llu: file is shorter",
                         (unsigned long long)index);
            return BASE_ECORRUPT;
        }
        got += (size_t)r;
    }
    crypto_generichash(got_hash, BLOB_HASH_BYTES, (const uint8_t *)buf, n, NULL, 0);
    if (sodium_memcmp(got_hash, c->hashes + index * BLOB_HASH_BYTES, BLOB_HASH_BYTES) != 0) {
        base_err_set(err, "blob chunk %llu (bytes %llu-%llu) does not match its chunk list",
                     (unsigned long long)index, (unsigned long long)off,
                     (unsigned long long)(off + n - 1));
        return BASE_ECORRUPT;
    }
    *len = n;
    return 0;
}

/* ---- Writers ---- */

int blob_writer_open(struct blob_store *bs, struct blob_writer *w, struct base_err *err)
{
    memset(w, 0, sizeof *w);
    snprintf(w->tmp_path, sizeof w->tmp_path, "%s/upload-XXXXXX", bs->tmp_dir);
    w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
    if (w->fd < 0) {
        int rv = errno_fail(err, "create temp file in", bs->tmp_dir);
        w->tmp_path[0] = '\0';
        return rv;
    }
    blob_hash_init(&w->hash_state);
    blob_check_init(&w->check_state);
    chunker_init(&w->chunker);
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
    chunker_update(&w->chunker, data, len);
    w->size += len;
    return 0;
}

int blob_writer_finish(struct blob_writer *w, bool sync, struct base_err *err)
{
    struct base_err why = {{0}};
    blob_hash_final(&w->hash_state, w->hash);
    w->check = blob_check_final(&w->check_state);
    chunker_final(&w->chunker);
    /* The chunk list beside the temp file, from the bytes just hashed. Not synced on its
     * own: the batch's syncfs covers it, and one lost in a crash is rebuilt. Without
     * one the blob is still good, so a failure here is only logged. */
    snprintf(w->chunks_tmp_path, sizeof w->chunks_tmp_path, "%s.chunks", w->tmp_path);
    if (chunks_write_file(w->chunks_tmp_path, w->hash, w->size, &w->chunker, &why) != 0) {
        LOG_WARN("blobstore", "chunk list not written (reads rebuild it): %s", why.msg);
        w->chunks_tmp_path[0] = '\0';
    }
    chunker_free(&w->chunker);
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
    chunker_free(&w->chunker);
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
static int make_parents(const char *top, const uint8_t hash[BLOB_HASH_BYTES],
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
    if (chunks_install(bs, w->hash, w->chunks_tmp_path, &err) != 0) {
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
    if ((rv = make_parents(bs->blob_dir, w->hash, err)) != 0) {
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
    *size = (uint64_t)st.st_size;
    return 0;
}

int blob_verify(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                struct base_err *err)
{
    return blob_verify_paced(bs, hash, false, NULL, NULL, NULL, err);
}

int blob_verify_paced(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                      bool fix_chunks, bool (*on_read)(void *arg, size_t n), void *arg,
                      enum blob_chunks_found *found, struct base_err *err)
{
    struct blob_chunker c;
    struct blob_chunks list = {0};
    struct base_err why = {{0}};
    uint8_t got[BLOB_HASH_BYTES];
    bool chunks = found != NULL || fix_chunks;
    enum blob_chunks_found f;
    uint64_t size;
    int fd;
    int rv = blob_open(bs, hash, &fd, &size, err);
    if (rv != 0) {
        return rv;
    }
    chunker_init(&c);
    rv = hash_blob(fd, chunks ? &c : NULL, got, on_read, arg, err);
    close(fd);
    if (rv == 0 && sodium_memcmp(got, hash, BLOB_HASH_BYTES) != 0) {
        rv = content_mismatch(hash, err);
    }
    if (rv != 0 || !chunks) {
        chunker_free(&c);
        return rv;
    }
    /* The content is good: its list must say what this pass computed. */
    rv = chunks_read_file(bs, hash, size, &list, &why);
    if (rv == BASE_ENOTFOUND) {
        f = BLOB_CHUNKS_MISSING;
    } else if (rv != 0 || list.count != c.count ||
               memcmp(list.hashes, c.hashes, (size_t)c.count * BLOB_HASH_BYTES) != 0) {
        f = BLOB_CHUNKS_BAD;
    } else {
        f = BLOB_CHUNKS_GOOD;
    }
    blob_chunks_free(&list);
    if (f != BLOB_CHUNKS_GOOD && fix_chunks && c.count == chunk_count(size)) {
        chunks_rebuild_file(bs, hash, size, &c);
    }
    chunker_free(&c);
    if (found != NULL) {
        *found = f;
    }
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
