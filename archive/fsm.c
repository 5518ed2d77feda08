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

#include "archive/keys.h"
#include "archive/license.h"
#include "archive/nodes.h"
#include "archive/users.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/mem.h"

/* What one apply is building. */
struct txn {
    struct archive *a;
    struct rocks_batch *batch;
    const Command *cmd;
    uint64_t index;
    struct archive_result *res;
    struct base_err *err;
};

static void refuse(struct txn *t, enum archive_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct txn *t, enum archive_status status, const char *fmt, ...)
{
    va_list ap;
    t->res->status = status;
    va_start(ap, fmt);
    vsnprintf(t->res->message, sizeof t->res->message, fmt, ap);
    va_end(ap);
}

static void put_record(struct txn *t, enum rocks_cf cf, const struct key *k,
                       const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = xmalloc(n);
    protobuf_c_message_pack(msg, buf);
    rocks_batch_put(t->batch, cf, k->buf, k->len, buf, n);
    free(buf);
}

/* Whether a record is stored under @k (*@found); a store error otherwise. */
static int record_exists(struct txn *t, enum rocks_cf cf, const struct key *k, bool *found)
{
    char *val;
    size_t vlen;
    int rv = rocks_get(t->a->db, cf, k->buf, k->len, &val, &vlen, t->err);
    *found = rv == 0;
    if (rv == 0) {
        free(val);
    }
    return rv == BASE_ENOTFOUND ? 0 : rv;
}

static void key_one(struct key *k, const char *s)
{
    k->len = strlen(s);
    memcpy(k->buf, s, k->len);
}


/* An administrative action of (or for) a tenant, in its admin audit log. */
static void admin_audit(struct txn *t, const char *tenant, const char *action, json_t *detail)
{
    AuditRecord rec = AUDIT_RECORD__INIT;
    struct key k;
    uint8_t be[8];
    char *text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    rec.index = t->index;
    rec.time_ms = t->cmd->time_ms;
    rec.action = (char *)action;
    rec.operator_ = t->cmd->operator_;
    rec.request_id = t->cmd->request_id;
    rec.detail = text;
    key_tenant_prefix(&k, tenant);
    rocks_put_be64(be, t->index);
    memcpy(k.buf + k.len, be, sizeof be);
    k.len += sizeof be;
    put_record(t, ROCKS_CF_ADMIN_AUDIT, &k, &rec.base);
    free(text);
    json_decref(detail);
}

static json_t *license_detail(const License *l)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:i}", "license_id", l->license_id, "issued_ms",
                     (json_int_t)l->issued_ms, "expires_ms", (json_int_t)l->expires_ms,
                     "quota_bytes", (json_int_t)l->quota_bytes, "max_files",
                     (json_int_t)l->max_files, "modes", (int)l->modes);
}

static void audit(struct txn *t, BillRecord *bill, const char *action, json_t *detail)
{
    AuditRecord rec = AUDIT_RECORD__INIT;
    struct key k;
    char *text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    rec.index = t->index;
    rec.time_ms = t->cmd->time_ms;
    rec.action = (char *)action;
    rec.operator_ = t->cmd->operator_;
    rec.request_id = t->cmd->request_id;
    rec.detail = text;
    bill->audit_seq++;
    key_audit(&k, t->cmd->tenant, bill->image_no, bill->audit_seq);
    put_record(t, ROCKS_CF_AUDIT, &k, &rec.base);
    free(text);
    json_decref(detail);
}

/* Changes to usage counters made by one command. */
struct usage_delta {
    int64_t bytes;
    int64_t files;
    int64_t bills;
    int64_t physical;
};

static int adjust_usage(struct txn *t, const struct key *k, const struct usage_delta *d)
{
    UsageRecord *u;
    int rv = archive_load_record(t->a, ROCKS_CF_USAGE, k, &usage_record__descriptor,
                         (ProtobufCMessage **)&u, t->err);
    if (rv == BASE_ENOTFOUND) {
        u = xmalloc(sizeof *u);
        usage_record__init(u);
    } else if (rv != 0) {
        return rv;
    }
    u->bytes = (uint64_t)((int64_t)u->bytes + d->bytes);
    u->files = (uint64_t)((int64_t)u->files + d->files);
    u->bills = (uint64_t)((int64_t)u->bills + d->bills);
    u->physical_bytes = (uint64_t)((int64_t)u->physical_bytes + d->physical);
    put_record(t, ROCKS_CF_USAGE, k, &u->base);
    /* Both kinds (unpacked, or xmalloc()ed here) own nothing but the message. */
    protobuf_c_message_free_unpacked(&u->base, NULL);
    return 0;
}

/* Adjusts the tenant's usage and that of organisation @org, once per command (each
 * call reads the store, not the batch being built). */
static int count_usage(struct txn *t, const char *org, const struct usage_delta *d)
{
    struct key k = {.len = strlen(t->cmd->tenant)};
    struct usage_delta o = *d;
    int rv;
    memcpy(k.buf, t->cmd->tenant, k.len);
    if ((rv = adjust_usage(t, &k, d)) != 0) {
        return rv;
    }
    key_pair(&k, t->cmd->tenant, org);
    o.physical = 0;
    return adjust_usage(t, &k, &o);
}

static int load_bill(struct txn *t, const char *image_no, BillRecord **out)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, image_no);
    return archive_load_record(t->a, ROCKS_CF_BILLS, &k, &bill_record__descriptor,
                       (ProtobufCMessage **)out, t->err);
}

static void store_bill(struct txn *t, BillRecord *bill)
{
    struct key k;
    bill->updated_ms = t->cmd->time_ms;
    key_pair(&k, t->cmd->tenant, bill->image_no);
    put_record(t, ROCKS_CF_BILLS, &k, &bill->base);
}

/* A bill made by this command. Like unpacked records, every field is malloc()ed, so
 * archive_free_bill() releases either kind. */
static BillRecord *new_bill(struct txn *t, const char *image_no, const char *state)
{
    BillRecord *bill = xmalloc(sizeof *bill);
    bill_record__init(bill);
    bill->image_no = xstrdup(image_no);
    bill->state = xstrdup(state);
    bill->created_ms = t->cmd->time_ms;
    return bill;
}

static void set_string(char **field, const char *value)
{
    /* Fields of unpacked records were allocated by protobuf-c with malloc. */
    if (*field != NULL && *field != protobuf_c_empty_string) {
        free(*field);
    }
    *field = xstrdup(value != NULL ? value : "");
}

static void set_state(struct txn *t, BillRecord *bill, const char *state)
{
    json_t *detail;
    if (strcmp(bill->state, state) == 0) {
        return;
    }
    detail = json_pack("{s:s, s:s}", "before", bill->state, "after", state);
    set_string(&bill->state, state);
    audit(t, bill, "state_changed", detail);
}

static void result_bill(struct txn *t, const BillRecord *bill)
{
    snprintf(t->res->image_no, sizeof t->res->image_no, "%s", bill->image_no);
    snprintf(t->res->state, sizeof t->res->state, "%s", bill->state);
}


static void copy_invoice(Invoice *dst, const Invoice *src)
{
    invoice__init(dst);
    dst->number = xstrdup(src->number);
    dst->code = xstrdup(src->code);
    dst->date = xstrdup(src->date);
    dst->amount = xstrdup(src->amount);
    dst->tax = xstrdup(src->tax);
    dst->total = xstrdup(src->total);
}

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

static int apply_pool_push(struct txn *t, const PoolPush *p)
{
    BillRecord *bill = NULL;
    json_t *changes = json_object();
    char *old_org = NULL;
    int rv;

    if (!archive_valid_image_no(p->image_no)) {
        refuse(t, ARCHIVE_R_INVALID, "invalid image number");
        json_decref(changes);
        return 0;
    }
    rv = load_bill(t, p->image_no, &bill);
    if (rv == BASE_ENOTFOUND) {
        bill = new_bill(t, p->image_no, "pending_upload");
        t->res->created = true;
        rv = 0;
    } else if (rv != 0) {
        goto out;
    }
    old_org = xstrdup(bill->org);
    pool_field(changes, &bill->bill_no, "bill_no", p->bill_no);
    pool_field(changes, &bill->bill_type, "bill_type", p->bill_type);
    pool_field(changes, &bill->org, "org", p->org);
    pool_field(changes, &bill->submitter, "submitter", p->submitter);
    pool_field(changes, &bill->amount, "amount", p->amount);
    pool_field(changes, &bill->currency, "currency", p->currency);
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
    if (f->has_cover_code) {
        return "cover";
    }
    if (f->structured_invoice) {
        return "invoice";
    }
    return "attachment";
}

/* Counts a file of @category into the bill's per-category totals (@delta +1 or -1). */
static void count_category(BillRecord *bill, const char *category, int delta)
{
    uint32_t *n = strcmp(category, "cover") == 0     ? &bill->covers
                  : strcmp(category, "invoice") == 0 ? &bill->invoice_files
                                                     : &bill->attachments;
    *n = (uint32_t)((int64_t)*n + delta);
}

/* Captures are open before submit; after it, only a supplementary scan (a bill with a
 * cover accepts further invoices and attachments, its state unchanged). */
static bool capture_allowed(struct txn *t, const BillRecord *bill, const char *category)
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

/* Inserts @file_id after @after (or at the end); returns the 1-based position, or 0
 * when @after is not a file of the bill. */
static uint32_t insert_file(BillOrder *order, const char *file_id, const char *after)
{
    size_t at = order->n_file_ids;
    if (after[0] != '\0') {
        size_t i;
        for (i = 0; i < order->n_file_ids; i++) {
            if (strcmp(order->file_ids[i], after) == 0) {
                break;
            }
        }
        if (i == order->n_file_ids) {
            return 0;
        }
        at = i + 1;
    }
    order->file_ids =
        xrealloc(order->file_ids, (order->n_file_ids + 1) * sizeof *order->file_ids);
    memmove(&order->file_ids[at + 1], &order->file_ids[at],
            (order->n_file_ids - at) * sizeof *order->file_ids);
    order->file_ids[at] = xstrdup(file_id);
    order->n_file_ids++;
    return (uint32_t)at + 1;
}

/* The bill's file order; an empty one (malloc()ed like an unpacked record) when the
 * bill has none yet. */
static int load_order(struct txn *t, const char *image_no, BillOrder **out)
{
    struct key k;
    int rv;
    key_pair(&k, t->cmd->tenant, image_no);
    rv = archive_load_record(t->a, ROCKS_CF_ORDER, &k, &bill_order__descriptor,
                     (ProtobufCMessage **)out, t->err);
    if (rv == BASE_ENOTFOUND) {
        *out = xmalloc(sizeof **out);
        bill_order__init(*out);
        rv = 0;
    }
    return rv;
}

static void store_order(struct txn *t, const char *image_no, BillOrder *order)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, image_no);
    put_record(t, ROCKS_CF_ORDER, &k, &order->base);
}

/* One more reference to a blob in @cf under key @k; *@fresh when it is the first. */
static int ref_blob(struct txn *t, enum rocks_cf cf, const struct key *k, uint64_t size,
                    bool *fresh)
{
    BlobRecord *blob;
    int rv = archive_load_record(t->a, cf, k, &blob_record__descriptor, (ProtobufCMessage **)&blob,
                         t->err);
    *fresh = rv == BASE_ENOTFOUND;
    if (*fresh) {
        BlobRecord first = BLOB_RECORD__INIT;
        first.size = size;
        first.refs = 1;
        put_record(t, cf, k, &first.base);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    blob->refs++;
    put_record(t, cf, k, &blob->base);
    blob_record__free_unpacked(blob, NULL);
    return 0;
}

/* Counts a reference to a blob, across tenants (what garbage collection needs) and
 * for the tenant (*@fresh: the tenant stores this content for the first time, so its
 * physical usage grows). */
static int count_blob_ref(struct txn *t, const ProtobufCBinaryData *hash, uint64_t size,
                          bool *fresh)
{
    struct key k = {.len = hash->len};
    bool any_fresh;
    int rv;
    if (hash->len != 32) {
        return BASE_EINVAL;
    }
    memcpy(k.buf, hash->data, hash->len);
    if ((rv = ref_blob(t, ROCKS_CF_BLOBS, &k, size, &any_fresh)) != 0) {
        return rv;
    }
    key_tenant_prefix(&k, t->cmd->tenant);
    memcpy(k.buf + k.len, hash->data, hash->len);
    k.len += hash->len;
    return ref_blob(t, ROCKS_CF_TENANT_BLOBS, &k, size, fresh);
}

static void store_file(struct txn *t, const AddFile *f, const char *category)
{
    FileRecord rec = FILE_RECORD__INIT;
    struct key k;
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
    key_pair(&k, t->cmd->tenant, f->file_id);
    put_record(t, ROCKS_CF_FILES, &k, &rec.base);
}

static int check_add_file(struct txn *t, const AddFile *f)
{
    if (!archive_valid_image_no(f->image_no) || f->file_id[0] == '\0' || f->blob.len != 32 ||
        f->name[0] == '\0') {
        refuse(t, ARCHIVE_R_INVALID, "malformed capture command");
        return 1;
    }
    if (f->category[0] != '\0' && !archive_valid_category(f->category)) {
        refuse(t, ARCHIVE_R_INVALID_CATEGORY,
               "unknown category '%s'; use cover, invoice or attachment", f->category);
        return 1;
    }
    return 0;
}

static int apply_add_file(struct txn *t, const AddFile *f)
{
    BillRecord *bill = NULL;
    BillOrder *order = NULL;
    bool fresh = false;
    const char *category = classify(f);
    char hex[65];
    uint32_t position;
    int rv;

    if (check_add_file(t, f) != 0) {
        return 0;
    }
    rv = load_bill(t, f->image_no, &bill);
    if (rv == BASE_ENOTFOUND) {
        bill = new_bill(t, f->image_no, "captured");
        t->res->created = true;
        rv = 0;
    }
    if (rv != 0 || !capture_allowed(t, bill, category) ||
        (rv = load_order(t, f->image_no, &order)) != 0) {
        goto out;
    }
    position = insert_file(order, f->file_id, f->after);
    if (position == 0) {
        refuse(t, ARCHIVE_R_FILE_NOT_FOUND, "file %s named by 'after' is not a file of bill %s",
               f->after, f->image_no);
        goto out;
    }
    if (strcmp(bill->state, "pending_upload") == 0) {
        set_state(t, bill, "captured");
    }
    store_file(t, f, category);
    store_order(t, f->image_no, order);
    bill->files++;
    count_category(bill, category, +1);
    bill->bytes += f->size;
    if ((rv = count_blob_ref(t, &f->blob, f->size, &fresh)) != 0) {
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
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
    archive_free_bill(bill);
    return rv;
}

static int apply_submit(struct txn *t, const SubmitBill *s)
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
        set_state(t, bill, "submitted");
        /* Bill types and schemes are not configured yet: every bill is basic mode,
         * complete once submitted. */
        set_state(t, bill, "ready");
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
    return 0;
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

/* ---- Cluster, tenants, licenses ---- */

static void store_tenant(struct txn *t, const TenantRecord *rec)
{
    struct key k = {.len = strlen(rec->id)};
    memcpy(k.buf, rec->id, k.len);
    put_record(t, ROCKS_CF_TENANTS, &k, &rec->base);
}

/* Keeps @l in force for @rec and in the tenant's license history. */
static void put_license(struct txn *t, TenantRecord *rec, License *l)
{
    struct key k;
    uint8_t be[8];
    l->installed_ms = t->cmd->time_ms;
    l->installed_index = t->index;
    key_tenant_prefix(&k, rec->id);
    rocks_put_be64(be, l->issued_ms);
    memcpy(k.buf + k.len, be, sizeof be);
    k.len += sizeof be;
    memcpy(k.buf + k.len, l->license_id, strlen(l->license_id));
    k.len += strlen(l->license_id);
    put_record(t, ROCKS_CF_LICENSES, &k, &l->base);
    rec->license = l;
    store_tenant(t, rec);
}

/* The cluster's birth: its time, and the default tenant on an evaluation license. A
 * second InitCluster (a new leader that did not see the first applied yet) is a no-op. */
static int apply_init_cluster(struct txn *t)
{
    ClusterRecord c = CLUSTER_RECORD__INIT;
    TenantRecord rec = TENANT_RECORD__INIT;
    License l = LICENSE__INIT;
    uint8_t *buf;
    size_t n;
    if (archive_cluster_initialized(t->a)) {
        return 0;
    }
    if (t->cmd->init_cluster->token_key.len != 32) {
        refuse(t, ARCHIVE_R_INVALID, "InitCluster needs a 32-byte token key");
        return 0;
    }
    c.created_ms = t->cmd->time_ms;
    c.token_key = t->cmd->init_cluster->token_key;
    n = cluster_record__get_packed_size(&c);
    buf = xmalloc(n > 0 ? n : 1);
    cluster_record__pack(&c, buf);
    rocks_batch_put(t->batch, ROCKS_CF_META, KEY_CLUSTER, strlen(KEY_CLUSTER), buf, n);
    free(buf);
    rec.id = (char *)ARCHIVE_DEFAULT_TENANT;
    rec.name = (char *)"Default tenant";
    rec.created_ms = t->cmd->time_ms;
    l.license_id = (char *)"evaluation";
    l.tenant = rec.id;
    l.issued_ms = t->cmd->time_ms;
    l.expires_ms = t->cmd->time_ms + ARCHIVE_EVAL_DAYS * 24ull * 3600 * 1000;
    l.quota_bytes = ARCHIVE_EVAL_QUOTA_BYTES;
    l.modes = LICENSE_MODES_ALL;
    l.document = (char *)"";
    put_license(t, &rec, &l);
    admin_audit(t, rec.id, "cluster_initialized", json_pack("{s:o}", "license",
                                                             license_detail(&l)));
    return 0;
}

static int apply_create_client(struct txn *t, const CreateClient *c)
{
    ClientRecord rec = CLIENT_RECORD__INIT;
    struct key k;
    bool found;
    int rv;
    if (c->client_id == NULL || !archive_valid_tenant(c->client_id) ||
        c->secret_hash.len != 32 || c->name == NULL || strlen(c->name) > 256) {
        refuse(t, ARCHIVE_R_INVALID, "malformed client");
        return 0;
    }
    key_one(&k, t->cmd->tenant);
    if ((rv = record_exists(t, ROCKS_CF_TENANTS, &k, &found)) != 0 || !found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_TENANT_NOT_FOUND, "no tenant %s", t->cmd->tenant);
        }
        return rv;
    }
    key_one(&k, c->client_id);
    if ((rv = record_exists(t, ROCKS_CF_CLIENTS, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_CLIENT_EXISTS, "client %s exists already", c->client_id);
        }
        return rv;
    }
    rec.client_id = c->client_id;
    rec.tenant = t->cmd->tenant;
    rec.name = c->name;
    rec.secret_hash = c->secret_hash;
    rec.created_ms = t->cmd->time_ms;
    put_record(t, ROCKS_CF_CLIENTS, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "client_created",
                json_pack("{s:s, s:s}", "client_id", c->client_id, "name", c->name));
    return 0;
}

/* ---- Users and roles ---- */

static void store_user(struct txn *t, const UserRecord *u)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, u->username);
    put_record(t, ROCKS_CF_USERS, &k, &u->base);
}

/* Refuses a user whose roles are neither built in nor defined for the tenant. */
static bool roles_exist(struct txn *t, char **roles, size_t n, int *rv)
{
    *rv = 0;
    for (size_t i = 0; i < n; i++) {
        RoleRecord *r;
        if (archive_builtin_role(roles[i]) != 0) {
            continue;
        }
        *rv = archive_get_role(t->a, t->cmd->tenant, roles[i], &r, t->err);
        if (*rv == BASE_ENOTFOUND) {
            *rv = 0;
            refuse(t, ARCHIVE_R_ROLE_NOT_FOUND, "no role %s in tenant %s (built in: scanner, "
                   "reviewer, tenant_admin)", roles[i], t->cmd->tenant);
            return false;
        }
        if (*rv != 0) {
            return false;
        }
        role_record__free_unpacked(r, NULL);
    }
    return true;
}

static int apply_create_user(struct txn *t, const CreateUser *c)
{
    UserRecord rec = USER_RECORD__INIT;
    struct key k;
    bool found;
    int rv;
    if (c->username == NULL || !archive_valid_tenant(c->username) || c->password_hash == NULL ||
        strncmp(c->password_hash, "$argon2id$", 10) != 0 || c->name == NULL) {
        refuse(t, ARCHIVE_R_INVALID, "malformed user");
        return 0;
    }
    key_pair(&k, t->cmd->tenant, c->username);
    if ((rv = record_exists(t, ROCKS_CF_USERS, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_USER_EXISTS, "user %s exists already in tenant %s",
                   c->username, t->cmd->tenant);
        }
        return rv;
    }
    if (!roles_exist(t, c->roles, c->n_roles, &rv)) {
        return rv;
    }
    rec.username = c->username;
    rec.tenant = t->cmd->tenant;
    rec.name = c->name;
    rec.password_hash = c->password_hash;
    rec.roles = c->roles;
    rec.n_roles = c->n_roles;
    rec.created_ms = t->cmd->time_ms;
    store_user(t, &rec);
    admin_audit(t, t->cmd->tenant, "user_created", json_pack("{s:s, s:s}", "username",
                                                             c->username, "name", c->name));
    return 0;
}

static int apply_create_role(struct txn *t, const CreateRole *c)
{
    struct key k;
    bool found;
    int rv;
    if (c->name == NULL || !archive_valid_tenant(c->name) || archive_builtin_role(c->name)) {
        refuse(t, ARCHIVE_R_INVALID, "role names are 1-64 characters of A-Z a-z 0-9 . _ - "
                                     "and not scanner, reviewer or tenant_admin");
        return 0;
    }
    for (size_t i = 0; i < c->n_permissions; i++) {
        if (archive_perm_bit(c->permissions[i]) == 0) {
            refuse(t, ARCHIVE_R_INVALID, "unknown permission %s", c->permissions[i]);
            return 0;
        }
    }
    key_pair(&k, t->cmd->tenant, c->name);
    if ((rv = record_exists(t, ROCKS_CF_ROLES, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_ROLE_EXISTS, "role %s exists already", c->name);
        }
        return rv;
    }
    {
        RoleRecord rec = ROLE_RECORD__INIT;
        rec.name = c->name;
        rec.permissions = c->permissions;
        rec.n_permissions = c->n_permissions;
        put_record(t, ROCKS_CF_ROLES, &k, &rec.base);
    }
    admin_audit(t, t->cmd->tenant, "role_created", json_pack("{s:s}", "name", c->name));
    return 0;
}

/* Counts wrong passwords; the one that reaches the limit locks the account. */
static int apply_login_result(struct txn *t, const LoginResult *l)
{
    UserRecord *u;
    int rv = archive_get_user(t->a, t->cmd->tenant, l->username, &u, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_USER_NOT_FOUND, "no user %s", l->username);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (l->ok) {
        u->failures = 0;
    } else if (++u->failures >= l->max_failures && l->max_failures > 0) {
        u->failures = 0;
        u->locked_until_ms = t->cmd->time_ms + l->lock_ms;
        admin_audit(t, t->cmd->tenant, "user_locked",
                    json_pack("{s:s, s:I, s:i}", "username", l->username, "locked_until_ms",
                              (json_int_t)u->locked_until_ms, "after_failures",
                              (int)l->max_failures));
    }
    store_user(t, u);
    archive_free_user(u);
    return 0;
}

static int apply_unlock_user(struct txn *t, const UnlockUser *c)
{
    UserRecord *u;
    int rv = archive_get_user(t->a, t->cmd->tenant, c->username, &u, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_USER_NOT_FOUND, "no user %s in tenant %s", c->username,
               t->cmd->tenant);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    u->failures = 0;
    u->locked_until_ms = 0;
    store_user(t, u);
    admin_audit(t, t->cmd->tenant, "user_unlocked", json_pack("{s:s}", "username", c->username));
    archive_free_user(u);
    return 0;
}

/* ---- Organisations and grants ---- */

struct sibling_check {
    const char *id;     /* the organisation itself (not its own sibling) */
    const char *parent;
    const char *name;
    bool taken;
};

static void sibling_cb(const OrgRecord *o, void *arg)
{
    struct sibling_check *s = arg;
    if (strcmp(o->id, s->id) != 0 && strcmp(o->parent, s->parent) == 0 &&
        strcmp(o->name, s->name) == 0) {
        s->taken = true;
    }
}

/* Refuses a name taken among the siblings under @parent, a parent that does not exist,
 * or a tree that would be too deep; false after refusing (or on a store error). */
static bool org_place_ok(struct txn *t, const char *id, const char *parent, const char *name,
                         int *rv)
{
    struct sibling_check s = {.id = id, .parent = parent, .name = name};
    unsigned depth = 0;
    bool found;
    struct key k;
    *rv = 0;
    if (parent[0] != '\0') {
        key_pair(&k, t->cmd->tenant, parent);
        if ((*rv = record_exists(t, ROCKS_CF_ORGS, &k, &found)) != 0 || !found) {
            if (*rv == 0) {
                refuse(t, ARCHIVE_R_ORG_NOT_FOUND, "no organisation %s", parent);
            }
            return false;
        }
    }
    char buf[ARCHIVE_ID_MAX + 1];
    for (const char *p = parent; p[0] != '\0' && depth <= ARCHIVE_ORG_DEPTH_MAX; depth++) {
        OrgRecord *o;
        if ((*rv = archive_get_org(t->a, t->cmd->tenant, p, &o, t->err)) != 0) {
            *rv = *rv == BASE_ENOTFOUND ? 0 : *rv;
            break;
        }
        snprintf(buf, sizeof buf, "%s", o->parent);
        org_record__free_unpacked(o, NULL);
        p = buf;
    }
    if (*rv == 0 && depth >= ARCHIVE_ORG_DEPTH_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "organisations nest at most %d deep", ARCHIVE_ORG_DEPTH_MAX);
        return false;
    }
    if (*rv != 0 || (*rv = archive_list_orgs(t->a, t->cmd->tenant, sibling_cb, &s, t->err)) != 0) {
        return false;
    }
    if (s.taken) {
        refuse(t, ARCHIVE_R_ORG_EXISTS, "an organisation named '%s' exists already under %s",
               name, parent[0] != '\0' ? parent : "the top");
        return false;
    }
    return true;
}

static void store_org(struct txn *t, const OrgRecord *o)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, o->id);
    put_record(t, ROCKS_CF_ORGS, &k, &o->base);
}

static int apply_create_org(struct txn *t, const CreateOrg *c)
{
    OrgRecord rec = ORG_RECORD__INIT;
    struct key k;
    bool found;
    int rv;
    if (c->id == NULL || !archive_valid_tenant(c->id) || c->name == NULL || c->name[0] == '\0' ||
        strlen(c->name) > 256 || c->parent == NULL) {
        refuse(t, ARCHIVE_R_INVALID, "malformed organisation");
        return 0;
    }
    key_pair(&k, t->cmd->tenant, c->id);
    if ((rv = record_exists(t, ROCKS_CF_ORGS, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_ORG_EXISTS, "organisation %s exists already", c->id);
        }
        return rv;
    }
    if (!org_place_ok(t, c->id, c->parent, c->name, &rv)) {
        return rv;
    }
    rec.id = c->id;
    rec.name = c->name;
    rec.parent = c->parent;
    rec.created_ms = t->cmd->time_ms;
    store_org(t, &rec);
    admin_audit(t, t->cmd->tenant, "org_created", json_pack("{s:s, s:s, s:s}", "id", c->id,
                                                            "name", c->name, "parent",
                                                            c->parent));
    return 0;
}

static int apply_update_org(struct txn *t, const UpdateOrg *c)
{
    OrgRecord *o;
    const char *parent, *name;
    bool cycle = false;
    int rv = archive_get_org(t->a, t->cmd->tenant, c->id, &o, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_ORG_NOT_FOUND, "no organisation %s", c->id);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    parent = c->move ? c->parent : o->parent;
    name = c->name[0] != '\0' ? c->name : o->name;
    if (c->move && parent[0] != '\0' &&
        (rv = archive_org_within(t->a, t->cmd->tenant, parent, c->id, &cycle, t->err)) != 0) {
        goto out;
    }
    if (cycle) {
        refuse(t, ARCHIVE_R_ORG_CYCLE, "organisation %s cannot move under %s, which is itself "
               "or inside it", c->id, parent);
    } else if (strlen(name) <= 256 && org_place_ok(t, c->id, parent, name, &rv)) {
        json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", c->id, "name_before",
                                   o->name, "name_after", name, "parent_before", o->parent,
                                   "parent_after", parent);
        OrgRecord rec = *o;
        rec.name = (char *)name;
        rec.parent = (char *)parent;
        store_org(t, &rec);
        admin_audit(t, t->cmd->tenant, c->move ? "org_moved" : "org_renamed", detail);
    }
out:
    org_record__free_unpacked(o, NULL);
    return rv;
}

static int apply_set_grants(struct txn *t, const SetGrants *c)
{
    UserRecord *u;
    json_t *orgs = json_array();
    Grant **old_grants;
    size_t old_n;
    int rv;
    for (size_t i = 0; i < c->n_grants; i++) {
        const char *org = c->grants[i]->org;
        if (org == NULL || (strcmp(org, "*") != 0 && !archive_valid_tenant(org))) {
            refuse(t, ARCHIVE_R_INVALID, "a grant names an organisation id or \"*\"");
            json_decref(orgs);
            return 0;
        }
        json_array_append_new(orgs, json_pack("{s:s, s:b}", "org", org, "include_children",
                                              c->grants[i]->include_children));
    }
    rv = archive_get_user(t->a, t->cmd->tenant, c->username, &u, t->err);
    if (rv != 0) {
        if (rv == BASE_ENOTFOUND) {
            refuse(t, ARCHIVE_R_USER_NOT_FOUND, "no user %s", c->username);
        }
        json_decref(orgs);
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    old_grants = u->grants;
    old_n = u->n_grants;
    u->grants = c->grants;
    u->n_grants = c->n_grants;
    store_user(t, u);
    u->grants = old_grants; /* the unpacked record frees its own */
    u->n_grants = old_n;
    archive_free_user(u);
    admin_audit(t, t->cmd->tenant, "grants_set", json_pack("{s:s, s:o}", "username",
                                                           c->username, "grants", orgs));
    return 0;
}

static int apply_create_tenant(struct txn *t, const CreateTenant *c)
{
    TenantRecord rec = TENANT_RECORD__INIT;
    struct key k;
    bool found;
    int rv;
    if (c->id == NULL || !archive_valid_tenant(c->id) || c->name == NULL ||
        strlen(c->name) > 256) {
        refuse(t, ARCHIVE_R_INVALID, "tenant ids are 1-64 characters of A-Z a-z 0-9 . _ - "
                                     "and names at most 256 bytes");
        return 0;
    }
    key_one(&k, c->id);
    if ((rv = record_exists(t, ROCKS_CF_TENANTS, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_TENANT_EXISTS, "tenant %s exists already", c->id);
        }
        return rv;
    }
    rec.id = c->id;
    rec.name = c->name;
    rec.created_ms = t->cmd->time_ms;
    store_tenant(t, &rec);
    admin_audit(t, c->id, "tenant_created", json_pack("{s:s, s:s}", "id", c->id, "name",
                                                      c->name));
    return 0;
}

/* Why a license may not replace the one in force; ARCHIVE_OK when it may. */
static enum archive_status license_acceptable(struct txn *t, const License *cur,
                                              const License *l)
{
    char when[40];
    if (t->cmd->time_ms >= l->expires_ms) {
        clock_format_rfc3339(l->expires_ms, when, sizeof when);
        refuse(t, ARCHIVE_R_LICENSE, "license expired or not installed: license %s expired "
               "at %s; install a renewed one", l->license_id, when);
        return ARCHIVE_R_LICENSE;
    }
    if (l->issued_ms > t->cmd->time_ms + ARCHIVE_LICENSE_SKEW_MS) {
        clock_format_rfc3339(l->issued_ms, when, sizeof when);
        refuse(t, ARCHIVE_R_LICENSE_INVALID, "license %s is not valid yet: it is issued at %s; "
               "check the clocks of the signer and of this cluster", l->license_id, when);
        return ARCHIVE_R_LICENSE_INVALID;
    }
    if (cur != NULL && cur->issued_ms >= l->issued_ms) {
        clock_format_rfc3339(cur->issued_ms, when, sizeof when);
        refuse(t, ARCHIVE_R_LICENSE_SUPERSEDED, "license %s is superseded: license %s, "
               "issued at %s, is in force; only a license issued later replaces it",
               l->license_id, cur->license_id, when);
        return ARCHIVE_R_LICENSE_SUPERSEDED;
    }
    return ARCHIVE_OK;
}

static int apply_install_license(struct txn *t, const InstallLicense *cmd)
{
    License *l = cmd->license;
    TenantRecord *rec;
    int rv;
    if (l == NULL || l->tenant == NULL || strcmp(l->tenant, t->cmd->tenant) != 0) {
        refuse(t, ARCHIVE_R_LICENSE_INVALID, "the license is for another tenant");
        return 0;
    }
    rv = archive_get_tenant(t->a, l->tenant, &rec, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_TENANT_NOT_FOUND, "no tenant %s; create it first", l->tenant);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (rec->license != NULL && strcmp(rec->license->license_id, l->license_id) == 0 &&
        rec->license->issued_ms == l->issued_ms &&
        strcmp(rec->license->document, l->document) == 0) {
        t->res->replayed = true; /* that very license is in force already */
    } else if (license_acceptable(t, rec->license, l) == ARCHIVE_OK) {
        License *prev = rec->license;
        json_t *detail = json_pack("{s:o, s:o}", "license", license_detail(l), "replaces",
                                   prev != NULL ? license_detail(prev) : json_null());
        put_license(t, rec, l);
        rec->license = prev; /* the unpacked record frees its own */
        admin_audit(t, l->tenant, "license_installed", detail);
        t->res->created = true;
    }
    archive_free_tenant(rec);
    return 0;
}

/* ---- Cluster members ---- */

static void key_node(struct key *k, uint64_t id)
{
    rocks_put_be64((uint8_t *)k->buf, id);
    k->len = 8;
}

/* The member's record, or a fresh one (every field malloc()ed, like unpacked ones). */
static int load_node(struct txn *t, uint64_t id, NodeRecord **out, bool *found)
{
    int rv = archive_get_node(t->a, id, out, t->err);
    *found = rv == 0;
    if (rv != BASE_ENOTFOUND) {
        return rv;
    }
    *out = xmalloc(sizeof **out);
    node_record__init(*out);
    (*out)->id = id;
    (*out)->http = xstrdup("");
    (*out)->raft = xstrdup("");
    (*out)->zone = xstrdup("");
    return 0;
}

static void store_node(struct txn *t, NodeRecord *n)
{
    struct key k;
    n->updated_ms = t->cmd->time_ms;
    key_node(&k, n->id);
    put_record(t, ROCKS_CF_NODES, &k, &n->base);
}

static int apply_register_node(struct txn *t, const RegisterNode *c)
{
    NodeRecord *n;
    bool found;
    int rv;
    if (c->id == 0 || c->http == NULL || !archive_valid_address(c->http) || c->raft == NULL ||
        !archive_valid_address(c->raft) || c->zone == NULL || !archive_valid_zone(c->zone)) {
        refuse(t, ARCHIVE_R_INVALID, "malformed node registration");
        return 0;
    }
    if ((rv = load_node(t, c->id, &n, &found)) != 0) {
        return rv;
    }
    if (n->removed) {
        refuse(t, ARCHIVE_R_INVALID, "node %llu was removed from the cluster; a node joins "
               "again only with a new id (an empty data dir)", (unsigned long long)c->id);
    } else {
        set_string(&n->http, c->http);
        set_string(&n->raft, c->raft);
        set_string(&n->zone, c->zone);
        if (!found) {
            n->joined_ms = t->cmd->time_ms;
        }
        store_node(t, n);
        t->res->created = !found;
    }
    archive_free_node(n);
    return 0;
}

/* Marks a member removed, registered or not (a node may leave before it registered). */
static int apply_remove_node(struct txn *t, const RemoveNode *c)
{
    NodeRecord *n;
    bool found;
    int rv;
    if (c->id == 0) {
        refuse(t, ARCHIVE_R_INVALID, "malformed node removal");
        return 0;
    }
    if ((rv = load_node(t, c->id, &n, &found)) != 0) {
        return rv;
    }
    if (n->removed) {
        t->res->replayed = true;
    } else {
        n->removed = true;
        n->removed_ms = t->cmd->time_ms;
        store_node(t, n);
    }
    archive_free_node(n);
    return 0;
}

/* Content writes need the tenant's license in force at the command's time, the image
 * mode licensed, and room in the quota. False (refused, or *@rv a store error) when
 * the command must not go on. */
static bool write_allowed(struct txn *t, int *rv)
{
    char msg[sizeof t->res->message];
    uint64_t bytes = 0, files = 0;
    enum archive_status st;
    if (t->cmd->body_case == COMMAND__BODY_ADD_FILE) {
        bytes = t->cmd->add_file->size;
        files = 1;
    }
    /* Bill types and schemes do not exist yet: every bill is basic mode. */
    st = archive_check_write(t->a, t->cmd->tenant, t->cmd->time_ms, LICENSE_MODE_BASIC, bytes,
                             files, msg, sizeof msg, rv, t->err);
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
    return cmd->body_case == COMMAND__BODY_POOL_PUSH || cmd->body_case == COMMAND__BODY_ADD_FILE ||
           cmd->body_case == COMMAND__BODY_SUBMIT;
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
    case COMMAND__BODY_REGISTER_NODE:
        rv = apply_register_node(t, t->cmd->register_node);
        break;
    case COMMAND__BODY_REMOVE_NODE:
        rv = apply_remove_node(t, t->cmd->remove_node);
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
        rv = dispatch(&t);
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
