/* The vendor surface's bill calls (docs/integrators.md), each translated onto the
 * native model:
 *
 *   /kapi/app/bds/erpBillPush   the pool push: the vendor's fields become the native
 *                               body of POST /api/v1/pool, proposed by the same code
 *                               (api_pool_push_object(), api/bills.c)
 *   /kapi/app/bds/operate       queryBillStatus: the bill's state as the vendor's number
 *                               (the one table below, vendor_statuses[])
 *   /kapi/app/bds/getEventCode  a sealed code ("imgevt1.", api/links.c) naming bills of
 *                               one tenant until --link-ttl-s; it opens the JSON view
 *                               GET /api/v1/events/{code} (and /index.html or
 *                               /mobile.html?eventCode=, the vendor's page paths)
 *   /kapi/app/rim/queryCover    a bill's cover, attachments and invoices with signed links
 *
 * The routes carry the native permissions (capture for the push, read for the rest) and
 * bills are read as the caller sees them: another tenant's bill, or one outside a user's
 * grants, answers 404 as a missing one. Loop thread only. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/bill_state.h"
#include "base/clock.h"
#include "base/mem.h"

#define VENDOR_BODY_MAX (1u << 20)
#define VENDOR_FIELD_MAX 256
#define EVENT_PREFIX "imgevt1."
#define EVENT_BILLS_MAX 10

/* imgarc's bill states (archive/bill_state.h) as the vendor's imageStatus numbers: the
 * one table, docs/integrators.md shows it. The vendor documents the numbers 0-5, 9 and
 * 10-18 without meanings and its product the statuses uploaded, submitted, reviewed,
 * returned for rescan, match failed, processing failed, recognised, matched, deleted:
 * the first six are 0-5 in that order, then 9, 10, 11; imgarc's states the vendor has
 * no word for take 12 and 13. A submitted match-mode bill whose declared invoices are
 * not all matched is "match failed" (4). Recognised (9), matched (10, per file: a ready
 * match-mode bill is 2) and deleted (11: imgarc keeps bills) are never answered. */
static const struct vendor_status {
    const char *state;
    bool unmatched; /* only for a match-mode bill with unmatched declared invoices */
    int number;
    const char *meaning;
} vendor_statuses[] = {
    {"captured", false, 0, "uploaded"},
    {"submitted", true, 4, "match failed"},
    {"submitted", false, 1, "submitted"},
    {"ready", false, 2, "reviewed"},
    {"returned", false, 3, "returned for rescan"},
    {"erp_failed", false, 5, "processing failed"},
    {"pending_upload", false, 12, "waiting for images"},
    {"erp_submitted", false, 13, "submitted to the ERP"},
};

/* The vendor's number for @b's state, or -1 for a state the table lacks. */
static int vendor_status(const BillRecord *b)
{
    bool unmatched = strcmp(b->mode, "match") == 0 && b->invoices_matched < b->n_invoices;
    for (size_t i = 0; i < ARRAY_SIZE(vendor_statuses); i++) {
        const struct vendor_status *s = &vendor_statuses[i];
        if (strcmp(s->state, b->state) == 0 && (!s->unmatched || unmatched)) {
            return s->number;
        }
    }
    return -1;
}

/* ---- Bodies ---- */

/* A vendor call while its body is read. */
struct vendor_call {
    struct api_call call;
    json_t *root;
};

static void vendor_body_start(struct api_call *call, http_body_done_cb done)
{
    struct vendor_call *vc = xcalloc(1, sizeof *vc);
    vc->call = *call;
    call->req->data = vc;
    http_request_buffer_body(call->req, VENDOR_BODY_MAX, done);
}

/* The body as a JSON object; NULL after answering. */
static json_t *vendor_body(struct vendor_call *vc, int status)
{
    json_error_t jerr;
    vc->call.req->data = NULL;
    if (status != 0) {
        http_respond(vc->call.req, 400, NULL, NULL, 0); /* the server answered already */
        return NULL;
    }
    vc->root = json_loadb(vc->call.req->body, vc->call.req->body_len, 0, &jerr);
    if (!json_is_object(vc->root)) {
        api_respond_error(vc->call.api, vc->call.req, 400, API_E_INVALID_JSON,
                          "body must be a JSON object: %s (line %d)",
                          vc->root == NULL ? jerr.text : "not an object",
                          vc->root == NULL ? jerr.line : 1);
        return NULL;
    }
    return vc->root;
}

static void vendor_call_free(struct vendor_call *vc)
{
    json_decref(vc->root);
    free(vc);
}

/* An image number field (required): false after answering. */
static bool image_no_field(struct api_call *call, json_t *o, const char *name,
                           char buf[VENDOR_FIELD_MAX + 1])
{
    if (!api_vendor_need(call, o, name, VENDOR_FIELD_MAX, buf)) {
        return false;
    }
    if (!archive_valid_image_no(buf)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_IMAGE_NO,
                          "%s '%.64s' is not an image number: 1-64 characters of A-Z a-z 0-9 "
                          ". _ -",
                          name, buf);
        return false;
    }
    return true;
}

/* Bill @image_no as the caller sees it; false after answering (404 as for a missing
 * bill when it is another tenant's or outside the caller's grants). */
static bool load_bill(struct api_call *call, const char *image_no, BillRecord **bill)
{
    snprintf(call->param, sizeof call->param, "%s", image_no);
    return api_load_bill(call, bill);
}

/* ---- /kapi/app/bds/erpBillPush ---- */

/* The vendor's field and the native one it fills (docs/integrators.md). */
static const struct {
    const char *vendor, *native;
    bool required;
} push_fields[] = {
    {"fscanBillNo", "image_no", true},
    {"fbillId", "fbill_id", true},
    {"fbillTypeCode", "bill_type", true},
    {"resource", "source", true},
    {"billNo", "bill_no", false},
    {"fapplyOrganizationCode", "org", false},
    {"fapplyUserName", "submitter", false},
    {"fbillTypeDes", "bill_type_name", false},
    {"fapplyUserPhone", "submitter_phone", false},
    {"fapplyErpUserName", "submitter_erp_name", false},
    {"fapplyOrganizationName", "org_name", false},
    {"taxNo", "tax_no", false},
};

static void push_body(struct http_request *req, int status)
{
    struct vendor_call *vc = req->data;
    struct api_call *call = &vc->call;
    char buf[VENDOR_FIELD_MAX + 1];
    json_t *root = vendor_body(vc, status);
    json_t *native;
    if (root == NULL) {
        vendor_call_free(vc);
        return;
    }
    native = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(push_fields); i++) {
        if (!(push_fields[i].required
                  ? api_vendor_need(call, root, push_fields[i].vendor, VENDOR_FIELD_MAX, buf)
                  : api_vendor_field(call, root, push_fields[i].vendor, VENDOR_FIELD_MAX,
                                     buf))) {
            goto out;
        }
        json_object_set_new(native, push_fields[i].native, json_string(buf));
    }
    if (!archive_valid_image_no(json_string_value(json_object_get(native, "image_no")))) {
        api_respond_error(call->api, req, 400, API_E_INVALID_IMAGE_NO,
                          "fscanBillNo (the image number) must be 1-64 characters of A-Z a-z "
                          "0-9 . _ -");
        goto out;
    }
    api_pool_push_object(call, native);
out:
    json_decref(native);
    vendor_call_free(vc);
}

void api_handle_vendor_bill_push(struct api_call *call)
{
    vendor_body_start(call, push_body);
}

/* ---- /kapi/app/bds/operate ---- */

static void query_status(struct api_call *call, json_t *root, const char *operate_id)
{
    json_t *data = json_object_get(root, "data");
    char image_no[VENDOR_FIELD_MAX + 1], resource[VENDOR_FIELD_MAX + 1];
    BillRecord *bill;
    int number;
    if (!json_is_object(data)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                          "data must be an object {\"scanBillNo\", \"resource\"}");
        return;
    }
    if (!image_no_field(call, data, "scanBillNo", image_no) ||
        !api_vendor_field(call, data, "resource", VENDOR_FIELD_MAX, resource) ||
        !load_bill(call, image_no, &bill)) {
        return;
    }
    number = vendor_status(bill);
    if (number < 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL,
                          "bill %s is in state %.32s, which has no vendor status", image_no,
                          bill->state);
    } else {
        api_vendor_ok(call, json_pack("{s:i, s:s, s:s, s:s, s:s, s:b}", "imageStatus", number,
                                      "billType", bill->bill_type, "scanBillNo", bill->image_no,
                                      "operateId", operate_id, "state", bill->state, "ready",
                                      bill_state_ready(bill)));
    }
    archive_free_bill(bill);
}

static void operate_body(struct http_request *req, int status)
{
    struct vendor_call *vc = req->data;
    struct api_call *call = &vc->call;
    char type[64], operate_id[VENDOR_FIELD_MAX + 1];
    json_t *root = vendor_body(vc, status);
    if (root != NULL && api_vendor_need(call, root, "operateType", sizeof type - 1, type) &&
        api_vendor_field(call, root, "operateId", VENDOR_FIELD_MAX, operate_id)) {
        if (strcmp(type, "queryBillStatus") == 0) {
            query_status(call, root, operate_id);
        } else {
            api_respond_error(call->api, req, 400, API_E_INVALID_FIELD,
                              "operateType '%.64s' is not supported; accepted: queryBillStatus",
                              type);
        }
    }
    vendor_call_free(vc);
}

void api_handle_vendor_operate(struct api_call *call)
{
    vendor_body_start(call, operate_body);
}

/* ---- /kapi/app/bds/getEventCode ---- */

/* Splits @list ("A,B, C") into the image numbers of @out, each a bill the caller sees;
 * false after answering. */
static bool split_image_nos(struct api_call *call, char *list, json_t *out)
{
    size_t i;
    json_t *v;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        size_t n;
        while (*t == ' ') {
            t++;
        }
        n = strlen(t);
        while (n > 0 && t[n - 1] == ' ') {
            t[--n] = '\0';
        }
        if (!archive_valid_image_no(t)) {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_IMAGE_NO,
                              "scanBillNo: '%.64s' is not an image number (1-64 characters of "
                              "A-Z a-z 0-9 . _ -; several are separated by commas)",
                              t);
            return false;
        }
        if (json_array_size(out) == EVENT_BILLS_MAX) {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                              "scanBillNo: at most %d image numbers per event code",
                              EVENT_BILLS_MAX);
            return false;
        }
        json_array_append_new(out, json_string(t));
    }
    json_array_foreach(out, i, v)
    {
        BillRecord *bill;
        if (!load_bill(call, json_string_value(v), &bill)) {
            return false;
        }
        archive_free_bill(bill);
    }
    return true;
}

static void event_code_body(struct http_request *req, int status)
{
    struct vendor_call *vc = req->data;
    struct api_call *call = &vc->call;
    char list[EVENT_BILLS_MAX * (ARCHIVE_IMAGE_NO_MAX + 2) + 1], resource[VENDOR_FIELD_MAX + 1];
    json_t *root = vendor_body(vc, status);
    json_t *bills = json_array(), *p;
    uint64_t exp = clock_wall_ms() + call->api->config.link_ttl_s * 1000;
    char *code, *view;
    if (root == NULL || !api_vendor_need(call, root, "scanBillNo", sizeof list - 1, list) ||
        !api_vendor_field(call, root, "resource", VENDOR_FIELD_MAX, resource) ||
        !split_image_nos(call, list, bills)) {
        goto out;
    }
    if (json_array_size(bills) == 0) {
        api_respond_error(call->api, req, 400, API_E_INVALID_FIELD,
                          "scanBillNo names no image number");
        goto out;
    }
    p = json_pack("{s:s, s:O, s:I}", "t", call->tenant, "b", bills, "e", (json_int_t)exp);
    code = api_seal(call->api, EVENT_PREFIX, p);
    json_decref(p);
    view = xasprintf("/api/v1/events/%s", code);
    api_vendor_ok(call, json_pack("{s:s, s:I, s:s, s:O}", "eventCode", code, "expire_time",
                                  (json_int_t)exp, "viewUrl", view, "scanBillNo", bills));
    free(view);
    free(code);
out:
    json_decref(bills);
    vendor_call_free(vc);
}

void api_handle_vendor_event_code(struct api_call *call)
{
    vendor_body_start(call, event_code_body);
}

/* ---- File lists with signed links (the event view and queryCover) ---- */

/* Calls @each for every file of @bill in order; false after answering a store error. */
static bool each_file(struct api_call *call, const BillRecord *bill,
                      void (*each)(struct api_call *call, const FileRecord *f, size_t pos,
                                   json_t *acc),
                      json_t *acc)
{
    struct base_err err = {{0}};
    BillOrder *order;
    bool ok = true;
    if (archive_get_order(call->api->archive, call->tenant, bill->image_no, &order, &err) != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "file order: %s", err.msg);
        return false;
    }
    for (size_t i = 0; i < order->n_file_ids && ok; i++) {
        FileRecord *f;
        if (archive_get_file(call->api->archive, call->tenant, order->file_ids[i], &f, &err) !=
            0) {
            api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "file %s: %s",
                              order->file_ids[i], err.msg);
            ok = false;
        } else {
            each(call, f, i + 1, acc);
            archive_free_file(f);
        }
    }
    archive_free_order(order);
    return ok;
}

static void event_file(struct api_call *call, const FileRecord *f, size_t pos, json_t *files)
{
    uint64_t exp;
    char *url = api_link_url(call, f->file_id, &exp);
    json_array_append_new(
        files, json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:I, s:i, s:o, s:o, s:s}", "file_id",
                         f->file_id, "name", f->name, "category", f->category, "format",
                         f->format, "size", (json_int_t)f->size, "pages", (int)f->pages,
                         "position", (json_int_t)pos, "rotation", (int)f->rotation, "invoice",
                         archive_invoice_json(f->invoice), "match",
                         f->match[0] != '\0' ? json_string(f->match) : json_null(), "url", url));
    free(url);
}

/* One bill of the event view; NULL after answering a store error. A bill gone since
 * the code was issued is listed as missing. */
static json_t *event_bill(struct api_call *call, const char *image_no)
{
    struct base_err err = {{0}};
    BillRecord *b;
    json_t *files, *invoices, *o;
    if (archive_get_bill(call->api->archive, call->tenant, image_no, &b, &err) != 0) {
        return json_pack("{s:s, s:b}", "image_no", image_no, "missing", 1);
    }
    files = json_array();
    if (!each_file(call, b, event_file, files)) {
        json_decref(files);
        archive_free_bill(b);
        return NULL;
    }
    invoices = json_array();
    for (size_t i = 0; i < b->n_invoices; i++) {
        json_array_append_new(invoices, archive_invoice_json(b->invoices[i]));
    }
    o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:s, s:{s:o, s:i, s:i}, s:o, s:o}",
                  "image_no", b->image_no, "bill_no", b->bill_no, "bill_type", b->bill_type,
                  "state", b->state, "imageStatus", vendor_status(b), "ready",
                  bill_state_ready(b), "mode", b->mode, "invoices", "declared", invoices,
                  "count", (int)b->n_invoices, "matched", (int)b->invoices_matched, "files",
                  files, "updated", api_time_json(b->updated_ms));
    archive_free_bill(b);
    return o;
}

/* Whether the request is a browser's page load (Accept names text/html), not a
 * program's call (which gets the JSON view). */
static bool wants_page(struct http_request *req)
{
    const char *accept = http_request_header(req, "accept");
    return accept != NULL && strstr(accept, "text/html") != NULL;
}

void api_handle_event_view(struct api_call *call)
{
    char *q = call->param[0] == '\0' ? http_request_query(call->req, "eventCode") : NULL;
    const char *code = q != NULL ? q : call->param;
    json_t *p = NULL, *bills, *v;
    const char *tenant;
    size_t i;
    if (code[0] == '\0') {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "eventCode is required: the code /kapi/app/bds/getEventCode answered");
        goto out;
    }
    switch (api_unseal(call->api, EVENT_PREFIX, code, &p)) {
    case API_SEAL_FORGED:
        api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                          "this event code is not one this cluster issued (altered or cut "
                          "short); ask for a new one with /kapi/app/bds/getEventCode");
        goto out;
    case API_SEAL_EXPIRED:
        api_respond_error(call->api, call->req, 410, API_E_GONE,
                          "this event code has expired; ask for a new one with "
                          "/kapi/app/bds/getEventCode");
        goto out;
    case API_SEAL_OK:
        break;
    }
    tenant = json_string_value(json_object_get(p, "t"));
    if (tenant == NULL || !archive_valid_tenant(tenant) ||
        !json_is_array(json_object_get(p, "b"))) {
        api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                          "this signed text is not an event code");
        goto out;
    }
    snprintf(call->tenant, sizeof call->tenant, "%s", tenant);
    if (q != NULL && wants_page(call->req)) {
        /* A browser at the vendor's page path: the console's event page shows the bills
         * (console/src/views/event.js); the code rides in the fragment, which browsers
         * never send back to a server. */
        char *to = xasprintf("/#/event/%s", code);
        http_request_add_header(call->req, "Location", to);
        http_request_add_header(call->req, "Cache-Control", "no-store");
        http_request_add_header(call->req, "Referrer-Policy", "no-referrer");
        http_respond(call->req, 303, "text/plain; charset=utf-8", "", 0);
        free(to);
        goto out;
    }
    bills = json_array();
    json_array_foreach(json_object_get(p, "b"), i, v)
    {
        json_t *b = json_is_string(v) ? event_bill(call, json_string_value(v)) : NULL;
        if (b == NULL && json_is_string(v)) {
            json_decref(bills);
            goto out; /* answered */
        }
        json_array_append_new(bills, b != NULL ? b : json_null());
    }
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:s, s:o, s:o}", "tenant", tenant, "expires",
                               api_time_json((uint64_t)json_integer_value(
                                   json_object_get(p, "e"))),
                               "bills", bills));
out:
    json_decref(p);
    free(q);
}

/* ---- /kapi/app/rim/queryCover ---- */

/* The vendor's fileType: 1 a PDF, 2 an image, 0 anything else. */
static int cover_file_type(const char *format)
{
    if (strcmp(format, "pdf") == 0) {
        return 1;
    }
    return strcmp(format, "jpg") == 0 || strcmp(format, "png") == 0 ||
                   strcmp(format, "tiff") == 0
               ? 2
               : 0;
}

/* The vendor's flat invoice fields of a file's invoice data (all "" without any). */
static json_t *invoice_fields(const Invoice *inv)
{
    static const Invoice none = INVOICE__INIT;
    const Invoice *v = inv != NULL ? inv : &none;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "invoiceNo", v->number, "invoiceCode",
                     v->code, "invoiceDate", v->date, "amount", v->amount, "taxAmount", v->tax,
                     "totalAmount", v->total);
}

static void cover_file(struct api_call *call, const FileRecord *f, size_t pos, json_t *acc)
{
    uint64_t exp;
    char *url = api_link_url(call, f->file_id, &exp);
    const Invoice *inv = f->invoice;
    if (strcmp(f->category, "cover") == 0) {
        json_array_append_new(json_object_get(acc, "cover"),
                              json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:I}", "localUrl", url,
                                        "coverNo", f->image_no, "snapshotUrl", url, "fileType",
                                        cover_file_type(f->format), "fileId", f->file_id,
                                        "fileName", f->name, "serialNo", (json_int_t)pos));
    } else if (strcmp(f->category, "invoice") == 0) {
        json_t *o = invoice_fields(inv);
        json_object_update_missing_new(
            o, json_pack("{s:s, s:s, s:s, s:I, s:i, s:s, s:o, s:o}", "localUrl", url,
                         "snapshotUrl", url, "invoiceName", f->name, "serialNo",
                         (json_int_t)pos, "fileType", cover_file_type(f->format), "fileId",
                         f->file_id, "matchState",
                         f->match[0] != '\0' ? json_string(f->match) : json_null(), "invoice",
                         archive_invoice_json(inv)));
        json_array_append_new(json_object_get(acc, "invoice"), o);
    } else {
        json_array_append_new(json_object_get(acc, "attachment"),
                              json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:s}",
                                        "attachmentName", f->name, "localUrl", url,
                                        "snapshotUrl", url, "serialNo", (json_int_t)pos,
                                        "remark", "", "attachmentType", f->category, "fileType",
                                        cover_file_type(f->format), "fileId", f->file_id));
    }
    free(url);
}

/* The bill an ERP names by its billId: the bill whose ERP id (fbillId) it is, else
 * billId read as the image number. False after answering (404 for a bill the caller
 * may not see, as for a missing one; the message names only billId). */
static bool find_cover_bill(struct api_call *call, const char *bill_id, BillRecord **bill)
{
    struct base_err err = {{0}};
    char image_no[ARCHIVE_IMAGE_NO_MAX + 1];
    int rv = archive_find_bill_by_fbill_id(call->api->archive, call->tenant, bill_id, image_no,
                                           &err);
    if (rv == BASE_ENOTFOUND && archive_valid_image_no(bill_id)) {
        snprintf(image_no, sizeof image_no, "%.64s", bill_id);
        rv = 0;
    }
    if (rv == 0) {
        rv = archive_get_bill_as(call->api->archive, &call->access, image_no, bill, &err);
    }
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_BILL_NOT_FOUND,
                          "no bill with billId %.64s (an fbillId pushed by erpBillPush, or an "
                          "image number) in tenant %s that you may see",
                          bill_id, call->tenant);
        return false;
    }
    if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "bill %.64s: %s", bill_id,
                          err.msg);
        return false;
    }
    return true;
}

static void cover_body(struct http_request *req, int status)
{
    struct vendor_call *vc = req->data;
    struct api_call *call = &vc->call;
    char type[VENDOR_FIELD_MAX + 1], bill_id[VENDOR_FIELD_MAX + 1];
    json_t *root = vendor_body(vc, status), *acc;
    BillRecord *bill;
    if (root == NULL || !api_vendor_field(call, root, "billType", VENDOR_FIELD_MAX, type) ||
        !api_vendor_need(call, root, "billId", VENDOR_FIELD_MAX, bill_id) ||
        !find_cover_bill(call, bill_id, &bill)) {
        vendor_call_free(vc);
        return;
    }
    acc = json_pack("{s:[], s:[], s:[], s:s, s:s, s:s}", "cover", "attachment", "invoice",
                    "scanBillNo", bill->image_no, "billType", bill->bill_type, "state",
                    bill->state);
    if (each_file(call, bill, cover_file, acc)) {
        api_vendor_ok(call, acc);
    } else {
        json_decref(acc);
    }
    archive_free_bill(bill);
    vendor_call_free(vc);
}

void api_handle_vendor_query_cover(struct api_call *call)
{
    vendor_body_start(call, cover_body);
}
