/* Retention periods and deleting bills (docs/retention.md, docs/API.md "Retention and
 * deleting bills"): the tenant's default and each bill type's period, read by anyone
 * who reads and set by admins; a bill deleted by an admin once neither a hold nor its
 * period applies. The state machine decides both refusals, against the command's time,
 * so the answer is the same whichever node takes the request. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/users.h"
#include "base/mem.h"

#define RETENTION_BODY_MAX (4u << 10)

static json_t *years_json(uint32_t years)
{
    return years == ARCHIVE_RETENTION_PERMANENT ? json_string("permanent")
                                                : json_integer(years);
}

json_t *api_retain_until_json(struct api_call *call, const BillRecord *b)
{
    struct base_err err = {{0}};
    const char *on;
    uint64_t until;
    if (archive_bill_retained_until(call->api->archive, call->tenant, b, &until, &on, &err) !=
        0) {
        until = b->retain_until_ms; /* the stamp: a longer setting is not shown */
    }
    return until == UINT64_MAX ? json_string("permanent") : api_time_json(until);
}

struct types {
    struct archive *a;
    const char *tenant;
    json_t *list;
    int rv;
    struct base_err *err;
};

static void each_type(const BillTypeRecord *t, void *arg)
{
    struct types *ts = arg;
    uint32_t years;
    const char *on;
    if (ts->rv != 0) {
        return;
    }
    ts->rv = archive_retention_years(ts->a, ts->tenant, t->code, &years, &on, ts->err);
    if (ts->rv == 0) {
        json_array_append_new(ts->list, json_pack("{s:s, s:s, s:o, s:s}", "code", t->code,
                                                  "name", t->name, "years", years_json(years),
                                                  "from", on));
    }
}

/* {"default": {"years", "from"}, "bill_types": [{"code", "name", "years", "from"}]}: the
 * period each bill type's new bills get, and where it is set ("bill_type", "tenant" or
 * "default"). NULL after answering 500. */
static json_t *retention_json(struct api_call *call)
{
    struct base_err err = {{0}};
    struct types ts = {.a = call->api->archive, .tenant = call->tenant, .err = &err};
    uint32_t years;
    const char *on;
    ts.list = json_array();
    if (archive_retention_years(ts.a, call->tenant, "", &years, &on, &err) != 0 ||
        archive_list_bill_types(ts.a, call->tenant, each_type, &ts, &err) != 0 || ts.rv != 0) {
        json_decref(ts.list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "retention: %s", err.msg);
        return NULL;
    }
    return json_pack("{s:{s:o, s:s}, s:o}", "default", "years", years_json(years), "from", on,
                     "bill_types", ts.list);
}

void api_handle_get_retention(struct api_call *call)
{
    json_t *body = retention_json(call);
    if (body != NULL) {
        api_respond_json(call->api, call->req, 200, body);
    }
}

static void retention_set(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    json_t *body;
    if (api_op_applied(op, status, res) && (body = retention_json(&op->call)) != NULL) {
        json_object_set_new(body, "index", json_integer((json_int_t)res->index));
        api_respond_json(op->call.api, op->call.req, 200, body);
    }
    api_op_free(op);
}

static void retention_body(struct http_request *req, int status)
{
    static const char usage[] =
        "the body is {\"bill_type\": \"...\" (absent: the tenant's default), \"years\": "
        "0-1000 | \"permanent\" | null (null: inherit the default)}";
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status), *type, *years;
    Command cmd = COMMAND__INIT;
    SetRetention s = SET_RETENTION__INIT;
    Retention r = RETENTION__INIT;
    const char *key;
    json_t *v;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    json_object_foreach(root, key, v) {
        if (strcmp(key, "bill_type") != 0 && strcmp(key, "years") != 0) {
            api_op_bad(op, usage);
            return;
        }
    }
    type = json_object_get(root, "bill_type");
    years = json_object_get(root, "years");
    if ((type != NULL && (!json_is_string(type) || !archive_valid_tenant(json_string_value(type)))) ||
        years == NULL) {
        api_op_bad(op, usage);
        return;
    }
    if (json_is_integer(years) && json_integer_value(years) >= 0 &&
        json_integer_value(years) <= ARCHIVE_RETENTION_YEARS_MAX) {
        r.years = (uint32_t)json_integer_value(years);
        s.retention = &r;
    } else if (json_is_string(years) && strcmp(json_string_value(years), "permanent") == 0) {
        r.years = ARCHIVE_RETENTION_PERMANENT;
        s.retention = &r;
    } else if (!json_is_null(years)) {
        api_op_bad(op, usage);
        return;
    }
    s.bill_type = type != NULL ? (char *)json_string_value(type) : (char *)"";
    cmd.body_case = COMMAND__BODY_SET_RETENTION;
    cmd.set_retention = &s;
    api_op_propose(op, &cmd, NULL, retention_set);
}

void api_handle_set_retention(struct api_call *call)
{
    api_op_start(call, RETENTION_BODY_MAX, retention_body);
}

/* 200 {"image_no", "deleted": true, "index"}. */
static void bill_deleted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    api_op_answer_deleted(prop, status, res, "image_no");
}

static void propose_delete(struct api_op *op, const char *reason)
{
    Command cmd = COMMAND__INIT;
    DeleteBill d = DELETE_BILL__INIT;
    d.image_no = op->call.param;
    d.reason = (char *)reason;
    cmd.body_case = COMMAND__BODY_DELETE_BILL;
    cmd.delete_bill = &d;
    api_op_propose(op, &cmd, NULL, bill_deleted);
}

static void delete_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    const char *reason;
    if (api_op_optional_reason(op, status, 1024,
                               "why the bill is deleted, kept in the admin audit log", &reason)) {
        propose_delete(op, reason);
    }
}

void api_handle_delete_bill(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, RETENTION_BODY_MAX, delete_body);
    }
}
