/* What this node has learned of the other nodes' wall clocks: for each peer (by its
 * HTTP address), the offset of its clock from this node's, so that node-to-node calls
 * are signed with the receiver's time rather than the sender's (replication/peer_auth.h).
 *
 * Offsets come only from answers whose time is authenticated (peer_auth_answer_check):
 * a peer's clock when it answered minus this node's clock when the answer's head
 * arrived (the error is the answer's one-way delay, milliseconds on a LAN, against a
 * signature window of PEER_AUTH_SKEW_MS). A peer never heard from has offset 0.
 *
 * A skew of PEER_CLOCK_WARN_MS or more is logged once when it appears, again when it
 * moves by PEER_CLOCK_WARN_MS or more from what was logged, and once when it falls
 * back under PEER_CLOCK_WARN_MS / 2: a state change, never every call.
 *
 * Used from the loop thread (peer calls, blob fetches) and the keeper's push threads
 * at once: every function takes the table's mutex, so any thread may call them. */
#ifndef IMGARC_REPLICATION_PEER_CLOCK_H
#define IMGARC_REPLICATION_PEER_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/nodes.h"

#define PEER_CLOCK_PEERS_MAX 64 /* beyond it, the oldest learned entry is replaced */
#define PEER_CLOCK_WARN_MS 2000

struct peer_clock_entry {
    char peer[ARCHIVE_ADDRESS_MAX + 1]; /* HOST:PORT of its HTTP API */
    int64_t offset_ms;                  /* its clock minus this node's */
    uint64_t learned_seq;               /* for replacing the oldest entry */
    bool skewed;                        /* a skew was logged and has not been cleared */
    int64_t logged_ms;                  /* the offset last logged */
};

struct peer_clock {
    pthread_mutex_t mu;
    struct peer_clock_entry entries[PEER_CLOCK_PEERS_MAX];
    unsigned n;
    uint64_t seq;
};

void peer_clock_init(struct peer_clock *pc);
void peer_clock_close(struct peer_clock *pc);

/* The offset to add to this node's clock to get @peer's (0 when unknown, or when @pc
 * or @peer is NULL). */
int64_t peer_clock_offset_ms(struct peer_clock *pc, const char *peer);

/* Records @offset_ms for @peer (copied), logging a change of state. */
void peer_clock_learn(struct peer_clock *pc, const char *peer, int64_t offset_ms);

/* Whether @peer's offset is known, and then its value into @offset_ms. */
bool peer_clock_get(struct peer_clock *pc, const char *peer, int64_t *offset_ms);

/* Calls @fn for every peer known (under the mutex: @fn must not call back in). */
void peer_clock_each(struct peer_clock *pc,
                     void (*fn)(const char *peer, int64_t offset_ms, void *arg), void *arg);

#endif
