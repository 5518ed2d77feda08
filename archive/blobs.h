/* Walks and reads of the blob and node records for the keeper and placement in
 * replication/, so that no layer above reads the archive's column families itself.
 *
 * Threads: any. These read the committed store only, never the batch apply is
 * building, so the keeper's threads may call them while the loop applies. A record
 * seen may be replaced by an apply meanwhile; callers take what they read as a
 * snapshot of one moment and act on it idempotently. */
#ifndef IMGARC_ARCHIVE_BLOBS_H
#define IMGARC_ARCHIVE_BLOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "archive/archive.h"

/* Each blob record in hash order. @cb returns false to stop the walk. Keys of another
 * length and records that cannot be decoded are skipped (never acted on). Returns 0,
 * or the store's error when the walk broke off. */
typedef bool (*archive_blob_cb)(const uint8_t hash[32], const BlobRecord *rec, void *arg);
int archive_each_blob(struct archive *a, archive_blob_cb cb, void *arg,
                      struct base_err *err) WARN_UNUSED;

/* The blob index (archive/blob_index.c), kept with the records in every batch, finds
 * the blobs that may need the keeper without reading every record:
 *   - by class: a record's number of holders (capped at 254), or
 *     ARCHIVE_BLOB_UNREFERENCED when no file refers to it any more;
 *   - by holder: the blobs whose record lists a given node.
 * A blob whose class is R and whose holders are all active members needs nothing
 * unless the placement itself changes. */
#define ARCHIVE_BLOB_UNREFERENCED 0xFFu
unsigned archive_blob_class(const BlobRecord *rec);

/* Each blob record whose class is not @replicas, by class then hash, and those of
 * class ARCHIVE_BLOB_UNREFERENCED only when @unreferenced. As archive_each_blob(), but
 * reads only the records named; a record gone since its index key was read is
 * skipped. */
int archive_each_blob_unsettled(struct archive *a, unsigned replicas, bool unreferenced,
                                archive_blob_cb cb, void *arg, struct base_err *err) WARN_UNUSED;
/* Each blob record that lists @holder, in hash order. */
int archive_each_blob_held(struct archive *a, uint64_t holder, archive_blob_cb cb, void *arg,
                           struct base_err *err) WARN_UNUSED;
/* The distinct node ids records list as holders, ascending, at most @max (*@n): one
 * seek per id, whatever the number of blobs. */
int archive_blob_holder_ids(struct archive *a, uint64_t *ids, size_t max, size_t *n,
                            struct base_err *err) WARN_UNUSED;

/* The committed record of blob @hash: 0 with @out (freed with archive_free_blob()),
 * BASE_ENOTFOUND, BASE_ECORRUPT when it cannot be decoded, or the store's error. */
int archive_read_blob(struct archive *a, const uint8_t hash[32], BlobRecord **out,
                      struct base_err *err) WARN_UNUSED;

/* Each node record, removed ones included, in id order. A record that cannot be
 * decoded is passed as NULL and the walk goes on (archive_list_nodes() stops there
 * instead). Returns 0, or the store's error when the walk broke off. */
typedef void (*archive_each_node_cb)(const NodeRecord *node, void *arg);
int archive_each_node(struct archive *a, archive_each_node_cb cb, void *arg,
                      struct base_err *err) WARN_UNUSED;

#endif
