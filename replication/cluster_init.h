/* Cluster bootstrap: until the cluster's InitCluster command is applied, the node
 * that leads proposes it (the cluster's creation, its token key, the default tenant
 * with its evaluation license; a no-op when applied twice). A timer on the loop looks
 * every 100 ms until the command is applied. Loop thread only; the struct is the
 * caller's and lives until the stop callback has run. */
#ifndef IMGARC_REPLICATION_CLUSTER_INIT_H
#define IMGARC_REPLICATION_CLUSTER_INIT_H

#include <stdbool.h>
#include <uv.h>

#include "archive/archive.h"
#include "replication/repl.h"

struct cluster_init {
    /* Private. */
    struct archive *archive; /* borrowed until stopped */
    struct repl *repl;       /* likewise */
    uv_timer_t timer;
    struct repl_propose prop;
    bool in_flight;    /* a proposal waits for its callback */
    bool timer_closed;
    bool stopping;
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

void cluster_init_start(struct cluster_init *ci, uv_loop_t *loop, struct archive *archive,
                        struct repl *repl);
/* Stops looking; @cb runs once the timer is closed and no proposal is in flight. */
void cluster_init_stop(struct cluster_init *ci, void (*cb)(void *arg), void *arg);

#endif
