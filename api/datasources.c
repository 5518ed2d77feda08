/* Data sources: the other imaging systems a tenant migrates from (docs/migration.md).
 *
 * A tenant admin (or the operator, ?tenant=) creates, lists, changes, disables and
 * deletes them, and tests one: a login and one page of its list, through the same
 * adapter the migration runner uses (migrate/source.h). The state machine checks every
 * field (archive/apply_datasources.c); here the body's shape is checked, and a URL
 * whose host is an address the outbound guard refuses is refused at once (the guard
 * checks every connection again). No answer ever carries the secret. */
#include "api/api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/migration.h"
#include "base/clock.h"
#include "base/mem.h"
#include "migrate/source.h"
#include "net/http_client.h"
#include "replication/repl.h"

#define DATASOURCE_BODY_MAX (16u << 10)

/* The JSON fields of each kind and the record field each fills. */
enum ds_field { F_NAME, F_KIND, F_URL, F_TENANT, F_CLIENT, F_SECRET, F_ACCOUNT, F_USER, F_PATH,
                F_ENABLED };

struct ds_key {
    const char *key;
    enum ds_field field;
};

static const struct ds_key IMGARC_KEYS[] = {
    {"name", F_NAME},     {"kind", F_KIND},           {"url", F_URL},
    {"tenant", F_TENANT}, {"client_id", F_CLIENT},    {"client_secret", F_SECRET},
    {"enabled", F_ENABLED},
};
static const struct ds_key VENDOR_KEYS[] = {
    {"name", F_NAME},        {"kind", F_KIND},         {"url", F_URL},
    {"tenant_id", F_TENANT}, {"app_id", F_CLIENT},     {"app_secret", F_SECRET},
    {"account_id", F_ACCOUNT}, {"user", F_USER},       {"list_path", F_PATH},
    {"enabled", F_ENABLED},
};

static const char IMGARC_SHAPE[] =
    "{\"name\", \"kind\": \"imgarc\", \"url\", \"tenant\", \"client_id\", \"client_secret\", "
    "\"enabled\"?}";
static const char VENDOR_SHAPE[] =
    "{\"name\", \"kind\": \"vendor\", \"url\", \"app_id\", \"app_secret\", \"tenant_id\", "
    "\"account_id\"?, \"user\", \"list_path\"?, \"enabled\"?}";

static bool is_vendor(const char *kind)
{
    return kind != NULL && strcmp(kind, "vendor") == 0;
}

/* The answer object: never the secret. */
static json_t *datasource_json(const DataSourceRecord *r)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:o, s:o, s:s}", "name", r->name, "kind",
                          r->kind, "url", r->url, "enabled", !r->disabled, "secret_set",
                          r->secret[0] != '\0', "created", api_time_json(r->created_ms),
                          "updated", api_time_json(r->updated_ms), "created_by", r->created_by);
    if (is_vendor(r->kind)) {
        json_object_set_new(o, "tenant_id", json_string(r->source_tenant));
        json_object_set_new(o, "app_id", json_string(r->client_id));
        json_object_set_new(o, "account_id", json_string(r->account_id));
        json_object_set_new(o, "user", json_string(r->user));
        json_object_set_new(o, "list_path", json_string(r->list_path));
    } else {
        json_object_set_new(o, "tenant", json_string(r->source_tenant));
        json_object_set_new(o, "client_id", json_string(r->client_id));
    }
    return o;
}

/* Wipes the secret in the parsed body and the request's bytes, then frees the op. */
static void ds_op_free(struct api_op *op)
{
    const char *keys[] = {"client_secret", "app_secret"};
    for (size_t i = 0; op->body != NULL && i < ARRAY_SIZE(keys); i++) {
        json_t *s = json_object_get(op->body, keys[i]);
        if (json_is_string(s)) {
            sodium_memzero((char *)json_string_value(s), json_string_length(s));
        }
    }
    api_op_free(op);
}

static bool ds_bad(struct api_op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool ds_bad(struct api_op *op, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_respond_error(op->call.api, op->call.req, 400, API_E_INVALID_FIELD, "%s", msg);
    ds_op_free(op);
    return false;
}

/* Reads @root's fields of kind @kind into @r (pointers into @root) and *@enabled (-1:
 * absent); @patch: name and kind may only repeat the data source's. False after
 * answering. */
static bool read_fields(struct api_op *op, json_t *root, const char *kind, bool patch,
                        DataSourceRecord *r, int *enabled)
{
    bool vendor = is_vendor(kind);
    const struct ds_key *keys = vendor ? VENDOR_KEYS : IMGARC_KEYS;
    size_t n_keys = vendor ? ARRAY_SIZE(VENDOR_KEYS) : ARRAY_SIZE(IMGARC_KEYS);
    const char *shape = vendor ? VENDOR_SHAPE : IMGARC_SHAPE;
    const char *key;
    json_t *v;
    *enabled = -1;
    json_object_foreach(root, key, v)
    {
        const struct ds_key *k = NULL;
        const char *s;
        for (size_t i = 0; i < n_keys && k == NULL; i++) {
            if (strcmp(keys[i].key, key) == 0) {
                k = &keys[i];
            }
        }
        if (k == NULL) {
            return ds_bad(op, "unknown field '%.64s' for kind %s: a data source of kind %s is "
                          "%s", key, kind, kind, shape);
        }
        if (k->field == F_ENABLED) {
            if (!json_is_boolean(v)) {
                return ds_bad(op, "\"enabled\" must be true or false");
            }
            *enabled = json_is_true(v);
            continue;
        }
        if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v))) {
            return ds_bad(op, "\"%s\" must be a string", key);
        }
        s = json_string_value(v);
        if (json_string_length(v) > 512) {
            return ds_bad(op, "\"%s\" is longer than 512 bytes", key);
        }
        switch (k->field) {
        case F_NAME:
            if (patch && strcmp(s, r->name) != 0) {
                return ds_bad(op, "a data source's name never changes");
            }
            r->name = (char *)s;
            break;
        case F_KIND:
            if (patch && strcmp(s, kind) != 0) {
                return ds_bad(op, "data source %s is of kind %s: a kind never changes (delete "
                              "it and create it again)", r->name, kind);
            }
            r->kind = (char *)s;
            break;
        case F_URL:
            r->url = (char *)s;
            break;
        case F_TENANT:
            r->source_tenant = (char *)s;
            break;
        case F_CLIENT:
            r->client_id = (char *)s;
            break;
        case F_SECRET:
            r->secret = (char *)s;
            break;
        case F_ACCOUNT:
            r->account_id = (char *)s;
            break;
        case F_USER:
            r->user = (char *)s;
            break;
        case F_PATH:
            r->list_path = (char *)s;
            break;
        case F_ENABLED:
            break;
        }
    }
    return true;
}

/* Refuses a URL whose host the outbound guard refuses outright; false after answering.
 * The state machine checks the rest of the URL's form. */
static bool url_allowed(struct api_op *op, const char *url)
{
    struct outbound *g = op->call.api->config.outbound;
    struct base_err err = {{0}};
    char host[256], why[256];
    unsigned port;
    if (url == NULL || url[0] == '\0' || g == NULL) {
        return true;
    }
    if (http_client_url_host(url, host, sizeof host, &port, &err) != 0) {
        return ds_bad(op, "\"url\": %s", err.msg);
    }
    if (outbound_literal_refused(g, host, port, why, sizeof why)) {
        return ds_bad(op, "\"url\": %.300s. A data source on an internal network needs the "
                      "operator to allow it with --outbound-allow HOST[:PORT] or CIDR "
                      "(docs/migration.md)", why);
    }
    return true;
}

/* A change applied: answers the data source as this node now holds it. */
static void answer_applied(struct repl_propose *prop, int status, const struct archive_result *res,
                           int http_status)
{
    struct api_op *op = prop->data;
    struct base_err err = {{0}};
    DataSourceRecord *r;
    if (api_op_applied(op, status, res)) {
        const char *name = json_string_value(json_object_get(op->body, "name"));
        if (name == NULL) {
            name = op->call.param;
        }
        if (archive_get_datasource(op->call.api->archive, op->call.tenant, name, &r, &err) == 0) {
            json_t *o = datasource_json(r);
            json_object_set_new(o, "index", json_integer((json_int_t)res->index));
            api_respond_json(op->call.api, op->call.req, http_status, o);
            data_source_record__free_unpacked(r, NULL);
        } else {
            /* Deleted again meanwhile: say what was applied. */
            api_respond_json(op->call.api, op->call.req, http_status,
                             json_pack("{s:s, s:I}", "name", name, "index",
                                       (json_int_t)res->index));
        }
    }
    ds_op_free(op);
}

static void created(struct repl_propose *prop, int status, const struct archive_result *res)
{
    answer_applied(prop, status, res, 201);
}

static void updated(struct repl_propose *prop, int status, const struct archive_result *res)
{
    answer_applied(prop, status, res, 200);
}

/* ---- POST /api/v1/datasources ---- */

static void create_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *kind = json_string_value(json_object_get(root, "kind"));
    const char *name = json_string_value(json_object_get(root, "name"));
    DataSourceRecord r = DATA_SOURCE_RECORD__INIT;
    PutDataSource c = PUT_DATA_SOURCE__INIT;
    Command cmd = COMMAND__INIT;
    int enabled;
    if (req->body != NULL) {
        sodium_memzero(req->body, req->body_len); /* parsed: the secret is in @root now */
    }
    if (root == NULL) {
        ds_op_free(op);
        return;
    }
    if (kind == NULL || (strcmp(kind, "imgarc") != 0 && strcmp(kind, "vendor") != 0)) {
        ds_bad(op, "\"kind\" is \"imgarc\" (another imgarc cluster: %s) or \"vendor\" (the "
               "incumbent's API: %s)", IMGARC_SHAPE, VENDOR_SHAPE);
        return;
    }
    if (name == NULL || !archive_valid_migration_name(name)) {
        ds_bad(op, "\"name\" is 1-64 of A-Z a-z 0-9 . _ - (not starting with .)");
        return;
    }
    if (!read_fields(op, root, kind, false, &r, &enabled)) {
        return;
    }
    if (r.url[0] == '\0' || r.secret[0] == '\0' || r.source_tenant[0] == '\0' ||
        r.client_id[0] == '\0' || (is_vendor(kind) && r.user[0] == '\0')) {
        ds_bad(op, "a data source of kind %s is %s", kind,
               is_vendor(kind) ? VENDOR_SHAPE : IMGARC_SHAPE);
        return;
    }
    if (!url_allowed(op, r.url)) {
        return;
    }
    r.disabled = enabled == 0;
    c.source = &r;
    c.create = true;
    cmd.body_case = COMMAND__BODY_PUT_DATA_SOURCE;
    cmd.put_data_source = &c;
    api_op_propose(op, &cmd, NULL, created);
}

void api_handle_create_datasource(struct api_call *call)
{
    api_op_start(call, DATASOURCE_BODY_MAX, create_body);
}

/* ---- GET /api/v1/datasources, GET /api/v1/datasources/{name} ---- */

static void list_one(const DataSourceRecord *r, void *arg)
{
    json_array_append_new(arg, datasource_json(r));
}

void api_handle_list_datasources(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *list = json_array();
    if (archive_list_datasources(call->api->archive, call->tenant, list_one, list, &err) != 0) {
        json_decref(list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "data sources: %s",
                          err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, json_pack("{s:o}", "datasources", list));
}

/* Data source @name of the call's tenant: 0 with *@r, or an answer made (404, 500). */
static int load(struct api_call *call, DataSourceRecord **r)
{
    struct base_err err = {{0}};
    int rv = archive_get_datasource(call->api->archive, call->tenant, call->param, r, &err);
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_DATASOURCE_NOT_FOUND,
                          "tenant %s has no data source %.64s; GET /api/v1/datasources lists "
                          "them", call->tenant, call->param);
    } else if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "data source: %s",
                          err.msg);
    }
    return rv;
}

void api_handle_get_datasource(struct api_call *call)
{
    DataSourceRecord *r;
    if (load(call, &r) == 0) {
        api_respond_json(call->api, call->req, 200, datasource_json(r));
        data_source_record__free_unpacked(r, NULL);
    }
}

/* ---- PATCH /api/v1/datasources/{name} ---- */

static void update_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    DataSourceRecord *now;
    DataSourceRecord r = DATA_SOURCE_RECORD__INIT;
    PutDataSource c = PUT_DATA_SOURCE__INIT;
    Command cmd = COMMAND__INIT;
    char kind[16];
    int enabled;
    if (req->body != NULL) {
        sodium_memzero(req->body, req->body_len);
    }
    if (root == NULL) {
        ds_op_free(op);
        return;
    }
    if (json_object_size(root) == 0) {
        ds_bad(op, "a data source's change names at least one field: any of its fields but "
               "name and kind, \"enabled\": true|false, a new secret");
        return;
    }
    if (load(&op->call, &now) != 0) {
        ds_op_free(op);
        return;
    }
    snprintf(kind, sizeof kind, "%s", now->kind);
    r.name = op->call.param;
    data_source_record__free_unpacked(now, NULL);
    if (!read_fields(op, root, kind, true, &r, &enabled) || !url_allowed(op, r.url)) {
        return;
    }
    r.name = op->call.param;
    r.kind = "";
    if (enabled >= 0) {
        c.set_disabled = true;
        r.disabled = enabled == 0;
    }
    c.source = &r;
    cmd.body_case = COMMAND__BODY_PUT_DATA_SOURCE;
    cmd.put_data_source = &c;
    api_op_propose(op, &cmd, NULL, updated);
}

void api_handle_update_datasource(struct api_call *call)
{
    api_op_start(call, DATASOURCE_BODY_MAX, update_body);
}

/* ---- DELETE /api/v1/datasources/{name} ---- */

static void deleted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    api_op_answer_deleted(prop, status, res, "name");
}

void api_handle_delete_datasource(struct api_call *call)
{
    struct api_op *op = api_op_new(call);
    Command cmd = COMMAND__INIT;
    DeleteDataSource d = DELETE_DATA_SOURCE__INIT;
    d.name = call->param;
    cmd.body_case = COMMAND__BODY_DELETE_DATA_SOURCE;
    cmd.delete_data_source = &d;
    api_op_propose(op, &cmd, NULL, deleted);
}

/* ---- POST /api/v1/datasources/{name}/test ---- */

/* A connection test: a login and one page of one bill, through the adapter. */
struct ds_test {
    struct api_call call;
    struct source *src;
    uint64_t start_ns;
    char step[32]; /* the step that failed: "login" or "list" */
};

static void test_end(struct ds_test *t, int status, const char *message, const char *detail)
{
    struct api *api = t->call.api;
    json_int_t ms = (json_int_t)((clock_mono_ns() - t->start_ns) / 1000000);
    if (status == 0) {
        api_respond_json(api, t->call.req, 200,
                         json_pack("{s:b, s:s, s:s, s:I, s:s}", "ok", 1, "name", t->call.param,
                                   "kind", t->src->record->kind, "elapsed_ms", ms, "detail",
                                   detail));
    } else {
        api_respond_error(api, t->call.req, 502, API_E_SOURCE_UNREACHABLE,
                          "data source %s (%s at %.300s): the %s failed after %lld ms: %.600s",
                          t->call.param, t->src->record->kind, t->src->record->url, t->step,
                          (long long)ms, message);
    }
    source_free(t->src);
    free(t);
}

static void test_listed(void *arg, int status, const char *message, json_t *bills,
                        const char *next_cursor)
{
    struct ds_test *t = arg;
    char detail[512];
    (void)next_cursor;
    if (status == 0) {
        const char *first = json_string_value(json_object_get(json_array_get(bills, 0),
                                                              "image_no"));
        if (first != NULL) {
            snprintf(detail, sizeof detail, "logged in; the list answered (first bill %.64s)",
                     first);
        } else {
            snprintf(detail, sizeof detail, "logged in; the list answered, with no bill");
        }
    }
    test_end(t, status, message, detail);
}

static void test_logged_in(void *arg, int status, const char *message)
{
    struct ds_test *t = arg;
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    if (status != 0) {
        test_end(t, status, message, "");
        return;
    }
    snprintf(t->step, sizeof t->step, "list");
    source_list(t->src, &scope, "", 1, test_listed, t);
}

void api_handle_test_datasource(struct api_call *call)
{
    struct api *api = call->api;
    struct source_env env = {api->loop, api->config.http, api->config.outbound};
    struct base_err err = {{0}};
    DataSourceRecord *r;
    struct ds_test *t;
    int rv;
    if (load(call, &r) != 0) {
        return;
    }
    if (env.http == NULL || env.guard == NULL) {
        data_source_record__free_unpacked(r, NULL);
        api_respond_error(api, call->req, 503, API_E_UNAVAILABLE,
                          "this node makes no outbound calls (no HTTP client configured)");
        return;
    }
    t = xcalloc(1, sizeof *t);
    t->call = *call;
    rv = source_new(&t->src, &env, r, &err);
    data_source_record__free_unpacked(r, NULL);
    if (rv != 0) {
        free(t);
        api_respond_error(api, call->req, 502, API_E_SOURCE_UNREACHABLE, "%s", err.msg);
        return;
    }
    t->start_ns = clock_mono_ns();
    snprintf(t->step, sizeof t->step, "login");
    source_login(t->src, test_logged_in, t);
}
