/* One apply's batch: the helpers every handler shares (archive_int.h).
 *
 * Refusals, records put into the command's batch, the tenant's admin audit log and a
 * bill's audit log, usage counters, bills, their file order and files, and the webhook
 * events a command queues (deliveries and outbox records written in the same batch, so
 * an event exists exactly when the change that caused it does). */
#include "archive/archive_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/bill_state.h"
#include "base/clock.h"
#include "base/mem.h"

const char *const EDITABLE[] = {"captured", "returned", NULL};
const char *const AMENDABLE[] = {"ready", "erp_submitted", NULL};

void refuse(struct txn *t, enum archive_status status, const char *fmt, ...)
{
    va_list ap;
    t->res->status = status;
    va_start(ap, fmt);
    vsnprintf(t->res->message, sizeof t->res->message, fmt, ap);
    va_end(ap);
}

void put_record(struct txn *t, enum archive_cf cf, const struct key *k,
                const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = xmalloc(n);
    protobuf_c_message_pack(msg, buf);
    rocks_batch_put(t->batch, cf, k->buf, k->len, buf, n);
    free(buf);
}

/* Whether a record is stored under @k (*@found); a store error otherwise. */
int record_exists(struct txn *t, enum archive_cf cf, const struct key *k, bool *found)
{
    char *val;
    size_t vlen;
    int rv = rocks_batch_get(t->batch, cf, k->buf, k->len, &val, &vlen, t->err);
    *found = rv == 0;
    if (rv == 0) {
        free(val);
    }
    return rv == BASE_ENOTFOUND ? 0 : rv;
}

void key_one(struct key *k, const char *s)
{
    k->len = strlen(s);
    memcpy(k->buf, s, k->len);
}

/* An administrative action of (or for) a tenant, in its admin audit log. */
void admin_audit(struct txn *t, const char *tenant, const char *action, json_t *detail)
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
    put_record(t, ARCHIVE_CF_ADMIN_AUDIT, &k, &rec.base);
    free(text);
    json_decref(detail);
}

void audit(struct txn *t, BillRecord *bill, const char *action, json_t *detail)
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
    put_record(t, ARCHIVE_CF_AUDIT, &k, &rec.base);
    free(text);
    json_decref(detail);
}

int adjust_usage(struct txn *t, const struct key *k, const struct usage_delta *d)
{
    UsageRecord *u;
    int rv = archive_load_record(t->a, ARCHIVE_CF_USAGE, k, &usage_record__descriptor,
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
    put_record(t, ARCHIVE_CF_USAGE, k, &u->base);
    /* Both kinds (unpacked, or xmalloc()ed here) own nothing but the message. */
    protobuf_c_message_free_unpacked(&u->base, NULL);
    return 0;
}

/* Adjusts the tenant's usage and that of organisation @org (reads see the command's
 * earlier changes, so several calls in one command add up). */
int count_usage(struct txn *t, const char *org, const struct usage_delta *d)
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

int load_bill(struct txn *t, const char *image_no, BillRecord **out)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, image_no);
    return archive_load_record(t->a, ARCHIVE_CF_BILLS, &k, &bill_record__descriptor,
                       (ProtobufCMessage **)out, t->err);
}

void store_bill(struct txn *t, BillRecord *bill)
{
    struct key k;
    int rv;
    bill->updated_ms = t->cmd->time_ms;
    if ((rv = stamp_retention(t, bill)) != 0 && t->store_rv == 0) {
        t->store_rv = rv;
    }
    key_pair(&k, t->cmd->tenant, bill->image_no);
    put_record(t, ARCHIVE_CF_BILLS, &k, &bill->base);
}

/* A bill made by this command. Like unpacked records, every field is malloc()ed, so
 * archive_free_bill() releases either kind. */
BillRecord *new_bill(struct txn *t, const char *image_no, enum bill_state state)
{
    BillRecord *bill;
    ASSERT(bill_state_initial(state));
    bill = xmalloc(sizeof *bill);
    bill_record__init(bill);
    bill->image_no = xstrdup(image_no);
    bill->state = xstrdup(bill_state_name(state));
    bill->created_ms = t->cmd->time_ms;
    return bill;
}

void set_string(char **field, const char *value)
{
    /* Fields of unpacked records were allocated by protobuf-c with malloc. */
    if (*field != NULL && *field != protobuf_c_empty_string) {
        free(*field);
    }
    *field = xstrdup(value != NULL ? value : "");
}

/* Announces that @bill entered its state (from @before; NULL for a new bill). */
int announce_state(struct txn *t, const BillRecord *bill, const char *before)
{
    return emit_event(t, bill->image_no, bill->state,
                      json_pack("{s:s, s:s, s:s?}", "image_no", bill->image_no, "state",
                                bill->state, "previous_state", before));
}

int set_state(struct txn *t, BillRecord *bill, enum bill_state to)
{
    const char *state = bill_state_name(to);
    char *before;
    int rv;
    if (strcmp(bill->state, state) == 0) {
        return 0;
    }
    before = xstrdup(bill->state);
    audit(t, bill, "state_changed", json_pack("{s:s, s:s}", "before", before, "after", state));
    bill_state_set(bill, to);
    rv = announce_state(t, bill, before);
    free(before);
    return rv;
}

void result_bill(struct txn *t, const BillRecord *bill)
{
    snprintf(t->res->image_no, sizeof t->res->image_no, "%s", bill->image_no);
    snprintf(t->res->state, sizeof t->res->state, "%s", bill->state);
}

void copy_invoice(Invoice *dst, const Invoice *src)
{
    invoice__init(dst);
    dst->number = xstrdup(src->number);
    dst->code = xstrdup(src->code);
    dst->date = xstrdup(src->date);
    dst->amount = xstrdup(src->amount);
    dst->tax = xstrdup(src->tax);
    dst->total = xstrdup(src->total);
    dst->seller_tax_no = xstrdup(src->seller_tax_no);
    dst->buyer_tax_no = xstrdup(src->buyer_tax_no);
}

/* Counts a file of @category into the bill's per-category totals (@delta +1 or -1). */
void count_category(BillRecord *bill, const char *category, int delta)
{
    uint32_t *n = strcmp(category, "cover") == 0     ? &bill->covers
                  : strcmp(category, "invoice") == 0 ? &bill->invoice_files
                                                     : &bill->attachments;
    *n = (uint32_t)((int64_t)*n + delta);
}

/* Takes @file_id out of @order (nothing when it is not in it). */
void order_remove(BillOrder *order, const char *file_id)
{
    for (size_t i = 0; i < order->n_file_ids; i++) {
        if (strcmp(order->file_ids[i], file_id) == 0) {
            free(order->file_ids[i]);
            memmove(&order->file_ids[i], &order->file_ids[i + 1],
                    (order->n_file_ids - i - 1) * sizeof *order->file_ids);
            order->n_file_ids--;
            return;
        }
    }
}

/* Inserts @file_id at 0-based index @at of @order; returns its 1-based position. */
uint32_t insert_at(BillOrder *order, const char *file_id, size_t at)
{
    order->file_ids =
        xrealloc(order->file_ids, (order->n_file_ids + 1) * sizeof *order->file_ids);
    memmove(&order->file_ids[at + 1], &order->file_ids[at],
            (order->n_file_ids - at) * sizeof *order->file_ids);
    order->file_ids[at] = xstrdup(file_id);
    order->n_file_ids++;
    return (uint32_t)at + 1;
}

/* Inserts @file_id after @after (or at the end); returns the 1-based position, or 0
 * when @after is not a file of the bill. */
uint32_t insert_file(BillOrder *order, const char *file_id, const char *after)
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
    return insert_at(order, file_id, at);
}

/* The bill's file order; an empty one (malloc()ed like an unpacked record) when the
 * bill has none yet. */
int load_order(struct txn *t, const char *image_no, BillOrder **out)
{
    struct key k;
    int rv;
    key_pair(&k, t->cmd->tenant, image_no);
    rv = archive_load_record(t->a, ARCHIVE_CF_ORDER, &k, &bill_order__descriptor,
                     (ProtobufCMessage **)out, t->err);
    if (rv == BASE_ENOTFOUND) {
        *out = xmalloc(sizeof **out);
        bill_order__init(*out);
        rv = 0;
    }
    return rv;
}

void store_order(struct txn *t, const char *image_no, BillOrder *order)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, image_no);
    put_record(t, ARCHIVE_CF_ORDER, &k, &order->base);
}

/* Adds the nodes of @holders that @blob does not list yet. */
void add_holders(BlobRecord *blob, const uint64_t *holders, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t j = 0; j < blob->n_holders && !known; j++) {
            known = blob->holders[j] == holders[i];
        }
        if (!known) {
            blob->holders = xrealloc(blob->holders, (blob->n_holders + 1) * sizeof *blob->holders);
            blob->holders[blob->n_holders++] = holders[i];
        }
    }
}

/* A file of @bill, or a refusal. */
int load_bill_file(struct txn *t, const BillRecord *bill, const char *file_id,
                   FileRecord **out)
{
    struct key k;
    int rv;
    key_pair(&k, t->cmd->tenant, file_id != NULL ? file_id : "");
    rv = archive_load_record(t->a, ARCHIVE_CF_FILES, &k, &file_record__descriptor,
                             (ProtobufCMessage **)out, t->err);
    if (rv == 0 && strcmp((*out)->image_no, bill->image_no) != 0) {
        /* A file of another bill is refused like a missing one; the caller must not
         * see (nor free) the record. */
        archive_free_file(*out);
        *out = NULL;
        rv = BASE_ENOTFOUND;
    }
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_FILE_NOT_FOUND, "bill %s has no file %.64s", bill->image_no,
               file_id != NULL ? file_id : "");
    }
    return rv;
}

void put_file(struct txn *t, const FileRecord *f)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, f->file_id);
    put_record(t, ARCHIVE_CF_FILES, &k, &f->base);
}

/* A bill of the command's tenant, or a refusal (BASE_ENOTFOUND). */
int load_bill_or_refuse(struct txn *t, const char *image_no, BillRecord **bill)
{
    int rv = load_bill(t, image_no != NULL ? image_no : "", bill);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_BILL_NOT_FOUND, "no bill with image number %.64s",
               image_no != NULL ? image_no : "");
    }
    return rv;
}

bool state_in(const BillRecord *bill, const char *const *states)
{
    for (; *states != NULL; states++) {
        if (strcmp(bill->state, *states) == 0) {
            return true;
        }
    }
    return false;
}

/* Deliveries are numbered by the index of the command that queued them and their rank
 * in it: ids grow with the log, so the outbox is a queue in event order. */
#define DELIVERY_RANK_BITS 10

static void key_be64(struct key *k, uint64_t v)
{
    rocks_put_be64((uint8_t *)k->buf, v);
    k->len = 8;
}

void store_delivery(struct txn *t, const DeliveryRecord *d)
{
    struct key k;
    key_be64(&k, d->id);
    put_record(t, ARCHIVE_CF_DELIVERIES, &k, &d->base);
}

int each_record(struct txn *t, enum archive_cf cf, const struct key *prefix, record_fn fn,
                void *arg)
{
    struct rocks_iter *it = rocks_iter_new(t->a->db, cf, prefix->buf, prefix->len);
    int rv = 0;
    for (rocks_iter_first(it); rv == 0 && rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocks_iter_key(it, &klen);
        const char *val = rocks_iter_value(it, &vlen);
        rv = fn(t, cf, key, klen, val, vlen, arg);
    }
    if (rv == 0) {
        rv = rocks_iter_status(it, t->err);
    }
    rocks_iter_free(it);
    return rv;
}

void delete_delivery(struct txn *t, uint64_t id)
{
    struct key k;
    key_be64(&k, id);
    rocks_batch_delete(t->batch, ARCHIVE_CF_DELIVERIES, k.buf, k.len);
    rocks_batch_delete(t->batch, ARCHIVE_CF_OUTBOX, k.buf, k.len);
}

void outbox_put(struct txn *t, uint64_t id, uint64_t due_ms)
{
    struct key k;
    uint8_t be[8];
    key_be64(&k, id);
    rocks_put_be64(be, due_ms);
    rocks_batch_put(t->batch, ARCHIVE_CF_OUTBOX, k.buf, k.len, be, sizeof be);
}

void outbox_remove(struct txn *t, uint64_t id)
{
    struct key k;
    key_be64(&k, id);
    rocks_batch_delete(t->batch, ARCHIVE_CF_OUTBOX, k.buf, k.len);
}

struct emit {
    struct txn *t;
    const char *image_no;
    const char *event;
    json_t *body;
};

/* Queues the event for one webhook that subscribes to it. */
static void emit_to(const WebhookRecord *w, void *arg)
{
    struct emit *e = arg;
    struct txn *t = e->t;
    DeliveryRecord d = DELIVERY_RECORD__INIT;
    struct key k;
    char id[24];
    char *text;
    if (!archive_webhook_wants(w, e->event)) {
        return;
    }
    if (t->deliveries >= (1u << DELIVERY_RANK_BITS)) {
        /* Alone in its entry a command keeps the first 1024; in a shared entry the ids
         * are the entry's, and a later command is proposed again alone instead. */
        t->ranks_full = t->shared && t->position > 0;
        return;
    }
    d.id = t->index << DELIVERY_RANK_BITS | t->deliveries++;
    snprintf(id, sizeof id, "%llu", (unsigned long long)d.id);
    json_object_set_new(e->body, "id", json_string(id));
    text = json_dumps(e->body, JSON_COMPACT | JSON_SORT_KEYS);
    d.tenant = t->cmd->tenant;
    d.webhook = w->id;
    d.event = (char *)e->event;
    d.image_no = (char *)e->image_no;
    d.body = text;
    d.state = (char *)"pending";
    d.next_ms = t->cmd->time_ms;
    d.created_ms = t->cmd->time_ms;
    store_delivery(t, &d);
    key_audit(&k, t->cmd->tenant, e->image_no, d.id);
    rocks_batch_put(t->batch, ARCHIVE_CF_DELIVERY_INDEX, k.buf, k.len, "", 0);
    outbox_put(t, d.id, d.next_ms);
    t->a->outbox_added++;
    free(text);
}

/* Queues @event (about bill @image_no, "" for a tenant event) for every webhook of the
 * command's tenant that subscribes to it. @body is the event's own JSON (consumed); the
 * common fields are added here. */
int emit_event(struct txn *t, const char *image_no, const char *event, json_t *body)
{
    struct emit e = {t, image_no, event, body};
    char when[40];
    int rv;
    clock_format_rfc3339(t->cmd->time_ms, when, sizeof when);
    json_object_set_new(body, "event", json_string(event));
    json_object_set_new(body, "tenant", json_string(t->cmd->tenant));
    json_object_set_new(body, "time", json_string(when));
    json_object_set_new(body, "index", json_integer((json_int_t)t->index));
    rv = archive_list_webhooks(t->a, t->cmd->tenant, emit_to, &e, t->err);
    json_decref(body);
    return rv;
}

json_t *string_array(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_string(v[i]));
    }
    return a;
}
