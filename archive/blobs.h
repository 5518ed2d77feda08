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
