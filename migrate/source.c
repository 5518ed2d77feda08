/* The data source interface (source.h): choosing the kind, answering calls, and the
 * JSON call every kind makes under the outbound guard. */
#include "migrate/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"

int source_new(struct source **out, const struct source_env *env, const DataSourceRecord *ds,
               struct base_err *err)
{
    const struct source_ops *ops;
    struct source *s;
    uint8_t *buf;
    size_t len;
    if (ds->kind != NULL && strcmp(ds->kind, "imgarc") == 0) {
        ops = &source_imgarc_ops;
    } else if (ds->kind != NULL && strcmp(ds->kind, "vendor") == 0) {
        ops = &source_vendor_ops;
    } else {
        base_err_set(err, "data source %s has kind '%.32s': the kinds are imgarc and vendor",
                     ds->name, ds->kind != NULL ? ds->kind : "");
        return BASE_EINVAL;
    }
    if (ds->url == NULL || strlen(ds->url) > SOURCE_URL_MAX - 256 ||
        (strncmp(ds->url, "http://", 7) != 0 && strncmp(ds->url, "https://", 8) != 0)) {
        base_err_set(err, "data source %s: its url is not an http(s) URL", ds->name);
        return BASE_EINVAL;
    }
    s = xcalloc(1, sizeof *s);
    s->ops = ops;
    s->env = *env;
    /* A private copy, so the record may change under a running batch. */
    len = protobuf_c_message_get_packed_size(&ds->base);
    buf = xmalloc(len + 1);
    protobuf_c_message_pack(&ds->base, buf);
    s->record = data_source_record__unpack(NULL, len, buf);
    free(buf);
    ASSERT(s->record != NULL);
    if (ops->init != NULL) {
        ops->init(s);
    }
    *out = s;
    return 0;
}

void source_free(struct source *s)
{
    if (s == NULL) {
        return;
    }
    if (s->ops->free != NULL) {
        s->ops->free(s);
    }
    if (s->record->secret != NULL) {
        sodium_memzero(s->record->secret, strlen(s->record->secret));
    }
    data_source_record__free_unpacked(s->record, NULL);
    free(s);
}

void source_login(struct source *s, source_login_cb cb, void *arg)
{
    ASSERT(s->login_cb == NULL && s->list_cb == NULL && s->bill_cb == NULL);
    s->login_cb = cb;
    s->arg = arg;
    s->ops->login(s);
}

void source_list(struct source *s, const MigrationScope *scope, const char *cursor,
                 unsigned limit, source_list_cb cb, void *arg)
{
    ASSERT(s->login_cb == NULL && s->list_cb == NULL && s->bill_cb == NULL);
    s->list_cb = cb;
    s->arg = arg;
    s->ops->list(s, scope, cursor != NULL ? cursor : "", limit);
}

void source_get_bill(struct source *s, const char *image_no, const json_t *listed,
                     source_bill_cb cb, void *arg)
{
    ASSERT(s->login_cb == NULL && s->list_cb == NULL && s->bill_cb == NULL);
    s->bill_cb = cb;
    s->arg = arg;
    s->ops->get_bill(s, image_no, listed);
}

int source_file_request(struct source *s, const json_t *file, char *url, size_t url_size,
                        char *header, size_t header_size, struct base_err *err)
{
    header[0] = '\0';
    return s->ops->file_request(s, file, url, url_size, header, header_size, err);
}

void source_answer_login(struct source *s, int status, const char *message)
{
    source_login_cb cb = s->login_cb;
    ASSERT(cb != NULL);
    s->login_cb = NULL;
    cb(s->arg, status, message != NULL ? message : "");
}

void source_answer_list(struct source *s, int status, const char *message, json_t *bills,
                        const char *next_cursor)
{
    source_list_cb cb = s->list_cb;
    ASSERT(cb != NULL);
    s->list_cb = NULL;
    cb(s->arg, status, message != NULL ? message : "", bills,
       next_cursor != NULL ? next_cursor : "");
}

void source_answer_bill(struct source *s, int status, const char *message, json_t *bill)
{
    source_bill_cb cb = s->bill_cb;
    ASSERT(cb != NULL);
    s->bill_cb = NULL;
    cb(s->arg, status, message != NULL ? message : "", bill);
}

void source_url_escape(char *out, size_t size, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    for (; *v != '\0' && n + 4 < size; v++) {
        unsigned char c = (unsigned char)*v;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
}

void source_url(const struct source *s, char *out, size_t size, const char *path)
{
    size_t n = strlen(s->record->url);
    while (n > 0 && s->record->url[n - 1] == '/') {
        n--;
    }
    snprintf(out, size, "%.*s%s", (int)n, s->record->url, path);
}

int source_status_of(long http_status)
{
    if (http_status == 0 || http_status >= 500 || http_status == 429 || http_status == 408) {
        return BASE_ERETRY;
    }
    if (http_status == 401 || http_status == 403) {
        return BASE_EREFUSED;
    }
    if (http_status == 404) {
        return BASE_ENOTFOUND;
    }
    return BASE_EINVAL;
}

/* ---- One JSON call ---- */

struct call {
    struct http_client_req req;
    struct source *s;
    source_call_cb cb;
    void *arg;
    char *url;
    char *body;
    char *headers[3];
};

static void call_done(struct http_client_req *req)
{
    struct call *c = req->data;
    json_t *answer = NULL;
    if (req->status != 0 && !req->truncated && req->response != NULL && req->response_len > 0) {
        answer = json_loadb(req->response, req->response_len, JSON_REJECT_DUPLICATES, NULL);
    }
    c->cb(c->s, c->arg, req->status, req->status == 0 ? req->error : "", answer);
    json_decref(answer);
    if (req->response != NULL) {
        /* It may hold a token: wiped, then freed (the caller's to free). */
        sodium_memzero(req->response, req->response_len);
        free(req->response);
    }
    free(c->url);
    if (c->body != NULL) {
        sodium_memzero(c->body, strlen(c->body));
    }
    free(c->body);
    for (size_t i = 0; i < 2; i++) {
        if (c->headers[i] != NULL) {
            sodium_memzero(c->headers[i], strlen(c->headers[i]));
        }
        free(c->headers[i]);
    }
    free(c);
}

void source_call(struct source *s, const char *method, const char *url, const char *header,
                 json_t *body, source_call_cb cb, void *arg)
{
    struct call *c = xcalloc(1, sizeof *c);
    size_t n = 0;
    c->s = s;
    c->cb = cb;
    c->arg = arg;
    c->url = xstrdup(url);
    if (body != NULL) {
        c->body = json_dumps(body, JSON_COMPACT);
        c->headers[n++] = xstrdup("Content-Type: application/json");
    }
    if (header != NULL && header[0] != '\0') {
        c->headers[n++] = xstrdup(header);
    }
    c->headers[n] = NULL;
    c->req.data = c;
    c->req.method = method;
    c->req.url = c->url;
    c->req.headers = (const char *const *)c->headers;
    c->req.body = c->body;
    c->req.body_len = c->body != NULL ? strlen(c->body) : 0;
    c->req.response_max = SOURCE_ANSWER_MAX;
    c->req.timeout_ms = SOURCE_TIMEOUT_MS;
    c->req.permits = outbound_check;
    c->req.guard = s->env.guard;
    http_client_send(s->env.http, &c->req, call_done);
}
