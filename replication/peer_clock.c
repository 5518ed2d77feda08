/* Other nodes' clock offsets. See peer_clock.h. */
#include "replication/peer_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

void peer_clock_init(struct peer_clock *pc)
{
    memset(pc, 0, sizeof *pc);
    pthread_mutex_init(&pc->mu, NULL);
}

void peer_clock_close(struct peer_clock *pc)
{
    pthread_mutex_destroy(&pc->mu);
}

/* The entry of @peer, or NULL. Under the mutex. */
static struct peer_clock_entry *find(struct peer_clock *pc, const char *peer)
{
    for (unsigned i = 0; i < pc->n; i++) {
        if (strcmp(pc->entries[i].peer, peer) == 0) {
            return &pc->entries[i];
        }
    }
    return NULL;
}

int64_t peer_clock_offset_ms(struct peer_clock *pc, const char *peer)
{
    int64_t offset = 0;
    (void)peer_clock_get(pc, peer, &offset);
    return offset;
}

bool peer_clock_get(struct peer_clock *pc, const char *peer, int64_t *offset_ms)
{
    struct peer_clock_entry *e;
    if (pc == NULL || peer == NULL) {
        return false;
    }
    pthread_mutex_lock(&pc->mu);
    e = find(pc, peer);
    if (e != NULL) {
        *offset_ms = e->offset_ms;
    }
    pthread_mutex_unlock(&pc->mu);
    return e != NULL;
}

static const char *direction(int64_t offset_ms)
{
    return offset_ms >= 0 ? "ahead of" : "behind";
}

void peer_clock_learn(struct peer_clock *pc, const char *peer, int64_t offset_ms)
{
    struct peer_clock_entry *e;
    int64_t size = offset_ms < 0 ? -offset_ms : offset_ms;
    if (pc == NULL || peer == NULL) {
        return;
    }
    pthread_mutex_lock(&pc->mu);
    e = find(pc, peer);
    if (e == NULL) {
        if (pc->n < PEER_CLOCK_PEERS_MAX) {
            e = &pc->entries[pc->n++];
        } else {
            e = &pc->entries[0];
            for (unsigned i = 1; i < pc->n; i++) {
                if (pc->entries[i].learned_seq < e->learned_seq) {
                    e = &pc->entries[i];
                }
            }
        }
        memset(e, 0, sizeof *e);
        snprintf(e->peer, sizeof e->peer, "%s", peer);
    }
    e->offset_ms = offset_ms;
    e->learned_seq = ++pc->seq;
    if (size >= PEER_CLOCK_WARN_MS &&
        (!e->skewed || llabs(offset_ms - e->logged_ms) >= PEER_CLOCK_WARN_MS)) {
        e->skewed = true;
        e->logged_ms = offset_ms;
        LOG_WARN("peer_clock", "the clock of the node at %s is %.1f s %s this node's; "
                               "node-to-node calls adjust for it, but fix the clocks (NTP) of "
                               "both nodes",
                 peer, (double)size / 1000.0, direction(offset_ms));
    } else if (e->skewed && size < PEER_CLOCK_WARN_MS / 2) {
        e->skewed = false;
        e->logged_ms = offset_ms;
        LOG_INFO("peer_clock", "the clock of the node at %s agrees with this node's again "
                               "(%+.1f s)",
                 peer, (double)offset_ms / 1000.0);
    }
    pthread_mutex_unlock(&pc->mu);
}

void peer_clock_each(struct peer_clock *pc,
                     void (*fn)(const char *peer, int64_t offset_ms, void *arg), void *arg)
{
    if (pc == NULL) {
        return;
    }
    pthread_mutex_lock(&pc->mu);
    for (unsigned i = 0; i < pc->n; i++) {
        fn(pc->entries[i].peer, pc->entries[i].offset_ms, arg);
    }
    pthread_mutex_unlock(&pc->mu);
}
