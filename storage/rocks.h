/* The metadata store: RocksDB with one column family per kind of record.
 *
 * The only module that includes <rocksdb/c.h>. Used on the loop thread for point
 * reads and for the state machine's write batches; RocksDB is thread-safe, so worker
 * threads may iterate too. Owns the database handle and its options.
 *
 * Every call counts itself as a user for the time it uses the database (an iterator or
 * a snapshot until it is freed, on any thread), so rocks_reopen() can replace the
 * database under the same handle when no thread is using it.
 *
 * Keys are byte strings built by the caller (archive/keys.c); values are protobuf
 * records. The store knows no record kinds: the caller names the column families.
 * Writes go through batches so one command changes the store atomically. */
#ifndef IMGARC_STORAGE_ROCKS_H
#define IMGARC_STORAGE_ROCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Column families are the caller's: it names them at open (the archive's list is in
 * archive/keys.h), and every call takes a family by its number in that list, which
 * must be below the count it gave (asserted: a wrong number is a bug, not input). */
#define ROCKS_CF_MAX 64

struct rocks;
struct rocks_batch;
struct rocks_iter;

/* Opens (creating if needed) the database in @dir with the @n_cf column families named
 * in @cf_names (kept by reference: a static table; the first is RocksDB's "default").
 * n_cf is at most ROCKS_CF_MAX. */
int rocks_open(struct rocks **out, const char *dir, const char *const *cf_names, unsigned n_cf,
               struct base_err *err) WARN_UNUSED;
void rocks_close(struct rocks *db);

/* Closes the database, calls @between (which may replace what is in its directory,
 * e.g. swap a staged copy in: storage/store_swap.h), and opens the directory again
 * under the same handle. Only when nothing uses the store: BASE_ERETRY (nothing done)
 * while another thread holds an iterator or snapshot or is inside a call. On any other
 * failure the store stays closed and every later call is a bug: the caller stops the
 * process, and what the directory holds is for the next start's recovery to settle. */
int rocks_reopen(struct rocks *db, int (*between)(void *arg, struct base_err *err), void *arg,
                 struct base_err *err) WARN_UNUSED;
/* Makes every write so far durable (an fsync of RocksDB's write-ahead log), for
 * writes made without @sync. */
int rocks_flush_wal(struct rocks *db, struct base_err *err) WARN_UNUSED;

/* The number of column families the database was opened with, and the name of one. */
unsigned rocks_cf_count(const struct rocks *db);
const char *rocks_cf_name(const struct rocks *db, unsigned cf);

/* Reads a value into a fresh allocation (*@val, free() it; NUL-terminated beyond
 * *@vlen). Returns BASE_ENOTFOUND when absent, BASE_EIO on a read error. */
int rocks_get(struct rocks *db, unsigned cf, const void *key, size_t klen, char **val,
              size_t *vlen, struct base_err *err) WARN_UNUSED;

/* A batch of changes to @db, applied by rocks_write(). */
struct rocks_batch *rocks_batch_new(struct rocks *db);
void rocks_batch_free(struct rocks_batch *b);
void rocks_batch_put(struct rocks_batch *b, unsigned cf, const void *key, size_t klen,
                     const void *val, size_t vlen);
void rocks_batch_delete(struct rocks_batch *b, unsigned cf, const void *key, size_t klen);
void rocks_batch_clear(struct rocks_batch *b);
/* Marks the batch as it is now; rocks_batch_rollback() drops every change made since
 * the last mark (and the mark). Marks not rolled back stay until the batch is cleared. */
void rocks_batch_save_point(struct rocks_batch *b);
int rocks_batch_rollback(struct rocks_batch *b, struct base_err *err) WARN_UNUSED;
/* Reads like rocks_get(), seeing the batch's own puts and deletes over the database. */
int rocks_batch_get(struct rocks_batch *b, unsigned cf, const void *key, size_t klen,
                    char **val, size_t *vlen, struct base_err *err) WARN_UNUSED;
/* Applies the batch atomically. @sync asks for an fsync of RocksDB's WAL first. */
int rocks_write(struct rocks *db, struct rocks_batch *b, bool sync,
                struct base_err *err) WARN_UNUSED;

/* Where RocksDB's memory goes: memtables (active and immutable, every family), the
 * block cache in use and pinned, and the index and filter blocks of open tables. */
struct rocks_memory {
    uint64_t memtables;
    uint64_t block_cache;
    uint64_t block_cache_pinned;
    uint64_t table_readers;
    uint64_t memtable_budget;    /* the configured ceilings, to show beside them */
    uint64_t block_cache_budget;
};
void rocks_get_memory(struct rocks *db, struct rocks_memory *out);

/* Iterates @cf over keys starting with @prefix (copied), in key order. */
struct rocks_iter *rocks_iter_new(struct rocks *db, unsigned cf, const void *prefix,
                                  size_t plen);
/* A consistent view of the store as it is now (a pinned sequence number: no copy);
 * writes made after it are not seen through it. Any thread. */
struct rocks_snapshot;
struct rocks_snapshot *rocks_snapshot_new(struct rocks *db);
void rocks_snapshot_free(struct rocks *db, struct rocks_snapshot *snap);
/* rocks_iter_new() over @snap (NULL: the store now); a scan at a snapshot leaves the
 * block cache as it was. */
struct rocks_iter *rocks_iter_new_at(struct rocks *db, unsigned cf, const void *prefix,
                                     size_t plen, const struct rocks_snapshot *snap);
/* Positions at the first key >= @key within the prefix. */
void rocks_iter_seek(struct rocks_iter *it, const void *key, size_t klen);
void rocks_iter_first(struct rocks_iter *it);
bool rocks_iter_valid(struct rocks_iter *it);
void rocks_iter_next(struct rocks_iter *it);
/* Borrowed until the next move of the iterator. */
const char *rocks_iter_key(struct rocks_iter *it, size_t *klen);
const char *rocks_iter_value(struct rocks_iter *it, size_t *vlen);
/* BASE_EIO if iteration stopped on an error. */
int rocks_iter_status(struct rocks_iter *it, struct base_err *err) WARN_UNUSED;
void rocks_iter_free(struct rocks_iter *it);

/* Deletes every key of every column family (used to restore a snapshot). */
int rocks_wipe(struct rocks *db, struct base_err *err) WARN_UNUSED;

/* Big-endian u64 encoding for keys and the applied index. */
void rocks_put_be64(uint8_t out[8], uint64_t v);
uint64_t rocks_get_be64(const uint8_t in[8]);

#endif
