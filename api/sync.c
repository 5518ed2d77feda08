/* The invoice-data sync, the operator's side: a tenant's settings, runs by hand (a
 * date, everything, one bill), the sync list, one run, and the records that failed
 * (and putting given-up ones back). The leader's runner (migrate/sync.c) does the
 * work; docs/migration.md "Invoice-data sync" tells the story and docs/API.md
 * "Invoice-data sync" the contract. Tenant admins, or the operator with ?tenant=. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/migration.h"
#include "archive/sync.h"
#include "base/clock.h"
#include "base/mem.h"
#include "replication/repl.h"

#define BODY_MAX (64u << 10)
#define RUNS_LIMIT_DEFAULT 50
#define RUNS_LIMIT_MAX 1000
#define RUNS_SCAN_MAX 20000
#define FAILURES_LIMIT_DEFAULT 100
#define FAILURES_LIMIT_MAX 1000
#define APPLIED_WAIT_MS 5000
#define DAY_MS 86400000ull

static json_t *text_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *strings_json(char **items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_string(items[i]));
    }
    return a;
}

static json_t *settings_json(const SyncSettings *s)
{
    return json_pack("{s:s, s:b, s:s, s:o, s:o, s:o, s:s}", "datasource", s->datasource,
                     "enabled", s->enabled, "daily_at", s->daily_at, "orgs",
                     strings_json(s->orgs, s->n_orgs), "protected_fields",
                     strings_json(s->protected_fields, s->n_protected_fields), "updated",
                     api_time_json(s->updated_ms), "updated_by", s->updated_by);
}

static json_t *run_json(const SyncRunRecord *r)
{
    json_t *j = json_pack("{s:s, s:o, s:s, s:o, s:o, s:s, s:s}", "run_id", r->run_id, "org",
                          text_or_null(r->org), "kind", r->kind, "date", text_or_null(r->date),
                          "image_no", text_or_null(r->image_no), "datasource", r->datasource,
                          "state", r->state);
    json_object_set_new(j, "created", api_time_json(r->created_ms));
    json_object_set_new(j, "started", api_time_json(r->started_ms));
    json_object_set_new(j, "finished", api_time_json(r->finished_ms));
    json_object_set_new(j, "result", text_or_null(r->result));
    json_object_set_new(j, "message", text_or_null(r->message));
    json_object_set_new(j, "succeeded", json_integer((json_int_t)r->succeeded));
    json_object_set_new(j, "failed", json_integer((json_int_t)r->failed));
    json_object_set_new(j, "skipped", json_integer((json_int_t)r->skipped));
    json_object_set_new(j, "attempts", json_integer((json_int_t)r->attempts));
    json_object_set_new(j, "created_by", json_string(r->created_by));
    return j;
}

static json_t *failure_json(const SyncFailure *f)
{
    return json_pack("{s:s, s:o, s:o, s:s, s:i, s:s, s:o, s:o}", "image_no", f->image_no,
                     "file_id", text_or_null(f->file_id), "org", text_or_null(f->org), "reason",
                     f->reason, "attempts", (int)f->attempts, "state", f->state, "run_id",
                     text_or_null(f->run_id), "updated", api_time_json(f->updated_ms));
}

/* Whether every key of @obj is one of @known; false after answering. */
static bool keys_known(struct api_op *op, json_t *obj, const char *const *known,
                       const char *shape)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        (void)v;
        for (size_t i = 0; known[i] != NULL && !ok; i++) {
            ok = strcmp(key, known[i]) == 0;
        }
        if (!ok) {
            char msg[512];
            snprintf(msg, sizeof msg, "unknown field \"%.64s\"; %s", key, shape);
            return api_op_bad(op, msg);
        }
    }
    return true;
}

/* Reads string list @name of @root (absent or null: none) into @items (pointing into
 * the body; the array is the caller's); each must pass @valid. False after answering. */
static bool read_list(struct api_op *op, json_t *root, const char *name, size_t max,
                      bool (*valid)(const char *), const char *what, char ***items, size_t *n)
{
    json_t *list = json_object_get(root, name), *v;
    char msg[256];
    size_t i;
    *items = NULL;
    *n = 0;
    if (list == NULL || json_is_null(list)) {
        return true;
    }
    if (!json_is_array(list) || json_array_size(list) > max) {
        snprintf(msg, sizeof msg, "\"%s\" must be a list of at most %zu %s", name, max, what);
        return api_op_bad(op, msg);
    }
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (s == NULL || !valid(s) || strlen(s) != json_string_length(v)) {
            snprintf(msg, sizeof msg, "each of \"%s\" is %s", name, what);
            return api_op_bad(op, msg);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s, json_string_value(json_array_get(list, j))) == 0) {
                snprintf(msg, sizeof msg, "\"%s\" names %.64s twice", name, s);
                return api_op_bad(op, msg);
            }
        }
    }
    *n = json_array_size(list);
    if (*n > 0) {
        *items = xcalloc(*n, sizeof **items);
        json_array_foreach(list, i, v) {
            (*items)[i] = (char *)json_string_value(v);
        }
    }
    return true;
}

/* ---- Settings ---- */

void api_handle_get_sync_settings(struct api_call *call)
{
    struct base_err err = {{0}};
    SyncSettings *s = NULL;
    int rv = archive_get_sync_settings(call->api->archive, call->tenant, &s, &err);
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_SYNC_NOT_FOUND,
                          "tenant %s has no sync settings: PUT /api/v1/sync/settings "
                          "{\"datasource\", \"enabled\", \"daily_at\", \"orgs\", "
                          "\"protected_fields\"}",
                          call->tenant);
        return;
    }
    if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "sync: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, settings_json(s));
    sync_settings__free_unpacked(s, NULL);
}

static const char SETTINGS_SHAPE[] =
    "sync settings are {\"datasource\": \"old\", \"enabled\": true, \"daily_at\": \"02:00\" "
    "(UTC), \"orgs\": [...] (none: every organisation), \"protected_fields\": [...] (of "
    "number, code, date, amount, tax, total, seller_tax_no, buyer_tax_no)}";

static void settings_applied(struct repl_propose *prop, int status,
                             const struct archive_result *res)
{
    struct api_op *op = prop->data;
    if (api_op_applied(op, status, res)) {
        json_t *b = json_deep_copy(op->body);
        if (json_object_get(b, "orgs") == NULL) {
            json_object_set_new(b, "orgs", json_array());
        }
        if (json_object_get(b, "protected_fields") == NULL) {
            json_object_set_new(b, "protected_fields", json_array());
        }
        json_object_set_new(b, "index", json_integer((json_int_t)res->index));
        api_respond_json(op->call.api, op->call.req, 200, b);
    }
    api_op_free(op);
}

static bool valid_org(const char *s)
{
    return archive_valid_migration_name(s);
}

static void settings_body(struct http_request *req, int status)
{
    static const char *const keys[] = {"datasource", "enabled", "daily_at", "orgs",
                                       "protected_fields", NULL};
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status), *enabled;
    SyncSettings s = SYNC_SETTINGS__INIT;
    PutSyncSettings p = PUT_SYNC_SETTINGS__INIT;
    Command cmd = COMMAND__INIT;
    const char *ds, *at;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (!keys_known(op, root, keys, SETTINGS_SHAPE)) {
        return;
    }
    ds = json_string_value(json_object_get(root, "datasource"));
    at = json_string_value(json_object_get(root, "daily_at"));
    enabled = json_object_get(root, "enabled");
    if (ds == NULL || !archive_valid_migration_name(ds)) {
        api_op_bad(op, "\"datasource\" is a data source's name (GET /api/v1/datasources "
                       "lists them)");
        return;
    }
    if (at == NULL) {
        at = "02:00";
        json_object_set_new(root, "daily_at", json_string(at));
    }
    if (!archive_valid_sync_time(at)) {
        api_op_bad(op, "\"daily_at\" is a UTC time of day HH:MM, 00:00 to 23:59");
        return;
    }
    if (enabled == NULL) {
        json_object_set_new(root, "enabled", json_true());
        enabled = json_object_get(root, "enabled");
    }
    if (!json_is_boolean(enabled)) {
        api_op_bad(op, "\"enabled\" is true or false");
        return;
    }
    if (!read_list(op, root, "orgs", SYNC_ORGS_MAX, valid_org,
                   "organisation ids (1-64 of A-Z a-z 0-9 . _ -)", &s.orgs, &s.n_orgs)) {
        return;
    }
    if (!read_list(op, root, "protected_fields", 8, archive_sync_field_known,
                   "one of number, code, date, amount, tax, total, seller_tax_no, "
                   "buyer_tax_no",
                   &s.protected_fields, &s.n_protected_fields)) {
        free(s.orgs);
        return;
    }
    s.datasource = (char *)ds;
    s.enabled = json_is_true(enabled);
    s.daily_at = (char *)at;
    p.settings = &s;
    cmd.body_case = COMMAND__BODY_PUT_SYNC_SETTINGS;
    cmd.put_sync_settings = &p;
    api_op_propose(op, &cmd, NULL, settings_applied);
    free(s.orgs);
    free(s.protected_fields);
}

void api_handle_put_sync_settings(struct api_call *call)
{
    api_op_start(call, BODY_MAX, settings_body);
}

/* ---- POST /api/v1/sync/runs ---- */

struct runs_cmd {
    struct repl_wait wait;
    uint64_t index;
    uint32_t n;
};

static void runs_answer(struct repl_wait *w, int status)
{
    struct api_op *op = w->data;
    struct runs_cmd *rc = op->data;
    json_t *runs = json_array();
    (void)status;
    for (uint32_t i = 1; i <= rc->n; i++) {
        struct base_err err = {{0}};
        char id[SYNC_RUN_ID_MAX + 1];
        SyncRunRecord *r = NULL;
        snprintf(id, sizeof id, "run-%012llu-%u", (unsigned long long)rc->index, i);
        if (archive_get_sync_run(op->call.api->archive, op->call.tenant, id, &r, &err) == 0) {
            json_array_append_new(runs, run_json(r));
            sync_run_record__free_unpacked(r, NULL);
        } else {
            json_array_append_new(runs, json_pack("{s:s}", "run_id", id));
        }
    }
    api_respond_json(op->call.api, op->call.req, 201,
                     json_pack("{s:o, s:I}", "runs", runs, "index", (json_int_t)rc->index));
    api_op_free(op);
}

static void runs_applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    struct runs_cmd *rc = op->data;
    if (!api_op_applied(op, status, res)) {
        api_op_free(op);
        return;
    }
    rc->index = res->index;
    rc->n = res->position;
    rc->wait.data = op;
    repl_wait_applied(op->call.api->repl, &rc->wait, res->index, APPLIED_WAIT_MS, runs_answer);
}

static const char RUN_SHAPE[] =
    "a sync run is {\"org\": \"...\" (none: each organisation of the settings), \"date\": "
    "\"YYYY-MM-DD\" (absent: today, UTC; \"\": everything), \"image_no\": \"...\" (one "
    "bill)}";

static void runs_body(struct http_request *req, int status)
{
    static const char *const keys[] = {"org", "date", "image_no", NULL};
    struct api_op *op = req->data;
    json_t *root, *date_j, *org_j, *image_j;
    CreateSyncRun c = CREATE_SYNC_RUN__INIT;
    Command cmd = COMMAND__INIT;
    char today[16], *org1[1];
    const char *idem;
    uint8_t digest[32];
    size_t n;
    uint8_t *packed;
    int rv;
    if (req->body_len == 0 && status == 0) {
        op->body = json_object();
        root = op->body;
    } else if ((root = api_op_json(op, status)) == NULL) {
        api_op_free(op);
        return;
    }
    if (!keys_known(op, root, keys, RUN_SHAPE)) {
        return;
    }
    idem = api_idempotency_key(req);
    if (idem != NULL && idem[0] == '\0') {
        api_op_bad(op, "Idempotency-Key must be 1-64 characters of A-Z a-z 0-9 . _ -");
        return;
    }
    date_j = json_object_get(root, "date");
    org_j = json_object_get(root, "org");
    image_j = json_object_get(root, "image_no");
    if (org_j != NULL && !json_is_null(org_j)) {
        const char *org = json_string_value(org_j);
        if (org == NULL || !archive_valid_migration_name(org)) {
            api_op_bad(op, "\"org\" is an organisation id: 1-64 of A-Z a-z 0-9 . _ -");
            return;
        }
        org1[0] = (char *)org;
        c.orgs = org1;
        c.n_orgs = 1;
    }
    if (image_j != NULL && !json_is_null(image_j)) {
        const char *image_no = json_string_value(image_j);
        if (image_no == NULL || !archive_valid_image_no(image_no)) {
            api_op_bad(op, "\"image_no\" is a bill's image number");
            return;
        }
        if (date_j != NULL && !json_is_null(date_j)) {
            api_op_bad(op, "a run for one bill takes no \"date\"");
            return;
        }
        c.kind = SYNC_KIND_BILL;
        c.image_no = (char *)image_no;
    } else if (date_j != NULL && !json_is_null(date_j)) {
        const char *date = json_string_value(date_j);
        if (date == NULL || (date[0] != '\0' && !archive_valid_sync_date(date))) {
            api_op_bad(op, "\"date\" is a date YYYY-MM-DD (UTC), or \"\" for everything");
            return;
        }
        c.kind = date[0] == '\0' ? SYNC_KIND_FULL : SYNC_KIND_DATE;
        c.date = (char *)date;
    } else {
        char t[40];
        clock_format_rfc3339(clock_wall_ms(), t, sizeof t);
        snprintf(today, sizeof today, "%.10s", t);
        c.kind = SYNC_KIND_DATE;
        c.date = today;
    }
    if (strcmp(c.kind, SYNC_KIND_DATE) == 0) {
        int64_t from = api_parse_time(c.date, false);
        if (from <= 0) {
            api_op_bad(op, "\"date\" is a date YYYY-MM-DD (UTC) after 1970");
            return;
        }
        c.from_ms = (uint64_t)from;
        c.to_ms = (uint64_t)from + DAY_MS;
    }
    op->data = xcalloc(1, sizeof(struct runs_cmd));
    cmd.body_case = COMMAND__BODY_CREATE_SYNC_RUN;
    cmd.create_sync_run = &c;
    /* A retried request (same Idempotency-Key and body) answers the runs made first. */
    n = protobuf_c_message_get_packed_size(&c.base);
    packed = xmalloc(n + 1);
    protobuf_c_message_pack(&c.base, packed);
    crypto_generichash(digest, sizeof digest, packed, n, NULL, 0);
    free(packed);
    api_command_stamp(&op->call, &cmd, idem);
    cmd.request_digest.data = digest;
    cmd.request_digest.len = sizeof digest;
    rv = repl_propose(op->call.api->repl, &op->prop, &cmd, runs_applied);
    if (rv != 0) {
        api_respond_propose_error(op->call.api, op->call.req, rv);
        api_op_free(op);
    }
}

void api_handle_create_sync_runs(struct api_call *call)
{
    api_op_start(call, BODY_MAX, runs_body);
}

/* ---- Reading runs ---- */


/* ?org= (NULL when absent); false after answering. */
static bool query_org(struct api_call *call, char **org)
{
    *org = http_request_query(call->req, "org");
    if (*org != NULL && !archive_valid_migration_name(*org)) {
        free(*org);
        *org = NULL;
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "org must be an organisation id: 1-64 of A-Z a-z 0-9 . _ -");
        return false;
    }
    return true;
}

struct run_page {
    json_t *list;
    const char *org;
    unsigned limit;
    unsigned scanned;
    char last[SYNC_RUN_ID_MAX + 1];
    bool more;
};

static bool run_seen(const SyncRunRecord *r, void *arg)
{
    struct run_page *p = arg;
    if (json_array_size(p->list) >= p->limit || p->scanned >= RUNS_SCAN_MAX) {
        p->more = true;
        return false;
    }
    p->scanned++;
    snprintf(p->last, sizeof p->last, "%s", r->run_id);
    if (p->org == NULL || strcmp(r->org, p->org) == 0) {
        json_array_append_new(p->list, run_json(r));
    }
    return true;
}

void api_handle_list_sync_runs(struct api_call *call)
{
    struct base_err err = {{0}};
    struct run_page p = {0};
    char *org = NULL, *after = NULL;
    if (!api_query_limit(call, RUNS_LIMIT_DEFAULT, RUNS_LIMIT_MAX, &p.limit) ||
        !query_org(call, &org)) {
        return;
    }
    after = http_request_query(call->req, "after");
    if (after != NULL && !archive_valid_sync_run_id(after)) {
        free(after);
        free(org);
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "after must be a run id (the last page's next_after)");
        return;
    }
    p.list = json_array();
    p.org = org;
    if (archive_each_sync_run(call->api->archive, call->tenant, after, run_seen, &p, &err) !=
        0) {
        json_decref(p.list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "sync runs: %s", err.msg);
    } else {
        api_respond_json(call->api, call->req, 200,
                         json_pack("{s:o, s:o}", "runs", p.list, "next_after",
                                   p.more ? json_string(p.last) : json_null()));
    }
    free(org);
    free(after);
}

void api_handle_get_sync_run(struct api_call *call)
{
    struct base_err err = {{0}};
    SyncRunRecord *r = NULL;
    int rv = archive_get_sync_run(call->api->archive, call->tenant, call->param, &r, &err);
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_SYNC_NOT_FOUND,
                          "tenant %s has no sync run %.128s; GET /api/v1/sync/runs lists them",
                          call->tenant, call->param);
        return;
    }
    if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "sync run: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, run_json(r));
    sync_run_record__free_unpacked(r, NULL);
}

/* ---- Failures ---- */

struct failure_page {
    json_t *list;
    unsigned limit;
    const char *state;
    bool more;
};

static bool failure_seen(const SyncFailure *f, void *arg)
{
    struct failure_page *p = arg;
    if (p->state != NULL && strcmp(f->state, p->state) != 0) {
        return true;
    }
    if (json_array_size(p->list) >= p->limit) {
        p->more = true;
        return false;
    }
    json_array_append_new(p->list, failure_json(f));
    return true;
}

void api_handle_sync_failures(struct api_call *call)
{
    struct base_err err = {{0}};
    struct failure_page p = {0};
    char *org = NULL, *state = NULL;
    if (!api_query_limit(call, FAILURES_LIMIT_DEFAULT, FAILURES_LIMIT_MAX, &p.limit) ||
        !query_org(call, &org)) {
        return;
    }
    state = http_request_query(call->req, "state");
    if (state != NULL && strcmp(state, SYNC_RETRYING) != 0 && strcmp(state, SYNC_GIVEN_UP) != 0) {
        free(state);
        free(org);
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "state must be retrying or given_up");
        return;
    }
    p.list = json_array();
    p.state = state;
    if (archive_each_sync_failure(call->api->archive, call->tenant, org, failure_seen, &p,
                                  &err) != 0) {
        json_decref(p.list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "sync failures: %s",
                          err.msg);
    } else {
        api_respond_json(call->api, call->req, 200,
                         json_pack("{s:o, s:b}", "failures", p.list, "more", p.more));
    }
    free(org);
    free(state);
}

static void retried_applied(struct repl_propose *prop, int status,
                            const struct archive_result *res)
{
    struct api_op *op = prop->data;
    if (api_op_applied(op, status, res)) {
        api_respond_json(op->call.api, op->call.req, 200,
                         json_pack("{s:i, s:I}", "retrying", (int)res->position, "index",
                                   (json_int_t)res->index));
    }
    api_op_free(op);
}

static void retry_body(struct http_request *req, int status)
{
    static const char *const keys[] = {"org", NULL};
    struct api_op *op = req->data;
    json_t *root, *org_j;
    RetrySyncFailures r = RETRY_SYNC_FAILURES__INIT;
    Command cmd = COMMAND__INIT;
    if (req->body_len == 0 && status == 0) {
        op->body = json_object();
        root = op->body;
    } else if ((root = api_op_json(op, status)) == NULL) {
        api_op_free(op);
        return;
    }
    if (!keys_known(op, root, keys, "a retry is {\"org\": \"...\"} (none: every organisation)")) {
        return;
    }
    org_j = json_object_get(root, "org");
    if (org_j != NULL && !json_is_null(org_j)) {
        const char *org = json_string_value(org_j);
        if (org == NULL || !archive_valid_migration_name(org)) {
            api_op_bad(op, "\"org\" is an organisation id: 1-64 of A-Z a-z 0-9 . _ -");
            return;
        }
        r.org = (char *)org;
    } else {
        r.all = true;
    }
    cmd.body_case = COMMAND__BODY_RETRY_SYNC_FAILURES;
    cmd.retry_sync_failures = &r;
    api_op_propose(op, &cmd, NULL, retried_applied);
}

void api_handle_retry_sync_failures(struct api_call *call)
{
    api_op_start(call, BODY_MAX, retry_body);
}
