/* Where the copies of a blob belong: weighted-free rendezvous hashing (highest random
 * weight) over the cluster's storage nodes, spread across zones.
 *
 * Every node computes the same answer from the same replicated node records, so
 * placement needs no coordination; it only chooses targets. The truth about where
 * copies are is BlobRecord.holders. Adding a node moves about R/N of the blobs, and
 * only onto the new node.
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
/* The copies a blob should have: R capped at the number of members (at least 1). */
unsigned placement_replicas(const struct placement *p);
/* The copies a capture needs before it is acknowledged: W capped likewise. */
unsigned placement_write_quorum(const struct placement *p);

/* The member @id, or NULL. */
const struct placement_node *placement_node(const struct placement *p, uint64_t id);
/* Whether a copy on @id counts: a member that is not out. */
bool placement_live(const struct placement *p, uint64_t id);

/* The rendezvous score of node @id for @hash (higher ranks first). */
uint64_t placement_score(const uint8_t hash[PLACEMENT_HASH_BYTES], uint64_t id);

/* Active members ranked for @hash into @out (at most @max): the first
 * placement_replicas() of them are where the copies belong, one per zone before any
 * zone gets a second; the rest follow by score, as fallbacks. Returns the number. */
size_t placement_rank(const struct placement *p, const uint8_t hash[PLACEMENT_HASH_BYTES],
                      uint64_t *out, size_t max);

#endif
