/* Signed calls to other nodes' /internal/ endpoints, over the HTTP client. The body
 * is a protobuf message; the answer is kept up to PEER_BODY_MAX bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/mem.h"
#include "replication/peer.h"
#include "replication/repl_int.h"
#include "replication/peer_tls.h"

static void send_call(struct peer_call *c);

static void on_header(struct http_client_req *req, const char *line, size_t n)
{
    struct peer_call *c = req->data;
    peer_answer_line(&c->answer, line, n);
}

static void done(struct http_client_req *req)
{
    struct peer_call *c = req->data;
    int64_t offset = 0;
    bool learned = peer_headers_learn(c->repl->auth, c->peer, &c->auth, &c->answer, &offset);
    if (c->resent < PEER_AUTH_RESENDS_MAX && !c->repl->stopping &&
        peer_auth_should_resign(req->status, learned, &c->auth, offset)) {
        /* Refused for the time window: nothing was done; the offset is known now. */
        c->resent++;
        free(c->req.response);
        c->req.response = NULL;
        send_call(c);
        return;
    }
    c->cb(c);
}

static void send_call(struct peer_call *c)
{
    peer_headers_sign(c->repl->auth, c->peer, c->req.method, c->target, c->body,
                      c->req.body_len, &c->auth);
    peer_answer_reset(&c->answer);
    c->headers[0] = c->auth.time;
    c->headers[1] = c->auth.signature;
    c->headers[2] = "Content-Type: " PEER_CONTENT_TYPE;
    c->headers[3] = c->auth.digest[0] != '\0' ? c->auth.digest : NULL;
    c->headers[4] = NULL;
    http_client_send(c->repl->http, &c->req, done);
}

struct peer_call *peer_call_start(struct repl *r, const char *method, const char *http,
                                  const char *target, void *body, size_t len,
                                  unsigned timeout_ms, peer_call_cb cb, void *data)
{
    struct peer_call *c = xcalloc(1, sizeof *c);
    int n;
    c->repl = r;
    c->cb = cb;
    c->data = data;
    c->body = body;
    snprintf(c->peer, sizeof c->peer, "%s", http);
    n = snprintf(c->url, sizeof c->url, "%s://%s", peer_scheme(), http);
    snprintf(c->url + n, sizeof c->url - (size_t)n, "%s", target);
    c->target = c->url + n;
    c->req.data = c;
    c->req.method = method;
    c->req.url = c->url;
    c->req.tls = peer_tls();
    c->req.headers = c->headers;
    c->req.body = body != NULL ? body : (strcmp(method, "POST") == 0 ? "" : NULL);
    c->req.body_len = len;
    c->req.response_max = PEER_BODY_MAX;
    c->req.timeout_ms = timeout_ms;
    c->req.connect_timeout_ms = timeout_ms < 2000 ? timeout_ms : 2000;
    c->req.on_header = on_header;
    send_call(c);
    return c;
}

void peer_call_cancel(struct peer_call *c, const char *why)
{
    c->resent = PEER_AUTH_RESENDS_MAX; /* no further try after a cancel */
    http_client_cancel(&c->req, why);
}

void peer_call_free(struct peer_call *c)
{
    if (c != NULL) {
        free(c->req.response);
        free(c->body);
        free(c);
    }
}

void peer_call_describe(const struct peer_call *c, char *buf, size_t size)
{
    if (c->req.status == 0) {
        snprintf(buf, size, "%s: %s", c->url, c->req.error);
    } else {
        snprintf(buf, size, "%s: HTTP %ld: %.160s", c->url, c->req.status,
                 c->req.response != NULL ? c->req.response : "");
    }
}

void peer_get_prepare(struct repl *r, struct http_client_req *req, struct peer_headers *auth,
                      const char *headers[4], const char *http, const char *url,
                      const char *target, const char *extra, http_client_data_cb on_data,
                      http_client_header_cb header_cb)
{
    void *data = req->data;
    memset(req, 0, sizeof *req);
    req->data = data;
    peer_headers_sign(r->auth, http, "GET", target, NULL, 0, auth);
    headers[0] = auth->time;
    headers[1] = auth->signature;
    headers[2] = extra;
    headers[3] = NULL;
    req->method = "GET";
    req->url = url;
    req->tls = peer_tls();
    req->headers = headers;
    req->on_data = on_data;
    req->on_header = header_cb;
}
