/* Cluster bootstrap on a new cluster's first leader. See cluster_init.h. */
#include "replication/cluster_init.h"

#include <sodium.h>

#include "base/log.h"
#include "base/mem.h"

#define CLUSTER_INIT_TICK_MS 100

static void maybe_stopped(struct cluster_init *ci)
{
    if (ci->stopping && ci->timer_closed && !ci->in_flight && ci->stop_cb != NULL) {
        void (*cb)(void *) = ci->stop_cb;
        ci->stop_cb = NULL;
        cb(ci->stop_arg);
    }
}

static void init_proposed(struct repl_propose *prop, int status,
                          const struct archive_result *res)
{
    struct cluster_init *ci = prop->data;
    ASSERT(ci->in_flight);
    ci->in_flight = false;
    if (status != 0 && status != BASE_ESHUTDOWN) {
        LOG_WARN("api", "initialising the cluster: %s; trying again", base_strerror(status));
    } else if (status == 0 && res->status != ARCHIVE_OK) {
        LOG_ERROR("api", "initialising the cluster refused: %s", res->message);
    }
    maybe_stopped(ci);
}

/* A new cluster's first leader records the cluster's creation and the default tenant
 * with its evaluation license (the InitCluster command; a no-op when applied twice). */
static void init_tick(uv_timer_t *timer)
{
    struct cluster_init *ci = timer->data;
    Command cmd = COMMAND__INIT;
    InitCluster ic = INIT_CLUSTER__INIT;
    uint8_t key[32];
    if (archive_cluster_initialized(ci->archive)) {
        uv_timer_stop(timer);
        return;
    }
    if (ci->in_flight || !repl_is_leader(ci->repl)) {
        return;
    }
    repl_stamp_node_command(&cmd, "init-cluster");
    randombytes_buf(key, sizeof key);
    ic.token_key.data = key;
    ic.token_key.len = sizeof key;
    ic.level = repl_feature_level(ci->repl); /* a new cluster's members run this build */
    cmd.body_case = COMMAND__BODY_INIT_CLUSTER;
    cmd.init_cluster = &ic;
    ci->prop.data = ci;
    if (repl_propose(ci->repl, &ci->prop, &cmd, init_proposed) == 0) {
        ci->in_flight = true;
    }
    sodium_memzero(key, sizeof key);
}

void cluster_init_start(struct cluster_init *ci, uv_loop_t *loop, struct archive *archive,
                        struct repl *repl)
{
    *ci = (struct cluster_init){.archive = archive, .repl = repl};
    uv_timer_init(loop, &ci->timer);
    ci->timer.data = ci;
    uv_timer_start(&ci->timer, init_tick, 0, CLUSTER_INIT_TICK_MS);
}

static void timer_closed(uv_handle_t *h)
{
    struct cluster_init *ci = h->data;
    ci->timer_closed = true;
    maybe_stopped(ci);
}

void cluster_init_stop(struct cluster_init *ci, void (*cb)(void *arg), void *arg)
{
    ASSERT(!ci->stopping);
    ci->stopping = true;
    ci->stop_cb = cb;
    ci->stop_arg = arg;
    uv_close((uv_handle_t *)&ci->timer, timer_closed);
}
