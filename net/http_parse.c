/* Parsing requests (see http_int.h for the design): http-parser's callbacks, the
 * limits on heads and bodies, request ids, the refusals the server writes itself, and
 * the parse loop that decides, between two runs of the parser, what the current
 * request waits for. */
#include "net/http_int.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "net/http_errors.h"

/* ---- Request ids and methods ---- */

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

/* ---- Refusing ---- */

/* A request the server refuses itself (bad syntax, too large, too slow). */
void http_conn_refuse(struct http_conn *c, int status, int code, const char *error,
                      const char *message)
{
    struct request_impl *r = c->req;
    bool fresh = r == NULL;
    if (fresh) {
        r = http_req_new(c);
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
    http_req_server_answer(r, status, code, error, message);
    if (c->req == NULL) {
        return; /* the write failed at once: the connection is closed and r is freed */
    }
    if (!r->dispatched) {
        c->req = NULL;
        c->server->stats.requests_in_flight--;
        http_req_free(r);
        http_conn_flush_close(c);
    } else {
        /* The handler hears of it through its body callbacks; no more bytes are read. */
        http_conn_notify_handler(c);
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
    c->req = http_req_new(c);
    c->server->stats.requests_in_flight++;
    c->server->stats.requests_total++;
    c->head_bytes = 0;
    c->url_len = 0;
    c->last_was_value = false;
    /* The whole head must arrive within the header timeout (slow-header clients). */
    c->req->head_deadline_ns = clock_mono_ns() + c->server->config.header_timeout_ms * 1000000;
    http_conn_arm_timer(c);
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
            if (!http_req_reserve(r, cap - r->body_cap)) {
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
        http_conn_refuse(c, 431, HTTP_E_HEADERS_TOO_LARGE, "headers_too_large", msg);
        break;
    case 413:
        snprintf(msg, sizeof msg, "the body exceeds the %" PRIu64 " bytes this endpoint "
                 "accepts (--body-max, or 1 MiB for JSON)", c->req != NULL &&
                 c->req->body_mode == BODY_BUFFER ? (uint64_t)c->req->buffer_max
                                                   : c->server->config.body_bytes_max);
        http_conn_refuse(c, 413, HTTP_E_BODY_TOO_LARGE, "body_too_large", msg);
        break;
    case 503:
        if (c->req != NULL) {
            http_request_add_header(&c->req->pub, "Retry-After", "1");
        }
        c->server->stats.bodies_refused_busy++;
        snprintf(msg, sizeof msg, "this node holds %" PRIu64 " bytes of request bodies already "
                 "(--buffered-bytes-max): retry shortly", c->server->buffered_bytes);
        http_conn_refuse(c, 503, HTTP_E_UNAVAILABLE, "unavailable", msg);
        break;
    case 505:
        http_conn_refuse(c, 505, HTTP_E_HTTP_VERSION_NOT_SUPPORTED, "http_version_not_supported",
                         c->parse_msg);
        break;
    default:
        if (c->parse_msg != NULL) {
            snprintf(msg, sizeof msg, "%s", c->parse_msg);
        } else {
            snprintf(msg, sizeof msg, "malformed HTTP request: %s (%s)",
                     http_errno_description(err),
                     c->req != NULL && c->req->headers_done ? "in the body" : "in the head");
        }
        http_conn_refuse(c, 400, HTTP_E_BAD_REQUEST, "bad_request", msg);
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
            http_req_maybe_release(r); /* frees it, or starts dropping the body */
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

void http_conn_parse(struct http_conn *c)
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
        if (c->in_off == c->in_len && !http_conn_tls_fill(c)) {
            break;
        }
        if (!chunk_crlf_ok(c)) {
            http_conn_refuse(c, 400, HTTP_E_BAD_REQUEST, "bad_request", chunk_crlf_msg);
            break;
        }
        if (!head_scan(c)) {
            http_conn_refuse(c, 400, HTTP_E_BAD_REQUEST, "bad_request",
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
        http_conn_update_reading(c);
        if (c->want_close && c->req == NULL) {
            http_conn_flush_close(c);
        }
    }
    if (c->tls != NULL) {
        http_conn_tls_ended(c);
    }
}
