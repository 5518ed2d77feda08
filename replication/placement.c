/* Rendezvous placement of blob copies. See placement.h. */
#include "replication/placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/blobs.h"
#include "base/log.h"

/* The SipHash key of the scores: fixed, so that every node and every version ranks
 * alike (changing it would move every blob). */
static const uint8_t score_key[crypto_shorthash_KEYBYTES] = "imgarc-placement";

static void load_node(const NodeRecord *rec, void *arg)
{
    struct placement *p = arg;
    struct placement_node *n;
    if (rec == NULL) {
        LOG_WARN("placement", "a node record is corrupt; skipped");
        return;
    }
    if (!rec->removed && p->n < PLACEMENT_MAX_NODES) {
        n = &p->nodes[p->n++];
        n->id = rec->id;
        snprintf(n->zone, sizeof n->zone, "%s", rec->zone);
        snprintf(n->http, sizeof n->http, "%s", rec->http);
        n->active = strcmp(rec->storage, ARCHIVE_STORAGE_ACTIVE) == 0;
        n->live = strcmp(rec->storage, ARCHIVE_STORAGE_OUT) != 0;
        n->full = rec->full;
        n->capacity_bytes = rec->capacity_bytes;
        n->weight_pct = archive_node_weight_pct(rec);
        n->storage_ms = rec->storage_ms;
    }
}

/* A capacity in MiB, within the range a report may carry (so weights stay below 2^50
 * and the cross products of placement_rank below 2^88). */
static uint64_t capacity_mib(uint64_t bytes)
{
    if (bytes > ARCHIVE_CAPACITY_MAX) {
        bytes = ARCHIVE_CAPACITY_MAX;
    }
    return bytes >> 20 > 0 ? bytes >> 20 : 1;
}

void placement_weigh(struct placement *p)
{
    uint64_t sum = 0, reported = 0, fallback = 1;
    for (size_t i = 0; i < p->n; i++) {
        if (p->nodes[i].capacity_bytes > 0) {
            sum += capacity_mib(p->nodes[i].capacity_bytes); /* < 2^40 each, 256 of them */
            reported++;
        }
    }
    if (reported > 0) {
        fallback = sum / reported > 0 ? sum / reported : 1;
    }
    for (size_t i = 0; i < p->n; i++) {
        struct placement_node *n = &p->nodes[i];
        uint64_t base = n->capacity_bytes > 0 ? capacity_mib(n->capacity_bytes) : fallback;
        unsigned pct = n->weight_pct >= ARCHIVE_WEIGHT_PCT_MIN &&
                               n->weight_pct <= ARCHIVE_WEIGHT_PCT_MAX
                           ? n->weight_pct
                           : ARCHIVE_WEIGHT_PCT_DEFAULT;
        n->weight = base * pct;
    }
}

int placement_load(struct placement *p, struct archive *a, unsigned replicas,
                   unsigned write_quorum, struct base_err *err)
{
    int rv;
    memset(p, 0, sizeof *p);
    p->replicas = replicas > 0 ? replicas : 1;
    p->write_quorum = write_quorum > 0 ? write_quorum : 1;
    rv = archive_each_node(a, load_node, p, err);
    placement_weigh(p);
    return rv;
}

unsigned placement_replicas(const struct placement *p)
{
    unsigned members = p->n > 0 ? (unsigned)p->n : 1;
    unsigned r = p->replicas > 0 ? p->replicas : 1;
    return r < members ? r : members;
}

unsigned placement_write_quorum(const struct placement *p)
{
    unsigned r = placement_replicas(p);
    unsigned w = p->write_quorum > 0 ? p->write_quorum : 1;
    return w < r ? w : r;
}

const struct placement_node *placement_node(const struct placement *p, uint64_t id)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->nodes[i].id == id) {
            return &p->nodes[i];
        }
    }
    return NULL;
}

bool placement_live(const struct placement *p, uint64_t id)
{
    const struct placement_node *n = placement_node(p, id);
    return n != NULL && n->live;
}

__extension__ typedef unsigned __int128 u128;

struct scored {
    uint64_t score;    /* the raw score: ties */
    uint64_t neg_log2; /* -log2 of the score in (0,1], 32.32 */
    uint64_t weight;
    const struct placement_node *node;
};

uint64_t placement_score(const uint8_t hash[PLACEMENT_HASH_BYTES], uint64_t id)
{
    uint8_t in[PLACEMENT_HASH_BYTES + 8];
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t v = 0;
    memcpy(in, hash, PLACEMENT_HASH_BYTES);
    for (int i = 0; i < 8; i++) {
        in[PLACEMENT_HASH_BYTES + i] = (uint8_t)(id >> (8 * i));
    }
    crypto_shorthash(out, in, sizeof in, score_key);
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)out[i] << (8 * i);
    }
    return v;
}

/* log2(x) of x >= 1 in 32.32 fixed point, by the bits of the mantissa squared: exact
 * integer steps, each never decreasing in x, so the result never decreases either. */
static uint64_t log2_q32(uint64_t x)
{
    int e = 63 - __builtin_clzll(x);
    uint64_t m = x << (63 - e); /* the mantissa in [1,2), 63 fractional bits */
    uint64_t frac = 0;
    for (int i = 0; i < 32; i++) {
        u128 sq = ((u128)m * m) >> 63; /* [1,4) with 63 fractional bits */
        frac <<= 1;
        if (sq >> 64 != 0) {
            frac |= 1;
            sq >>= 1;
        }
        m = (uint64_t)sq;
    }
    return ((uint64_t)e << 32) | frac;
}

uint64_t placement_neg_log2(uint64_t score)
{
    if (score == UINT64_MAX) {
        return 0; /* u = 1 */
    }
    return (64ull << 32) - log2_q32(score + 1);
}

/* Smallest -ln(u)/w first: a before b when neg_log2(a) * w(b) < neg_log2(b) * w(a),
 * exact in 128 bits (the ln 2 factor cancels); then the higher raw score, then the
 * lower id, so equal weights rank by raw score as unweighted rendezvous does. */
static int by_score(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    u128 xs = (u128)x->neg_log2 * y->weight, ys = (u128)y->neg_log2 * x->weight;
    if (xs != ys) {
        return xs < ys ? -1 : 1;
    }
    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return x->node->id < y->node->id ? -1 : x->node->id > y->node->id;
}

static bool listed(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

size_t placement_rank(const struct placement *p, const uint8_t hash[PLACEMENT_HASH_BYTES],
                      uint64_t *out, size_t max)
{
    return placement_rank_held(p, hash, NULL, 0, out, max);
}

size_t placement_rank_held(const struct placement *p, const uint8_t hash[PLACEMENT_HASH_BYTES],
                           const uint64_t *held, size_t n_held, uint64_t *out, size_t max)
{
    struct scored s[PLACEMENT_MAX_NODES];
    bool taken[PLACEMENT_MAX_NODES] = {false};
    size_t n = 0, k = 0;
    unsigned r = placement_replicas(p);
    bool equal = true;
    for (size_t i = 0; i < p->n; i++) {
        const struct placement_node *node = &p->nodes[i];
        if (node->active && (!node->full || listed(held, n_held, node->id))) {
            s[n].score = placement_score(hash, node->id);
            s[n].weight = node->weight > 0 ? node->weight : 1;
            s[n].node = node;
            equal = equal && s[n].weight == s[0].weight;
            n++;
        }
    }
    /* Equal weights order by raw score alone (by_score then compares equal logarithms
     * and falls through to the scores): the logarithms are skipped. */
    for (size_t i = 0; i < n; i++) {
        s[i].neg_log2 = equal ? 0 : placement_neg_log2(s[i].score);
    }
    qsort(s, n, sizeof *s, by_score);
    /* First the best node of each zone not used yet, while copies are to be placed;
     * then the rest by score. */
    for (size_t i = 0; i < n && k < r && k < max; i++) {
        bool zone_used = false;
        for (size_t j = 0; j < i && !zone_used; j++) {
            zone_used = taken[j] && strcmp(s[j].node->zone, s[i].node->zone) == 0;
        }
        if (!zone_used) {
            taken[i] = true;
            out[k++] = s[i].node->id;
        }
    }
    for (size_t i = 0; i < n && k < max; i++) {
        if (!taken[i]) {
            taken[i] = true;
            out[k++] = s[i].node->id;
        }
    }
    return k;
}
