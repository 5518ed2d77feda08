/* HTTP/1.1 server on libuv with http-parser (see http.h for the contract).
 *
 * One connection parses one request at a time. The parser is paused at three points
 * so that the server, not a parser callback, decides what happens next: when the
 * headers are complete (the handler is called, outside the parser), when a handler
 * pauses its body, and when the message is complete (a pipelined request waits in the
 * input buffer until the current one is released). Reading from the socket happens
 * only while the input buffer is empty and the parser wants bytes, so a connection
 * holds one 64 KiB buffer whatever the client sends.
 *
 * Callbacks into a handler never run inside a call the handler made into the server:
 * anything triggered from such a call (a write to a dead connection, a resumed body,
 * a body without bytes) is deferred to the next loop iteration through the server's
 * idle handle. A request and its connection are freed only when nothing refers to
 * them any more (the handler's final call made, deferred calls and writes done). */
#include "net/http_server.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* http_parser.h names its method enum like ours (http.h): rename its tag here. */
#define http_method http_parser_method
#include <http_parser.h>
#undef http_method
#include <jansson.h>
#include <sodium.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"

#define READ_BUF_BYTES HTTP_BODY_CHUNK_MAX
#define HEADERS_MAX 100
#define DISCARD_BYTES_MAX (1u << 20) /* unread body small enough to read and drop */
#define WRITE_QUEUE_MAX (4u << 20)   /* pipelined answers waiting for a slow reader */
#define LINGER_MS 2000               /* reading after our FIN so the client gets the answer */
#define REQUEST_ID_MAX 64

enum body_mode { BODY_UNREAD, BODY_STREAM, BODY_BUFFER, BODY_DISCARD };

struct request_impl {
    struct http_request pub;
    struct http_server *server;
    enum body_mode body_mode;
    http_body_cb body_cb;
    http_body_done_cb done_cb;
    size_t buffer_max;
    size_t body_cap;
    uint64_t body_received;
    int body_error;      /* BASE_ETOOBIG when the server refused the body */
    bool headers_done;   /* the parser has the whole head */
    bool dispatched;     /* request_cb has run: the handler owns the request */
    bool body_complete;  /* the parser saw the end of the message */
    bool done_called;    /* done_cb has run (or will, deferred) */
    bool answered;       /* a status line was written, by the handler or the server */
    bool finished;       /* the handler made its final respond call */
    bool paused;         /* the handler paused its body */
    bool no_body;        /* neither Content-Length > 0 nor chunked */
    bool expect_continue;
    bool continue_sent;
    bool close_after;    /* the answer said Connection: close */
    bool streaming;      /* http_respond_start() was called */
    bool head_dropped;   /* ...after the server had answered: the body is dropped too */
    bool chunked_out;    /* the answer uses chunked transfer encoding */
    bool head_only;      /* a HEAD request: no body bytes are sent */
    size_t reserved;     /* bytes of the server's buffered-body budget held */
    uint64_t head_deadline_ns; /* clock_mono_ns() by which the head must be complete */
    uint64_t body_deadline_ns; /* ...and a buffered body (0: no deadline) */
    int64_t out_length;  /* declared Content-Length of a streamed answer, or -1 */
    uint64_t out_sent;
    unsigned refs;       /* deferred calls and writes with callbacks in flight */
    char *out_headers;   /* "Name: value\r\n" lines added by the handler */
    size_t out_headers_len;
    unsigned n_headers_cap;
};

struct http_conn {
    struct http_server *server;
    uv_tcp_t tcp;
    uv_timer_t timer;
    http_parser parser;
    struct http_conn *prev, *next;
    char *in;            /* READ_BUF_BYTES; [in_off, in_len) is not parsed yet */
    size_t in_off, in_len;
    struct request_impl *req; /* the request being parsed or handled */
    char *url;
    size_t url_len;
    size_t head_bytes;
    bool last_was_value;
    uint64_t in_abs;     /* stream offset of in[0]: bytes received before this read */
    uint64_t received;
    uint64_t crlf_at;    /* stream offset of the CRLF a chunk's data must be followed by */
    unsigned crlf_left;  /* bytes of it not checked yet */
    uint64_t scan_pos;   /* stream offset up to which the head was scanned (obs-fold) */
    bool scan_started;   /* the head's first byte other than CR or LF was seen */
    bool scan_done;      /* the head's end was seen: no scanning until the next one */
    bool timer_is_deadline; /* the timer ends a head or body deadline, not idleness */
    char scan_prev;
    int parse_status;    /* HTTP status a callback asked for when it stopped the parser */
    const char *parse_msg; /* and why, when the parser's own description would mislead */
    bool reading;
    bool in_parse;
    bool kick_pending;
    bool eof;
    bool dead;           /* no more answers on this connection: handlers are told */
    bool want_close;     /* close once the queued writes are out */
    bool shutting;       /* shutdown(2) sent, lingering */
    unsigned handles_open;
    unsigned refs;       /* deferred calls in flight */
    unsigned writes_pending;
    size_t write_bytes;
    char peer[64];
};

enum deferred_kind { DEFER_KICK, DEFER_BODY_DONE, DEFER_WRITE_CB, DEFER_ABORT };

struct deferred {
    enum deferred_kind kind;
    struct http_conn *conn;
    struct request_impl *req;
    int status;
    http_write_cb write_cb;
    struct deferred *next;
};

struct http_server {
    uv_loop_t *loop;
    struct http_server_config config;
    char *host;
    uv_tcp_t listener;
    uv_idle_t idle;
    uv_timer_t stop_timer;
    int port;
    struct http_conn *conns;
    struct deferred *defer_head, *defer_tail;
    struct http_server_stats stats;
    uint64_t buffered_bytes; /* held by buffered bodies (config.buffered_bytes_max) */
    bool stopping;
    unsigned handles_open;
    http_server_stop_cb stop_cb;
    char date[64];
    time_t date_at;
};

struct write_req {
    uv_write_t w;
    struct http_conn *conn;
    struct request_impl *req; /* set when @cb must run */
    http_write_cb cb;
    char *owned[2];
    size_t bytes;
};

static void conn_parse(struct http_conn *c);
static void conn_arm_timer(struct http_conn *c);
static void idle_timeout(uv_timer_t *t);
static void conn_close(struct http_conn *c);
static void conn_maybe_free(struct http_conn *c);
static void conn_flush_close(struct http_conn *c);
static void request_maybe_release(struct request_impl *r);
static void server_maybe_finish(struct http_server *s);
static void idle_cb(uv_idle_t *idle);

static struct request_impl *impl_of(struct http_request *req)
{
    return (struct request_impl *)req;
}

/* ---- Deferred calls ---- */

static void defer(struct http_server *s, enum deferred_kind kind, struct http_conn *c,
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
            conn_parse(c);
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
            request_maybe_release(r);
        }
        c->refs--;
        conn_maybe_free(c);
        d = next;
    }
}

static void conn_kick(struct http_conn *c)
{
    if (c->in_parse || c->kick_pending || c->dead) {
        return;
    }
    c->kick_pending = true;
    defer(c->server, DEFER_KICK, c, NULL, 0, NULL);
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

static bool valid_request_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > REQUEST_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            return false;
        }
    }
    return true;
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

static enum http_method method_of(unsigned m)
{
    switch (m) {
    case HTTP_GET: return HTTP_M_GET;
    case HTTP_HEAD: return HTTP_M_HEAD;
    case HTTP_POST: return HTTP_M_POST;
    case HTTP_PUT: return HTTP_M_PUT;
    case HTTP_PATCH: return HTTP_M_PATCH;
    case HTTP_DELETE: return HTTP_M_DELETE;
    case HTTP_OPTIONS: return HTTP_M_OPTIONS;
    default: return HTTP_M_OTHER;
    }
}

/* ---- Requests ---- */

static struct request_impl *request_new(struct http_conn *c)
{
    struct request_impl *r = xcalloc(1, sizeof *r);
    r->server = c->server;
    r->pub.conn = c;
    r->out_length = -1;
    snprintf(r->pub.peer, sizeof r->pub.peer, "%s", c->peer);
    return r;
}

static void request_free(struct request_impl *r)
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
static bool reserve(struct request_impl *r, size_t n)
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
static void request_maybe_release(struct request_impl *r)
{
    struct http_conn *c = r->pub.conn;
    if (!r->finished || r->refs > 0) {
        return;
    }
    if (!r->body_complete && !c->dead && !r->close_after) {
        /* The answer kept the connection: the rest of the body is read and dropped. */
        r->body_mode = BODY_DISCARD;
        r->paused = false;
        conn_kick(c);
        return;
    }
    if (c->req == r) {
        c->req = NULL;
    }
    r->server->stats.requests_in_flight--;
    request_free(r);
    if (c->dead) {
        conn_maybe_free(c);
    } else if (c->want_close || c->eof) {
        c->want_close = true;
        conn_flush_close(c);
    } else {
        conn_kick(c);
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
        conn_close(c);
    }
    if (r != NULL) {
        wr->cb(&r->pub, status < 0 ? BASE_ECANCELED : 0);
        r->refs--;
        request_maybe_release(r);
    }
    free(wr);
    if (c->dead) {
        conn_maybe_free(c);
    } else if (c->want_close && c->req == NULL) {
        conn_flush_close(c);
    } else if (c->req == NULL && c->write_bytes <= WRITE_QUEUE_MAX / 2) {
        conn_kick(c);
    }
}

/* Queues @n buffers; @owned (up to two) are freed after the write. @cb, with @r, runs
 * once the bytes are out (or the connection failed). */
static void conn_write(struct http_conn *c, uv_buf_t *bufs, unsigned n, char *owned0,
                       char *owned1, struct request_impl *r, http_write_cb cb)
{
    struct write_req *wr;
    size_t bytes = 0;
    int rv;
    for (unsigned i = 0; i < n; i++) {
        bytes += bufs[i].len;
    }
    if (c->dead || c->shutting) {
        free(owned0);
        free(owned1);
        if (cb != NULL) {
            defer(c->server, DEFER_WRITE_CB, c, r, BASE_ECANCELED, cb);
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
        conn_close(c);
        if (cb != NULL) {
            r->refs--;
            defer(c->server, DEFER_WRITE_CB, c, r, BASE_ECANCELED, cb);
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

/* Status line and headers. @length < 0: chunked (or close-delimited for HTTP/1.0). */
static char *build_head(struct request_impl *r, int status, const char *content_type,
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
    if (r->out_headers != NULL) {
        append(&buf, &len, &cap, r->out_headers, r->out_headers_len);
    }
    append(&buf, &len, &cap, "\r\n", 2);
    *out_len = len;
    return buf;
}

static void count_answer(struct request_impl *r, int status)
{
    struct http_server_stats *st = &r->server->stats;
    uint64_t us = (clock_mono_ns() - r->pub.start_ns) / 1000;
    r->answered = true;
    if (status >= 500) {
        st->responses_5xx++;
    } else if (status >= 400) {
        st->responses_4xx++;
    }
    if (status >= 400) {
        LOG_INFO("http", "request_id=%s peer=%s %s %s status=%d us=%" PRIu64,
                 r->pub.request_id, r->pub.peer, r->pub.method_name ? r->pub.method_name : "-",
                 r->pub.path ? r->pub.path : "-", status, us);
    } else {
        LOG_DEBUG("http", "request_id=%s peer=%s %s %s status=%d us=%" PRIu64,
                  r->pub.request_id, r->pub.peer, r->pub.method_name ? r->pub.method_name : "-",
                  r->pub.path ? r->pub.path : "-", status, us);
    }
}

/* Writes a whole answer (head and body copied) unless one was written already. */
static void write_answer(struct request_impl *r, int status, const char *content_type,
                         const void *body, size_t len)
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
    count_answer(r, status);
    if (c->dead) {
        return;
    }
    head = build_head(r, status, content_type, (int64_t)len, &head_len);
    bufs[0] = uv_buf_init(head, (unsigned)head_len);
    if (len > 0 && !r->head_only && status != 304 && status != 204) {
        copy = xmalloc(len);
        memcpy(copy, body, len);
        bufs[1] = uv_buf_init(copy, (unsigned)len);
        n = 2;
    }
    conn_write(c, bufs, n, head, copy, NULL, NULL);
}

static char *error_body(const struct request_impl *r, int code, const char *error,
                        const char *message, size_t *len)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:s}", "code", code, "error", error, "message",
                          message, "request_id", r->pub.request_id);
    char *text;
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
static void server_answer(struct request_impl *r, int status, int code, const char *error,
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

/* ---- Closing ---- */

static void handle_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    c->handles_open--;
    conn_maybe_free(c);
}

static void conn_maybe_free(struct http_conn *c)
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
    free(c->in);
    free(c->url);
    free(c);
    server_maybe_finish(s);
}

/* Tells the handler that owns the current request that the connection is gone. */
static void notify_handler(struct http_conn *c)
{
    struct request_impl *r = c->req;
    if (r == NULL) {
        return;
    }
    if (!r->dispatched || r->finished) {
        if (!r->dispatched) {
            c->req = NULL;
            r->server->stats.requests_in_flight--;
            request_free(r);
        } else {
            /* Finished and waiting for its body: nothing more to wait for. */
            r->body_complete = true;
            request_maybe_release(r);
        }
        return;
    }
    if ((r->body_mode == BODY_STREAM || r->body_mode == BODY_BUFFER) && !r->done_called) {
        r->done_called = true;
        defer(c->server, DEFER_BODY_DONE, c, r, r->body_error != 0 ? r->body_error
                                                                   : BASE_ECANCELED, NULL);
    } else {
        defer(c->server, DEFER_ABORT, c, r, 0, NULL);
    }
    r->body_complete = true; /* nothing more will arrive */
}

/* Closes at once: no more bytes either way. */
static void conn_close(struct http_conn *c)
{
    if (c->dead) {
        return;
    }
    c->dead = true;
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
    notify_handler(c);
}

static void linger_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = stream->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
    }
}

static void linger_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void after_shutdown(uv_shutdown_t *req, int status)
{
    struct http_conn *c = req->data;
    free(req);
    c->refs--;
    if (status < 0 || c->dead) {
        conn_close(c);
        conn_maybe_free(c);
        return;
    }
    /* Keep reading (and dropping) until the client closes, so that unread bytes do not
     * turn our close into a reset that destroys the answer in flight. */
    uv_timer_start(&c->timer, linger_timeout, LINGER_MS, 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Closes once the queued answers are out: FIN, then a short linger. */
static void conn_flush_close(struct http_conn *c)
{
    uv_shutdown_t *req;
    if (c->dead || c->shutting || c->writes_pending > 0 || c->req != NULL) {
        return;
    }
    c->shutting = true;
    req = xcalloc(1, sizeof *req);
    req->data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, after_shutdown) != 0) {
        free(req);
        conn_close(c);
        return;
    }
    c->refs++;
    c->in_off = c->in_len = 0;
    uv_timer_stop(&c->timer);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, linger_read);
}

/* A request the server refuses itself (bad syntax, too large, too slow). */
static void conn_refuse(struct http_conn *c, int status, int code, const char *error,
                        const char *message)
{
    struct request_impl *r = c->req;
    bool fresh = r == NULL;
    if (fresh) {
        r = request_new(c);
        c->req = r;
        c->server->stats.requests_in_flight++;
        c->server->stats.requests_total++;
        r->pub.start_ns = clock_mono_ns();
    }
    if (r->pub.request_id[0] == '\0') {
        uint8_t raw[16];
        randombytes_buf(raw, sizeof raw);
        for (size_t i = 0; i < sizeof raw; i++) {
            snprintf(r->pub.request_id + 2 * i, 3, "%02x", raw[i]);
        }
    }
    c->want_close = true;
    server_answer(r, status, code, error, message);
    if (c->req == NULL) {
        return; /* the write failed at once: the connection is closed and r is freed */
    }
    if (!r->dispatched) {
        c->req = NULL;
        c->server->stats.requests_in_flight--;
        request_free(r);
        conn_flush_close(c);
    } else {
        /* The handler hears of it through its body callbacks; no more bytes are read. */
        notify_handler(c);
        c->in_off = c->in_len = 0;
    }
}

/* ---- Parsing ---- */

static struct http_conn *conn_of(http_parser *p)
{
    return p->data;
}

static int head_bytes_add(struct http_conn *c, size_t n)
{
    c->head_bytes += n;
    if (c->head_bytes > c->server->config.header_bytes_max) {
        c->parse_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    ASSERT(c->req == NULL);
    c->req = request_new(c);
    c->server->stats.requests_in_flight++;
    c->server->stats.requests_total++;
    c->head_bytes = 0;
    c->url_len = 0;
    c->last_was_value = false;
    /* The whole head must arrive within the header timeout (slow-header clients). */
    c->req->head_deadline_ns = clock_mono_ns() + c->server->config.header_timeout_ms * 1000000;
    conn_arm_timer(c);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    if (head_bytes_add(c, n) != 0) {
        return -1;
    }
    c->url = xrealloc(c->url, c->url_len + n + 1);
    memcpy(c->url + c->url_len, at, n);
    c->url_len += n;
    c->url[c->url_len] = '\0';
    return 0;
}

static void grow_str(char **s, const char *at, size_t n)
{
    size_t old = *s != NULL ? strlen(*s) : 0;
    *s = xrealloc(*s, old + n + 1);
    memcpy(*s + old, at, n);
    (*s)[old + n] = '\0';
}

/* HTTP/1.0 and HTTP/1.1 only: http-parser takes any digits, and a request line
 * without a version as HTTP/0.9. */
static int check_version(struct http_conn *c, const http_parser *p)
{
    if (p->http_major == 1 && p->http_minor <= 1) {
        return 0;
    }
    if (p->http_major == 0) {
        c->parse_status = 400;
        c->parse_msg = "the request line has no HTTP version (HTTP/0.9 is not supported): "
                       "send METHOD TARGET HTTP/1.1";
    } else {
        c->parse_status = 505;
        c->parse_msg = "this node speaks HTTP/1.1 (and HTTP/1.0) only";
    }
    return -1;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    struct request_impl *r = c->req;
    if (head_bytes_add(c, n) != 0 || check_version(c, p) != 0) {
        return -1;
    }
    if (r->pub.n_headers == 0 || c->last_was_value) {
        if (r->pub.n_headers == HEADERS_MAX) {
            c->parse_status = 431;
            return -1;
        }
        if (r->pub.n_headers == r->n_headers_cap) {
            r->n_headers_cap = r->n_headers_cap ? r->n_headers_cap * 2 : 16;
            r->pub.headers = xrealloc(r->pub.headers, r->n_headers_cap * sizeof *r->pub.headers);
        }
        r->pub.headers[r->pub.n_headers].name = NULL;
        r->pub.headers[r->pub.n_headers].value = xstrdup("");
        r->pub.n_headers++;
        c->last_was_value = false;
    }
    grow_str(&r->pub.headers[r->pub.n_headers - 1].name, at, n);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    struct request_impl *r = c->req;
    if (head_bytes_add(c, n) != 0) {
        return -1;
    }
    if (r->pub.n_headers == 0) {
        return 0;
    }
    c->last_was_value = true;
    grow_str(&r->pub.headers[r->pub.n_headers - 1].value, at, n);
    return 0;
}

static void trim_headers(struct request_impl *r)
{
    for (unsigned i = 0; i < r->pub.n_headers; i++) {
        struct http_header *h = &r->pub.headers[i];
        char *v = h->value;
        size_t n;
        for (char *k = h->name; k != NULL && *k; k++) {
            *k = (char)((*k >= 'A' && *k <= 'Z') ? *k + 32 : *k);
        }
        if (h->name == NULL) {
            h->name = xstrdup("");
        }
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        n = strlen(v);
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
            n--;
        }
        memmove(h->value, v, n);
        h->value[n] = '\0';
    }
}

/* Splits the target into path and query; false when it is not a usable origin-form
 * (or absolute-form) target. */
static bool split_target(struct http_conn *c, struct request_impl *r)
{
    struct http_parser_url u;
    const char *path;
    size_t path_len;
    http_parser_url_init(&u);
    if (c->url == NULL || http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        return false;
    }
    path = c->url + u.field_data[UF_PATH].off;
    path_len = u.field_data[UF_PATH].len;
    if (path_len == 0 || path[0] != '/') {
        return false;
    }
    r->pub.raw_path = xstrndup(path, path_len);
    if (u.field_set & (1 << UF_QUERY)) {
        r->pub.query = xstrndup(c->url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    }
    r->pub.path = http_percent_decode(path, path_len, false);
    return r->pub.path != NULL;
}

static void assign_request_id(struct request_impl *r)
{
    const char *given = http_request_header(&r->pub, "x-request-id");
    uint8_t raw[16];
    if (given != NULL && valid_request_id(given)) {
        snprintf(r->pub.request_id, sizeof r->pub.request_id, "%s", given);
        return;
    }
    randombytes_buf(raw, sizeof raw);
    for (size_t i = 0; i < sizeof raw; i++) {
        snprintf(r->pub.request_id + 2 * i, 3, "%02x", raw[i]);
    }
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    struct request_impl *r = c->req;
    const char *expect;
    if (check_version(c, p) != 0) {
        return -1;
    }
    trim_headers(r);
    assign_request_id(r);
    r->pub.method = method_of(p->method);
    r->pub.method_name = http_method_str((enum http_parser_method)p->method);
    r->pub.start_ns = clock_mono_ns();
    /* "close" among the Connection options wins, whatever the HTTP version. */
    r->pub.keep_alive = http_should_keep_alive(p) != 0 && !(p->flags & F_CONNECTION_CLOSE);
    r->pub.chunked = (p->flags & F_CHUNKED) != 0;
    r->pub.has_content_length = !r->pub.chunked && p->content_length != ULLONG_MAX;
    r->pub.content_length = r->pub.has_content_length ? p->content_length : 0;
    r->head_only = r->pub.method == HTTP_M_HEAD;
    r->no_body = !r->pub.chunked && r->pub.content_length == 0;
    expect = http_request_header(&r->pub, "expect");
    r->expect_continue = expect != NULL && strcasecmp(expect, "100-continue") == 0 &&
                         p->http_minor >= 1;
    if (!split_target(c, r)) {
        c->parse_status = 400;
        c->parse_msg = "the request target is not a valid absolute path (check its "
                       "percent-encoding: '%' must be followed by two hex digits, and %00 "
                       "is not allowed)";
        return -1;
    }
    if (r->pub.has_content_length && r->pub.content_length > c->server->config.body_bytes_max) {
        c->parse_status = 413;
        return -1;
    }
    r->headers_done = true;
    http_parser_pause(p, 1);
    return 0;
}

/* Checks what has arrived of the CRLF that must follow a chunk's data (http-parser
 * built without HTTP_PARSER_STRICT, as Debian's is, takes any two bytes there); false
 * on a wrong byte. */
static bool chunk_crlf_ok(struct http_conn *c)
{
    while (c->crlf_left > 0) {
        uint64_t pos = c->crlf_at + (2 - c->crlf_left);
        if (pos < c->in_abs || pos >= c->in_abs + c->in_len) {
            return true; /* not here yet */
        }
        if (c->in[pos - c->in_abs] != "\r\n"[2 - c->crlf_left]) {
            c->crlf_left = 0;
            return false;
        }
        c->crlf_left--;
    }
    return true;
}

static const char chunk_crlf_msg[] = "malformed chunked body: a chunk's data must be followed "
                                     "by CRLF (check the chunk sizes)";

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    struct request_impl *r = c->req;
    if ((p->flags & F_CHUNKED) && p->content_length == 0) {
        /* The chunk's data ends here: CRLF must come next. */
        c->crlf_at = c->in_abs + (uint64_t)(at + n - c->in);
        c->crlf_left = 2;
        if (!chunk_crlf_ok(c)) {
            c->parse_status = 400;
            c->parse_msg = chunk_crlf_msg;
            return -1;
        }
    }
    r->body_received += n;
    if (r->body_received > c->server->config.body_bytes_max) {
        c->parse_status = 413;
        r->body_error = BASE_ETOOBIG;
        return -1;
    }
    if (r->finished || r->body_error != 0) {
        return 0; /* answered already, or refused by the server: the rest is dropped */
    }
    switch (r->body_mode) {
    case BODY_STREAM:
        r->body_cb(&r->pub, at, n);
        break;
    case BODY_BUFFER:
        if (r->pub.body_len + n > r->buffer_max) {
            c->parse_status = 413;
            r->body_error = BASE_ETOOBIG;
            return -1;
        }
        if (r->pub.body_len + n + 1 > r->body_cap) {
            size_t cap = (r->pub.body_len + n + 1) * 2;
            cap = cap > r->buffer_max + 1 ? r->buffer_max + 1 : cap;
            if (!reserve(r, cap - r->body_cap)) {
                c->parse_status = 503;
                r->body_error = BASE_ETOOBIG;
                return -1;
            }
            r->body_cap = cap;
            r->pub.body = xrealloc(r->pub.body, r->body_cap);
        }
        memcpy(r->pub.body + r->pub.body_len, at, n);
        r->pub.body_len += n;
        r->pub.body[r->pub.body_len] = '\0';
        break;
    case BODY_DISCARD:
    case BODY_UNREAD:
        break;
    }
    if (r->paused) {
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    c->req->body_complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* A parser error: the right refusal for what the callbacks or the parser saw. */
static void parse_failed(struct http_conn *c, enum http_errno err)
{
    int status = c->parse_status != 0 ? c->parse_status : 400;
    char msg[256];
    if (err == HPE_HEADER_OVERFLOW) {
        status = 431;
    }
    switch (status) {
    case 431:
        snprintf(msg, sizeof msg, "request line and headers exceed %zu bytes (--header-max) "
                 "or %d header lines", c->server->config.header_bytes_max, HEADERS_MAX);
        conn_refuse(c, 431, 10431, "headers_too_large", msg);
        break;
    case 413:
        snprintf(msg, sizeof msg, "the body exceeds the %" PRIu64 " bytes this endpoint "
                 "accepts (--body-max, or 1 MiB for JSON)", c->req != NULL &&
                 c->req->body_mode == BODY_BUFFER ? (uint64_t)c->req->buffer_max
                                                   : c->server->config.body_bytes_max);
        conn_refuse(c, 413, 10413, "body_too_large", msg);
        break;
    case 503:
        if (c->req != NULL) {
            http_request_add_header(&c->req->pub, "Retry-After", "1");
        }
        c->server->stats.bodies_refused_busy++;
        snprintf(msg, sizeof msg, "this node holds %" PRIu64 " bytes of request bodies already "
                 "(--buffered-bytes-max): retry shortly", c->server->buffered_bytes);
        conn_refuse(c, 503, 10503, "unavailable", msg);
        break;
    case 505:
        conn_refuse(c, 505, 10505, "http_version_not_supported", c->parse_msg);
        break;
    default:
        if (c->parse_msg != NULL) {
            snprintf(msg, sizeof msg, "%s", c->parse_msg);
        } else {
            snprintf(msg, sizeof msg, "malformed HTTP request: %s (%s)",
                     http_errno_description(err),
                     c->req != NULL && c->req->headers_done ? "in the body" : "in the head");
        }
        conn_refuse(c, 400, 10400, "bad_request", msg);
    }
}

/* What the current request waits for before the parser may run again; true when
 * parsing must stop for now. May call the handler (done_cb) or release the request. */
static bool request_step(struct http_conn *c, bool *progressed)
{
    struct request_impl *r = c->req;
    *progressed = false;
    if (r == NULL) {
        return c->want_close || c->write_bytes > WRITE_QUEUE_MAX;
    }
    if (r->headers_done && !r->dispatched) {
        r->dispatched = true;
        *progressed = true;
        c->server->config.request_cb(&r->pub);
        return false;
    }
    if (r->body_complete) {
        if ((r->body_mode == BODY_STREAM || r->body_mode == BODY_BUFFER) && !r->done_called) {
            r->done_called = true;
            *progressed = true;
            r->done_cb(&r->pub, 0);
            return false;
        }
    }
    if (r->finished) {
        if (r->refs > 0) {
            return true; /* a write or deferred call still refers to it */
        }
        if (r->body_complete || r->body_mode != BODY_DISCARD) {
            *progressed = true;
            request_maybe_release(r); /* frees it, or starts dropping the body */
        }
        return false;
    }
    if (r->body_complete) {
        return true; /* the handler is answering */
    }
    if (r->headers_done && r->body_mode == BODY_UNREAD && !r->no_body) {
        return true; /* the handler has not asked for the body yet */
    }
    return r->paused;
}

/* Arms the connection's timer: the idle timeout, or sooner the deadline of the head
 * being received or of a buffered body. */
static void conn_arm_timer(struct http_conn *c)
{
    struct request_impl *r = c->req;
    uint64_t ms = c->server->config.idle_timeout_ms;
    uint64_t deadline = 0;
    if (r != NULL && !r->headers_done) {
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

static void conn_update_reading(struct http_conn *c)
{
    struct request_impl *r = c->req;
    bool want = !c->dead && !c->shutting && !(c->want_close && r == NULL) &&
                c->in_off == c->in_len &&
                !(c->req == NULL && c->write_bytes > WRITE_QUEUE_MAX) &&
                (r == NULL || !r->headers_done ||
                 (!r->body_complete && !r->paused && r->body_mode != BODY_UNREAD));
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
            conn_close(c);
            return;
        }
        c->reading = true;
        conn_arm_timer(c);
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

/* Scans the bytes of a request head not scanned yet, before the parser sees them:
 * false when a line of the head starts with a space or tab (obs-fold, which
 * http-parser takes as a continuation in every build). Stops at the end of the head;
 * the next head starts a new scan. */
static bool head_scan(struct http_conn *c)
{
    uint64_t end = c->in_abs + c->in_len;
    uint64_t pos = c->in_abs + c->in_off;
    if (c->req != NULL && c->req->headers_done) {
        return true;
    }
    if (c->req == NULL && c->scan_done) {
        /* Between two requests: a new head starts at the parser's position. */
        c->scan_done = c->scan_started = false;
        c->scan_prev = 0;
        c->scan_pos = pos;
    }
    if (c->scan_pos > pos) {
        pos = c->scan_pos;
    }
    for (; pos < end && !c->scan_done; pos++) {
        char ch = c->in[pos - c->in_abs];
        if (!c->scan_started) {
            c->scan_started = ch != '\r' && ch != '\n';
        } else if (c->scan_prev == '\n' && (ch == ' ' || ch == '\t')) {
            return false;
        } else if (c->scan_prev == '\n' && (ch == '\r' || ch == '\n')) {
            c->scan_done = true; /* the empty line that ends the head */
        }
        c->scan_prev = ch;
    }
    c->scan_pos = pos;
    return true;
}

static void conn_parse(struct http_conn *c)
{
    c->in_parse = true;
    while (!c->dead && !c->shutting) {
        bool progressed;
        size_t n;
        enum http_errno err;
        if (request_step(c, &progressed)) {
            break;
        }
        if (progressed) {
            continue;
        }
        if (c->in_off == c->in_len) {
            break;
        }
        if (!chunk_crlf_ok(c)) {
            conn_refuse(c, 400, 10400, "bad_request", chunk_crlf_msg);
            break;
        }
        if (!head_scan(c)) {
            conn_refuse(c, 400, 10400, "bad_request",
                        "a header line starts with a space or tab (obs-fold line folding is "
                        "not accepted, RFC 9112 5.2): send each header on one line");
            break;
        }
        http_parser_pause(&c->parser, 0);
        n = http_parser_execute(&c->parser, &parser_settings, c->in + c->in_off,
                                c->in_len - c->in_off);
        c->in_off += n;
        err = HTTP_PARSER_ERRNO(&c->parser);
        if (err != HPE_OK && err != HPE_PAUSED) {
            parse_failed(c, err);
            break;
        }
    }
    if (c->in_off == c->in_len) {
        c->in_off = c->in_len = 0;
    }
    c->in_parse = false;
    if (!c->dead && !c->shutting) {
        conn_update_reading(c);
        if (c->want_close && c->req == NULL) {
            conn_flush_close(c);
        }
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
    ASSERT(c->in_len == 0);
    *buf = uv_buf_init(c->in, READ_BUF_BYTES);
}

/* Between requests: closes once the answers still queued are out (FIN, linger). */
static void conn_close_after_answers(struct http_conn *c)
{
    c->want_close = true;
    conn_update_reading(c);
    conn_flush_close(c);
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
        conn_close(c); /* the request is truncated */
        return;
    }
    /* The client half-closed after a whole request: answer it, then close. */
    conn_update_reading(c);
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
            conn_close(c);
        } else {
            on_eof(c);
        }
        return;
    }
    c->server->stats.bytes_in += (uint64_t)nread;
    c->in_off = 0;
    c->in_len = (size_t)nread;
    c->in_abs = c->received;
    c->received += (uint64_t)nread;
    conn_arm_timer(c);
    conn_parse(c);
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
            conn_close(c);
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
        conn_refuse(c, 408, 10408, "request_timeout", msg);
        return;
    }
    conn_close(c);
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
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(c);
    uv_timer_start(&c->timer, idle_timeout, s->config.idle_timeout_ms,
                   s->config.idle_timeout_ms);
    uv_timer_stop(&c->timer);
    conn_update_reading(c);
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
        conn_close(c);
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
            conn_close(c); /* idle keep-alive connections go at once */
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
        conn_write(r->pub.conn, &buf, 1, NULL, NULL, NULL, NULL);
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
        defer(r->server, DEFER_BODY_DONE, c, r,
              r->body_error != 0 ? r->body_error : BASE_ECANCELED, NULL);
        return;
    }
    send_continue(r);
    conn_kick(c);
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
        server_answer(r, 413, 10413, "body_too_large", msg);
        defer(r->server, DEFER_BODY_DONE, req->conn, r, BASE_ETOOBIG, NULL);
        return;
    }
    if (!reserve(r, req->has_content_length ? (size_t)req->content_length + 1 : 4096)) {
        char msg[200];
        snprintf(msg, sizeof msg, "this node holds %" PRIu64 " bytes of request bodies already "
                 "(--buffered-bytes-max): retry shortly", r->server->buffered_bytes);
        r->body_mode = BODY_BUFFER;
        r->done_cb = done_cb;
        r->body_error = BASE_ETOOBIG;
        r->done_called = true;
        r->server->stats.bodies_refused_busy++;
        http_request_add_header(req, "Retry-After", "1");
        server_answer(r, 503, 10503, "unavailable", msg);
        defer(r->server, DEFER_BODY_DONE, req->conn, r, BASE_ETOOBIG, NULL);
        return;
    }
    r->body_cap = r->reserved;
    if (r->server->config.body_timeout_ms > 0) {
        r->body_deadline_ns = req->start_ns + r->server->config.body_timeout_ms * 1000000;
        conn_arm_timer(req->conn);
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
        conn_update_reading(c);
    }
}

void http_request_resume(struct http_request *req)
{
    struct request_impl *r = impl_of(req);
    if (!r->paused) {
        return;
    }
    r->paused = false;
    conn_kick(req->conn);
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
        request_maybe_release(r); /* else the parse loop sees it next */
    }
}

void http_respond(struct http_request *req, int status, const char *content_type,
                  const void *body, size_t len)
{
    struct request_impl *r = impl_of(req);
    write_answer(r, status, content_type, body, len);
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
    count_answer(r, status);
    if (c->dead) {
        return;
    }
    head = build_head(r, status, content_type, content_length, &head_len);
    r->out_length = content_length;
    buf = uv_buf_init(head, (unsigned)head_len);
    conn_write(c, &buf, 1, head, NULL, NULL, NULL);
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
            defer(r->server, DEFER_WRITE_CB, c, r,
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
    conn_write(c, bufs, n, data, prefix, cb != NULL ? r : NULL, cb);
}

void http_respond_end(struct http_request *req)
{
    struct request_impl *r = impl_of(req);
    struct http_conn *c = req->conn;
    if (r->streaming && !c->dead && !r->head_only && !r->head_dropped) {
        if (r->chunked_out) {
            uv_buf_t buf = uv_buf_init((char *)"0\r\n\r\n", 5);
            conn_write(c, &buf, 1, NULL, NULL, NULL, NULL);
        } else if (r->out_length >= 0 && r->out_sent < (uint64_t)r->out_length) {
            /* Short of the declared length: only closing tells the client. */
            LOG_WARN("http", "request_id=%s answer cut short at %" PRIu64 " of %" PRId64
                     " bytes; closing", req->request_id, r->out_sent, r->out_length);
            r->close_after = true;
            c->want_close = true;
            conn_close(c);
        }
    }
    if (!r->streaming && !r->answered) {
        /* A handler bug: still answer, so a kept-alive client is not left waiting. */
        size_t len;
        char *text = error_body(r, 10500, "internal", "the node ended this request without an "
                                "answer; see its log", &len);
        write_answer(r, 500, "application/json", text, len);
        free(text);
    }
    finish(r);
}
