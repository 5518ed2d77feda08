/* The deterministic state machine: applies commands to the metadata store.
 *
 * One command = one RocksDB batch holding every change plus the applied index.
 * Nothing here reads a clock, a random source or node-local configuration, so every
 * node that applies the same log reaches the same state. */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "archive/archive_int.h"
#include "archive/keys.h"
#include "archive/license.h"
#include "archive/nodes.h"
#include "archive/users.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/mem.h"

static int submit_bill(struct txn *t, BillRecord *bill);

int apply_submit(struct txn *t, const SubmitBill *s)
{
    BillRecord *bill = NULL;
    int rv = load_bill(t, s->image_no, &bill);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_BILL_NOT_FOUND, "no bill with image number %s", s->image_no);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (strcmp(bill->state, "captured") == 0 || strcmp(bill->state, "returned") == 0) {
        if (bill->files == 0) {
            refuse(t, ARCHIVE_R_BILL_EMPTY, "bill %s has no files; capture files, then submit",
                   s->image_no);
            goto out;
        }
        if ((rv = submit_bill(t, bill)) != 0) {
            goto out;
        }
        store_bill(t, bill);
    } else if (strcmp(bill->state, "pending_upload") == 0) {
        refuse(t, ARCHIVE_R_BILL_EMPTY, "bill %s has no files; capture files, then submit",
               s->image_no);
        goto out;
    }
    /* Submitting a bill that is already submitted or later changes nothing: a business
     * system may send the same submit again. */
    result_bill(t, bill);
out:
    archive_free_bill(bill);
    return rv;
}

static bool same_digest(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Answers a retried request from the stored result of the first one. Returns true
 * when the command must not be applied again. */
static bool replay_idempotent(struct txn *t, int *rv)
{
    struct key k;
    ResultRecord *prev;
    *rv = 0;
    if (t->cmd->idempotency_key == NULL || t->cmd->idempotency_key[0] == '\0') {
        return false;
    }
    key_pair(&k, t->cmd->tenant, t->cmd->idempotency_key);
    *rv = archive_load_record(t->a, ROCKS_CF_IDEM, &k, &result_record__descriptor,
                      (ProtobufCMessage **)&prev, t->err);
    if (*rv == BASE_ENOTFOUND) {
        *rv = 0;
        return false;
    }
    if (*rv != 0) {
        return true;
    }
    if (!same_digest(&prev->request_digest, &t->cmd->request_digest)) {
        refuse(t, ARCHIVE_R_IDEM_CONFLICT,
               "idempotency key '%s' was already used for a different request; use a new "
               "key for a new request",
               t->cmd->idempotency_key);
    } else {
        struct archive_result *r = t->res;
        r->replayed = true;
        r->created = prev->created;
        r->index = prev->index;
        r->position = prev->position;
        snprintf(r->image_no, sizeof r->image_no, "%s", prev->image_no);
        snprintf(r->file_id, sizeof r->file_id, "%s", prev->file_id);
        snprintf(r->state, sizeof r->state, "%s", prev->state);
        snprintf(r->category, sizeof r->category, "%s", prev->category);
    }
    result_record__free_unpacked(prev, NULL);
    return true;
}

static void remember_result(struct txn *t)
{
    ResultRecord rec = RESULT_RECORD__INIT;
    struct key k;
    if (t->cmd->idempotency_key == NULL || t->cmd->idempotency_key[0] == '\0' ||
        t->res->status != ARCHIVE_OK) {
        return;
    }
    rec.status = 0;
    rec.image_no = t->res->image_no;
    rec.file_id = t->res->file_id;
    rec.state = t->res->state;
    rec.created = t->res->created;
    rec.position = t->res->position;
    rec.category = t->res->category;
    rec.index = t->index;
    rec.request_digest = t->cmd->request_digest;
    key_pair(&k, t->cmd->tenant, t->cmd->idempotency_key);
    put_record(t, ROCKS_CF_IDEM, &k, &rec.base);
}

#define ORG_DEPTH_MAX 64

/* The parent of organisation @org ("" at the top or when it is unknown). */
static int org_parent(struct txn *t, const char *org, char **parent)
{
    struct key k;
    OrgRecord *o;
    int rv;
    key_pair(&k, t->cmd->tenant, org);
    rv = archive_load_record(t->a, ROCKS_CF_ORGS, &k, &org_record__descriptor,
                             (ProtobufCMessage **)&o, t->err);
    if (rv == BASE_ENOTFOUND) {
        *parent = xstrdup("");
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    *parent = xstrdup(o->parent);
    org_record__free_unpacked(o, NULL);
    return 0;
}

int resolve_scheme(struct txn *t, const char *bill_type, const char *org,
                   struct scheme_choice *out)
{
    BillTypeRecord *type;
    SchemeRecord *sc = NULL;
    struct key k;
    char *cur;
    int rv;
    snprintf(out->mode, sizeof out->mode, "basic");
    snprintf(out->match, sizeof out->match, "normal");
    snprintf(out->submit, sizeof out->submit, "manual");
    if (bill_type == NULL || bill_type[0] == '\0') {
        return 0;
    }
    key_pair(&k, t->cmd->tenant, bill_type);
    rv = archive_load_record(t->a, ROCKS_CF_BILL_TYPES, &k, &bill_type_record__descriptor,
                             (ProtobufCMessage **)&type, t->err);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    cur = xstrdup(org != NULL ? org : "");
    for (int depth = 0; depth < ORG_DEPTH_MAX; depth++) {
        char *parent;
        key_triple(&k, t->cmd->tenant, bill_type, cur);
        rv = archive_load_record(t->a, ROCKS_CF_SCHEMES, &k, &scheme_record__descriptor,
                                 (ProtobufCMessage **)&sc, t->err);
        if (rv != BASE_ENOTFOUND || cur[0] == '\0') {
            break;
        }
        if ((rv = org_parent(t, cur, &parent)) != 0) {
            break;
        }
        free(cur);
        cur = parent;
    }
    free(cur);
    if (rv == 0) {
        snprintf(out->mode, sizeof out->mode, "%s", type->mode);
        snprintf(out->match, sizeof out->match, "%s", sc->match);
        snprintf(out->submit, sizeof out->submit, "%s", sc->submit);
        scheme_record__free_unpacked(sc, NULL);
    }
    bill_type_record__free_unpacked(type, NULL);
    return rv == BASE_ENOTFOUND ? 0 : rv;
}

unsigned mode_bit(const char *mode)
{
    return strcmp(mode, "match") == 0  ? LICENSE_MODE_MATCH
           : strcmp(mode, "sync") == 0 ? LICENSE_MODE_SYNC
                                       : LICENSE_MODE_BASIC;
}

int apply_create_bill_type(struct txn *t, const CreateBillType *c)
{
    BillTypeRecord rec = BILL_TYPE_RECORD__INIT;
    struct key k;
    if (c->code == NULL || !archive_valid_tenant(c->code) || c->name == NULL ||
        strlen(c->name) > 256 || !archive_valid_mode(c->mode)) {
        refuse(t, ARCHIVE_R_INVALID, "a bill type is a code (1-64 of A-Z a-z 0-9 . _ -), a "
                                     "name (at most 256 bytes) and a mode: basic, sync or match");
        return 0;
    }
    rec.code = c->code;
    rec.name = c->name;
    rec.mode = c->mode;
    rec.created_ms = t->cmd->time_ms;
    key_pair(&k, t->cmd->tenant, c->code);
    put_record(t, ROCKS_CF_BILL_TYPES, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "bill_type_set",
                json_pack("{s:s, s:s, s:s}", "code", c->code, "name", c->name, "mode", c->mode));
    return 0;
}

int apply_set_scheme(struct txn *t, const SetScheme *c)
{
    SchemeRecord rec = SCHEME_RECORD__INIT;
    const char *org = c->org != NULL ? c->org : "";
    struct key k;
    bool found;
    int rv;
    if (c->bill_type == NULL || !archive_valid_tenant(c->bill_type) ||
        (org[0] != '\0' && !archive_valid_tenant(org)) || c->match == NULL ||
        (strcmp(c->match, "normal") != 0 && strcmp(c->match, "standard") != 0) ||
        c->submit == NULL || (strcmp(c->submit, "auto") != 0 && strcmp(c->submit, "manual") != 0)) {
        refuse(t, ARCHIVE_R_INVALID, "a scheme names a bill type, optionally an organisation, "
                                     "match normal or standard, and submit auto or manual");
        return 0;
    }
    key_pair(&k, t->cmd->tenant, c->bill_type);
    if ((rv = record_exists(t, ROCKS_CF_BILL_TYPES, &k, &found)) != 0 || !found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_BILL_TYPE_NOT_FOUND, "no bill type %s; create it first with "
                   "POST /api/v1/bill-types", c->bill_type);
        }
        return rv;
    }
    if (org[0] != '\0') {
        key_pair(&k, t->cmd->tenant, org);
        if ((rv = record_exists(t, ROCKS_CF_ORGS, &k, &found)) != 0 || !found) {
            if (rv == 0) {
                refuse(t, ARCHIVE_R_ORG_NOT_FOUND, "no organisation %s", org);
            }
            return rv;
        }
    }
    rec.bill_type = c->bill_type;
    rec.org = (char *)org;
    rec.match = c->match;
    rec.submit = c->submit;
    rec.updated_ms = t->cmd->time_ms;
    key_triple(&k, t->cmd->tenant, c->bill_type, org);
    put_record(t, ROCKS_CF_SCHEMES, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "scheme_set",
                json_pack("{s:s, s:s, s:s, s:s}", "bill_type", c->bill_type, "org", org, "match",
                          c->match, "submit", c->submit));
    return 0;
}

struct erp_files {
    struct txn *t;
    json_t *files;
};

/* The event an ERP receives: the bill and its files in order. */
static int erp_body(struct txn *t, const BillRecord *bill, json_t **out)
{
    BillOrder *order;
    json_t *files = json_array();
    int rv = load_order(t, bill->image_no, &order);
    for (size_t i = 0; rv == 0 && i < order->n_file_ids; i++) {
        FileRecord *f;
        struct key k;
        char hex[65];
        key_pair(&k, t->cmd->tenant, order->file_ids[i]);
        rv = archive_load_record(t->a, ROCKS_CF_FILES, &k, &file_record__descriptor,
                                 (ProtobufCMessage **)&f, t->err);
        if (rv != 0) {
            break;
        }
        hex_encode(f->blob.data, f->blob.len, hex);
        json_array_append_new(files, json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:s, s:s?}",
                                               "file_id", f->file_id, "name", f->name,
                                               "category", f->category, "format", f->format,
                                               "size", (json_int_t)f->size, "pages",
                                               (int)f->pages, "blob", hex, "match",
                                               f->match[0] != '\0' ? f->match : NULL));
        archive_free_file(f);
    }
    if (rv == 0) {
        bill_order__free_unpacked(order, NULL);
        *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "image_no",
                         bill->image_no, "bill_no", bill->bill_no, "bill_type", bill->bill_type,
                         "org", bill->org, "submitter", bill->submitter, "amount", bill->amount,
                         "currency", bill->currency, "state", bill->state, "files", files);
    } else {
        json_decref(files);
    }
    return rv;
}

/* Queues the bill for the tenant's ERP (webhooks of event erp_submit); *@queued false
 * when no webhook takes it. */
static int queue_erp(struct txn *t, const BillRecord *bill, bool *queued)
{
    unsigned before = t->deliveries;
    json_t *body;
    int rv = erp_body(t, bill, &body);
    if (rv == 0) {
        rv = emit_event(t, bill->image_no, "erp_submit", body);
    }
    *queued = t->deliveries > before;
    return rv;
}

/* The bill is complete: ready, and on to the ERP when its scheme says auto. */
static int become_ready(struct txn *t, BillRecord *bill, const char *submit)
{
    bool queued;
    int rv = set_state(t, bill, "ready");
    if (rv != 0 || strcmp(submit, "auto") != 0) {
        return rv;
    }
    if ((rv = queue_erp(t, bill, &queued)) != 0) {
        return rv;
    }
    if (!queued) {
        set_string(&bill->erp_error, "no webhook subscribes to erp_submit: create one, then "
                                     "submit the bill to the ERP again");
        rv = set_state(t, bill, "erp_failed");
    }
    return rv;
}

/* Matches the bill's unmatched invoice files against its declared invoices that no
 * file matches yet; counts the declared invoices matched. */
static int run_match(struct txn *t, BillRecord *bill)
{
    bool standard = strcmp(bill->match_level, "standard") == 0;
    size_t n = bill->n_invoices;
    bool *taken = xcalloc(n + 1, sizeof *taken);
    FileRecord **files;
    BillOrder *order;
    size_t nf = 0;
    uint32_t matched = 0;
    int rv = load_order(t, bill->image_no, &order);
    if (rv != 0) {
        free(taken);
        return rv;
    }
    files = xcalloc(order->n_file_ids + 1, sizeof *files);
    for (size_t i = 0; i < order->n_file_ids && rv == 0; i++) {
        struct key k;
        key_pair(&k, t->cmd->tenant, order->file_ids[i]);
        rv = archive_load_record(t->a, ROCKS_CF_FILES, &k, &file_record__descriptor,
                                 (ProtobufCMessage **)&files[nf], t->err);
        if (rv == 0 && strcmp(files[nf]->category, "invoice") == 0) {
            nf++;
        } else if (rv == 0) {
            archive_free_file(files[nf]);
        }
    }
    for (size_t f = 0; f < nf && rv == 0; f++) { /* what people matched stays */
        for (size_t i = 0; i < n && files[f]->match[0] != '\0'; i++) {
            if (!taken[i] && strcmp(bill->invoices[i]->number, files[f]->match) == 0) {
                taken[i] = true;
                break;
            }
        }
    }
    for (size_t f = 0; f < nf && rv == 0; f++) {
        if (files[f]->match[0] != '\0' || files[f]->invoice == NULL || files[f]->amended ||
            files[f]->merged_into[0] != '\0') { /* sub-pages never match */
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (!taken[i] && archive_invoices_match(bill->invoices[i], files[f]->invoice,
                                                    standard)) {
                taken[i] = true;
                set_string(&files[f]->match, bill->invoices[i]->number);
                put_file(t, files[f]);
                audit(t, bill, "invoice_matched",
                      json_pack("{s:s, s:s, s:s, s:s}", "file_id", files[f]->file_id,
                                "invoice_number", bill->invoices[i]->number, "by", "automatic",
                                "level", standard ? "standard" : "normal"));
                break;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        matched += taken[i];
    }
    bill->invoices_matched = matched;
    for (size_t f = 0; f < nf; f++) {
        archive_free_file(files[f]);
    }
    free(files);
    free(taken);
    bill_order__free_unpacked(order, NULL);
    return rv;
}

static bool all_matched(const BillRecord *bill)
{
    return bill->invoices_matched >= bill->n_invoices;
}

/* Submit: basic and sync bills are complete; match bills once every declared invoice
 * is matched, else they wait in submitted for a person. */
static int submit_bill(struct txn *t, BillRecord *bill)
{
    struct scheme_choice sc;
    int rv = resolve_scheme(t, bill->bill_type, bill->org, &sc);
    if (rv != 0) {
        return rv;
    }
    set_string(&bill->mode, sc.mode);
    set_string(&bill->match_level, sc.match);
    set_string(&bill->erp_error, "");
    if ((rv = set_state(t, bill, "submitted")) != 0) {
        return rv;
    }
    if (strcmp(sc.mode, "match") == 0) {
        if ((rv = run_match(t, bill)) != 0 || !all_matched(bill)) {
            return rv;
        }
    }
    return become_ready(t, bill, sc.submit);
}

int apply_match_bill(struct txn *t, const MatchBill *m)
{
    static const char *const states[] = {"submitted", NULL};
    struct scheme_choice sc;
    BillRecord *bill;
    int rv = load_bill_or_refuse(t, m->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!state_in(bill, states) || strcmp(bill->mode, "match") != 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s%s: matching runs on submitted bills "
               "of match mode", bill->image_no, bill->state,
               strcmp(bill->mode, "match") != 0 ? " and not in match mode" : "");
    } else if ((rv = resolve_scheme(t, bill->bill_type, bill->org, &sc)) == 0 &&
               (rv = run_match(t, bill)) == 0 && all_matched(bill)) {
        rv = become_ready(t, bill, sc.submit);
    }
    if (rv == 0 && t->res->status == ARCHIVE_OK) {
        store_bill(t, bill);
        result_bill(t, bill);
    }
    archive_free_bill(bill);
    return rv;
}

/* Finds declared invoice @number of @bill; -1 when the bill declares none. */
static int declared_index(const BillRecord *bill, const char *number)
{
    for (size_t i = 0; i < bill->n_invoices; i++) {
        if (strcmp(bill->invoices[i]->number, number) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Whether another invoice file of the bill is matched to @number. */
static int matched_elsewhere(struct txn *t, const BillRecord *bill, const char *number,
                             bool *yes)
{
    BillOrder *order;
    int rv = load_order(t, bill->image_no, &order);
    *yes = false;
    for (size_t i = 0; rv == 0 && i < order->n_file_ids && !*yes; i++) {
        FileRecord *f;
        struct key k;
        key_pair(&k, t->cmd->tenant, order->file_ids[i]);
        rv = archive_load_record(t->a, ROCKS_CF_FILES, &k, &file_record__descriptor,
                                 (ProtobufCMessage **)&f, t->err);
        if (rv == 0) {
            *yes = strcmp(f->match, number) == 0;
            archive_free_file(f);
        }
    }
    if (rv == 0) {
        bill_order__free_unpacked(order, NULL);
    }
    return rv;
}

static int manual_match(struct txn *t, BillRecord *bill, FileRecord *f, const MatchFile *m)
{
    struct scheme_choice sc;
    bool taken;
    int rv;
    if (m->invoice_number == NULL || declared_index(bill, m->invoice_number) < 0) {
        refuse(t, ARCHIVE_R_INVALID, "bill %s declares no invoice %.64s; the pool bill lists "
               "the invoices that can be matched", bill->image_no,
               m->invoice_number != NULL ? m->invoice_number : "");
        return 0;
    }
    if (f->match[0] != '\0') {
        refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s already; unmatch "
               "it first", f->file_id, f->match);
        return 0;
    }
    if ((rv = matched_elsewhere(t, bill, m->invoice_number, &taken)) != 0) {
        return rv;
    }
    if (taken) {
        refuse(t, ARCHIVE_R_MATCH_LOCKED, "invoice %s of bill %s is matched to another file; "
               "unmatch that file first", m->invoice_number, bill->image_no);
        return 0;
    }
    set_string(&f->match, m->invoice_number);
    bill->invoices_matched++;
    audit(t, bill, "invoice_matched",
          json_pack("{s:s, s:s, s:s}", "file_id", f->file_id, "invoice_number",
                    m->invoice_number, "by", "manual"));
    if (strcmp(bill->state, "submitted") == 0 && all_matched(bill) &&
        (rv = resolve_scheme(t, bill->bill_type, bill->org, &sc)) == 0) {
        rv = become_ready(t, bill, sc.submit);
    }
    return rv;
}

static int manual_unmatch(struct txn *t, BillRecord *bill, FileRecord *f)
{
    static const char *const back[] = {"ready", "erp_failed", NULL};
    if (f->match[0] == '\0') {
        refuse(t, ARCHIVE_R_INVALID_STATE, "file %s is not matched", f->file_id);
        return 0;
    }
    audit(t, bill, "invoice_unmatched",
          json_pack("{s:s, s:s}", "file_id", f->file_id, "invoice_number", f->match));
    set_string(&f->match, "");
    if (bill->invoices_matched > 0) {
        bill->invoices_matched--;
    }
    /* A ready match-mode bill with an invoice unmatched is no longer complete. */
    return state_in(bill, back) ? set_state(t, bill, "submitted") : 0;
}

int apply_match_file(struct txn *t, const MatchFile *m)
{
    static const char *const open_states[] = {"captured", "returned", "submitted", "ready",
                                              "erp_failed", NULL};
    BillRecord *bill;
    FileRecord *f = NULL;
    struct scheme_choice sc;
    int rv = load_bill_or_refuse(t, m->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if ((rv = load_bill_file(t, bill, m->file_id, &f)) != 0) {
        f = NULL;
        rv = rv == BASE_ENOTFOUND ? 0 : rv;
        goto out;
    }
    if ((rv = resolve_scheme(t, bill->bill_type, bill->org, &sc)) != 0) {
        goto out;
    }
    if (!m->unmatch && f->merged_into[0] != '\0') {
        refuse(t, ARCHIVE_R_INVALID_STATE, "file %s is a sub-page of document %s: sub-pages "
               "take no part in matching", f->file_id, f->merged_into);
        goto out;
    }
    if (!state_in(bill, open_states) || strcmp(sc.mode, "match") != 0 ||
        strcmp(f->category, "invoice") != 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "file %s of bill %s cannot be %s: it must be an "
               "invoice file of a match-mode bill that is not at the ERP (the bill is %s, "
               "mode %s, the file a%s %s)", f->file_id, bill->image_no,
               m->unmatch ? "unmatched" : "matched", bill->state, sc.mode,
               f->category[0] == 'a' || f->category[0] == 'i' ? "n" : "", f->category);
        goto out;
    }
    rv = m->unmatch ? manual_unmatch(t, bill, f) : manual_match(t, bill, f, m);
    if (rv == 0 && t->res->status == ARCHIVE_OK) {
        put_file(t, f);
        store_bill(t, bill);
        result_bill(t, bill);
        snprintf(t->res->file_id, sizeof t->res->file_id, "%s", f->file_id);
    }
out:
    archive_free_file(f);
    archive_free_bill(bill);
    return rv;
}

int apply_set_file_invoice(struct txn *t, const SetFileInvoice *c)
{
    static const char *const states[] = {"captured", "returned", "submitted", NULL};
    BillRecord *bill;
    FileRecord *f = NULL;
    Invoice *inv;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if ((rv = load_bill_file(t, bill, c->file_id, &f)) != 0) {
        f = NULL;
        rv = rv == BASE_ENOTFOUND ? 0 : rv;
        goto out;
    }
    if (c->invoice == NULL || c->invoice->number == NULL || c->invoice->number[0] == '\0') {
        refuse(t, ARCHIVE_R_INVALID, "invoice data needs at least a number");
    } else if (!state_in(bill, states)) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s: invoice data can be corrected while "
               "it is captured, returned or submitted", bill->image_no, bill->state);
    } else if (strcmp(f->category, "invoice") != 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "file %s is a%s %s, not an invoice: set it as an "
               "invoice first", f->file_id, f->category[0] == 'a' ? "n" : "", f->category);
    } else if (f->match[0] != '\0') {
        refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched invoices "
               "are locked; unmatch it first", f->file_id, f->match);
    } else {
        json_t *before = archive_invoice_json(f->invoice);
        inv = xmalloc(sizeof *inv);
        invoice__init(inv);
        copy_invoice(inv, c->invoice);
        if (f->invoice != NULL) {
            invoice__free_unpacked(f->invoice, NULL);
        }
        f->invoice = inv;
        put_file(t, f);
        audit(t, bill, "invoice_data_set",
              json_pack("{s:s, s:o, s:o}", "file_id", f->file_id, "before", before, "after",
                        archive_invoice_json(inv)));
        store_bill(t, bill);
        result_bill(t, bill);
        snprintf(t->res->file_id, sizeof t->res->file_id, "%s", f->file_id);
    }
out:
    archive_free_file(f);
    archive_free_bill(bill);
    return rv;
}

int apply_erp_submit(struct txn *t, const ErpSubmit *c)
{
    static const char *const states[] = {"ready", "erp_failed", NULL};
    BillRecord *bill;
    bool queued;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!state_in(bill, states)) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s: only ready bills (or those whose "
               "ERP submission failed) go to the ERP", bill->image_no, bill->state);
    } else if ((rv = queue_erp(t, bill, &queued)) == 0 && !queued) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "no webhook subscribes to erp_submit: the ERP "
               "endpoint is a webhook of that event (POST /api/v1/webhooks)");
    } else if (rv == 0) {
        audit(t, bill, "erp_submit_queued", json_pack("{s:s}", "state", bill->state));
        store_bill(t, bill);
        result_bill(t, bill);
    }
    archive_free_bill(bill);
    return rv;
}

int apply_return_bill(struct txn *t, const ReturnBill *c)
{
    static const char *const states[] = {"submitted", "ready", "erp_failed", NULL};
    BillRecord *bill;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!state_in(bill, states)) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s: only submitted or ready bills (or "
               "those the ERP refused) can be returned", bill->image_no, bill->state);
    } else if (c->reason == NULL || strlen(c->reason) > 1024) {
        refuse(t, ARCHIVE_R_INVALID, "a return gives a reason of at most 1024 bytes");
    } else {
        set_string(&bill->returned_reason, c->reason);
        audit(t, bill, "returned", json_pack("{s:s}", "reason", c->reason));
        if ((rv = set_state(t, bill, "returned")) == 0) {
            store_bill(t, bill);
            result_bill(t, bill);
        }
    }
    archive_free_bill(bill);
    return rv;
}

/* The ERP's answer to an erp_submit delivery moves the bill on. */
int erp_outcome(struct txn *t, const DeliveryRecord *d, const DeliveryResult *r)
{
    static const char *const states[] = {"ready", "erp_failed", NULL};
    BillRecord *bill;
    int rv = load_bill(t, d->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (state_in(bill, states)) {
        if (r->ok) {
            set_string(&bill->erp_error, "");
            rv = set_state(t, bill, "erp_submitted");
        } else {
            set_string(&bill->erp_error, r->cancel ? "the ERP webhook was deleted"
                                         : r->error != NULL ? r->error : "");
            rv = set_state(t, bill, "erp_failed");
        }
        if (rv == 0) {
            store_bill(t, bill);
        }
    }
    archive_free_bill(bill);
    return rv;
}

/* ---- Editing a bill's files ---- */

/* Whether @what may change @bill: before submit, yes; a ready sync-mode bill only as
 * an amend (@amend_ok) by a caller allowed to amend (@amend). False after refusing. */
static bool edit_allowed(struct txn *t, const BillRecord *bill, bool amend_ok, bool amend,
                         const char *what)
{
    if (state_in(bill, EDITABLE)) {
        return true;
    }
    if (amend_ok && state_in(bill, AMENDABLE)) {
        if (strcmp(bill->mode, "sync") != 0) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s: %s now would be an amend, which "
                   "only sync-mode bills allow (this one is %s)", bill->image_no, bill->state,
                   what, bill->mode[0] != '\0' ? bill->mode : "basic");
            return false;
        }
        if (!amend) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s: %s now is an amend, which needs "
                   "the amend permission", bill->image_no, bill->state, what);
            return false;
        }
        return true;
    }
    refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s: %s is allowed while it is captured or "
           "returned%s", bill->image_no, bill->state, what,
           amend_ok ? " (and as an amend of a ready sync-mode bill)" : "");
    return false;
}

/* Whether @f is part of a merged document (its head or a sub-page); refuses @what. */
static bool refuse_merged(struct txn *t, const FileRecord *f, const char *what)
{
    if (f->n_parts == 0 && f->merged_into[0] == '\0') {
        return false;
    }
    refuse(t, ARCHIVE_R_INVALID_STATE, "file %s is %s a merged document: split it first to %s",
           f->file_id, f->n_parts > 0 ? "the head of" : "a sub-page of", what);
    return true;
}

/* Whether the tenant has @category: a built-in one or a custom one it defined. */
int category_known(struct txn *t, const char *category, bool *known)
{
    struct key k;
    if (archive_builtin_category(category)) {
        *known = true;
        return 0;
    }
    if (!archive_valid_category(category)) {
        *known = false;
        return 0;
    }
    key_pair(&k, t->cmd->tenant, category);
    return record_exists(t, ROCKS_CF_CATEGORIES, &k, known);
}

int apply_create_category(struct txn *t, const CreateCategory *c)
{
    CategoryRecord rec = CATEGORY_RECORD__INIT;
    struct key k;
    if (c->code == NULL || archive_builtin_category(c->code) ||
        !archive_valid_category(c->code) || c->name == NULL || strlen(c->name) > 256) {
        refuse(t, ARCHIVE_R_INVALID, "a category is a code (1-31 of A-Z a-z 0-9 . _ -, not "
                                     "cover, invoice or attachment) and a name");
        return 0;
    }
    rec.code = c->code;
    rec.name = c->name;
    rec.created_ms = t->cmd->time_ms;
    key_pair(&k, t->cmd->tenant, c->code);
    put_record(t, ROCKS_CF_CATEGORIES, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "category_set",
                json_pack("{s:s, s:s}", "code", c->code, "name", c->name));
    return 0;
}

/* One reference less to a blob under @k of @cf; *@last when none is left. The
 * cross-tenant record stays at zero references for garbage collection to find. */
static int unref_blob(struct txn *t, enum rocks_cf cf, const struct key *k, bool keep,
                      bool *last)
{
    BlobRecord *blob;
    int rv = archive_load_record(t->a, cf, k, &blob_record__descriptor,
                                 (ProtobufCMessage **)&blob, t->err);
    *last = false;
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (blob->refs > 0) {
        blob->refs--;
    }
    *last = blob->refs == 0;
    if (*last) {
        blob->released_ms = t->cmd->time_ms; /* garbage collection counts from here */
    }
    if (*last && !keep) {
        rocks_batch_delete(t->batch, cf, k->buf, k->len);
    } else {
        put_record(t, cf, k, &blob->base);
    }
    blob_record__free_unpacked(blob, NULL);
    return 0;
}

/* Takes file @f out of @bill (and @order): its record, counts, blob references and
 * usage. */
static int remove_file(struct txn *t, BillRecord *bill, BillOrder *order, const FileRecord *f)
{
    struct key k = {.len = f->blob.len};
    struct usage_delta d = {.bytes = -(int64_t)f->size, .files = -1};
    bool last;
    int rv;
    order_remove(order, f->file_id);
    key_pair(&k, t->cmd->tenant, f->file_id);
    rocks_batch_delete(t->batch, ROCKS_CF_FILES, k.buf, k.len);
    if (f->batch[0] != '\0') {
        key_triple(&k, t->cmd->tenant, f->batch, f->file_id);
        rocks_batch_delete(t->batch, ROCKS_CF_BATCHES, k.buf, k.len);
    }
    count_category(bill, f->category, -1);
    bill->files--;
    bill->bytes -= f->size;
    if (f->blob.len == 32) {
        k.len = 32;
        memcpy(k.buf, f->blob.data, 32);
        if ((rv = unref_blob(t, ROCKS_CF_BLOBS, &k, true, &last)) != 0) {
            return rv;
        }
        key_tenant_prefix(&k, t->cmd->tenant);
        memcpy(k.buf + k.len, f->blob.data, 32);
        k.len += 32;
        if ((rv = unref_blob(t, ROCKS_CF_TENANT_BLOBS, &k, false, &last)) != 0) {
            return rv;
        }
        d.physical = last ? -(int64_t)f->size : 0;
    }
    return count_usage(t, bill->org, &d);
}

/* Loads every file named by @ids (1-1000 distinct files of @bill) into @out; false
 * after refusing or on a store error (*@rv). */
static bool load_files(struct txn *t, const BillRecord *bill, char **ids, size_t n,
                       FileRecord **out, int *rv)
{
    *rv = 0;
    if (n == 0 || n > 1000) {
        refuse(t, ARCHIVE_R_INVALID, "name 1-1000 files");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ids[i], ids[j]) == 0) {
                refuse(t, ARCHIVE_R_INVALID, "file %.64s is named twice", ids[i]);
                return false;
            }
        }
        if ((*rv = load_bill_file(t, bill, ids[i], &out[i])) != 0) {
            *rv = *rv == BASE_ENOTFOUND ? 0 : *rv;
            return false;
        }
    }
    return true;
}

static void free_files(FileRecord **files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        archive_free_file(files[i]);
    }
    free(files);
}

int apply_delete_files(struct txn *t, const DeleteFiles *c)
{
    BillRecord *bill;
    BillOrder *order = NULL;
    FileRecord **files;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    files = xcalloc(c->n_file_ids + 1, sizeof *files);
    if (!edit_allowed(t, bill, true, c->amend, "deleting files") ||
        !load_files(t, bill, c->file_ids, c->n_file_ids, files, &rv) ||
        (rv = load_order(t, bill->image_no, &order)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < c->n_file_ids && rv == 0; i++) {
        if (refuse_merged(t, files[i], "delete it")) {
            goto out;
        }
        if (files[i]->match[0] != '\0') {
            refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched "
                   "invoices cannot be deleted", files[i]->file_id, files[i]->match);
            goto out;
        }
        if (state_in(bill, AMENDABLE) && strcmp(files[i]->category, "cover") == 0) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "file %s is the cover: an amend may replace "
                   "covers, never delete them", files[i]->file_id);
            goto out;
        }
        rv = remove_file(t, bill, order, files[i]);
    }
    if (rv == 0) {
        audit(t, bill, state_in(bill, AMENDABLE) ? "files_deleted_by_amend" : "files_deleted",
              json_pack("{s:o}", "file_ids", string_array(c->file_ids, c->n_file_ids)));
        store_order(t, bill->image_no, order);
        store_bill(t, bill);
        result_bill(t, bill);
    }
out:
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
    free_files(files, c->n_file_ids);
    archive_free_bill(bill);
    return rv;
}

int apply_set_category(struct txn *t, const SetCategory *c)
{
    BillRecord *bill;
    FileRecord **files;
    bool known;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    files = xcalloc(c->n_file_ids + 1, sizeof *files);
    if (!edit_allowed(t, bill, false, false, "changing categories") ||
        !load_files(t, bill, c->file_ids, c->n_file_ids, files, &rv)) {
        goto out;
    }
    if ((rv = category_known(t, c->category != NULL ? c->category : "", &known)) != 0) {
        goto out;
    }
    if (!known) {
        refuse(t, ARCHIVE_R_INVALID_CATEGORY, "unknown category '%.32s': cover, invoice, "
               "attachment or a category of the tenant (GET /api/v1/categories)", c->category);
        goto out;
    }
    if (strcmp(c->category, "invoice") == 0 && c->n_file_ids != 1) {
        refuse(t, ARCHIVE_R_INVALID, "set as invoice takes one file at a time (%zu named)",
               c->n_file_ids);
        goto out;
    }
    for (size_t i = 0; i < c->n_file_ids; i++) {
        if (refuse_merged(t, files[i], "change its category")) {
            goto out;
        }
        if (files[i]->match[0] != '\0') {
            refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched "
                   "invoices are locked", files[i]->file_id, files[i]->match);
            goto out;
        }
    }
    for (size_t i = 0; i < c->n_file_ids; i++) {
        if (strcmp(files[i]->category, c->category) != 0) {
            count_category(bill, files[i]->category, -1);
            count_category(bill, c->category, +1);
            set_string(&files[i]->category, c->category);
            put_file(t, files[i]);
        }
    }
    audit(t, bill, "category_set", json_pack("{s:o, s:s}", "file_ids",
                                             string_array(c->file_ids, c->n_file_ids), "category",
                                             c->category));
    store_bill(t, bill);
    result_bill(t, bill);
out:
    free_files(files, c->n_file_ids);
    archive_free_bill(bill);
    return rv;
}

int apply_rotate_files(struct txn *t, const RotateFiles *c)
{
    BillRecord *bill;
    FileRecord **files;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    files = xcalloc(c->n_file_ids + 1, sizeof *files);
    if (c->degrees != 90 && c->degrees != -90 && c->degrees != 180) {
        refuse(t, ARCHIVE_R_INVALID, "rotate by 90 (right), -90 (left) or 180 degrees");
    } else if (load_files(t, bill, c->file_ids, c->n_file_ids, files, &rv)) {
        for (size_t i = 0; i < c->n_file_ids; i++) {
            files[i]->rotation = (uint32_t)(((int)files[i]->rotation + c->degrees + 360) % 360);
            put_file(t, files[i]);
        }
        audit(t, bill, "rotated", json_pack("{s:o, s:i}", "file_ids",
                                            string_array(c->file_ids, c->n_file_ids), "degrees",
                                            (int)c->degrees));
        store_bill(t, bill);
        result_bill(t, bill);
    }
    free_files(files, c->n_file_ids);
    archive_free_bill(bill);
    return rv;
}

/* The category of the file at @pos of @order (NULL outside it). */
static int category_at(struct txn *t, const BillOrder *order, long pos, char **out)
{
    struct key k;
    FileRecord *f;
    int rv;
    *out = NULL;
    if (pos < 0 || (size_t)pos >= order->n_file_ids) {
        return 0;
    }
    key_pair(&k, t->cmd->tenant, order->file_ids[pos]);
    rv = archive_load_record(t->a, ROCKS_CF_FILES, &k, &file_record__descriptor,
                             (ProtobufCMessage **)&f, t->err);
    if (rv == 0) {
        *out = xstrdup(f->category);
        archive_free_file(f);
    }
    return rv;
}

int apply_move_file(struct txn *t, const MoveFile *c)
{
    BillRecord *bill;
    BillOrder *order = NULL;
    FileRecord *f = NULL;
    char *before = NULL, *next = NULL;
    const char *after = c->after != NULL ? c->after : "";
    const char *section;
    uint32_t position;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!edit_allowed(t, bill, false, false, "reordering") ||
        (rv = load_bill_file(t, bill, c->file_id, &f)) != 0) {
        rv = rv == BASE_ENOTFOUND ? 0 : rv;
        goto out;
    }
    if (strcmp(after, f->file_id) == 0) {
        refuse(t, ARCHIVE_R_INVALID, "a file cannot move after itself");
        goto out;
    }
    if (refuse_merged(t, f, "move it")) {
        goto out;
    }
    if ((rv = load_order(t, bill->image_no, &order)) != 0) {
        goto out;
    }
    order_remove(order, f->file_id); /* take it out... */
    /* ...and put it back: after @after, or first. */
    position = after[0] != '\0' ? insert_file(order, f->file_id, after)
                                 : insert_at(order, f->file_id, 0);
    if (position == 0) {
        refuse(t, ARCHIVE_R_FILE_NOT_FOUND, "file %.64s named by 'after' is not a file of bill "
               "%s", after, bill->image_no);
        goto out;
    }
    if ((rv = category_at(t, order, (long)position - 2, &before)) != 0 ||
        (rv = category_at(t, order, (long)position, &next)) != 0) {
        goto out;
    }
    /* The section it lands in: the file before it (or after it, when it goes first). It
     * keeps its category next to a file of its own. */
    section = before != NULL ? before : next;
    if (section != NULL && strcmp(section, f->category) != 0 &&
        (next == NULL || strcmp(next, f->category) != 0)) {
        if (c->category == NULL || strcmp(c->category, section) != 0) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "moving file %s into the %s section makes it "
                   "a%s %s: confirm with \"category\": \"%s\"", f->file_id, section,
                   section[0] == 'a' || section[0] == 'i' ? "n" : "", section, section);
            goto out;
        }
        if (f->match[0] != '\0') {
            refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched "
                   "invoices are locked", f->file_id, f->match);
            goto out;
        }
        count_category(bill, f->category, -1);
        count_category(bill, section, +1);
        set_string(&f->category, section);
        put_file(t, f);
    }
    audit(t, bill, "file_moved", json_pack("{s:s, s:i, s:s}", "file_id", f->file_id, "position",
                                           (int)position, "category", f->category));
    store_order(t, bill->image_no, order);
    store_bill(t, bill);
    result_bill(t, bill);
    t->res->position = position;
    snprintf(t->res->category, sizeof t->res->category, "%s", f->category);
out:
    free(before);
    free(next);
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
    archive_free_file(f);
    archive_free_bill(bill);
    return rv;
}

int apply_merge_files(struct txn *t, const MergeFiles *c)
{
    BillRecord *bill;
    BillOrder *order = NULL;
    FileRecord **files;
    size_t start = 0;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    files = xcalloc(c->n_file_ids + 1, sizeof *files);
    if (!edit_allowed(t, bill, false, false, "merging") ||
        !load_files(t, bill, c->file_ids, c->n_file_ids, files, &rv) ||
        (rv = load_order(t, bill->image_no, &order)) != 0) {
        goto out;
    }
    if (c->n_file_ids < 2 || c->n_file_ids > 100) {
        refuse(t, ARCHIVE_R_INVALID, "merge 2-100 adjacent files");
        goto out;
    }
    while (start < order->n_file_ids && strcmp(order->file_ids[start], c->file_ids[0]) != 0) {
        start++;
    }
    for (size_t i = 0; i < c->n_file_ids; i++) {
        if (start + i >= order->n_file_ids ||
            strcmp(order->file_ids[start + i], c->file_ids[i]) != 0) {
            refuse(t, ARCHIVE_R_INVALID, "only adjacent files merge, named in bill order: %s "
                   "does not follow %s", c->file_ids[i], i > 0 ? c->file_ids[i - 1] : "");
            goto out;
        }
        if (refuse_merged(t, files[i], "merge it again")) {
            goto out;
        }
        if (files[i]->match[0] != '\0') {
            refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched "
                   "invoices are locked", files[i]->file_id, files[i]->match);
            goto out;
        }
    }
    for (size_t i = 1; i < c->n_file_ids; i++) {
        if (strcmp(files[i]->category, files[0]->category) != 0) {
            count_category(bill, files[i]->category, -1);
            count_category(bill, files[0]->category, +1);
            set_string(&files[i]->category, files[0]->category);
        }
        set_string(&files[i]->merged_into, files[0]->file_id);
        put_file(t, files[i]);
    }
    files[0]->parts = xcalloc(c->n_file_ids - 1, sizeof *files[0]->parts);
    for (size_t i = 1; i < c->n_file_ids; i++) {
        files[0]->parts[files[0]->n_parts++] = xstrdup(c->file_ids[i]);
    }
    put_file(t, files[0]);
    audit(t, bill, "files_merged", json_pack("{s:s, s:o}", "document", files[0]->file_id,
                                             "file_ids", string_array(c->file_ids, c->n_file_ids)));
    store_bill(t, bill);
    result_bill(t, bill);
    snprintf(t->res->file_id, sizeof t->res->file_id, "%s", files[0]->file_id);
out:
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
    free_files(files, c->n_file_ids);
    archive_free_bill(bill);
    return rv;
}

int apply_split_file(struct txn *t, const SplitFile *c)
{
    BillRecord *bill;
    FileRecord *head = NULL;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!edit_allowed(t, bill, false, false, "splitting") ||
        (rv = load_bill_file(t, bill, c->file_id, &head)) != 0) {
        rv = rv == BASE_ENOTFOUND ? 0 : rv;
        goto out;
    }
    if (head->n_parts == 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "file %s is not a merged document%s", head->file_id,
               head->merged_into[0] != '\0' ? ": split the document it belongs to" : "");
        goto out;
    }
    for (size_t i = 0; i < head->n_parts && rv == 0; i++) {
        FileRecord *part;
        if ((rv = load_bill_file(t, bill, head->parts[i], &part)) == 0) {
            set_string(&part->merged_into, "");
            put_file(t, part);
            archive_free_file(part);
        }
    }
    if (rv == 0) {
        audit(t, bill, "file_split",
              json_pack("{s:s, s:o}", "document", head->file_id, "file_ids",
                        string_array(head->parts, head->n_parts)));
        for (size_t i = 0; i < head->n_parts; i++) {
            free(head->parts[i]);
        }
        free(head->parts);
        head->parts = NULL;
        head->n_parts = 0;
        put_file(t, head);
        store_bill(t, bill);
        result_bill(t, bill);
    }
out:
    archive_free_file(head);
    archive_free_bill(bill);
    return rv == BASE_ENOTFOUND ? 0 : rv;
}

/* A capture that replaces file @f->replace: a replace scan keeps the replaced file's
 * category (never a cover's), a cover replacement puts the new file in as the cover;
 * either takes the old one's place. Replaces *@category (malloc()ed) and sets
 * *@position; false after refusing or on a store error (*@rv). */
bool replace_file(struct txn *t, BillRecord *bill, BillOrder *order, const AddFile *f,
                  char **category, uint32_t *position, int *rv)
{
    FileRecord *old;
    size_t at = 0;
    bool ok = false;
    *rv = 0;
    if (!edit_allowed(t, bill, true, f->amend, "replacing files")) {
        return false;
    }
    if ((*rv = load_bill_file(t, bill, f->replace, &old)) != 0) {
        *rv = *rv == BASE_ENOTFOUND ? 0 : *rv;
        return false;
    }
    if (old->match[0] != '\0') {
        refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched invoices "
               "cannot be replaced", old->file_id, old->match);
    } else if (refuse_merged(t, old, "replace it")) {
    } else if (f->category[0] != '\0' && strcmp(f->category, old->category) != 0) {
        refuse(t, ARCHIVE_R_INVALID_CATEGORY, "a replacement keeps the category of the file it "
               "replaces (%s), not %s", old->category, f->category);
    } else {
        for (size_t i = 0; i < order->n_file_ids; i++) {
            if (strcmp(order->file_ids[i], old->file_id) == 0) {
                at = i;
                break;
            }
        }
        audit(t, bill, "file_replaced", json_pack("{s:s, s:s, s:s}", "replaced", old->file_id,
                                                  "by", f->file_id, "category", old->category));
        if ((*rv = remove_file(t, bill, order, old)) == 0) {
            free(*category);
            *category = xstrdup(old->category);
            *position = insert_at(order, f->file_id, at);
            ok = true;
        }
    }
    archive_free_file(old);
    return ok;
}

static const char *command_image_no(const Command *cmd)
{
    switch (cmd->body_case) {
    case COMMAND__BODY_ADD_FILE:
        return cmd->add_file->image_no;
    case COMMAND__BODY_SUBMIT:
        return cmd->submit->image_no;
    case COMMAND__BODY_SET_FILE_INVOICE:
        return cmd->set_file_invoice->image_no;
    case COMMAND__BODY_MATCH_BILL:
        return cmd->match_bill->image_no;
    case COMMAND__BODY_MATCH_FILE:
        return cmd->match_file->image_no;
    case COMMAND__BODY_SET_CATEGORY:
        return cmd->set_category->image_no;
    case COMMAND__BODY_DELETE_FILES:
        return cmd->delete_files->image_no;
    case COMMAND__BODY_MOVE_FILE:
        return cmd->move_file->image_no;
    case COMMAND__BODY_MERGE_FILES:
        return cmd->merge_files->image_no;
    case COMMAND__BODY_SPLIT_FILE:
        return cmd->split_file->image_no;
    default:
        return NULL;
    }
}

/* The image mode of the bill a content write is about (a pool push names its own bill
 * type and organisation; a bill not pushed yet is basic). */
static int write_mode(struct txn *t, unsigned *mode)
{
    struct scheme_choice sc;
    const char *image_no = command_image_no(t->cmd);
    int rv = 0;
    if (t->cmd->body_case == COMMAND__BODY_POOL_PUSH) {
        rv = resolve_scheme(t, t->cmd->pool_push->bill_type, t->cmd->pool_push->org, &sc);
    } else {
        BillRecord *bill;
        rv = load_bill(t, image_no != NULL ? image_no : "", &bill);
        if (rv == 0) {
            rv = resolve_scheme(t, bill->bill_type, bill->org, &sc);
            archive_free_bill(bill);
        } else if (rv == BASE_ENOTFOUND) {
            rv = resolve_scheme(t, "", "", &sc);
        }
    }
    *mode = rv == 0 ? mode_bit(sc.mode) : LICENSE_MODE_BASIC;
    return rv;
}

/* Content writes need the tenant's license in force at the command's time, the bill's
 * image mode licensed, and room in the quota. False (refused, or *@rv a store error)
 * when the command must not go on. */
static bool write_allowed(struct txn *t, int *rv)
{
    char msg[sizeof t->res->message];
    uint64_t bytes = 0, files = 0;
    enum archive_status st;
    unsigned mode;
    if (t->cmd->body_case == COMMAND__BODY_ADD_FILE) {
        bytes = t->cmd->add_file->size;
        files = 1;
    }
    if ((*rv = write_mode(t, &mode)) != 0) {
        return false;
    }
    st = archive_check_write(t->a, t->cmd->tenant, t->cmd->time_ms, mode, bytes, files, msg,
                             sizeof msg, rv, t->err);
    if (*rv != 0) {
        return false;
    }
    if (st != ARCHIVE_OK) {
        refuse(t, st, "%s", msg);
        return false;
    }
    return true;
}

static bool is_content_write(const Command *cmd)
{
    return cmd->body_case == COMMAND__BODY_POOL_PUSH || command_image_no(cmd) != NULL;
}

static int dispatch(struct txn *t)
{
    int rv;
    if (!archive_valid_tenant(t->cmd->tenant)) {
        refuse(t, ARCHIVE_R_INVALID, "invalid tenant id");
        return 0;
    }
    if (replay_idempotent(t, &rv)) {
        return rv;
    }
    if (is_content_write(t->cmd) && !write_allowed(t, &rv)) {
        return rv;
    }
    switch (t->cmd->body_case) {
    case COMMAND__BODY_POOL_PUSH:
        rv = apply_pool_push(t, t->cmd->pool_push);
        break;
    case COMMAND__BODY_ADD_FILE:
        rv = apply_add_file(t, t->cmd->add_file);
        break;
    case COMMAND__BODY_SUBMIT:
        rv = apply_submit(t, t->cmd->submit);
        break;
    case COMMAND__BODY_INIT_CLUSTER:
        rv = apply_init_cluster(t);
        break;
    case COMMAND__BODY_CREATE_TENANT:
        rv = apply_create_tenant(t, t->cmd->create_tenant);
        break;
    case COMMAND__BODY_INSTALL_LICENSE:
        rv = apply_install_license(t, t->cmd->install_license);
        break;
    case COMMAND__BODY_CREATE_CLIENT:
        rv = apply_create_client(t, t->cmd->create_client);
        break;
    case COMMAND__BODY_CREATE_USER:
        rv = apply_create_user(t, t->cmd->create_user);
        break;
    case COMMAND__BODY_CREATE_ROLE:
        rv = apply_create_role(t, t->cmd->create_role);
        break;
    case COMMAND__BODY_LOGIN_RESULT:
        rv = apply_login_result(t, t->cmd->login_result);
        break;
    case COMMAND__BODY_UNLOCK_USER:
        rv = apply_unlock_user(t, t->cmd->unlock_user);
        break;
    case COMMAND__BODY_CREATE_ORG:
        rv = apply_create_org(t, t->cmd->create_org);
        break;
    case COMMAND__BODY_UPDATE_ORG:
        rv = apply_update_org(t, t->cmd->update_org);
        break;
    case COMMAND__BODY_SET_GRANTS:
        rv = apply_set_grants(t, t->cmd->set_grants);
        break;
    case COMMAND__BODY_CREATE_WEBHOOK:
        rv = apply_create_webhook(t, t->cmd->create_webhook);
        break;
    case COMMAND__BODY_DELETE_WEBHOOK:
        rv = apply_delete_webhook(t, t->cmd->delete_webhook);
        break;
    case COMMAND__BODY_DELIVERY_RESULT:
        rv = apply_delivery_result(t, t->cmd->delivery_result);
        break;
    case COMMAND__BODY_RETRY_DELIVERY:
        rv = apply_retry_delivery(t, t->cmd->retry_delivery);
        break;
    case COMMAND__BODY_LICENSE_WARNING:
        rv = apply_license_warning(t, t->cmd->license_warning);
        break;
    case COMMAND__BODY_CREATE_BILL_TYPE:
        rv = apply_create_bill_type(t, t->cmd->create_bill_type);
        break;
    case COMMAND__BODY_SET_SCHEME:
        rv = apply_set_scheme(t, t->cmd->set_scheme);
        break;
    case COMMAND__BODY_SET_FILE_INVOICE:
        rv = apply_set_file_invoice(t, t->cmd->set_file_invoice);
        break;
    case COMMAND__BODY_MATCH_BILL:
        rv = apply_match_bill(t, t->cmd->match_bill);
        break;
    case COMMAND__BODY_MATCH_FILE:
        rv = apply_match_file(t, t->cmd->match_file);
        break;
    case COMMAND__BODY_ERP_SUBMIT:
        rv = apply_erp_submit(t, t->cmd->erp_submit);
        break;
    case COMMAND__BODY_RETURN_BILL:
        rv = apply_return_bill(t, t->cmd->return_bill);
        break;
    case COMMAND__BODY_SET_CATEGORY:
        rv = apply_set_category(t, t->cmd->set_category);
        break;
    case COMMAND__BODY_DELETE_FILES:
        rv = apply_delete_files(t, t->cmd->delete_files);
        break;
    case COMMAND__BODY_MOVE_FILE:
        rv = apply_move_file(t, t->cmd->move_file);
        break;
    case COMMAND__BODY_ROTATE_FILES:
        rv = apply_rotate_files(t, t->cmd->rotate_files);
        break;
    case COMMAND__BODY_CREATE_CATEGORY:
        rv = apply_create_category(t, t->cmd->create_category);
        break;
    case COMMAND__BODY_MERGE_FILES:
        rv = apply_merge_files(t, t->cmd->merge_files);
        break;
    case COMMAND__BODY_SPLIT_FILE:
        rv = apply_split_file(t, t->cmd->split_file);
        break;
    case COMMAND__BODY_REGISTER_NODE:
        rv = apply_register_node(t, t->cmd->register_node);
        break;
    case COMMAND__BODY_REMOVE_NODE:
        rv = apply_remove_node(t, t->cmd->remove_node);
        break;
    case COMMAND__BODY_SET_HOLDERS:
        rv = apply_set_holders(t, t->cmd->set_holders);
        break;
    case COMMAND__BODY_SET_NODE_STORAGE:
        rv = apply_set_node_storage(t, t->cmd->set_node_storage);
        break;
    case COMMAND__BODY_PURGE_BLOBS:
        rv = apply_purge_blobs(t, t->cmd->purge_blobs);
        break;
    default:
        refuse(t, ARCHIVE_R_INVALID, "unknown command");
        return 0;
    }
    if (rv == 0) {
        remember_result(t);
    }
    return rv;
}

int archive_apply(struct archive *a, uint64_t index, const void *buf, size_t len,
                  struct archive_result *res, struct base_err *err)
{
    struct txn t = {.a = a, .index = index, .res = res, .err = err};
    uint8_t be[8];
    Command *cmd;
    int rv = 0;

    memset(res, 0, sizeof *res);
    res->index = index;
    if (index <= a->applied_index) {
        res->replayed = true;
        return 0;
    }
    t.batch = rocks_batch_new(a->db);
    cmd = command__unpack(NULL, len, buf);
    if (cmd == NULL) {
        /* Deterministic: every node refuses the same undecodable entry. */
        refuse(&t, ARCHIVE_R_INVALID, "undecodable command");
    } else {
        t.cmd = cmd;
        a->applying = t.batch;
        rv = dispatch(&t);
        a->applying = NULL;
    }
    if (rv == 0 && res->status != ARCHIVE_OK) {
        /* A refusal changes nothing but the applied index. */
        rocks_batch_clear(t.batch);
    }
    if (rv == 0) {
        rocks_put_be64(be, index);
        rocks_batch_put(t.batch, ROCKS_CF_META, KEY_APPLIED_INDEX, strlen(KEY_APPLIED_INDEX),
                        be, sizeof be);
        rv = rocks_write(a->db, t.batch, false, err);
    }
    if (rv == 0) {
        a->applied_index = index;
    }
    if (cmd != NULL) {
        command__free_unpacked(cmd, NULL);
    }
    rocks_batch_free(t.batch);
    return rv;
}

int archive_open(struct archive *a, struct rocks *db, struct base_err *err)
{
    char *val;
    size_t vlen;
    int rv;
    a->db = db;
    a->applied_index = 0;
    rv = rocks_get(db, ROCKS_CF_META, KEY_APPLIED_INDEX, strlen(KEY_APPLIED_INDEX), &val, &vlen,
                   err);
    if (rv == BASE_ENOTFOUND) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (vlen != 8) {
        free(val);
        base_err_set(err, "applied index record is corrupt");
        return BASE_ECORRUPT;
    }
    a->applied_index = rocks_get_be64((const uint8_t *)val);
    free(val);
    return 0;
}

void archive_encode(const Command *cmd, void **buf, size_t *len)
{
    *len = command__get_packed_size(cmd);
    *buf = xmalloc(*len);
    command__pack(cmd, *buf);
}
