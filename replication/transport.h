/* The raft port: a raft_uv_transport of ours, so that nothing reaches libraft but
 * members of this cluster, and nothing they send can be altered on the way.
 *
 * Every connection, inbound or outbound, first runs the handshake of handshake.h: both
 * ends prove they hold the cluster secret (the current or the previous one during a
 * rotation), the client checks it reached the node it dialled, and the server checks
 * the client is a member (@member_cb). Only then does libraft get a stream: one end of
 * a local socket pair, while this module pumps bytes between the other end and the TCP
 * connection, sealing each chunk as an authenticated, encrypted frame. A connection
 * that fails the handshake, stalls in it for HANDSHAKE_TIMEOUT_MS, or carries one frame
 * that does not open is closed; each refusal is counted by reason and logged once per
 * source and reason.
 *
 * A node without a cluster secret listens on the loopback address only and refuses
 * every connection: a single node needs no peers.
 *
 * Loop thread only. The pump stops reading one side while the other side has more than
 * TRANSPORT_QUEUE_HIGH bytes waiting to be written, so memory per connection is
 * bounded. */
#ifndef IMGARC_REPLICATION_TRANSPORT_H
#define IMGARC_REPLICATION_TRANSPORT_H

#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "base/err.h"
#include "replication/handshake.h"

#define TRANSPORT_HANDSHAKE_TIMEOUT_MS 5000
#define TRANSPORT_HANDSHAKES_MAX 64              /* unauthenticated connections at once */
#define TRANSPORT_QUEUE_HIGH (4u << 20)          /* bytes queued before a side pauses */
#define TRANSPORT_QUEUE_LOW (1u << 20)           /* ...and resumes */

struct transport_config {
    uv_loop_t *loop;
    const uint8_t (*secrets)[32]; /* the cluster secret keys, current first; copied */
    unsigned n_secrets;           /* 0: no secret (loopback only, no peers) */
    handshake_member_cb member_cb;
    void *member_arg;
};

struct transport_stats {
    uint64_t inbound;   /* connections accepted and authenticated */
    uint64_t outbound;  /* connections dialled and authenticated */
    uint64_t dial_failed; /* outbound connections that failed or were refused */
    uint64_t refused[HANDSHAKE_R_COUNT]; /* inbound connections closed, by reason */
    uint64_t bytes_sent;     /* raft bytes sealed and sent */
    uint64_t bytes_received; /* raft bytes received and opened */
    unsigned open;           /* authenticated connections open now */
};

/* Fills @t (libraft calls its methods from raft_uv_init on). */
int transport_init(struct raft_uv_transport *t, const struct transport_config *c,
                   struct base_err *err) WARN_UNUSED;
/* Releases @t's memory once libraft has closed it (or never started it). */
void transport_close(struct raft_uv_transport *t);
void transport_get_stats(struct raft_uv_transport *t, struct transport_stats *out);

#endif
