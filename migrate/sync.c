/* The invoice-data sync runner. See sync.h. */
#include "migrate/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "archive/migration.h"
#include "archive/sync.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "migrate/import.h"
#include "migrate/source.h"

#define LIST_PAGE 20
#define RETRY_BILLS_MAX 100 /* bills read again in one retry pass */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 60000
#define DAY_MS 86400000ull
#define RETRY_DAYS_BACK 3
#define SYNC_OPERATOR "sync"
#define DAILY_QUIET_MS 60000

/* A run this leader works on. */
struct job {
    struct sync_runner *r;
    char tenant[ARCHIVE_ID_MAX + 1];
    char run_id[SYNC_RUN_ID_MAX + 1];
    char datasource[ARCHIVE_ID_MAX + 1];
    bool seen, gone;
    bool busy;        /* a source call or a proposal in flight */
    bool failing;     /* the run's failure is being proposed */
    struct source *src;
    /* The step being read. */
    bool reading;
    bool retry_pass;
    bool bill_run;
    char cursor[257];
    char next_cursor[257];
    json_t *todo;     /* bills to read: [{"image_no", ...listed}] */
    size_t todo_i;
    json_t *only;     /* retry pass: image_no -> [local file ids] ("" : every file) */
    json_t *items;    /* records so far: [{"image_no","file_id","invoice","error"}] */
    struct repl_propose prop;
    uint64_t retry_at_ms;
    unsigned transient;
    char last_error[400];
    struct job *next;
};

struct daily_prop {
    struct repl_propose prop;
    struct sync_runner *r;
};

struct sync_runner {
    uv_loop_t *loop;
    struct sync_config config;
    struct archive *a;
    struct repl *repl;
    uv_timer_t timer;
    uv_timer_t kick_timer;
    bool stopping;
    unsigned closes;
    unsigned daily_in_flight;
    uint64_t daily_quiet_until_ms; /* a daily proposal was refused: not again before */
    struct job *jobs;
};

static void tick(uv_timer_t *t);
static void look_at(struct job *j);

static void kick(struct sync_runner *r)
{
    if (!r->stopping && !uv_is_active((uv_handle_t *)&r->kick_timer)) {
        uv_timer_start(&r->kick_timer, tick, 0, 0);
    }
}

/* Stamps @cmd for @tenant as the runner, now, and proposes it. */
static bool propose(struct sync_runner *r, const char *tenant, const char *run_id,
                    struct repl_propose *prop, Command *cmd, repl_propose_cb cb)
{
    char request_id[ARCHIVE_ID_MAX + 1];
    int rv;
    if (r->stopping) {
        return false;
    }
    snprintf(request_id, sizeof request_id, "sync-%.58s", run_id);
    cmd->tenant = (char *)tenant;
    cmd->request_id = request_id;
    cmd->operator_ = SYNC_OPERATOR;
    cmd->time_ms = clock_wall_ms();
    rv = repl_propose(r->repl, prop, cmd, cb);
    if (rv != 0) {
        LOG_WARN("sync", "run %s: proposing %s failed: %s", run_id, archive_command_name(cmd),
                 base_strerror(rv));
        return false;
    }
    return true;
}

/* ---- Ending a step ---- */

static void step_clear(struct job *j)
{
    json_decref(j->todo);
    json_decref(j->only);
    json_decref(j->items);
    j->todo = j->only = j->items = NULL;
    j->todo_i = 0;
    j->reading = false;
}

static void fail_run(struct job *j, const char *why);

static void applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct job *j = prop->data;
    bool was_failing = j->failing;
    j->busy = false;
    j->failing = false;
    step_clear(j);
    if (status == 0 && res->status == ARCHIVE_R_INVALID && !was_failing && !j->r->stopping) {
        /* What the source said cannot be recorded: the run fails with why, rather than
         * reading the same step again and again. */
        char why[400];
        snprintf(why, sizeof why, "the source's data cannot be recorded: %.300s", res->message);
        fail_run(j, why);
        return;
    }
    if (status != 0 || res->status != ARCHIVE_OK) {
        LOG_WARN("sync", "run %s of tenant %s: a step was not recorded: %s", j->run_id,
                 j->tenant, status != 0 ? base_strerror(status) : res->message);
    }
    kick(j->r);
}

/* The run cannot go on: it fails with @why and what a person can do. */
static void fail_run(struct job *j, const char *why)
{
    Command cmd = COMMAND__INIT;
    SyncRunFailed f = SYNC_RUN_FAILED__INIT;
    char msg[400];
    snprintf(msg, sizeof msg, "%.300s: sync by hand or check network and configuration", why);
    LOG_WARN("sync", "run %s of tenant %s failed: %s", j->run_id, j->tenant, why);
    f.run_id = j->run_id;
    f.message = msg;
    cmd.body_case = COMMAND__BODY_SYNC_RUN_FAILED;
    cmd.sync_run_failed = &f;
    j->busy = true;
    j->failing = true;
    j->prop.data = j;
    if (!propose(j->r, j->tenant, j->run_id, &j->prop, &cmd, applied)) {
        j->busy = false;
        j->failing = false;
    }
}

/* A source call failed with @status: transient ones back the run off and the step goes
 * on later from where it stood; after too many, or a refusal, the run fails. */
static void source_failed(struct job *j, int status, const char *why)
{
    uint64_t delay = BACKOFF_MIN_MS;
    j->busy = false;
    if (status == BASE_ERETRY && j->transient + 1 < SYNC_TRANSIENT_MAX) {
        for (unsigned i = 0; i < j->transient && delay < BACKOFF_MAX_MS; i++) {
            delay *= 2;
        }
        if (delay > BACKOFF_MAX_MS) {
            delay = BACKOFF_MAX_MS;
        }
        j->transient++;
        j->retry_at_ms = clock_wall_ms() + delay;
        if (strcmp(j->last_error, why) != 0) {
            LOG_WARN("sync", "run %s of tenant %s: %s; trying again in %llu ms", j->run_id,
                     j->tenant, why, (unsigned long long)delay);
            snprintf(j->last_error, sizeof j->last_error, "%s", why);
        }
        return;
    }
    step_clear(j);
    fail_run(j, why);
}

/* Proposes the step's records. */
static void propose_step(struct job *j)
{
    Command cmd = COMMAND__INIT;
    SyncInvoices s = SYNC_INVOICES__INIT;
    size_t n = json_array_size(j->items), i;
    SyncItem *items = xcalloc(n + 1, sizeof *items);
    SyncItem **ptrs = xcalloc(n + 1, sizeof *ptrs);
    Invoice *invs = xcalloc(n + 1, sizeof *invs);
    json_t *it;
    if (n > SYNC_ITEMS_MAX) {
        LOG_WARN("sync", "run %s: %zu records in one step; the first %d are taken", j->run_id, n,
                 SYNC_ITEMS_MAX);
        n = SYNC_ITEMS_MAX;
    }
    for (i = 0; i < n; i++) {
        json_t *inv;
        it = json_array_get(j->items, i);
        sync_item__init(&items[i]);
        items[i].image_no = (char *)json_string_value(json_object_get(it, "image_no"));
        items[i].file_id = (char *)json_string_value(json_object_get(it, "file_id"));
        items[i].error = (char *)json_string_value(json_object_get(it, "error"));
        inv = json_object_get(it, "invoice");
        if (json_is_object(inv)) {
            char **f[] = {&invs[i].number, &invs[i].code, &invs[i].date, &invs[i].amount,
                          &invs[i].tax, &invs[i].total, &invs[i].seller_tax_no,
                          &invs[i].buyer_tax_no};
            invoice__init(&invs[i]);
            for (size_t k = 0; SYNC_FIELDS[k] != NULL; k++) {
                const char *v = json_string_value(json_object_get(inv, SYNC_FIELDS[k]));
                *f[k] = (char *)(v != NULL ? v : "");
            }
            items[i].invoice = &invs[i];
        }
        ptrs[i] = &items[i];
    }
    s.run_id = j->run_id;
    s.retry_pass = j->retry_pass;
    s.cursor = j->cursor;
    s.next_cursor = j->next_cursor;
    s.items = ptrs;
    s.n_items = n;
    cmd.body_case = COMMAND__BODY_SYNC_INVOICES;
    cmd.sync_invoices = &s;
    j->busy = true;
    j->prop.data = j;
    if (!propose(j->r, j->tenant, j->run_id, &j->prop, &cmd, applied)) {
        j->busy = false;
        step_clear(j);
    }
    free(items);
    free(ptrs);
    free(invs);
}

/* ---- Reading the step's bills ---- */

static void add_item(struct job *j, const char *image_no, const char *file_id,
                     json_t *invoice, const char *error)
{
    json_t *it = json_pack("{s:s, s:s, s:s}", "image_no", image_no, "file_id", file_id,
                           "error", error);
    if (invoice != NULL) {
        json_object_set(it, "invoice", invoice);
    }
    json_array_append_new(j->items, it);
}

/* Whether @inv's fields are what apply takes: strings (or absent), each within its
 * bound (archive/apply_sync.c). */
static bool invoice_usable(const json_t *inv)
{
    static const size_t max[] = {64, 64, 32, 32, 32, 32, 64, 64};
    for (size_t k = 0; SYNC_FIELDS[k] != NULL; k++) {
        const json_t *v = json_object_get(inv, SYNC_FIELDS[k]);
        if (v != NULL && !json_is_null(v) &&
            (!json_is_string(v) || json_string_length(v) > max[k] ||
             strlen(json_string_value(v)) != json_string_length(v))) {
            return false;
        }
    }
    return true;
}

static bool listed_in(const json_t *ids, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        const char *s = json_string_value(v);
        if (s != NULL && (s[0] == '\0' || strcmp(s, id) == 0)) {
            return true;
        }
    }
    return false;
}

static void read_next(struct job *j);

static void bill_answered(void *arg, int status, const char *message, json_t *bill)
{
    struct job *j = arg;
    json_t *entry = json_array_get(j->todo, j->todo_i);
    const char *image_no = json_string_value(json_object_get(entry, "image_no"));
    json_t *wanted = j->only != NULL ? json_object_get(j->only, image_no) : NULL;
    json_t *files, *f;
    size_t i;
    char why[400];
    j->busy = false;
    if (j->r->stopping || j->gone) {
        return;
    }
    if (status == BASE_ERETRY || status == BASE_EREFUSED) {
        source_failed(j, status, message);
        return;
    }
    j->transient = 0;
    j->last_error[0] = '\0';
    if (status != 0) {
        snprintf(why, sizeof why, "the source cannot give bill %s: %.300s", image_no, message);
        if (wanted != NULL) {
            json_array_foreach(wanted, i, f) {
                add_item(j, image_no, json_string_value(f), NULL, why);
            }
        } else {
            add_item(j, image_no, "", NULL, why);
        }
    } else {
        files = json_object_get(bill, "files");
        json_array_foreach(files, i, f) {
            char local[ARCHIVE_ID_MAX + 1];
            const char *sid = json_string_value(json_object_get(f, "file_id"));
            json_t *inv = json_object_get(f, "invoice");
            if (sid == NULL || sid[0] == '\0' || strlen(sid) > 256) {
                continue;
            }
            import_file_id(j->datasource, image_no, sid, local);
            if (wanted != NULL && !listed_in(wanted, local)) {
                continue;
            }
            if (json_is_object(inv) && json_is_string(json_object_get(inv, "number")) &&
                !invoice_usable(inv)) {
                snprintf(why, sizeof why, "the source's invoice data of file %.64s is "
                         "malformed (a field too long or not text)", sid);
                add_item(j, image_no, local, NULL, why);
            } else if (json_is_object(inv) && json_is_string(json_object_get(inv, "number"))) {
                add_item(j, image_no, local, inv, "");
            } else if (wanted != NULL) {
                add_item(j, image_no, local, NULL, "");
            }
        }
        if (wanted != NULL) {
            /* Files that failed before and are no longer in the source's bill. */
            json_t *w;
            json_array_foreach(wanted, i, w) {
                const char *id = json_string_value(w);
                bool found = id == NULL || id[0] == '\0';
                size_t k;
                json_t *it;
                json_array_foreach(j->items, k, it) {
                    found = found || (strcmp(json_string_value(json_object_get(it, "image_no")),
                                             image_no) == 0 &&
                                      strcmp(json_string_value(json_object_get(it, "file_id")),
                                             id) == 0);
                }
                if (!found) {
                    add_item(j, image_no, id, NULL, "the source's bill no longer has the file");
                }
            }
        }
    }
    j->todo_i++;
    read_next(j);
}

/* Reads the next bill of the step, or proposes the step when none is left. */
static void read_next(struct job *j)
{
    struct base_err err = {{0}};
    while (j->todo_i < json_array_size(j->todo)) {
        json_t *entry = json_array_get(j->todo, j->todo_i);
        const char *image_no = json_string_value(json_object_get(entry, "image_no"));
        BillRecord *here = NULL;
        int rv;
        if (image_no == NULL || !archive_valid_image_no(image_no)) {
            j->todo_i++;
            continue;
        }
        rv = archive_get_bill(j->r->a, j->tenant, image_no, &here, &err);
        archive_free_bill(here);
        if (rv == BASE_ENOTFOUND && !j->bill_run && j->only == NULL) {
            j->todo_i++; /* a bill this archive does not hold: not its data */
            continue;
        }
        if (rv == BASE_ENOTFOUND) {
            char why[200];
            json_t *wanted = j->only != NULL ? json_object_get(j->only, image_no) : NULL;
            size_t i;
            json_t *w;
            snprintf(why, sizeof why, "bill %s is not in this archive: migrate it first",
                     image_no);
            if (wanted != NULL) {
                json_array_foreach(wanted, i, w) {
                    add_item(j, image_no, json_string_value(w), NULL, why);
                }
            } else {
                add_item(j, image_no, "", NULL, why);
            }
            j->todo_i++;
            continue;
        }
        j->busy = true;
        source_get_bill(j->src, image_no, entry, bill_answered, j);
        return;
    }
    propose_step(j);
}

static void step_start(struct job *j, bool retry_pass, json_t *todo, const char *cursor,
                       const char *next_cursor)
{
    j->reading = true;
    j->retry_pass = retry_pass;
    j->todo = todo;
    j->todo_i = 0;
    j->items = json_array();
    if (cursor != j->cursor) {
        snprintf(j->cursor, sizeof j->cursor, "%s", cursor);
    }
    snprintf(j->next_cursor, sizeof j->next_cursor, "%s", next_cursor);
    read_next(j);
}

/* ---- The retry pass ---- */

static bool failure_seen(const SyncFailure *f, void *arg)
{
    struct job *j = arg;
    json_t *ids;
    if (strcmp(f->state, SYNC_RETRYING) != 0) {
        return true;
    }
    ids = json_object_get(j->only, f->image_no);
    if (ids == NULL) {
        if (json_object_size(j->only) >= RETRY_BILLS_MAX) {
            return false;
        }
        ids = json_array();
        json_object_set_new(j->only, f->image_no, ids);
        json_array_append_new(j->todo, json_pack("{s:s}", "image_no", f->image_no));
    }
    json_array_append_new(ids, json_string(f->file_id));
    return true;
}

static void retry_pass(struct job *j, const SyncRunRecord *rec)
{
    struct base_err err = {{0}};
    json_t *todo = json_array();
    j->only = json_object();
    j->todo = todo;
    if (!j->bill_run &&
        archive_each_sync_failure(j->r->a, j->tenant, rec->org[0] != '\0' ? rec->org : NULL,
                                  failure_seen, j, &err) != 0) {
        LOG_ERROR("sync", "run %s: reading the failed records: %s", j->run_id, err.msg);
    }
    j->todo = NULL;
    step_start(j, true, todo, "", "");
}

/* ---- Listing ---- */

static void list_answered(void *arg, int status, const char *message, json_t *bills,
                          const char *next_cursor)
{
    struct job *j = arg;
    j->busy = false;
    if (j->r->stopping || j->gone) {
        return;
    }
    if (status != 0) {
        source_failed(j, status, message);
        return;
    }
    j->transient = 0;
    j->last_error[0] = '\0';
    if (strlen(next_cursor) > 256) {
        source_failed(j, BASE_EINVAL, "the source's list cursor is over 256 bytes");
        return;
    }
    step_start(j, false, json_deep_copy(bills), j->cursor, next_cursor);
}

static void list_page(struct job *j, const SyncRunRecord *rec)
{
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    char *orgs[1];
    if (j->bill_run) {
        step_start(j, false, json_pack("[{s:s}]", "image_no", rec->image_no), rec->cursor, "");
        return;
    }
    if (rec->org[0] != '\0') {
        orgs[0] = rec->org;
        scope.orgs = orgs;
        scope.n_orgs = 1;
    }
    scope.updated_from_ms = rec->from_ms;
    scope.updated_to_ms = rec->to_ms;
    snprintf(j->cursor, sizeof j->cursor, "%s", rec->cursor);
    j->busy = true;
    source_list(j->src, &scope, rec->cursor, LIST_PAGE, list_answered, j);
}

/* ---- Jobs ---- */

static void job_free(struct job *j)
{
    step_clear(j);
    source_free(j->src);
    free(j);
}

static struct job *job_new(struct sync_runner *r, const char *tenant, const char *run_id)
{
    struct job *j = xcalloc(1, sizeof *j);
    snprintf(j->tenant, sizeof j->tenant, "%s", tenant);
    snprintf(j->run_id, sizeof j->run_id, "%s", run_id);
    j->r = r;
    return j;
}

/* The source of @j's run, made on its first look; false when it cannot be (the run
 * fails with why). */
static bool job_source(struct job *j, const SyncRunRecord *rec)
{
    struct base_err err = {{0}};
    struct source_env env = {.loop = j->r->loop, .http = j->r->config.http,
                             .guard = j->r->config.guard};
    DataSourceRecord *ds = NULL;
    int rv;
    if (j->src != NULL) {
        return true;
    }
    snprintf(j->datasource, sizeof j->datasource, "%s", rec->datasource);
    j->bill_run = strcmp(rec->kind, SYNC_KIND_BILL) == 0;
    rv = archive_get_datasource(j->r->a, j->tenant, rec->datasource, &ds, &err);
    if (rv == BASE_ENOTFOUND) {
        snprintf(err.msg, sizeof err.msg, "data source %s is gone", rec->datasource);
    } else if (rv == 0 && ds->disabled) {
        snprintf(err.msg, sizeof err.msg, "data source %s is disabled", rec->datasource);
        rv = BASE_EINVAL;
    }
    if (rv == 0) {
        rv = source_new(&j->src, &env, ds, &err);
    }
    if (ds != NULL) {
        data_source_record__free_unpacked(ds, NULL);
    }
    if (rv != 0) {
        fail_run(j, err.msg);
        return false;
    }
    LOG_INFO("sync", "run %s of tenant %s (%s) runs on this node", j->run_id, j->tenant,
             rec->kind);
    return true;
}

static void look_at(struct job *j)
{
    struct base_err err = {{0}};
    SyncRunRecord *rec = NULL;
    if (j->busy || j->r->stopping || clock_wall_ms() < j->retry_at_ms) {
        return;
    }
    if (j->reading) {
        read_next(j); /* a bill read failed for a while: go on with it */
        return;
    }
    if (archive_get_sync_run(j->r->a, j->tenant, j->run_id, &rec, &err) != 0) {
        return;
    }
    if ((strcmp(rec->state, SYNC_PENDING) == 0 || strcmp(rec->state, SYNC_RUNNING) == 0) &&
        job_source(j, rec)) {
        if (!rec->retried) {
            retry_pass(j, rec);
        } else if (!rec->listed) {
            list_page(j, rec);
        }
    }
    sync_run_record__free_unpacked(rec, NULL);
}

struct queue_look {
    struct sync_runner *r;
    unsigned n;
};

static bool mark_queued(const char *tenant, const char *run_id, void *arg)
{
    struct queue_look *q = arg;
    struct job *j;
    for (j = q->r->jobs; j != NULL; j = j->next) {
        if (strcmp(j->tenant, tenant) == 0 && strcmp(j->run_id, run_id) == 0) {
            break;
        }
    }
    if (j == NULL) {
        if (q->n >= SYNC_JOBS_MAX) {
            return false;
        }
        j = job_new(q->r, tenant, run_id);
        j->next = q->r->jobs;
        q->r->jobs = j;
    }
    q->n++;
    j->seen = true;
    return true;
}

/* ---- The daily schedule ---- */

static void daily_applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct daily_prop *d = prop->data;
    d->r->daily_in_flight--;
    if (status == 0 && res->status == ARCHIVE_OK) {
        kick(d->r);
    } else {
        /* Refused (the settings changed, the run exists) or not committed: the daily
         * look waits a while rather than filling the log with refusals. */
        d->r->daily_quiet_until_ms = clock_wall_ms() + DAILY_QUIET_MS;
        LOG_WARN("sync", "a daily step was not recorded: %s",
                 status != 0 ? base_strerror(status) : res->message);
    }
    free(d);
}

static void daily_propose(struct sync_runner *r, const char *tenant, const char *run_id,
                          Command *cmd)
{
    struct daily_prop *d = xcalloc(1, sizeof *d);
    d->r = r;
    d->prop.data = d;
    r->daily_in_flight++;
    if (!propose(r, tenant, run_id, &d->prop, cmd, daily_applied)) {
        r->daily_in_flight--;
        free(d);
    }
}

static void day_of(uint64_t ms, char out[11])
{
    char t[40];
    clock_format_rfc3339(ms, t, sizeof t);
    snprintf(out, 11, "%.10s", t);
}

static void daily_id(char *out, size_t size, const char *day, const char *org)
{
    if (org[0] != '\0') {
        snprintf(out, size, "daily-%s-%s", day, org);
    } else {
        snprintf(out, size, "daily-%s", day);
    }
}

/* Tries a failed daily run of an earlier day again, once a day. */
static void retry_failed(struct sync_runner *r, const char *tenant, const char *org,
                         uint64_t now, const char *today)
{
    for (unsigned back = 1; back <= RETRY_DAYS_BACK; back++) {
        struct base_err err = {{0}};
        char day[11], id[SYNC_RUN_ID_MAX + 1];
        SyncRunRecord *rec = NULL;
        day_of(now - back * DAY_MS, day);
        daily_id(id, sizeof id, day, org);
        if (archive_get_sync_run(r->a, tenant, id, &rec, &err) != 0) {
            continue;
        }
        if (strcmp(rec->state, SYNC_FAILED) == 0 && strcmp(rec->result, SYNC_RESULT_ERROR) == 0 &&
            rec->attempts < SYNC_ATTEMPTS_MAX && strcmp(rec->attempt_day, today) != 0) {
            Command cmd = COMMAND__INIT;
            RetrySyncRun rr = RETRY_SYNC_RUN__INIT;
            rr.run_id = id;
            rr.day = (char *)today;
            cmd.body_case = COMMAND__BODY_RETRY_SYNC_RUN;
            cmd.retry_sync_run = &rr;
            daily_propose(r, tenant, id, &cmd);
        }
        sync_run_record__free_unpacked(rec, NULL);
    }
}

static bool daily_look(const char *tenant, const SyncSettings *s, void *arg)
{
    struct sync_runner *r = arg;
    uint64_t now = clock_wall_ms();
    uint64_t midnight = now - now % DAY_MS;
    uint64_t at;
    char today[11];
    size_t n = s->n_orgs > 0 ? s->n_orgs : 1;
    DataSourceRecord *ds = NULL;
    struct base_err err = {{0}};
    bool usable;
    if (!s->enabled || !archive_valid_sync_time(s->daily_at)) {
        return true;
    }
    /* A data source gone or disabled: no daily run (the settings say which is used). */
    usable = archive_get_datasource(r->a, tenant, s->datasource, &ds, &err) == 0 &&
             !ds->disabled;
    if (ds != NULL) {
        data_source_record__free_unpacked(ds, NULL);
    }
    if (!usable) {
        return true;
    }
    at = midnight + (uint64_t)(atoi(s->daily_at) * 60 + atoi(s->daily_at + 3)) * 60000u;
    if (now < at) {
        return true;
    }
    day_of(now, today);
    for (size_t i = 0; i < n; i++) {
        const char *org = s->n_orgs > 0 ? s->orgs[i] : "";
        char id[SYNC_RUN_ID_MAX + 1];
        SyncRunRecord *rec = NULL;
        int rv;
        daily_id(id, sizeof id, today, org);
        rv = archive_get_sync_run(r->a, tenant, id, &rec, &err);
        if (rv == 0) {
            sync_run_record__free_unpacked(rec, NULL);
        } else if (rv == BASE_ENOTFOUND) {
            Command cmd = COMMAND__INIT;
            CreateSyncRun c = CREATE_SYNC_RUN__INIT;
            char *orgs[1] = {(char *)org};
            c.run_id = id;
            c.orgs = orgs;
            c.n_orgs = org[0] != '\0' ? 1 : 0;
            c.kind = SYNC_KIND_SCHEDULED;
            c.date = today;
            c.from_ms = at - DAY_MS;
            c.to_ms = at;
            cmd.body_case = COMMAND__BODY_CREATE_SYNC_RUN;
            cmd.create_sync_run = &c;
            LOG_INFO("sync", "tenant %s: the daily run %s is due", tenant, id);
            daily_propose(r, tenant, id, &cmd);
        }
        retry_failed(r, tenant, org, now, today);
    }
    return true;
}

/* ---- The tick ---- */

static void tick(uv_timer_t *t)
{
    struct sync_runner *r = t->data;
    struct base_err err = {{0}};
    bool leading = !r->stopping && repl_is_leader(r->repl) && archive_cluster_initialized(r->a);
    struct queue_look q = {.r = r};
    struct job **p;
    for (struct job *j = r->jobs; j != NULL; j = j->next) {
        j->seen = false;
    }
    if (leading && r->daily_in_flight == 0 && clock_wall_ms() >= r->daily_quiet_until_ms &&
        archive_each_sync_settings(r->a, daily_look, r, &err) != 0) {
        LOG_ERROR("sync", "reading the sync settings: %s", err.msg);
    }
    if (leading && archive_each_queued_sync_run(r->a, mark_queued, &q, &err) != 0) {
        LOG_ERROR("sync", "reading the sync queue: %s", err.msg);
        return;
    }
    p = &r->jobs;
    while (*p != NULL) {
        struct job *j = *p;
        if (!j->seen) {
            j->gone = true; /* over, or this node no longer leads */
            if (!j->busy) {
                *p = j->next;
                job_free(j);
                continue;
            }
        } else {
            j->gone = false;
            look_at(j);
        }
        p = &j->next;
    }
}

/* ---- Life ---- */

int sync_runner_start(struct sync_runner **out, uv_loop_t *loop, const struct sync_config *config,
                      struct archive *archive, struct repl *repl, struct base_err *err)
{
    struct sync_runner *r = xcalloc(1, sizeof *r);
    (void)err;
    r->loop = loop;
    r->config = *config;
    if (r->config.tick_ms == 0) {
        r->config.tick_ms = SYNC_TICK_MS_DEFAULT;
    }
    r->a = archive;
    r->repl = repl;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, tick, r->config.tick_ms, r->config.tick_ms);
    uv_timer_init(loop, &r->kick_timer);
    r->kick_timer.data = r;
    *out = r;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct sync_runner *r = h->data;
    r->closes--;
}

void sync_runner_stop(struct sync_runner *r)
{
    if (r == NULL || r->stopping) {
        return;
    }
    r->stopping = true;
    r->closes = 2;
    uv_close((uv_handle_t *)&r->timer, timer_closed);
    uv_close((uv_handle_t *)&r->kick_timer, timer_closed);
}

void sync_runner_free(struct sync_runner *r)
{
    if (r == NULL) {
        return;
    }
    while (r->jobs != NULL) {
        struct job *j = r->jobs;
        r->jobs = j->next;
        job_free(j);
    }
    free(r);
}
