/* The receiver of whole-store snapshots: fetches the metadata store of another member
 * into the staging store DATA/catchup/store, verifies it and marks it READY
 * (docs/snapshots.md, step 3; storage/store_swap.h swaps it in).
 *
 * The members are asked one after the other, the leader first, then the others that
 * have an HTTP address and are not removed, each with a signed
 * GET /internal/v1/snapshot?min_index=<I> (snapshot_send.h). What arrives is gathered
 * on the loop into pieces of SNAPSHOT_FETCH_PIECE bytes; each piece is written into the
 * staging store by a worker thread (storage/snapshot.h's writer, 4 MiB batches) while
 * the transfer is paused, so memory is a piece and a write batch whatever the store's
 * size. At the end the worker checks the stream's BLAKE2b trailer and that its index J
 * is at least I, closes the store (synced) and writes READY. A member that fails (an
 * error answer, a stream cut short or corrupt, J too small, the disk full, nothing
 * sent for SNAPSHOT_FETCH_STALL_MS) has its
 * staging store discarded and the next one is asked; one pass over the members, no
 * more (the caller backs off and calls again). Loop thread; one fetch at a time per
 * node. */
#ifndef IMGARC_REPLICATION_SNAPSHOT_FETCH_H
#define IMGARC_REPLICATION_SNAPSHOT_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "replication/entry.h"
#include "replication/repl.h"

/* The bytes gathered before a worker writes them. */
#define SNAPSHOT_FETCH_PIECE (1u << 20)
/* Free space kept beside a piece being written into the staging store (a memtable's
 * worth and a margin): below it the fetch fails "disk full" (snapshot_fetch.c). */
#define SNAPSHOT_FETCH_FREE_MIN (16u << 20)
/* A whole store over a slow link: the time one member has for its stream. */
#define SNAPSHOT_FETCH_TIMEOUT_MS (6u * 60 * 60 * 1000)
/* A member that sends nothing this long (while this node is not writing a piece) is
 * given up and the next one asked; checked every SNAPSHOT_FETCH_STALL_CHECK_MS. */
#define SNAPSHOT_FETCH_STALL_MS 30000u
#define SNAPSHOT_FETCH_STALL_CHECK_MS 1000u

struct snapshot_fetch;
/* @status 0: DATA/catchup/store holds a complete, verified store at @index
 * (>= min_index), closed, synced, READY written. Else a BASE_E* code and @why (every
 * member failed or refused; the staging store is discarded): BASE_ENOSPACE when a
 * member's stream failed for a full disk, BASE_ECANCELED after
 * repl_snapshot_fetch_cancel(). Runs on the loop; the fetch is freed after it
 * returns. */
typedef void (*snapshot_fetch_cb)(struct snapshot_fetch *f, int status, uint64_t index,
                                  const char *why, void *data);
/* Starts fetching a store at index >= @min_index from the other members into
 * DATA/catchup/store (discarding any previous staging first). The members asked, in
 * order: those @hint (the descriptor raft installed; may be NULL) names, the node that
 * took it first; the leader; the members this node's store lists; the member this node
 * joined through (--join): a new node's own store lists no one. NULL with @why when there
 * is no cluster secret, no other member to ask, or a fetch is in flight already. @cb
 * runs exactly once otherwise (never from inside this call). */
struct snapshot_fetch *repl_snapshot_fetch(struct repl *r, uint64_t min_index,
                                           const struct repl_descriptor *hint,
                                           snapshot_fetch_cb cb, void *data, char *why,
                                           size_t why_size);
/* Ends the fetch: its callback runs (later, on the loop) with BASE_ECANCELED once the
 * transfer and any worker job have stopped and the staging store is discarded. Once
 * only, before the callback has run. */
void repl_snapshot_fetch_cancel(struct snapshot_fetch *f);

#endif
