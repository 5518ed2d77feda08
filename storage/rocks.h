/* The metadata store: RocksDB with one column family per kind of record.
 *
 * The only module that includes <rocksdb/c.h>. Used on the loop thread for point
 * reads and for the state machine's write batches; RocksDB is thread-safe, so worker
 * threads may iterate too. Owns the database handle and its options.
 *
 * Keys are byte strings built by the caller (archive/keys.c); values are protobuf
 * records. Writes go through batches so one command changes the store atomically. */
#ifndef IMGARC_STORAGE_ROCKS_H
#define IMGARC_STORAGE_ROCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum rocks_cf {
    ROCKS_CF_META = 0, /* "default": node-level keys such as the applied index */
    ROCKS_CF_BILLS,
    ROCKS_CF_FILES,
    ROCKS_CF_BLOBS,
    ROCKS_CF_USAGE,
    ROCKS_CF_AUDIT,
    ROCKS_CF_IDEM,
    ROCKS_CF_ORDER,
    ROCKS_CF_TENANTS,
    ROCKS_CF_LICENSES,
    ROCKS_CF_TENANT_BLOBS,
    ROCKS_CF_CLIENTS,
    ROCKS_CF_ADMIN_AUDIT,
    ROCKS_CF_USERS,
    ROCKS_CF_ROLES,
    ROCKS_CF_ORGS,
    ROCKS_CF_WEBHOOKS,
    ROCKS_CF_DELIVERIES,
    ROCKS_CF_DELIVERY_INDEX,
    ROCKS_CF_OUTBOX,
    ROCKS_CF_BILL_TYPES,
    ROCKS_CF_SCHEMES,
    ROCKS_CF_CATEGORIES,
    ROCKS_CF_BATCHES,
    /* New families go last: a snapshot names families by their number. */
    ROCKS_CF_NODES, /* cluster members (archive/nodes.c) */
    ROCKS_CF_COUNT,
};

struct rocks;
struct rocks_batch;
struct rocks_iter;

/* Opens (creating if needed) the database in @dir with every column family. */
int rocks_open(struct rocks **out, const char *dir, struct base_err *err) WARN_UNUSED;
void rocks_close(struct rocks *db);

/* Name of a column family ("bills"...), for dumps and errors. */
const char *rocks_cf_name(enum rocks_cf cf);

/* Reads a value into a fresh allocation (*@val, free() it; NUL-terminated beyond
 * *@vlen). Returns BASE_ENOTFOUND when absent, BASE_EIO on a read error. */
int rocks_get(struct rocks *db, enum rocks_cf cf, const void *key, size_t klen, char **val,
              size_t *vlen, struct base_err *err) WARN_UNUSED;

/* A batch of changes to @db, applied by rocks_write(). */
struct rocks_batch *rocks_batch_new(struct rocks *db);
void rocks_batch_free(struct rocks_batch *b);
void rocks_batch_put(struct rocks_batch *b, enum rocks_cf cf, const void *key, size_t klen,
                     const void *val, size_t vlen);
void rocks_batch_delete(struct rocks_batch *b, enum rocks_cf cf, const void *key, size_t klen);
void rocks_batch_clear(struct rocks_batch *b);
/* Reads like rocks_get(), seeing the batch's own puts and deletes over the database. */
int rocks_batch_get(struct rocks_batch *b, enum rocks_cf cf, const void *key, size_t klen,
                    char **val, size_t *vlen, struct base_err *err) WARN_UNUSED;
/* Applies the batch atomically. @sync asks for an fsync of RocksDB's WAL first. */
int rocks_write(struct rocks *db, struct rocks_batch *b, bool sync,
                struct base_err *err) WARN_UNUSED;

/* Iterates @cf over keys starting with @prefix (copied), in key order. */
struct rocks_iter *rocks_iter_new(struct rocks *db, enum rocks_cf cf, const void *prefix,
                                  size_t plen);
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
