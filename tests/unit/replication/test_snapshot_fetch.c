/* Fetching a whole store (replication/snapshot_fetch.h) end to end, in process: a real
 * one-node repl with a cluster secret, a real HTTP server on loopback routing
 * /internal/ calls to peer_server.c (whose snapshot endpoint is snapshot_send.c), and a
 * member record that names that server, so the node fetches its own store over signed
 * HTTP into DATA/catchup/store: several pieces (the store holds more than one), the
 * transfer paused while workers write them, the trailer and index checked, READY
 * written, the staged store equal record for record to the live one. Also: a refusal
 * from the only member (min_index beyond what it applied) ends the fetch with the
 * member's words and no staging left; a cancel ends it with BASE_ECANCELED and no
 * staging left. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/keys.h"
#include "archive/nodes.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "replication/peer_clock.h"
#include "replication/peer_server.h"
#include "replication/repl.h"
#include "replication/snapshot_fetch.h"
#include "storage/snapshot.h"
#include "storage/store_swap.h"
#include "tests/lib/testlib.h"

struct fixture {
    char dir[2048];
    char raft_dir[2100];
    char meta_dir[2100];
    char secret[2100];
    char raft_address[64];
    char http_address[64];
    uv_loop_t loop;
    struct rocks *db;
    struct archive a;
    struct repl *repl;
    struct peer_auth auth;
    struct peer_clock clock;
    struct http_server *http;
    struct http_server *cut; /* answers a snapshot stream cut before its trailer */
    unsigned cut_asked;
    bool mute; /* the cut server sends its head and then nothing */
    struct peer_server ps;
    int done;
    int status;
    /* the fetch's outcome */
    bool fetched;
    int fetch_status;
    uint64_t fetch_index;
    char why[1024];
};

static struct fixture *g; /* for the HTTP server's callbacks */

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void on_request(struct http_request *req)
{
    struct fixture *f = g;
    if (strncmp(req->raw_path, "/internal/", 10) == 0) {
        peer_server_route(&f->ps, req);
        return;
    }
    http_respond(req, 404, NULL, NULL, 0);
}

/* A member that dies mid-stream: the start of a real stream, no trailer. */
static void mute_aborted(struct http_request *req)
{
    http_respond_end(req);
}

static void on_cut_request(struct http_request *req)
{
    struct fixture *f = g;
    struct base_err err;
    void *buf;
    size_t len;
    f->cut_asked++;
    if (f->mute) {
        req->abort_cb = mute_aborted;
        http_respond_start(req, 200, "application/octet-stream", -1);
        return;
    }
    assert_int_equal(storage_snapshot_encode(f->db, 1000000, &buf, &len, &err), 0);
    http_respond(req, 200, "application/octet-stream", buf, len - 33);
    free(buf);
}

static void on_answer(struct http_request *req)
{
    struct fixture *f = g;
    peer_server_answer(&f->ps, req);
}

static void propose_failed(struct http_request *req, int status, void *data)
{
    (void)status;
    (void)data;
    http_respond(req, 503, NULL, NULL, 0);
}

static void proposed(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct fixture *f = p->data;
    (void)res;
    f->status = status;
    f->done = 1;
}

static void propose_and_wait(struct fixture *f, Command *cmd)
{
    struct repl_propose req = {.data = f};
    cmd->tenant = "default";
    cmd->request_id = "r";
    cmd->idempotency_key = "";
    cmd->time_ms = 1;
    f->done = 0;
    assert_int_equal(repl_propose(f->repl, &req, cmd, proposed), 0);
    while (!f->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(f->status, 0);
}

/* Records straight into the store, beside what the node applies: 3 MiB of them, so
 * the stream is several pieces. */
static void fill_n(struct fixture *f, int n)
{
    struct base_err err;
    struct rocks_batch *b = rocks_batch_new(f->db);
    char *val = malloc(64 << 10);
    char key[32];
    for (int i = 0; i < n; i++) {
        randombytes_buf(val, 64 << 10);
        snprintf(key, sizeof key, "test-fill-%03d", i);
        rocks_batch_put(b, ARCHIVE_CF_IDEM, key, strlen(key), val, 64 << 10);
    }
    assert_int_equal(rocks_write(f->db, b, true, &err), 0);
    rocks_batch_free(b);
    free(val);
}

static void fill(struct fixture *f)
{
    fill_n(f, 48);
}

static int setup(void **state)
{
    static struct fixture f;
    struct base_err err;
    struct http_server_config hc = {0};
    char errmsg[256];
    FILE *sf;
    Command cmd = COMMAND__INIT;
    RegisterNode rn = REGISTER_NODE__INIT;
    bool marked_out = false;
    memset(&f, 0, sizeof f);
    g = &f;
    signal(SIGPIPE, SIG_IGN); /* as imgarcd: a peer that hangs up is an error code */
    if (sodium_init() < 0) {
        return -1;
    }
    snprintf(f.dir, sizeof f.dir, "%s", testlib_tmpdir());
    snprintf(f.raft_dir, sizeof f.raft_dir, "%s/raft", f.dir);
    snprintf(f.meta_dir, sizeof f.meta_dir, "%s/meta", f.dir);
    snprintf(f.secret, sizeof f.secret, "%s/secret", f.dir);
    mkdir(f.raft_dir, 0700);
    sf = fopen(f.secret, "w");
    assert_non_null(sf);
    fprintf(sf, "0123456789abcdef0123456789abcdef0123456789abcdef\n");
    fclose(sf);
    chmod(f.secret, 0600);
    assert_int_equal(peer_auth_load(&f.auth, f.secret, NULL, &err), 0);
    peer_clock_init(&f.clock);
    f.auth.clock = &f.clock;
    assert_int_equal(uv_loop_init(&f.loop), 0);

    hc.host = "127.0.0.1";
    hc.port = 0;
    hc.header_bytes_max = 16 << 10;
    hc.body_bytes_max = 1 << 20;
    hc.idle_timeout_ms = 30000;
    hc.header_timeout_ms = 30000;
    hc.connections_max = 64;
    hc.request_cb = on_cut_request;
    hc.data = &f;
    assert_int_equal(http_server_start(&f.cut, &f.loop, &hc, errmsg, sizeof errmsg), 0);
    hc.request_cb = on_request;
    hc.answer_cb = on_answer;
    assert_int_equal(http_server_start(&f.http, &f.loop, &hc, errmsg, sizeof errmsg), 0);
    snprintf(f.http_address, sizeof f.http_address, "127.0.0.1:%d", http_server_port(f.http));
    snprintf(f.raft_address, sizeof f.raft_address, "127.0.0.1:%d", free_port());

    assert_int_equal(archive_store_open(&f.db, f.meta_dir, &err), 0);
    assert_int_equal(archive_open(&f.a, f.db, &err), 0);
    {
        struct repl_config c = {
            .node_id = 1,
            .feature_level = ARCHIVE_FEATURE_LEVEL,
            .raft_address = f.raft_address,
            .http_address = f.http_address,
            .zone = "z",
            .raft_dir = f.raft_dir,
            .data_dir = f.dir,
            .bootstrap = true,
            .auth = &f.auth,
            .voters = 1,
            .failover_after_ms = 30000,
            .election_timeout_ms = 1000,
            .heartbeat_timeout_ms = 100,
        };
        assert_int_equal(repl_start(&f.repl, &f.loop, &c, &f.a, &err), 0);
    }
    f.ps = (struct peer_server){.repl = f.repl, .auth = &f.auth,
                                .propose_failed_cb = propose_failed, .data = &f};
    for (int i = 0; i < 500 && !repl_is_leader(f.repl); i++) {
        uv_run(&f.loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    assert_true(repl_is_leader(f.repl));
    /* Another member, at this node's own HTTP server: the node fetches from itself. */
    rn.id = 2;
    rn.http = f.http_address;
    rn.raft = "127.0.0.1:9";
    rn.zone = "z";
    cmd.body_case = COMMAND__BODY_REGISTER_NODE;
    cmd.register_node = &rn;
    propose_and_wait(&f, &cmd);
    /* The leader marks a registered node outside the raft configuration out (an entry):
     * wait for it, so that nothing is applied while a test fetches. */
    for (int i = 0; i < 1000 && !marked_out; i++) {
        NodeRecord *node;
        bool out = false;
        if (archive_get_node(&f.a, 2, &node, &err) == 0) {
            out = strcmp(node->storage, ARCHIVE_STORAGE_OUT) == 0;
            archive_free_node(node);
        }
        marked_out = out;
        uv_run(&f.loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    assert_true(marked_out);
    fill(&f);
    *state = &f;
    return 0;
}

static void http_stopped(struct http_server *s)
{
    struct fixture *f = http_server_data(s);
    f->done = 1;
}

static void repl_stopped(void *arg)
{
    struct fixture *f = arg;
    f->done = 1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    f->done = 0;
    http_server_stop(f->http, 1000, http_stopped);
    while (!f->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    f->done = 0;
    http_server_stop(f->cut, 1000, http_stopped);
    while (!f->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    if (f->repl != NULL) {
        f->done = 0;
        repl_stop(f->repl, repl_stopped, f);
        while (!f->done) {
            uv_run(&f->loop, UV_RUN_ONCE);
        }
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    rocks_close(f->db);
    peer_clock_close(&f->clock);
    peer_auth_wipe(&f->auth);
    testlib_rm_rf(f->dir);
    return 0;
}

static void fetched(struct snapshot_fetch *sf, int status, uint64_t index, const char *why,
                    void *data)
{
    struct fixture *f = data;
    (void)sf;
    f->fetched = true;
    f->fetch_status = status;
    f->fetch_index = index;
    snprintf(f->why, sizeof f->why, "%s", why != NULL ? why : "");
}

static void run_fetch(struct fixture *f)
{
    for (int i = 0; i < 6000 && !f->fetched; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(f->fetched);
}

static bool staging_exists(struct fixture *f)
{
    char p[2200];
    struct stat st;
    snprintf(p, sizeof p, "%s/catchup", f->dir);
    return stat(p, &st) == 0;
}

static void fetches_a_whole_store(void **state)
{
    struct fixture *f = *state;
    struct repl_status st;
    struct base_err err;
    struct rocks *staged;
    char why[256], path[2200];
    uint8_t live_digest[32], staged_digest[32];
    uint64_t applied = repl_applied_index(f->repl), ready_index = 0;
    struct snapshot_fetch *sf = repl_snapshot_fetch(f->repl, applied, NULL, fetched, f, why,
                                                    sizeof why);
    assert_non_null(sf);
    /* One at a time. */
    assert_null(repl_snapshot_fetch(f->repl, applied, NULL, fetched, f, why, sizeof why));
    assert_non_null(strstr(why, "in flight"));
    run_fetch(f);
    if (f->fetch_status != 0) {
        fail_msg("fetch failed: %s", f->why);
    }
    assert_true(f->fetch_index >= applied);
    assert_int_equal(storage_staged_ready(f->dir, &ready_index, &err), 0);
    assert_int_equal(ready_index, f->fetch_index);
    /* The staged store holds what the live one holds (nothing was applied since). */
    assert_int_equal(repl_applied_index(f->repl), f->fetch_index);
    assert_int_equal(storage_digest(f->db, live_digest, &err), 0);
    storage_staged_path(f->dir, path, sizeof path);
    assert_int_equal(archive_store_open(&staged, path, &err), 0);
    assert_int_equal(storage_digest(staged, staged_digest, &err), 0);
    rocks_close(staged);
    assert_memory_equal(live_digest, staged_digest, 32);
    repl_get_status(f->repl, &st);
    assert_int_equal(st.snapshot_fetches_total, 1);
    assert_int_equal(st.snapshot_fetch_failures, 0);
    assert_int_equal(st.snapshot_sends_total, 1);
    assert_int_equal(st.snapshot_sends_failed, 0);
    assert_true(st.snapshot_fetch_bytes > (3u << 20));
    assert_int_equal(st.snapshot_fetch_bytes, st.snapshot_send_bytes);

    /* A second fetch discards the first staging before it begins, and stages again. */
    f->fetched = false;
    assert_non_null(repl_snapshot_fetch(f->repl, applied, NULL, fetched, f, why, sizeof why));
    run_fetch(f);
    assert_int_equal(f->fetch_status, 0);
    assert_int_equal(storage_staged_ready(f->dir, &ready_index, &err), 0);
}

static void a_refusal_ends_the_fetch(void **state)
{
    struct fixture *f = *state;
    struct repl_status st;
    char why[256];
    uint64_t applied = repl_applied_index(f->repl);
    assert_non_null(repl_snapshot_fetch(f->repl, applied + 1000, NULL, fetched, f, why, sizeof why));
    run_fetch(f);
    assert_int_equal(f->fetch_status, BASE_EREFUSED);
    assert_non_null(strstr(f->why, "409"));
    assert_non_null(strstr(f->why, "applied only up to"));
    assert_false(staging_exists(f));
    repl_get_status(f->repl, &st);
    assert_int_equal(st.snapshot_fetch_failures, 1);
}

static void a_cancel_ends_the_fetch(void **state)
{
    struct fixture *f = *state;
    char why[256];
    uint64_t applied = repl_applied_index(f->repl);
    struct snapshot_fetch *sf;
    /* At once (the first discard is on a worker). */
    sf = repl_snapshot_fetch(f->repl, applied, NULL, fetched, f, why, sizeof why);
    assert_non_null(sf);
    repl_snapshot_fetch_cancel(sf);
    assert_false(f->fetched);
    run_fetch(f);
    assert_int_equal(f->fetch_status, BASE_ECANCELED);
    assert_false(staging_exists(f));
    /* Mid-transfer: once some bytes arrived. */
    f->fetched = false;
    sf = repl_snapshot_fetch(f->repl, applied, NULL, fetched, f, why, sizeof why);
    assert_non_null(sf);
    for (int i = 0; i < 6000 && !staging_exists(f); i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(staging_exists(f));
    assert_false(f->fetched);
    repl_snapshot_fetch_cancel(sf);
    run_fetch(f);
    assert_int_equal(f->fetch_status, BASE_ECANCELED);
    assert_false(staging_exists(f));
}

static void register_node(struct fixture *f, uint64_t id, const char *http)
{
    Command cmd = COMMAND__INIT;
    RegisterNode rn = REGISTER_NODE__INIT;
    rn.id = id;
    rn.http = (char *)http;
    rn.raft = "127.0.0.1:9";
    rn.zone = "z";
    cmd.body_case = COMMAND__BODY_REGISTER_NODE;
    cmd.register_node = &rn;
    propose_and_wait(f, &cmd);
}

/* The first member's stream ends without its trailer (it died mid-stream): its staging
 * is discarded and the next member gives a whole store. Then, with only that first
 * member, the fetch fails and says why. */
static void a_cut_stream_asks_the_next_member(void **state)
{
    struct fixture *f = *state;
    struct repl_status st;
    struct base_err err;
    char why[256], cut[64];
    uint64_t applied, ready_index;
    snprintf(cut, sizeof cut, "127.0.0.1:%d", http_server_port(f->cut));
    register_node(f, 2, cut);
    register_node(f, 3, f->http_address);
    applied = repl_applied_index(f->repl);
    assert_non_null(repl_snapshot_fetch(f->repl, applied, NULL, fetched, f, why, sizeof why));
    run_fetch(f);
    assert_int_equal(f->cut_asked, 1);
    if (f->fetch_status != 0) {
        fail_msg("fetch failed: %s", f->why);
    }
    assert_int_equal(storage_staged_ready(f->dir, &ready_index, &err), 0);
    assert_true(ready_index >= applied);

    /* Node 3 removed: only the cut one is left. */
    {
        Command cmd = COMMAND__INIT;
        RemoveNode rm = REMOVE_NODE__INIT;
        rm.id = 3;
        cmd.body_case = COMMAND__BODY_REMOVE_NODE;
        cmd.remove_node = &rm;
        propose_and_wait(f, &cmd);
    }
    f->fetched = false;
    assert_non_null(repl_snapshot_fetch(f->repl, 0, NULL, fetched, f, why, sizeof why));
    run_fetch(f);
    assert_int_equal(f->cut_asked, 2);
    assert_int_not_equal(f->fetch_status, 0);
    assert_non_null(strstr(f->why, "node 2"));
    assert_false(staging_exists(f)); /* the first fetch's READY store went first */
    repl_get_status(f->repl, &st);
    assert_int_equal(st.snapshot_fetches_total, 2);
    assert_int_equal(st.snapshot_fetch_failures, 1);
}

/* A member that answers its head and then sends nothing is given up after
 * SNAPSHOT_FETCH_STALL_MS, its staging discarded. */
static void a_stalled_member_is_given_up(void **state)
{
    struct fixture *f = *state;
    char why[256], cut[64];
    snprintf(cut, sizeof cut, "127.0.0.1:%d", http_server_port(f->cut));
    register_node(f, 2, cut);
    f->mute = true;
    assert_non_null(repl_snapshot_fetch(f->repl, 0, NULL, fetched, f, why, sizeof why));
    for (int i = 0; i < 100000 && !f->fetched; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(f->fetched);
    assert_int_equal(f->cut_asked, 1);
    assert_int_not_equal(f->fetch_status, 0);
    assert_non_null(strstr(f->why, "no bytes from the member"));
    assert_false(staging_exists(f));
}

/* A reader that takes nothing: the send it asked for stays in progress. */
static size_t hold_data(struct http_client_req *req, const char *data, size_t n)
{
    (void)req;
    (void)data;
    (void)n;
    return HTTP_CLIENT_PAUSE;
}

static void held_done(struct http_client_req *req)
{
    struct fixture *f = req->data;
    f->done = 1;
}

/* While a send is in progress (its reader takes nothing: 32 MiB is more than the
 * sockets hold), another is refused 503 with Retry-After; the fetch says so. The held
 * one, cut, counts as a failed send. */
static void a_busy_sender_refuses_another(void **state)
{
    struct fixture *f = *state;
    struct http_client *client;
    struct http_client_req req = {0};
    struct peer_headers ph;
    struct repl_status st;
    struct base_err err;
    const char *headers[3];
    char url[128], why[256];
    const char *target = "/internal/v1/snapshot";
    fill_n(f, 512);
    assert_int_equal(http_client_init(&client, &f->loop, &err), 0);
    peer_headers_sign(&f->auth, f->http_address, "GET", target, NULL, 0, &ph);
    headers[0] = ph.time;
    headers[1] = ph.signature;
    headers[2] = NULL;
    snprintf(url, sizeof url, "http://%s%s", f->http_address, target);
    req.data = f;
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.on_data = hold_data;
    req.timeout_ms = 60000;
    f->done = 0;
    http_client_send(client, &req, held_done);
    for (int i = 0; i < 6000; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
        repl_get_status(f->repl, &st);
        if (st.snapshot_sends_total == 1) {
            break;
        }
    }
    assert_int_equal(st.snapshot_sends_total, 1);
    assert_non_null(repl_snapshot_fetch(f->repl, 0, NULL, fetched, f, why, sizeof why));
    run_fetch(f);
    assert_int_equal(f->fetch_status, BASE_EREFUSED);
    assert_non_null(strstr(f->why, "503"));
    assert_non_null(strstr(f->why, "sending"));
    assert_false(staging_exists(f));
    assert_false(f->done);
    http_client_cancel(&req, "the test is done with it");
    while (!f->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    for (int i = 0; i < 6000; i++) {
        repl_get_status(f->repl, &st);
        if (st.snapshot_sends_failed == 1) {
            break;
        }
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(st.snapshot_sends_failed, 1);
    assert_int_equal(st.snapshot_sends_total, 1);
    free(req.response);
    f->done = 0;
    http_client_close(client, repl_stopped, f);
    while (!f->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

/* A fetch in flight when the repl stops: canceled, and the stop waits for its end. */
static void a_stop_cancels_the_fetch(void **state)
{
    struct fixture *f = *state;
    char why[256];
    assert_non_null(repl_snapshot_fetch(f->repl, 0, NULL, fetched, f, why, sizeof why));
    for (int i = 0; i < 6000 && !staging_exists(f); i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    f->done = 0;
    repl_stop(f->repl, repl_stopped, f);
    while (!f->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    f->repl = NULL;
    assert_true(f->fetched);
    assert_int_equal(f->fetch_status, BASE_ECANCELED);
    assert_false(staging_exists(f));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(fetches_a_whole_store, setup, teardown),
    cmocka_unit_test_setup_teardown(a_refusal_ends_the_fetch, setup, teardown),
    cmocka_unit_test_setup_teardown(a_cancel_ends_the_fetch, setup, teardown),
    cmocka_unit_test_setup_teardown(a_cut_stream_asks_the_next_member, setup, teardown),
    cmocka_unit_test_setup_teardown(a_stalled_member_is_given_up, setup, teardown),
    cmocka_unit_test_setup_teardown(a_busy_sender_refuses_another, setup, teardown),
    cmocka_unit_test_setup_teardown(a_stop_cancels_the_fetch, setup, teardown),
};

TESTLIB_MAIN("replication/snapshot_fetch", tests)
