/* Applying the commands about webhooks and their deliveries: creating and deleting a
 * webhook, a dispatcher's delivery results and retries. Events are queued by
 * emit_event() (txn.c) in the batch of the command that causes them. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

static void count_webhook(const WebhookRecord *w, void *arg)
{
    (void)w;
    (*(unsigned *)arg)++;
}

int apply_create_webhook(struct txn *t, const CreateWebhook *c)
{
    WebhookRecord rec = WEBHOOK_RECORD__INIT;
    struct key k;
    const char *problem;
    unsigned n = 0;
    bool found;
    int rv;
    if (c->id == NULL || !archive_valid_tenant(c->id) || c->url == NULL ||
        c->secret == NULL || strlen(c->secret) < 16 || strlen(c->secret) > 256 ||
        c->n_events == 0 || c->n_events > 16) {
        refuse(t, ARCHIVE_R_INVALID, "malformed webhook");
        return 0;
    }
    if ((problem = archive_webhook_url_problem(c->url)) != NULL) {
        refuse(t, ARCHIVE_R_INVALID, "%s", problem);
        return 0;
    }
    for (size_t i = 0; i < c->n_events; i++) {
        if (!archive_webhook_event_known(c->events[i])) {
            refuse(t, ARCHIVE_R_INVALID, "unknown event '%.64s': events are %s", c->events[i],
                   archive_webhook_event_names());
            return 0;
        }
    }
    key_one(&k, t->cmd->tenant);
    if ((rv = record_exists(t, ARCHIVE_CF_TENANTS, &k, &found)) != 0 || !found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_TENANT_NOT_FOUND, "no tenant %s", t->cmd->tenant);
        }
        return rv;
    }
    rv = archive_list_webhooks(t->a, t->cmd->tenant, count_webhook, &n, t->err);
    if (rv != 0) {
        return rv;
    }
    if (n >= ARCHIVE_WEBHOOKS_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "tenant %s has %u webhooks, the most it may have; delete "
               "one first", t->cmd->tenant, n);
        return 0;
    }
    rec.id = c->id;
    rec.tenant = t->cmd->tenant;
    rec.url = c->url;
    rec.n_events = c->n_events;
    rec.events = c->events;
    rec.secret = c->secret;
    rec.created_ms = t->cmd->time_ms;
    key_pair(&k, t->cmd->tenant, c->id);
    put_record(t, ARCHIVE_CF_WEBHOOKS, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "webhook_created",
                json_pack("{s:s, s:s, s:o}", "id", c->id, "url", c->url, "events",
                          string_array(c->events, c->n_events)));
    return 0;
}

int apply_delete_webhook(struct txn *t, const DeleteWebhook *c)
{
    WebhookRecord *w;
    struct key k;
    int rv = archive_get_webhook(t->a, t->cmd->tenant, c->id != NULL ? c->id : "", &w, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_WEBHOOK_NOT_FOUND, "tenant %s has no webhook %.64s",
               t->cmd->tenant, c->id != NULL ? c->id : "");
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    key_pair(&k, t->cmd->tenant, w->id);
    rocks_batch_delete(t->batch, ARCHIVE_CF_WEBHOOKS, k.buf, k.len);
    /* Its pending deliveries are cancelled by the dispatcher when it meets them. */
    admin_audit(t, t->cmd->tenant, "webhook_deleted",
                json_pack("{s:s, s:s}", "id", w->id, "url", w->url));
    archive_free_webhook(w);
    return 0;
}

/* Loads delivery @id of the command's tenant, or refuses. */
static int load_delivery(struct txn *t, uint64_t id, DeliveryRecord **out)
{
    int rv = archive_get_delivery(t->a, id, out, t->err);
    if (rv == 0 && strcmp((*out)->tenant, t->cmd->tenant) != 0) {
        archive_free_delivery(*out);
        rv = BASE_ENOTFOUND;
    }
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_DELIVERY_NOT_FOUND, "tenant %s has no delivery %llu",
               t->cmd->tenant, (unsigned long long)id);
        return BASE_ENOTFOUND;
    }
    return rv;
}

static void add_attempt(DeliveryRecord *d, const DeliveryResult *r, uint64_t time_ms)
{
    DeliveryAttempt *a = xmalloc(sizeof *a);
    delivery_attempt__init(a);
    a->time_ms = time_ms;
    a->http_status = r->http_status;
    a->error = xstrdup(r->error != NULL ? r->error : "");
    /* The dispatcher sanitises it; a longer one is dropped, not kept. */
    a->excerpt = xstrdup(r->excerpt != NULL && strlen(r->excerpt) <= 1024 ? r->excerpt : "");
    a->ms = r->ms;
    if (d->n_history == ARCHIVE_DELIVERY_HISTORY) {
        delivery_attempt__free_unpacked(d->history[0], NULL);
        memmove(d->history, d->history + 1, (d->n_history - 1) * sizeof *d->history);
        d->n_history--;
    } else {
        d->history = xrealloc(d->history, (d->n_history + 1) * sizeof *d->history);
    }
    d->history[d->n_history++] = a;
}

/* A dispatcher's report. A result for a delivery that is no longer pending (a former
 * leader reporting late) changes nothing. */
int apply_delivery_result(struct txn *t, const DeliveryResult *r)
{
    DeliveryRecord *d;
    int rv = load_delivery(t, r->delivery, &d);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (strcmp(d->state, "pending") != 0) {
        t->res->replayed = true;
        archive_free_delivery(d);
        return 0;
    }
    d->attempts++;
    if (!r->cancel) {
        add_attempt(d, r, t->cmd->time_ms);
    }
    if (r->ok || r->cancel || r->give_up) {
        set_string(&d->state, r->ok ? "delivered" : r->cancel ? "cancelled" : "failed");
        d->done_ms = t->cmd->time_ms;
        d->next_ms = 0;
        outbox_remove(t, d->id);
    } else {
        d->next_ms = r->next_ms;
        outbox_put(t, d->id, d->next_ms);
    }
    store_delivery(t, d);
    snprintf(t->res->state, sizeof t->res->state, "%s", d->state);
    if (strcmp(d->event, "erp_submit") == 0 && d->image_no[0] != '\0' &&
        (r->ok || r->cancel || r->give_up)) {
        rv = erp_outcome(t, d, r);
    }
    archive_free_delivery(d);
    return rv;
}

int apply_retry_delivery(struct txn *t, const RetryDelivery *r)
{
    DeliveryRecord *d;
    int rv = load_delivery(t, r->delivery, &d);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (strcmp(d->state, "pending") != 0) {
        admin_audit(t, t->cmd->tenant, "delivery_retried",
                    json_pack("{s:I, s:s, s:s}", "delivery", (json_int_t)d->id, "event",
                              d->event, "before", d->state));
        set_string(&d->state, "pending");
        d->attempts = 0;
        d->done_ms = 0;
        d->next_ms = t->cmd->time_ms;
        outbox_put(t, d->id, d->next_ms);
        store_delivery(t, d);
        t->a->outbox_added++;
    }
    snprintf(t->res->state, sizeof t->res->state, "%s", d->state);
    archive_free_delivery(d);
    return 0;
}
