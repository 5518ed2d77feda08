/* Applying retention periods and the deletion of bills (docs/retention.md).
 *
 * A bill is stamped with the end of its retention period when it is first stored and
 * whenever its bill type changes; a stamp never moves earlier, so a period shortened
 * later does not release bills captured under the longer one. DeleteBill removes a bill
 * with every record that belongs to it (the inventory in docs/retention.md), refused
 * while a hold or its period applies: for anyone, on every node alike, against the
 * command's time. Its files' content is released; the keeper purges a blob once no
 * bill references it. The bill's audit log goes with it and a summary stays in the
 * tenant's admin audit log. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"
#include "base/mem.h"
#include "base/utf8.h"

#define DELETE_REASON_MAX 1024
/* Files named one by one in the summary of a deleted bill; more are counted. */
#define SUMMARY_FILES_MAX 1000

int stamp_retention(struct txn *t, BillRecord *bill)
{
    if (bill->retain_until_ms != 0 && strcmp(bill->retention_type, bill->bill_type) == 0) {
        return 0;
    }
    return stamp_retention_now(t, bill);
}

int stamp_retention_now(struct txn *t, BillRecord *bill)
{
    uint32_t years;
    uint64_t until;
    const char *on;
    int rv = archive_retention_years(t->a, t->cmd->tenant, bill->bill_type, &years, &on, t->err);
    if (rv != 0) {
        return rv;
    }
    until = archive_retention_until(bill->created_ms, years);
    if (until > bill->retain_until_ms) {
        bill->retain_until_ms = until;
    }
    set_string(&bill->retention_type, bill->bill_type);
    return 0;
}

static json_t *years_json(const Retention *r)
{
    if (r == NULL) {
        return json_null();
    }
    return r->years == ARCHIVE_RETENTION_PERMANENT ? json_string("permanent")
                                                    : json_integer(r->years);
}

int apply_set_retention(struct txn *t, const SetRetention *c)
{
    const char *type = c->bill_type != NULL ? c->bill_type : "";
    Retention **field;
    json_t *before;
    BillTypeRecord *bt = NULL;
    TenantRecord *tr = NULL;
    struct key k;
    int rv;
    if (c->retention != NULL && c->retention->years > ARCHIVE_RETENTION_YEARS_MAX &&
        c->retention->years != ARCHIVE_RETENTION_PERMANENT) {
        refuse(t, ARCHIVE_R_INVALID, "a retention period is 0-%d years or permanent",
               ARCHIVE_RETENTION_YEARS_MAX);
        return 0;
    }
    if (type[0] != '\0') {
        if (!archive_valid_tenant(type)) {
            refuse(t, ARCHIVE_R_INVALID, "a bill type code is 1-64 of A-Z a-z 0-9 . _ -");
            return 0;
        }
        key_pair(&k, t->cmd->tenant, type);
        rv = archive_load_record(t->a, ARCHIVE_CF_BILL_TYPES, &k, &bill_type_record__descriptor,
                                 (ProtobufCMessage **)&bt, t->err);
        if (rv == BASE_ENOTFOUND) {
            refuse(t, ARCHIVE_R_BILL_TYPE_NOT_FOUND, "tenant %s has no bill type %s "
                   "(GET /api/v1/bill-types lists them)", t->cmd->tenant, type);
            return 0;
        }
        field = rv == 0 ? &bt->retention : NULL;
    } else {
        k.len = strlen(t->cmd->tenant);
        if (k.len == 0 || k.len > sizeof k.buf) {
            refuse(t, ARCHIVE_R_INVALID, "no tenant");
            return 0;
        }
        memcpy(k.buf, t->cmd->tenant, k.len);
        rv = archive_load_record(t->a, ARCHIVE_CF_TENANTS, &k, &tenant_record__descriptor,
                                 (ProtobufCMessage **)&tr, t->err);
        if (rv == BASE_ENOTFOUND) {
            refuse(t, ARCHIVE_R_INVALID, "no tenant %s", t->cmd->tenant);
            return 0;
        }
        field = rv == 0 ? &tr->retention : NULL;
    }
    if (rv != 0) {
        return rv;
    }
    before = years_json(*field);
    if (*field != NULL) {
        retention__free_unpacked(*field, NULL);
        *field = NULL;
    }
    if (c->retention != NULL) {
        *field = xmalloc(sizeof **field);
        retention__init(*field);
        (*field)->years = c->retention->years;
    }
    put_record(t, bt != NULL ? ARCHIVE_CF_BILL_TYPES : ARCHIVE_CF_TENANTS, &k,
               bt != NULL ? &bt->base : &tr->base);
    admin_audit(t, t->cmd->tenant, "retention_set",
                json_pack("{s:s?, s:o, s:o}", "bill_type", type[0] != '\0' ? type : NULL,
                          "years", years_json(c->retention), "before", before));
    if (bt != NULL) {
        bill_type_record__free_unpacked(bt, NULL);
    } else {
        tenant_record__free_unpacked(tr, NULL);
    }
    return 0;
}

struct sweep {
    const char *image_no;
    size_t n;
};

/* A record of the bill's own prefix (audit entries): deleted. */
static int drop_key(struct txn *t, enum archive_cf cf, const char *key, size_t klen, const char *val, size_t vlen,
                    void *arg)
{
    struct sweep *s = arg;
    (void)val;
    (void)vlen;
    rocks_batch_delete(t->batch, cf, key, klen);
    s->n++;
    return 0;
}

/* A delivery of the bill (delivery_index tenant \0 image_no \0 id): its index entry, the
 * delivery and, when pending, its outbox entry. */
static int drop_delivery(struct txn *t, enum archive_cf cf, const char *key, size_t klen, const char *val,
                         size_t vlen, void *arg)
{
    struct sweep *s = arg;
    (void)val;
    (void)vlen;
    rocks_batch_delete(t->batch, cf, key, klen);
    if (klen >= 8) {
        delete_delivery(t, rocks_get_be64((const uint8_t *)key + klen - 8));
    }
    s->n++;
    return 0;
}

/* A collected file (collected tenant \0 file_no) that joined the bill. */
static int drop_collected(struct txn *t, enum archive_cf cf, const char *key, size_t klen, const char *val,
                          size_t vlen, void *arg)
{
    struct sweep *s = arg;
    CollectedRecord *c = collected_record__unpack(NULL, vlen, (const uint8_t *)val);
    if (c != NULL && strcmp(c->image_no, s->image_no) == 0) {
        rocks_batch_delete(t->batch, cf, key, klen);
        s->n++;
    }
    if (c != NULL) {
        collected_record__free_unpacked(c, NULL);
    }
    return 0;
}

/* A failed sync record (sync_items tenant \0 org \0 image_no \0 file_id) of the bill,
 * under whichever organisation. */
static int drop_sync_item(struct txn *t, enum archive_cf cf, const char *key, size_t klen, const char *val,
                          size_t vlen, void *arg)
{
    struct sweep *s = arg;
    size_t n = strlen(s->image_no);
    const char *org = memchr(key, '\0', klen);
    const char *no = org != NULL ? memchr(org + 1, '\0', klen - (size_t)(org + 1 - key)) : NULL;
    (void)val;
    (void)vlen;
    if (no != NULL && (size_t)(key + klen - (no + 1)) > n && memcmp(no + 1, s->image_no, n) == 0 &&
        no[1 + n] == '\0') {
        rocks_batch_delete(t->batch, cf, key, klen);
        s->n++;
    }
    return 0;
}

/* Removes every file of @bill (records, batches, blob references, usage, a pending
 * recognition); @summary gets the first ones named. */
static int remove_files(struct txn *t, BillRecord *bill, BillOrder *order, json_t *summary)
{
    size_t named = 0;
    int rv = 0;
    while (rv == 0 && order->n_file_ids > 0) {
        char *id = xstrdup(order->file_ids[0]);
        FileRecord *f;
        struct key k;
        key_pair(&k, t->cmd->tenant, id);
        rv = archive_load_record(t->a, ARCHIVE_CF_FILES, &k, &file_record__descriptor,
                                 (ProtobufCMessage **)&f, t->err);
        rocks_batch_delete(t->batch, ARCHIVE_CF_RECOGNITION, k.buf, k.len);
        if (rv == BASE_ENOTFOUND || rv == BASE_ECORRUPT) {
            /* An order naming a file that is not there: only its entry to drop. */
            rocks_batch_delete(t->batch, ARCHIVE_CF_FILES, k.buf, k.len);
            order_remove(order, id);
            rv = 0;
        } else if (rv == 0 && strcmp(f->image_no, bill->image_no) != 0) {
            order_remove(order, id); /* a record of another bill: not this one's to take */
            archive_free_file(f);
        } else if (rv == 0) {
            if (named++ < SUMMARY_FILES_MAX) {
                char hex[65] = "";
                if (f->blob.len == 32) {
                    hex_encode(f->blob.data, 32, hex);
                }
                json_array_append_new(summary,
                                      json_pack("{s:s, s:s, s:s, s:I, s:s}", "file_id",
                                                f->file_id, "name", f->name, "category",
                                                f->category, "size", (json_int_t)f->size,
                                                "blake2b", hex));
            }
            rv = remove_file(t, bill, order, f);
            archive_free_file(f);
        }
        free(id);
    }
    return rv;
}

int apply_delete_bill(struct txn *t, const DeleteBill *c)
{
    const char *reason = c->reason != NULL ? c->reason : "";
    struct sweep audit_s = {0}, deliveries = {0}, collected = {0},
                 sync_items = {0};
    BillRecord *bill;
    BillOrder *order = NULL;
    json_t *files = NULL;
    uint64_t until;
    const char *on;
    char date[16];
    uint32_t n_files;
    uint64_t bytes;
    struct key k;
    int rv;
    if (strlen(reason) > DELETE_REASON_MAX || !utf8_valid(reason, strlen(reason))) {
        refuse(t, ARCHIVE_R_INVALID, "a deletion's reason is at most %d bytes of UTF-8",
               DELETE_REASON_MAX);
        return 0;
    }
    if ((rv = load_bill_or_refuse(t, c->image_no, &bill)) != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (bill_held(t, bill, "deleting the bill")) {
        goto out;
    }
    if ((rv = archive_bill_retained_until(t->a, t->cmd->tenant, bill, &until, &on, t->err)) !=
        0) {
        goto out;
    }
    if (t->cmd->time_ms < until) {
        archive_date_utc(until, date);
        refuse(t, ARCHIVE_R_RETAINED, "bill %s is in its retention period until %s (%s%s%s): "
               "no one may delete it before (GET /api/v1/retention shows the periods)",
               bill->image_no, date,
               strcmp(on, "bill_type") == 0 ? "the period of its bill type"
               : strcmp(on, "tenant") == 0  ? "the tenant's default period"
               : strcmp(on, "default") == 0 ? "the 30-year default period"
                                            : "the period stamped on it when it was stored",
               bill->bill_type[0] != '\0' ? ", bill type " : "", bill->bill_type);
        goto out;
    }
    if ((rv = load_order(t, bill->image_no, &order)) != 0) {
        goto out;
    }
    n_files = bill->files;
    bytes = bill->bytes;
    files = json_array();
    if ((rv = remove_files(t, bill, order, files)) != 0 ||
        (rv = count_usage(t, bill->org, &(struct usage_delta){.bills = -1})) != 0) {
        goto out;
    }
    audit_s.image_no = deliveries.image_no = collected.image_no = sync_items.image_no =
        bill->image_no;
    key_audit_prefix(&k, t->cmd->tenant, bill->image_no);
    if ((rv = each_record(t, ARCHIVE_CF_AUDIT, &k, drop_key, &audit_s)) != 0 ||
        (rv = each_record(t, ARCHIVE_CF_DELIVERY_INDEX, &k, drop_delivery, &deliveries)) != 0) {
        goto out;
    }
    key_tenant_prefix(&k, t->cmd->tenant);
    if ((rv = each_record(t, ARCHIVE_CF_COLLECTED, &k, drop_collected, &collected)) != 0 ||
        (rv = each_record(t, ARCHIVE_CF_SYNC_ITEMS, &k, drop_sync_item, &sync_items)) != 0) {
        goto out;
    }
    if (bill->fbill_id[0] != '\0') {
        key_pair(&k, t->cmd->tenant, bill->fbill_id);
        rocks_batch_delete(t->batch, ARCHIVE_CF_FBILL_IDS, k.buf, k.len);
    }
    key_pair(&k, t->cmd->tenant, bill->image_no);
    rocks_batch_delete(t->batch, ARCHIVE_CF_MIGRATED, k.buf, k.len);
    rocks_batch_delete(t->batch, ARCHIVE_CF_ORDER, k.buf, k.len);
    rocks_batch_delete(t->batch, ARCHIVE_CF_BILLS, k.buf, k.len);
    archive_date_utc(until, date);
    admin_audit(
        t, t->cmd->tenant, "bill_deleted",
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:i, s:s, s:I, s:i, "
                  "s:i, s:i}",
                  "image_no", bill->image_no, "reason", reason, "bill_no", bill->bill_no,
                  "fbill_id", bill->fbill_id, "org", bill->org, "bill_type", bill->bill_type,
                  "state", bill->state, "created_ms", (json_int_t)bill->created_ms, "bytes",
                  (json_int_t)bytes, "files", files, "file_count", (int)n_files, "retained_until",
                  date, "audit_entries", (json_int_t)audit_s.n, "deliveries",
                  (int)deliveries.n, "collected", (int)collected.n, "sync_failures",
                  (int)sync_items.n));
    files = NULL;
    /* A tenant event (no bill to index it under any more): the business system learns
     * that the image number is gone, and may be used again. */
    rv = emit_event(t, "", "bill_deleted",
                    json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I}", "image_no", bill->image_no,
                              "bill_no", bill->bill_no, "fbill_id", bill->fbill_id, "reason",
                              reason, "state", bill->state, "file_count", (int)n_files,
                              "bytes", (json_int_t)bytes));
    if (rv != 0) {
        goto out;
    }
    result_bill(t, bill);
    snprintf(t->res->state, sizeof t->res->state, "deleted");
out:
    json_decref(files);
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
    archive_free_bill(bill);
    return rv;
}
