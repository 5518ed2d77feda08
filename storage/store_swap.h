/* The staging store and the swap that puts it in place of the live one
 * (docs/snapshots.md, steps 3 and 6).
 *
 * A node that is too far behind fetches a whole metadata store from another member
 * into a staging store, verifies it and marks it READY; the swap then replaces the
 * live store with it, at start or on request, with the live store closed. Paths,
 * under the node's data directory DATA:
 *
 *   DATA/meta            the live store
 *   DATA/catchup/store   the staging store
 *   DATA/catchup/READY   the staging store is complete and verified at index J
 *   DATA/meta.old        the old live store, during a swap
 *
 * READY is 68 bytes: "IMGREADY", version (be32, 1), the index J (be64), the BLAKE2b-256
 * of the stream the store was written from, and a BLAKE2b-128 of those 52 bytes. It is
 * written to a temporary file, fsynced, renamed, and the directory fsynced; a discard
 * removes it first (and fsyncs), so a half-deleted staging store never has a READY.
 *
 * The swap's steps, in order, and what storage_staged_recover() finds after a crash
 * just after each (catchup/store present or not is what tells whether the second
 * rename happened; meta.old exists only between steps 1 and 5):
 *
 *   step                               state left             recover does
 *   0 (READY written)                  meta store READY       the swap (-> new)
 *   1 rename meta -> meta.old          meta.old store READY   finishes from step 2 (-> new)
 *   2 rename catchup/store -> meta,    meta.old meta READY    removes READY, catchup,
 *     fsync DATA and DATA/catchup                             meta.old (-> new)
 *   3 unlink READY, fsync DATA/catchup meta.old meta catchup/ removes catchup, meta.old (-> new)
 *   4 rm -rf catchup, fsync DATA       meta.old meta          removes meta.old (-> new)
 *   5 rm -rf meta.old, fsync DATA      meta                   nothing (-> new)
 *
 * And outside a swap: catchup/ without a valid READY (a fetch cut short, a garbled
 * READY) is removed, the live store untouched; meta.old without meta and without a
 * staging store that READY vouches for is moved back to meta (-> old). A garbled READY
 * during a swap is handled by the same rules: the staging store is only ever used when
 * READY vouches for it, and once it has been renamed into meta it is the live store.
 *
 * Every function does blocking file-system work: call it from a worker thread, or at
 * start before the loop runs. Not thread-safe against itself on one DATA. */
#ifndef IMGARC_STORAGE_STORE_SWAP_H
#define IMGARC_STORAGE_STORE_SWAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* The size of a READY file. */
#define STORAGE_READY_BYTES 68

/* The staging store's directory (DATA/catchup/store) into @out. */
void storage_staged_path(const char *data_dir, char *out, size_t size);
/* fsync of directory @path (a rename or a new file in it made durable). */
int storage_fsync_dir(const char *path, struct base_err *err) WARN_UNUSED;
/* rm -rf @path (nothing when it is absent). */
int storage_remove_tree(const char *path, struct base_err *err) WARN_UNUSED;

/* Removes DATA/catchup (staging store, READY, anything in it); READY goes first. */
int storage_staged_discard(const char *data_dir, struct base_err *err) WARN_UNUSED;
/* Marks the staging store complete and verified at @index with its stream's BLAKE2b-256
 * @hash: DATA/catchup/READY written to a temp file, fsynced, renamed, directory fsynced.
 * The staging store must be closed and synced before. */
int storage_staged_mark_ready(const char *data_dir, uint64_t index, const uint8_t hash[32],
                              struct base_err *err) WARN_UNUSED;
/* 0 and *index when READY names a complete staging store; BASE_ENOTFOUND when there is
 * none; BASE_ECORRUPT when READY is unreadable or garbled (the caller discards). */
int storage_staged_ready(const char *data_dir, uint64_t *index, struct base_err *err) WARN_UNUSED;
/* The READY parser: 0 with *index (and @hash when not NULL) when @buf is a READY file;
 * BASE_ECORRUPT otherwise. Pure; any thread. */
int storage_staged_ready_parse(const void *buf, size_t len, uint64_t *index, uint8_t hash[32],
                               struct base_err *err) WARN_UNUSED;
/* With the live store CLOSED: the steps of the table above. Each step is safe to crash
 * after (storage_staged_recover() finishes or undoes it). */
int storage_staged_swap(const char *data_dir, struct base_err *err) WARN_UNUSED;
/* At start, before DATA/meta is opened: finishes or undoes whatever a crash left (the
 * table above), and logs what it did ("store" tag). *@swapped_index is the READY index
 * when a swap was finished or made now, else 0 (also when a swap had finished but for
 * removing meta.old: READY is gone by then). */
int storage_staged_recover(const char *data_dir, uint64_t *swapped_index,
                           struct base_err *err) WARN_UNUSED;

#endif
