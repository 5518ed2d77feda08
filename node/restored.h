/* A data dir written by `imgarc restore` (archive/restore.h, docs/backup.md): the node
 * started on it makes the store its own and founds a new cluster at the store's index.
 * At start-up, before the loop. */
#ifndef IMGARC_NODE_RESTORED_H
#define IMGARC_NODE_RESTORED_H

#include <stdint.h>

#include "archive/archive.h"
#include "base/err.h"
#include "node/config.h"
#include "storage/blobstore.h"

/* The index DATA/restored names into *@index (0 without a marker). Refuses (BASE_EINVAL,
 * the reason in @err) a marker that cannot be read, and --join or --recover on a
 * restored data dir: it founds a new cluster. */
int node_restored_check(const struct node_config *c, uint64_t *index,
                        struct base_err *err) WARN_UNUSED;
/* Before archive_open(): the restored store @db made node @node_id's (its blobs are those
 * @blobs holds). */
int node_restored_adopt(struct rocks *db, uint64_t node_id, struct blob_store *blobs,
                        struct base_err *err) WARN_UNUSED;
/* After archive_open(): @archive must be at @index; raft is seeded at it in a raft dir
 * emptied first (a crash may have left a partial seed: nothing else can be there while
 * the marker is), and the marker goes. */
int node_restored_seed(const struct node_config *c, const struct archive *archive,
                       uint64_t index, struct base_err *err) WARN_UNUSED;

#endif
