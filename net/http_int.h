/* The HTTP server's internals, shared by net/http_server.c (connections), net/http_parse.c
 * (parsing) and net/http_request.c (requests and answers). Not for callers: they use
 * net/http_server.h. Only net/ includes this header (and so <http_parser.h>).
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
 * them any more (the handler's final call made, deferred calls and writes done).
 * Everything runs on the loop thread. */
#ifndef IMGARC_NET_HTTP_INT_H
#define IMGARC_NET_HTTP_INT_H

#include "net/http_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* http_parser.h names its method enum like ours (http_server.h): rename its tag here. */
#define http_method http_parser_method
#include <http_parser.h>
#undef http_method

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
    struct tls_conn *tls; /* NULL on a plain connection */
    uint64_t tls_deadline_ns; /* clock_mono_ns() by which the handshake must be done */
    bool tls_sniffed;         /* the first bytes were checked for plain HTTP */
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


/* ---- TLS (http_tls.c): one connection's record layer, on memory BIOs ----
 *
 * Reading: the socket's bytes go to tls_conn_in_buf() and tls_conn_received(); the
 * parse loop takes plaintext with tls_conn_read() into the connection's input buffer
 * whenever it is empty and the parser wants bytes (http_conn_tls_fill()), so the
 * plain path's rule holds: one buffer of plaintext at a time, and nothing read from the
 * socket while the request does not want it. Writing: conn_write() encrypts the
 * answer's buffers and queues the ciphertext instead. After any read, what OpenSSL
 * wrote (handshake messages, alerts) is queued as it is (http_conn_tls_flush()). */
#define TLS_CLOSED (-2) /* the client sent close_notify */
#define TLS_FAILED (-1) /* a handshake or record error: the connection is closed */
struct http_tls;
struct tls_conn;
struct tls_conn *tls_conn_new(struct http_tls *tls);
void tls_conn_free(struct tls_conn *t);
/* Where the socket's next bytes go (*@size bytes at most). */
char *tls_conn_in_buf(struct tls_conn *t, size_t *size);
/* @n bytes arrived in tls_conn_in_buf(). */
void tls_conn_received(struct tls_conn *t, size_t n);
/* Whether tls_conn_read() may give bytes without more from the socket. */
bool tls_conn_pending(struct tls_conn *t);
/* Plaintext into @out: the number of bytes, 0 (more ciphertext needed), TLS_CLOSED or
 * TLS_FAILED (*@plain_http: the client spoke plain HTTP to the TLS port). */
int tls_conn_read(struct tls_conn *t, char *out, size_t size, const char *peer,
                  bool *plain_http);
bool tls_conn_established(const struct tls_conn *t);
bool tls_conn_failed(const struct tls_conn *t);
/* TLS_CLOSED or TLS_FAILED once the connection's TLS has ended (0 before): met by a
 * read in the parse loop, acted on when the loop ends. */
int tls_conn_ended(const struct tls_conn *t);
/* Encrypts @n bytes into the output: 0 or TLS_FAILED. */
int tls_conn_write(struct tls_conn *t, const char *buf, size_t n);
/* Queues close_notify in the output. */
void tls_conn_shutdown(struct tls_conn *t);
/* The ciphertext to send (malloc()ed, *@len bytes), or NULL when there is none. */
char *tls_conn_take_output(struct tls_conn *t, size_t *len);

/* ---- Deferred calls and connections (http_server.c) ---- */

/* Runs @kind for @c (and @r, when not NULL) on the next loop iteration; holds a
 * reference on both until then. @status and @cb are for DEFER_BODY_DONE and
 * DEFER_WRITE_CB. */
void http_defer(struct http_server *s, enum deferred_kind kind, struct http_conn *c,
                struct request_impl *r, int status, http_write_cb cb);
/* Runs the parse loop on the next loop iteration (once, however often asked). */
void http_conn_kick(struct http_conn *c);
/* Closes at once: no more bytes either way; the handler of the current request is told. */
void http_conn_close(struct http_conn *c);
/* Frees a closed connection once nothing refers to it. */
void http_conn_maybe_free(struct http_conn *c);
/* Closes once the queued answers are out: FIN, then a short linger. */
void http_conn_flush_close(struct http_conn *c);
/* Tells the handler that owns the current request that the connection is gone. */
void http_conn_notify_handler(struct http_conn *c);
/* Arms the connection's timer: the idle timeout, or sooner the deadline of the head
 * being received or of a buffered body. */
void http_conn_arm_timer(struct http_conn *c);
/* Starts or stops reading from the socket as the current request and the buffer allow. */
void http_conn_update_reading(struct http_conn *c);
/* Whether the parser wants bytes now (the input buffer is empty and the request, if
 * any, takes more). */
bool http_conn_wants_bytes(struct http_conn *c);
/* TLS: decrypts into the empty input buffer; true when bytes arrived. */
bool http_conn_tls_fill(struct http_conn *c);
/* TLS: acts on a close_notify or an error the parse loop met (EOF, or closing). */
void http_conn_tls_ended(struct http_conn *c);

/* ---- Parsing (http_parse.c) ---- */

/* Parses what is buffered, calling the handler between runs of the parser, until the
 * current request waits for something or the buffer is empty. */
void http_conn_parse(struct http_conn *c);
/* A request the server refuses itself (bad syntax, too large, too slow): answers
 * @status with the JSON error (@code, @error, @message) and closes after it. */
void http_conn_refuse(struct http_conn *c, int status, int code, const char *error,
                      const char *message);

/* ---- Requests and answers (http_request.c) ---- */

/* Queues @len bytes of @owned (freed after the write) as they are: ciphertext, or the
 * plain answer to a client that spoke HTTP to the TLS port. */
void http_conn_write_raw(struct http_conn *c, char *owned, size_t len);
/* Queues @n buffers (encrypted on a TLS connection); @owned0 and @owned1 (may be NULL)
 * are freed after the write. @cb (may be NULL), with @r, runs once the bytes are out
 * or the connection failed. */
void http_conn_write(struct http_conn *c, uv_buf_t *bufs, unsigned n, char *owned0,
                     char *owned1, struct request_impl *r, http_write_cb cb);
/* The status line and headers of @r's answer (@length < 0: chunked), with the
 * handler's headers; decides keep-alive (and notes a close). Fresh allocation. */
char *http_req_build_head(struct request_impl *r, int status, const char *content_type,
                          int64_t length, size_t *out_len);
/* Marks @r answered with @status: counted and logged. */
void http_req_count_answer(struct request_impl *r, int status);
/* TLS: queues what OpenSSL wrote (handshake messages, alerts, close_notify). */
void http_conn_tls_flush(struct http_conn *c);
struct request_impl *http_req_new(struct http_conn *c);
void http_req_free(struct request_impl *r);
/* Takes @n more bytes of the server's buffered-body budget for @r; false when they do
 * not fit. */
bool http_req_reserve(struct request_impl *r, size_t n);
/* Frees the request once the handler is done with it and nothing refers to it; then
 * the connection goes on with the next request, or closes. */
void http_req_maybe_release(struct request_impl *r);
/* The server's own answer for a request the handler may own: written once; the
 * handler's final call later only releases. */
void http_req_server_answer(struct request_impl *r, int status, int code, const char *error,
                            const char *message);

#endif
