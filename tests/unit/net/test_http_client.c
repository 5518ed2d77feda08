/* The outbound HTTP client against a scripted server on loopback (both on one loop). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "net/http_client.h"
#include "replication/outbound.h"
#include "tests/lib/testlib.h"

/* A server that reads one request per connection and answers @reply (or nothing when
 * @silent), then closes. */
struct server {
    uv_tcp_t tcp;
    int port;
    const char *reply;
    bool silent;
    char last_request[8192];
    size_t last_len;
    unsigned requests;
};

struct conn {
    uv_tcp_t tcp;
    struct server *s;
    char buf[8192];
    size_t len;
    uv_write_t w;
    bool answered;
};

struct fixture {
    uv_loop_t loop;
    struct server server;
    struct http_client *client;
    unsigned done;
    bool closing; /* http_client_close called */
    bool closed;  /* and its callback ran */
};

static void conn_closed(uv_handle_t *h)
{
    free(container_of((uv_tcp_t *)h, struct conn, tcp));
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = container_of((uv_tcp_t *)h, struct conn, tcp);
    (void)hint;
    buf->base = c->buf + c->len;
    buf->len = sizeof c->buf - c->len - 1;
}

static void written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    (void)status;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

/* Whether the buffered request is complete (head and Content-Length bytes of body). */
static bool request_complete(struct conn *c)
{
    char *end;
    const char *cl;
    size_t body = 0;
    c->buf[c->len] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL) {
        return false;
    }
    cl = strcasestr(c->buf, "content-length:");
    if (cl != NULL && cl < end) {
        body = strtoul(cl + strlen("content-length:"), NULL, 10);
    }
    return c->len >= (size_t)(end + 4 - c->buf) + body;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = container_of((uv_tcp_t *)st, struct conn, tcp);
    (void)buf;
    if (n < 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    c->len += (size_t)n;
    if (c->answered || !request_complete(c)) {
        return;
    }
    c->answered = true;
    c->s->requests++;
    memcpy(c->s->last_request, c->buf, c->len + 1);
    c->s->last_len = c->len;
    if (!c->s->silent) {
        uv_buf_t out = uv_buf_init((char *)c->s->reply, (unsigned)strlen(c->s->reply));
        c->w.data = c;
        uv_write(&c->w, st, &out, 1, written);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct server *s = server->data;
    struct conn *c = xcalloc(1, sizeof *c);
    assert_int_equal(status, 0);
    c->s = s;
    uv_tcp_init(server->loop, &c->tcp);
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    struct base_err err;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(&f->loop, &f->server.tcp);
    f->server.tcp.data = &f->server;
    assert_int_equal(uv_tcp_bind(&f->server.tcp, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->server.tcp, 128, on_connection), 0);
    uv_tcp_getsockname(&f->server.tcp, (struct sockaddr *)&bound, &len);
    f->server.port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    f->server.reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    assert_int_equal(http_client_init(&f->client, &f->loop, &err), 0);
    *state = f;
    return 0;
}

static void client_closed(void *arg)
{
    struct fixture *f = arg;
    f->closed = true;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f->closing) {
        http_client_close(f->client, client_closed, f);
    }
    uv_close((uv_handle_t *)&f->server.tcp, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static void done_cb(struct http_client_req *req)
{
    struct fixture *f = req->data;
    f->done++;
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until @done callbacks ran; a ticking timer keeps a UV_RUN_ONCE from
 * waiting forever after a callback that ran from a timer. */
static void run_until(struct fixture *f, unsigned done)
{
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    uv_timer_start(&t, tick, 10, 10);
    while (f->done < done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void url(const struct fixture *f, char *buf, size_t n, const char *path)
{
    snprintf(buf, n, "http://127.0.0.1:%d%s", f->server.port, path);
}

static void post_sends_headers_and_body(void **state)
{
    struct fixture *f = *state;
    static const char *const headers[] = {"X-Test: yes", "Content-Type: application/json",
                                          NULL};
    struct http_client_req req = {.data = f, .headers = headers, .body = "{\"a\":1}",
                                  .body_len = 7};
    char u[64];
    url(f, u, sizeof u, "/hook");
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    assert_int_equal(f->done, 0); /* never called back from inside send */
    run_until(f, 1);
    assert_int_equal(req.status, 200);
    assert_string_equal(req.error, "");
    assert_int_equal(req.response_len, 5);
    assert_string_equal(req.response, "hello");
    assert_int_equal(req.truncated, 0);
    assert_non_null(strstr(f->server.last_request, "POST /hook HTTP/1.1\r\n"));
    assert_non_null(strstr(f->server.last_request, "X-Test: yes\r\n"));
    assert_null(strstr(f->server.last_request, "Expect:"));
    assert_non_null(strstr(f->server.last_request, "\r\n\r\n{\"a\":1}"));
    assert_int_equal(http_client_in_flight(f->client), 0);
    free(req.response);
}

static void custom_method_and_error_status(void **state)
{
    struct fixture *f = *state;
    struct http_client_req req = {.data = f, .method = "DELETE"};
    char u[64];
    f->server.reply = "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy";
    url(f, u, sizeof u, "/x");
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 503); /* an answer, whatever its status */
    assert_string_equal(req.response, "busy");
    assert_non_null(strstr(f->server.last_request, "DELETE /x HTTP/1.1\r\n"));
    free(req.response);
}

static char seen_headers[1024];

static void header_seen(struct http_client_req *req, const char *line, size_t n)
{
    size_t len = strlen(seen_headers);
    (void)req;
    if (len + n < sizeof seen_headers) {
        memcpy(seen_headers + len, line, n);
        seen_headers[len + n] = '\0';
    }
}

static void answer_head_is_shown_line_by_line(void **state)
{
    struct fixture *f = *state;
    struct http_client_req req = {.data = f, .on_header = header_seen};
    char u[64];
    seen_headers[0] = '\0';
    f->server.reply = "HTTP/1.1 401 No\r\nX-Imgarc-Time: 1700000000000\r\nContent-Length: 2\r\n"
                      "Connection: close\r\n\r\nno";
    url(f, u, sizeof u, "/internal/v1/status");
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 401);
    assert_string_equal(req.response, "no"); /* the body is still kept */
    assert_string_equal(seen_headers, "HTTP/1.1 401 No\r\nX-Imgarc-Time: 1700000000000\r\n"
                                      "Content-Length: 2\r\nConnection: close\r\n\r\n");
    free(req.response);
}

static void long_response_is_truncated(void **state)
{
    struct fixture *f = *state;
    struct http_client_req req = {.data = f, .response_max = 3};
    char u[64];
    url(f, u, sizeof u, "/");
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 200);
    assert_int_equal(req.response_len, 3);
    assert_string_equal(req.response, "hel");
    assert_int_equal(req.truncated, 1);
    free(req.response);
}

static void refused_connection_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct http_client_req req = {.data = f, .url = "http://127.0.0.1:1/"};
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 0);
    assert_true(strlen(req.error) > 0);
    assert_null(req.response);
}

static void silent_server_times_out(void **state)
{
    struct fixture *f = *state;
    struct http_client_req req = {.data = f, .timeout_ms = 200};
    char u[64];
    f->server.silent = true;
    url(f, u, sizeof u, "/");
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 0);
    assert_non_null(strcasestr(req.error, "timed out"));
    assert_int_equal(f->server.requests, 1);
}

static void unsupported_scheme_is_refused(void **state)
{
    struct fixture *f = *state;
    struct http_client_req req = {.data = f, .url = "file:///etc/passwd"};
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 0);
    assert_true(strlen(req.error) > 0);
    assert_null(req.response);
}

static void many_requests_in_parallel(void **state)
{
    struct fixture *f = *state;
    enum { N = 64 };
    struct http_client_req *reqs = xcalloc(N, sizeof *reqs);
    char u[64];
    url(f, u, sizeof u, "/many");
    for (int i = 0; i < N; i++) {
        reqs[i].data = f;
        reqs[i].url = u;
        http_client_send(f->client, &reqs[i], done_cb);
    }
    assert_int_equal(http_client_in_flight(f->client), N);
    run_until(f, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(reqs[i].status, 200);
        assert_string_equal(reqs[i].response, "hello");
        free(reqs[i].response);
    }
    assert_int_equal(f->server.requests, N);
    free(reqs);
}

/* A streamed body, paused after every piece and resumed from a timer, arrives whole
 * and in order, with the status known in the first piece. */
struct stream {
    struct fixture *f;
    struct http_client_req req;
    uv_timer_t resume;
    char *got;
    size_t len;
    bool held;
    unsigned pauses;
    long status_seen;
};

static void resume_cb(uv_timer_t *t)
{
    struct stream *st = t->data;
    st->held = false;
    http_client_resume(&st->req);
}

static size_t stream_data(struct http_client_req *req, const char *data, size_t n)
{
    struct stream *st = req->data;
    if (st->held) {
        return HTTP_CLIENT_PAUSE;
    }
    if (st->status_seen == 0) {
        st->status_seen = http_client_status(req);
    }
    memcpy(st->got + st->len, data, n);
    st->len += n;
    st->held = true;
    st->pauses++;
    uv_timer_start(&st->resume, resume_cb, 1, 0);
    return n;
}

static void stream_done(struct http_client_req *req)
{
    struct stream *st = req->data;
    st->f->done++;
}

static void streamed_body_with_pauses(void **state)
{
    struct fixture *f = *state;
    enum { BODY = 200000 };
    char *reply = xmalloc(BODY + 128);
    struct stream st = {.f = f};
    char u[64];
    int head = snprintf(reply, 128, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                                    "Connection: close\r\n\r\n", BODY);
    for (int i = 0; i < BODY; i++) {
        reply[head + i] = (char)('a' + i % 26);
    }
    reply[head + BODY] = '\0';
    f->server.reply = reply;
    st.got = xmalloc(BODY);
    uv_timer_init(&f->loop, &st.resume);
    st.resume.data = &st;
    url(f, u, sizeof u, "/blob");
    st.req.data = &st;
    st.req.url = u;
    st.req.on_data = stream_data;
    http_client_send(f->client, &st.req, stream_done);
    run_until(f, 1);
    assert_int_equal(st.req.status, 200);
    assert_int_equal(st.status_seen, 200);
    assert_int_equal(st.len, BODY);
    for (int i = 0; i < BODY; i++) {
        if (st.got[i] != (char)('a' + i % 26)) {
            fail_msg("byte %d differs", i);
        }
    }
    assert_true(st.pauses > 1);
    assert_null(st.req.response); /* streamed, not kept */
    uv_close((uv_handle_t *)&st.resume, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    free(st.got);
    free(reply);
}

static void close_cancels_requests_in_flight(void **state)
{
    struct fixture *f = *state;
    struct http_client_req req = {.data = f};
    char u[64];
    f->server.silent = true;
    url(f, u, sizeof u, "/");
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    while (f->server.requests == 0) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    f->closing = true;
    http_client_close(f->client, client_closed, f);
    assert_int_equal(f->done, 1);
    assert_int_equal(req.status, 0);
    assert_string_equal(req.error, "the node is shutting down");
}

/* ---- Requests made for a tenant (the outbound guard) ---- */

static struct outbound *guard(const char *allow)
{
    struct outbound *g;
    struct base_err err = {{0}};
    const char *rules[] = {allow};
    struct outbound_config c = {.allow = rules, .n_allow = allow != NULL ? 1 : 0};
    assert_int_equal(outbound_new(&g, NULL, &c, NULL, &err), 0);
    return g;
}

static void guarded_request_to_loopback_is_refused_before_connecting(void **state)
{
    struct fixture *f = *state;
    struct outbound *g = guard(NULL);
    struct http_client_req req = {.data = f, .body = "{}", .body_len = 2, .guard = g, .permits = outbound_check};
    char u[64];
    url(f, u, sizeof u, "/hook");
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 0);
    assert_string_equal(req.error, "refused: 127.0.0.1 is a loopback address; an operator "
                                   "can allow it with --outbound-allow");
    assert_int_equal(f->server.requests, 0);
    outbound_free(g);
}

static void guarded_request_reaches_an_allowed_receiver(void **state)
{
    struct fixture *f = *state;
    char rule[32], u[64];
    struct outbound *g;
    struct http_client_req req = {.data = f, .guard = NULL};
    snprintf(rule, sizeof rule, "127.0.0.1:%d", f->server.port);
    g = guard(rule);
    req.guard = g;
    req.permits = outbound_check;
    url(f, u, sizeof u, "/hook");
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 200);
    assert_int_equal(f->server.requests, 1);
    free(req.response);
    outbound_free(g);
}

static void guarded_request_to_localhost_is_refused(void **state)
{
    struct fixture *f = *state;
    struct outbound *g = guard("127.0.0.2"); /* not the address localhost resolves to */
    struct http_client_req req = {.data = f, .guard = g, .permits = outbound_check};
    char u[64];
    snprintf(u, sizeof u, "http://localhost:%d/", f->server.port);
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 0);
    assert_non_null(strstr(req.error, "is a loopback address"));
    assert_int_equal(f->server.requests, 0);
    outbound_free(g);
}

static void guarded_redirect_is_not_followed(void **state)
{
    struct fixture *f = *state;
    struct outbound *g = guard("127.0.0.1");
    struct http_client_req req = {.data = f, .guard = g, .permits = outbound_check};
    char u[64];
    f->server.reply = "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest\r\n"
                      "Content-Length: 0\r\nConnection: close\r\n\r\n";
    url(f, u, sizeof u, "/hook");
    req.url = u;
    http_client_send(f->client, &req, done_cb);
    run_until(f, 1);
    assert_int_equal(req.status, 302);
    assert_int_equal(f->server.requests, 1);
    free(req.response);
    outbound_free(g);
}

static void url_host_is_parsed_as_requests_parse_it(void **state)
{
    char host[256];
    unsigned port;
    struct base_err err = {{0}};
    (void)state;
    assert_int_equal(http_client_url_host("http://[::1]:8080/x", host, sizeof host, &port,
                                          &err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_int_equal(http_client_url_host("https://user@Example.com/a?b", host, sizeof host,
                                          &port, &err), 0);
    assert_int_equal(port, 443);
    assert_int_equal(http_client_url_host("http://2130706433/", host, sizeof host, &port,
                                          &err), 0);
    assert_string_equal(host, "127.0.0.1"); /* curl reads numeric IPv4 forms */
    assert_int_equal(port, 80);
    assert_int_equal(http_client_url_host("ftp://example.com/", host, sizeof host, &port,
                                          &err), BASE_EINVAL);
    assert_int_equal(http_client_url_host("http://", host, sizeof host, &port, &err),
                     BASE_EINVAL);
    /* Port 0 names no receiver (found by fuzz_outbound). */
    assert_int_equal(http_client_url_host("http://a@host:0/x", host, sizeof host, &port,
                                          &err), BASE_EINVAL);
    assert_non_null(strstr(err.msg, "port"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(post_sends_headers_and_body, setup, teardown),
    cmocka_unit_test_setup_teardown(answer_head_is_shown_line_by_line, setup, teardown),
    cmocka_unit_test_setup_teardown(custom_method_and_error_status, setup, teardown),
    cmocka_unit_test_setup_teardown(long_response_is_truncated, setup, teardown),
    cmocka_unit_test_setup_teardown(refused_connection_is_an_error, setup, teardown),
    cmocka_unit_test_setup_teardown(silent_server_times_out, setup, teardown),
    cmocka_unit_test_setup_teardown(unsupported_scheme_is_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(many_requests_in_parallel, setup, teardown),
    cmocka_unit_test_setup_teardown(streamed_body_with_pauses, setup, teardown),
    cmocka_unit_test_setup_teardown(close_cancels_requests_in_flight, setup, teardown),
    cmocka_unit_test_setup_teardown(guarded_request_to_loopback_is_refused_before_connecting,
                                    setup, teardown),
    cmocka_unit_test_setup_teardown(guarded_request_reaches_an_allowed_receiver, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(guarded_request_to_localhost_is_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(guarded_redirect_is_not_followed, setup, teardown),
    cmocka_unit_test(url_host_is_parsed_as_requests_parse_it),
};

TESTLIB_MAIN("replication/http_client", tests)
