/* The HTTP server's connections (see http_server.h for the contract, http_int.h for
 * the design): accepting, reading, deferred calls, closing and the graceful stop.
 *
 * Reading happens only while the input buffer is empty and the parser wants bytes
 * (http_conn_update_reading()); what arrives goes to http_parse.c. A connection is
 * freed only when nothing refers to it any more. */
#include "net/http_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/http_errors.h"

static void idle_cb(uv_idle_t *idle);
static void idle_timeout(uv_timer_t *t);
static void server_maybe_finish(struct http_server *s);

/* ---- Deferred calls ---- */

void http_defer(struct http_server *s, enum deferred_kind kind, struct http_conn *c,
                struct request_impl *r, int status, http_write_cb cb)
{
    struct deferred *d = xcalloc(1, sizeof *d);
    d->kind = kind;
    d->conn = c;
    d->req = r;
    d->status = status;
    d->write_cb = cb;
    c->refs++;
    if (r != NULL) {
        r->refs++;
    }
    if (s->defer_tail != NULL) {
        s->defer_tail->next = d;
    } else {
        s->defer_head = d;
        uv_idle_start(&s->idle, idle_cb);
    }
    s->defer_tail = d;
}

static void run_deferred(struct deferred *d)
{
    struct request_impl *r = d->req;
    struct http_conn *c = d->conn;
    switch (d->kind) {
    case DEFER_KICK:
        c->kick_pending = false;
        if (!c->dead) {
            http_conn_parse(c);
        }
        break;
    case DEFER_BODY_DONE:
        r->done_cb(&r->pub, d->status);
        break;
    case DEFER_WRITE_CB:
        d->write_cb(&r->pub, d->status);
        break;
    case DEFER_ABORT:
        if (!r->finished && r->pub.abort_cb != NULL) {
            r->pub.abort_cb(&r->pub);
        }
        break;
    }
}

static void idle_cb(uv_idle_t *idle)
{
    struct http_server *s = idle->data;
    struct deferred *d = s->defer_head;
    s->defer_head = s->defer_tail = NULL;
    uv_idle_stop(idle);
    while (d != NULL) {
        struct deferred *next = d->next;
        struct request_impl *r = d->req;
        struct http_conn *c = d->conn;
        run_deferred(d);
        free(d);
        if (r != NULL) {
            r->refs--;
            http_req_maybe_release(r);
        }
        c->refs--;
        http_conn_maybe_free(c);
        d = next;
    }
}

void http_conn_kick(struct http_conn *c)
{
    if (c->in_parse || c->kick_pending || c->dead) {
        return;
    }
    c->kick_pending = true;
    http_defer(c->server, DEFER_KICK, c, NULL, 0, NULL);
}

/* ---- Closing ---- */

static void handle_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    c->handles_open--;
    http_conn_maybe_free(c);
}

void http_conn_maybe_free(struct http_conn *c)
{
    struct http_server *s = c->server;
    if (!c->dead || c->handles_open > 0 || c->req != NULL || c->refs > 0 ||
        c->writes_pending > 0) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    s->stats.connections_open--;
    tls_conn_free(c->tls);
    free(c->in);
    free(c->url);
    free(c);
    server_maybe_finish(s);
}

/* Tells the handler that owns the current request that the connection is gone. */
void http_conn_notify_handler(struct http_conn *c)
{
    struct request_impl *r = c->req;
    if (r == NULL) {
        return;
    }
    if (!r->dispatched || r->finished) {
        if (!r->dispatched) {
            c->req = NULL;
            r->server->stats.requests_in_flight--;
            http_req_free(r);
        } else {
            /* Finished and waiting for its body: nothing more to wait for. */
            r->body_complete = true;
            http_req_maybe_release(r);
        }
        return;
    }
    if ((r->body_mode == BODY_STREAM || r->body_mode == BODY_BUFFER) && !r->done_called) {
        r->done_called = true;
        http_defer(c->server, DEFER_BODY_DONE, c, r,
                   r->body_error != 0 ? r->body_error : BASE_ECANCELED, NULL);
    } else {
        http_defer(c->server, DEFER_ABORT, c, r, 0, NULL);
    }
    r->body_complete = true; /* nothing more will arrive */
}

/* Closes at once: no more bytes either way. */
void http_conn_close(struct http_conn *c)
{
    if (c->dead) {
        return;
    }
    c->dead = true;
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
    http_conn_notify_handler(c);
}

static void linger_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = stream->data;
    (void)buf;
    if (nread < 0) {
        http_conn_close(c);
    }
}

static void linger_timeout(uv_timer_t *t)
{
    http_conn_close(t->data);
}

static void after_shutdown(uv_shutdown_t *req, int status)
{
    struct http_conn *c = req->data;
    free(req);
    c->refs--;
    if (status < 0 || c->dead) {
        http_conn_close(c);
        http_conn_maybe_free(c);
        return;
    }
    /* Keep reading (and dropping) until the client closes, so that unread bytes do not
     * turn our close into a reset that destroys the answer in flight. */
    uv_timer_start(&c->timer, linger_timeout, LINGER_MS, 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Closes once the queued answers are out: FIN, then a short linger. */
void http_conn_flush_close(struct http_conn *c)
{
    uv_shutdown_t *req;
    if (c->dead || c->shutting || c->writes_pending > 0 || c->req != NULL) {
        return;
    }
    if (c->tls != NULL) {
        tls_conn_shutdown(c->tls);
        http_conn_tls_flush(c); /* close_notify, queued before the FIN */
        if (c->dead) {
            return;
        }
    }
    c->shutting = true;
    req = xcalloc(1, sizeof *req);
    req->data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, after_shutdown) != 0) {
        free(req);
        http_conn_close(c);
        return;
    }
    c->refs++;
    c->in_off = c->in_len = 0;
    uv_timer_stop(&c->timer);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, linger_read);
}

/* ---- Reading ---- */

/* Arms the connection's timer: the idle timeout, or sooner the deadline of the head
 * being received or of a buffered body. */
void http_conn_arm_timer(struct http_conn *c)
{
    struct request_impl *r = c->req;
    uint64_t ms = c->server->config.idle_timeout_ms;
    uint64_t deadline = 0;
    if (c->tls != NULL && !tls_conn_established(c->tls)) {
        deadline = c->tls_deadline_ns; /* however steadily the handshake trickles */
    } else if (r != NULL && !r->headers_done) {
        deadline = r->head_deadline_ns;
    } else if (r != NULL && !r->body_complete) {
        deadline = r->body_deadline_ns;
    }
    c->timer_is_deadline = false;
    if (deadline != 0) {
        uint64_t now = clock_mono_ns();
        uint64_t left = deadline > now ? (deadline - now + 999999) / 1000000 : 0;
        if (left <= ms) {
            ms = left;
            c->timer_is_deadline = true;
        }
    }
    uv_timer_start(&c->timer, idle_timeout, ms, 0);
}

bool http_conn_wants_bytes(struct http_conn *c)
{
    struct request_impl *r = c->req;
    return !c->dead && !c->shutting && !(c->want_close && r == NULL) &&
           c->in_off == c->in_len && !(c->req == NULL && c->write_bytes > WRITE_QUEUE_MAX) &&
           (r == NULL || !r->headers_done ||
            (!r->body_complete && !r->paused && r->body_mode != BODY_UNREAD));
}

void http_conn_update_reading(struct http_conn *c)
{
    struct request_impl *r = c->req;
    bool want = http_conn_wants_bytes(c);
    if (want && c->tls != NULL && tls_conn_pending(c->tls) &&
        !(r != NULL && r->finished && r->refs > 0)) {
        /* Plaintext (or whole records) wait inside TLS: parse them before the socket.
         * Not for a finished request whose answer is still being written: the parse
         * loop takes nothing for it until it is released (which kicks again). */
        http_conn_kick(c);
    }
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
            http_conn_close(c);
            return;
        }
        c->reading = true;
        http_conn_arm_timer(c);
    } else if (!want) {
        /* Also when not reading: a pipelined request parsed from the buffer started the
         * head timer, and its handler now owns it. */
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        uv_timer_stop(&c->timer);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http_conn *c = h->data;
    (void)suggested;
    if (c->shutting) {
        static char drain[4096]; /* lingering reads are dropped unread */
        *buf = uv_buf_init(drain, sizeof drain);
        return;
    }
    if (c->tls != NULL) {
        size_t size;
        char *in = tls_conn_in_buf(c->tls, &size);
        *buf = uv_buf_init(in, (unsigned)size);
        return;
    }
    ASSERT(c->in_len == 0);
    *buf = uv_buf_init(c->in, READ_BUF_BYTES);
}

/* Between requests: closes once the answers still queued are out (FIN, linger). */
static void conn_close_after_answers(struct http_conn *c)
{
    c->want_close = true;
    http_conn_update_reading(c);
    http_conn_flush_close(c);
}

static void on_eof(struct http_conn *c)
{
    struct request_impl *r = c->req;
    c->eof = true;
    if (r == NULL) {
        /* A normal close; answers to pipelined requests may still be queued. */
        conn_close_after_answers(c);
        return;
    }
    if (!r->headers_done || (r->body_mode != BODY_UNREAD && !r->body_complete)) {
        http_conn_close(c); /* the request is truncated */
        return;
    }
    /* The client half-closed after a whole request: answer it, then close. */
    http_conn_update_reading(c);
}

/* The answer to a client that spoke plain HTTP to the TLS port: it can read this one. */
static void refuse_plain_http(struct http_conn *c)
{
    static const char body[] =
        "{\"code\":10400,\"error\":\"bad_request\",\"message\":\"this port speaks TLS: use "
        "https:// (the node runs with --tls-cert)\"}";
    char *text = xasprintf("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                           sizeof body - 1, body);
    http_conn_write_raw(c, text, strlen(text));
    c->want_close = true;
    http_conn_update_reading(c); /* nothing more is read but the linger's drain */
    http_conn_flush_close(c);
}

/* Whether the first bytes of a connection are a plain HTTP request line ("DELETE /",
 * "OPTIONS *"...) rather than a TLS record. */
static bool looks_like_http(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && i < 16 && p[i] >= 'A' && p[i] <= 'Z') {
        i++;
    }
    return i >= 3 && i < n && p[i] == ' ';
}

void http_conn_tls_ended(struct http_conn *c)
{
    int how = c->tls != NULL && !c->dead ? tls_conn_ended(c->tls) : 0;
    if (how == TLS_CLOSED && !c->eof) {
        on_eof(c);
    } else if (how == TLS_FAILED) {
        c->server->stats.tls_failures++;
        http_conn_close(c);
    }
}

bool http_conn_tls_fill(struct http_conn *c)
{
    bool plain_http;
    int n;
    if (c->tls == NULL || c->in_off != c->in_len || !http_conn_wants_bytes(c)) {
        return false;
    }
    n = tls_conn_read(c->tls, c->in, READ_BUF_BYTES, c->peer, &plain_http);
    http_conn_tls_flush(c); /* what a record asked for (a key update's answer) */
    if (n <= 0 || c->dead) {
        return false; /* an end is acted on when the parse loop ends */
    }
    c->in_off = 0;
    c->in_len = (size_t)n;
    c->in_abs = c->received;
    c->received += (uint64_t)n;
    return true;
}

/* TLS: ciphertext arrived; the handshake moves on, and plaintext is parsed. */
static void tls_read(struct http_conn *c, size_t nread)
{
    bool plain_http = false;
    bool first = c->tls_deadline_ns != 0 && !tls_conn_established(c->tls) && c->in_abs == 0 &&
                 c->received == 0 && !c->tls_sniffed;
    size_t size;
    int n = 0;
    if (tls_conn_failed(c->tls)) {
        return; /* answered or closing: what else arrives is dropped */
    }
    if (first) {
        c->tls_sniffed = true;
        if (looks_like_http(tls_conn_in_buf(c->tls, &size), nread)) {
            c->server->stats.tls_failures++;
            refuse_plain_http(c);
            return;
        }
    }
    tls_conn_received(c->tls, nread);
    if (c->in_off == c->in_len) {
        n = tls_conn_read(c->tls, c->in, READ_BUF_BYTES, c->peer, &plain_http);
    }
    http_conn_tls_flush(c);
    if (c->dead) {
        return;
    }
    if (n == TLS_CLOSED) {
        on_eof(c);
        return;
    }
    if (n == TLS_FAILED) {
        c->server->stats.tls_failures++;
        if (plain_http && c->req == NULL) {
            refuse_plain_http(c);
        } else {
            http_conn_close(c);
        }
        return;
    }
    if (n > 0 || !tls_conn_established(c->tls)) {
        /* Ciphertext that gives no plaintext (a record trickled byte by byte) does not
         * keep an idle connection open; the handshake has its own deadline. */
        http_conn_arm_timer(c);
    }
    if (n > 0) {
        c->in_off = 0;
        c->in_len = (size_t)n;
        c->in_abs = c->received;
        c->received += (uint64_t)n;
    }
    http_conn_parse(c);
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = stream->data;
    (void)buf;
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            LOG_DEBUG("http", "peer=%s read: %s", c->peer, uv_strerror((int)nread));
            http_conn_close(c);
        } else {
            on_eof(c);
        }
        return;
    }
    c->server->stats.bytes_in += (uint64_t)nread;
    if (c->tls != NULL) {
        tls_read(c, (size_t)nread);
        return;
    }
    c->in_off = 0;
    c->in_len = (size_t)nread;
    c->in_abs = c->received;
    c->received += (uint64_t)nread;
    http_conn_arm_timer(c);
    http_conn_parse(c);
}

static void idle_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    struct request_impl *r = c->req;
    if (r == NULL) {
        /* An idle keep-alive connection; a slow reader still gets what was answered. */
        if (c->writes_pending > 0) {
            conn_close_after_answers(c);
        } else {
            http_conn_close(c);
        }
        return;
    }
    if (!r->answered) {
        char msg[200];
        if (!r->headers_done && c->timer_is_deadline) {
            snprintf(msg, sizeof msg, "the request line and headers did not arrive within %"
                     PRIu64 " ms (--header-timeout-ms)", c->server->config.header_timeout_ms);
        } else if (r->headers_done && c->timer_is_deadline) {
            snprintf(msg, sizeof msg, "the body did not arrive within %" PRIu64 " ms of the "
                     "headers (--body-timeout-ms)", c->server->config.body_timeout_ms);
        } else {
            snprintf(msg, sizeof msg, "no bytes received for %" PRIu64 " ms (--idle-timeout-ms) "
                     "while the request was incomplete", c->server->config.idle_timeout_ms);
        }
        LOG_INFO("http", "peer=%s closing a slow or stalled request: %s", c->peer, msg);
        http_conn_refuse(c, 408, HTTP_E_REQUEST_TIMEOUT, "request_timeout", msg);
        return;
    }
    http_conn_close(c);
}

/* ---- Accepting ---- */

static void peer_name(struct http_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof ip);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof ip);
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct http_server *s = listener->data;
    struct http_conn *c;
    if (status < 0) {
        LOG_WARN("http", "accept: %s", uv_strerror(status));
        return;
    }
    c = xcalloc(1, sizeof *c);
    c->server = s;
    c->in = xmalloc(READ_BUF_BYTES);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->stats.connections_open++;
    s->stats.connections_total++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || s->stopping ||
        s->stats.connections_open > s->config.connections_max) {
        http_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(c);
    if (s->config.tls != NULL) {
        c->tls = tls_conn_new(s->config.tls);
        c->tls_deadline_ns = clock_mono_ns() + s->config.header_timeout_ms * 1000000;
    }
    uv_timer_start(&c->timer, idle_timeout, s->config.idle_timeout_ms,
                   s->config.idle_timeout_ms);
    uv_timer_stop(&c->timer);
    http_conn_update_reading(c);
}

/* ---- Server ---- */

int http_server_start(struct http_server **out, uv_loop_t *loop,
                      const struct http_server_config *config, char *errmsg, size_t errmsg_size)
{
    struct http_server *s = xcalloc(1, sizeof *s);
    struct sockaddr_storage addr;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    int rv;
    s->loop = loop;
    s->config = *config;
    if (s->config.header_timeout_ms == 0) {
        s->config.header_timeout_ms = config->idle_timeout_ms;
    }
    s->host = xstrdup(config->host);
    s->config.host = s->host;
    if (uv_ip4_addr(config->host, config->port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(config->host, config->port, (struct sockaddr_in6 *)&addr) != 0) {
        if (errmsg != NULL) {
            snprintf(errmsg, errmsg_size, "'%s' is not an IPv4 or IPv6 address literal",
                     config->host);
        }
        free(s->host);
        free(s);
        return BASE_EINVAL;
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    rv = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    }
    if (rv != 0) {
        if (errmsg != NULL) {
            snprintf(errmsg, errmsg_size, "%s", uv_strerror(rv));
        }
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_run(loop, UV_RUN_NOWAIT); /* let the close complete before freeing */
        free(s->host);
        free(s);
        return BASE_EIO;
    }
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    uv_timer_init(loop, &s->stop_timer);
    s->stop_timer.data = s;
    s->handles_open = 3;
    *out = s;
    return 0;
}

int http_server_port(const struct http_server *server)
{
    return server->port;
}

void *http_server_data(const struct http_server *server)
{
    return server->config.data;
}

void http_server_get_stats(const struct http_server *server, struct http_server_stats *out)
{
    *out = server->stats;
}

static void server_handle_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    s->handles_open--;
    if (s->handles_open == 0) {
        /* The callback may still ask for the server's data pointer: free after it. */
        s->stop_cb(s);
        free(s->host);
        free(s);
    }
}

static void server_maybe_finish(struct http_server *s)
{
    if (!s->stopping || s->conns != NULL || s->defer_head != NULL ||
        uv_is_closing((uv_handle_t *)&s->idle)) {
        return;
    }
    uv_close((uv_handle_t *)&s->idle, server_handle_closed);
    uv_close((uv_handle_t *)&s->stop_timer, server_handle_closed);
}

static void stop_grace_over(uv_timer_t *t)
{
    struct http_server *s = t->data;
    struct http_conn *c = s->conns;
    if (c != NULL) {
        LOG_WARN("http", "shutdown grace period over: closing the remaining connections");
    }
    while (c != NULL) {
        struct http_conn *next = c->next;
        http_conn_close(c);
        c = next;
    }
}

void http_server_stop(struct http_server *server, uint64_t grace_ms, http_server_stop_cb cb)
{
    struct http_server *s = server;
    struct http_conn *c = s->conns;
    ASSERT(!s->stopping);
    s->stopping = true;
    s->stop_cb = cb;
    uv_close((uv_handle_t *)&s->listener, server_handle_closed);
    while (c != NULL) {
        struct http_conn *next = c->next;
        if (c->req == NULL && c->in_len == 0 && c->writes_pending == 0) {
            http_conn_close(c); /* idle keep-alive connections go at once */
        } else if (c->req == NULL && c->in_len == 0) {
            conn_close_after_answers(c); /* a slow reader gets the answers made */
        } else {
            c->want_close = true; /* the answer in progress says Connection: close */
        }
        c = next;
    }
    uv_timer_start(&s->stop_timer, stop_grace_over, grace_ms, 0);
    server_maybe_finish(s);
}
