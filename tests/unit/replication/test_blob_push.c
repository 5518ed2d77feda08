/* Pushing a copy (replication/blob_push.c) to a scripted server on loopback, run by a
 * thread with blocking sockets: a kept connection the other end closed without an
 * answer, and a receiver that accepts the request and then never answers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/mem.h"
#include "replication/blob_push.h"
#include "tests/lib/testlib.h"

#define BLOB_BYTES 100000

enum script {
    /* Answers 201 to the first request of a connection and keeps it; reads the second
     * request of a connection whole and closes it without a byte of answer (what a
     * client sees of a node that restarted, or dropped the connection as idle, while
     * the client still held it). */
    SCRIPT_CLOSE_SECOND,
    /* Reads the request and never answers (a stopped or hung node). */
    SCRIPT_SILENT,
};

struct server {
    int fd;
    int port;
    enum script script;
    pthread_t thread;
    unsigned connections;
    unsigned requests;
    unsigned full_bodies; /* requests whose body had every byte */
};

struct fixture {
    char dir[4096];
    struct blob_store bs;
    struct peer_auth auth;
    uint8_t hash[BLOB_HASH_BYTES];
    struct server server;
};

/* Reads one request (head and Content-Length bytes of body); false at EOF. */
static bool read_request(int fd, size_t *body_bytes)
{
    char head[8192];
    size_t len = 0, body = 0, want;
    char *end;
    const char *cl;
    for (;;) {
        ssize_t n = read(fd, head + len, sizeof head - len - 1);
        if (n <= 0) {
            return false;
        }
        len += (size_t)n;
        head[len] = '\0';
        if ((end = strstr(head, "\r\n\r\n")) != NULL) {
            break;
        }
    }
    cl = strcasestr(head, "content-length:");
    want = cl != NULL ? strtoul(cl + strlen("content-length:"), NULL, 10) : 0;
    body = len - (size_t)(end + 4 - head);
    while (body < want) {
        char buf[16384];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            return false;
        }
        body += (size_t)n;
    }
    *body_bytes = body;
    return true;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    static const char created[] = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        size_t body;
        if (c < 0) {
            return NULL; /* the listener was shut down */
        }
        s->connections++;
        for (unsigned nth = 0; read_request(c, &body); nth++) {
            s->requests++;
            s->full_bodies += body == BLOB_BYTES;
            if (s->script == SCRIPT_SILENT) {
                continue; /* never answers; the client gives up and closes */
            }
            if (nth == 0) {
                if (write(c, created, strlen(created)) != (ssize_t)strlen(created)) {
                    break;
                }
                continue;
            }
            shutdown(c, SHUT_WR); /* the request read whole, closed without an answer */
        }
        close(c);
    }
}

static void server_start(struct server *s, enum script script)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    s->script = script;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 8), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct blob_writer w, *ws[1] = {&w};
    struct base_err err;
    uint8_t *data = malloc(BLOB_BYTES);
    int result;
    snprintf(f->dir, sizeof f->dir, "%s", testlib_tmpdir());
    assert_int_equal(blob_store_open(&f->bs, f->dir, &err), 0);
    for (size_t i = 0; i < BLOB_BYTES; i++) {
        data[i] = (uint8_t)(i * 7 + i / 251);
    }
    assert_int_equal(blob_writer_open(&f->bs, &w, &err), 0);
    assert_int_equal(blob_writer_write(&w, data, BLOB_BYTES, &err), 0);
    assert_int_equal(blob_writer_finish(&w, false, &err), 0);
    assert_int_equal(blob_commit_batch(&f->bs, ws, 1, &result, false, &err), 0);
    memcpy(f->hash, w.hash, BLOB_HASH_BYTES);
    free(data);
    f->auth.n_keys = 1;
    memset(f->auth.keys[0], 0x5a, sizeof f->auth.keys[0]);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    blob_store_close(&f->bs);
    testlib_rm_rf(f->dir);
    free(f);
    return 0;
}

static void push_init(struct fixture *f, struct blob_push *p, unsigned stall_ms)
{
    memset(p, 0, sizeof *p);
    memcpy(p->hash, f->hash, BLOB_HASH_BYTES);
    p->target = 2;
    snprintf(p->http, sizeof p->http, "127.0.0.1:%d", f->server.port);
    p->timeout_ms = 60000;
    p->stall_ms = stall_ms;
}

/* The second push finds its kept connection closed once its request is sent: curl
 * sends it again on a new connection, which needs the body from its first byte. */
static void kept_connection_closed_by_the_peer_is_sent_again(void **state)
{
    struct fixture *f = *state;
    struct blob_push p;
    void *h = blob_push_handle_new();
    server_start(&f->server, SCRIPT_CLOSE_SECOND);
    push_init(f, &p, 5000);
    assert_int_equal(blob_push(h, &f->bs, &f->auth, &p), 0);
    push_init(f, &p, 5000);
    int rv = blob_push(h, &f->bs, &f->auth, &p);
    if (rv != 0) {
        fail_msg("the push over the closed kept connection failed: %s", p.why);
    }
    assert_int_equal(p.http_status, 201);
    assert_int_equal(p.bytes, BLOB_BYTES);
    blob_push_handle_free(h);
    server_stop(&f->server);
    /* The first push, the one cut off, and its second sending on a new connection,
     * each with the whole body. */
    assert_int_equal(f->server.connections, 2);
    assert_int_equal(f->server.requests, 3);
    assert_int_equal(f->server.full_bodies, 3);
}

/* A receiver that takes the request and never answers fails the push after the stall
 * bound, long before the whole-transfer timeout (60 s here). */
static void receiver_that_never_answers_fails_at_the_stall_bound(void **state)
{
    struct fixture *f = *state;
    struct blob_push p;
    void *h = blob_push_handle_new();
    server_start(&f->server, SCRIPT_SILENT);
    push_init(f, &p, 500);
    assert_int_equal(blob_push(h, &f->bs, &f->auth, &p), BASE_EIO);
    if (strstr(p.why, "nothing moved for 500 ms") == NULL) {
        fail_msg("the push failed for another reason: %s", p.why);
    }
    blob_push_handle_free(h);
    server_stop(&f->server);
    assert_int_equal(f->server.requests, 1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kept_connection_closed_by_the_peer_is_sent_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(receiver_that_never_answers_fails_at_the_stall_bound,
                                        setup, teardown),
    };
    return testlib_run("replication/blob_push", tests, ARRAY_SIZE(tests), argc, argv);
}
