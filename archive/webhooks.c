/* Webhooks and their deliveries: validation shared by the API and apply, and queries.
 * The commands that change them are applied in apply_webhooks.c (events are queued
 * by emit_event() in txn.c). */
#include "archive.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "archive/keys.h"
#include "base/mem.h"

static const char *const events[] = {
    "pending_upload", "captured", "submitted", "ready", "erp_submitted", "erp_failed",
    "returned", "license_expiring", "license_expired", "erp_submit", "bill_deleted",
};

bool archive_webhook_event_known(const char *event)
{
    if (strcmp(event, "*") == 0) {
        return true;
    }
    for (size_t i = 0; i < ARRAY_SIZE(events); i++) {
        if (strcmp(event, events[i]) == 0) {
            return true;
        }
    }
    return false;
}

const char *archive_webhook_event_names(void)
{
    return "pending_upload, captured, submitted, ready, erp_submitted, erp_failed, returned, "
           "license_expiring, license_expired, erp_submit (the ERP endpoint: receives ready "
           "bills), bill_deleted, or * for all";
}

const char *archive_url_problem(const char *url, size_t max, bool base_only,
                                const char *too_long)
{
    const char *host;
    if (strncasecmp(url, "http://", 7) == 0) {
        host = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        host = url + 8;
    } else {
        return "the url must start with http:// or https://";
    }
    if (strlen(url) > max) {
        return too_long;
    }
    if (*host == '\0' || *host == '/' || *host == ':') {
        return "the url names no host";
    }
    for (const char *p = url; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
            return "the url contains spaces, control or non-ASCII characters (percent-encode "
                   "them)";
        }
        if (base_only && (*p == '?' || *p == '#')) {
            return "the url is a base URL: no query (?) or fragment (#)";
        }
    }
    return NULL;
}

const char *archive_webhook_url_problem(const char *url)
{
    return archive_url_problem(url, 2048, false, "the url is longer than 2048 characters");
}

bool archive_webhook_wants(const WebhookRecord *w, const char *event)
{
    /* "*" is for notifications: submitting bills to an ERP is asked for by name. */
    bool notification = strcmp(event, "erp_submit") != 0;
    for (size_t i = 0; i < w->n_events; i++) {
        if ((notification && strcmp(w->events[i], "*") == 0) ||
            strcmp(w->events[i], event) == 0) {
            return true;
        }
    }
    return false;
}

struct list_cb {
    archive_webhook_cb cb;
    void *arg;
};

static void webhook_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    struct list_cb *l = arg;
    (void)key;
    (void)klen;
    l->cb((const WebhookRecord *)m, l->arg);
}

int archive_list_webhooks(struct archive *a, const char *tenant, archive_webhook_cb cb,
                          void *arg, struct base_err *err)
{
    struct list_cb l = {cb, arg};
    struct key prefix;
    key_tenant_prefix(&prefix, tenant);
    return archive_scan_records(a, ARCHIVE_CF_WEBHOOKS, prefix.buf, prefix.len,
                                &webhook_record__descriptor, webhook_cb, &l, err);
}

int archive_get_webhook(struct archive *a, const char *tenant, const char *id,
                        WebhookRecord **out, struct base_err *err)
{
    struct key k;
    if (!archive_valid_tenant(id)) {
        return BASE_ENOTFOUND;
    }
    key_pair(&k, tenant, id);
    return archive_load_record(a, ARCHIVE_CF_WEBHOOKS, &k, &webhook_record__descriptor,
                               (ProtobufCMessage **)out, err);
}

void archive_free_webhook(WebhookRecord *w)
{
    if (w != NULL) {
        webhook_record__free_unpacked(w, NULL);
    }
}

int archive_get_delivery(struct archive *a, uint64_t id, DeliveryRecord **out,
                         struct base_err *err)
{
    struct key k = {.len = 8};
    rocks_put_be64((uint8_t *)k.buf, id);
    return archive_load_record(a, ARCHIVE_CF_DELIVERIES, &k, &delivery_record__descriptor,
                               (ProtobufCMessage **)out, err);
}

void archive_free_delivery(DeliveryRecord *d)
{
    if (d != NULL) {
        delivery_record__free_unpacked(d, NULL);
    }
}

int archive_list_deliveries(struct archive *a, const char *tenant,
                            const struct archive_delivery_filter *f, archive_delivery_cb cb,
                            void *arg, bool *more, struct base_err *err)
{
    struct key prefix;
    struct rocks_iter *it;
    unsigned n = 0;
    int rv = 0;
    if (f->image_no != NULL) {
        key_audit_prefix(&prefix, tenant, f->image_no);
    } else {
        key_tenant_prefix(&prefix, tenant);
    }
    *more = false;
    it = rocks_iter_new(a->db, ARCHIVE_CF_DELIVERY_INDEX, prefix.buf, prefix.len);
    for (rocks_iter_first(it); rocks_iter_valid(it) && rv == 0; rocks_iter_next(it)) {
        size_t klen;
        const char *k = rocks_iter_key(it, &klen);
        DeliveryRecord *d;
        if (klen < prefix.len + 8) {
            continue;
        }
        rv = archive_get_delivery(a, rocks_get_be64((const uint8_t *)k + klen - 8), &d, err);
        if (rv == BASE_ENOTFOUND) {
            rv = 0; /* the index is written with the record: cannot happen */
            continue;
        }
        if (rv != 0) {
            break;
        }
        if (f->state == NULL || strcmp(d->state, f->state) == 0) {
            if (n == f->limit) {
                *more = true;
                archive_free_delivery(d);
                break;
            }
            cb(d, arg);
            n++;
        }
        archive_free_delivery(d);
    }
    if (rv == 0) {
        rv = rocks_iter_status(it, err);
    }
    rocks_iter_free(it);
    return rv;
}

int archive_scan_outbox(struct archive *a, uint64_t after, archive_outbox_cb cb, void *arg,
                        struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_OUTBOX, "", 0);
    uint8_t start[8];
    int rv;
    rocks_put_be64(start, after + 1);
    for (rocks_iter_seek(it, start, sizeof start); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocks_iter_key(it, &klen);
        const char *v = rocks_iter_value(it, &vlen);
        if (klen != 8 || vlen != 8) {
            continue;
        }
        if (!cb(rocks_get_be64((const uint8_t *)k), rocks_get_be64((const uint8_t *)v), arg)) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}
