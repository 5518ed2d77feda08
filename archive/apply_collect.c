/* Applying the commands of files collected ahead of their bill (the vendor's
 * fileCollect and scanBillSubmit, api/vendor_collect.c):
 *
 * - CollectFile stores a CollectedRecord (family "collected", tenant \0 file_no) that
 *   holds one reference to the file's blob and counts in the tenant's usage (bytes,
 *   files, distinct content) exactly as a capture does, after the same license and
 *   quota checks; it belongs to no bill and no organisation yet.
 * - SubmitCollected moves listed collected files into a bill in one batch: each becomes
 *   a file of the bill (its file id is its file_no), the blob reference moves with it,
 *   the organisation's usage grows, the audit log says so. The record stays, marked
 *   with the bill, so that the same submit sent again is recognised and changes
 *   nothing (the vendor's calls carry no idempotency key).
 * - PurgeCollected forgets records older than its max age at the command's time;
 *   a file that never joined a bill releases its reference and its usage then. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/license.h"
#include "base/hex.h"
#include "base/mem.h"

#define COLLECT_LIST_MAX 1000

/* The bill category of a vendor fileType. */
static const char *collect_category(const char *file_type)
{
    if (strcmp(file_type, "cover") == 0) {
        return "cover";
    }
    if (strcmp(file_type, "invoice") == 0) {
        return "invoice";
    }
    return "attachment";
}

static bool valid_file_type(const char *s)
{
    return strcmp(s, "cover") == 0 || strcmp(s, "invoice") == 0 || strcmp(s, "attach") == 0;
}

static bool short_text(const char *s, size_t max)
{
    return s != NULL && strlen(s) <= max;
}

static void collected_key(struct key *k, const char *tenant, const char *file_no)
{
    key_pair(k, tenant, file_no);
}

static int load_collected(struct txn *t, const char *file_no, CollectedRecord **out)
{
    struct key k;
    collected_key(&k, t->cmd->tenant, file_no);
    return archive_load_record(t->a, ARCHIVE_CF_COLLECTED, &k, &collected_record__descriptor,
                               (ProtobufCMessage **)out, t->err);
}

/* The blob keys: cross-tenant (@k) and the tenant's (@tk). */
static void blob_keys(struct txn *t, const ProtobufCBinaryData *blob, struct key *k,
                      struct key *tk)
{
    k->len = 32;
    memcpy(k->buf, blob->data, 32);
    key_tenant_prefix(tk, t->cmd->tenant);
    memcpy(tk->buf + tk->len, blob->data, 32);
    tk->len += 32;
}

static bool check_collect(struct txn *t, const CollectFile *c)
{
    if (!archive_valid_tenant(c->file_no) || c->blob.len != 32 || c->name[0] == '\0' ||
        !short_text(c->name, 255) || !short_text(c->format, 16) ||
        !valid_file_type(c->file_type) ||
        (c->scan_bill_no[0] != '\0' && !archive_valid_image_no(c->scan_bill_no)) ||
        !short_text(c->bill_type, 255) || !short_text(c->resource, 255)) {
        refuse(t, ARCHIVE_R_INVALID, "malformed collect command");
        return false;
    }
    return true;
}

int apply_collect_file(struct txn *t, const CollectFile *c)
{
    CollectedRecord rec = COLLECTED_RECORD__INIT;
    char msg[sizeof t->res->message];
    struct key k, tk;
    bool known, fresh;
    enum archive_status st;
    int rv;

    if (!check_collect(t, c)) {
        return 0;
    }
    /* The file_no becomes a file id in a bill: it must be new to both families. */
    collected_key(&k, t->cmd->tenant, c->file_no);
    if ((rv = record_exists(t, ARCHIVE_CF_COLLECTED, &k, &known)) != 0) {
        return rv;
    }
    if (!known && (rv = record_exists(t, ARCHIVE_CF_FILES, &k, &known)) != 0) {
        return rv;
    }
    if (known) {
        refuse(t, ARCHIVE_R_INVALID, "file number %.64s is in use already", c->file_no);
        return 0;
    }
    /* License and quota as for a capture (a collected file is stored content). */
    st = archive_check_write(t->a, t->cmd->tenant, t->cmd->time_ms, LICENSE_MODE_BASIC,
                             c->size, 1, msg, sizeof msg, &rv, t->err);
    if (rv != 0) {
        return rv;
    }
    if (st != ARCHIVE_OK) {
        refuse(t, st, "%s", msg);
        return 0;
    }
    blob_keys(t, &c->blob, &k, &tk);
    if ((rv = ref_blob(t, ARCHIVE_CF_BLOBS, &k, c->size, c->holders, c->n_holders, &fresh)) !=
            0 ||
        (rv = ref_blob(t, ARCHIVE_CF_TENANT_BLOBS, &tk, c->size, NULL, 0, &fresh)) != 0) {
        return rv;
    }
    {
        /* The tenant's totals only: the organisation is the bill's, once it joins one. */
        struct usage_delta d = {.bytes = (int64_t)c->size, .files = 1,
                                .physical = fresh ? (int64_t)c->size : 0};
        struct key uk = {.len = strlen(t->cmd->tenant)};
        memcpy(uk.buf, t->cmd->tenant, uk.len);
        if ((rv = adjust_usage(t, &uk, &d)) != 0) {
            return rv;
        }
    }
    rec.file_no = c->file_no;
    rec.name = c->name;
    rec.format = c->format;
    rec.size = c->size;
    rec.pages = c->pages;
    rec.blob = c->blob;
    rec.check = c->check;
    rec.file_type = c->file_type;
    rec.scan_bill_no = c->scan_bill_no;
    rec.bill_type = c->bill_type;
    rec.resource = c->resource;
    rec.need_recognition = c->need_recognition;
    rec.invoice = c->invoice != NULL && c->invoice->number[0] != '\0' ? c->invoice : NULL;
    rec.collected_by = t->cmd->operator_;
    rec.collected_ms = t->cmd->time_ms;
    rec.index = t->index;
    rec.image_no = "";
    collected_key(&k, t->cmd->tenant, c->file_no);
    put_record(t, ARCHIVE_CF_COLLECTED, &k, &rec.base);
    snprintf(t->res->file_id, sizeof t->res->file_id, "%s", c->file_no);
    snprintf(t->res->category, sizeof t->res->category, "%s", collect_category(c->file_type));
    return 0;
}

/* ---- scanBillSubmit ---- */

/* Loads every listed record; false after refusing (unknown, listed twice, joined
 * another bill) or on a store error (*@rv). *@joined counts those that joined this
 * bill already. */
static bool load_listed(struct txn *t, const SubmitCollected *c, CollectedRecord **recs,
                        size_t *joined, int *rv)
{
    *joined = 0;
    for (size_t i = 0; i < c->n_file_nos; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->file_nos[i], c->file_nos[j]) == 0) {
                refuse(t, ARCHIVE_R_INVALID, "file number %.64s is listed twice",
                       c->file_nos[i]);
                return false;
            }
        }
        if (!archive_valid_tenant(c->file_nos[i])) {
            refuse(t, ARCHIVE_R_FILE_NOT_FOUND, "no collected file %.64s", c->file_nos[i]);
            return false;
        }
        *rv = load_collected(t, c->file_nos[i], &recs[i]);
        if (*rv == BASE_ENOTFOUND) {
            *rv = 0;
            refuse(t, ARCHIVE_R_FILE_NOT_FOUND,
                   "no collected file %.64s (unknown, of another tenant, or cleaned up after "
                   "it waited too long): collect it again with fileCollect",
                   c->file_nos[i]);
            return false;
        }
        if (*rv != 0) {
            return false;
        }
        if (recs[i]->image_no[0] != '\0' && strcmp(recs[i]->image_no, c->image_no) != 0) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "collected file %.64s joined bill %s already",
                   c->file_nos[i], recs[i]->image_no);
            return false;
        }
        *joined += recs[i]->image_no[0] != '\0';
    }
    if (*joined > 0 && *joined < c->n_file_nos) {
        refuse(t, ARCHIVE_R_INVALID_STATE,
               "some of the listed files joined bill %s already and some did not: list only "
               "new files (or exactly the files of the earlier submit to repeat it)",
               c->image_no);
        return false;
    }
    return true;
}

/* saveType upload: the bill's files go before the new ones come. */
static int clear_bill(struct txn *t, BillRecord *bill, BillOrder *order)
{
    size_t n = order->n_file_ids;
    char **ids;
    int rv = 0;
    if (n > 0 && !state_in(bill, EDITABLE)) {
        refuse(t, ARCHIVE_R_INVALID_STATE,
               "bill %s is %s: saveType upload replaces a bill's files only before it is "
               "submitted; use saveType add for a supplementary scan",
               bill->image_no, bill->state);
        return BASE_ENOTFOUND;
    }
    if (n > 0 && bill_held(t, bill, "saveType upload (it replaces the bill's files)")) {
        return BASE_ENOTFOUND;
    }
    ids = xcalloc(n > 0 ? n : 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = xstrdup(order->file_ids[i]);
    }
    for (size_t i = 0; i < n && rv == 0; i++) {
        FileRecord *f;
        if ((rv = load_bill_file(t, bill, ids[i], &f)) != 0) {
            break;
        }
        if (f->n_parts > 0 || f->merged_into[0] != '\0') {
            refuse(t, ARCHIVE_R_INVALID_STATE,
                   "bill %s has merged files: saveType upload cannot replace them (split "
                   "them first, or use saveType add)",
                   bill->image_no);
            rv = BASE_ENOTFOUND;
        } else if (f->match[0] != '\0') {
            refuse(t, ARCHIVE_R_MATCH_LOCKED,
                   "file %s of bill %s is matched to invoice %s: matched invoices are "
                   "locked; use saveType add",
                   f->file_id, bill->image_no, f->match);
            rv = BASE_ENOTFOUND;
        } else {
            rv = remove_file(t, bill, order, f);
        }
        file_record__free_unpacked(f, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
    }
    free(ids);
    return rv;
}

/* Collected file @r joins @bill at the end of @order. */
static int join_bill(struct txn *t, BillRecord *bill, BillOrder *order, CollectedRecord *r)
{
    FileRecord f = FILE_RECORD__INIT;
    Recognition recognition = RECOGNITION__INIT;
    const char *category = collect_category(r->file_type);
    struct usage_delta d = {.bytes = (int64_t)r->size, .files = 1};
    struct key k;
    uint32_t position;
    bool known;
    char hex[65];
    int rv;

    key_pair(&k, t->cmd->tenant, r->file_no);
    if ((rv = record_exists(t, ARCHIVE_CF_FILES, &k, &known)) != 0) {
        return rv;
    }
    if (known || r->blob.len != 32) {
        refuse(t, ARCHIVE_R_INVALID, "file id %.64s is in use already", r->file_no);
        return BASE_ENOTFOUND;
    }
    if (!capture_allowed(t, bill, category)) {
        return BASE_ENOTFOUND;
    }
    position = insert_file(order, r->file_no, "");
    f.file_id = r->file_no;
    f.image_no = bill->image_no;
    f.name = r->name;
    f.format = r->format;
    f.size = r->size;
    f.pages = r->pages;
    f.category = (char *)category;
    f.blob = r->blob;
    f.check = r->check;
    f.invoice = r->invoice;
    f.captured_by = r->collected_by;
    f.captured_ms = r->collected_ms;
    f.index = t->index;
    f.amended = state_in(bill, AMENDABLE) && strcmp(bill->mode, "sync") == 0;
    /* needRecognition: the file is queued for the recognition hook as a native capture
     * asking for it is (archive/apply_recognition.c); data read from the file wins. */
    if (r->need_recognition && f.invoice == NULL && strcmp(category, "invoice") == 0) {
        recognition_request(t, &recognition, r->file_no);
        f.recognition = &recognition;
    }
    put_file(t, &f);
    bill->files++;
    count_category(bill, category, +1);
    bill->bytes += r->size;
    /* The tenant counted the file when it was collected; its organisation does now. */
    key_pair(&k, t->cmd->tenant, bill->org);
    if ((rv = adjust_usage(t, &k, &d)) != 0) {
        return rv;
    }
    hex_encode(r->blob.data, r->blob.len, hex);
    audit(t, bill, "file_added",
          json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:s, s:b}", "file_id", r->file_no, "name",
                    r->name, "category", category, "size", (json_int_t)r->size, "blob", hex,
                    "position", (int)position, "via", "scanBillSubmit", "need_recognition",
                    r->need_recognition));
    set_string(&r->image_no, bill->image_no);
    r->submitted_ms = t->cmd->time_ms;
    key_pair(&k, t->cmd->tenant, r->file_no);
    put_record(t, ARCHIVE_CF_COLLECTED, &k, &r->base);
    return 0;
}

/* The bill to fill: loaded, or created (modelType 1), or a refusal (BASE_ENOTFOUND). */
static int submit_target(struct txn *t, const SubmitCollected *c, BillRecord **bill)
{
    int rv = load_bill(t, c->image_no, bill);
    if (rv == BASE_ENOTFOUND && c->create) {
        *bill = new_bill(t, c->image_no, BILL_CAPTURED);
        set_string(&(*bill)->bill_type, c->bill_type);
        t->res->created = true;
        return 0;
    }
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_BILL_NOT_FOUND,
               "no bill with image number %s (modelType 1 creates it)", c->image_no);
    }
    return rv;
}

static int fill_bill(struct txn *t, const SubmitCollected *c, BillRecord *bill,
                     CollectedRecord **recs)
{
    BillOrder *order = NULL;
    const char *before = NULL;
    int rv = load_order(t, c->image_no, &order);
    if (rv == 0 && c->replace && !t->res->created) {
        rv = clear_bill(t, bill, order);
    }
    for (size_t i = 0; i < c->n_file_nos && rv == 0; i++) {
        rv = join_bill(t, bill, order, recs[i]);
    }
    if (rv == 0) {
        if (strcmp(bill->state, "pending_upload") == 0 || strcmp(bill->state, "returned") == 0) {
            rv = set_state(t, bill, BILL_CAPTURED);
        } else if (t->res->created) {
            struct usage_delta d = {.bills = 1};
            if ((rv = count_usage(t, bill->org, &d)) == 0) {
                rv = announce_state(t, bill, before);
            }
        }
    }
    if (rv == 0) {
        store_order(t, c->image_no, order);
        store_bill(t, bill);
    }
    bill_order__free_unpacked(order, NULL);
    return rv;
}

int apply_submit_collected(struct txn *t, const SubmitCollected *c)
{
    CollectedRecord **recs = NULL;
    BillRecord *bill = NULL;
    size_t joined = 0;
    int rv = 0;

    if (!archive_valid_image_no(c->image_no) || c->n_file_nos == 0 ||
        c->n_file_nos > COLLECT_LIST_MAX || !short_text(c->bill_type, 255)) {
        refuse(t, ARCHIVE_R_INVALID, "a submit names a valid image number and 1-%d files",
               COLLECT_LIST_MAX);
        return 0;
    }
    recs = xcalloc(c->n_file_nos, sizeof *recs);
    if (!load_listed(t, c, recs, &joined, &rv)) {
        goto out;
    }
    if ((rv = submit_target(t, c, &bill)) != 0) {
        rv = rv == BASE_ENOTFOUND ? 0 : rv;
        goto out;
    }
    if (joined == c->n_file_nos) {
        /* The same submit again: every file is in the bill already. */
        t->res->replayed = true;
        t->res->created = false;
        result_bill(t, bill);
        goto out;
    }
    rv = fill_bill(t, c, bill, recs);
    if (rv == BASE_ENOTFOUND) { /* refused on the way; the batch is dropped */
        rv = 0;
        goto out;
    }
    if (rv == 0 && c->submit) {
        SubmitBill s = SUBMIT_BILL__INIT;
        s.image_no = c->image_no;
        rv = apply_submit(t, &s);
    } else if (rv == 0) {
        result_bill(t, bill);
    }
out:
    for (size_t i = 0; recs != NULL && i < c->n_file_nos; i++) {
        if (recs[i] != NULL) {
            collected_record__free_unpacked(recs[i], NULL);
        }
    }
    free(recs);
    archive_free_bill(bill);
    return rv;
}

/* ---- Cleanup ---- */

/* Forgets collected file @r; one that never joined a bill gives its blob reference
 * and its usage back. */
static int forget(struct txn *t, const CollectedRecord *r)
{
    struct key k, tk;
    bool last = false;
    int rv;
    collected_key(&k, t->cmd->tenant, r->file_no);
    rocks_batch_delete(t->batch, ARCHIVE_CF_COLLECTED, k.buf, k.len);
    if (r->image_no[0] != '\0' || r->blob.len != 32) {
        return 0;
    }
    blob_keys(t, &r->blob, &k, &tk);
    if ((rv = unref_blob(t, ARCHIVE_CF_BLOBS, &k, true, &last)) != 0 ||
        (rv = unref_blob(t, ARCHIVE_CF_TENANT_BLOBS, &tk, false, &last)) != 0) {
        return rv;
    }
    {
        struct usage_delta d = {.bytes = -(int64_t)r->size, .files = -1,
                                .physical = last ? -(int64_t)r->size : 0};
        struct key uk = {.len = strlen(t->cmd->tenant)};
        memcpy(uk.buf, t->cmd->tenant, uk.len);
        return adjust_usage(t, &uk, &d);
    }
}

int apply_purge_collected(struct txn *t, const PurgeCollected *c)
{
    uint32_t purged = 0;
    int rv = 0;
    if (c->n_file_nos > COLLECT_LIST_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "a purge names at most %d files", COLLECT_LIST_MAX);
        return 0;
    }
    for (size_t i = 0; i < c->n_file_nos && rv == 0; i++) {
        CollectedRecord *r;
        if (!archive_valid_tenant(c->file_nos[i])) {
            continue;
        }
        rv = load_collected(t, c->file_nos[i], &r);
        if (rv == BASE_ENOTFOUND) {
            rv = 0; /* purged already (a second leader's proposal) */
            continue;
        }
        if (rv != 0) {
            break;
        }
        if (r->collected_ms <= t->cmd->time_ms &&
            t->cmd->time_ms - r->collected_ms >= c->max_age_ms) {
            rv = forget(t, r);
            purged++;
        }
        collected_record__free_unpacked(r, NULL);
    }
    t->res->position = purged;
    return rv;
}
