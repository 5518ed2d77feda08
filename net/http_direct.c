/* Bodies a handler sends itself: sendfile(2) from a worker thread straight to the
 * socket (see http_server.h, "Bodies sent from a file").
 *
 * The loop thread keeps the connection; the worker writes to a dup of its socket, so
 * that the loop closing the connection meanwhile (a client that went away, the server
 * stopping) never leaves the worker with a descriptor number another thread reuses.
 * The socket stays non-blocking: the worker sends what the socket takes and returns;
 * the handler goes on through the write queue, which waits for the client. The server
 * writes nothing on the connection while a direct send runs: only the current request
 * answers, and begin/more require an empty write queue. */
#include "net/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/mem.h"

/* One sendfile call moves at most this much, so a send returns between pieces. */
#define SEND_PIECE (1u << 20)

static int dup_socket(struct http_conn *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0) {
        return -1;
    }
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static bool may_send(const struct request_impl *r)
{
    const struct http_conn *c = r->pub.conn;
    return c->tls == NULL && !c->dead && !c->shutting && c->writes_pending == 0 &&
           !r->head_only && !r->head_dropped && !r->finished;
}

bool http_direct_begin(struct http_request *req, int status, const char *content_type,
                       uint64_t length, struct http_direct *d)
{
    struct request_impl *r = (struct request_impl *)req;
    struct http_conn *c = req->conn;
    memset(d, 0, sizeof *d);
    d->sock = -1;
    if (length == 0 || r->streaming || r->answered || !may_send(r)) {
        return false;
    }
    d->sock = dup_socket(c);
    if (d->sock < 0) {
        return false;
    }
    d->status = status;
    d->length = length;
    d->headers_len = r->out_headers_len;
    d->close_after = r->close_after;
    d->want_close = c->want_close;
    d->head = http_req_build_head(r, status, content_type, (int64_t)length, &d->head_len);
    return true;
}

bool http_direct_more(struct http_request *req, struct http_direct *d)
{
    struct request_impl *r = (struct request_impl *)req;
    memset(d, 0, sizeof *d);
    d->sock = -1;
    if (!r->streaming || !r->answered || !may_send(r) || r->out_length < 0 ||
        r->out_sent >= (uint64_t)r->out_length) {
        return false;
    }
    d->sock = dup_socket(req->conn);
    return d->sock >= 0;
}

int http_direct_send(struct http_direct *d, int file, uint64_t offset, uint64_t count,
                     struct base_err *err)
{
    while (d->head != NULL && d->head_sent < d->head_len) {
        ssize_t n = send(d->sock, d->head + d->head_sent, d->head_len - d->head_sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL | (count > 0 ? MSG_MORE : 0));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (n < 0) {
            d->failed = true;
            base_err_set(err, "send: %s", strerror(errno));
            return BASE_ECANCELED;
        }
        d->head_sent += (size_t)n;
    }
    while (d->body_sent < count) {
        off_t off = (off_t)(offset + d->body_sent);
        uint64_t left = count - d->body_sent;
        ssize_t n = sendfile(d->sock, file, &off, left < SEND_PIECE ? (size_t)left : SEND_PIECE);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (n < 0) {
            d->failed = true;
            base_err_set(err, "sendfile: %s", strerror(errno));
            return errno == EPIPE || errno == ECONNRESET ? BASE_ECANCELED : BASE_EIO;
        }
        if (n == 0) {
            base_err_set(err, "sendfile: the file ends %llu bytes early",
                         (unsigned long long)left);
            return BASE_ECORRUPT;
        }
        d->body_sent += (uint64_t)n;
    }
    return 0;
}

void http_direct_done(struct http_request *req, struct http_direct *d)
{
    struct request_impl *r = (struct request_impl *)req;
    struct http_conn *c = req->conn;
    if (d->sock >= 0) {
        close(d->sock);
        d->sock = -1;
    }
    c->server->stats.bytes_out += d->head_sent + d->body_sent;
    if (d->head != NULL) {
        ASSERT(!r->streaming);
        r->streaming = true;
        if (r->answered) {
            r->head_dropped = true; /* the server answered meanwhile: it closes */
        } else {
            http_req_count_answer(r, d->status);
            r->out_length = (int64_t)d->length;
        }
        if (d->head_sent < d->head_len && !c->dead && !r->head_dropped && !d->failed) {
            uv_buf_t buf;
            memmove(d->head, d->head + d->head_sent, d->head_len - d->head_sent);
            buf = uv_buf_init(d->head, (unsigned)(d->head_len - d->head_sent));
            http_conn_write(c, &buf, 1, d->head, NULL, NULL, NULL);
        } else {
            free(d->head);
        }
        d->head = NULL;
    }
    r->out_sent += d->body_sent;
    if (d->failed && !c->dead) {
        http_conn_close(c);
    }
}

void http_direct_cancel(struct http_request *req, struct http_direct *d)
{
    struct request_impl *r = (struct request_impl *)req;
    ASSERT(d->head_sent == 0 && d->body_sent == 0);
    if (d->sock >= 0) {
        close(d->sock);
        d->sock = -1;
    }
    if (d->head != NULL) {
        /* Undo what building the head did: the headers it added, the close it noted. */
        r->out_headers_len = d->headers_len;
        if (r->out_headers != NULL) {
            r->out_headers[r->out_headers_len] = '\0';
        }
        r->close_after = d->close_after;
        req->conn->want_close = d->want_close;
        free(d->head);
        d->head = NULL;
    }
}
