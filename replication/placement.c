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
    }
}

int placement_load(struct placement *p, struct archive *a, unsigned replicas,
                   unsigned write_quorum, struct base_err *err)
{
    memset(p, 0, sizeof *p);
    p->replicas = replicas > 0 ? replicas : 1;
    p->write_quorum = write_quorum > 0 ? write_quorum : 1;
    return archive_each_node(a, load_node, p, err);
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

struct scored {
    uint64_t score;
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

static int by_score(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return x->node->id < y->node->id ? -1 : x->node->id > y->node->id;
}

size_t placement_rank(const struct placement *p, const uint8_t hash[PLACEMENT_HASH_BYTES],
                      uint64_t *out, size_t max)
{
    struct scored s[PLACEMENT_MAX_NODES];
    bool taken[PLACEMENT_MAX_NODES] = {false};
    size_t n = 0, k = 0;
    unsigned r = placement_replicas(p);
    for (size_t i = 0; i < p->n; i++) {
        if (p->nodes[i].active) {
            s[n].score = placement_score(hash, p->nodes[i].id);
            s[n].node = &p->nodes[i];
            n++;
        }
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
