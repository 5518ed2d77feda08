/* The raw engine: HTTP/1.1 on one blocking socket per client, a request written with
 * one sendmsg, the answer parsed in place, content past RESP_KEEP dropped in the
 * kernel (MSG_TRUNC). main.c says why. */
#include "tools/bench/bench.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/mem.h"

/* ---- raw engine: HTTP/1.1 on a blocking socket ---- */

void raw_close(struct client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
    c->rpos = 0;
    c->rlen = 0;
}

/* Sets the error message, drops the connection and returns -1. @err 0: closed. */
static int raw_fail(struct client *c, const char *what, int err)
{
    snprintf(c->errbuf, sizeof c->errbuf, "%s: %s", what,
             err != 0 ? strerror(err) : "connection closed by the node");
    raw_close(c);
    return -1;
}

static int raw_connect(struct client *c)
{
    const struct target *t = c->tgt;
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int one = 1;
    c->fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return raw_fail(c, "socket", errno);
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(c->fd, (const struct sockaddr *)&t->addr, t->addrlen) != 0) {
        return raw_fail(c, "connect", errno);
    }
    c->t.connects++;
    return 0;
}

/* Writes the request head and, for uploads, the prefix and the shared body. */
static int raw_send(struct client *c, size_t head_len, bool upload)
{
    struct iovec iov[3] = {{c->head, head_len},
                           {c->prefix, PREFIX_BYTES},
                           {c->b->body + PREFIX_BYTES, c->b->o.size - PREFIX_BYTES}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = upload ? 3 : 1};
    while (msg.msg_iovlen > 0) {
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return raw_fail(c, "send", errno);
        }
        while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov->iov_len) {
            n -= (ssize_t)msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
            msg.msg_iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Reads more of the answer into rbuf, keeping the unparsed bytes. */
static int raw_fill(struct client *c)
{
    ssize_t n;
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = 0;
    } else if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    do {
        n = recv(c->fd, c->rbuf + c->rlen, RAW_BUFFER_BYTES - c->rlen, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return raw_fail(c, "recv", n == 0 ? 0 : errno);
    }
    c->rlen += (size_t)n;
    c->got_bytes = true;
    return 0;
}

/* Reads one CRLF-terminated line; *line is NUL-terminated in rbuf, valid until the
 * next read. */
static int raw_line(struct client *c, char **line)
{
    for (;;) {
        char *start = c->rbuf + c->rpos;
        char *end = memmem(start, c->rlen - c->rpos, "\r\n", 2);
        if (end != NULL) {
            *end = '\0';
            *line = start;
            c->rpos = (size_t)(end + 2 - c->rbuf);
            return 0;
        }
        if (c->rlen - c->rpos >= RAW_LINE_MAX) {
            snprintf(c->errbuf, sizeof c->errbuf, "answer line over %d bytes", RAW_LINE_MAX);
            raw_close(c);
            return -1;
        }
        if (raw_fill(c) != 0) {
            return -1;
        }
    }
}

/* Consumes @n body bytes, or with @to_eof all up to the end of the connection: the
 * buffered ones, then from the socket; past the kept bytes, MSG_TRUNC drops them in
 * the kernel without a copy. */
static int raw_body(struct client *c, uint64_t n, bool to_eof)
{
    while (to_eof || n > 0) {
        size_t avail = c->rlen - c->rpos, want = RAW_BUFFER_BYTES;
        ssize_t got;
        if (avail > 0) {
            size_t k = to_eof || avail < n ? avail : (size_t)n;
            keep_resp(c, c->rbuf + c->rpos, k);
            c->rpos += k;
            n -= to_eof ? 0 : k;
            continue;
        }
        want = to_eof || n > want ? want : (size_t)n;
        c->rpos = c->rlen = 0;
        if (c->resp_len < sizeof c->resp - 1) {
            got = recv(c->fd, c->rbuf, want, 0);
            c->rlen = got > 0 ? (size_t)got : 0;
        } else {
            got = recv(c->fd, c->rbuf, want, MSG_TRUNC);
            c->resp_bytes += got > 0 ? (uint64_t)got : 0;
            n -= to_eof || got <= 0 ? 0 : (uint64_t)got;
        }
        if (got == 0 && to_eof) {
            break;
        }
        if (got == 0 || (got < 0 && errno != EINTR)) {
            return raw_fail(c, "recv body", got == 0 ? 0 : errno);
        }
    }
    return 0;
}

static int raw_bad(struct client *c, const char *what)
{
    snprintf(c->errbuf, sizeof c->errbuf, "malformed answer: %s", what);
    raw_close(c);
    return -1;
}

static int raw_chunked(struct client *c)
{
    char *line, *end;
    for (;;) {
        unsigned long long size;
        if (raw_line(c, &line) != 0) {
            return -1;
        }
        size = strtoull(line, &end, 16);
        if (end == line) {
            return raw_bad(c, "chunk size");
        }
        if (size == 0) {
            break;
        }
        if (raw_body(c, size, false) != 0 || raw_line(c, &line) != 0) {
            return -1;
        }
        if (*line != '\0') {
            return raw_bad(c, "chunk end");
        }
    }
    do { /* trailers, up to the empty line */
        if (raw_line(c, &line) != 0) {
            return -1;
        }
    } while (*line != '\0');
    return 0;
}

/* Reads the status line, the headers and the body of one answer. */
static int raw_response(struct client *c, long *status)
{
    char *line;
    int minor;
    int64_t length = -1;
    bool chunked = false, close_after;
    if (raw_line(c, &line) != 0) {
        return -1;
    }
    if (sscanf(line, "HTTP/1.%d %ld", &minor, status) != 2) {
        return raw_bad(c, "status line");
    }
    close_after = minor == 0;
    for (;;) {
        if (raw_line(c, &line) != 0) {
            return -1;
        }
        if (*line == '\0') {
            break;
        }
        if (strncasecmp(line, "content-length:", 15) == 0) {
            length = strtoll(line + 15, NULL, 10);
        } else if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
            chunked = strcasestr(line + 18, "chunked") != NULL;
        } else if (strncasecmp(line, "connection:", 11) == 0) {
            close_after = strcasestr(line + 11, "close") != NULL;
        }
    }
    if (*status == 204 || *status == 304) {
        length = 0;
    }
    if (chunked ? raw_chunked(c) != 0 : raw_body(c, (uint64_t)length, length < 0) != 0) {
        return -1;
    }
    if (close_after || (!chunked && length < 0)) {
        raw_close(c);
    }
    return 0;
}

/* One request on the client's connection; a kept-alive connection the node closed
 * before answering (idle timeout) is replaced once. Returns 0 with the HTTP status,
 * or -1 with errbuf set. */
int raw_perform(struct client *c, long *status)
{
    struct bench *b = c->b;
    bool upload = phase_is_upload(b->kind);
    bool http_sized = b->kind == PHASE_HTTP && b->o.body_tmpl == NULL &&
                      strcmp(b->o.method, "GET") != 0;
    const char *target = c->url + c->tgt->origin_len;
    const char *host = c->tgt->host_hdr;
    int n;
    if (upload) {
        n = snprintf(c->head, c->head_size,
                     "POST %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     "Content-Length: %" PRIu64 "\r\n\r\n",
                     target, host, b->auth_hdr, b->o.size);
    } else if (b->kind == PHASE_PUSH) {
        /* head and the small JSON body in one buffer: one sendmsg of one iovec */
        n = snprintf(c->head, c->head_size,
                     "POST %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%.*s",
                     target, host, b->auth_hdr, c->push_len, (int)c->push_len, c->push_body);
    } else if (b->kind == PHASE_HTTP && !http_sized && strcmp(b->o.method, "GET") != 0) {
        /* --body: head and the small body in one buffer, as a push */
        n = snprintf(c->head, c->head_size,
                     "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%.*s",
                     b->o.method, target, host, b->auth_hdr, c->push_len, (int)c->push_len,
                     c->push_body);
    } else if (http_sized) {
        n = snprintf(c->head, c->head_size,
                     "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     "Content-Length: %" PRIu64 "\r\n\r\n",
                     b->o.method, target, host, b->auth_hdr, b->o.size);
    } else {
        n = snprintf(c->head, c->head_size, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n\r\n", target,
                     host, b->auth_hdr);
    }
    ASSERT(n > 0 && (size_t)n < c->head_size);
    for (int attempt = 0;; attempt++) {
        bool reused = c->fd >= 0;
        c->got_bytes = false;
        c->resp_len = 0;
        c->resp_bytes = 0;
        if (!reused && raw_connect(c) != 0) {
            return -1;
        }
        if (raw_send(c, (size_t)n, upload || http_sized) == 0 && raw_response(c, status) == 0) {
            return 0;
        }
        if (!reused || c->got_bytes || attempt > 0) {
            return -1;
        }
    }
}
