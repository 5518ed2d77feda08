/* Requests as handlers see them (see http_server.h for the contract, http_int.h for
 * the design): the request object and its release, writing answers (whole, streamed,
 * the server's own JSON errors), and the handler-facing calls. */
#include "net/http_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/http_errors.h"

struct write_req {
    uv_write_t w;
    struct http_conn *conn;
    struct request_impl *req; /* set when @cb must run */
    http_write_cb cb;
    char *owned[2];
    size_t bytes;
};

static struct request_impl *impl_of(struct http_request *req)
{
    return (struct request_impl *)req;
}

/* ---- Small helpers ---- */

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

static const char *server_date(struct http_server *s)
{
    time_t now = time(NULL);
    if (now != s->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_at = now;
    }
    return s->date;
}

char *http_percent_decode(const char *s, size_t n, bool plus)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) {
                free(out);
                return NULL;
            }
            ch = (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
            i += 2;
        } else if (ch == '+' && plus) {
            ch = ' ';
        }
        if (ch == '\0') {
            free(out);
            return NULL;
        }
        out[o++] = ch;
    }
    out[o] = '\0';
    return out;
}

/* ---- Requests ---- */

struct request_impl *http_req_new(struct http_conn *c)
{
    struct request_impl *r = xcalloc(1, sizeof *r);
    r->server = c->server;
    r->pub.conn = c;
    r->out_length = -1;
    snprintf(r->pub.peer, sizeof r->pub.peer, "%s", c->peer);
    return r;
}

void http_req_free(struct request_impl *r)
{
    r->server->buffered_bytes -= r->reserved;
    r->server->stats.buffered_bytes = r->server->buffered_bytes;
    for (unsigned i = 0; i < r->pub.n_headers; i++) {
        free(r->pub.headers[i].name);
        free(r->pub.headers[i].value);
    }
    free(r->pub.headers);
    free(r->pub.path);
    free(r->pub.raw_path);
    free(r->pub.query);
    free(r->pub.body);
    free(r->out_headers);
    free(r);
}

/* Takes @n more bytes of the server's buffered-body budget for @r; false when they do
 * not fit. */
bool http_req_reserve(struct request_impl *r, size_t n)
{
    struct http_server *s = r->server;
    if (s->config.buffered_bytes_max > 0 && s->buffered_bytes + n > s->config.buffered_bytes_max) {
        return false;
    }
    s->buffered_bytes += n;
    s->stats.buffered_bytes = s->buffered_bytes;
    r->reserved += n;
    return true;
}

/* Frees the request once the handler is done with it and nothing refers to it; then
 * the connection goes on with the next request, or closes. */
void http_req_maybe_release(struct request_impl *r)
{
    struct http_conn *c = r->pub.conn;
    if (!r->finished || r->refs > 0) {
        return;
    }
    if (!r->body_complete && !c->dead && !r->close_after) {
        /* The answer kept the connection: the rest of the body is read and dropped. */
        r->body_mode = BODY_DISCARD;
        r->paused = false;
        http_conn_kick(c);
        return;
    }
    if (c->req == r) {
        c->req = NULL;
    }
    r->server->stats.requests_in_flight--;
    http_req_free(r);
    if (c->dead) {
        http_conn_maybe_free(c);
    } else if (c->want_close || c->eof) {
        c->want_close = true;
        http_conn_flush_close(c);
    } else {
        http_conn_kick(c);
    }
}

static bool can_discard(const struct request_impl *r)
{
    const struct http_request *q = &r->pub;
    if (r->body_complete) {
        return true;
    }
    if (r->no_body) {
        return true;
    }
    if (r->expect_continue && !r->continue_sent) {
        return false; /* the client waits for 100 before it sends the body */
    }
    return !q->chunked && q->has_content_length &&
           q->content_length - r->body_received <= DISCARD_BYTES_MAX;
}

/* ---- Writing ---- */

static void after_write(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct http_conn *c = wr->conn;
    struct request_impl *r = wr->req;
    c->writes_pending--;
    c->write_bytes -= wr->bytes;
    free(wr->owned[0]);
    free(wr->owned[1]);
    if (status < 0 && !c->dead) {
        LOG_DEBUG("http", "peer=%s write: %s", c->peer, uv_strerror(status));
        http_conn_close(c);
    }
    if (r != NULL) {
        wr->cb(&r->pub, status < 0 ? BASE_ECANCELED : 0);
        r->refs--;
        http_req_maybe_release(r);
    }
    free(wr);
    if (c->dead) {
        http_conn_maybe_free(c);
    } else if (c->want_close && c->req == NULL) {
        http_conn_flush_close(c);
    } else if (c->req == NULL && c->write_bytes <= WRITE_QUEUE_MAX / 2) {
        http_conn_kick(c);
    }
}

/* TLS: @bufs encrypted into one buffer that replaces them in bufs[0] (the plaintext is
 * freed); false when the connection failed. */
static bool encrypt(struct http_conn *c, uv_buf_t *bufs, unsigned *n, char **owned0,
                    char **owned1)
{
    char *out;
    size_t len = 0;
    int rv = 0;
    for (unsigned i = 0; i < *n && rv == 0; i++) {
        rv = tls_conn_write(c->tls, bufs[i].base, bufs[i].len);
    }
    free(*owned0);
    free(*owned1);
    *owned0 = *owned1 = NULL;
    if (rv != 0 || *n == 0) {
        return false;
    }
    out = tls_conn_take_output(c->tls, &len);
    if (out == NULL && tls_conn_failed(c->tls)) {
        return false;
    }
    if (out == NULL) {
        out = xmalloc(1); /* nothing to send (empty buffers): an empty write */
    }
    bufs[0] = uv_buf_init(out, (unsigned)len);
    *owned0 = out;
    *n = 1;
    return true;
}

static void conn_write_as(struct http_conn *c, uv_buf_t *bufs, unsigned n, char *owned0,
                          char *owned1, struct request_impl *r, http_write_cb cb, bool raw);

/* Queues @n buffers; @owned (up to two) are freed after the write. @cb, with @r, runs
 * once the bytes are out (or the connection failed). */
void http_conn_write(struct http_conn *c, uv_buf_t *bufs, unsigned n, char *owned0,
                     char *owned1, struct request_impl *r, http_write_cb cb)
{
    conn_write_as(c, bufs, n, owned0, owned1, r, cb, false);
}

void http_conn_write_raw(struct http_conn *c, char *owned, size_t len)
{
    uv_buf_t buf = uv_buf_init(owned, (unsigned)len);
    conn_write_as(c, &buf, 1, owned, NULL, NULL, NULL, true);
}

void http_conn_tls_flush(struct http_conn *c)
{
    size_t len;
    char *out = tls_conn_take_output(c->tls, &len);
    if (out != NULL) {
        http_conn_write_raw(c, out, len);
    }
}

static void conn_write_as(struct http_conn *c, uv_buf_t *bufs, unsigned n, char *owned0,
                          char *owned1, struct request_impl *r, http_write_cb cb, bool raw)
{
    struct write_req *wr;
    size_t bytes = 0;
    int rv;
    if (c->tls != NULL && !raw && !c->dead && !c->shutting &&
        !encrypt(c, bufs, &n, &owned0, &owned1)) {
        http_conn_close(c); /* below, the write fails like any on a dead connection */
    }
    for (unsigned i = 0; i < n; i++) {
        bytes += bufs[i].len;
    }
    if (c->dead || c->shutting) {
        free(owned0);
        free(owned1);
        if (cb != NULL) {
            http_defer(c->server, DEFER_WRITE_CB, c, r, BASE_ECANCELED, cb);
        }
        return;
    }
    wr = xcalloc(1, sizeof *wr);
    wr->conn = c;
    wr->owned[0] = owned0;
    wr->owned[1] = owned1;
    wr->bytes = bytes;
    if (cb != NULL) {
        wr->req = r;
        wr->cb = cb;
        r->refs++;
    }
    c->server->stats.bytes_out += bytes;
    rv = uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, n, after_write);
    if (rv != 0) {
        /* Nothing was queued: fail like an asynchronous write error would. */
        free(owned0);
        free(owned1);
        wr->owned[0] = wr->owned[1] = NULL;
        http_conn_close(c);
        if (cb != NULL) {
            r->refs--;
            http_defer(c->server, DEFER_WRITE_CB, c, r, BASE_ECANCELED, cb);
        }
        free(wr);
        return;
    }
    c->writes_pending++;
    c->write_bytes += bytes;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Decides keep-alive for the answer: the client's wish, the server's state, and
 * whether an unread body can still be skipped. */
static bool answer_keeps_alive(struct request_impl *r)
{
    struct http_conn *c = r->pub.conn;
    return r->pub.keep_alive && !r->server->stopping && !c->want_close && !c->eof &&
           can_discard(r);
}

/* Whether the handler added header @name (a "Name:" at a line start of its headers). */
static bool has_out_header(const struct request_impl *r, const char *name)
{
    size_t n = strlen(name);
    const char *p = r->out_headers;
    while (p != NULL && *p != '\0') {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            return true;
        }
        p = strstr(p, "\r\n");
        p = p != NULL ? p + 2 : NULL;
    }
    return false;
}

/* Status line and headers. @length < 0: chunked (or close-delimited for HTTP/1.0).
 * Every answer says X-Content-Type-Options: nosniff, and a JSON one Cache-Control:
 * no-store unless its handler chose a Cache-Control (answers hold tenants' data and are
 * never for a shared cache). */
char *http_req_build_head(struct request_impl *r, int status, const char *content_type,
                          int64_t length, size_t *out_len)
{
    struct http_conn *c = r->pub.conn;
    char line[256];
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool http10 = c->parser.http_major == 1 && c->parser.http_minor == 0;
    bool keep = answer_keeps_alive(r);
    int n;
    if (r->server->config.answer_cb != NULL) {
        r->server->config.answer_cb(&r->pub);
    }
    n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\nDate: %s\r\nX-Request-Id: %s\r\n", status,
                 http_status_text(status), server_date(r->server), r->pub.request_id);
    append(&buf, &len, &cap, line, (size_t)n);
    if (content_type != NULL) {
        n = snprintf(line, sizeof line, "Content-Type: %s\r\n", content_type);
        append(&buf, &len, &cap, line, (size_t)n);
    }
    if (length >= 0 && status != 304 && status != 204) {
        n = snprintf(line, sizeof line, "Content-Length: %" PRId64 "\r\n", length);
        append(&buf, &len, &cap, line, (size_t)n);
    } else if (length < 0 && !http10) {
        append(&buf, &len, &cap, "Transfer-Encoding: chunked\r\n", 28);
        r->chunked_out = true;
    } else if (length < 0) {
        keep = false; /* HTTP/1.0 without a length: the close ends the body */
    }
    if (!keep) {
        r->close_after = true;
        c->want_close = true;
    }
    n = snprintf(line, sizeof line, "Connection: %s\r\n", keep ? "keep-alive" : "close");
    append(&buf, &len, &cap, line, (size_t)n);
    if (!has_out_header(r, "X-Content-Type-Options")) {
        append(&buf, &len, &cap, "X-Content-Type-Options: nosniff\r\n", 33);
    }
    if (content_type != NULL && strncasecmp(content_type, "application/json", 16) == 0 &&
        !has_out_header(r, "Cache-Control")) {
        append(&buf, &len, &cap, "Cache-Control: no-store\r\n", 25);
    }
    if (r->out_headers != NULL) {
        append(&buf, &len, &cap, r->out_headers, r->out_headers_len);
    }
    append(&buf, &len, &cap, "\r\n", 2);
    *out_len = len;
    return buf;
}

void http_req_count_answer(struct request_impl *r, int status)
{
    struct http_server_stats *st = &r->server->stats;
    uint64_t us = (clock_mono_ns() - r->pub.start_ns) / 1000;
    r->answered = true;
    if (status >= 500) {
        st->responses_5xx++;
    } else if (status >= 400) {
        st->responses_4xx++;
    }
    if (status >= 400 && !r->pub.log_quiet) {
        LOG_INFO("http", "request_id=%s peer=%s %s %s status=%d us=%" PRIu64,
                 r->pub.request_id, r->pub.peer, r->pub.method_name ? r->pub.method_name : "-",
                 r->pub.path ? r->pub.path : "-", status, us);
    } else {
        LOG_DEBUG("http", "request_id=%s peer=%s %s %s status=%d us=%" PRIu64,
                  r->pub.request_id, r->pub.peer, r->pub.method_name ? r->pub.method_name : "-",
                  r->pub.path ? r->pub.path : "-", status, us);
    }
}

/* Writes a whole answer unless one was written already: the head, and the body copied,
 * or (@borrow) written from where it is (it outlives the write: static data). */
static void write_answer_body(struct request_impl *r, int status, const char *content_type,
                              const void *body, size_t len, bool borrow)
{
    struct http_conn *c = r->pub.conn;
    size_t head_len;
    char *head;
    char *copy = NULL;
    uv_buf_t bufs[2];
    unsigned n = 1;
    if (r->answered) {
        return;
    }
    http_req_count_answer(r, status);
    if (c->dead) {
        return;
    }
    head = http_req_build_head(r, status, content_type, (int64_t)len, &head_len);
    bufs[0] = uv_buf_init(head, (unsigned)head_len);
    if (len > 0 && !r->head_only && status != 304 && status != 204) {
        if (borrow) {
            bufs[1] = uv_buf_init((char *)body, (unsigned)len);
        } else {
            copy = xmalloc(len);
            memcpy(copy, body, len);
            bufs[1] = uv_buf_init(copy, (unsigned)len);
        }
        n = 2;
    }
    http_conn_write(c, bufs, n, head, copy, NULL, NULL);
}

static void write_answer(struct request_impl *r, int status, const char *content_type,
                         const void *body, size_t len)
{
    write_answer_body(r, status, content_type, body, len, false);
}

static char *error_body(const struct request_impl *r, int code, const char *error,
                        const char *message, size_t *len)
{
    json_t *o;
    char *text;
    if (r->pub.error_body != NULL) {
        return r->pub.error_body(&r->pub, code, error, message, len);
    }
    o = json_pack("{s:i, s:s, s:s, s:s}", "code", code, "error", error, "message", message,
                  "request_id", r->pub.request_id);
    if (o == NULL) {
        /* A message that is not UTF-8 (it quotes client bytes): say so plainly. */
        o = json_pack("{s:i, s:s, s:s, s:s}", "code", code, "error", error, "message",
                      "the request was refused (details not representable)", "request_id",
                      r->pub.request_id);
    }
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *len = strlen(text);
    return text;
}

/* The server's own answer for a request the handler may own: written once; the
 * handler's final call later only releases. */
void http_req_server_answer(struct request_impl *r, int status, int code, const char *error,
                            const char *message)
{
    size_t len;
    char *text;
    if (r->answered) {
        return;
    }
    text = error_body(r, code, error, message, &len);
    r->close_after = true;
    r->pub.conn->want_close = true;
    write_answer(r, status, "application/json", text, len);
    free(text);
}

/* ---- Request API for handlers ---- */

void *http_request_server_data(const struct http_request *req)
{
    return impl_of((struct http_request *)req)->server->config.data;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    for (unsigned i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

char *http_request_query(const struct http_request *req, const char *name)
{
    const char *q = req->query;
    size_t name_len = strlen(name);
    while (q != NULL && *q != '\0') {
        const char *end = q + strcspn(q, "&");
        const char *eq = memchr(q, '=', (size_t)(end - q));
        const char *key_end = eq != NULL ? eq : end;
        char *key = http_percent_decode(q, (size_t)(key_end - q), true);
        bool match = key != NULL && strlen(key) == name_len && memcmp(key, name, name_len) == 0;
        free(key);
        if (match) {
            char *v = eq != NULL ? http_percent_decode(eq + 1, (size_t)(end - eq - 1), true)
                                 : xstrdup("");
            /* A value that does not decode is treated as given but empty-invalid: the
             * caller's validation refuses it. */
            return v != NULL ? v : xstrdup("\x7f");
        }
        q = *end == '&' ? end + 1 : end;
    }
    return NULL;
}

static void send_continue(struct request_impl *r)
{
    static char text[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t buf = uv_buf_init(text, sizeof text - 1);
    if (r->expect_continue && !r->continue_sent && !r->answered && !r->body_complete &&
        !r->no_body) {
        r->continue_sent = true;
        http_conn_write(r->pub.conn, &buf, 1, NULL, NULL, NULL, NULL);
    }
}

static void start_body(struct request_impl *r, enum body_mode mode, http_body_cb body_cb,
                       http_body_done_cb done_cb)
{
    struct http_conn *c = r->pub.conn;
    ASSERT(r->body_mode == BODY_UNREAD && !r->finished);
    r->body_mode = mode;
    r->body_cb = body_cb;
    r->done_cb = done_cb;
    if (c->dead || (r->body_complete && r->answered)) {
        /* Gone already (or refused by the server): the handler hears it next turn. */
        r->done_called = true;
        http_defer(r->server, DEFER_BODY_DONE, c, r,
                   r->body_error != 0 ? r->body_error : BASE_ECANCELED, NULL);
        return;
    }
    send_continue(r);
    http_conn_kick(c);
}

void http_request_read_body(struct http_request *req, http_body_cb body_cb,
                            http_body_done_cb done_cb)
{
    start_body(impl_of(req), BODY_STREAM, body_cb, done_cb);
}

void http_request_buffer_body(struct http_request *req, size_t max_bytes,
                              http_body_done_cb done_cb)
{
    struct request_impl *r = impl_of(req);
    r->buffer_max = max_bytes;
    if (req->has_content_length && req->content_length > max_bytes) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body exceeds the %zu bytes this endpoint accepts",
                 max_bytes);
        r->body_mode = BODY_BUFFER;
        r->done_cb = done_cb;
        r->body_error = BASE_ETOOBIG;
        r->done_called = true;
        http_req_server_answer(r, 413, HTTP_E_BODY_TOO_LARGE, "body_too_large", msg);
        http_defer(r->server, DEFER_BODY_DONE, req->conn, r, BASE_ETOOBIG, NULL);
        return;
    }
    if (!http_req_reserve(r, req->has_content_length ? (size_t)req->content_length + 1 : 4096)) {
        char msg[200];
        snprintf(msg, sizeof msg, "this node holds %" PRIu64 " bytes of request bodies already "
                 "(--buffered-bytes-max): retry shortly", r->server->buffered_bytes);
        r->body_mode = BODY_BUFFER;
        r->done_cb = done_cb;
        r->body_error = BASE_ETOOBIG;
        r->done_called = true;
        r->server->stats.bodies_refused_busy++;
        http_request_add_header(req, "Retry-After", "1");
        http_req_server_answer(r, 503, HTTP_E_UNAVAILABLE, "unavailable", msg);
        http_defer(r->server, DEFER_BODY_DONE, req->conn, r, BASE_ETOOBIG, NULL);
        return;
    }
    r->body_cap = r->reserved;
    if (r->server->config.body_timeout_ms > 0) {
        r->body_deadline_ns = req->start_ns + r->server->config.body_timeout_ms * 1000000;
        http_conn_arm_timer(req->conn);
    }
    req->body = xmalloc(r->body_cap);
    req->body[0] = '\0';
    start_body(r, BODY_BUFFER, NULL, done_cb);
}

void http_request_close_after(struct http_request *req)
{
    struct request_impl *r = impl_of(req);
    r->close_after = true;
    req->conn->want_close = true;
}

void http_request_pause(struct http_request *req)
{
    struct request_impl *r = impl_of(req);
    struct http_conn *c = req->conn;
    r->paused = true;
    if (c->in_parse) {
        http_parser_pause(&c->parser, 1);
    } else if (!c->dead) {
        http_conn_update_reading(c);
    }
}

void http_request_resume(struct http_request *req)
{
    struct request_impl *r = impl_of(req);
    if (!r->paused) {
        return;
    }
    r->paused = false;
    http_conn_kick(req->conn);
}

void http_request_add_header(struct http_request *req, const char *name, const char *value)
{
    struct request_impl *r = impl_of(req);
    size_t cap = r->out_headers_len + 1;
    char *line = xasprintf("%s: %s\r\n", name, value);
    /* Header injection guard: values come from our own code, but never trust them. */
    for (char *p = line; p[0] != '\0' && p[2] != '\0'; p++) {
        if (*p == '\r' || *p == '\n') {
            *p = ' ';
        }
    }
    append(&r->out_headers, &r->out_headers_len, &cap, line, strlen(line));
    free(line);
}

/* The handler's final call: the request is released once its body is done. */
static void finish(struct request_impl *r)
{
    ASSERT(!r->finished);
    r->finished = true;
    if (r->pub.conn->dead) {
        r->body_complete = true;
    }
    if (!r->pub.conn->in_parse) {
        http_req_maybe_release(r); /* else the parse loop sees it next */
    }
}

void http_respond(struct http_request *req, int status, const char *content_type,
                  const void *body, size_t len)
{
    struct request_impl *r = impl_of(req);
    write_answer(r, status, content_type, body, len);
    finish(r);
}

void http_respond_static(struct http_request *req, int status, const char *content_type,
                         const void *body, size_t len)
{
    struct request_impl *r = impl_of(req);
    ASSERT(len <= UINT32_MAX);
    write_answer_body(r, status, content_type, body, len, true);
    finish(r);
}

void http_respond_error(struct http_request *req, int status, int code, const char *error,
                        const char *message)
{
    struct request_impl *r = impl_of(req);
    size_t len;
    char *text = error_body(r, code, error, message, &len);
    write_answer(r, status, "application/json", text, len);
    free(text);
    finish(r);
}

void http_respond_start(struct http_request *req, int status, const char *content_type,
                        int64_t content_length)
{
    struct request_impl *r = impl_of(req);
    struct http_conn *c = req->conn;
    size_t head_len;
    char *head;
    uv_buf_t buf;
    ASSERT(!r->streaming);
    r->streaming = true;
    if (r->answered) {
        r->head_dropped = true; /* the server answered first (408, 413) */
        return;
    }
    http_req_count_answer(r, status);
    if (c->dead) {
        return;
    }
    head = http_req_build_head(r, status, content_type, content_length, &head_len);
    r->out_length = content_length;
    buf = uv_buf_init(head, (unsigned)head_len);
    http_conn_write(c, &buf, 1, head, NULL, NULL, NULL);
}

void http_respond_write(struct http_request *req, char *data, size_t len, http_write_cb cb)
{
    struct request_impl *r = impl_of(req);
    struct http_conn *c = req->conn;
    char *prefix = NULL;
    uv_buf_t bufs[3];
    unsigned n = 0;
    ASSERT(r->streaming && !r->finished);
    if (r->head_only || len == 0 || c->dead || r->head_dropped) {
        free(data);
        if (cb != NULL) {
            http_defer(r->server, DEFER_WRITE_CB, c, r,
                       c->dead || r->head_dropped ? BASE_ECANCELED : 0, cb);
        }
        return;
    }
    if (r->chunked_out) {
        prefix = xasprintf("%zx\r\n", len);
        bufs[n++] = uv_buf_init(prefix, (unsigned)strlen(prefix));
    }
    bufs[n++] = uv_buf_init(data, (unsigned)len);
    if (r->chunked_out) {
        bufs[n++] = uv_buf_init((char *)"\r\n", 2);
    }
    r->out_sent += len;
    http_conn_write(c, bufs, n, data, prefix, cb != NULL ? r : NULL, cb);
}

void http_respond_end(struct http_request *req)
{
    struct request_impl *r = impl_of(req);
    struct http_conn *c = req->conn;
    if (r->streaming && !c->dead && !r->head_only && !r->head_dropped) {
        if (r->chunked_out) {
            uv_buf_t buf = uv_buf_init((char *)"0\r\n\r\n", 5);
            http_conn_write(c, &buf, 1, NULL, NULL, NULL, NULL);
        } else if (r->out_length >= 0 && r->out_sent < (uint64_t)r->out_length) {
            /* Short of the declared length: only closing tells the client. */
            LOG_WARN("http", "request_id=%s answer cut short at %" PRIu64 " of %" PRId64
                     " bytes; closing", req->request_id, r->out_sent, r->out_length);
            r->close_after = true;
            c->want_close = true;
            http_conn_close(c);
        }
    }
    if (!r->streaming && !r->answered) {
        /* A handler bug: still answer, so a kept-alive client is not left waiting. */
        size_t len;
        char *text = error_body(r, HTTP_E_INTERNAL, "internal",
                                "the node ended this request without an answer; see its log",
                                &len);
        write_answer(r, 500, "application/json", text, len);
        free(text);
    }
    finish(r);
}
