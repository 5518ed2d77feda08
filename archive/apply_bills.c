/* Applying the commands that fill a bill: pool pushes from the business system and
 * captured files (new files, insertions after a file, replacements). */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"
#include "base/mem.h"

static void replace_invoices(BillRecord *bill, const PoolPush *p)
{
    for (size_t i = 0; i < bill->n_invoices; i++) {
        invoice__free_unpacked(bill->invoices[i], NULL);
    }
    free(bill->invoices);
    bill->invoices = NULL;
    bill->n_invoices = p->n_invoices;
    if (p->n_invoices > 0) {
        bill->invoices = xcalloc(p->n_invoices, sizeof *bill->invoices);
        for (size_t i = 0; i < p->n_invoices; i++) {
            bill->invoices[i] = xmalloc(sizeof *bill->invoices[i]);
            copy_invoice(bill->invoices[i], p->invoices[i]);
        }
    }
}

/* Records in the audit detail which pool fields the push changed. */
static void pool_field(json_t *changes, char **field, const char *name, const char *value)
{
    if (strcmp(*field, value) != 0) {
        json_object_set_new(changes, name, json_pack("{s:s, s:s}", "before", *field, "after",
                                                     value));
        set_string(field, value);
    }
}

/* Usage by organisation follows the bill: a new bill counts in its organisation, a
 * pool push that changes the organisation moves the bill's files and bytes. */
static int move_org_usage(struct txn *t, const BillRecord *bill, const char *old_org)
{
    struct usage_delta add = {.bytes = (int64_t)bill->bytes, .files = bill->files, .bills = 1};
    struct usage_delta sub = {.bytes = -add.bytes, .files = -add.files, .bills = -1};
    struct key k;
    int rv;
    if (t->res->created) {
        struct usage_delta d = {.bills = 1};
        return count_usage(t, bill->org, &d);
    }
    if (strcmp(old_org, bill->org) == 0) {
        return 0;
    }
    key_pair(&k, t->cmd->tenant, old_org);
    if ((rv = adjust_usage(t, &k, &sub)) != 0) {
        return rv;
    }
    key_pair(&k, t->cmd->tenant, bill->org);
    return adjust_usage(t, &k, &add);
}

int apply_pool_push(struct txn *t, const PoolPush *p)
{
    BillRecord *bill = NULL;
    json_t *changes = json_object();
    char *old_org = NULL;
    char msg[160];
    int rv;

    if (!archive_valid_image_no(p->image_no)) {
        refuse(t, ARCHIVE_R_INVALID, "invalid image number");
        json_decref(changes);
        return 0;
    }
    if (!archive_pool_identity_valid(p, msg, sizeof msg)) {
        refuse(t, ARCHIVE_R_INVALID, "%s", msg);
        json_decref(changes);
        return 0;
    }
    rv = load_bill(t, p->image_no, &bill);
    if (rv == BASE_ENOTFOUND) {
        bill = new_bill(t, p->image_no, BILL_PENDING_UPLOAD);
        t->res->created = true;
        rv = 0;
    } else if (rv != 0) {
        goto out;
    }
    /* The ERP's bill id is the bill's for good: a push that leaves it out keeps it. */
    if ((rv = fbill_claim(t, bill, p->fbill_id)) != 0) {
        rv = rv > 0 ? 0 : rv;
        goto out;
    }
    if (p->fbill_id[0] != '\0') {
        pool_field(changes, &bill->fbill_id, "fbill_id", p->fbill_id);
    }
    old_org = xstrdup(bill->org);
    pool_field(changes, &bill->bill_no, "bill_no", p->bill_no);
    pool_field(changes, &bill->bill_type, "bill_type", p->bill_type);
    pool_field(changes, &bill->org, "org", p->org);
    pool_field(changes, &bill->submitter, "submitter", p->submitter);
    pool_field(changes, &bill->amount, "amount", p->amount);
    pool_field(changes, &bill->currency, "currency", p->currency);
    pool_field(changes, &bill->source, "source", p->source);
    pool_field(changes, &bill->bill_type_name, "bill_type_name", p->bill_type_name);
    pool_field(changes, &bill->submitter_phone, "submitter_phone", p->submitter_phone);
    pool_field(changes, &bill->submitter_erp_name, "submitter_erp_name", p->submitter_erp_name);
    pool_field(changes, &bill->org_name, "org_name", p->org_name);
    pool_field(changes, &bill->tax_no, "tax_no", p->tax_no);
    if (p->n_invoices != bill->n_invoices || json_object_size(changes) > 0 || !bill->in_pool) {
        json_object_set_new(changes, "invoices", json_integer((json_int_t)p->n_invoices));
    }
    replace_invoices(bill, p);
    bill->in_pool = true;
    if ((rv = move_org_usage(t, bill, old_org)) != 0) {
        goto out;
    }
    audit(t, bill, t->res->created ? "pool_created" : "pool_updated",
          json_pack("{s:o}", "changes", changes));
    changes = NULL;
    if (t->res->created && (rv = announce_state(t, bill, NULL)) != 0) {
        goto out;
    }
    store_bill(t, bill);
    result_bill(t, bill);
    rv = 0;
out:
    free(old_org);
    json_decref(changes);
    archive_free_bill(bill);
    return rv;
}

/* The category a new file gets: the capturer's choice, else the classification. */
static const char *classify(const AddFile *f)
{
    if (f->category[0] != '\0') {
        return f->category;
    }
    if (f->recognize) {
        return "invoice"; /* asked to be read as an invoice */
    }
    if (f->has_cover_code) {
        return "cover";
    }
    if (f->structured_invoice || (f->invoice != NULL && f->invoice->number[0] != '\0')) {
        return "invoice";
    }
    return "attachment";
}

/* Captures are open before submit; after it, only a supplementary scan (a bill with a
 * cover accepts further invoices and attachments, its state unchanged). */
bool capture_allowed(struct txn *t, const BillRecord *bill, const char *category)
{
    const char *s = bill->state;
    if (strcmp(s, "pending_upload") == 0 || strcmp(s, "captured") == 0 ||
        strcmp(s, "returned") == 0) {
        return true;
    }
    if (strcmp(category, "cover") == 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE,
               "bill %s is %s: a supplementary scan may add invoices and attachments, not a "
               "cover",
               bill->image_no, s);
        return false;
    }
    if (bill->covers == 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE,
               "bill %s is %s and has no cover: a supplementary scan needs a bill with a cover",
               bill->image_no, s);
        return false;
    }
    return true;
}

/* One more reference to a blob in @cf under key @k (and @holders, for the
 * cross-tenant record); *@fresh when it is the first. */
int ref_blob(struct txn *t, enum archive_cf cf, const struct key *k, uint64_t size,
             const uint64_t *holders, size_t n_holders, bool *fresh)
{
    BlobRecord *blob;
    int rv = archive_load_record(t->a, cf, k, &blob_record__descriptor,
                                 (ProtobufCMessage **)&blob, t->err);
    *fresh = rv == BASE_ENOTFOUND;
    if (*fresh) {
        blob = xmalloc(sizeof *blob);
        blob_record__init(blob);
        blob->size = size;
        rv = 0;
    } else if (rv != 0) {
        return rv;
    }
    blob->refs++;
    blob->released_ms = 0;
    add_holders(blob, holders, n_holders);
    rv = put_blob(t, cf, k, blob);
    /* Either kind (unpacked, or built here with malloc) owns only malloc()ed parts. */
    protobuf_c_message_free_unpacked(&blob->base, NULL);
    return rv;
}

/* Counts a reference to a blob, across tenants (what garbage collection and reads from
 * other nodes need: its holders) and for the tenant (*@fresh: the tenant stores this
 * content for the first time, so its physical usage grows). */
static int count_blob_ref(struct txn *t, const AddFile *f, bool *fresh)
{
    struct key k = {.len = f->blob.len};
    bool any_fresh;
    int rv;
    if (f->blob.len != 32) {
        return BASE_EINVAL;
    }
    memcpy(k.buf, f->blob.data, f->blob.len);
    if ((rv = ref_blob(t, ARCHIVE_CF_BLOBS, &k, f->size, f->holders, f->n_holders,
                       &any_fresh)) != 0) {
        return rv;
    }
    key_tenant_prefix(&k, t->cmd->tenant);
    memcpy(k.buf + k.len, f->blob.data, f->blob.len);
    k.len += f->blob.len;
    return ref_blob(t, ARCHIVE_CF_TENANT_BLOBS, &k, f->size, NULL, 0, fresh);
}

static void store_file(struct txn *t, const AddFile *f, const char *category, bool amended)
{
    FileRecord rec = FILE_RECORD__INIT;
    Recognition recognition = RECOGNITION__INIT;
    struct key k;
    rec.amended = amended;
    rec.batch = f->batch;
    rec.invoice = f->invoice != NULL && f->invoice->number[0] != '\0' ? f->invoice : NULL;
    if (f->batch[0] != '\0') {
        key_triple(&k, t->cmd->tenant, f->batch, f->file_id);
        rocks_batch_put(t->batch, ARCHIVE_CF_BATCHES, k.buf, k.len, f->image_no,
                        strlen(f->image_no));
    }
    rec.file_id = f->file_id;
    rec.image_no = f->image_no;
    rec.name = f->name;
    rec.format = f->format;
    rec.size = f->size;
    rec.pages = f->pages;
    rec.category = (char *)category;
    rec.blob = f->blob;
    rec.check = f->check;
    rec.captured_by = t->cmd->operator_;
    rec.captured_ms = t->cmd->time_ms;
    rec.index = t->index;
    /* Recognition fills an invoice's missing data; data given with the file wins. */
    if (f->recognize && rec.invoice == NULL && strcmp(category, "invoice") == 0) {
        recognition_request(t, &recognition, f->file_id);
        rec.recognition = &recognition;
    }
    key_pair(&k, t->cmd->tenant, f->file_id);
    put_record(t, ARCHIVE_CF_FILES, &k, &rec.base);
}

static int check_add_file(struct txn *t, const AddFile *f)
{
    if (!archive_valid_image_no(f->image_no) || f->file_id[0] == '\0' || f->blob.len != 32 ||
        f->name[0] == '\0' || (f->batch[0] != '\0' && !archive_valid_tenant(f->batch))) {
        refuse(t, ARCHIVE_R_INVALID, "malformed capture command");
        return 1;
    }
    return 0;
}

int apply_add_file(struct txn *t, const AddFile *f)
{
    BillRecord *bill = NULL;
    BillOrder *order = NULL;
    bool fresh = false, known;
    char *category = xstrdup(classify(f));
    char hex[65];
    uint32_t position = 0;
    struct key k;
    int rv = 0;

    if (check_add_file(t, f) != 0) {
        goto out;
    }
    /* The proposer picks a new random id; one in use (a forged or duplicated entry)
     * would overwrite that file and list it twice, perhaps in another bill. */
    key_pair(&k, t->cmd->tenant, f->file_id);
    if ((rv = record_exists(t, ARCHIVE_CF_FILES, &k, &known)) != 0) {
        goto out;
    }
    if (known) {
        refuse(t, ARCHIVE_R_INVALID, "file id %.64s is in use already: a capture needs a new "
               "file id", f->file_id);
        goto out;
    }
    if ((rv = category_known(t, category, &known)) != 0) {
        goto out;
    }
    if (!known) {
        refuse(t, ARCHIVE_R_INVALID_CATEGORY, "unknown category '%.32s': cover, invoice, "
               "attachment or a category of the tenant (GET /api/v1/categories)", category);
        goto out;
    }
    rv = load_bill(t, f->image_no, &bill);
    if (rv == BASE_ENOTFOUND && f->replace[0] == '\0') {
        bill = new_bill(t, f->image_no, BILL_CAPTURED);
        t->res->created = true;
        rv = 0;
    } else if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_BILL_NOT_FOUND, "no bill with image number %s", f->image_no);
        rv = 0;
        goto out;
    }
    if (rv != 0 || (rv = load_order(t, f->image_no, &order)) != 0) {
        goto out;
    }
    if (f->replace[0] != '\0') {
        if (!replace_file(t, bill, order, f, &category, &position, &rv)) {
            goto out;
        }
    } else {
        if (!capture_allowed(t, bill, category)) {
            goto out;
        }
        position = insert_file(order, f->file_id, f->after);
        if (position == 0) {
            refuse(t, ARCHIVE_R_FILE_NOT_FOUND, "file %s named by 'after' is not a file of "
                   "bill %s", f->after, f->image_no);
            goto out;
        }
    }
    if (strcmp(bill->state, "pending_upload") == 0 || strcmp(bill->state, "returned") == 0) {
        rv = set_state(t, bill, BILL_CAPTURED);
    } else if (t->res->created) {
        rv = announce_state(t, bill, NULL);
    }
    if (rv != 0) {
        goto out;
    }
    /* Files a sync-mode bill gets after it is ready are amends: never matched. */
    store_file(t, f, category, state_in(bill, AMENDABLE) && strcmp(bill->mode, "sync") == 0);
    store_order(t, f->image_no, order);
    bill->files++;
    count_category(bill, category, +1);
    bill->bytes += f->size;
    if ((rv = count_blob_ref(t, f, &fresh)) != 0) {
        goto out;
    }
    {
        struct usage_delta d = {.bytes = (int64_t)f->size, .files = 1,
                                .bills = t->res->created ? 1 : 0,
                                .physical = fresh ? (int64_t)f->size : 0};
        if ((rv = count_usage(t, bill->org, &d)) != 0) {
            goto out;
        }
    }
    hex_encode(f->blob.data, f->blob.len, hex);
    audit(t, bill, "file_added",
          json_pack("{s:s, s:s, s:s, s:I, s:s, s:i}", "file_id", f->file_id, "name", f->name,
                    "category", category, "size", (json_int_t)f->size, "blob", hex, "position",
                    (int)position));
    store_bill(t, bill);
    result_bill(t, bill);
    snprintf(t->res->file_id, sizeof t->res->file_id, "%s", f->file_id);
    snprintf(t->res->category, sizeof t->res->category, "%s", category);
    t->res->position = position;
out:
    free(category);
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
    archive_free_bill(bill);
    return rv;
}
