/* Snapshot of the whole metadata store as one byte buffer, for raft snapshots.
 *
 * Format: "IMGSNAP1", the applied index (be64), then records (family u8, key length
 * be32, key, value length be32, value), then 0xFF and a BLAKE2b-256 of all that
 * precedes it. Records are in family and key order, so equal stores give equal
 * snapshots. Encoding iterates the store; restore wipes it and writes the records in
 * batches. Both run on the calling thread. */
#ifndef IMGARC_STORAGE_SNAPSHOT_H
#define IMGARC_STORAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/rocks.h"

/* Encodes every family of @db into a fresh malloc()ed buffer. */
int storage_snapshot_encode(struct rocks *db, uint64_t applied_index, void **buf, size_t *len,
                            struct base_err *err) WARN_UNUSED;
/* Reads only the header: the applied index the snapshot was taken at. */
int storage_snapshot_index(const void *buf, size_t len, uint64_t *applied_index,
                           struct base_err *err) WARN_UNUSED;
/* BLAKE2b-256 of every record of every family (the records a snapshot holds), into
 * @out. Equal stores give equal digests. */
int storage_digest(struct rocks *db, uint8_t out[32], struct base_err *err) WARN_UNUSED;
/* Verifies @buf and replaces the whole content of @db with it. */
int storage_snapshot_restore(struct rocks *db, const void *buf, size_t len,
                             struct base_err *err) WARN_UNUSED;

#endif
