/* Pushing a copy of a local blob to another node: PUT /internal/v1/blobs/<hash>, the
 * body streamed from the local file, signed with the cluster secret over an empty body
 * (the receiver checks the content against its name instead).
 *
 * A push blocks its thread for the whole transfer: call it from the keeper's threads
 * (keeper.c), never from the loop or libuv's pool. */
#ifndef IMGARC_REPLICATION_BLOB_PUSH_H
#define IMGARC_REPLICATION_BLOB_PUSH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "archive/nodes.h"
#include "replication/peer_auth.h"
#include "storage/blobstore.h"

struct blob_push {
    /* In. */
    uint8_t hash[BLOB_HASH_BYTES];
    uint64_t target; /* node id, for logs */
    char http[ARCHIVE_ADDRESS_MAX + 1];
    unsigned timeout_ms;     /* the whole transfer */
    unsigned stall_ms;       /* no byte sent or received this long: give up (0: no bound) */
    uint64_t bytes_per_s;    /* 0: as fast as it goes */
    const atomic_bool *stop; /* set: give up at once (the node is stopping); may be NULL */
    /* Out. */
    uint64_t bytes; /* sent */
    long http_status;
    char why[320];
};

/* A reusable connection to the other nodes, per thread. A request on a kept connection
 * that the other end closed meanwhile (its node restarted, an idle timeout) is sent
 * again on a new connection, from the start of the file. */
void *blob_push_handle_new(void);
void blob_push_handle_free(void *h);

/* A push fails when it takes longer than @timeout_ms, when connecting takes more than
 * 2 s, or when nothing moves for @stall_ms (a node that accepted the connection and
 * then stopped reading or answering: stopped, hung, cut off).
 *
 * 0 when the target holds a durable copy now; BASE_ENOTFOUND when this node has no
 * copy; BASE_ECORRUPT when the target found that the bytes do not hash to the name
 * (this node's copy is corrupt); BASE_ENOSPACE when the target answered 507 (its disk
 * is full); BASE_ESHUTDOWN when stopped; BASE_EIO otherwise. */
int blob_push(void *handle, struct blob_store *bs, const struct peer_auth *auth,
              struct blob_push *p) WARN_UNUSED;

#endif
