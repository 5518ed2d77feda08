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

/* Loads a record; BASE_ENOTFOUND when absent, BASE_ECORRUPT when undecodable. */
static int load_record(struct archive *a, enum rocks_cf cf, const struct key *k,
                       const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                       struct base_err *err)
{
    char *val;
    size_t vlen;
    int rv = rocks_get(a->db, cf, k->buf, k->len, &val, &vlen, err);
    if (rv != 0) {
        return rv;
    }
    *out = protobuf_c_message_unpack(desc, NULL, vlen, (const uint8_t *)val);
    free(val);
    if (*out == NULL) {
        base_err_set(err, "%s record is corrupt", rocks_cf_name(cf));
        return BASE_ECORRUPT;
    }
    return 0;
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

static int load_usage(struct txn *t, UsageRecord **out)
{
    struct key k = {.len = 0};
    size_t n = strlen(t->cmd->tenant);
    int rv;
    memcpy(k.buf, t->cmd->tenant, n);
    k.len = n;
    rv = load_record(t->a, ROCKS_CF_USAGE, &k, &usage_record__descriptor,
                     (ProtobufCMessage **)out, t->err);
    if (rv == BASE_ENOTFOUND) {
        *out = xmalloc(sizeof **out);
        usage_record__init(*out);
        return 0;
    }
    return rv;
}

static void store_usage(struct txn *t, UsageRecord *u)
{
    struct key k = {.len = strlen(t->cmd->tenant)};
    memcpy(k.buf, t->cmd->tenant, k.len);
    put_record(t, ROCKS_CF_USAGE, &k, &u->base);
}

static void free_usage_record(UsageRecord *u)
{
    /* Records built by load_usage() for a new tenant come from xmalloc, not unpack;
     * both have no owned sub-allocations besides the message itself. */
    protobuf_c_message_free_unpacked(&u->base, NULL);
}

/* Adjusts the tenant's usage counters. */
static int count_usage(struct txn *t, int64_t bytes, int64_t files, int64_t bills)
{
    UsageRecord *u;
    int rv = load_usage(t, &u);
    if (rv != 0) {
        return rv;
    }
    u->bytes = (uint64_t)((int64_t)u->bytes + bytes);
    u->files = (uint64_t)((int64_t)u->files + files);
    u->bills = (uint64_t)((int64_t)u->bills + bills);
    store_usage(t, u);
    free_usage_record(u);
    return 0;
}

static int load_bill(struct txn *t, const char *image_no, BillRecord **out)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, image_no);
    return load_record(t->a, ROCKS_CF_BILLS, &k, &bill_record__descriptor,
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

static int apply_pool_push(struct txn *t, const PoolPush *p)
{
    BillRecord *bill = NULL;
    json_t *changes = json_object();
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
        if ((rv = count_usage(t, 0, 0, 1)) != 0) {
            goto out;
        }
    } else if (rv != 0) {
        goto out;
    }
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
    audit(t, bill, t->res->created ? "pool_created" : "pool_updated",
          json_pack("{s:o}", "changes", changes));
    changes = NULL;
    store_bill(t, bill);
    result_bill(t, bill);
    rv = 0;
out:
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
    rv = load_record(t->a, ROCKS_CF_ORDER, &k, &bill_order__descriptor,
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

static int count_blob_ref(struct txn *t, const ProtobufCBinaryData *hash, uint64_t size)
{
    struct key k = {.len = hash->len};
    BlobRecord *blob;
    int rv;
    if (hash->len != 32) {
        return BASE_EINVAL;
    }
    memcpy(k.buf, hash->data, hash->len);
    rv = load_record(t->a, ROCKS_CF_BLOBS, &k, &blob_record__descriptor,
                     (ProtobufCMessage **)&blob, t->err);
    if (rv == BASE_ENOTFOUND) {
        BlobRecord fresh = BLOB_RECORD__INIT;
        fresh.size = size;
        fresh.refs = 1;
        put_record(t, ROCKS_CF_BLOBS, &k, &fresh.base);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    blob->refs++;
    put_record(t, ROCKS_CF_BLOBS, &k, &blob->base);
    blob_record__free_unpacked(blob, NULL);
    return 0;
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
        rv = count_usage(t, 0, 0, 1);
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
    if ((rv = count_blob_ref(t, &f->blob, f->size)) != 0 ||
        (rv = count_usage(t, (int64_t)f->size, 1, 0)) != 0) {
        goto out;
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
    *rv = load_record(t->a, ROCKS_CF_IDEM, &k, &result_record__descriptor,
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
