#include "net/http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "base/log.h"
#include "base/mem.h"
#include "version.h"

struct http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timeout;   /* curl's own timeout */
    uv_timer_t deferred;  /* runs callbacks of requests that failed before starting */
    struct http_client_req *head;    /* in flight */
    struct http_client_req *failed;  /* failed at send, callback pending */
    unsigned in_flight;
    unsigned open_handles; /* libuv handles not closed yet */
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* One socket curl asked us to watch. */
struct watch {
    uv_poll_t poll;
    curl_socket_t fd;
    struct http_client *client;
};

static void maybe_closed(struct http_client *c)
{
    if (!c->closing || c->open_handles > 0) {
        return;
    }
    void (*cb)(void *) = c->close_cb;
    void *arg = c->close_arg;
    free(c);
    if (cb != NULL) {
        cb(arg);
    }
}

static void handle_closed(uv_handle_t *h)
{
    struct http_client *c = h->data;
    if (h->type == UV_POLL) {
        free(container_of((uv_poll_t *)h, struct watch, poll));
    }
    c->open_handles--;
    maybe_closed(c);
}

static void list_remove(struct http_client *c, struct http_client_req *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        c->head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    r->next = r->prev = NULL;
}

/* Frees curl's side of @r and runs its callback. */
static void finish(struct http_client *c, struct http_client_req *r, CURLcode code)
{
    long status = 0;
    double seconds = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &seconds);
    curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->header_list);
    r->easy = NULL;
    r->header_list = NULL;
    list_remove(c, r);
    c->in_flight--;
    r->seconds = seconds;
    if (code == CURLE_OK) {
        r->status = status;
        r->error[0] = '\0';
    } else {
        r->status = 0;
        if (r->refused[0] != '\0' && code == CURLE_COULDNT_CONNECT) {
            /* Every address was refused (or the others failed): say why. */
            snprintf(r->error, sizeof r->error, "%s", r->refused);
        } else if (r->error[0] == '\0') {
            snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(code));
        }
    }
    r->cb(r);
}

static void check_done(struct http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        struct http_client_req *r = NULL;
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        finish(c, r, msg->data.result);
    }
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct watch *w = container_of(h, struct watch, poll);
    struct http_client *c = w->client;
    int flags = 0;
    int running;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    }
    if ((events & UV_READABLE) != 0) {
        flags |= CURL_CSELECT_IN;
    }
    if ((events & UV_WRITABLE) != 0) {
        flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(c->multi, w->fd, flags, &running);
    check_done(c);
}

static void timeout_cb(uv_timer_t *t)
{
    struct http_client *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct http_client *c = userp;
    struct watch *w = socketp;
    int events = 0;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (w != NULL) {
            uv_poll_stop(&w->poll);
            uv_close((uv_handle_t *)&w->poll, handle_closed);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (w == NULL) {
        w = xcalloc(1, sizeof *w);
        w->fd = fd;
        w->client = c;
        if (uv_poll_init_socket(c->loop, &w->poll, fd) != 0) {
            free(w);
            return -1; /* curl fails the transfer */
        }
        w->poll.data = c;
        c->open_handles++;
        curl_multi_assign(c->multi, fd, w);
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
        events |= UV_READABLE;
    }
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
        events |= UV_WRITABLE;
    }
    uv_poll_start(&w->poll, events, poll_cb);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct http_client *c = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&c->timeout);
    } else {
        uv_timer_start(&c->timeout, timeout_cb, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct http_client_req *r = userp;
    size_t n = size * nmemb;
    size_t keep = n;
    if (r->on_data != NULL) {
        size_t taken = r->on_data(r, data, n);
        return taken == HTTP_CLIENT_PAUSE ? CURL_WRITEFUNC_PAUSE : taken;
    }
    if (r->response_len + keep > r->response_max) {
        keep = r->response_max - r->response_len;
        r->truncated = 1;
    }
    if (keep > 0) {
        if (r->response_len + keep + 1 > r->response_cap) {
            size_t cap = r->response_cap == 0 ? 1024 : r->response_cap;
            while (cap < r->response_len + keep + 1) {
                cap *= 2;
            }
            r->response = xrealloc(r->response, cap);
            r->response_cap = cap;
        }
        memcpy(r->response + r->response_len, data, keep);
        r->response_len += keep;
        r->response[r->response_len] = '\0';
    }
    return n; /* a longer body is read and dropped, not an error */
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct http_client_req *r = userp;
    r->on_header(r, data, size * nmemb);
    return size * nmemb;
}

static void deferred_cb(uv_timer_t *t)
{
    struct http_client *c = t->data;
    while (c->failed != NULL) {
        struct http_client_req *r = c->failed;
        c->failed = r->next;
        r->next = NULL;
        r->cb(r);
    }
}

/* Fails @r without starting it; its callback runs from the loop, not from the caller. */
static void fail_later(struct http_client *c, struct http_client_req *r, const char *why)
{
    snprintf(r->error, sizeof r->error, "%s", why);
    r->next = c->failed;
    c->failed = r;
    uv_timer_start(&c->deferred, deferred_cb, 0, 0);
}

/* libcurl's hook before each connection: the guard sees the resolved address. */
static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *address)
{
    struct http_client_req *r = clientp;
    char why[256];
    if (purpose != CURLSOCKTYPE_IPCXN) {
        return CURL_SOCKET_BAD;
    }
    if (!r->permits(r->guard, r->host, &address->addr, why, sizeof why)) {
        LOG_INFO("http_client", "%s (url host %s)", why, r->host);
        if (r->refused[0] == '\0') {
            snprintf(r->refused, sizeof r->refused, "%s", why);
        }
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* A tenant's request: checked connections of its own, no redirects, http(s) only. A
 * fresh connection makes libcurl call the hook (a pooled one, opened by a node-to-node
 * call to the same HOST:PORT, would skip it), and redirects stay off because host-name
 * rules are matched against r->host, the URL's host, which a redirect would change. */
static void configure_guard(struct http_client_req *r)
{
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
}

int http_client_url_host(const char *url, char *host, size_t host_size, unsigned *port,
                         struct base_err *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL, *p = NULL;
    int rv = BASE_EINVAL;
    size_t n;
    if (u == NULL) {
        base_err_set(err, "out of memory");
        return BASE_ENOMEM;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        base_err_set(err, "not an http:// or https:// URL");
    } else if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || h[0] == '\0') {
        base_err_set(err, "the URL names no host");
    } else if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK ||
               strtoul(p, NULL, 10) == 0) {
        base_err_set(err, "the URL's port is not valid (1-65535)");
    } else {
        const char *start = h[0] == '[' ? h + 1 : h;
        n = strlen(start) - (h[0] == '[' ? 1 : 0);
        if (n >= host_size) {
            base_err_set(err, "the URL's host is too long");
        } else {
            memcpy(host, start, n);
            host[n] = '\0';
            *port = (unsigned)strtoul(p, NULL, 10);
            rv = 0;
        }
    }
    curl_free(scheme);
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rv;
}

static bool configure(struct http_client_req *r)
{
    CURL *e = r->easy;
    struct curl_slist *list = NULL;
    bool ok = true;
    if (r->headers != NULL) {
        for (const char *const *h = r->headers; *h != NULL && ok; h++) {
            struct curl_slist *next = curl_slist_append(list, *h);
            ok = next != NULL;
            list = next != NULL ? next : list;
        }
    }
    /* Bodies are small and sent at once: no 100-continue round trip. */
    if (ok && r->body != NULL) {
        struct curl_slist *next = curl_slist_append(list, "Expect:");
        ok = next != NULL;
        list = next != NULL ? next : list;
    }
    r->header_list = list;
    if (!ok) {
        return false;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "imgarcd/" IMGARC_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(r->timeout_ms != 0 ? r->timeout_ms : 30000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(r->connect_timeout_ms != 0 ? r->connect_timeout_ms : 5000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
    if (r->on_header != NULL) {
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    }
    if (r->permits != NULL) {
        configure_guard(r);
    }
    http_client_tls_setopt(e, r->tls);
    if (r->body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    }
    if (r->method != NULL && strcmp(r->method, r->body != NULL ? "POST" : "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
        if (strcmp(r->method, "HEAD") == 0) {
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        }
    }
    return true;
}

void http_client_send(struct http_client *c, struct http_client_req *r, http_client_cb cb)
{
    r->client = c;
    r->cb = cb;
    r->status = 0;
    r->error[0] = '\0';
    r->response = NULL;
    r->response_len = 0;
    r->response_cap = 0;
    r->truncated = 0;
    r->seconds = 0;
    r->next = r->prev = NULL;
    r->header_list = NULL;
    r->refused[0] = '\0';
    r->host[0] = '\0';
    if (r->response_max == 0) {
        r->response_max = HTTP_CLIENT_RESPONSE_MAX_DEFAULT;
    }
    if (c->closing) {
        fail_later(c, r, "the node is shutting down");
        return;
    }
    if (r->permits != NULL) {
        struct base_err err = {{0}};
        unsigned port;
        if (http_client_url_host(r->url, r->host, sizeof r->host, &port, &err) != 0) {
            fail_later(c, r, err.msg);
            return;
        }
    }
    r->easy = curl_easy_init();
    if (r->easy == NULL || !configure(r)) {
        if (r->easy != NULL) {
            curl_easy_cleanup(r->easy);
            curl_slist_free_all(r->header_list);
        }
        r->easy = NULL;
        r->header_list = NULL;
        fail_later(c, r, "out of memory setting up the request");
        return;
    }
    r->next = c->head;
    if (c->head != NULL) {
        c->head->prev = r;
    }
    c->head = r;
    c->in_flight++;
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        curl_easy_cleanup(r->easy);
        curl_slist_free_all(r->header_list);
        r->easy = NULL;
        r->header_list = NULL;
        list_remove(c, r);
        c->in_flight--;
        fail_later(c, r, "could not start the request");
    }
}

void http_client_cancel(struct http_client_req *r, const char *why)
{
    if (r->easy == NULL || r->client == NULL) {
        return;
    }
    snprintf(r->error, sizeof r->error, "%s", why);
    finish(r->client, r, CURLE_ABORTED_BY_CALLBACK);
}

long http_client_status(struct http_client_req *r)
{
    long status = 0;
    if (r->easy != NULL) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    }
    return status;
}

void http_client_resume(struct http_client_req *r)
{
    if (r->easy != NULL) {
        /* curl may deliver the held piece from inside this call; completions are
         * picked up by the next socket or timer event. */
        curl_easy_pause(r->easy, CURLPAUSE_CONT);
    }
}

unsigned http_client_in_flight(const struct http_client *c)
{
    return c->in_flight;
}

int http_client_init(struct http_client **out, uv_loop_t *loop, struct base_err *err)
{
    static bool curl_ready;
    struct http_client *c;
    if (!curl_ready) {
        /* Thread-safe in the libcurl Debian ships (7.84 and later). */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            base_err_set(err, "curl_global_init failed");
            return BASE_EIO;
        }
        curl_ready = true;
    }
    c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        base_err_set(err, "curl_multi_init failed");
        free(c);
        return BASE_ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    uv_timer_init(loop, &c->timeout);
    uv_timer_init(loop, &c->deferred);
    c->timeout.data = c;
    c->deferred.data = c;
    c->open_handles = 2;
    *out = c;
    return 0;
}

void http_client_close(struct http_client *c, void (*cb)(void *arg), void *arg)
{
    c->closing = true;
    c->close_cb = cb;
    c->close_arg = arg;
    while (c->head != NULL) {
        struct http_client_req *r = c->head;
        snprintf(r->error, sizeof r->error, "the node is shutting down");
        finish(c, r, CURLE_ABORTED_BY_CALLBACK);
    }
    deferred_cb(&c->deferred);
    curl_multi_cleanup(c->multi); /* may still report sockets to remove */
    c->multi = NULL;
    uv_close((uv_handle_t *)&c->timeout, handle_closed);
    uv_close((uv_handle_t *)&c->deferred, handle_closed);
}

void http_client_tls_setopt(void *easy, const struct http_client_tls *tls)
{
    if (tls == NULL) {
        return;
    }
    if (tls->ca_file != NULL) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, tls->ca_file);
    }
    if (tls->cert_file != NULL && tls->key_file != NULL) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, tls->cert_file);
        curl_easy_setopt(easy, CURLOPT_SSLKEY, tls->key_file);
    }
}
