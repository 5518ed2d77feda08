/* HTTP/1.1 server on libuv with http-parser.
 *
 * Runs entirely on the loop thread. It owns the listening socket, the connections and
 * the request objects. It parses requests (keep-alive, pipelining, chunked request
 * bodies), enforces limits (header bytes, body bytes, idle time), assigns a request
 * id to every request, and writes responses (fixed length or chunked).
 *
 * Request lifecycle, the one rule handlers follow: the server calls the config's
 * request_cb once the headers are complete. From then on the handler owns the
 * request until it calls exactly one of http_respond() / http_respond_error() /
 * http_respond_end() (after http_respond_start()). The server frees the request after
 * that call and after the body has been consumed or discarded. If the connection dies
 * earlier, the handler is told through the body done callback (status < 0) or the
 * abort callback, and it must still make its one final respond call (it becomes a
 * no-op that only releases the request). Only net/ includes <http_parser.h> (through
 * net/http_int.h, the internals shared by http_server.c, http_parse.c and http_request.c).
 *
 * Memory is bounded per connection: the server never buffers a body unless the
 * handler asks for it with http_request_buffer_body() (up to a caller-given maximum);
 * streamed bodies are delivered chunk by chunk and reading stops while the handler
 * has paused the request. */
#ifndef IMGARC_NET_HTTP_SERVER_H
#define IMGARC_NET_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"

enum http_method {
    HTTP_M_OTHER = 0,
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_PUT,
    HTTP_M_PATCH,
    HTTP_M_DELETE,
    HTTP_M_OPTIONS,
};

struct http_server;
struct http_conn;
struct http_request;

struct http_header {
    char *name;  /* lowercased by the server */
    char *value; /* surrounding whitespace trimmed */
};

typedef void (*http_request_cb)(struct http_request *req);
/* The most bytes one body callback delivers. A handler that pauses from inside its
 * body callback has taken the whole chunk; it needs room for one more chunk than the
 * point at which it decides to pause. */
#define HTTP_BODY_CHUNK_MAX (64u << 10)

/* Streamed body chunk (at most HTTP_BODY_CHUNK_MAX bytes). @data is valid only during
 * the call. Calling http_request_pause() from here stops further chunks at once. */
typedef void (*http_body_cb)(struct http_request *req, const char *data, size_t len);
/* End of the request body: @status 0 when the whole body arrived, or a negative
 * BASE_E* code: BASE_ECANCELED (connection closed or truncated body), BASE_ETOOBIG
 * (over the limit; the server already answered 413 and the handler's respond call only
 * releases the request). */
typedef void (*http_body_done_cb)(struct http_request *req, int status);
/* The connection closed while the handler owns the request (and no body is being
 * read). The handler must still make its final respond call. */
typedef void (*http_abort_cb)(struct http_request *req);
/* Writes the body of an error answer (@code, its snake_case @error name and a
 * @message) into a fresh allocation of *@len bytes: a handler sets it on a request whose
 * errors take another shape than the server's own (see http_request.error_body). */
typedef char *(*http_error_body_cb)(const struct http_request *req, int code,
                                    const char *error, const char *message, size_t *len);
/* A chunk given to http_respond_write() has been written (or @status < 0: the
 * connection is gone; the handler should stop and call http_respond_end()). */
typedef void (*http_write_cb)(struct http_request *req, int status);
typedef void (*http_server_stop_cb)(struct http_server *server);

struct http_server_config {
    const char *host;             /* IPv4 or IPv6 literal, e.g. "127.0.0.1" */
    int port;                     /* 0 picks a free port (see http_server_port) */
    size_t header_bytes_max;      /* request line + all headers; over it: 431 */
    uint64_t body_bytes_max;      /* any request body; over it: 413 */
    uint64_t idle_timeout_ms;     /* no bytes received while waiting for a request or its
                                     body: the connection is closed (408 mid-request) */
    uint64_t header_timeout_ms;   /* the whole head (request line and headers) must arrive
                                     within it, however steadily it trickles: else 408 */
    uint64_t body_timeout_ms;     /* a buffered body (http_request_buffer_body) must arrive
                                     within it of the head: else 408 (0: no deadline) */
    uint64_t buffered_bytes_max;  /* bodies buffered at once, all connections together
                                     (declared lengths reserved up front): a body beyond it
                                     is refused 503 with Retry-After (0: no bound) */
    unsigned connections_max;     /* accepted connections beyond it are closed at once */
    http_request_cb request_cb;   /* headers of a request are complete */
    http_request_cb answer_cb;    /* may be NULL: runs before the head of every answer
                                     (the handler's or the server's own) is written, to
                                     add headers all answers carry */
    void *data;                   /* for the caller; see http_server_data() */
    struct http_tls *tls;         /* NULL: plain HTTP; else TLS on every connection
                                     (net/http_tls.h; the caller keeps it alive) */
};

struct http_request {
    /* Read-only for handlers. */
    enum http_method method;
    const char *method_name;    /* "GET", "POST"... as received */
    char *path;                 /* percent-decoded path, without the query string */
    char *raw_path;             /* the path as received (not decoded) */
    char *query;                /* raw query string without '?', or NULL */
    struct http_header *headers;
    unsigned n_headers;
    bool has_content_length;
    uint64_t content_length;    /* valid when has_content_length */
    bool chunked;               /* Transfer-Encoding: chunked body */
    bool keep_alive;            /* the client allows reuse of the connection */
    char request_id[65];        /* X-Request-Id as sent (validated) or generated */
    char peer[64];              /* "ip:port" of the client */
    uint64_t start_ns;          /* clock_mono_ns() when the headers were complete */

    /* Set by http_request_buffer_body() once the body is complete. NUL-terminated. */
    char *body;
    size_t body_len;

    /* For the handler. */
    void *data;
    http_abort_cb abort_cb;
    /* When set, the body of every error answer of this request, the server's own
     * (a body too large, a timeout) included; NULL: the server's JSON error shape. */
    http_error_body_cb error_body;
    /* When set, this request's answer is logged at DEBUG whatever its status: probes a
     * load balancer polls (a 503 from /readyz every few seconds during a catch-up is
     * not news; the node logs the state itself). */
    bool log_quiet;

    /* Private to the server (net/http_int.h). */
    struct http_conn *conn;
};

/* Starts listening. @config is copied. @loop must outlive the server. On error,
 * returns a negative BASE_E* code and fills @errmsg (may be NULL). */
int http_server_start(struct http_server **out, uv_loop_t *loop,
                      const struct http_server_config *config, char *errmsg, size_t errmsg_size);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *server);
void *http_server_data(const struct http_server *server);
/* Graceful stop: closes the listener and idle connections at once, lets requests in
 * progress finish (up to @grace_ms, then closes them), frees everything, then calls
 * @cb. */
void http_server_stop(struct http_server *server, uint64_t grace_ms, http_server_stop_cb cb);
/* Counters for /metrics. */
struct http_server_stats {
    uint64_t connections_open;
    uint64_t connections_total;
    uint64_t requests_total;
    uint64_t requests_in_flight;
    uint64_t responses_4xx;
    uint64_t responses_5xx;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t buffered_bytes;     /* held by buffered bodies now */
    uint64_t bodies_refused_busy; /* refused 503 over buffered_bytes_max */
    uint64_t tls_failures;       /* TLS connections closed on a handshake or record error */
};
void http_server_get_stats(const struct http_server *server, struct http_server_stats *out);

/* The config's data pointer of the server that received @req. */
void *http_request_server_data(const struct http_request *req);

/* Case-insensitive header lookup; NULL when absent. */
const char *http_request_header(const struct http_request *req, const char *name);
/* Value of query parameter @name, percent-decoded, into a fresh allocation the caller
 * frees; NULL when absent. An empty value ("?a=&b") gives "". */
char *http_request_query(const struct http_request *req, const char *name);

/* Streams the body to @body_cb in chunks as it arrives, then calls @done_cb once.
 * For a request without body, @done_cb runs (status 0) from the next loop iteration.
 * Call at most once, from request_cb or later. */
void http_request_read_body(struct http_request *req, http_body_cb body_cb,
                            http_body_done_cb done_cb);
/* Collects the whole body into req->body (NUL-terminated) and then calls @done_cb.
 * A body over @max_bytes is refused with 413, one that does not fit in the server's
 * buffered_bytes_max with 503 and Retry-After (done_cb gets BASE_ETOOBIG for both),
 * one slower than body_timeout_ms with 408 (BASE_ECANCELED). */
void http_request_buffer_body(struct http_request *req, size_t max_bytes,
                              http_body_done_cb done_cb);
/* The answer says Connection: close and the connection closes once it is written;
 * an unread body is never read (not even to discard it). For refusals of callers
 * that should not get to send a body at all. Call before the respond call. */
void http_request_close_after(struct http_request *req);

/* Backpressure for streamed bodies: no body_cb calls between pause and resume. */
void http_request_pause(struct http_request *req);
void http_request_resume(struct http_request *req);

/* Adds a response header (both strings copied). Call before the respond call. The
 * server itself adds Content-Length or Transfer-Encoding, Connection, Date and
 * X-Request-Id; X-Content-Type-Options: nosniff on every answer, and Cache-Control:
 * no-store on an application/json one, unless the handler added its own. */
void http_request_add_header(struct http_request *req, const char *name, const char *value);

/* Whole response in one call; @body (may be NULL when @len is 0) is copied. For a HEAD
 * request the body is not sent but Content-Length is. If the request body has not been
 * read, the server discards it (reading it when it is small, closing the connection
 * otherwise). */
void http_respond(struct http_request *req, int status, const char *content_type,
                  const void *body, size_t len);
/* The same for a body that is not copied: @body must stay valid and unchanged until the
 * server is freed (static data, such as the console's embedded files, api/console.c).
 * @len fits in 32 bits. */
void http_respond_static(struct http_request *req, int status, const char *content_type,
                         const void *body, size_t len);
/* JSON error body {"code","error","message","request_id"} with the given status. */
void http_respond_error(struct http_request *req, int status, int code, const char *error,
                        const char *message);
/* Streaming response: headers now, then http_respond_write() chunks, then
 * http_respond_end(). @content_length < 0 means chunked transfer encoding. */
void http_respond_start(struct http_request *req, int status, const char *content_type,
                        int64_t content_length);
/* Queues @len bytes of @data; the server takes ownership of @data (free()d after the
 * write). @cb (may be NULL) runs once the bytes are written. At most a few writes
 * should be outstanding per request: wait for @cb before producing more. */
void http_respond_write(struct http_request *req, char *data, size_t len, http_write_cb cb);
/* Ends a streamed response (writes the last chunk when chunked). */
void http_respond_end(struct http_request *req);

/* ---- Bodies sent from a file (http_direct.c) ----
 * A Content-Length answer whose body a worker thread sends with sendfile(2) from a
 * file straight to the socket, not copied through the loop. Only on a plain (not TLS)
 * connection with nothing queued for it. On the loop: http_direct_begin() (the head is
 * built, not sent) or, for a later part of the same body, http_direct_more(); on a
 * worker: http_direct_send(); on the loop again: http_direct_done(), or
 * http_direct_cancel() when nothing was sent. Meanwhile the handler writes nothing
 * else. After done, the answer has started as after http_respond_start() and goes on
 * with http_respond_write(), http_direct_more() or http_respond_end(). */
struct http_direct {
    int sock;           /* a dup of the socket (non-blocking); -1: none */
    char *head;         /* begin: the answer's head; NULL after it was handed over */
    size_t head_len;
    size_t head_sent;
    uint64_t body_sent; /* body bytes sent by this send */
    bool failed;        /* the socket failed: done closes the connection */
    /* Private. */
    int status;
    uint64_t length;
    size_t headers_len;
    bool close_after, want_close;
};
/* Prepares a @status answer of @length bytes (> 0) of @content_type; false when its
 * body cannot be sent directly (TLS, HEAD, writes queued, the connection gone, already
 * answered): answer the usual way then. */
bool http_direct_begin(struct http_request *req, int status, const char *content_type,
                       uint64_t length, struct http_direct *d);
/* The next part of a body begun directly; false when writes are queued or the
 * connection is gone (go on with http_respond_write()). */
bool http_direct_more(struct http_request *req, struct http_direct *d);
/* On a worker: sends what is left of the head, then @count bytes of @file from
 * @offset, until all are out (0) or the socket is full (0 too: d->head_sent and
 * d->body_sent say how far it got). BASE_ECANCELED when the client is gone, BASE_EIO
 * when the file cannot be read, BASE_ECORRUPT when it ends early. */
int http_direct_send(struct http_direct *d, int file, uint64_t offset, uint64_t count,
                     struct base_err *err);
/* After the send: the answer has started with d->body_sent bytes of its body out; the
 * unsent rest of the head is queued. */
void http_direct_done(struct http_request *req, struct http_direct *d);
/* When nothing was sent: as if http_direct_begin() (or _more()) had not been called. */
void http_direct_cancel(struct http_request *req, struct http_direct *d);

/* Percent-decodes @n bytes of @s (and '+' as a space when @plus, as in query strings)
 * into a fresh allocation the caller frees; NULL on a broken escape or an encoded NUL. */
char *http_percent_decode(const char *s, size_t n, bool plus);

/* Status code text ("Not Found"). */
const char *http_status_text(int status);

#endif
