#include "rocks.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "base/assert.h"
#include "base/mem.h"

#define ROCKS_MEMTABLE_BYTES (8u << 20)
#define ROCKS_MEMTABLES_TOTAL_BYTES (32u << 20)
#define ROCKS_BLOCK_CACHE_BYTES (32u << 20)

/* Every call counts itself in @users while it uses the handles (an iterator or a
 * snapshot from its creation to its release, which may be on another thread: a count,
 * not a lock held by a thread); rocks_reopen() swaps the handles only when there are
 * none, and calls that begin meanwhile wait for it. */
struct rocks {
    pthread_mutex_t mu;
    pthread_cond_t reopened;
    unsigned users;      /* under mu */
    bool reopening;      /* under mu */
    unsigned iters, snaps; /* under mu: what holds rocks_reopen() off, for its message */
    char *dir;
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_column_family_handle_t *cfs[ROCKS_CF_MAX];
    const char *const *cf_names;
    unsigned n_cf;
    rocksdb_readoptions_t *read;
    rocksdb_writeoptions_t *write_async;
    rocksdb_writeoptions_t *write_sync;
};

/* Batches are indexed (WriteBatchWithIndex), so a command's own reads see what it
 * wrote before (rocks_batch_get): two changes of one counter in one command add up. */
struct rocks_batch {
    struct rocks *r;
    rocksdb_writebatch_wi_t *wb;
};

struct rocks_iter {
    struct rocks *r;
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *read;
    char *prefix;
    size_t plen;
};

unsigned rocks_cf_count(const struct rocks *r)
{
    return r->n_cf;
}

const char *rocks_cf_name(const struct rocks *r, unsigned cf)
{
    return cf < r->n_cf ? r->cf_names[cf] : "?";
}

/* A family number the caller passed: within the list it gave at open. */
static rocksdb_column_family_handle_t *cf_handle(const struct rocks *r, unsigned cf)
{
    ASSERT(cf < r->n_cf);
    return r->cfs[cf];
}

static int fail(struct base_err *err, char *rerr, const char *what)
{
    base_err_set(err, "rocksdb %s: %s", what, rerr != NULL ? rerr : "unknown error");
    free(rerr);
    return BASE_EIO;
}

/* @iters and @snaps count what the use is for. */
static void use(struct rocks *r, unsigned iters, unsigned snaps)
{
    pthread_mutex_lock(&r->mu);
    while (r->reopening) {
        pthread_cond_wait(&r->reopened, &r->mu);
    }
    r->users++;
    r->iters += iters;
    r->snaps += snaps;
    pthread_mutex_unlock(&r->mu);
}

static void unuse(struct rocks *r, unsigned iters, unsigned snaps)
{
    pthread_mutex_lock(&r->mu);
    ASSERT(r->users > 0);
    r->users--;
    r->iters -= iters;
    r->snaps -= snaps;
    pthread_mutex_unlock(&r->mu);
}

static void rd_lock(struct rocks *r)
{
    use(r, 0, 0);
}

static void rd_unlock(struct rocks *r)
{
    unuse(r, 0, 0);
}

/* Opens the database in r->dir into the handles of @r (options, cache and families). */
static int open_handles(struct rocks *r, struct base_err *err)
{
    const rocksdb_options_t *cf_opts[ROCKS_CF_MAX];
    char *rerr = NULL;
    r->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r->options, 1);
    rocksdb_options_set_create_missing_column_families(r->options, 1);
    rocksdb_options_set_paranoid_checks(r->options, 1);
    rocksdb_options_increase_parallelism(r->options, 2);
    rocksdb_options_set_max_open_files(r->options, 512);
    /* A memory budget: RocksDB's defaults (64 MiB memtables per column family, two
     * each) let seven families grow the node by hundreds of MiB under a capture load.
     * The raft log is the durable record, so small memtables cost only compactions. */
    rocksdb_options_set_write_buffer_size(r->options, ROCKS_MEMTABLE_BYTES);
    rocksdb_options_set_max_write_buffer_number(r->options, 2);
    rocksdb_options_set_db_write_buffer_size(r->options, ROCKS_MEMTABLES_TOTAL_BYTES);
    r->cache = rocksdb_cache_create_lru(ROCKS_BLOCK_CACHE_BYTES);
    r->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(r->table, r->cache);
    rocksdb_options_set_block_based_table_factory(r->options, r->table);
    for (unsigned i = 0; i < r->n_cf; i++) {
        cf_opts[i] = r->options;
    }
    r->db = rocksdb_open_column_families(r->options, r->dir, (int)r->n_cf, r->cf_names,
                                         cf_opts, r->cfs, &rerr);
    if (rerr != NULL) {
        rocksdb_options_destroy(r->options);
        rocksdb_block_based_options_destroy(r->table);
        rocksdb_cache_destroy(r->cache);
        r->db = NULL;
        return fail(err, rerr, "open");
    }
    r->read = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(r->read, 1);
    r->write_async = rocksdb_writeoptions_create();
    r->write_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->write_sync, 1);
    return 0;
}

static void close_handles(struct rocks *r)
{
    if (r->db == NULL) {
        return;
    }
    for (unsigned i = 0; i < r->n_cf; i++) {
        rocksdb_column_family_handle_destroy(r->cfs[i]);
    }
    rocksdb_close(r->db);
    rocksdb_readoptions_destroy(r->read);
    rocksdb_writeoptions_destroy(r->write_async);
    rocksdb_writeoptions_destroy(r->write_sync);
    rocksdb_options_destroy(r->options);
    rocksdb_block_based_options_destroy(r->table);
    rocksdb_cache_destroy(r->cache);
    r->db = NULL;
}

int rocks_open(struct rocks **out, const char *dir, const char *const *cf_names, unsigned n_cf,
               struct base_err *err)
{
    struct rocks *r;
    int rv;
    ASSERT(n_cf > 0 && n_cf <= ROCKS_CF_MAX);
    r = xcalloc(1, sizeof *r);
    r->cf_names = cf_names;
    r->n_cf = n_cf;
    r->dir = xstrdup(dir);
    if ((rv = open_handles(r, err)) != 0) {
        free(r->dir);
        free(r);
        return rv;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->reopened, NULL);
    *out = r;
    return 0;
}

int rocks_reopen(struct rocks *r, int (*between)(void *arg, struct base_err *err), void *arg,
                 struct base_err *err)
{
    int rv;
    pthread_mutex_lock(&r->mu);
    if (r->users > 0) {
        base_err_set(err, "the store is in use (%u iterators and %u snapshots open, or a "
                     "call in progress)", r->iters, r->snaps);
        pthread_mutex_unlock(&r->mu);
        return BASE_ERETRY;
    }
    r->reopening = true;
    pthread_mutex_unlock(&r->mu);
    close_handles(r);
    rv = between != NULL ? between(arg, err) : 0;
    if (rv == 0) {
        rv = open_handles(r, err);
    }
    /* On a failure the store stays closed (what is in its directory is for the
     * caller's recovery at the next start to decide, never a new empty store). */
    pthread_mutex_lock(&r->mu);
    r->reopening = false;
    pthread_cond_broadcast(&r->reopened);
    pthread_mutex_unlock(&r->mu);
    return rv;
}

int rocks_flush_wal(struct rocks *r, struct base_err *err)
{
    char *rerr = NULL;
    rd_lock(r);
    rocksdb_flush_wal(r->db, 1, &rerr);
    rd_unlock(r);
    return rerr != NULL ? fail(err, rerr, "sync the write-ahead log") : 0;
}

/* Sums an integer property over every column family. */
static uint64_t property_sum(struct rocks *r, const char *name)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < r->n_cf; i++) {
        uint64_t v = 0;
        if (rocksdb_property_int_cf(r->db, r->cfs[i], name, &v) == 0) {
            total += v;
        }
    }
    return total;
}

void rocks_get_memory(struct rocks *r, struct rocks_memory *out)
{
    memset(out, 0, sizeof *out);
    rd_lock(r);
    if (r->db == NULL) {
        rd_unlock(r);
        return;
    }
    out->memtables = property_sum(r, "rocksdb.size-all-mem-tables");
    out->table_readers = property_sum(r, "rocksdb.estimate-table-readers-mem");
    out->block_cache = rocksdb_cache_get_usage(r->cache);
    out->block_cache_pinned = rocksdb_cache_get_pinned_usage(r->cache);
    out->memtable_budget = ROCKS_MEMTABLES_TOTAL_BYTES;
    out->block_cache_budget = ROCKS_BLOCK_CACHE_BYTES;
    rd_unlock(r);
}

void rocks_close(struct rocks *r)
{
    if (r == NULL) {
        return;
    }
    close_handles(r);
    pthread_cond_destroy(&r->reopened);
    pthread_mutex_destroy(&r->mu);
    free(r->dir);
    free(r);
}

/* Takes @v (allocated by RocksDB, @n bytes) into a NUL-terminated copy of ours. */
static int got(char *v, size_t n, char *rerr, char **val, size_t *vlen, struct base_err *err)
{
    if (rerr != NULL) {
        return fail(err, rerr, "get");
    }
    if (v == NULL) {
        return BASE_ENOTFOUND;
    }
    /* Copy so callers own a NUL-terminated buffer allocated by our allocator. */
    *val = xmalloc(n + 1);
    memcpy(*val, v, n);
    (*val)[n] = '\0';
    *vlen = n;
    rocksdb_free(v);
    return 0;
}

int rocks_get(struct rocks *r, unsigned cf, const void *key, size_t klen, char **val,
              size_t *vlen, struct base_err *err)
{
    char *rerr = NULL;
    size_t n = 0;
    char *v;
    rd_lock(r);
    v = rocksdb_get_cf(r->db, r->read, cf_handle(r, cf), key, klen, &n, &rerr);
    rd_unlock(r);
    return got(v, n, rerr, val, vlen, err);
}

int rocks_batch_get(struct rocks_batch *b, unsigned cf, const void *key, size_t klen,
                    char **val, size_t *vlen, struct base_err *err)
{
    struct rocks *r = b->r;
    char *rerr = NULL;
    size_t n = 0;
    char *v;
    rd_lock(r);
    v = rocksdb_writebatch_wi_get_from_batch_and_db_cf(b->wb, r->db, r->read, cf_handle(r, cf),
                                                       key, klen, &n, &rerr);
    rd_unlock(r);
    return got(v, n, rerr, val, vlen, err);
}

struct rocks_batch *rocks_batch_new(struct rocks *r)
{
    struct rocks_batch *b = xmalloc(sizeof *b);
    b->r = r;
    b->wb = rocksdb_writebatch_wi_create(0, 1);
    return b;
}

void rocks_batch_free(struct rocks_batch *b)
{
    if (b != NULL) {
        rocksdb_writebatch_wi_destroy(b->wb);
        free(b);
    }
}

void rocks_batch_put(struct rocks_batch *b, unsigned cf, const void *key, size_t klen,
                     const void *val, size_t vlen)
{
    rocksdb_writebatch_wi_put_cf(b->wb, cf_handle(b->r, cf), key, klen, val, vlen);
}

void rocks_batch_delete(struct rocks_batch *b, unsigned cf, const void *key, size_t klen)
{
    rocksdb_writebatch_wi_delete_cf(b->wb, cf_handle(b->r, cf), key, klen);
}

void rocks_batch_clear(struct rocks_batch *b)
{
    rocksdb_writebatch_wi_clear(b->wb);
}

void rocks_batch_save_point(struct rocks_batch *b)
{
    rocksdb_writebatch_wi_set_save_point(b->wb);
}

int rocks_batch_rollback(struct rocks_batch *b, struct base_err *err)
{
    char *rerr = NULL;
    rocksdb_writebatch_wi_rollback_to_save_point(b->wb, &rerr);
    return rerr != NULL ? fail(err, rerr, "rollback to save point") : 0;
}

int rocks_write(struct rocks *r, struct rocks_batch *b, bool sync, struct base_err *err)
{
    char *rerr = NULL;
    ASSERT(b->r == r);
    rd_lock(r);
    rocksdb_write_writebatch_wi(r->db, sync ? r->write_sync : r->write_async, b->wb, &rerr);
    rd_unlock(r);
    if (rerr != NULL) {
        return fail(err, rerr, "write");
    }
    return 0;
}

struct rocks_snapshot {
    const rocksdb_snapshot_t *s;
};

struct rocks_snapshot *rocks_snapshot_new(struct rocks *r)
{
    struct rocks_snapshot *snap = xcalloc(1, sizeof *snap);
    use(r, 0, 1); /* until rocks_snapshot_free() */
    snap->s = rocksdb_create_snapshot(r->db);
    return snap;
}

void rocks_snapshot_free(struct rocks *r, struct rocks_snapshot *snap)
{
    if (snap != NULL) {
        rocksdb_release_snapshot(r->db, snap->s);
        free(snap);
        unuse(r, 0, 1);
    }
}

struct rocks_iter *rocks_iter_new_at(struct rocks *r, unsigned cf, const void *prefix,
                                     size_t plen, const struct rocks_snapshot *snap)
{
    struct rocks_iter *it = xcalloc(1, sizeof *it);
    use(r, 1, 0); /* until rocks_iter_free() */
    it->r = r;
    it->read = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(it->read, 1);
    if (snap != NULL) {
        rocksdb_readoptions_set_snapshot(it->read, snap->s);
    }
    /* A whole-store scan should not push the working set out of the block cache. */
    rocksdb_readoptions_set_fill_cache(it->read, snap == NULL);
    it->it = rocksdb_create_iterator_cf(r->db, it->read, cf_handle(r, cf));
    it->prefix = xmalloc(plen + 1);
    if (plen > 0) {
        memcpy(it->prefix, prefix, plen);
    }
    it->plen = plen;
    return it;
}

struct rocks_iter *rocks_iter_new(struct rocks *r, unsigned cf, const void *prefix,
                                  size_t plen)
{
    return rocks_iter_new_at(r, cf, prefix, plen, NULL);
}

void rocks_iter_first(struct rocks_iter *it)
{
    rocksdb_iter_seek(it->it, it->prefix, it->plen);
}

void rocks_iter_seek(struct rocks_iter *it, const void *key, size_t klen)
{
    rocksdb_iter_seek(it->it, key, klen);
}

bool rocks_iter_valid(struct rocks_iter *it)
{
    size_t klen;
    const char *k;
    if (!rocksdb_iter_valid(it->it)) {
        return false;
    }
    k = rocksdb_iter_key(it->it, &klen);
    return klen >= it->plen && memcmp(k, it->prefix, it->plen) == 0;
}

void rocks_iter_next(struct rocks_iter *it)
{
    rocksdb_iter_next(it->it);
}

const char *rocks_iter_key(struct rocks_iter *it, size_t *klen)
{
    return rocksdb_iter_key(it->it, klen);
}

const char *rocks_iter_value(struct rocks_iter *it, size_t *vlen)
{
    return rocksdb_iter_value(it->it, vlen);
}

int rocks_iter_status(struct rocks_iter *it, struct base_err *err)
{
    char *rerr = NULL;
    rocksdb_iter_get_error(it->it, &rerr);
    if (rerr != NULL) {
        return fail(err, rerr, "iterate");
    }
    return 0;
}

void rocks_iter_free(struct rocks_iter *it)
{
    if (it == NULL) {
        return;
    }
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->read);
    free(it->prefix);
    unuse(it->r, 1, 0);
    free(it);
}

int rocks_wipe(struct rocks *r, struct base_err *err)
{
    for (unsigned cf = 0; cf < r->n_cf; cf++) {
        struct rocks_iter *it = rocks_iter_new(r, cf, "", 0);
        struct rocks_batch *b = rocks_batch_new(r);
        int rv;
        for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
            size_t klen;
            const char *k = rocks_iter_key(it, &klen);
            rocks_batch_delete(b, cf, k, klen);
        }
        rv = rocks_iter_status(it, err);
        rocks_iter_free(it);
        if (rv == 0) {
            rv = rocks_write(r, b, true, err);
        }
        rocks_batch_free(b);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

void rocks_put_be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

uint64_t rocks_get_be64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | in[i];
    }
    return v;
}
