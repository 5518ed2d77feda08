/* A store restored from a backup (docs/backup.md), and the node that adopts it.
 *
 * `imgarc restore` writes DATA/meta from a backup's metadata stream, puts the blobs in
 * DATA/blobs and leaves the marker DATA/restored naming the index the store is at. The
 * node started on that data dir adopts the store before anything reads it: the members
 * the store names (the backed-up cluster's) are forgotten, every blob record lists this
 * node as its one holder when it has the blob (none otherwise, for the keeper to
 * report), and the blob index is built again; then raft is seeded with a snapshot at
 * that index (repl_seed_restored()) and the marker goes. Every step can run again after
 * a crash: the marker goes last. */
#ifndef IMGARC_ARCHIVE_RESTORE_H
#define IMGARC_ARCHIVE_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/rocks.h"

/* The marker's name in a data dir. */
#define ARCHIVE_RESTORE_MARKER "restored"

/* Writes DATA/restored naming @index (temp file, fsync, rename, fsync of the dir). */
int archive_restore_mark(const char *data_dir, uint64_t index, struct base_err *err) WARN_UNUSED;
/* The index DATA/restored names; BASE_ENOTFOUND without a marker, BASE_ECORRUPT when it
 * cannot be read. */
int archive_restore_marked(const char *data_dir, uint64_t *index, struct base_err *err)
    WARN_UNUSED;
/* Removes the marker (and fsyncs the dir). */
int archive_restore_unmark(const char *data_dir, struct base_err *err) WARN_UNUSED;

/* Whether this node holds blob @hash. */
typedef bool (*archive_held_fn)(const uint8_t hash[32], void *arg);
/* Makes the restored store @db node @node_id's (above), before archive_open(). */
int archive_restore_adopt(struct rocks *db, uint64_t node_id, archive_held_fn held, void *arg,
                          struct base_err *err) WARN_UNUSED;

#endif
