/* The leader's cleanup of collected files never submitted. See collect_gc.h. */
#include "replication/collect_gc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/collect.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/dispatch.h"

#define BATCH_MAX 1000
#define TICK_MAX_MS 60000u

struct collect_gc {
    struct dispatch_timer timer; /* the leader's */
    struct archive *a;
    struct repl *repl;
    uint64_t keep_ms;
    struct repl_propose prop;
    bool in_flight;
    uint64_t purged;
};

/* The files of the first tenant found with files past their time. */
struct batch {
    char tenant[ARCHIVE_ID_MAX + 1];
    char *file_nos[BATCH_MAX];
    size_t n;
};

static bool pick(const char *tenant, const CollectedRecord *rec, void *arg)
{
    struct batch *b = arg;
    if (b->tenant[0] == '\0') {
        snprintf(b->tenant, sizeof b->tenant, "%s", tenant);
    } else if (strcmp(b->tenant, tenant) != 0) {
        return true; /* another tenant: the next round */
    }
    b->file_nos[b->n++] = xstrdup(rec->file_no);
    return b->n < BATCH_MAX;
}

static void applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct collect_gc *g = prop->data;
    g->in_flight = false;
    if (status == 0 && res->status == ARCHIVE_OK) {
        g->purged += res->position;
        if (res->position > 0) {
            LOG_INFO("collect", "forgot %u collected files older than %llu s", res->position,
                     (unsigned long long)(g->keep_ms / 1000));
        }
    }
}

static void tick(struct dispatch_timer *t, bool leading)
{
    struct collect_gc *g = t->data;
    struct base_err err = {{0}};
    struct batch *b;
    Command cmd = COMMAND__INIT;
    PurgeCollected p = PURGE_COLLECTED__INIT;
    uint64_t now;
    if (!leading || g->in_flight) {
        return;
    }
    now = clock_wall_ms();
    if (now < g->keep_ms) {
        return;
    }
    b = xcalloc(1, sizeof *b);
    if (archive_each_collected_before(g->a, now - g->keep_ms, pick, b, &err) != 0) {
        LOG_ERROR("collect", "cleanup walk: %s", err.msg);
    } else if (b->n > 0) {
        p.file_nos = b->file_nos;
        p.n_file_nos = b->n;
        p.max_age_ms = g->keep_ms;
        cmd.tenant = b->tenant;
        cmd.request_id = (char *)"collect-cleanup";
        cmd.operator_ = (char *)"collect-cleanup";
        cmd.time_ms = now;
        cmd.body_case = COMMAND__BODY_PURGE_COLLECTED;
        cmd.purge_collected = &p;
        g->in_flight = repl_propose(g->repl, &g->prop, &cmd, applied) == 0;
    }
    for (size_t i = 0; i < b->n; i++) {
        free(b->file_nos[i]);
    }
    free(b);
}

int collect_gc_start(struct collect_gc **out, uv_loop_t *loop, uint64_t keep_ms,
                     struct archive *archive, struct repl *repl, struct base_err *err)
{
    struct collect_gc *g;
    uint64_t every;
    if (keep_ms < 1000) {
        base_err_set(err, "collect cleanup: keep collected files at least one second");
        return BASE_EINVAL;
    }
    g = xcalloc(1, sizeof *g);
    g->keep_ms = keep_ms;
    g->a = archive;
    g->repl = repl;
    g->prop.data = g;
    every = keep_ms / 4 < TICK_MAX_MS ? keep_ms / 4 : TICK_MAX_MS;
    dispatch_timer_start(&g->timer, loop, every, archive, repl, tick);
    g->timer.data = g;
    *out = g;
    return 0;
}

uint64_t collect_gc_purged(const struct collect_gc *g)
{
    return g->purged;
}

void collect_gc_stop(struct collect_gc *g)
{
    dispatch_timer_stop(&g->timer);
}

void collect_gc_free(struct collect_gc *g)
{
    free(g);
}
