/* The migration runner: the running batches and their phases. See runner.h; one
 * bill's work in a lane is mover.c's. */
#include "migrate/runner_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#define TICK_MS 250
#define BUDGET_TICK_MS 50
#define LIST_PAGE 200
#define SCAN_MAX 2000          /* batch bills looked at per tick and batch */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 60000
#define RUNNER_OPERATOR "migration"
#define VERDICTS_MAX 100       /* pre-check verdicts in one MigrationChecked */

/* ---- Shared with mover.c ---- */

void run_backoff(struct run *run, const char *why)
{
    uint64_t delay = BACKOFF_MIN_MS;
    for (unsigned i = 0; i < run->transient && delay < BACKOFF_MAX_MS; i++) {
        delay *= 2;
    }
    if (delay > BACKOFF_MAX_MS) {
        delay = BACKOFF_MAX_MS;
    }
    run->transient++;
    run->retry_at_ms = clock_wall_ms() + delay;
    run->r->stats.source_errors_total++;
    if (strcmp(run->last_error, why) != 0) {
        LOG_WARN("migrate", "batch %s of tenant %s: %s; trying again in %llu ms", run->batch_no,
                 run->tenant, why, (unsigned long long)delay);
        snprintf(run->last_error, sizeof run->last_error, "%s", why);
    }
}

void run_ok(struct run *run)
{
    run->transient = 0;
    run->last_error[0] = '\0';
}

bool run_propose(struct run *run, struct repl_propose *prop, Command *cmd, repl_propose_cb cb)
{
    char request_id[ARCHIVE_ID_MAX + 1];
    int rv;
    if (run->r->stopping) {
        return false;
    }
    snprintf(request_id, sizeof request_id, "migrate-%.50s", run->batch_no);
    cmd->tenant = run->tenant;
    cmd->request_id = request_id;
    cmd->operator_ = RUNNER_OPERATOR;
    cmd->time_ms = clock_wall_ms();
    rv = repl_propose(run->r->repl, prop, cmd, cb);
    if (rv != 0) {
        LOG_WARN("migrate", "batch %s: proposing %s failed: %s", run->batch_no,
                 archive_command_name(cmd), base_strerror(rv));
        return false;
    }
    return true;
}

bool runner_budget_take(struct migrate_runner *r, size_t n)
{
    if (r->config.bytes_per_s == 0) {
        return true;
    }
    if (r->budget <= 0) {
        return false;
    }
    r->budget -= (int64_t)n;
    return true;
}

static void tick(uv_timer_t *t);

void runner_kick(struct migrate_runner *r)
{
    if (!r->stopping && !uv_is_active((uv_handle_t *)&r->kick_timer)) {
        uv_timer_start(&r->kick_timer, tick, 0, 0);
    }
}

static void budget_cb(uv_timer_t *t)
{
    struct migrate_runner *r = t->data;
    int64_t step = (int64_t)(r->config.bytes_per_s * BUDGET_TICK_MS / 1000);
    r->budget += step > 0 ? step : 1;
    if (r->budget > 2 * step) {
        r->budget = 2 * step; /* at most two ticks saved up: no bursts after a pause */
    }
    for (struct run *run = r->runs; run != NULL && r->budget > 0; run = run->next) {
        for (unsigned i = 0; i < run->n_lanes; i++) {
            if (run->lanes[i].budget_wait) {
                lane_budget_resume(&run->lanes[i]);
            }
        }
    }
}

/* ---- Runs ---- */

static bool run_busy(const struct run *run)
{
    if (run->listing || run->closing || run->n_verdicts > 0 || run->n_flushing > 0) {
        return true;
    }
    for (unsigned i = 0; i < run->n_lanes; i++) {
        if (run->lanes[i].job != LANE_IDLE) {
            return true;
        }
    }
    return false;
}

static void drop_sources(struct run *run);

static void free_verdicts(MigrationBill **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        migration_bill__free_unpacked(v[i], NULL);
    }
    free(v);
}

static void run_free(struct run *run)
{
    drop_sources(run);
    free_verdicts(run->verdicts, run->n_verdicts);
    free_verdicts(run->flushing, run->n_flushing);
    free(run);
}

/* ---- Pre-check verdicts ---- */

static void flush_verdicts(struct run *run);

static void verdicts_applied(struct repl_propose *prop, int status,
                             const struct archive_result *res)
{
    struct run *run = prop->data;
    if (status == 0 && res->status != ARCHIVE_OK && res->status != ARCHIVE_R_INVALID_STATE) {
        LOG_WARN("migrate", "batch %s: %zu pre-check verdicts refused: %s", run->batch_no,
                 run->n_flushing, res->message);
        if (run->n_flushing == 1 && run->flushing[0]->state[0] != '\0') {
            /* One bill the state machine will not take as the source gave it. */
            Command cmd = COMMAND__INIT;
            MigrationBillFailed f = MIGRATION_BILL_FAILED__INIT;
            char why[400];
            snprintf(why, sizeof why, "the source's bill cannot be recorded: %.300s",
                     res->message);
            f.batch_no = run->batch_no;
            f.image_no = run->flushing[0]->image_no;
            f.reason = why;
            cmd.body_case = COMMAND__BODY_MIGRATION_BILL_FAILED;
            cmd.migration_bill_failed = &f;
            if (run_propose(run, prop, &cmd, verdicts_applied)) {
                run->flushing[0]->state[0] = '\0'; /* proposed as failed: once only */
                return;
            }
        }
        run->one_by_one = true;
    }
    free_verdicts(run->flushing, run->n_flushing);
    run->flushing = NULL;
    run->n_flushing = 0;
    flush_verdicts(run);
    runner_kick(run->r);
}

static void flush_verdicts(struct run *run)
{
    Command cmd = COMMAND__INIT;
    MigrationChecked c = MIGRATION_CHECKED__INIT;
    size_t n;
    if (run->n_flushing > 0 || run->n_verdicts == 0) {
        return;
    }
    n = run->one_by_one ? 1 : run->n_verdicts < VERDICTS_MAX ? run->n_verdicts : VERDICTS_MAX;
    run->flushing = xcalloc(n, sizeof *run->flushing);
    memcpy(run->flushing, run->verdicts, n * sizeof *run->flushing);
    run->n_flushing = n;
    memmove(run->verdicts, run->verdicts + n, (run->n_verdicts - n) * sizeof *run->verdicts);
    run->n_verdicts -= n;
    c.batch_no = run->batch_no;
    c.bills = run->flushing;
    c.n_bills = n;
    cmd.body_case = COMMAND__BODY_MIGRATION_CHECKED;
    cmd.migration_checked = &c;
    run->verdict_prop.data = run;
    if (!run_propose(run, &run->verdict_prop, &cmd, verdicts_applied)) {
        /* Not the leader any more, or stopping: the next leader checks them again. */
        free_verdicts(run->flushing, run->n_flushing);
        run->flushing = NULL;
        run->n_flushing = 0;
        free_verdicts(run->verdicts, run->n_verdicts);
        run->verdicts = NULL;
        run->n_verdicts = 0;
    }
}

void run_add_verdict(struct run *run, MigrationBill *b)
{
    if (run->r->stopping || run->gone) {
        migration_bill__free_unpacked(b, NULL);
        return;
    }
    run->verdicts = xrealloc(run->verdicts, (run->n_verdicts + 1) * sizeof *run->verdicts);
    run->verdicts[run->n_verdicts++] = b;
    flush_verdicts(run);
}

/* Frees the run's sources (nothing in flight). */
static void drop_sources(struct run *run)
{
    for (unsigned i = 0; i < run->n_lanes; i++) {
        lane_release(&run->lanes[i]);
        source_free(run->lanes[i].src);
    }
    free(run->lanes);
    run->lanes = NULL;
    run->n_lanes = 0;
    source_free(run->lister);
    run->lister = NULL;
}

/* Makes the run's sources from data source @ds: one to list, one per lane. */
static int make_sources(struct run *run, const DataSourceRecord *ds, struct base_err *err)
{
    struct migrate_runner *r = run->r;
    struct source_env env = {.loop = r->loop, .http = r->config.http, .guard = r->config.guard};
    int rv = source_new(&run->lister, &env, ds, err);
    if (rv == 0) {
        run->n_lanes = r->config.lanes;
        run->lanes = xcalloc(run->n_lanes, sizeof *run->lanes);
        for (unsigned i = 0; i < run->n_lanes && rv == 0; i++) {
            run->lanes[i].run = run;
            rv = source_new(&run->lanes[i].src, &env, ds, err);
        }
    }
    if (rv != 0) {
        drop_sources(run);
        return rv;
    }
    run->ds_updated_ms = ds->updated_ms;
    return 0;
}

/* Whether the run may work now: its data source exists and is enabled, and the run's
 * sources are made from its current version (a changed data source, new credentials
 * say, is taken up once nothing is in flight). */
static bool sources_ready(struct run *run)
{
    struct base_err err = {{0}};
    DataSourceRecord *ds = NULL;
    char why[400];
    bool ready = false;
    int rv = archive_get_datasource(run->r->a, run->tenant, run->datasource, &ds, &err);
    if (rv == BASE_ENOTFOUND) {
        snprintf(why, sizeof why, "data source %s does not exist (any more)", run->datasource);
    } else if (rv != 0) {
        snprintf(why, sizeof why, "reading data source %s: %s", run->datasource, err.msg);
    } else if (ds->disabled) {
        snprintf(why, sizeof why, "data source %s is disabled: enable it to go on",
                 run->datasource);
    } else if (run->lister != NULL && ds->updated_ms == run->ds_updated_ms) {
        ready = true;
    } else if (run_busy(run)) {
        why[0] = '\0'; /* changed: taken up once the calls in flight are over */
    } else {
        drop_sources(run);
        if (make_sources(run, ds, &err) == 0) {
            LOG_INFO("migrate", "batch %s of tenant %s reads data source %s (%s)",
                     run->batch_no, run->tenant, ds->name, ds->kind);
            /* New credentials or a new address: no reason to wait out the back-off. */
            run->retry_at_ms = 0;
            run->transient = 0;
            run->last_error[0] = '\0';
            ready = true;
        } else {
            snprintf(why, sizeof why, "%s", err.msg);
        }
    }
    if (!ready && why[0] != '\0' && strcmp(run->last_error, why) != 0) {
        LOG_WARN("migrate", "batch %s of tenant %s waits: %s", run->batch_no, run->tenant, why);
        snprintf(run->last_error, sizeof run->last_error, "%s", why);
    }
    if (ds != NULL) {
        data_source_record__free_unpacked(ds, NULL);
    }
    return ready;
}

/* A run for a batch that just started running here (or on this new leader). */
static struct run *run_new(struct migrate_runner *r, const char *tenant, const char *batch_no)
{
    struct base_err err = {{0}};
    MigrationRecord *m = NULL;
    struct run *run = xcalloc(1, sizeof *run);
    run->r = r;
    snprintf(run->tenant, sizeof run->tenant, "%s", tenant);
    snprintf(run->batch_no, sizeof run->batch_no, "%s", batch_no);
    if (archive_get_migration(r->a, tenant, batch_no, &m, &err) == 0) {
        snprintf(run->datasource, sizeof run->datasource, "%s", m->datasource);
        migration_record__free_unpacked(m, NULL);
    }
    return run;
}

static bool mark_running(const char *tenant, const char *batch_no, void *arg)
{
    struct migrate_runner *r = arg;
    struct run *run;
    for (run = r->runs; run != NULL; run = run->next) {
        if (strcmp(run->tenant, tenant) == 0 && strcmp(run->batch_no, batch_no) == 0) {
            break;
        }
    }
    if (run == NULL) {
        run = run_new(r, tenant, batch_no);
        run->next = r->runs;
        r->runs = run;
    }
    run->seen = true;
    run->gone = false;
    return true;
}

/* ---- Listing ---- */

static void listed_applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct run *run = prop->data;
    run->listing = false;
    runner_kick(run->r);
    if (status != 0 || res->status != ARCHIVE_OK) {
        LOG_WARN("migrate", "batch %s: a list page was not recorded: %s", run->batch_no,
                 status != 0 ? base_strerror(status) : res->message);
    }
}

/* Whether @v is in @list (an empty list takes everything). */
static bool in_scope(const char *v, char **list, size_t n)
{
    if (n == 0) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], v != NULL ? v : "") == 0) {
            return true;
        }
    }
    return false;
}

struct page {
    struct run *run;
    MigrationScope *scope;
};

static void list_answered(void *arg, int status, const char *message, json_t *bills,
                          const char *next_cursor)
{
    struct run *run = arg;
    struct base_err err = {{0}};
    MigrationRecord *m = NULL;
    Command cmd = COMMAND__INIT;
    MigrationListed l = MIGRATION_LISTED__INIT;
    MigrationBill *items = NULL, **ptrs = NULL;
    size_t n = 0, i;
    json_t *b;
    if (run->r->stopping || run->gone) {
        run->listing = false;
        return;
    }
    if (status != 0) {
        run->listing = false;
        run_backoff(run, message);
        return;
    }
    run_ok(run);
    if (archive_get_migration(run->r->a, run->tenant, run->batch_no, &m, &err) != 0) {
        run->listing = false;
        return;
    }
    items = xcalloc(json_array_size(bills) + 1, sizeof *items);
    ptrs = xcalloc(json_array_size(bills) + 1, sizeof *ptrs);
    json_array_foreach(bills, i, b) {
        const char *image_no = json_string_value(json_object_get(b, "image_no"));
        const char *org = json_string_value(json_object_get(b, "org"));
        const char *type = json_string_value(json_object_get(b, "bill_type"));
        const char *created = json_string_value(json_object_get(b, "created"));
        int64_t created_ms = created != NULL ? clock_parse_rfc3339(created) : -1;
        MigrationBill *mb = &items[n];
        if (image_no == NULL || !archive_valid_image_no(image_no) ||
            !in_scope(org, m->scope->orgs, m->scope->n_orgs) ||
            !in_scope(type, m->scope->bill_types, m->scope->n_bill_types)) {
            continue; /* outside the scope (or no bill this archive can name) */
        }
        if (created_ms >= 0 && ((m->scope->from_ms > 0 && (uint64_t)created_ms < m->scope->from_ms) ||
                                (m->scope->to_ms > 0 && (uint64_t)created_ms >= m->scope->to_ms))) {
            continue;
        }
        migration_bill__init(mb);
        mb->image_no = (char *)image_no;
        mb->bill_no = (char *)(json_string_value(json_object_get(b, "bill_no")) ?: "");
        mb->bill_type = (char *)(type != NULL ? type : "");
        mb->org = (char *)(org != NULL ? org : "");
        mb->created_ms = created_ms > 0 ? (uint64_t)created_ms : 0;
        mb->source_state = (char *)(json_string_value(json_object_get(b, "state")) ?: "");
        mb->source_ref = (char *)(json_string_value(json_object_get(b, "source_ref")) ?: "");
        if (strlen(mb->bill_no) > 256 || strlen(mb->bill_type) > 64 || strlen(mb->org) > 64 ||
            strlen(mb->source_state) > 32 || strlen(mb->source_ref) > 256) {
            continue;
        }
        ptrs[n++] = mb;
    }
    l.batch_no = run->batch_no;
    l.cursor = run->list_cursor;
    l.next_cursor = (char *)next_cursor;
    l.done = next_cursor[0] == '\0';
    l.bills = ptrs;
    l.n_bills = n;
    cmd.body_case = COMMAND__BODY_MIGRATION_LISTED;
    cmd.migration_listed = &l;
    run->list_prop.data = run;
    if (strlen(next_cursor) > 256 || !run_propose(run, &run->list_prop, &cmd, listed_applied)) {
        run->listing = false;
    }
    free(items);
    free(ptrs);
    migration_record__free_unpacked(m, NULL);
}

static void list_next(struct run *run, const MigrationRecord *m)
{
    run->listing = true;
    snprintf(run->list_cursor, sizeof run->list_cursor, "%s", m->cursor);
    source_list(run->lister, m->scope, m->cursor, LIST_PAGE, list_answered, run);
}

/* ---- Checking and moving ---- */

static void closed_applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct run *run = prop->data;
    run->closing = false;
    runner_kick(run->r);
    if (status != 0 || res->status != ARCHIVE_OK) {
        LOG_WARN("migrate", "batch %s: closing the phase was not recorded: %s", run->batch_no,
                 status != 0 ? base_strerror(status) : res->message);
    }
}

/* Ends the check pass (or, with every bill done, the batch). */
static void close_phase(struct run *run)
{
    Command cmd = COMMAND__INIT;
    MigrationChecked c = MIGRATION_CHECKED__INIT;
    c.batch_no = run->batch_no;
    c.complete = true;
    cmd.body_case = COMMAND__BODY_MIGRATION_CHECKED;
    cmd.migration_checked = &c;
    run->closing = true;
    run->close_prop.data = run;
    if (!run_propose(run, &run->close_prop, &cmd, closed_applied)) {
        run->closing = false;
    }
}

static struct lane *idle_lane(struct run *run)
{
    for (unsigned i = 0; i < run->n_lanes; i++) {
        if (run->lanes[i].job == LANE_IDLE) {
            return &run->lanes[i];
        }
    }
    return NULL;
}

static bool in_lane(const struct run *run, const char *image_no)
{
    for (unsigned i = 0; i < run->n_lanes; i++) {
        if (run->lanes[i].job != LANE_IDLE && strcmp(run->lanes[i].image_no, image_no) == 0) {
            return true;
        }
    }
    /* Checked, its verdict not recorded yet. */
    for (size_t i = 0; i < run->n_verdicts; i++) {
        if (strcmp(run->verdicts[i]->image_no, image_no) == 0) {
            return true;
        }
    }
    for (size_t i = 0; i < run->n_flushing; i++) {
        if (strcmp(run->flushing[i]->image_no, image_no) == 0) {
            return true;
        }
    }
    return false;
}

struct scan {
    struct run *run;
    enum lane_job job;
    unsigned looked;
    unsigned todo; /* bills still to do, in lanes or not */
    bool stopped;  /* the look stopped before the end */
};

static bool pick(const MigrationBill *b, void *arg)
{
    struct scan *s = arg;
    struct run *run = s->run;
    bool todo = strcmp(b->state, MIGRATION_BILL_PENDING) == 0 ||
                (s->job == LANE_MOVE && strcmp(b->state, MIGRATION_BILL_CHECKED) == 0);
    snprintf(run->scan_after, sizeof run->scan_after, "%s", b->image_no);
    if (todo) {
        s->todo++;
        if (!in_lane(run, b->image_no)) {
            struct lane *l = idle_lane(run);
            if (l == NULL) {
                s->stopped = true;
                return false;
            }
            lane_start(l, s->job, b);
        }
    }
    if (++s->looked >= SCAN_MAX) {
        s->stopped = true;
        return false;
    }
    return true;
}

/* Fills the idle lanes with bills to check (or move); closes the phase when none is
 * left and no lane works on one. */
static void fill_lanes(struct run *run, const MigrationRecord *m, enum lane_job job)
{
    struct base_err err = {{0}};
    struct scan s = {.run = run, .job = job};
    if (idle_lane(run) == NULL) {
        return;
    }
    if (run->scan_after[0] == '\0') {
        run->pass_todo = 0; /* a pass over the batch's bills begins */
    }
    if (archive_each_migration_bill(run->r->a, run->tenant, run->batch_no, run->scan_after,
                                    pick, &s, &err) != 0) {
        LOG_ERROR("migrate", "batch %s: reading its bills: %s", run->batch_no, err.msg);
        return;
    }
    run->pass_todo += s.todo;
    if (!s.stopped) {
        /* The pass (over one look or several) reached the end: the next starts over. */
        run->scan_after[0] = '\0';
        if (run->pass_todo == 0 && !run_busy(run) && (job == LANE_CHECK || m->pending == 0)) {
            close_phase(run);
        }
    }
}

/* ---- The tick ---- */

static void look_at(struct run *run)
{
    struct base_err err = {{0}};
    MigrationRecord *m = NULL;
    if (run->closing || !sources_ready(run) || clock_wall_ms() < run->retry_at_ms) {
        return;
    }
    if (archive_get_migration(run->r->a, run->tenant, run->batch_no, &m, &err) != 0) {
        return;
    }
    if (strcmp(m->state, MIGRATION_RUNNING) == 0) {
        if (!m->listed) {
            if (!run->listing) {
                list_next(run, m);
            }
        } else if (!m->checked) {
            fill_lanes(run, m, LANE_CHECK);
        } else {
            fill_lanes(run, m, LANE_MOVE);
        }
    }
    migration_record__free_unpacked(m, NULL);
}

static void tick(uv_timer_t *t)
{
    struct migrate_runner *r = t->data;
    struct base_err err = {{0}};
    bool leading = !r->stopping && repl_is_leader(r->repl) && archive_cluster_initialized(r->a);
    struct run **p;
    for (struct run *run = r->runs; run != NULL; run = run->next) {
        run->seen = false;
    }
    if (leading && archive_each_running_migration(r->a, mark_running, r, &err) != 0) {
        LOG_ERROR("migrate", "reading the running batches: %s", err.msg);
        return;
    }
    p = &r->runs;
    while (*p != NULL) {
        struct run *run = *p;
        if (!run->seen) {
            /* Paused, cancelled, finished, or this node no longer leads. */
            if (!run->gone) {
                run->gone = true;
                for (unsigned i = 0; i < run->n_lanes; i++) {
                    lane_cancel(&run->lanes[i]);
                }
            }
            if (!run_busy(run)) {
                *p = run->next;
                run_free(run);
                continue;
            }
        } else {
            look_at(run);
        }
        p = &run->next;
    }
}

/* ---- Life ---- */

int migrate_runner_start(struct migrate_runner **out, uv_loop_t *loop,
                         const struct migrate_config *config, struct archive *archive,
                         struct repl *repl, struct base_err *err)
{
    struct migrate_runner *r = xcalloc(1, sizeof *r);
    (void)err;
    r->loop = loop;
    r->config = *config;
    if (r->config.lanes == 0) {
        r->config.lanes = MIGRATE_LANES_DEFAULT;
    }
    r->a = archive;
    r->repl = repl;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, tick, TICK_MS, TICK_MS);
    uv_timer_init(loop, &r->budget_timer);
    r->budget_timer.data = r;
    uv_timer_init(loop, &r->kick_timer);
    r->kick_timer.data = r;
    if (r->config.bytes_per_s > 0) {
        uv_timer_start(&r->budget_timer, budget_cb, BUDGET_TICK_MS, BUDGET_TICK_MS);
    }
    *out = r;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct migrate_runner *r = h->data;
    r->closes--;
}

void migrate_runner_stop(struct migrate_runner *r)
{
    if (r == NULL || r->stopping) {
        return;
    }
    r->stopping = true;
    r->closes = 3;
    uv_close((uv_handle_t *)&r->timer, timer_closed);
    uv_close((uv_handle_t *)&r->kick_timer, timer_closed);
    uv_close((uv_handle_t *)&r->budget_timer, timer_closed);
    for (struct run *run = r->runs; run != NULL; run = run->next) {
        for (unsigned i = 0; i < run->n_lanes; i++) {
            lane_cancel(&run->lanes[i]);
        }
    }
}

void migrate_runner_free(struct migrate_runner *r)
{
    if (r == NULL) {
        return;
    }
    while (r->runs != NULL) {
        struct run *run = r->runs;
        r->runs = run->next;
        run_free(run);
    }
    free(r);
}

const struct migrate_stats *migrate_runner_stats(const struct migrate_runner *r)
{
    return &r->stats;
}
