/* Where the copies of a blob belong: weighted rendezvous hashing (highest random
 * weight) over the cluster's storage nodes, spread across zones.
 *
 * Every node computes the same answer from the same replicated node records, so
 * placement needs no coordination; it only chooses targets. The truth about where
 * copies are is BlobRecord.holders. Adding a node moves about R/N of the blobs (its
 * share of the weight), and only onto the new node.
 *
 * Weights: a node is weighed by the size of its blob file system as it last reported
 * it (NodeRecord.capacity_bytes, in MiB) times the operator's factor (weight_pct,
 * default 100), so a node twice as large takes about twice the copies. A node that has
 * not reported yet counts as the mean of those that have (all equal when none has: the
 * unweighted ranking exactly). Node i ranks by -ln(u_i)/w_i, smallest first, where u_i
 * is its SipHash score of the blob mapped to (0,1]: the weighted rendezvous rule (a
 * node's chance to rank first is w_i / sum w). It is computed in integers only (a
 * 32.32 fixed-point -log2, compared by 128-bit cross products), so every node, CPU and
 * libm ranks alike; with equal weights the order is that of the raw scores.
 *
 * A node that reports its disk full (NodeRecord.full) is chosen for no new copy: it is
 * left out of the ranking, except for a blob it already holds (placement_rank_held),
 * whose copy stays where it is, so fullness moves no data; its copies count and serve.
 *
 * A placement is a copy of the member list: build it on any thread from the
 * committed store (placement_load), then query it without locks. */
#ifndef IMGARC_REPLICATION_PLACEMENT_H
#define IMGARC_REPLICATION_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/nodes.h"

#define PLACEMENT_MAX_NODES 256
#define PLACEMENT_HASH_BYTES 32

struct placement_node {
    uint64_t id;
    char zone[ARCHIVE_ZONE_MAX + 1];
    char http[ARCHIVE_ADDRESS_MAX + 1];
    bool active; /* takes new copies (storage state active) */
    bool live;   /* its copies count (not out) */
    bool full;   /* reported its disk full: takes no new copies, keeps those it has */
    uint64_t weight; /* capacity weight (MiB x percent); 0 counts as 1 */
    uint64_t capacity_bytes; /* as reported; 0 when not yet */
    unsigned weight_pct;     /* the operator's factor, 100 by default */
    uint64_t storage_ms;     /* when its storage state last changed (NodeRecord) */
};

struct placement {
    struct placement_node nodes[PLACEMENT_MAX_NODES]; /* members, removed ones left out */
    size_t n;
    unsigned replicas;     /* R as configured */
    unsigned write_quorum; /* W as configured */
};

/* Fills @p with the members of the committed store (never the batch being applied, so
 * any thread may call it) and the configured R and W. */
int placement_load(struct placement *p, struct archive *a, unsigned replicas,
                   unsigned write_quorum, struct base_err *err) WARN_UNUSED;
/* Sets each member's weight from its capacity and factor (placement_load calls it;
 * for a placement filled by hand). */
void placement_weigh(struct placement *p);
/* The copies a blob should have: R capped at the number of members (at least 1). */
unsigned placement_replicas(const struct placement *p);
/* The copies a capture needs before it is acknowledged: W capped likewise. */
unsigned placement_write_quorum(const struct placement *p);

/* The member @id, or NULL. */
const struct placement_node *placement_node(const struct placement *p, uint64_t id);
/* Whether a copy on @id counts: a member that is not out. */
bool placement_live(const struct placement *p, uint64_t id);

/* The rendezvous score of node @id for @hash (unweighted; higher ranks first among
 * equal weights). */
uint64_t placement_score(const uint8_t hash[PLACEMENT_HASH_BYTES], uint64_t id);
/* -log2 of a score mapped to (0,1] ((score + 1) / 2^64) in 32.32 fixed point: 0 for
 * the highest score, 64 << 32 for 0; never increasing with the score. */
uint64_t placement_neg_log2(uint64_t score);

/* Active members that are not full ranked for @hash into @out (at most @max): the
 * first placement_replicas() of them are where the copies belong, one per zone before
 * any zone gets a second; the rest follow by weighted score, as fallbacks. Returns the
 * number. */
size_t placement_rank(const struct placement *p, const uint8_t hash[PLACEMENT_HASH_BYTES],
                      uint64_t *out, size_t max);
/* The same, where a full node still ranks for a blob it holds (@held, @n_held: the
 * blob's holders), so its copy is kept rather than moved away. */
size_t placement_rank_held(const struct placement *p, const uint8_t hash[PLACEMENT_HASH_BYTES],
                           const uint64_t *held, size_t n_held, uint64_t *out, size_t max);

#endif
