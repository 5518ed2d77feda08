#include "tests/fuzz/fuzz_node.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "api/api.h"
#include "archive/archive.h"
#include "base/mem.h"
#include "replication/repl.h"
#include "storage/blobstore.h"
#include "tests/fuzz/fuzz_common.h"

#define ANSWER_KEEP (64u << 10)

static struct {
    uv_loop_t loop;
    struct rocks *db;
    struct archive archive;
    struct blob_store blobs;
    struct repl *repl;
    struct api *api;
    int port;
    uint8_t license_key[1][32];
    /* The connection of the current input. */
    uv_tcp_t client;
    uv_connect_t connect;
    uv_shutdown_t shutdown;
    bool connected;
    bool closed;
    char answer[ANSWER_KEEP + 1];
    size_t answer_len;
    size_t answered;
} N;

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
           getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

void fuzz_node_start(void)
{
    char meta[PATH_MAX], raft_dir[PATH_MAX], data[PATH_MAX], raft_addr[64];
    struct base_err err = {{0}};
    uv_timer_t timer;
    const char *root = fuzz_tmpdir();
    struct repl_config rc;
    struct api_config ac;
    if (N.api != NULL) {
        return;
    }
    snprintf(data, sizeof data, "%s/node", root);
    snprintf(meta, sizeof meta, "%s/meta", data);
    snprintf(raft_dir, sizeof raft_dir, "%s/raft", data);
    ASSERT(mkdir(data, 0700) == 0 && mkdir(raft_dir, 0700) == 0);
    ASSERT(uv_loop_init(&N.loop) == 0);
    if (archive_store_open(&N.db, meta, &err) != 0 || archive_open(&N.archive, N.db, &err) != 0 ||
        blob_store_open(&N.blobs, data, &err) != 0) {
        fprintf(stderr, "fuzz node: %s\n", err.msg);
        abort();
    }
    snprintf(raft_addr, sizeof raft_addr, "127.0.0.1:%d", free_port());
    rc = (struct repl_config){
        .node_id = 1,
        .feature_level = ARCHIVE_FEATURE_LEVEL,
        .raft_address = raft_addr,
        .http_address = "127.0.0.1:1",
        .zone = "z1",
        .raft_dir = raft_dir,
        .data_dir = data,
        .bootstrap = true,
        .blobs = &N.blobs,
        .voters = 1,
        .failover_after_ms = 30000,
        .repair_after_ms = 600000,
        .snapshot_threshold = 512,
        .snapshot_trailing = 128,
        .election_timeout_ms = 200,
        .heartbeat_timeout_ms = 50,
    };
    if (repl_start(&N.repl, &N.loop, &rc, &N.archive, &err) != 0) {
        fprintf(stderr, "fuzz node: raft: %s\n", err.msg);
        abort();
    }
    {
        uint8_t sk[64];
        fuzz_license_key(N.license_key[0], sk);
    }
    ac = (struct api_config){
        .listen_host = "127.0.0.1",
        .listen_port = 0,
        .node_id = 1,
        .bootstrap_token = FUZZ_NODE_TOKEN,
        .header_bytes_max = 16384,
        .body_bytes_max = 1 << 20,
        .idle_timeout_ms = 5000,
        .connections_max = 64,
        .sync_blobs = false,
        .verify_reads = true,
        .group_commit_max = 128,
        .token_ttl_s = 3600,
        .vendor_token_ttl_s = 7200,
        .link_ttl_s = 600,
        .login_failures_max = 5,
        .login_lock_ms = 60000,
        .license_keys = (const uint8_t(*)[32])N.license_key,
        .n_license_keys = 1,
        .replicas = 1,
        .write_quorum = 1,
        .data_dir = data,
        .upload_expiry_s = 3600,
        .uploads_max = 100,
    };
    if (api_start(&N.api, &N.loop, &ac, &N.archive, N.repl, &N.blobs, &err) != 0) {
        fprintf(stderr, "fuzz node: api: %s\n", err.msg);
        abort();
    }
    N.port = api_port(N.api);
    /* Until this node leads and the cluster exists (the API proposes its first
     * command once this node leads). */
    uv_timer_init(&N.loop, &timer);
    uv_timer_start(&timer, tick, 10, 10);
    while (!repl_is_leader(N.repl) || !archive_cluster_initialized(&N.archive)) {
        uv_run(&N.loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&N.loop, UV_RUN_NOWAIT);
}

static void on_close(uv_handle_t *h)
{
    (void)h;
    N.closed = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char chunk[65536];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread > 0) {
        size_t keep = ANSWER_KEEP - N.answer_len;
        if (keep > (size_t)nread) {
            keep = (size_t)nread;
        }
        memcpy(N.answer + N.answer_len, buf->base, keep);
        N.answer_len += keep;
        N.answered += (size_t)nread;
    } else if (nread < 0) {
        uv_close((uv_handle_t *)s, on_close);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    ASSERT(status == 0);
    N.connected = true;
    uv_read_start(req->handle, on_alloc, on_read);
}

static void on_written(uv_write_t *w, int status)
{
    free(w->data);
    free(w);
    (void)status; /* the server may close first (an answer to bad framing) */
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

static void write_piece(const uint8_t *p, size_t n)
{
    uv_write_t *w = xmalloc(sizeof *w);
    uv_buf_t b = uv_buf_init(xmalloc(n > 0 ? n : 1), (unsigned)n);
    memcpy(b.base, p, n);
    w->data = b.base;
    if (uv_write(w, (uv_stream_t *)&N.client, &b, 1, on_written) != 0) {
        free(b.base);
        free(w);
    }
}

size_t fuzz_node_send(const void *data, size_t len, size_t piece)
{
    struct sockaddr_in a;
    const uint8_t *p = data;
    uv_ip4_addr("127.0.0.1", N.port, &a);
    N.connected = N.closed = false;
    N.answer_len = N.answered = 0;
    ASSERT(uv_tcp_init(&N.loop, &N.client) == 0);
    ASSERT(uv_tcp_connect(&N.connect, &N.client, (struct sockaddr *)&a, on_connect) == 0);
    while (!N.connected) {
        uv_run(&N.loop, UV_RUN_ONCE);
    }
    if (piece == 0) {
        piece = len > 0 ? len : 1;
    }
    for (size_t off = 0; off < len && !N.closed; off += piece) {
        write_piece(p + off, len - off < piece ? len - off : piece);
        /* Let the server read this piece before the next one arrives. */
        for (int i = 0; i < 4; i++) {
            uv_run(&N.loop, UV_RUN_NOWAIT);
        }
    }
    if (!N.closed) {
        uv_shutdown(&N.shutdown, (uv_stream_t *)&N.client, on_shutdown);
    }
    while (!N.closed) {
        uv_run(&N.loop, UV_RUN_ONCE);
    }
    N.answer[N.answer_len] = '\0';
    if (getenv("IMGARC_FUZZ_ECHO") != NULL) {
        fprintf(stderr, "---- sent %zu bytes, answered %zu:\n%s\n", len, N.answered, N.answer);
    }
    return N.answered;
}

const char *fuzz_node_answer(void)
{
    return N.answer;
}

struct archive *fuzz_node_archive(void)
{
    return &N.archive;
}
