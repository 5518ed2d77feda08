/* Operator endpoints for tenants, their licenses and their usage.
 *
 * A license document is verified here, against the public keys this node trusts
 * (--license-pubkey), and proposed as an InstallLicense command carrying the parsed
 * fields: the state machine applies what a node verified, so nodes with different
 * key sets still decide alike (docs/licenses.md). */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/license.h"
#include "base/clock.h"
#include "base/mem.h"

#define TENANT_BODY_MAX (64u << 10)
#define NAME_MAX_BYTES 256

static json_t *license_json(const License *l, uint64_t now_ms)
{
    char modes[32], warning[256];
    json_t *m = json_array();
    int64_t days = ((int64_t)l->expires_ms - (int64_t)now_ms) / (24 * 3600 * 1000);
    license_modes_format(l->modes, modes, sizeof modes);
    for (char *save = NULL, *tok = strtok_r(modes, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        json_array_append_new(m, json_string(tok));
    }
    return json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:o, s:o, s:I, s:o}", "license_id",
                     l->license_id, "tenant", l->tenant, "issued", api_time_json(l->issued_ms),
                     "expires", api_time_json(l->expires_ms), "quota_bytes",
                     (json_int_t)l->quota_bytes, "max_files", (json_int_t)l->max_files, "modes",
                     m, "installed", api_time_json(l->installed_ms), "expires_in_days",
                     (json_int_t)days, "warning",
                     archive_license_warning(l, now_ms, warning, sizeof warning)
                         ? json_string(warning)
                         : json_null());
}

/* Loads the tenant named by @id; false after answering 404 or 500. */
static bool load_tenant(struct api_call *call, const char *id, TenantRecord **out)
{
    struct base_err err = {{0}};
    int rv = archive_get_tenant(call->api->archive, id, out, &err);
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_TENANT_NOT_FOUND,
                          "no tenant %.64s; create it with POST /api/v1/tenants", id);
    } else if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "tenant: %s", err.msg);
    }
    return rv == 0;
}

/* ---- Tenants ---- */

static void tenant_created(struct repl_propose *prop, int status,
                           const struct archive_result *res)
{
    struct api_op *op = prop->data;
    TenantRecord *t;
    if (api_op_applied(op, status, res) && load_tenant(&op->call, op->call.param, &t)) {
        api_respond_json(op->call.api, op->call.req, 201,
                         json_pack("{s:s, s:s, s:o, s:I}", "id", t->id, "name", t->name,
                                   "created", api_time_json(t->created_ms), "index",
                                   (json_int_t)res->index));
        archive_free_tenant(t);
    }
    api_op_free(op);
}

static void tenant_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *id = json_string_value(json_object_get(root, "id"));
    json_t *name = json_object_get(root, "name");
    Command cmd = COMMAND__INIT;
    CreateTenant ct = CREATE_TENANT__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (id == NULL || !archive_valid_tenant(id)) {
        api_respond_error(op->call.api, req, 400, API_E_INVALID_FIELD,
                          "'id' must be 1-64 characters of A-Z a-z 0-9 . _ -");
    } else if (name != NULL && (!json_is_string(name) ||
                                json_string_length(name) > NAME_MAX_BYTES)) {
        api_respond_error(op->call.api, req, 400, API_E_INVALID_FIELD,
                          "'name' must be a string of at most %d bytes", NAME_MAX_BYTES);
    } else {
        snprintf(op->call.param, sizeof op->call.param, "%s", id);
        ct.id = op->call.param;
        ct.name = (char *)(name != NULL ? json_string_value(name) : id);
        cmd.body_case = COMMAND__BODY_CREATE_TENANT;
        cmd.create_tenant = &ct;
        api_op_propose(op, &cmd, op->call.param, tenant_created);
        return;
    }
    api_op_free(op);
}

void api_handle_create_tenant(struct api_call *call)
{
    api_op_start(call, TENANT_BODY_MAX, tenant_body);
}

/* ---- DELETE /api/v1/tenants/{id} {"confirm": "{id}", "reason"?} ---- */

/* 200 {"id", "deleted": true, "index"}. */
static void tenant_deleted(struct repl_propose *prop, int status,
                           const struct archive_result *res)
{
    api_op_answer_deleted(prop, status, res, "id");
}

static void delete_tenant_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root;
    json_t *reason;
    const char *confirm;
    if (status == 0 && req->body_len == 0) {
        api_op_bad(op, "deleting a tenant removes every bill, file, user and client it has: "
                       "confirm with {\"confirm\": \"<the tenant's id>\"}");
        return;
    }
    root = api_op_json(op, status);
    Command cmd = COMMAND__INIT;
    DeleteTenant d = DELETE_TENANT__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    confirm = json_string_value(json_object_get(root, "confirm"));
    reason = json_object_get(root, "reason");
    if (confirm == NULL || strcmp(confirm, op->call.param) != 0) {
        api_op_bad(op, "deleting a tenant removes every bill, file, user and client it has: "
                       "confirm with {\"confirm\": \"<the tenant's id>\"}");
        return;
    }
    if (json_object_size(root) != (reason != NULL ? 2u : 1u) ||
        (reason != NULL && (!json_is_string(reason) || json_string_length(reason) > 1024))) {
        api_op_bad(op, "the body is {\"confirm\": \"<id>\", \"reason\": \"...\"} (the reason "
                       "optional, at most 1024 bytes, kept in the operator's audit log)");
        return;
    }
    d.tenant = op->call.param;
    d.reason = (char *)(reason != NULL ? json_string_value(reason) : "");
    cmd.body_case = COMMAND__BODY_DELETE_TENANT;
    cmd.delete_tenant = &d;
    api_op_propose(op, &cmd, op->call.param, tenant_deleted);
}

void api_handle_delete_tenant(struct api_call *call)
{
    if (!archive_valid_tenant(call->param)) {
        api_respond_error(call->api, call->req, 404, API_E_TENANT_NOT_FOUND,
                          "no tenant %.64s; tenants are listed by GET /api/v1/tenants",
                          call->param);
        return;
    }
    api_op_start(call, TENANT_BODY_MAX, delete_tenant_body);
}

static void list_tenant(const TenantRecord *t, void *arg)
{
    json_array_append_new(arg, json_pack("{s:s, s:s, s:o, s:o}", "id", t->id, "name", t->name,
                                         "created", api_time_json(t->created_ms), "license",
                                         t->license != NULL
                                             ? license_json(t->license, clock_wall_ms())
                                             : json_null()));
}

void api_handle_list_tenants(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *list = json_array();
    if (archive_list_tenants(call->api->archive, list_tenant, list, &err) != 0) {
        json_decref(list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "tenants: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, json_pack("{s:o}", "tenants", list));
}

/* ---- Usage ---- */

struct org_usage_list {
    struct api_call *call;
    json_t *by_org;
};

/* A user limited by grants sees the figures of its organisations only; the tenant's
 * totals and license stay visible (the quota is the tenant's, and every capturer needs
 * to know whether captures are about to be refused). */
static void org_usage(const char *org, const UsageRecord *u, void *arg)
{
    struct org_usage_list *l = arg;
    if (!api_org_visible(l->call, org)) {
        return;
    }
    json_object_set_new(l->by_org, org,
                        json_pack("{s:I, s:I, s:I}", "bytes", (json_int_t)u->bytes, "files",
                                  (json_int_t)u->files, "bills", (json_int_t)u->bills));
}

static json_t *usage_warnings(const License *l, const UsageRecord *u, uint64_t now_ms)
{
    json_t *w = json_array();
    char buf[256];
    if (l == NULL) {
        json_array_append_new(w, json_string("no license installed: captures are refused "
                                             "(code 10888)"));
        return w;
    }
    if (archive_license_warning(l, now_ms, buf, sizeof buf)) {
        json_array_append_new(w, json_string(buf));
    }
    if (l->quota_bytes > 0 && u->bytes * 100 >= l->quota_bytes * 80) {
        snprintf(buf, sizeof buf, "%llu%% of the storage quota is used",
                 (unsigned long long)(u->bytes * 100 / l->quota_bytes));
        json_array_append_new(w, json_string(buf));
    }
    return w;
}

void api_handle_usage(struct api_call *call)
{
    struct base_err err = {{0}};
    UsageRecord zero = USAGE_RECORD__INIT, *u = NULL;
    TenantRecord *t;
    json_t *by_org = json_object();
    struct org_usage_list list = {.call = call, .by_org = by_org};
    const License *l;
    int rv;
    if (!load_tenant(call, call->param, &t)) {
        json_decref(by_org);
        return;
    }
    l = t->license;
    rv = archive_get_usage(call->api->archive, t->id, &u, &err);
    if ((rv != 0 && rv != BASE_ENOTFOUND) ||
        archive_list_org_usage(call->api->archive, t->id, org_usage, &list, &err) != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "usage: %s", err.msg);
        json_decref(by_org);
    } else {
        const UsageRecord *use = u != NULL ? u : &zero;
        uint64_t now = clock_wall_ms();
        /* One node holds every copy until blobs are replicated (issue "A cluster"). */
        api_respond_json(
            call->api, call->req, 200,
            json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:I, s:o, s:o, s:o}", "tenant", t->id,
                      "bytes", (json_int_t)use->bytes, "files", (json_int_t)use->files, "bills",
                      (json_int_t)use->bills, "quota_bytes",
                      l != NULL ? json_integer((json_int_t)l->quota_bytes) : json_null(),
                      "max_files",
                      l != NULL && l->max_files > 0 ? json_integer((json_int_t)l->max_files)
                                                    : json_null(),
                      "physical_bytes", (json_int_t)use->physical_bytes, "by_org", by_org,
                      "license", l != NULL ? license_json(l, now) : json_null(), "warnings",
                      usage_warnings(l, use, now)));
    }
    archive_free_usage(u);
    archive_free_tenant(t);
}

/* ---- Licenses ---- */

static void license_installed(struct repl_propose *prop, int status,
                              const struct archive_result *res)
{
    struct api_op *op = prop->data;
    const struct license *lic = op->data;
    TenantRecord *t;
    if (api_op_applied(op, status, res) && load_tenant(&op->call, lic->tenant, &t)) {
        json_t *body = license_json(t->license, clock_wall_ms());
        json_object_set_new(body, "index", json_integer((json_int_t)res->index));
        api_respond_json(op->call.api, op->call.req, res->created ? 201 : 200, body);
        archive_free_tenant(t);
    }
    api_op_free(op);
}

static void propose_license(struct api_op *op)
{
    const struct license *l = op->data;
    Command cmd = COMMAND__INIT;
    InstallLicense il = INSTALL_LICENSE__INIT;
    License rec = LICENSE__INIT;
    rec.license_id = (char *)l->license_id;
    rec.tenant = (char *)l->tenant;
    rec.issued_ms = l->issued_ms;
    rec.expires_ms = l->expires_ms;
    rec.quota_bytes = l->quota_bytes;
    rec.max_files = l->max_files;
    rec.modes = l->modes;
    rec.document = op->text;
    il.license = &rec;
    cmd.body_case = COMMAND__BODY_INSTALL_LICENSE;
    cmd.install_license = &il;
    api_op_propose(op, &cmd, l->tenant, license_installed);
}

static void license_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    struct api *api = op->call.api;
    struct base_err err = {{0}};
    struct license *lic = xcalloc(1, sizeof *lic);
    TenantRecord *t;
    op->data = lic;
    if (status != 0) {
        http_respond(req, 400, NULL, NULL, 0); /* the server answered already */
    } else if (license_verify(req->body, req->body_len, api->config.license_keys,
                              api->config.n_license_keys, lic, &err) != 0) {
        api_respond_error(api, req, 400, API_E_LICENSE_INVALID, "license refused: %s", err.msg);
    } else if (op->call.tenant_given && strcmp(lic->tenant, op->call.tenant) != 0) {
        api_respond_error(api, req, 400, API_E_LICENSE_INVALID,
                          "license refused: it is for tenant %s, not %s", lic->tenant,
                          op->call.tenant);
    } else if (load_tenant(&op->call, lic->tenant, &t)) {
        archive_free_tenant(t);
        op->text = xstrndup(req->body, req->body_len);
        propose_license(op);
        return;
    }
    api_op_free(op);
}

void api_handle_install_license(struct api_call *call)
{
    api_op_start(call, LICENSE_DOC_MAX, license_body);
}

static void history_one(const License *l, void *arg)
{
    json_array_append_new(arg, license_json(l, clock_wall_ms()));
}

void api_handle_show_license(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *history = json_array();
    TenantRecord *t;
    if (!load_tenant(call, call->tenant, &t)) {
        json_decref(history);
        return;
    }
    if (archive_list_licenses(call->api->archive, t->id, history_one, history, &err) != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "licenses: %s", err.msg);
        json_decref(history);
    } else {
        api_respond_json(call->api, call->req, 200,
                         json_pack("{s:s, s:o, s:o}", "tenant", t->id, "license",
                                   t->license != NULL ? license_json(t->license, clock_wall_ms())
                                                      : json_null(),
                                   "history", history));
    }
    archive_free_tenant(t);
}

/* ---- Admin audit log ---- */

struct audit_out {
    enum { OUT_JSON, OUT_JSONL, OUT_CSV } format;
    json_t *entries;
    char *text;
    size_t len, cap;
    uint64_t last;
};

static void out_append(struct audit_out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->text = xrealloc(o->text, o->cap);
    }
    memcpy(o->text + o->len, s, n);
    o->len += n;
    o->text[o->len] = '\0';
}

/* RFC 4180: a field in quotes, quotes doubled. */
static void csv_field(struct audit_out *o, const char *s, bool last)
{
    out_append(o, "\"", 1);
    for (; *s != '\0'; s++) {
        out_append(o, s, 1);
        if (*s == '"') {
            out_append(o, "\"", 1);
        }
    }
    out_append(o, last ? "\"\r\n" : "\",", last ? 3 : 2);
}

static void audit_entry(const AuditRecord *e, void *arg)
{
    struct audit_out *o = arg;
    json_t *detail = json_loads(e->detail, 0, NULL);
    json_t *j = json_pack("{s:I, s:o, s:s, s:s, s:s, s:o}", "index", (json_int_t)e->index,
                          "time", api_time_json(e->time_ms), "action", e->action, "operator",
                          e->operator_, "request_id", e->request_id, "detail",
                          detail != NULL ? detail : json_null());
    o->last = e->index;
    if (o->format == OUT_JSON) {
        json_array_append_new(o->entries, j);
        return;
    }
    if (o->format == OUT_JSONL) {
        char *line = json_dumps(j, JSON_COMPACT);
        out_append(o, line, strlen(line));
        out_append(o, "\n", 1);
        free(line);
    } else {
        char idx[24], when[40];
        snprintf(idx, sizeof idx, "%llu", (unsigned long long)e->index);
        clock_format_rfc3339(e->time_ms, when, sizeof when);
        csv_field(o, idx, false);
        csv_field(o, when, false);
        csv_field(o, e->action, false);
        csv_field(o, e->operator_, false);
        csv_field(o, e->request_id, false);
        csv_field(o, e->detail, true);
    }
    json_decref(j);
}

/* Reads format, after and limit; false after answering 400. */
static bool audit_params(struct api_call *call, struct audit_out *o, uint64_t *after,
                         unsigned *limit)
{
    char *format = http_request_query(call->req, "format");
    char *a = http_request_query(call->req, "after");
    char *l = http_request_query(call->req, "limit");
    char *end;
    bool ok = true;
    o->format = format == NULL || strcmp(format, "json") == 0 ? OUT_JSON
                : strcmp(format, "jsonl") == 0                ? OUT_JSONL
                : strcmp(format, "csv") == 0                  ? OUT_CSV
                                                              : (ok = false, OUT_JSON);
    *after = a != NULL ? strtoull(a, &end, 10) : 0;
    ok = ok && (a == NULL || (a[0] != '\0' && *end == '\0' && a[0] != '-'));
    *limit = l != NULL ? (unsigned)strtoul(l, &end, 10) : 1000;
    ok = ok && (l == NULL || (l[0] != '\0' && *end == '\0' && *limit >= 1 && *limit <= 10000));
    if (!ok) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "format is json, jsonl or csv; after is a raft index; limit is "
                          "1-10000");
    }
    free(format);
    free(a);
    free(l);
    return ok;
}

void api_handle_admin_audit(struct api_call *call)
{
    struct base_err err = {{0}};
    struct audit_out o = {.entries = json_array()};
    TenantRecord *t;
    uint64_t after;
    unsigned limit;
    bool more;
    if (!audit_params(call, &o, &after, &limit) || !load_tenant(call, call->tenant, &t)) {
        json_decref(o.entries);
        return;
    }
    archive_free_tenant(t);
    if (o.format == OUT_CSV) {
        static const char head[] = "index,time,action,operator,request_id,detail\r\n";
        out_append(&o, head, sizeof head - 1);
    }
    if (archive_list_admin_audit(call->api->archive, call->tenant, after, limit, audit_entry, &o,
                                 &more, &err) != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "audit: %s", err.msg);
    } else if (o.format == OUT_JSON) {
        api_respond_json(call->api, call->req, 200,
                         json_pack("{s:s, s:O, s:o}", "tenant", call->tenant, "entries",
                                   o.entries, "next_after",
                                   more ? json_integer((json_int_t)o.last) : json_null()));
    } else {
        char next[24];
        snprintf(next, sizeof next, "%llu", (unsigned long long)o.last);
        if (more) {
            http_request_add_header(call->req, "X-Imgarc-Next-After", next);
        }
        http_respond(call->req, 200, o.format == OUT_CSV ? "text/csv; charset=utf-8"
                                                         : "application/x-ndjson",
                     o.text != NULL ? o.text : "", o.len);
    }
    json_decref(o.entries);
    free(o.text);
}
