/* Applying the workflow of a bill after capture: submit, matching (automatic and
 * manual), invoice data corrections, submission to the ERP and its outcome, and
 * returning a bill for rescanning. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"
#include "base/mem.h"

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
        rv = archive_load_record(t->a, ARCHIVE_CF_FILES, &k, &file_record__descriptor,
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
    int rv = set_state(t, bill, BILL_READY);
    if (rv != 0 || strcmp(submit, "auto") != 0) {
        return rv;
    }
    if ((rv = queue_erp(t, bill, &queued)) != 0) {
        return rv;
    }
    if (!queued) {
        set_string(&bill->erp_error, "no webhook subscribes to erp_submit: create one, then "
                                     "submit the bill to the ERP again");
        rv = set_state(t, bill, BILL_ERP_FAILED);
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
        rv = archive_load_record(t->a, ARCHIVE_CF_FILES, &k, &file_record__descriptor,
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
    if ((rv = set_state(t, bill, BILL_SUBMITTED)) != 0) {
        return rv;
    }
    if (strcmp(sc.mode, "match") == 0) {
        if ((rv = run_match(t, bill)) != 0 || !all_matched(bill)) {
            return rv;
        }
    }
    return become_ready(t, bill, sc.submit);
}

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

int rematch_bill(struct txn *t, BillRecord *bill)
{
    struct scheme_choice sc;
    int rv;
    if (strcmp(bill->state, "submitted") != 0 || strcmp(bill->mode, "match") != 0) {
        return 0;
    }
    if ((rv = resolve_scheme(t, bill->bill_type, bill->org, &sc)) != 0 ||
        (rv = run_match(t, bill)) != 0 || !all_matched(bill)) {
        return rv;
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
        rv = archive_load_record(t->a, ARCHIVE_CF_FILES, &k, &file_record__descriptor,
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
    return state_in(bill, back) ? set_state(t, bill, BILL_SUBMITTED) : 0;
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
        f->invoice_local = true; /* edited here: a sync leaves it as it is */
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
        if ((rv = set_state(t, bill, BILL_RETURNED)) == 0) {
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
            rv = set_state(t, bill, BILL_ERP_SUBMITTED);
        } else {
            set_string(&bill->erp_error, r->cancel ? "the ERP webhook was deleted"
                                         : r->error != NULL ? r->error : "");
            rv = set_state(t, bill, BILL_ERP_FAILED);
        }
        if (rv == 0) {
            store_bill(t, bill);
        }
    }
    archive_free_bill(bill);
    return rv;
}
