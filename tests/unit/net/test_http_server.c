/* The HTTP server's contract with handlers, on a real loop and real sockets: a client
 * thread speaks raw HTTP while the test's loop runs the server with small handlers. */
#include "tests/lib/testlib.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "net/http_server.h"
#include "api/errors.h"
#include "net/http_errors.h"
#include "base/err.h"
#include "base/mem.h"

struct fixture {
    uv_loop_t loop;
    struct http_server *server;
    uv_async_t done;
    pthread_t client;
    int port;
    /* What the client sends and gets. */
    const char *request;
    size_t request_len;
    char *response;
    size_t response_len;
    /* What the handlers saw. */
    crypto_generichash_state body_hash;
    uint64_t body_bytes;
    int body_status;
    unsigned requests;
    uv_timer_t resume_timer;
    struct http_request *paused_req;
};

static struct fixture F;
/* Server settings a case changes (0: the defaults of run()). */
static uint64_t buffered_bytes_max;

static void *client_main(void *arg)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t cap = 1 << 16;
    (void)arg;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ASSERT(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    for (size_t off = 0; off < F.request_len;) {
        ssize_t n = write(fd, F.request + off, F.request_len - off);
        ASSERT(n > 0);
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    F.response = xmalloc(cap);
    for (;;) {
        ssize_t n;
        if (F.response_len + 4096 > cap) {
            cap *= 2;
            F.response = xrealloc(F.response, cap);
        }
        n = read(fd, F.response + F.response_len, cap - F.response_len - 1);
        if (n <= 0) {
            break;
        }
        F.response_len += (size_t)n;
    }
    F.response[F.response_len] = '\0';
    close(fd);
    uv_async_send(&F.done);
    return NULL;
}

static void stopped(struct http_server *s)
{
    (void)s;
}

static void on_done(uv_async_t *a)
{
    http_server_stop(F.server, 100, stopped);
    uv_close((uv_handle_t *)a, NULL);
    uv_close((uv_handle_t *)&F.resume_timer, NULL);
}

/* Runs the server with @cb until the client has read everything. */
static void run(http_request_cb cb, const char *request, size_t len)
{
    struct http_server_config c = {.host = "127.0.0.1",
                                   .header_bytes_max = 8192,
                                   .body_bytes_max = 64 << 20,
                                   .idle_timeout_ms = 5000,
                                   .connections_max = 16,
                                   .buffered_bytes_max = buffered_bytes_max,
                                   .request_cb = cb};
    char msg[128];
    memset(&F, 0, sizeof F);
    F.request = request;
    F.request_len = len;
    crypto_generichash_init(&F.body_hash, NULL, 0, 32);
    assert_int_equal(uv_loop_init(&F.loop), 0);
    assert_int_equal(http_server_start(&F.server, &F.loop, &c, msg, sizeof msg), 0);
    F.port = http_server_port(F.server);
    uv_async_init(&F.loop, &F.done, on_done);
    uv_timer_init(&F.loop, &F.resume_timer);
    assert_int_equal(pthread_create(&F.client, NULL, client_main, NULL), 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    pthread_join(F.client, NULL);
    assert_int_equal(uv_loop_close(&F.loop), 0);
}

static unsigned count(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* ---- Handlers ---- */

static void answer_path(struct http_request *req)
{
    F.requests++;
    http_respond(req, 200, "text/plain", req->path, strlen(req->path));
}

static void resume_later(uv_timer_t *t)
{
    (void)t;
    http_request_resume(F.paused_req);
}

static void hash_chunk(struct http_request *req, const char *data, size_t len)
{
    assert_true(len <= HTTP_BODY_CHUNK_MAX);
    crypto_generichash_update(&F.body_hash, (const uint8_t *)data, len);
    F.body_bytes += len;
    /* Pause after every chunk and resume from a timer: no byte may be lost or
     * delivered while paused. */
    F.paused_req = req;
    http_request_pause(req);
    uv_timer_start(&F.resume_timer, resume_later, 1, 0);
}

static void body_done(struct http_request *req, int status)
{
    char text[64];
    F.body_status = status;
    snprintf(text, sizeof text, "%llu", (unsigned long long)F.body_bytes);
    http_respond(req, 200, "text/plain", text, strlen(text));
}

static void stream_body(struct http_request *req)
{
    F.requests++;
    http_request_read_body(req, hash_chunk, body_done);
}

static void refuse_without_reading(struct http_request *req)
{
    F.requests++;
    http_respond_error(req, 400, 10400, "bad_request", "refused before the body");
}

static void refuse_and_close(struct http_request *req)
{
    F.requests++;
    http_request_close_after(req);
    http_respond_error(req, 401, 10401, "unauthorized", "refused from the head");
}

static void buffered_done(struct http_request *req, int status)
{
    char text[64];
    F.body_status = status;
    snprintf(text, sizeof text, "buffered %zu", req->body_len);
    http_respond(req, 200, "text/plain", text, strlen(text));
}

static void buffer_body(struct http_request *req)
{
    F.requests++;
    http_request_buffer_body(req, 1 << 20, buffered_done);
}

/* ---- Cases ---- */

static void pipelined_requests_are_answered_in_order(void **state)
{
    const char req[] = "GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n"
                       "GET /three HTTP/1.1\r\nConnection: close\r\n\r\n";
    char *one, *two, *three;
    (void)state;
    run(answer_path, req, sizeof req - 1);
    assert_int_equal(F.requests, 3);
    one = strstr(F.response, "\r\n\r\n/one");
    two = strstr(F.response, "\r\n\r\n/two");
    three = strstr(F.response, "\r\n\r\n/three");
    assert_non_null(one);
    assert_non_null(two);
    assert_non_null(three);
    assert_true(one < two && two < three);
    assert_int_equal(count(F.response, "X-Request-Id: "), 3);
    free(F.response);
}

static void paused_body_arrives_whole(void **state)
{
    size_t body_len = 3u << 20;
    char head[128];
    int head_len = snprintf(head, sizeof head, "POST /b HTTP/1.1\r\nContent-Length: %zu\r\n\r\n",
                            body_len);
    char *req = xmalloc((size_t)head_len + body_len);
    uint8_t want[32], got[32];
    char text[32];
    (void)state;
    memcpy(req, head, (size_t)head_len);
    randombytes_buf(req + head_len, body_len);
    crypto_generichash(want, 32, (uint8_t *)req + head_len, body_len, NULL, 0);
    run(stream_body, req, (size_t)head_len + body_len);
    crypto_generichash_final(&F.body_hash, got, 32);
    assert_int_equal(F.body_status, 0);
    assert_int_equal(F.body_bytes, body_len);
    assert_memory_equal(got, want, 32);
    snprintf(text, sizeof text, "\r\n\r\n%zu", body_len);
    assert_non_null(strstr(F.response, text));
    free(req);
    free(F.response);
}

static void chunked_body_is_decoded(void **state)
{
    const char req[] = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    (void)state;
    run(stream_body, req, sizeof req - 1);
    assert_int_equal(F.body_bytes, 11);
    assert_int_equal(F.body_status, 0);
    free(F.response);
}

static void small_unread_body_is_skipped_and_connection_kept(void **state)
{
    const char req[] = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"
                       "POST /y HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    (void)state;
    run(refuse_without_reading, req, sizeof req - 1);
    /* The second request was parsed after the first one's body was dropped. */
    assert_int_equal(F.requests, 2);
    assert_int_equal(count(F.response, "HTTP/1.1 400 Bad Request"), 2);
    assert_non_null(strstr(F.response, "Connection: keep-alive"));
    free(F.response);
}

static void truncated_body_reports_canceled(void **state)
{
    const char req[] = "POST /t HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly-a-part";
    (void)state;
    run(stream_body, req, sizeof req - 1);
    assert_int_equal(F.body_status, BASE_ECANCELED);
    assert_int_equal(F.response_len, 0);
    free(F.response);
}

static void oversized_head_gets_431(void **state)
{
    size_t n = 10000;
    char *req = xmalloc(n + 64);
    int len = snprintf(req, 64, "GET / HTTP/1.1\r\nX-Big: ");
    (void)state;
    memset(req + len, 'a', n);
    memcpy(req + len + n, "\r\n\r\n", 4);
    run(answer_path, req, (size_t)len + n + 4);
    assert_int_equal(F.requests, 0);
    assert_non_null(strstr(F.response, "HTTP/1.1 431 "));
    assert_non_null(strstr(F.response, "\"code\":10431"));
    free(req);
    free(F.response);
}

static void malformed_request_gets_400_json(void **state)
{
    const char req[] = "NOT HTTP AT ALL\r\n\r\n";
    (void)state;
    run(answer_path, req, sizeof req - 1);
    assert_int_equal(F.requests, 0);
    assert_non_null(strstr(F.response, "HTTP/1.1 400 "));
    assert_non_null(strstr(F.response, "\"error\":\"bad_request\""));
    free(F.response);
}

static void chunk_data_without_crlf_is_refused(void **state)
{
    const char *reqs[] = {
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n",
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r0\r\n\r\n",
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n\r0\r\n\r\n",
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
        run(stream_body, reqs[i], strlen(reqs[i]));
        assert_non_null(strstr(F.response, "HTTP/1.1 400 "));
        assert_non_null(strstr(F.response, "CRLF"));
        assert_non_null(strstr(F.response, "Connection: close"));
        assert_int_equal(F.body_status, BASE_ECANCELED);
        free(F.response);
    }
}

static void folded_header_is_refused(void **state)
{
    const char *reqs[] = {
        "GET /a HTTP/1.1\r\nX-A: a\r\n folded\r\n\r\n",
        "GET /a HTTP/1.1\r\nX-A: a\r\n\tfolded\r\n\r\n",
        "GET /a HTTP/1.1\r\nX-A:\r\n folded\r\n\r\n",
        "GET /a HTTP/1.1\r\n X-A: a\r\n\r\n",
        /* Pipelined: the second head is scanned too. */
        "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nX-A: a\r\n folded\r\n\r\n",
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
        run(answer_path, reqs[i], strlen(reqs[i]));
        assert_int_equal(F.requests, i == 4 ? 1 : 0);
        assert_non_null(strstr(F.response, "HTTP/1.1 400 "));
        assert_non_null(strstr(F.response, "obs-fold"));
        free(F.response);
    }
    /* A body that starts with a space after the head is no fold. */
    {
        const char req[] = "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\n  x"
                           "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n";
        run(stream_body, req, sizeof req - 1);
        assert_int_equal(F.requests, 2);
        assert_int_equal(count(F.response, "HTTP/1.1 200 "), 2);
        free(F.response);
    }
}

static void only_http_1_is_served(void **state)
{
    static const struct {
        const char *req;
        const char *status;
    } cases[] = {
        {"GET /a HTTP/3.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 "},
        {"GET /a HTTP/2.0\r\n\r\n", "HTTP/1.1 505 "},
        {"GET /a HTTP/1.2\r\n\r\n", "HTTP/1.1 505 "},
        {"GET /a\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /a\r\nHost: x\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /a HTTP/1.0\r\n\r\n", "HTTP/1.1 200 "},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        run(answer_path, cases[i].req, strlen(cases[i].req));
        assert_non_null(strstr(F.response, cases[i].status));
        free(F.response);
    }
}

static void refusal_with_close_after_reads_no_body(void **state)
{
    const char req[] = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"
                       "GET /y HTTP/1.1\r\n\r\n";
    (void)state;
    run(refuse_and_close, req, sizeof req - 1);
    /* Without close_after the small body would be skipped and /y answered too. */
    assert_int_equal(F.requests, 1);
    assert_int_equal(count(F.response, "HTTP/1.1 401 "), 1);
    assert_non_null(strstr(F.response, "Connection: close"));
    free(F.response);
}

static void buffered_body_over_the_budget_gets_503(void **state)
{
    size_t body_len = 100000;
    char head[128];
    int head_len = snprintf(head, sizeof head, "POST /b HTTP/1.1\r\nContent-Length: %zu\r\n\r\n",
                            body_len);
    char *req = xmalloc((size_t)head_len + body_len);
    (void)state;
    memcpy(req, head, (size_t)head_len);
    memset(req + head_len, 'x', body_len);
    /* The body's bytes follow its head at once: refused, they must be dropped. */
    buffered_bytes_max = 50000;
    run(buffer_body, req, (size_t)head_len + body_len);
    buffered_bytes_max = 0;
    assert_non_null(strstr(F.response, "HTTP/1.1 503 "));
    assert_non_null(strstr(F.response, "Retry-After: 1"));
    assert_non_null(strstr(F.response, "Connection: close"));
    assert_int_equal(F.body_status, BASE_ETOOBIG);
    free(F.response);
    /* Within the budget it is buffered. */
    buffered_bytes_max = 200000;
    run(buffer_body, req, (size_t)head_len + body_len);
    buffered_bytes_max = 0;
    assert_non_null(strstr(F.response, "buffered 100000"));
    free(F.response);
    free(req);
}

/* The codes the server writes itself are 10000 + an HTTP status it knows, each with a
 * name in the one vocabulary (base/error_codes.h) that the API answers with too. */
static void error_codes_match_the_api_vocabulary(void **state)
{
    static const enum http_error codes[] = {
        HTTP_E_BAD_REQUEST, HTTP_E_REQUEST_TIMEOUT, HTTP_E_BODY_TOO_LARGE,
        HTTP_E_HEADERS_TOO_LARGE, HTTP_E_INTERNAL, HTTP_E_UNAVAILABLE,
        HTTP_E_HTTP_VERSION_NOT_SUPPORTED,
    };
    (void)state;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        int code = (int)codes[i];
        assert_true(code > 10000 && code < 10600);
        assert_string_not_equal(http_status_text(code - 10000), "Unknown");
        assert_non_null(error_code_name(code));
        assert_string_equal(api_error_name((enum api_error)code), error_code_name(code));
    }
    assert_null(error_code_name(10999));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(pipelined_requests_are_answered_in_order),
    cmocka_unit_test(paused_body_arrives_whole),
    cmocka_unit_test(chunked_body_is_decoded),
    cmocka_unit_test(small_unread_body_is_skipped_and_connection_kept),
    cmocka_unit_test(truncated_body_reports_canceled),
    cmocka_unit_test(oversized_head_gets_431),
    cmocka_unit_test(malformed_request_gets_400_json),
    cmocka_unit_test(chunk_data_without_crlf_is_refused),
    cmocka_unit_test(folded_header_is_refused),
    cmocka_unit_test(only_http_1_is_served),
    cmocka_unit_test(refusal_with_close_after_reads_no_body),
    cmocka_unit_test(buffered_body_over_the_budget_gets_503),
    cmocka_unit_test(error_codes_match_the_api_vocabulary),
};

TESTLIB_MAIN("http", tests)
