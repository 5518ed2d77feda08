/* The capture workflow beyond capture itself: bill types and schemes, invoice data of
 * scanned invoices, automatic and manual matching, submission to the ERP and returns.
 * Every change is a command; the state machine enforces the rules (DOMAIN.md). */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/users.h"
#include "base/mem.h"

#define WORKFLOW_BODY_MAX (64u << 10)

struct erp_pending {
    bool queued;
};

static void erp_pending_one(const DeliveryRecord *d, void *arg)
{
    struct erp_pending *p = arg;
    if (strcmp(d->event, "erp_submit") == 0) {
        p->queued = true;
    }
}

/* Pending deliveries of one bill looked at for "queued": a bill has a handful of events
 * (capture, submit, ERP), so the bound is never reached in practice. */
#define ERP_PENDING_SCAN 64

void api_bill_erp_json(struct api *api, const char *tenant, const BillRecord *bill,
                       json_t *body)
{
    struct base_err err = {{0}};
    struct archive_delivery_filter f = {.image_no = bill->image_no, .state = "pending",
                                        .limit = ERP_PENDING_SCAN};
    struct erp_pending p = {false};
    char submit[8] = "";
    char buf[64];
    const char *state = "none";
    bool more;
    json_t *error = json_null();
    if (archive_scheme_submit(api->archive, tenant, bill->bill_type, bill->org, submit,
                              &err) != 0) {
        submit[0] = '\0'; /* a store error: said as no scheme rather than failing the read */
    }
    if (archive_list_deliveries(api->archive, tenant, &f, erp_pending_one, &p, &more,
                                &err) != 0) {
        p.queued = false;
    }
    if (p.queued) {
        state = "queued";
    } else if (strcmp(bill->state, "erp_submitted") == 0) {
        state = "delivered";
    } else if (strcmp(bill->state, "erp_failed") == 0) {
        state = "failed";
    }
    if (bill->erp_error[0] != '\0' && strcmp(state, "delivered") != 0) {
        json_decref(error);
        error = json_string(api_receiver_error(bill->erp_error, buf, sizeof buf));
    }
    json_object_set_new(body, "submit",
                        submit[0] != '\0' ? json_string(submit) : json_null());
    json_object_set_new(body, "erp", json_pack("{s:s, s:o}", "state", state, "error", error));
}

/* Answers with the bill's state and match counts after the command. */
void api_bill_applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    struct base_err err = {{0}};
    BillRecord *bill;
    if (api_op_applied(op, status, res)) {
        if (archive_get_bill(op->call.api->archive, op->call.tenant, res->image_no, &bill,
                             &err) != 0) {
            api_respond_error(op->call.api, op->call.req, 500, API_E_INTERNAL, "bill: %s",
                              err.msg);
        } else {
            char buf[64];
            json_t *body = json_pack(
                "{s:s, s:s, s:o, s:{s:i, s:i}, s:o, s:I}", "image_no", bill->image_no, "state",
                bill->state, "file_id",
                res->file_id[0] != '\0' ? json_string(res->file_id) : json_null(), "invoices",
                "declared", (int)bill->n_invoices, "matched", (int)bill->invoices_matched,
                "erp_error",
                bill->erp_error[0] != '\0'
                    ? json_string(api_receiver_error(bill->erp_error, buf, sizeof buf))
                    : json_null(),
                "index", (json_int_t)res->index);
            api_bill_erp_json(op->call.api, op->call.tenant, bill, body);
            if (res->position > 0) { /* a move: where the file landed */
                json_object_set_new(body, "position", json_integer(res->position));
                json_object_set_new(body, "category", json_string(res->category));
            }
            api_respond_json(op->call.api, op->call.req, 200, body);
            archive_free_bill(bill);
        }
    }
    api_op_free(op);
}

/* ---- Bill types and schemes ---- */

static void bill_type_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *code = json_string_value(json_object_get(root, "code"));
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *mode = json_string_value(json_object_get(root, "mode"));
    Command cmd = COMMAND__INIT;
    CreateBillType c = CREATE_BILL_TYPE__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (code == NULL || !archive_valid_tenant(code) || (name != NULL && strlen(name) > 256) ||
        !archive_valid_mode(mode)) {
        api_op_bad(op, "a bill type is {\"code\" (1-64 of A-Z a-z 0-9 . _ -), \"name\" (at "
                       "most 256 bytes), \"mode\": \"basic\" | \"sync\" | \"match\"}");
        return;
    }
    if (name == NULL) {
        json_object_set_new(root, "name", json_string(code));
        name = code;
    }
    c.code = (char *)code;
    c.name = (char *)name;
    c.mode = (char *)mode;
    cmd.body_case = COMMAND__BODY_CREATE_BILL_TYPE;
    cmd.create_bill_type = &c;
    api_op_propose(op, &cmd, NULL, api_op_echo_applied);
}

void api_handle_create_bill_type(struct api_call *call)
{
    api_op_start(call, WORKFLOW_BODY_MAX, bill_type_body);
}

static void list_bill_type(const BillTypeRecord *t, void *arg)
{
    json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:o}", "code", t->code, "name",
                                         t->name, "mode", t->mode, "created",
                                         api_time_json(t->created_ms)));
}

void api_handle_list_bill_types(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *list = json_array();
    if (archive_list_bill_types(call->api->archive, call->tenant, list_bill_type, list, &err) !=
        0) {
        json_decref(list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "%s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, json_pack("{s:o}", "bill_types", list));
}

/* A string member that is absent (@def) or one of @a and @b (returned as the literal,
 * so the body may change); NULL when wrong. */
static const char *choice(json_t *root, const char *name, const char *a, const char *b,
                          const char *def)
{
    json_t *v = json_object_get(root, name);
    const char *s = json_string_value(v);
    if (v == NULL) {
        return def;
    }
    return s == NULL ? NULL : strcmp(s, a) == 0 ? a : strcmp(s, b) == 0 ? b : NULL;
}

static void scheme_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *type = json_string_value(json_object_get(root, "bill_type"));
    json_t *org = json_object_get(root, "org");
    Command cmd = COMMAND__INIT;
    SetScheme c = SET_SCHEME__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    c.match = (char *)choice(root, "match", "normal", "standard", "normal");
    c.submit = (char *)choice(root, "submit", "auto", "manual", "manual");
    if (type == NULL || !archive_valid_tenant(type) || c.match == NULL || c.submit == NULL ||
        (org != NULL && !json_is_null(org) && !archive_valid_tenant(json_string_value(org)))) {
        api_op_bad(op, "a scheme is {\"bill_type\", \"org\" (optional: an organisation and "
                       "those under it), \"match\": \"normal\" | \"standard\", \"submit\": "
                       "\"auto\" | \"manual\"}");
        return;
    }
    c.bill_type = (char *)type;
    c.org = (char *)(json_is_string(org) ? json_string_value(org) : "");
    json_object_set_new(root, "match", json_string(c.match));
    json_object_set_new(root, "submit", json_string(c.submit));
    cmd.body_case = COMMAND__BODY_SET_SCHEME;
    cmd.set_scheme = &c;
    api_op_propose(op, &cmd, NULL, api_op_echo_applied);
}

void api_handle_set_scheme(struct api_call *call)
{
    api_op_start(call, WORKFLOW_BODY_MAX, scheme_body);
}

static void list_scheme(const SchemeRecord *s, void *arg)
{
    json_array_append_new(arg, json_pack("{s:s, s:o, s:s, s:s, s:o}", "bill_type", s->bill_type,
                                         "org", s->org[0] != '\0' ? json_string(s->org)
                                                                  : json_null(),
                                         "match", s->match, "submit", s->submit, "updated",
                                         api_time_json(s->updated_ms)));
}

void api_handle_list_schemes(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *list = json_array();
    if (archive_list_schemes(call->api->archive, call->tenant, list_scheme, list, &err) != 0) {
        json_decref(list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "%s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, json_pack("{s:o}", "schemes", list));
}

/* ---- PATCH /api/v1/bills/{image_no}/files/{file_id} {"invoice": {...}} ---- */

/* Reads an invoice object into @inv (strings borrowed from @o); false with @why. */
static bool read_invoice(json_t *o, Invoice *inv, const char **why)
{
    static const char *const amounts[] = {"amount", "tax", "total"};
    const char *fields[] = {"number", "code",  "date",          "amount",
                            "tax",    "total", "seller_tax_no", "buyer_tax_no"};
    char **dst[] = {&inv->number, &inv->code,  &inv->date,          &inv->amount,
                    &inv->tax,    &inv->total, &inv->seller_tax_no, &inv->buyer_tax_no};
    const char *key;
    json_t *v;
    if (!json_is_object(o)) {
        *why = "\"invoice\" must be an object {\"number\", \"code\", \"date\", \"amount\", "
               "\"tax\", \"total\", \"seller_tax_no\", \"buyer_tax_no\"}";
        return false;
    }
    json_object_foreach(o, key, v) {
        bool known = false;
        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
            if (strcmp(key, fields[i]) == 0) {
                known = json_is_string(v) && json_string_length(v) <= ARCHIVE_INVOICE_FIELD_MAX;
                *dst[i] = (char *)json_string_value(v);
            }
        }
        if (!known) {
            *why = "invoice fields are number, code, date, amount, tax, total, seller_tax_no "
                   "and buyer_tax_no, each a string of at most 64 characters";
            return false;
        }
    }
    if (inv->number == NULL || inv->number[0] == '\0') {
        *why = "the invoice needs a \"number\"";
        return false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(amounts); i++) {
        json_t *a = json_object_get(o, amounts[i]);
        int64_t cents;
        if (a != NULL && json_string_length(a) > 0 &&
            !archive_amount_cents(json_string_value(a), &cents)) {
            *why = "amount, tax and total are decimal numbers with at most two decimals, "
                   "as strings (\"12.50\")";
            return false;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(dst); i++) {
        if (*dst[i] == NULL) {
            *dst[i] = (char *)"";
        }
    }
    return true;
}

static void file_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    Command cmd = COMMAND__INIT;
    SetFileInvoice c = SET_FILE_INVOICE__INIT;
    Invoice inv = INVOICE__INIT;
    const char *why = NULL;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (json_object_size(root) != 1 || !read_invoice(json_object_get(root, "invoice"), &inv,
                                                     &why)) {
        api_op_bad(op, why != NULL ? why : "the body is {\"invoice\": {...}}: invoice data is what "
                                    "a file's PATCH changes");
        return;
    }
    c.image_no = op->call.param;
    c.file_id = op->call.param2;
    c.invoice = &inv;
    cmd.body_case = COMMAND__BODY_SET_FILE_INVOICE;
    cmd.set_file_invoice = &c;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
}

/* False after answering when the image number or the bill's visibility is wrong. */
bool api_bill_param_ok(struct api_call *call)
{
    if (!archive_valid_image_no(call->param)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_IMAGE_NO,
                          "image numbers are 1-64 characters of A-Z a-z 0-9 . _ -");
        return false;
    }
    return api_bill_visible(call, call->param);
}

void api_handle_patch_file(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, WORKFLOW_BODY_MAX, file_body);
    }
}

/* ---- Matching ---- */

void api_handle_match_bill(struct api_call *call)
{
    struct api_op *op;
    Command cmd = COMMAND__INIT;
    MatchBill m = MATCH_BILL__INIT;
    if (!api_bill_param_ok(call)) {
        return;
    }
    op = api_op_new(call);
    m.image_no = call->param;
    cmd.body_case = COMMAND__BODY_MATCH_BILL;
    cmd.match_bill = &m;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
}

static void match_file_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *number = json_string_value(json_object_get(root, "invoice_number"));
    Command cmd = COMMAND__INIT;
    MatchFile m = MATCH_FILE__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (number == NULL || number[0] == '\0' || strlen(number) > ARCHIVE_INVOICE_FIELD_MAX) {
        api_op_bad(op, "the body is {\"invoice_number\": \"...\"}: the declared invoice this "
                       "file is");
        return;
    }
    m.image_no = op->call.param;
    m.file_id = op->call.param2;
    m.invoice_number = (char *)number;
    cmd.body_case = COMMAND__BODY_MATCH_FILE;
    cmd.match_file = &m;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
}

void api_handle_match_file(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, WORKFLOW_BODY_MAX, match_file_body);
    }
}

void api_handle_unmatch_file(struct api_call *call)
{
    struct api_op *op;
    Command cmd = COMMAND__INIT;
    MatchFile m = MATCH_FILE__INIT;
    if (!api_bill_param_ok(call)) {
        return;
    }
    op = api_op_new(call);
    m.image_no = call->param;
    m.file_id = call->param2;
    m.unmatch = true;
    cmd.body_case = COMMAND__BODY_MATCH_FILE;
    cmd.match_file = &m;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
}

struct match_view {
    struct api_call *call;
    const BillRecord *bill;
    bool standard;
    json_t *files;
    json_t *matched_by; /* declared number -> file id */
};

/* Why a scanned invoice does not match the declared invoice of the same number. */
static json_t *mismatch_json(const struct match_view *v, const FileRecord *f)
{
    if (f->match[0] != '\0') {
        return json_null();
    }
    if (f->invoice == NULL) {
        return json_string("no invoice data: set it with PATCH /api/v1/bills/{image_no}/files/"
                           "{file_id}");
    }
    if (f->merged_into[0] != '\0') {
        return json_string("a sub-page of a merged document: takes no part in matching");
    }
    if (f->amended) {
        return json_string("added by an amend: never matched");
    }
    for (size_t i = 0; i < v->bill->n_invoices; i++) {
        const char *why;
        if (strcmp(v->bill->invoices[i]->number, f->invoice->number) != 0) {
            continue;
        }
        why = archive_invoice_mismatch(v->bill->invoices[i], f->invoice, v->standard);
        return why != NULL ? json_sprintf("%s differs from the declared invoice", why)
                           : json_string("matches a declared invoice; run matching");
    }
    return json_string("the bill declares no invoice with this number");
}

/* GET /api/v1/bills/{image_no}/match: the declared invoices, which file matches each,
 * and every invoice file with its data and, when unmatched, why. */
void api_handle_match_results(struct api_call *call)
{
    struct base_err err = {{0}};
    struct match_view v = {.call = call};
    BillRecord *bill;
    BillOrder *order;
    json_t *declared = json_array();
    json_t *body;
    if (!api_load_bill(call, &bill)) {
        json_decref(declared);
        return;
    }
    v.bill = bill;
    v.standard = strcmp(bill->match_level, "standard") == 0;
    v.files = json_array();
    v.matched_by = json_object();
    if (archive_get_order(call->api->archive, call->tenant, bill->image_no, &order, &err) == 0) {
        for (size_t i = 0; i < order->n_file_ids; i++) {
            FileRecord *f;
            if (archive_get_file(call->api->archive, call->tenant, order->file_ids[i], &f,
                                 &err) != 0) {
                continue;
            }
            if (strcmp(f->category, "invoice") == 0) {
                if (f->match[0] != '\0') {
                    json_object_set_new(v.matched_by, f->match, json_string(f->file_id));
                }
                json_array_append_new(
                    v.files,
                    json_pack("{s:s, s:i, s:o, s:o, s:o}", "file_id", f->file_id, "position",
                              (int)(i + 1), "invoice", archive_invoice_json(f->invoice),
                              "match",
                              f->match[0] != '\0' ? json_string(f->match) : json_null(),
                              "problem", mismatch_json(&v, f)));
            }
            archive_free_file(f);
        }
        archive_free_order(order);
    }
    for (size_t i = 0; i < bill->n_invoices; i++) {
        json_t *by = json_object_get(v.matched_by, bill->invoices[i]->number);
        json_array_append_new(declared,
                              json_pack("{s:o, s:O}", "invoice",
                                        archive_invoice_json(bill->invoices[i]), "file_id",
                                        by != NULL ? by : json_null()));
    }
    body = json_pack("{s:s, s:s, s:s?, s:s, s:{s:i, s:i}, s:o, s:o}", "image_no",
                     bill->image_no, "state", bill->state, "mode",
                     bill->mode[0] != '\0' ? bill->mode : NULL, "level",
                     v.standard ? "standard" : "normal", "invoices", "declared",
                     (int)bill->n_invoices, "matched", (int)bill->invoices_matched, "declared",
                     declared, "files", v.files);
    api_bill_erp_json(call->api, call->tenant, bill, body);
    api_respond_json(call->api, call->req, 200, body);
    json_decref(v.matched_by);
    archive_free_bill(bill);
}

/* GET /api/v1/batches/{batch}/match: the match results of the files of one capture
 * batch (uploads with ?batch=), with each bill's counts. */
struct batch_view {
    struct api_call *call;
    json_t *pairs; /* [image_no, file_id] in file-id order */
};

static void batch_file(const char *image_no, const char *file_id, void *arg)
{
    json_array_append_new(arg, json_pack("[s,s]", image_no, file_id));
}

/* A bill of the batch, or NULL when it is gone or outside the caller's grants. */
static BillRecord *batch_bill(struct api_call *call, const char *image_no)
{
    struct base_err err = {{0}};
    BillRecord *bill;
    if (archive_get_bill_as(call->api->archive, &call->access, image_no, &bill, &err) != 0) {
        return NULL;
    }
    return bill;
}

void api_handle_batch_match(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *pairs = json_array(), *files = json_array(), *bills = json_object();
    size_t i;
    json_t *p;
    if (!archive_valid_tenant(call->param)) {
        json_decref(pairs);
        json_decref(files);
        json_decref(bills);
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "batch ids are 1-64 characters of A-Z a-z 0-9 . _ -");
        return;
    }
    if (archive_list_batch(call->api->archive, call->tenant, call->param, batch_file, pairs,
                           &err) != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "batch: %s", err.msg);
        goto out;
    }
    json_array_foreach(pairs, i, p) {
        const char *image_no = json_string_value(json_array_get(p, 0));
        BillRecord *bill = batch_bill(call, image_no);
        FileRecord *f;
        struct match_view v = {.call = call, .bill = bill};
        if (bill == NULL) {
            continue;
        }
        v.standard = strcmp(bill->match_level, "standard") == 0;
        if (archive_get_file(call->api->archive, call->tenant,
                             json_string_value(json_array_get(p, 1)), &f, &err) == 0) {
            json_array_append_new(files, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "image_no",
                                                   image_no, "file_id", f->file_id, "category",
                                                   f->category, "invoice",
                                                   archive_invoice_json(f->invoice), "match",
                                                   f->match[0] != '\0' ? json_string(f->match)
                                                                       : json_null(),
                                                   "problem",
                                                   strcmp(f->category, "invoice") == 0
                                                       ? mismatch_json(&v, f)
                                                       : json_null()));
            archive_free_file(f);
        }
        json_object_set_new(bills, image_no,
                            json_pack("{s:s, s:s?, s:{s:i, s:i}}", "state", bill->state, "mode",
                                      bill->mode[0] != '\0' ? bill->mode : NULL, "invoices",
                                      "declared", (int)bill->n_invoices, "matched",
                                      (int)bill->invoices_matched));
        archive_free_bill(bill);
    }
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:s, s:O, s:O}", "batch", call->param, "bills", bills, "files",
                               files));
out:
    json_decref(pairs);
    json_decref(files);
    json_decref(bills);
}

/* ---- ERP submission and returns ---- */

void api_handle_erp_submit(struct api_call *call)
{
    struct api_op *op;
    Command cmd = COMMAND__INIT;
    ErpSubmit e = ERP_SUBMIT__INIT;
    if (!api_bill_param_ok(call)) {
        return;
    }
    op = api_op_new(call);
    e.image_no = call->param;
    cmd.body_case = COMMAND__BODY_ERP_SUBMIT;
    cmd.erp_submit = &e;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
}

static void return_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *reason = json_string_value(json_object_get(root, "reason"));
    Command cmd = COMMAND__INIT;
    ReturnBill r = RETURN_BILL__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (reason == NULL || reason[0] == '\0' || strlen(reason) > 1024) {
        api_op_bad(op, "the body is {\"reason\": \"...\"} (1-1024 bytes): what to rescan and why");
        return;
    }
    r.image_no = op->call.param;
    r.reason = (char *)reason;
    cmd.body_case = COMMAND__BODY_RETURN_BILL;
    cmd.return_bill = &r;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
}

void api_handle_return_bill(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, WORKFLOW_BODY_MAX, return_body);
    }
}
