/* Chunk lists (see storage/README.md for the format): building them while a blob is
 * written or verified, writing, reading and checking them, rebuilding a missing or
 * damaged one from a whole-blob pass, verified chunk reads for ranges, and the
 * whole-blob verification the scrubber runs. Blocks on disk I/O: worker threads only. */
#include "storage/blobstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"

/* ---- Chunk lists ----
 *
 * chunks/ab/cd/<hash>, little-endian:
 *   0   8 bytes  magic "IMGCHK2\n"
 *   8   4        chunk size (BLOB_CHUNK_BYTES; any other size is rebuilt)
 *   12  4        zero
 *   16  8        the blob's size
 *   24  16 * n   XXH3-128 of each chunk (big-endian), n = size / chunk size rounded up
 *   ..  32       seal: BLAKE2b-256 keyed with the blob's hash, of all bytes before it
 * The seal ties the list to its blob and catches any damage to it; a list is only ever
 * written from bytes whose BLAKE2b-256 is the blob's name. A list of the first format
 * ("IMGCHK1\n", BLAKE2b-256 per chunk) counts as missing: it is rebuilt, quietly. */

#define CHUNKS_MAGIC "IMGCHK2\n"
#define CHUNKS_MAGIC_V1 "IMGCHK1\n"
#define CHUNKS_HEAD 24u

static void chunk_sum(const void *data, size_t len, uint8_t out[BLOB_CHUNK_SUM_BYTES])
{
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits(data, len));
    memcpy(out, canon.digest, BLOB_CHUNK_SUM_BYTES);
}

void blob_chunker_init(struct blob_chunker *c)
{
    memset(c, 0, sizeof *c);
    c->state = XXH3_createState();
    ASSERT(c->state != NULL);
    XXH3_128bits_reset(c->state);
}

static void chunker_close_one(struct blob_chunker *c)
{
    XXH128_canonical_t canon;
    if (c->count == c->cap) {
        c->cap = c->cap == 0 ? 16 : 2 * c->cap;
        c->hashes = xrealloc(c->hashes, c->cap * BLOB_CHUNK_SUM_BYTES);
    }
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(c->state));
    memcpy(c->hashes + c->count * BLOB_CHUNK_SUM_BYTES, canon.digest, BLOB_CHUNK_SUM_BYTES);
    c->count++;
    c->fill = 0;
    XXH3_128bits_reset(c->state);
}

void blob_chunker_update(struct blob_chunker *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        uint64_t room = BLOB_CHUNK_BYTES - c->fill;
        size_t n = len < room ? len : (size_t)room;
        XXH3_128bits_update(c->state, p, n);
        c->fill += n;
        p += n;
        len -= n;
        if (c->fill == BLOB_CHUNK_BYTES) {
            chunker_close_one(c);
        }
    }
}

/* Closes the last, partial chunk. */
void blob_chunker_final(struct blob_chunker *c)
{
    if (c->fill > 0) {
        chunker_close_one(c);
    }
}

void blob_chunker_free(struct blob_chunker *c)
{
    free(c->hashes);
    c->hashes = NULL;
    c->count = c->cap = 0;
    XXH3_freeState(c->state);
    c->state = NULL;
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
    size_t n = CHUNKS_HEAD + (size_t)count * BLOB_CHUNK_SUM_BYTES + BLOB_HASH_BYTES;
    uint8_t *buf = xmalloc(n);
    ASSERT(count == chunk_count(size));
    memcpy(buf, CHUNKS_MAGIC, 8);
    put_le(buf + 8, BLOB_CHUNK_BYTES, 4);
    put_le(buf + 12, 0, 4);
    put_le(buf + 16, size, 8);
    if (count > 0) {
        memcpy(buf + CHUNKS_HEAD, hashes, (size_t)count * BLOB_CHUNK_SUM_BYTES);
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
/* Writes the chunk list of @c to @fd (open on @path, closed here); removes @path when
 * anything fails. */
static int chunks_write_fd(int fd, const char *path, const uint8_t hash[BLOB_HASH_BYTES],
                           uint64_t size, const struct blob_chunker *c, struct base_err *err)
{
    size_t len;
    uint8_t *buf = chunks_encode(hash, size, c->hashes, c->count, &len);
    int rv = write_all(fd, buf, len, path, err);
    free(buf);
    if (close(fd) != 0 && rv == 0) {
        rv = errno_fail(err, "close", path);
    }
    if (rv != 0) {
        unlink(path);
    }
    return rv;
}

int blob_chunks_write_file(const char *path, const uint8_t hash[BLOB_HASH_BYTES],
                           uint64_t size, const struct blob_chunker *c,
                           struct base_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return errno_fail(err, "create", path);
    }
    return chunks_write_fd(fd, path, hash, size, c, err);
}

void blob_chunks_path(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                      char *buf, size_t size)
{
    char hex[BLOB_HEX_BYTES];
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    snprintf(buf, size, "%s/%.2s/%.2s/%s", bs->chunk_dir, hex, hex + 2, hex);
}

/* Renames the list at @from into place for @hash; on failure @from is removed. No sync:
 * a list lost or torn by a crash is rebuilt from its blob. */
int blob_chunks_install(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                        const char *from, struct base_err *err)
{
    char path[PATH_MAX];
    int rv;
    blob_chunks_path(bs, hash, path, sizeof path);
    if ((rv = blob_make_parents(bs->chunk_dir, hash, err)) != 0) {
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

/* Whether the list open as @fd starts with the first format's magic. */
static bool chunks_is_v1(int fd)
{
    char magic[8];
    return pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
           memcmp(magic, CHUNKS_MAGIC_V1, sizeof magic) == 0;
}

/* Reads and checks the list of @hash for a blob of @size bytes: 0 and @out filled,
 * BASE_ENOTFOUND when there is none (or one of the first format), BASE_ECORRUPT when
 * it is damaged or not this blob's (err says how), BASE_EIO when unreadable. */
static int chunks_read_file(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                            uint64_t size, struct blob_chunks *out, struct base_err *err)
{
    char path[PATH_MAX];
    uint8_t seal[BLOB_HASH_BYTES];
    struct stat st;
    uint64_t count = chunk_count(size);
    uint64_t want = CHUNKS_HEAD + count * BLOB_CHUNK_SUM_BYTES + BLOB_HASH_BYTES;
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
    if ((uint64_t)st.st_size != want && chunks_is_v1(fd)) {
        base_err_set(err, "%s: a list of the first format", path);
        close(fd);
        return BASE_ENOTFOUND;
    }
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
    out->hashes = xmalloc(count > 0 ? (size_t)count * BLOB_CHUNK_SUM_BYTES : 1);
    memcpy(out->hashes, buf + CHUNKS_HEAD, (size_t)count * BLOB_CHUNK_SUM_BYTES);
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
    int fd = blob_tmp_open(bs, tmp, &err);
    if (fd >= 0 && chunks_write_fd(fd, tmp, hash, size, c, &err) == 0 &&
        blob_chunks_install(bs, hash, tmp, &err) == 0) {
        return;
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
            blob_chunker_update(c, buf, (size_t)n);
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
            blob_chunker_final(c);
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
    blob_chunker_init(&c);
    if ((rv = hash_blob(fd, &c, whole, NULL, NULL, err)) != 0) {
        blob_chunker_free(&c);
        return rv;
    }
    if (sodium_memcmp(whole, hash, BLOB_HASH_BYTES) != 0 || c.count != chunk_count(size)) {
        blob_chunker_free(&c);
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
    c.hashes = NULL; /* now out's */
    blob_chunker_free(&c);
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
    uint8_t got_sum[BLOB_CHUNK_SUM_BYTES];
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
    chunk_sum(buf, n, got_sum);
    if (memcmp(got_sum, c->hashes + index * BLOB_CHUNK_SUM_BYTES, BLOB_CHUNK_SUM_BYTES) != 0) {
        base_err_set(err, "blob chunk %llu (bytes %llu-%llu) does not match its chunk list",
                     (unsigned long long)index, (unsigned long long)off,
                     (unsigned long long)(off + n - 1));
        return BASE_ECORRUPT;
    }
    *len = n;
    return 0;
}

/* ---- Verification ---- */

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
    struct blob_ident ident;
    uint64_t size;
    int fd;
    int rv = blob_open_ident(bs, hash, &fd, &ident, err);
    if (rv != 0) {
        return rv;
    }
    size = ident.size;
    blob_chunker_init(&c);
    rv = hash_blob(fd, chunks ? &c : NULL, got, on_read, arg, err);
    close(fd);
    if (rv == 0 && sodium_memcmp(got, hash, BLOB_HASH_BYTES) != 0) {
        rv = content_mismatch(hash, err);
    }
    if (rv == 0) {
        blob_verified_note(bs, hash, &ident, clock_mono_ns() / 1000000);
    } else if (rv == BASE_ECORRUPT) {
        blob_verified_forget(bs, hash);
    }
    if (rv != 0 || !chunks) {
        blob_chunker_free(&c);
        return rv;
    }
    /* The content is good: its list must say what this pass computed. */
    rv = chunks_read_file(bs, hash, size, &list, &why);
    if (rv == BASE_ENOTFOUND) {
        f = BLOB_CHUNKS_MISSING;
    } else if (rv != 0 || list.count != c.count ||
               memcmp(list.hashes, c.hashes, (size_t)c.count * BLOB_CHUNK_SUM_BYTES) != 0) {
        f = BLOB_CHUNKS_BAD;
    } else {
        f = BLOB_CHUNKS_GOOD;
    }
    blob_chunks_free(&list);
    if (f != BLOB_CHUNKS_GOOD && fix_chunks && c.count == chunk_count(size)) {
        chunks_rebuild_file(bs, hash, size, &c);
    }
    blob_chunker_free(&c);
    if (found != NULL) {
        *found = f;
    }
    return 0;
}
