#include "replication/transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "base/log.h"
#include "base/mem.h"

#define LOGGED_MAX 128 /* (source, reason) pairs remembered so each is logged once */
#define READ_CHUNK HANDSHAKE_FRAME_MAX

enum conn_state { CONN_HANDSHAKE, CONN_PUMP, CONN_CLOSING };

struct tp;

/* One connection, from its TCP handle to its pump. */
struct conn {
    struct tp *tp;
    struct conn *next, *prev;
    bool outbound;
    enum conn_state state;
    uv_tcp_t tcp;
    uv_timer_t timer;      /* the handshake's deadline */
    uv_pipe_t local;       /* our end of the pair; libraft has the other */
    bool local_open;
    unsigned handles;      /* handles not closed yet: the conn is freed at 0 */
    uv_connect_t connect;
    struct raft_uv_connect *req; /* outbound: libraft's request, until answered */
    raft_uv_connect_cb connect_cb;
    struct handshake hs;
    uint8_t *rx;           /* TCP bytes not consumed yet */
    size_t rx_len, rx_cap;
    uint8_t local_buf[READ_CHUNK]; /* one read from libraft's side */
    bool tcp_paused, local_paused;
    char source[64];       /* the peer's IP:port (inbound) or raft address (outbound) */
};

struct write_req {
    uv_write_t w;
    struct conn *conn;
    size_t len;
    uint8_t data[];
};

struct logged {
    char source[48];
    uint8_t reason;
};

struct tp {
    struct raft_uv_transport *t;
    uv_loop_t *loop;
    struct handshake_keys keys;
    handshake_member_cb member_cb;
    void *member_arg;
    uint64_t id;
    char address[HANDSHAKE_ADDRESS_MAX + 1];
    uv_tcp_t listener;
    bool listener_init;
    bool listener_closed;
    raft_uv_accept_cb accept_cb;
    struct conn *conns;
    unsigned handshaking;
    bool closing;
    raft_uv_transport_close_cb close_cb;
    struct transport_stats stats;
    struct logged logged[LOGGED_MAX];
    unsigned logged_next;
};

static void conn_close(struct conn *c);

/* ---- Refusals: counted always, logged once per source and reason ---- */

static bool first_time(struct tp *tp, const char *source, enum handshake_refusal why)
{
    char host[sizeof tp->logged[0].source];
    const char *colon = strrchr(source, ':');
    size_t n = colon != NULL ? (size_t)(colon - source) : strlen(source);
    if (n >= sizeof host) {
        n = sizeof host - 1;
    }
    memcpy(host, source, n); /* the host alone: every connection has another port */
    host[n] = '\0';
    for (unsigned i = 0; i < LOGGED_MAX; i++) {
        if (tp->logged[i].reason == (uint8_t)why && strcmp(tp->logged[i].source, host) == 0) {
            return false;
        }
    }
    snprintf(tp->logged[tp->logged_next].source, sizeof tp->logged[0].source, "%s", host);
    tp->logged[tp->logged_next].reason = (uint8_t)why;
    tp->logged_next = (tp->logged_next + 1) % LOGGED_MAX;
    return true;
}

static const char *refusal_hint(enum handshake_refusal why)
{
    switch (why) {
    case HANDSHAKE_R_MALFORMED:
        return "it does not speak imgarc's raft protocol (an older node, or not a node)";
    case HANDSHAKE_R_WRONG_NODE:
        return "it dialled another node id (an address now used by another node?)";
    case HANDSHAKE_R_BAD_PROOF:
        return "it does not hold this cluster's secret (check --cluster-secret-file on "
               "both nodes)";
    case HANDSHAKE_R_NOT_MEMBER:
        return "it holds the secret but is not a member of this cluster (removed?)";
    case HANDSHAKE_R_TIMEOUT:
        return "it did not finish the handshake in time";
    case HANDSHAKE_R_NO_SECRET:
        return "this node has no --cluster-secret-file and takes no raft peers";
    case HANDSHAKE_R_INTEGRITY:
        return "a frame failed its authentication (altered on the way, or not a member's)";
    case HANDSHAKE_R_BUSY:
        return "too many connections were in their handshake";
    case HANDSHAKE_R_PEER_CLOSED:
        return "the node closed the connection during the handshake: check that both hold "
               "the same cluster secret and that this node is a member";
    default:
        return "";
    }
}

static void refuse(struct conn *c, enum handshake_refusal why)
{
    struct tp *tp = c->tp;
    if (c->outbound) {
        tp->stats.dial_failed++;
        if (first_time(tp, c->source, why)) {
            LOG_WARN("raft", "raft connection to node %llu at %s failed: %s (%s); later "
                             "failures for this reason are only counted",
                     (unsigned long long)c->hs.peer_id, c->source, handshake_refusal_name(why),
                     refusal_hint(why));
        }
    } else {
        tp->stats.refused[why]++;
        if (first_time(tp, c->source, why)) {
            LOG_WARN("raft", "refused a raft connection from %s: %s (%s); later refusals "
                             "from it for this reason are only counted",
                     c->source, handshake_refusal_name(why), refusal_hint(why));
        }
    }
    conn_close(c);
}

/* ---- Connections ---- */

static void maybe_closed(struct tp *tp)
{
    if (tp->closing && tp->conns == NULL && (!tp->listener_init || tp->listener_closed) &&
        tp->close_cb != NULL) {
        raft_uv_transport_close_cb cb = tp->close_cb;
        tp->close_cb = NULL;
        cb(tp->t);
    }
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct tp *tp = c->tp;
    ASSERT(c->handles > 0);
    if (--c->handles > 0) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        tp->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    handshake_wipe(&c->hs);
    free(c->rx);
    free(c);
    maybe_closed(tp);
}

static struct conn *conn_new(struct tp *tp, bool outbound)
{
    struct conn *c = xcalloc(1, sizeof *c);
    c->tp = tp;
    c->outbound = outbound;
    c->state = CONN_HANDSHAKE;
    uv_tcp_init(tp->loop, &c->tcp);
    c->tcp.data = c;
    uv_timer_init(tp->loop, &c->timer);
    c->timer.data = c;
    c->handles = 2;
    c->next = tp->conns;
    if (tp->conns != NULL) {
        tp->conns->prev = c;
    }
    tp->conns = c;
    tp->handshaking++;
    return c;
}

/* Answers libraft's connect request once. */
static void answer_connect(struct conn *c, uv_stream_t *stream, int status)
{
    struct raft_uv_connect *req = c->req;
    raft_uv_connect_cb cb = c->connect_cb;
    if (req == NULL) {
        return;
    }
    c->req = NULL;
    cb(req, stream, status);
}

static void conn_close(struct conn *c)
{
    struct tp *tp = c->tp;
    if (c->state == CONN_CLOSING) {
        return;
    }
    if (c->state == CONN_HANDSHAKE) {
        tp->handshaking--;
    } else {
        tp->stats.open--;
    }
    c->state = CONN_CLOSING;
    answer_connect(c, NULL, tp->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    if (c->local_open) {
        c->local_open = false;
        uv_close((uv_handle_t *)&c->local, conn_handle_closed);
    }
}

/* A handshake message was sent (or failed to be). */
static void write_done(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct conn *c = wr->conn;
    free(wr);
    if (status < 0) {
        conn_close(c);
    }
}

/* Queues @wr's bytes on @stream, @cb when written; false after closing the
 * connection. */
static bool send_req(struct conn *c, uv_stream_t *stream, struct write_req *wr, uv_write_cb cb)
{
    uv_buf_t buf = uv_buf_init((char *)wr->data, (unsigned)wr->len);
    wr->conn = c;
    if (uv_write(&wr->w, stream, &buf, 1, cb) != 0) {
        free(wr);
        conn_close(c);
        return false;
    }
    return true;
}

static struct write_req *write_req_new(size_t len)
{
    struct write_req *wr = xmalloc(sizeof *wr + len);
    wr->len = len;
    return wr;
}

/* Sends what the handshake has to say. */
static bool send_handshake(struct conn *c)
{
    struct write_req *wr;
    if (c->hs.out_len == 0) {
        return true;
    }
    wr = write_req_new(c->hs.out_len);
    memcpy(wr->data, c->hs.out, c->hs.out_len);
    c->hs.out_len = 0;
    return send_req(c, (uv_stream_t *)&c->tcp, wr, write_done);
}

static void consume(struct conn *c, size_t n)
{
    ASSERT(n <= c->rx_len);
    memmove(c->rx, c->rx + n, c->rx_len - n);
    c->rx_len -= n;
}

/* ---- The pump ---- */

static void local_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)c->local_buf, sizeof c->local_buf);
}

static void tcp_write_done(uv_write_t *w, int status);

/* libraft wrote: seal it and send it. */
static void local_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    struct write_req *wr;
    (void)buf;
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        conn_close(c); /* libraft closed its end */
        return;
    }
    wr = write_req_new(HANDSHAKE_FRAME_HEADER + (size_t)nread + HANDSHAKE_TAG_BYTES);
    wr->len = handshake_seal(&c->hs.tx, c->local_buf, (size_t)nread, wr->data);
    sodium_memzero(c->local_buf, (size_t)nread);
    if (!send_req(c, (uv_stream_t *)&c->tcp, wr, tcp_write_done)) {
        return;
    }
    c->tp->stats.bytes_sent += (uint64_t)nread;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > TRANSPORT_QUEUE_HIGH) {
        uv_read_stop((uv_stream_t *)&c->local);
        c->local_paused = true;
    }
}

static void tcp_write_done(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct conn *c = wr->conn;
    free(wr);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->state == CONN_PUMP && c->local_paused &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <= TRANSPORT_QUEUE_LOW) {
        c->local_paused = false;
        if (uv_read_start((uv_stream_t *)&c->local, local_alloc, local_read) != 0) {
            conn_close(c);
        }
    }
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void local_write_done(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct conn *c = wr->conn;
    sodium_memzero(wr->data, wr->len);
    free(wr);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->state == CONN_PUMP && c->tcp_paused &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->local) <= TRANSPORT_QUEUE_LOW) {
        c->tcp_paused = false;
        if (uv_read_start((uv_stream_t *)&c->tcp, tcp_alloc, tcp_read) != 0) {
            conn_close(c);
        }
    }
}

/* Opens every whole frame received and hands the bytes to libraft. */
static void pump_tcp(struct conn *c)
{
    while (c->state == CONN_PUMP && c->rx_len >= HANDSHAKE_FRAME_HEADER) {
        size_t size = handshake_frame_size(c->rx, c->rx_len);
        struct write_req *wr;
        long n;
        if (size == 0) {
            refuse(c, HANDSHAKE_R_INTEGRITY);
            return;
        }
        if (c->rx_len < size) {
            return;
        }
        wr = write_req_new(size);
        n = handshake_open(&c->hs.rx, c->rx, size, wr->data);
        if (n <= 0) {
            free(wr);
            refuse(c, HANDSHAKE_R_INTEGRITY);
            return;
        }
        consume(c, size);
        wr->len = (size_t)n;
        if (!send_req(c, (uv_stream_t *)&c->local, wr, local_write_done)) {
            return;
        }
        c->tp->stats.bytes_received += (uint64_t)n;
        if (!c->tcp_paused &&
            uv_stream_get_write_queue_size((uv_stream_t *)&c->local) > TRANSPORT_QUEUE_HIGH) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->tcp_paused = true;
        }
    }
}

/* The handshake succeeded: give libraft its end of a socket pair and start pumping. */
static void establish(struct conn *c)
{
    struct tp *tp = c->tp;
    int fds[2];
    uv_pipe_t *theirs;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
        LOG_WARN("raft", "socketpair: %s", strerror(errno));
        conn_close(c);
        return;
    }
    uv_pipe_init(tp->loop, &c->local, 0);
    c->local.data = c;
    c->local_open = true;
    c->handles++;
    theirs = raft_malloc(sizeof *theirs); /* libraft frees it with raft_free */
    if (theirs == NULL || uv_pipe_open(&c->local, fds[0]) != 0) {
        close(fds[0]);
        close(fds[1]);
        raft_free(theirs);
        conn_close(c);
        return;
    }
    uv_pipe_init(tp->loop, theirs, 0);
    if (uv_pipe_open(theirs, fds[1]) != 0) {
        close(fds[1]);
        uv_close((uv_handle_t *)theirs, (uv_close_cb)raft_free);
        conn_close(c);
        return;
    }
    uv_timer_stop(&c->timer);
    tp->handshaking--;
    tp->stats.open++;
    c->state = CONN_PUMP;
    if (uv_read_start((uv_stream_t *)&c->local, local_alloc, local_read) != 0) {
        uv_close((uv_handle_t *)theirs, (uv_close_cb)raft_free);
        conn_close(c);
        return;
    }
    if (c->outbound) {
        tp->stats.outbound++;
        answer_connect(c, (uv_stream_t *)theirs, 0);
    } else {
        tp->stats.inbound++;
        tp->accept_cb(tp->t, c->hs.peer_id, c->hs.peer_address, (uv_stream_t *)theirs);
    }
    pump_tcp(c); /* frames that came with the handshake's last bytes */
}

static void run_handshake(struct conn *c)
{
    for (;;) {
        size_t used;
        enum handshake_step step = handshake_feed(&c->hs, c->rx, c->rx_len, &used);
        consume(c, used);
        if (step == HANDSHAKE_REFUSED) {
            refuse(c, c->hs.refusal);
            return;
        }
        if (!send_handshake(c)) {
            return;
        }
        if (step == HANDSHAKE_DONE) {
            establish(c);
            return;
        }
        if (used == 0) {
            return; /* needs more bytes */
        }
    }
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    if (c->rx_cap - c->rx_len < READ_CHUNK) {
        c->rx_cap = c->rx_len + READ_CHUNK;
        c->rx = xrealloc(c->rx, c->rx_cap);
    }
    *buf = uv_buf_init((char *)c->rx + c->rx_len, READ_CHUNK);
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    (void)buf;
    if (nread == 0 || c->state == CONN_CLOSING) {
        return;
    }
    if (nread < 0) {
        if (c->state == CONN_HANDSHAKE && c->outbound) {
            refuse(c, HANDSHAKE_R_PEER_CLOSED);
        } else {
            conn_close(c);
        }
        return;
    }
    c->rx_len += (size_t)nread;
    if (c->state == CONN_HANDSHAKE) {
        if (c->rx_len > 2 * HANDSHAKE_HELLO_MAX) {
            refuse(c, HANDSHAKE_R_MALFORMED); /* more than a handshake before its answer */
            return;
        }
        run_handshake(c);
    } else {
        pump_tcp(c);
    }
}

static void handshake_timeout(uv_timer_t *t)
{
    refuse(t->data, HANDSHAKE_R_TIMEOUT);
}

static void start_conn(struct conn *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 30);
    uv_timer_start(&c->timer, handshake_timeout, TRANSPORT_HANDSHAKE_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, tcp_alloc, tcp_read) != 0) {
        conn_close(c);
        return;
    }
    if (c->outbound) {
        send_handshake(c);
    }
}

/* ---- The raft_uv_transport methods ---- */

static int tp_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct tp *tp = t->impl;
    tp->id = id;
    snprintf(tp->address, sizeof tp->address, "%s", address);
    uv_tcp_init(tp->loop, &tp->listener);
    tp->listener.data = tp;
    tp->listener_init = true;
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tp *tp = server->data;
    struct conn *c;
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (status < 0 || tp->closing) {
        return;
    }
    c = conn_new(tp, false);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    snprintf(c->source, sizeof c->source, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (sa.ss_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
            uv_ip4_name(in, ip, sizeof ip);
            port = ntohs(in->sin_port);
        } else if (sa.ss_family == AF_INET6) {
            const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)&sa;
            uv_ip6_name(in, ip, sizeof ip);
            port = ntohs(in->sin6_port);
        }
        snprintf(c->source, sizeof c->source, "%s:%d", ip, port);
    }
    if (tp->keys.n == 0) {
        refuse(c, HANDSHAKE_R_NO_SECRET);
        return;
    }
    if (tp->handshaking > TRANSPORT_HANDSHAKES_MAX) {
        refuse(c, HANDSHAKE_R_BUSY);
        return;
    }
    handshake_server_init(&c->hs, &tp->keys, tp->id, tp->member_cb, tp->member_arg);
    start_conn(c);
}

/* "a.b.c.d:port" into @sa; false when it is not one. */
static bool parse_ipv4(const char *address, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(address, ':');
    char *end;
    long port;
    if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
        return false;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        return false;
    }
    return uv_ip4_addr(host, (int)port, sa) == 0;
}

static int tp_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct tp *tp = t->impl;
    struct sockaddr_in sa;
    int rv;
    tp->accept_cb = cb;
    if (!parse_ipv4(tp->address, &sa)) {
        snprintf(t->errmsg, sizeof t->errmsg, "raft address %.200s is not IPv4:PORT", tp->address);
        return RAFT_INVALID;
    }
    if (tp->keys.n == 0 && (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        LOG_WARN("raft", "no --cluster-secret-file: raft listens on 127.0.0.1:%d only, not on "
                         "%s, and takes no peers (a cluster needs the secret on every node)",
                 ntohs(sa.sin_port), tp->address);
        sa.sin_addr.s_addr = htonl(0x7f000001);
    }
    if ((rv = uv_tcp_bind(&tp->listener, (const struct sockaddr *)&sa, 0)) != 0 ||
        (rv = uv_listen((uv_stream_t *)&tp->listener, 128, on_connection)) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "listen on %.200s: %s", tp->address, uv_strerror(rv));
        return RAFT_IOERR;
    }
    return 0;
}

static void connected(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->state == CONN_CLOSING) {
        return;
    }
    if (status < 0) {
        c->tp->stats.dial_failed++;
        conn_close(c);
        return;
    }
    start_conn(c);
}

static int tp_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct tp *tp = t->impl;
    struct sockaddr_in sa;
    struct conn *c;
    if (tp->closing) {
        return RAFT_CANCELED;
    }
    if (tp->keys.n == 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "no cluster secret: this node has no peers");
        return RAFT_NOCONNECTION;
    }
    if (!parse_ipv4(address, &sa)) {
        snprintf(t->errmsg, sizeof t->errmsg, "raft address %.200s is not IPv4:PORT", address);
        return RAFT_NOCONNECTION;
    }
    c = conn_new(tp, true);
    c->req = req;
    c->connect_cb = cb;
    snprintf(c->source, sizeof c->source, "%s", address);
    handshake_client_init(&c->hs, &tp->keys, tp->id, tp->address, id);
    c->connect.data = c;
    if (uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&sa, connected) != 0) {
        /* Not started: libraft sees the error, not a callback. */
        c->req = NULL;
        conn_close(c);
        return RAFT_NOCONNECTION;
    }
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    struct tp *tp = h->data;
    tp->listener_closed = true;
    maybe_closed(tp);
}

static void tp_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct tp *tp = t->impl;
    tp->closing = true;
    tp->close_cb = cb;
    for (struct conn *c = tp->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
    if (tp->listener_init && !tp->listener_closed) {
        uv_close((uv_handle_t *)&tp->listener, listener_closed);
        return;
    }
    maybe_closed(tp);
}

int transport_init(struct raft_uv_transport *t, const struct transport_config *c,
                   struct base_err *err)
{
    struct tp *tp;
    if (c->n_secrets > HANDSHAKE_KEYS_MAX) {
        base_err_set(err, "at most %d cluster secrets", HANDSHAKE_KEYS_MAX);
        return BASE_EINVAL;
    }
    tp = xcalloc(1, sizeof *tp);
    tp->t = t;
    tp->loop = c->loop;
    handshake_keys_derive(&tp->keys, c->secrets, c->n_secrets);
    tp->member_cb = c->member_cb;
    tp->member_arg = c->member_arg;
    memset(t, 0, sizeof *t);
    t->version = 1;
    t->impl = tp;
    t->init = tp_init;
    t->listen = tp_listen;
    t->connect = tp_connect;
    t->close = tp_close;
    return 0;
}

void transport_close(struct raft_uv_transport *t)
{
    struct tp *tp = t->impl;
    if (tp == NULL) {
        return;
    }
    handshake_keys_wipe(&tp->keys);
    free(tp);
    t->impl = NULL;
}

void transport_get_stats(struct raft_uv_transport *t, struct transport_stats *out)
{
    struct tp *tp = t->impl;
    if (tp == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = tp->stats;
}
