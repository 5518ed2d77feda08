/* The staging store, its READY marker and the swap (see store_swap.h for the order of
 * the steps and what a crash after each leaves). */
#define _XOPEN_SOURCE 700
#include "storage/store_swap.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/log.h"

#define READY_MAGIC "IMGREADY"
#define READY_VERSION 1u
#define READY_BODY 52 /* magic 8, version 4, index 8, hash 32 */
#define READY_SUM 16
#define PATH_BYTES 4096

static void put_be(uint8_t *out, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *in, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | in[i];
    }
    return v;
}

static void join(char *out, size_t size, const char *data_dir, const char *name)
{
    snprintf(out, size, "%s/%s", data_dir, name);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int fail_errno(struct base_err *err, const char *what, const char *path)
{
    int e = errno;
    base_err_set(err, "%s %s: %s", what, path, strerror(e));
    return base_err_from_errno(e);
}

int storage_fsync_dir(const char *path, struct base_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return fail_errno(err, "open directory", path);
    }
    if (fsync(fd) != 0) {
        int rv = fail_errno(err, "fsync directory", path);
        close(fd);
        return rv;
    }
    close(fd);
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D) {
        return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
    }
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int storage_remove_tree(const char *path, struct base_err *err)
{
    if (!exists(path)) {
        return 0;
    }
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        return fail_errno(err, "remove", path);
    }
    return 0;
}

static int rename_sync(const char *from, const char *to, struct base_err *err)
{
    if (rename(from, to) != 0) {
        int e = errno;
        base_err_set(err, "rename %s to %s: %s", from, to, strerror(e));
        return base_err_from_errno(e);
    }
    return 0;
}

void storage_staged_path(const char *data_dir, char *out, size_t size)
{
    join(out, size, data_dir, "catchup/store");
}

int storage_staged_discard(const char *data_dir, struct base_err *err)
{
    char dir[PATH_BYTES], ready[PATH_BYTES];
    int rv;
    join(dir, sizeof dir, data_dir, "catchup");
    join(ready, sizeof ready, data_dir, "catchup/READY");
    if (!exists(dir)) {
        return 0;
    }
    /* READY first and durably: a staging store half removed is never vouched for. */
    if (unlink(ready) == 0) {
        if ((rv = storage_fsync_dir(dir, err)) != 0) {
            return rv;
        }
    } else if (errno != ENOENT) {
        return fail_errno(err, "remove", ready);
    }
    if ((rv = storage_remove_tree(dir, err)) != 0) {
        return rv;
    }
    return storage_fsync_dir(data_dir, err);
}

int storage_staged_ready_parse(const void *buf, size_t len, uint64_t *index, uint8_t hash[32],
                               struct base_err *err)
{
    const uint8_t *p = buf;
    uint8_t sum[READY_SUM];
    uint64_t version;
    if (len != STORAGE_READY_BYTES) {
        base_err_set(err, "READY is %zu bytes, not %d", len, STORAGE_READY_BYTES);
        return BASE_ECORRUPT;
    }
    if (memcmp(p, READY_MAGIC, 8) != 0) {
        base_err_set(err, "READY does not start with " READY_MAGIC);
        return BASE_ECORRUPT;
    }
    crypto_generichash(sum, sizeof sum, p, READY_BODY, NULL, 0);
    if (sodium_memcmp(sum, p + READY_BODY, READY_SUM) != 0) {
        base_err_set(err, "READY does not match its checksum");
        return BASE_ECORRUPT;
    }
    version = get_be(p + 8, 4);
    if (version != READY_VERSION) {
        base_err_set(err, "READY is version %" PRIu64 "; this node reads version %u", version,
                     READY_VERSION);
        return BASE_ECORRUPT;
    }
    *index = get_be(p + 12, 8);
    if (hash != NULL) {
        memcpy(hash, p + 20, 32);
    }
    return 0;
}

int storage_staged_mark_ready(const char *data_dir, uint64_t index, const uint8_t hash[32],
                              struct base_err *err)
{
    char dir[PATH_BYTES], tmp[PATH_BYTES], ready[PATH_BYTES];
    uint8_t buf[STORAGE_READY_BYTES];
    size_t done = 0;
    int fd, rv;
    join(dir, sizeof dir, data_dir, "catchup");
    join(tmp, sizeof tmp, data_dir, "catchup/READY.tmp");
    join(ready, sizeof ready, data_dir, "catchup/READY");
    memcpy(buf, READY_MAGIC, 8);
    put_be(buf + 8, READY_VERSION, 4);
    put_be(buf + 12, index, 8);
    memcpy(buf + 20, hash, 32);
    crypto_generichash(buf + READY_BODY, READY_SUM, buf, READY_BODY, NULL, 0);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return fail_errno(err, "create", tmp);
    }
    while (done < sizeof buf) {
        ssize_t n = write(fd, buf + done, sizeof buf - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rv = n < 0 ? fail_errno(err, "write", tmp) : BASE_EIO;
            close(fd);
            unlink(tmp);
            return rv;
        }
        done += (size_t)n;
    }
    if (fsync(fd) != 0) {
        rv = fail_errno(err, "fsync", tmp);
        close(fd);
        unlink(tmp);
        return rv;
    }
    close(fd);
    if ((rv = rename_sync(tmp, ready, err)) != 0) {
        unlink(tmp);
        return rv;
    }
    return storage_fsync_dir(dir, err);
}

/* READY parsed, without looking at the store it names. */
static int read_ready(const char *data_dir, uint64_t *index, struct base_err *err)
{
    char ready[PATH_BYTES];
    uint8_t buf[STORAGE_READY_BYTES + 1];
    size_t len = 0;
    int fd, rv;
    join(ready, sizeof ready, data_dir, "catchup/READY");
    fd = open(ready, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            base_err_set(err, "no staged store (%s)", ready);
            return BASE_ENOTFOUND;
        }
        fail_errno(err, "open", ready);
        return BASE_ECORRUPT;
    }
    while (len < sizeof buf) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fail_errno(err, "read", ready);
            close(fd);
            return BASE_ECORRUPT;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    if ((rv = storage_staged_ready_parse(buf, len, index, NULL, err)) != 0) {
        base_err_wrap(err, "%s", ready);
        return rv;
    }
    return 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int storage_staged_ready(const char *data_dir, uint64_t *index, struct base_err *err)
{
    char store[PATH_BYTES];
    uint64_t at;
    int rv = read_ready(data_dir, &at, err);
    if (rv != 0) {
        return rv;
    }
    storage_staged_path(data_dir, store, sizeof store);
    if (!is_dir(store)) {
        base_err_set(err, "READY names a staged store, but %s is not there", store);
        return BASE_ECORRUPT;
    }
    *index = at;
    return 0;
}

/* Steps 2 to 5: catchup/store is (already) in place of meta. */
static int finish_swap(const char *data_dir, struct base_err *err)
{
    char meta[PATH_BYTES], old[PATH_BYTES], dir[PATH_BYTES], ready[PATH_BYTES];
    char store[PATH_BYTES];
    int rv;
    join(meta, sizeof meta, data_dir, "meta");
    join(old, sizeof old, data_dir, "meta.old");
    join(dir, sizeof dir, data_dir, "catchup");
    join(ready, sizeof ready, data_dir, "catchup/READY");
    storage_staged_path(data_dir, store, sizeof store);
    if (exists(store)) {
        /* 2: the second rename, made durable in both directories. */
        if ((rv = rename_sync(store, meta, err)) != 0 || (rv = storage_fsync_dir(data_dir, err)) != 0 ||
            (rv = storage_fsync_dir(dir, err)) != 0) {
            return rv;
        }
    }
    /* 3: READY goes only after the rename: from here meta is the new store. */
    if (unlink(ready) == 0) {
        if ((rv = storage_fsync_dir(dir, err)) != 0) {
            return rv;
        }
    } else if (errno != ENOENT) {
        return fail_errno(err, "remove", ready);
    }
    /* 4 and 5. */
    if ((rv = storage_remove_tree(dir, err)) != 0 || (rv = storage_fsync_dir(data_dir, err)) != 0 ||
        (rv = storage_remove_tree(old, err)) != 0) {
        return rv;
    }
    return storage_fsync_dir(data_dir, err);
}

int storage_staged_swap(const char *data_dir, struct base_err *err)
{
    char meta[PATH_BYTES], old[PATH_BYTES], store[PATH_BYTES];
    int rv;
    join(meta, sizeof meta, data_dir, "meta");
    join(old, sizeof old, data_dir, "meta.old");
    storage_staged_path(data_dir, store, sizeof store);
    if (!exists(store)) {
        base_err_set(err, "no staged store at %s to swap in", store);
        return BASE_ENOTFOUND;
    }
    if (exists(meta)) {
        /* A meta.old beside a live meta is a leftover of an earlier swap's last step. */
        if ((rv = storage_remove_tree(old, err)) != 0) {
            return rv;
        }
        /* 1. */
        if ((rv = rename_sync(meta, old, err)) != 0 || (rv = storage_fsync_dir(data_dir, err)) != 0) {
            return rv;
        }
    }
    return finish_swap(data_dir, err);
}

int storage_staged_recover(const char *data_dir, uint64_t *swapped_index, struct base_err *err)
{
    char meta[PATH_BYTES], old[PATH_BYTES], dir[PATH_BYTES], store[PATH_BYTES];
    struct base_err why = {{0}};
    uint64_t index = 0;
    bool ready, has_meta, has_old, has_store;
    int rv, rr;
    *swapped_index = 0;
    join(meta, sizeof meta, data_dir, "meta");
    join(old, sizeof old, data_dir, "meta.old");
    join(dir, sizeof dir, data_dir, "catchup");
    storage_staged_path(data_dir, store, sizeof store);
    rr = read_ready(data_dir, &index, &why);
    ready = rr == 0;
    has_meta = exists(meta);
    has_old = exists(old);
    has_store = is_dir(store);
    if (rr == BASE_ECORRUPT) {
        LOG_WARN("store", "%s; the staged store is not used", why.msg);
    }
    if (has_old && has_meta && !has_store) {
        /* After step 2: meta is the new store (the staging store is renamed into it only
         * after READY was written); READY, if still there, and the rest go. */
        LOG_INFO("store", "a store swap was cut short after its renames; finishing it "
                 "(%s is the new store)", meta);
        if ((rv = finish_swap(data_dir, err)) != 0) {
            return rv;
        }
        *swapped_index = ready ? index : 0;
        return 0;
    }
    if (has_old && has_meta) {
        /* Before step 1 (meta.old is a leftover of an earlier swap's last step). */
        LOG_INFO("store", "removing %s, left by an earlier store swap", old);
        if ((rv = storage_remove_tree(old, err)) != 0 || (rv = storage_fsync_dir(data_dir, err)) != 0) {
            return rv;
        }
        has_old = false;
    }
    if (ready && has_store) {
        /* Step 0 (READY written), or after step 1: the swap, from where it stopped (with
         * no live store at all, the staged one becomes it). */
        LOG_INFO("store", "swapping in the staged store at index %" PRIu64 "%s", index,
                 has_old ? " (a swap was cut short between its renames)" : "");
        rv = has_meta ? storage_staged_swap(data_dir, err) : finish_swap(data_dir, err);
        if (rv != 0) {
            return rv;
        }
        *swapped_index = index;
        return 0;
    }
    if (has_old) {
        /* After step 1 with no staged store READY vouches for: undo step 1. */
        LOG_WARN("store", "a store swap was cut short with no usable staged store; "
                 "moving %s back to %s", old, meta);
        if ((rv = rename_sync(old, meta, err)) != 0 || (rv = storage_fsync_dir(data_dir, err)) != 0) {
            return rv;
        }
    }
    if (exists(dir)) {
        LOG_INFO("store", "discarding an incomplete staged store (%s)",
                 rr == BASE_ENOTFOUND ? "no READY" : ready ? "no store" : "READY not valid");
        return storage_staged_discard(data_dir, err);
    }
    return 0;
}
