/* Outbound HTTP from the loop: libcurl's multi interface driven by libuv.
 *
 * The only module that includes <curl/curl.h> in the daemon. Sockets are watched with
 * uv_poll handles and curl's timeout with a uv_timer, so requests never block the
 * loop thread. Used for webhook deliveries (the outbox), forwarding proposals to the
 * leader and node-to-node calls.
 *
 * A request is owned by the caller and must stay valid until its callback, which runs
 * exactly once on the loop thread, never from inside http_client_send().
 *
 * A request made on a tenant's behalf (a webhook, an ERP submission, any URL a tenant
 * chose) sets @permits and @guard: every connection it opens is checked (by
 * replication/outbound.h's rules) on the resolved address before the socket exists, it never reuses a pooled connection,
 * redirects are not followed (a 3xx is the answer), and only http and https are
 * spoken. A refused connection fails the request with the guard's reason in @error.
 * Node-to-node calls leave both NULL. */
#ifndef IMGARC_NET_HTTP_CLIENT_H
#define IMGARC_NET_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "base/err.h"

#define HTTP_CLIENT_RESPONSE_MAX_DEFAULT (64u << 10)
/* From an on_data callback: hold the transfer until http_client_resume(). */
#define HTTP_CLIENT_PAUSE ((size_t)0x10000001)

struct http_client;
struct http_client_req;

/* TLS for calls to other members of the cluster: the CAs their certificates chain to
 * (NULL: the system's store) and this node's own certificate, presented when they ask
 * for one (mutual TLS). Host names and IP addresses are verified as always. */
struct http_client_tls {
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
};
/* Sets @tls on curl easy handle @easy (a no-op for NULL). */
void http_client_tls_setopt(void *easy, const struct http_client_tls *tls);

typedef void (*http_client_cb)(struct http_client_req *req);
/* A piece of the response body as it arrives (the status is known by then:
 * http_client_status()). Returns @n to go on, HTTP_CLIENT_PAUSE to hold the transfer
 * (the same piece comes again after http_client_resume()), anything else to fail the
 * request. */
typedef size_t (*http_client_data_cb)(struct http_client_req *req, const char *data, size_t n);
/* One line of the response head as received ("Name: value\r\n", the status line too;
 * @n bytes, not NUL-terminated), as it arrives. */
typedef void (*http_client_header_cb)(struct http_client_req *req, const char *line, size_t n);

struct http_client_req {
    void *data; /* for the caller */

    /* In. The strings and the body must stay valid until the callback. */
    const char *method;         /* NULL: POST when a body is set, else GET */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
    const void *body;
    size_t body_len;
    size_t response_max;   /* response bytes kept; 0: HTTP_CLIENT_RESPONSE_MAX_DEFAULT */
    unsigned timeout_ms;   /* whole request; 0: 30 s */
    unsigned connect_timeout_ms; /* 0: 5 s */
    http_client_data_cb on_data; /* streams the body instead of keeping it */
    http_client_header_cb on_header; /* may be NULL: sees the response head's lines */
    /* A tenant's request sets both: @permits is asked before each connection opens, with
     * @guard, the URL's host and the resolved address; false refuses it and fills @why
     * (replication/outbound.h's outbound_check). Node-to-node calls leave them NULL. */
    bool (*permits)(void *guard, const char *host, const struct sockaddr *addr, char *why,
                    size_t why_size);
    void *guard;
    const struct http_client_tls *tls; /* a call to a member over https; NULL: defaults */

    /* Out, valid in the callback. */
    long status;           /* the HTTP status; 0 when no response arrived */
    char error[256];       /* why there is no response (empty when status != 0) */
    char *response;        /* the body, NUL-terminated, truncated at response_max */
    size_t response_len;
    int truncated;         /* 1 when the body was longer than response_max */
    double seconds;        /* time the request took */

    /* Private. */
    struct http_client *client;
    http_client_cb cb;
    void *easy;
    void *header_list;
    size_t response_cap;
    char host[256];    /* the URL's host, for the guard */
    char refused[256]; /* the guard's first refusal */
    struct http_client_req *next, *prev;
};

int http_client_init(struct http_client **out, uv_loop_t *loop, struct base_err *err) WARN_UNUSED;
/* Starts @req; @cb runs once it completed, failed or was cancelled. */
void http_client_send(struct http_client *c, struct http_client_req *req, http_client_cb cb);
/* Ends @req now if it is in flight: its callback runs at once, with no response and
 * @why as its error. Nothing happens to a request that ended already (or whose failure
 * is queued to run). Never from inside @req's own callbacks. */
void http_client_cancel(struct http_client_req *req, const char *why);
/* The HTTP status of a response being received (0 before the head arrived). */
long http_client_status(struct http_client_req *req);
/* Lets a transfer held by HTTP_CLIENT_PAUSE go on. Never from inside on_data. */
void http_client_resume(struct http_client_req *req);
/* The host (without brackets) and port (the scheme's default when absent) @url
 * names, parsed the way requests parse it. BASE_EINVAL with @err saying why when
 * @url is not an http:// or https:// URL with a host. */
int http_client_url_host(const char *url, char *host, size_t host_size, unsigned *port,
                         struct base_err *err) WARN_UNUSED;
/* Number of requests in flight. */
unsigned http_client_in_flight(const struct http_client *c);
/* Cancels every request in flight (their callbacks run with an error), then closes
 * the handles; @cb runs once everything is freed. */
void http_client_close(struct http_client *c, void (*cb)(void *arg), void *arg);

#endif
