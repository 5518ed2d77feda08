/* Migration batches, the operator's side: creating a batch, starting, pausing,
 * resuming, retrying and cancelling it, marking bills "do not migrate", and reading a
 * batch, its bills and its log (JSON, or CSV streamed page by page). The leader's
 * runner (migrate/runner.c) does the moving; docs/migration.md tells the story and
 * docs/API.md "Migration batches" the contract. Tenant admins, or the operator with
 * ?tenant=. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/migration.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "replication/repl.h"

#define CREATE_BODY_MAX (64u << 10)
#define SKIP_BODY_MAX (128u << 10)
#define SKIP_MAX 1000
#define BILLS_LIMIT_DEFAULT 100
#define BILLS_LIMIT_MAX 1000
#define BILLS_SCAN_MAX 10000 /* bills one page reads at most when a state filters */
#define LOG_LIMIT_DEFAULT 100
#define LOG_LIMIT_MAX 1000
#define LOG_CSV_PAGE 500     /* entries read per streamed chunk */
#define APPLIED_WAIT_MS 5000

/* ---- The batch object ---- */

/* A JSON string of @s, whatever its bytes: what a source sent (a bill's number, a
 * file's name, a reason) reaches the store through the runner, and a byte that is not
 * UTF-8 becomes '?' rather than failing the answer. */
static json_t *str(const char *s)
{
    char *copy;
    json_t *j;
    if (s == NULL) {
        return json_string("");
    }
    if (utf8_valid(s, strlen(s))) {
        return json_string(s);
    }
    copy = xstrdup(s);
    for (char *p = copy; *p != '\0'; p++) {
        if ((unsigned char)*p >= 0x80) {
            *p = '?';
        }
    }
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *strings_json(char **items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, str(items[i]));
    }
    return a;
}

static json_t *text_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? str(s) : json_null();
}

static json_t *batch_json(const MigrationRecord *m)
{
    const MigrationScope *s = m->scope;
    json_t *scope = json_pack(
        "{s:o, s:o, s:o, s:o}", "orgs", strings_json(s ? s->orgs : NULL, s ? s->n_orgs : 0),
        "bill_types", strings_json(s ? s->bill_types : NULL, s ? s->n_bill_types : 0), "from",
        api_time_json(s ? s->from_ms : 0), "to", api_time_json(s ? s->to_ms : 0));
    json_t *counts = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "bills", (json_int_t)m->bills,
        "pending", (json_int_t)m->pending, "migrated", (json_int_t)m->migrated, "failed",
        (json_int_t)m->failed, "skipped", (json_int_t)m->skipped, "files", (json_int_t)m->files,
        "bytes", (json_int_t)m->bytes, "files_moved", (json_int_t)m->files_moved, "bytes_moved",
        (json_int_t)m->bytes_moved, "checked", (json_int_t)m->checked_bills);
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "batch_no",
                     str(m->batch_no), "datasource", str(m->datasource), "scope", scope, "state",
                     str(m->state), "phase", text_or_null(m->phase), "error", text_or_null(m->error),
                     "created", api_time_json(m->created_ms), "created_by", str(m->created_by),
                     "started", api_time_json(m->started_ms), "finished",
                     api_time_json(m->finished_ms), "updated", api_time_json(m->updated_ms),
                     "counts", counts);
}

static void respond_not_found(struct api_call *call, const char *batch_no)
{
    api_respond_error(call->api, call->req, 404, API_E_MIGRATION_NOT_FOUND,
                      "tenant %s has no migration batch %.64s; GET /api/v1/migrations lists "
                      "them",
                      call->tenant, batch_no);
}

/* Loads the batch named by the call's parameter; false after answering. */
static bool load_batch(struct api_call *call, MigrationRecord **m)
{
    struct base_err err = {{0}};
    int rv = archive_get_migration(call->api->archive, call->tenant, call->param, m, &err);
    if (rv == BASE_ENOTFOUND) {
        respond_not_found(call, call->param);
        return false;
    }
    if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "migration: %s", err.msg);
        return false;
    }
    return true;
}

/* ---- Commands: proposed, then answered with the batch as applied here ---- */

/* What a migration command keeps while it is applied (op->data). */
struct migration_cmd {
    struct repl_wait wait;
    char batch_no[ARCHIVE_ID_MAX + 1];
    uint64_t index;
    bool created;
    /* For a skip: the answer's "unchanged" list, read before proposing. */
    json_t *unchanged;
    uint32_t changed;
    bool skip;
};

static void migration_cmd_free(struct api_op *op)
{
    struct migration_cmd *mc = op->data;
    if (mc != NULL) {
        json_decref(mc->unchanged);
    }
    api_op_free(op);
}

static void answer_applied(struct repl_wait *w, int status)
{
    struct api_op *op = w->data;
    struct migration_cmd *mc = op->data;
    struct base_err err = {{0}};
    MigrationRecord *m = NULL;
    json_t *ans;
    if (mc->unchanged != NULL) {
        ans = json_pack("{s:s, s:b, s:I, s:O, s:I}", "batch_no", mc->batch_no, "skip", mc->skip,
                        "changed", (json_int_t)mc->changed, "unchanged", mc->unchanged, "index",
                        (json_int_t)mc->index);
    } else if (status == 0 && archive_get_migration(op->call.api->archive, op->call.tenant,
                                                    mc->batch_no, &m, &err) == 0) {
        ans = batch_json(m);
        json_object_set_new(ans, "index", json_integer((json_int_t)mc->index));
        migration_record__free_unpacked(m, NULL);
    } else {
        /* Applied, but not here yet (or the node is stopping): what the leader said. */
        ans = json_pack("{s:s, s:I}", "batch_no", mc->batch_no, "index", (json_int_t)mc->index);
    }
    api_respond_json(op->call.api, op->call.req, mc->created ? 201 : 200, ans);
    migration_cmd_free(op);
}

static void migration_applied(struct repl_propose *prop, int status,
                              const struct archive_result *res)
{
    struct api_op *op = prop->data;
    struct migration_cmd *mc = op->data;
    if (!api_op_applied(op, status, res)) {
        migration_cmd_free(op);
        return;
    }
    mc->index = res->index;
    mc->created = res->created;
    mc->changed = res->position;
    mc->wait.data = op;
    repl_wait_applied(op->call.api->repl, &mc->wait, res->index, APPLIED_WAIT_MS,
                      answer_applied);
}

/* Stamps @cmd with @idem (NULL: none) and the digest of @body's packed bytes, and
 * proposes it; answers and frees the op when that fails at once. */
static void propose(struct api_op *op, Command *cmd, const ProtobufCMessage *body,
                    const char *idem)
{
    uint8_t digest[32];
    int rv;
    api_request_digest(body, digest);
    api_command_stamp(&op->call, cmd, idem);
    cmd->request_digest.data = digest;
    cmd->request_digest.len = sizeof digest;
    rv = repl_propose(op->call.api->repl, &op->prop, cmd, migration_applied);
    if (rv != 0) {
        api_respond_propose_error(op->call.api, op->call.req, rv);
        migration_cmd_free(op);
    }
}

static struct migration_cmd *migration_cmd_new(struct api_op *op, const char *batch_no)
{
    struct migration_cmd *mc = xcalloc(1, sizeof *mc);
    snprintf(mc->batch_no, sizeof mc->batch_no, "%.64s", batch_no);
    op->data = mc;
    return mc;
}

/* ---- POST /api/v1/migrations ---- */

static const char CREATE_SHAPE[] =
    "a migration batch is {\"batch_no\": \"B1\", \"datasource\": \"old\", \"scope\": "
    "{\"orgs\": [...], \"bill_types\": [...], \"from\": \"2026-01-01\", \"to\": "
    "\"2026-06-30T00:00:00Z\"}} (scope and its fields optional)";

/* Reads scope list @name (absent: none) into @items/@n; false after answering. */
static bool read_scope_list(struct api_op *op, json_t *scope, const char *name, char ***items,
                            size_t *n)
{
    json_t *list = json_object_get(scope, name), *v;
    char msg[256];
    size_t i;
    *items = NULL;
    *n = 0;
    if (list == NULL || json_is_null(list)) {
        return true;
    }
    if (!json_is_array(list) || json_array_size(list) > ARCHIVE_MIGRATION_SCOPE_MAX) {
        snprintf(msg, sizeof msg, "\"scope.%s\" must be a list of at most %d strings", name,
                 ARCHIVE_MIGRATION_SCOPE_MAX);
        return api_op_bad(op, msg);
    }
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (s == NULL || s[0] == '\0' || strlen(s) > 64 ||
            strlen(s) != json_string_length(v)) {
            snprintf(msg, sizeof msg, "each of \"scope.%s\" is a string of 1-64 bytes", name);
            return api_op_bad(op, msg);
        }
        for (const char *p = s; *p != '\0'; p++) {
            if ((unsigned char)*p < ' ' || *p == 0x7f) {
                snprintf(msg, sizeof msg, "\"scope.%s\" holds no control characters", name);
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

/* Reads scope time @name (absent or null: no bound); false after answering. */
static bool read_scope_time(struct api_op *op, json_t *scope, const char *name, bool end_of_day,
                            uint64_t *out)
{
    json_t *v = json_object_get(scope, name);
    int64_t ms;
    *out = 0;
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    ms = json_is_string(v) ? api_parse_time(json_string_value(v), end_of_day) : -1;
    if (ms <= 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "\"scope.%s\" must be an RFC 3339 time "
                 "(2026-12-01T08:00:00Z, 2026-12-01T16:00:00+08:00) or a date (2026-12-01, "
                 "UTC%s) after 1970", name, end_of_day ? "; the end of that day" : "");
        return api_op_bad(op, msg);
    }
    *out = (uint64_t)ms;
    return true;
}

/* Whether every key of @obj is one of @known (NULL-terminated); false after answering. */
static bool keys_known(struct api_op *op, json_t *obj, const char *const *known,
                       const char *where)
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
            snprintf(msg, sizeof msg, "unknown field \"%.64s\" in %s; %s", key, where,
                     CREATE_SHAPE);
            return api_op_bad(op, msg);
        }
    }
    return true;
}

static void create_body(struct http_request *req, int status)
{
    static const char *const top[] = {"batch_no", "datasource", "scope", NULL};
    static const char *const scope_keys[] = {"orgs", "bill_types", "from", "to", NULL};
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status), *scope_j;
    const char *batch_no, *datasource, *idem;
    Command cmd = COMMAND__INIT;
    CreateMigration c = CREATE_MIGRATION__INIT;
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    idem = api_idempotency_key(req);
    if (idem != NULL && idem[0] == '\0') {
        api_op_bad(op, "Idempotency-Key must be 1-64 characters of A-Z a-z 0-9 . _ -");
        return;
    }
    if (!keys_known(op, root, top, "the body")) {
        return;
    }
    batch_no = json_string_value(json_object_get(root, "batch_no"));
    datasource = json_string_value(json_object_get(root, "datasource"));
    if (batch_no == NULL || datasource == NULL) {
        api_op_bad(op, CREATE_SHAPE);
        return;
    }
    if (!archive_valid_migration_name(batch_no)) {
        api_op_bad(op, "\"batch_no\" is 1-64 of A-Z a-z 0-9 . _ - (not starting with .)");
        return;
    }
    if (!archive_valid_migration_name(datasource)) {
        api_op_bad(op, "\"datasource\" is a data source's name: 1-64 of A-Z a-z 0-9 . _ - "
                       "(GET /api/v1/datasources lists them)");
        return;
    }
    scope_j = json_object_get(root, "scope");
    if (scope_j != NULL && !json_is_null(scope_j)) {
        if (!json_is_object(scope_j)) {
            api_op_bad(op, CREATE_SHAPE);
            return;
        }
        if (!keys_known(op, scope_j, scope_keys, "\"scope\"")) {
            return;
        }
        /* From here the lists point into op->body; the arrays are freed below. */
        if (!read_scope_list(op, scope_j, "orgs", &scope.orgs, &scope.n_orgs)) {
            return;
        }
        if (!read_scope_list(op, scope_j, "bill_types", &scope.bill_types,
                             &scope.n_bill_types) ||
            !read_scope_time(op, scope_j, "from", false, &scope.from_ms) ||
            !read_scope_time(op, scope_j, "to", true, &scope.to_ms)) {
            free(scope.orgs);
            free(scope.bill_types);
            return;
        }
        if (scope.from_ms != 0 && scope.to_ms != 0 && scope.from_ms >= scope.to_ms) {
            free(scope.orgs);
            free(scope.bill_types);
            api_op_bad(op, "\"scope.from\" must be before \"scope.to\"");
            return;
        }
    }
    migration_cmd_new(op, batch_no);
    c.batch_no = (char *)batch_no;
    c.datasource = (char *)datasource;
    c.scope = &scope;
    cmd.body_case = COMMAND__BODY_CREATE_MIGRATION;
    cmd.create_migration = &c;
    propose(op, &cmd, &c.base, idem);
    free(scope.orgs);
    free(scope.bill_types);
}

void api_handle_create_migration(struct api_call *call)
{
    api_op_start(call, CREATE_BODY_MAX, create_body);
}

/* ---- POST /api/v1/migrations/{batch_no}/start|pause|resume|retry|cancel ---- */

static void migration_action(struct api_call *call, const char *action)
{
    struct api_op *op;
    Command cmd = COMMAND__INIT;
    MigrationAction a = MIGRATION_ACTION__INIT;
    if (!archive_valid_migration_name(call->param)) {
        respond_not_found(call, call->param);
        return;
    }
    op = api_op_new(call);
    migration_cmd_new(op, call->param);
    a.batch_no = call->param;
    a.action = (char *)action;
    cmd.body_case = COMMAND__BODY_MIGRATION_ACTION;
    cmd.migration_action = &a;
    propose(op, &cmd, &a.base, NULL);
}

void api_handle_start_migration(struct api_call *call)
{
    migration_action(call, "start");
}

void api_handle_pause_migration(struct api_call *call)
{
    migration_action(call, "pause");
}

void api_handle_resume_migration(struct api_call *call)
{
    migration_action(call, "resume");
}

void api_handle_retry_migration(struct api_call *call)
{
    migration_action(call, "retry");
}

void api_handle_cancel_migration(struct api_call *call)
{
    migration_action(call, "cancel");
}

/* ---- POST /api/v1/migrations/{batch_no}/bills/skip ---- */

static const char SKIP_SHAPE[] = "a skip is {\"image_nos\": [\"...\", ...] (1-1000), \"skip\": "
                                 "true (do not migrate) or false (migrate after all)}";

static void skip_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status), *list, *v, *flag;
    struct migration_cmd *mc;
    Command cmd = COMMAND__INIT;
    SkipMigrationBills s = SKIP_MIGRATION_BILLS__INIT;
    MigrationRecord *m;
    size_t i;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    list = json_object_get(root, "image_nos");
    flag = json_object_get(root, "skip");
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > SKIP_MAX || (flag != NULL && !json_is_boolean(flag)) ||
        json_object_size(root) > (flag != NULL ? 2u : 1u)) {
        api_op_bad(op, SKIP_SHAPE);
        return;
    }
    json_array_foreach(list, i, v) {
        if (!json_is_string(v) || !archive_valid_image_no(json_string_value(v))) {
            char msg[300];
            snprintf(msg, sizeof msg, "\"image_nos\"[%zu] is not an image number (1-64 of "
                     "A-Z a-z 0-9 . _ -); %s", i, SKIP_SHAPE);
            api_op_bad(op, msg);
            return;
        }
    }
    if (!load_batch(&op->call, &m)) {
        api_op_free(op);
        return;
    }
    migration_record__free_unpacked(m, NULL);
    mc = migration_cmd_new(op, op->call.param);
    mc->skip = flag == NULL || json_is_true(flag);
    /* The bills this skip will not change, as the store holds them now (the state
     * machine decides, and counts what it changed). */
    mc->unchanged = json_array();
    s.image_nos = xcalloc(json_array_size(list), sizeof *s.image_nos);
    json_array_foreach(list, i, v) {
        struct base_err err = {{0}};
        MigrationBill *b;
        const char *no = json_string_value(v);
        bool change = false;
        s.image_nos[i] = (char *)no;
        if (archive_get_migration_bill(op->call.api->archive, op->call.tenant, mc->batch_no, no,
                                       &b, &err) == 0) {
            change = mc->skip ? strcmp(b->state, MIGRATION_BILL_PENDING) == 0 ||
                                    strcmp(b->state, MIGRATION_BILL_CHECKED) == 0 ||
                                    strcmp(b->state, MIGRATION_BILL_FAILED) == 0
                              : strcmp(b->state, MIGRATION_BILL_SKIPPED) == 0;
            migration_bill__free_unpacked(b, NULL);
        }
        if (!change) {
            json_array_append_new(mc->unchanged, str(no));
        }
    }
    s.n_image_nos = json_array_size(list);
    s.batch_no = mc->batch_no;
    s.skip = mc->skip;
    cmd.body_case = COMMAND__BODY_SKIP_MIGRATION_BILLS;
    cmd.skip_migration_bills = &s;
    propose(op, &cmd, &s.base, NULL);
    free(s.image_nos);
}

void api_handle_skip_migration_bills(struct api_call *call)
{
    if (!archive_valid_migration_name(call->param)) {
        respond_not_found(call, call->param);
        return;
    }
    api_op_start(call, SKIP_BODY_MAX, skip_body);
}

/* ---- GET /api/v1/migrations, GET /api/v1/migrations/{batch_no} ---- */

static bool list_one(const MigrationRecord *m, void *arg)
{
    json_array_append_new(arg, batch_json(m));
    return true;
}

void api_handle_list_migrations(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *list = json_array();
    if (archive_list_migrations(call->api->archive, call->tenant, list_one, list, &err) != 0) {
        json_decref(list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "migrations: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, json_pack("{s:o}", "migrations", list));
}

void api_handle_get_migration(struct api_call *call)
{
    MigrationRecord *m;
    if (load_batch(call, &m)) {
        api_respond_json(call->api, call->req, 200, batch_json(m));
        migration_record__free_unpacked(m, NULL);
    }
}

/* ---- Query parameters shared by the bills and the log ---- */


/* ---- GET /api/v1/migrations/{batch_no}/bills ---- */

static bool bill_state_known(const char *s)
{
    static const char *const states[] = {
        MIGRATION_BILL_PENDING, MIGRATION_BILL_CHECKED, MIGRATION_BILL_MIGRATED,
        MIGRATION_BILL_PRESENT, MIGRATION_BILL_FAILED,  MIGRATION_BILL_SKIPPED,
    };
    for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
        if (strcmp(s, states[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The category a file counts for in "complete". */
static const char *complete_group(const char *category)
{
    if (strcmp(category, "cover") == 0 || strcmp(category, "invoice") == 0) {
        return category;
    }
    return "attachment";
}

static json_t *bill_json(const MigrationBill *b)
{
    json_t *files = json_array();
    bool cover = true, invoice = true, attachment = true;
    for (size_t i = 0; i < b->n_files; i++) {
        const MigrationFile *f = b->files[i];
        const char *group = complete_group(f->category);
        json_t *blob = json_null();
        if (f->blob.len == 32) {
            char hex[65];
            hex_encode(f->blob.data, 32, hex);
            blob = json_string(hex);
        }
        json_array_append_new(files,
                              json_pack("{s:o, s:o, s:o, s:o, s:I, s:o, s:b}", "file_id",
                                        str(f->file_id), "name", str(f->name), "category",
                                        str(f->category), "format", str(f->format), "size",
                                        (json_int_t)f->size, "blob", blob, "done", f->done));
        if (!f->done) {
            if (strcmp(group, "cover") == 0) {
                cover = false;
            } else if (strcmp(group, "invoice") == 0) {
                invoice = false;
            } else {
                attachment = false;
            }
        }
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:I, s:o, s:{s:b, "
                     "s:b, s:b}}",
                     "image_no", str(b->image_no), "state", str(b->state), "reason",
                     text_or_null(b->reason), "bill_no", str(b->bill_no), "bill_type",
                     str(b->bill_type), "org", str(b->org), "created",
                     api_time_json(b->created_ms), "source_state", str(b->source_state),
                     "attempts", (int)b->attempts, "updated",
                     api_time_json(b->updated_ms), "bytes", (json_int_t)b->bytes, "files",
                     files, "complete", "cover", cover, "invoice", invoice, "attachment",
                     attachment);
}

struct bills_page {
    const char *state;
    unsigned limit, scanned;
    json_t *bills;
    char last[ARCHIVE_IMAGE_NO_MAX + 1]; /* the last bill read */
    bool more;
};

static bool bills_one(const MigrationBill *b, void *arg)
{
    struct bills_page *p = arg;
    if (json_array_size(p->bills) == p->limit || p->scanned == BILLS_SCAN_MAX) {
        p->more = true; /* there is at least this one more to read */
        return false;
    }
    p->scanned++;
    snprintf(p->last, sizeof p->last, "%s", b->image_no);
    if (p->state == NULL || strcmp(b->state, p->state) == 0) {
        json_array_append_new(p->bills, bill_json(b));
    }
    return true;
}

void api_handle_migration_bills(struct api_call *call)
{
    struct base_err err = {{0}};
    struct bills_page p = {0};
    MigrationRecord *m;
    char *state = http_request_query(call->req, "state");
    char *after = http_request_query(call->req, "after");
    if (state != NULL && !bill_state_known(state)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "state must be pending, checked, migrated, present, failed or "
                          "skipped");
    } else if (after != NULL && after[0] != '\0' && !archive_valid_image_no(after)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "after must be an image number (a page's next_after)");
    } else if (api_query_limit(call, BILLS_LIMIT_DEFAULT, BILLS_LIMIT_MAX, &p.limit) &&
               load_batch(call, &m)) {
        migration_record__free_unpacked(m, NULL);
        p.state = state;
        p.bills = json_array();
        if (archive_each_migration_bill(call->api->archive, call->tenant, call->param,
                                        after != NULL ? after : "", bills_one, &p, &err) != 0) {
            json_decref(p.bills);
            api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "migration bills: %s",
                              err.msg);
        } else {
            api_respond_json(call->api, call->req, 200,
                             json_pack("{s:s, s:o, s:o}", "batch_no", call->param, "bills",
                                       p.bills, "next_after",
                                       p.more ? str(p.last) : json_null()));
        }
    }
    free(state);
    free(after);
}

/* ---- GET /api/v1/migrations/{batch_no}/log ---- */

static json_t *log_entry_json(const MigrationLogEntry *e)
{
    json_t *detail = json_loads(e->detail, 0, NULL);
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "seq", (json_int_t)e->seq, "time",
                     api_time_json(e->time_ms), "operator", str(e->operator_), "action",
                     str(e->action),
                     "image_no", text_or_null(e->image_no), "detail",
                     detail != NULL ? detail : json_null());
}

struct text {
    char *buf;
    size_t len, cap;
};

static void text_append(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->buf = xrealloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

/* RFC 4180: a field in quotes, quotes doubled. */
static void csv_field(struct text *t, const char *s, bool last)
{
    text_append(t, "\"", 1);
    for (; *s != '\0'; s++) {
        text_append(t, s, 1);
        if (*s == '"') {
            text_append(t, "\"", 1);
        }
    }
    text_append(t, last ? "\"\r\n" : "\",", last ? 3 : 2);
}

/* A streamed CSV answer: one page of entries per chunk, the next read once the last one
 * is written, so memory stays one page whatever the log's length. */
struct log_stream {
    struct api *api;
    char tenant[ARCHIVE_ID_MAX + 1];
    char batch_no[ARCHIVE_ID_MAX + 1];
    uint64_t after;
    uint64_t left; /* entries still to send (?limit=, or all) */
    unsigned in_page;
    struct text page;
};

static bool csv_one(const MigrationLogEntry *e, void *arg)
{
    struct log_stream *s = arg;
    char seq[24], when[40];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)e->seq);
    clock_format_rfc3339(e->time_ms, when, sizeof when);
    csv_field(&s->page, seq, false);
    csv_field(&s->page, when, false);
    csv_field(&s->page, e->operator_, false);
    csv_field(&s->page, e->action, false);
    csv_field(&s->page, e->image_no, false);
    csv_field(&s->page, e->detail, true);
    s->after = e->seq;
    s->left--;
    return ++s->in_page < LOG_CSV_PAGE && s->left > 0;
}

static void csv_next(struct http_request *req, int status)
{
    struct log_stream *s = req->data;
    struct base_err err = {{0}};
    int rv = 0;
    if (status == 0 && s->left > 0) {
        s->in_page = 0;
        rv = archive_each_migration_log(s->api->archive, s->tenant, s->batch_no, s->after,
                                        csv_one, s, &err);
        if (rv != 0) {
            /* The status line is sent: end the answer short, the client sees it cut. */
            LOG_WARN("api", "migration %s log: %s", s->batch_no, err.msg);
        }
    }
    if (status != 0 || rv != 0 || s->page.len == 0) {
        http_respond_end(req);
        free(s->page.buf);
        free(s);
        return;
    }
    http_respond_write(req, s->page.buf, s->page.len, csv_next);
    s->page = (struct text){0};
}

static void stream_csv(struct api_call *call, uint64_t after, uint64_t limit)
{
    static const char head[] = "seq,time,operator,action,image_no,detail\r\n";
    struct log_stream *s = xcalloc(1, sizeof *s);
    char disposition[160];
    s->api = call->api;
    snprintf(s->tenant, sizeof s->tenant, "%s", call->tenant);
    snprintf(s->batch_no, sizeof s->batch_no, "%.64s", call->param);
    s->after = after;
    s->left = limit;
    call->req->data = s;
    snprintf(disposition, sizeof disposition, "attachment; filename=\"migration-%.64s-log.csv\"",
             call->param);
    http_request_add_header(call->req, "Content-Disposition", disposition);
    http_respond_start(call->req, 200, "text/csv; charset=utf-8", -1);
    http_respond_write(call->req, xstrdup(head), sizeof head - 1, csv_next);
}

struct log_page {
    json_t *entries;
    unsigned limit;
    uint64_t last;
    bool more;
};

static bool json_one(const MigrationLogEntry *e, void *arg)
{
    struct log_page *p = arg;
    if (json_array_size(p->entries) == p->limit) {
        p->more = true;
        return false;
    }
    json_array_append_new(p->entries, log_entry_json(e));
    p->last = e->seq;
    return true;
}

void api_handle_migration_log(struct api_call *call)
{
    struct base_err err = {{0}};
    char *format = http_request_query(call->req, "format");
    char *a = http_request_query(call->req, "after");
    char *l;
    bool csv = format != NULL && strcmp(format, "csv") == 0;
    unsigned long long after = 0;
    unsigned limit = 0;
    MigrationRecord *m;
    char *end;
    if (format != NULL && !csv && strcmp(format, "json") != 0) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "format is json or csv");
        goto out;
    }
    if (a != NULL) {
        after = strtoull(a, &end, 10);
        if (a[0] < '0' || a[0] > '9' || *end != '\0') {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                              "after is a log entry's seq (a page's next_after)");
            goto out;
        }
    }
    l = http_request_query(call->req, "limit");
    if (csv && l == NULL) {
        limit = 0; /* the whole log */
    } else if (!api_query_limit(call, LOG_LIMIT_DEFAULT, csv ? UINT32_MAX : LOG_LIMIT_MAX,
                            &limit)) {
        free(l);
        goto out;
    }
    free(l);
    if (!load_batch(call, &m)) {
        goto out;
    }
    migration_record__free_unpacked(m, NULL);
    if (csv) {
        stream_csv(call, after, limit == 0 ? UINT64_MAX : limit);
    } else {
        struct log_page p = {json_array(), limit, 0, false};
        if (archive_each_migration_log(call->api->archive, call->tenant, call->param, after,
                                       json_one, &p, &err) != 0) {
            json_decref(p.entries);
            api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "migration log: %s",
                              err.msg);
        } else {
            api_respond_json(call->api, call->req, 200,
                             json_pack("{s:s, s:o, s:o}", "batch_no", call->param, "entries",
                                       p.entries, "next_after",
                                       p.more ? json_integer((json_int_t)p.last) : json_null()));
        }
    }
out:
    free(format);
    free(a);
}
