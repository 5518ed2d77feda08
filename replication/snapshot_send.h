/* The sender of whole-store snapshots: GET /internal/v1/snapshot?min_index=<I>
 * (docs/snapshots.md, step 2), routed here by peer_server.c once the call's signature
 * is checked.
 *
 * The answer is the snapshot stream of storage/snapshot.h, taken from a RocksDB
 * snapshot of this node's store pinned on the loop at the same moment as the applied
 * index J it carries (header X-Imgarc-Snapshot-Index: J), chunked, 1 MiB pieces each
 * read on a worker thread; the next piece is read once the previous one is written, so
 * a send holds about one piece whatever the store's size. Refusals: 400 for a
 * min_index that is not a decimal number, 409 index_not_reached when this node has
 * applied less than I, 503 unavailable (Retry-After) when SNAPSHOT_SENDS_MAX sends are
 * in progress. A client that goes away ends the send and frees everything. Loop
 * thread. */
#ifndef IMGARC_REPLICATION_SNAPSHOT_SEND_H
#define IMGARC_REPLICATION_SNAPSHOT_SEND_H

#include "net/http_server.h"
#include "replication/repl.h"

/* Snapshot sends in progress at once on a node; more are refused 503. */
#define SNAPSHOT_SENDS_MAX 1
/* The size of each piece read and written. */
#define SNAPSHOT_SEND_PIECE (1u << 20)
/* The Retry-After (seconds) of a busy refusal. */
#define SNAPSHOT_SEND_RETRY_AFTER_S 10
/* The answer's header that carries the stream's applied index. */
#define SNAPSHOT_INDEX_HEADER "X-Imgarc-Snapshot-Index"

/* Answers @req (a signed GET of PEER_PATH_SNAPSHOT). */
void repl_snapshot_serve(struct repl *r, struct http_request *req);

#endif
