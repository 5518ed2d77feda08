/* Tenant webhooks and the deliveries of their events.
 *
 * A tenant admin (or the operator) registers a URL for some events; the state machine
 * queues a delivery per event and webhook, and the leader's outbox dispatcher
 * (replication/outbox.c) sends them. Deliveries are listed per bill and per tenant,
 * with every attempt, and a failed one can be retried by hand.
 *
 * A URL whose host is an address the outbound guard refuses (replication/outbound.h),
 * or a name that resolves only to such addresses, is refused at creation; the guard
 * checks every connection again when deliveries are made. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

#include "archive/users.h"
#include "base/hex.h"
#include "base/mem.h"
#include "net/http_client.h"
#include "replication/repl.h"

#define WEBHOOK_BODY_MAX (16u << 10)
#define EVENTS_MAX 16
#define SECRET_MIN 16
#define SECRET_MAX 256

static json_t *events_json(char **events, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_string(events[i]));
    }
    return a;
}

static json_t *webhook_json(const WebhookRecord *w)
{
    return json_pack("{s:s, s:s, s:o, s:o}", "id", w->id, "url", w->url, "events",
                     events_json(w->events, w->n_events), "created",
                     api_time_json(w->created_ms));
}

/* ---- POST /api/v1/webhooks ---- */

/* What a creation keeps while its proposal is applied (op->data, wiped: a secret). */
struct new_webhook {
    char id[20];
    char secret[SECRET_MAX + 1];
    char *events[EVENTS_MAX];
    size_t n_events;
    uv_getaddrinfo_t resolve; /* the URL's host name, checked before creating */
    char host[256];
    unsigned port;
};

static void webhook_created(struct repl_propose *prop, int status,
                            const struct archive_result *res)
{
    struct api_op *op = prop->data;
    struct new_webhook *nw = op->data;
    if (api_op_applied(op, status, res)) {
        api_respond_json(op->call.api, op->call.req, 201,
                         json_pack("{s:s, s:s, s:o, s:s, s:I}", "id", nw->id, "url",
                                   json_string_value(json_object_get(op->body, "url")),
                                   "events", events_json(nw->events, nw->n_events), "secret",
                                   nw->secret, "index", (json_int_t)res->index));
    }
    api_op_free(op);
}

/* Reads "events" into @nw; false after answering. */
static bool read_events(struct api_op *op, json_t *events, struct new_webhook *nw)
{
    size_t i;
    json_t *e;
    if (!json_is_array(events) || json_array_size(events) == 0 ||
        json_array_size(events) > EVENTS_MAX) {
        char msg[512];
        snprintf(msg, sizeof msg, "\"events\" must be a list of 1-16 event names: %s",
                 archive_webhook_event_names());
        return api_op_bad(op, msg);
    }
    json_array_foreach(events, i, e) {
        const char *name = json_string_value(e);
        if (name == NULL || !archive_webhook_event_known(name)) {
            char msg[512];
            snprintf(msg, sizeof msg, "unknown event '%.64s'; events are %s",
                     name != NULL ? name : "(not a string)", archive_webhook_event_names());
            return api_op_bad(op, msg);
        }
        nw->events[nw->n_events++] = (char *)name;
    }
    return true;
}

/* Reads the optional "secret", or makes one; false after answering. */
static bool read_secret(struct api_op *op, json_t *secret, struct new_webhook *nw)
{
    uint8_t raw[32];
    const char *s = json_string_value(secret);
    if (secret == NULL || json_is_null(secret)) {
        randombytes_buf(raw, sizeof raw);
        hex_encode(raw, sizeof raw, nw->secret);
        sodium_memzero(raw, sizeof raw);
        return true;
    }
    if (s == NULL || strlen(s) < SECRET_MIN || strlen(s) > SECRET_MAX) {
        return api_op_bad(op, "\"secret\" must be a string of 16-256 characters (or "
                              "absent: the archive makes one)");
    }
    memcpy(nw->secret, s, strlen(s) + 1);
    return true;
}

static void propose_webhook(struct api_op *op)
{
    struct new_webhook *nw = op->data;
    Command cmd = COMMAND__INIT;
    CreateWebhook c = CREATE_WEBHOOK__INIT;
    uint8_t raw[8];
    randombytes_buf(raw, sizeof raw);
    memcpy(nw->id, "wh", 2);
    hex_encode(raw, sizeof raw, nw->id + 2);
    c.id = nw->id;
    c.url = (char *)json_string_value(json_object_get(op->body, "url"));
    c.events = nw->events;
    c.n_events = nw->n_events;
    c.secret = nw->secret;
    cmd.body_case = COMMAND__BODY_CREATE_WEBHOOK;
    cmd.create_webhook = &c;
    api_op_propose(op, &cmd, NULL, webhook_created);
}

/* Answers 400 for a receiver the outbound guard refuses (@why is its reason). */
static void refuse_receiver(struct api_op *op, const char *why)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "\"url\": %.600s. Check that the URL names the receiver's "
             "public address; a receiver on an internal network needs the operator to allow "
             "it with --outbound-allow HOST[:PORT] or CIDR (docs/webhooks.md)", why);
    api_op_bad(op, msg);
}

static void host_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct api_op *op = req->data;
    struct new_webhook *nw = op->data;
    struct outbound *g = op->call.api->config.outbound;
    char why[256], first[256] = "";
    /* A name that does not resolve now may later: the check at connect time decides. */
    bool any_allowed = status != 0 || res == NULL;
    for (struct addrinfo *ai = res; ai != NULL && !any_allowed; ai = ai->ai_next) {
        struct sockaddr_storage ss;
        if (ai->ai_addrlen > sizeof ss) {
            continue;
        }
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        if (ss.ss_family == AF_INET) {
            ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)nw->port);
        } else if (ss.ss_family == AF_INET6) {
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)nw->port);
        }
        any_allowed = outbound_permits(g, nw->host, (const struct sockaddr *)&ss, why,
                                       sizeof why);
        if (!any_allowed && first[0] == '\0') {
            memcpy(first, why, sizeof first);
        }
    }
    uv_freeaddrinfo(res);
    if (any_allowed) {
        propose_webhook(op);
    } else {
        char msg[600];
        snprintf(msg, sizeof msg, "%.253s resolves only to refused addresses (%.255s)",
                 nw->host, first);
        refuse_receiver(op, msg);
    }
}

/* Checks the URL's host with the outbound guard, then proposes; answers 400 when it
 * is refused. A host name is resolved first (off the loop). */
static void check_receiver(struct api_op *op, const char *url)
{
    struct new_webhook *nw = op->data;
    struct outbound *g = op->call.api->config.outbound;
    struct base_err err = {{0}};
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    char why[256];
    if (g == NULL) {
        propose_webhook(op);
        return;
    }
    if (http_client_url_host(url, nw->host, sizeof nw->host, &nw->port, &err) != 0) {
        char msg[320];
        snprintf(msg, sizeof msg, "\"url\": %s", err.msg);
        api_op_bad(op, msg);
        return;
    }
    if (outbound_literal_refused(g, nw->host, nw->port, why, sizeof why)) {
        refuse_receiver(op, why);
        return;
    }
    nw->resolve.data = op;
    if (uv_getaddrinfo(op->call.api->loop, &nw->resolve, host_resolved, nw->host, NULL,
                       &hints) != 0) {
        propose_webhook(op); /* cannot resolve now: the check at connect time decides */
    }
}

static void create_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *url = json_string_value(json_object_get(root, "url"));
    struct new_webhook *nw = xcalloc(1, sizeof *nw);
    const char *problem;
    op->data = nw;
    op->wipe = sizeof *nw;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (url == NULL) {
        api_op_bad(op, "a webhook is {\"url\": \"https://...\", \"events\": [\"ready\", ...], "
                             "\"secret\": optional}");
        return;
    }
    if ((problem = archive_webhook_url_problem(url)) != NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "\"url\": %s", problem);
        api_op_bad(op, msg);
        return;
    }
    if (!read_events(op, json_object_get(root, "events"), nw) ||
        !read_secret(op, json_object_get(root, "secret"), nw)) {
        return;
    }
    check_receiver(op, url);
}

void api_handle_create_webhook(struct api_call *call)
{
    api_op_start(call, WEBHOOK_BODY_MAX, create_body);
}

/* ---- GET /api/v1/webhooks, GET /api/v1/webhooks/{id} ---- */

static void list_one(const WebhookRecord *w, void *arg)
{
    json_array_append_new(arg, webhook_json(w));
}

void api_handle_list_webhooks(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *list = json_array();
    if (archive_list_webhooks(call->api->archive, call->tenant, list_one, list, &err) != 0) {
        json_decref(list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "webhooks: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, json_pack("{s:o}", "webhooks", list));
}

void api_handle_get_webhook(struct api_call *call)
{
    struct base_err err = {{0}};
    WebhookRecord *w;
    int rv = archive_get_webhook(call->api->archive, call->tenant, call->param, &w, &err);
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_WEBHOOK_NOT_FOUND,
                          "tenant %s has no webhook %.64s; GET /api/v1/webhooks lists them",
                          call->tenant, call->param);
    } else if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "webhook: %s", err.msg);
    } else {
        api_respond_json(call->api, call->req, 200, webhook_json(w));
        archive_free_webhook(w);
    }
}

/* ---- DELETE /api/v1/webhooks/{id} ---- */

static void webhook_deleted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    api_op_answer_deleted(prop, status, res, "id");
}

void api_handle_delete_webhook(struct api_call *call)
{
    struct api_op *op = api_op_new(call);
    Command cmd = COMMAND__INIT;
    DeleteWebhook d = DELETE_WEBHOOK__INIT;
    d.id = call->param;
    cmd.body_case = COMMAND__BODY_DELETE_WEBHOOK;
    cmd.delete_webhook = &d;
    api_op_propose(op, &cmd, NULL, webhook_deleted);
}

/* ---- Deliveries ---- */

const char *api_receiver_error(const char *error, char *buf, size_t size)
{
    const char *p = error;
    if (strncmp(p, "HTTP ", 5) != 0) {
        return error;
    }
    p += 5;
    while (*p >= '0' && *p <= '9' && p - error < 12) {
        p++;
    }
    if (p == error + 5 || *p != ':') {
        return error;
    }
    snprintf(buf, size, "HTTP %.*s from the receiver", (int)(p - error - 5), error + 5);
    return buf;
}

/* One delivery; @excerpts: with the start of each answer (tenant admins only). */
static json_t *delivery_json(const DeliveryRecord *d, bool excerpts)
{
    char id[24];
    json_t *history = json_array();
    json_t *payload = json_loads(d->body, 0, NULL);
    for (size_t i = 0; i < d->n_history; i++) {
        const DeliveryAttempt *a = d->history[i];
        char buf[64];
        json_t *attempt = json_pack(
            "{s:o, s:o, s:o, s:i}", "time", api_time_json(a->time_ms), "http_status",
            a->http_status != 0 ? json_integer(a->http_status) : json_null(), "error",
            a->error[0] != '\0' ? json_string(api_receiver_error(a->error, buf, sizeof buf))
                                : json_null(),
            "ms", (int)a->ms);
        if (excerpts) {
            json_object_set_new(attempt, "excerpt",
                                a->excerpt[0] != '\0' ? json_string(a->excerpt) : json_null());
        }
        json_array_append_new(history, attempt);
    }
    snprintf(id, sizeof id, "%llu", (unsigned long long)d->id);
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:i, s:o, s:o, s:o, s:o, s:o}", "id", id,
                     "webhook", d->webhook, "event", d->event, "image_no",
                     d->image_no[0] != '\0' ? json_string(d->image_no) : json_null(), "state",
                     d->state, "attempts", (int)d->attempts, "next_attempt",
                     api_time_json(strcmp(d->state, "pending") == 0 ? d->next_ms : 0),
                     "created", api_time_json(d->created_ms), "done", api_time_json(d->done_ms),
                     "history", history, "payload", payload != NULL ? payload : json_null());
}

struct delivery_list {
    json_t *list;
    bool excerpts;
};

static void delivery_one(const DeliveryRecord *d, void *arg)
{
    struct delivery_list *l = arg;
    json_array_append_new(l->list, delivery_json(d, l->excerpts));
}

/* Answers the deliveries @f selects; @image_no names the bill in the answer. */
static void respond_deliveries(struct api_call *call, const struct archive_delivery_filter *f)
{
    struct base_err err = {{0}};
    /* A receiver's answer may hold anything it likes: tenant admins only. */
    struct delivery_list l = {json_array(), archive_actor_may(&call->access, PERM_ADMIN)};
    bool more;
    if (archive_list_deliveries(call->api->archive, call->tenant, f, delivery_one, &l, &more,
                                &err) != 0) {
        json_decref(l.list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "deliveries: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:o, s:o, s:b}", "image_no",
                               f->image_no != NULL && f->image_no[0] != '\0'
                                   ? json_string(f->image_no)
                                   : json_null(),
                               "deliveries", l.list, "more", more));
}

static bool valid_state(const char *s)
{
    return strcmp(s, "pending") == 0 || strcmp(s, "delivered") == 0 ||
           strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0;
}

/* Reads ?state= and ?limit= into @f (@state and @limit hold the strings); false after
 * answering. */
static bool read_filter(struct api_call *call, struct archive_delivery_filter *f, char **state,
                        char **limit)
{
    *state = http_request_query(call->req, "state");
    *limit = http_request_query(call->req, "limit");
    f->limit = 100;
    if (*state != NULL && !valid_state(*state)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "state must be pending, delivered, failed or cancelled");
        return false;
    }
    f->state = *state;
    if (*limit != NULL) {
        char *end;
        unsigned long n = strtoul(*limit, &end, 10);
        if (**limit == '\0' || *end != '\0' || n < 1 || n > 1000) {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                              "limit must be a number from 1 to 1000");
            return false;
        }
        f->limit = (unsigned)n;
    }
    return true;
}

void api_handle_bill_deliveries(struct api_call *call)
{
    struct archive_delivery_filter f = {0};
    BillRecord *bill;
    char *state = NULL, *limit = NULL;
    if (!api_load_bill(call, &bill)) {
        return;
    }
    archive_free_bill(bill);
    if (read_filter(call, &f, &state, &limit)) {
        f.image_no = call->param;
        respond_deliveries(call, &f);
    }
    free(state);
    free(limit);
}

void api_handle_list_deliveries(struct api_call *call)
{
    struct archive_delivery_filter f = {0};
    char *state = NULL, *limit = NULL;
    char *image_no = http_request_query(call->req, "image_no");
    if (image_no != NULL && image_no[0] != '\0' && !archive_valid_image_no(image_no)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "image_no is not a valid image number");
    } else if (read_filter(call, &f, &state, &limit)) {
        f.image_no = image_no;
        respond_deliveries(call, &f);
    }
    free(image_no);
    free(state);
    free(limit);
}

/* ---- POST /api/v1/deliveries/{id}/retry ---- */

static void delivery_retried(struct repl_propose *prop, int status,
                             const struct archive_result *res)
{
    struct api_op *op = prop->data;
    if (api_op_applied(op, status, res)) {
        api_respond_json(op->call.api, op->call.req, 200,
                         json_pack("{s:s, s:s, s:I}", "id", op->call.param, "state", res->state,
                                   "index", (json_int_t)res->index));
    }
    api_op_free(op);
}

void api_handle_retry_delivery(struct api_call *call)
{
    struct api_op *op;
    Command cmd = COMMAND__INIT;
    RetryDelivery r = RETRY_DELIVERY__INIT;
    char *end;
    unsigned long long id = strtoull(call->param, &end, 10);
    if (call->param[0] < '0' || call->param[0] > '9' || *end != '\0') {
        api_respond_error(call->api, call->req, 404, API_E_DELIVERY_NOT_FOUND,
                          "no delivery %.64s: delivery ids are numbers (see GET "
                          "/api/v1/deliveries)", call->param);
        return;
    }
    op = api_op_new(call);
    r.delivery = id;
    cmd.body_case = COMMAND__BODY_RETRY_DELIVERY;
    cmd.retry_delivery = &r;
    api_op_propose(op, &cmd, NULL, delivery_retried);
}
