/* The raft adapter on the real raft_uv backend: a one-node cluster on loopback. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replication/repl.h"
#include "tests/lib/testlib.h"

struct fixture {
    char dir[4096];
    char raft_dir[4200];
    char meta_dir[4200];
    char address[64];
    uv_loop_t loop;
    struct rocks *db;
    struct archive a;
    struct repl *repl;
    int done;
    int status;
    struct archive_result res;
};

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

static void start_as(struct fixture *f, bool bootstrap)
{
    struct base_err err;
    struct repl_config c = {
        .node_id = 1,
        .feature_level = ARCHIVE_FEATURE_LEVEL,
        .raft_address = f->address,
        .raft_dir = f->raft_dir,
        .data_dir = f->dir,
        .bootstrap = bootstrap,
        .voters = 1,
        .failover_after_ms = 30000,
        .snapshot_threshold = 64,
        .snapshot_trailing = 16,
        .snapshot_piece_bytes = 1024, /* snapshots in many pieces, as a large store's */
        .election_timeout_ms = 1000,
        .heartbeat_timeout_ms = 100,
    };
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(archive_store_open(&f->db, f->meta_dir, &err), 0);
    assert_int_equal(archive_open(&f->a, f->db, &err), 0);
    assert_int_equal(repl_start(&f->repl, &f->loop, &c, &f->a, &err), 0);
}

static void start(struct fixture *f)
{
    start_as(f, true);
}

static void stopped(void *arg)
{
    struct fixture *f = arg;
    f->done = 1;
}

static void stop(struct fixture *f)
{
    f->done = 0;
    repl_stop(f->repl, stopped, f);
    while (!f->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    rocks_close(f->db);
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof f);
    if (sodium_init() < 0) {
        return -1;
    }
    snprintf(f.dir, sizeof f.dir, "%s", testlib_tmpdir());
    snprintf(f.raft_dir, sizeof f.raft_dir, "%s/raft", f.dir);
    snprintf(f.meta_dir, sizeof f.meta_dir, "%s/meta", f.dir);
    mkdir(f.raft_dir, 0700);
    snprintf(f.address, sizeof f.address, "127.0.0.1:%d", free_port());
    start(&f);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    stop(f);
    testlib_rm_rf(f->dir);
    return 0;
}

static void proposed(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct fixture *f = p->data;
    f->status = status;
    if (res != NULL) {
        f->res = *res;
    }
    f->done = 1;
}

static void wait_leader(struct fixture *f)
{
    for (int i = 0; i < 500 && !repl_is_leader(f->repl); i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    assert_true(repl_is_leader(f->repl));
}

/* Proposes @cmd and runs the loop until it is applied. */
static void propose_and_wait(struct fixture *f, Command *cmd)
{
    struct repl_propose req = {.data = f};
    cmd->tenant = "default";
    cmd->request_id = "r";
    cmd->operator_ = "t";
    cmd->time_ms = 1;
    f->done = 0;
    assert_int_equal(repl_propose(f->repl, &req, cmd, proposed), 0);
    while (!f->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(f->status, 0);
}

/* The default tenant and its evaluation license, as a new node's API proposes them. */
static void init_cluster(struct fixture *f)
{
    Command cmd = COMMAND__INIT;
    InitCluster ic = INIT_CLUSTER__INIT;
    uint8_t key[32] = {7};
    ic.token_key.data = key;
    ic.token_key.len = sizeof key;
    ic.level = ARCHIVE_FEATURE_LEVEL;
    cmd.body_case = COMMAND__BODY_INIT_CLUSTER;
    cmd.init_cluster = &ic;
    propose_and_wait(f, &cmd);
    assert_true(archive_cluster_initialized(&f->a));
}

/* Proposes a pool push and runs the loop until it is applied. */
static void push(struct fixture *f, const char *image_no)
{
    Command cmd = COMMAND__INIT;
    PoolPush p = POOL_PUSH__INIT;
    if (!archive_cluster_initialized(&f->a)) {
        init_cluster(f);
    }
    p.image_no = (char *)image_no;
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = &p;
    propose_and_wait(f, &cmd);
}

static void single_node_elects_itself_and_applies(void **state)
{
    struct fixture *f = *state;
    wait_leader(f);
    push(f, "BX-1");
    assert_int_equal(f->res.status, ARCHIVE_OK);
    assert_true(f->res.created);
    assert_true(f->res.index > 0);
    assert_int_equal(repl_applied_index(f->repl), f->res.index);
}

static void restart_replays_without_reapplying(void **state)
{
    struct fixture *f = *state;
    struct base_err err;
    BillRecord *bill;
    uint64_t applied;
    wait_leader(f);
    /* Enough entries to cross the snapshot threshold (64) more than once. */
    for (int i = 0; i < 150; i++) {
        char image_no[32];
        snprintf(image_no, sizeof image_no, "BX-%d", i);
        push(f, image_no);
    }
    push(f, "BX-7"); /* an update of an existing bill */
    assert_false(f->res.created);
    applied = repl_applied_index(f->repl);
    stop(f);
    start(f);
    wait_leader(f);
    assert_true(repl_applied_index(f->repl) >= applied);
    push(f, "BX-new");
    assert_true(f->res.created);
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-149", &bill, &err), 0);
    archive_free_bill(bill);
    {
        UsageRecord *u;
        assert_int_equal(archive_get_usage(&f->a, "default", &u, &err), 0);
        /* 150 + 1 bills: replaying the log did not count any bill twice. */
        assert_int_equal(u->bills, 151);
        archive_free_usage(u);
    }
}

/* A node that lost its whole metadata store (a new disk) rebuilds it at restart from
 * raft's snapshot, which was written to disk from many pieces, and the log after it. */
static void a_lost_store_is_rebuilt_from_a_snapshot_of_many_pieces(void **state)
{
    struct fixture *f = *state;
    struct base_err err;
    uint8_t before[32], after[32];
    uint64_t index;
    UsageRecord *u;
    wait_leader(f);
    for (int i = 0; i < 200; i++) {
        char image_no[64];
        snprintf(image_no, sizeof image_no, "BP-%03d-with-a-longer-image-number", i);
        push(f, image_no);
    }
    assert_int_equal(archive_digest(&f->a, before, &index, &err), 0);
    stop(f);
    testlib_rm_rf(f->meta_dir);
    start(f);
    wait_leader(f);
    assert_int_equal(archive_digest(&f->a, after, &index, &err), 0);
    assert_memory_equal(before, after, 32);
    assert_int_equal(archive_get_usage(&f->a, "default", &u, &err), 0);
    assert_int_equal(u->bills, 200);
    archive_free_usage(u);
}

struct waited {
    int calls;
    int status;
    uint64_t applied_then;
    struct repl *repl;
};

static void waited(struct repl_wait *w, int status)
{
    struct waited *x = w->data;
    x->calls++;
    x->status = status;
    x->applied_then = repl_applied_index(x->repl);
}

static void run_until(struct fixture *f, const int *calls, int n)
{
    for (int i = 0; i < 2000 && *calls < n; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(*calls, n);
}

static void waits_end_once_the_index_is_applied_or_time_is_up(void **state)
{
    struct fixture *f = *state;
    struct waited now = {.repl = f->repl}, later = {.repl = f->repl}, never = {.repl = f->repl};
    struct repl_wait w1 = {.data = &now}, w2 = {.data = &later}, w3 = {.data = &never};
    uint64_t index;
    wait_leader(f);
    push(f, "BX-W1");
    index = repl_applied_index(f->repl);
    /* Applied already: ended from the loop, never from inside the call. */
    repl_wait_applied(f->repl, &w1, index, 5000, waited);
    assert_int_equal(now.calls, 0);
    run_until(f, &now.calls, 1);
    assert_int_equal(now.status, 0);
    /* The next entry: ended by its apply, with the index applied by then. */
    repl_wait_applied(f->repl, &w2, index + 1, 5000, waited);
    repl_wait_applied(f->repl, &w3, index + 1000, 200, waited);
    push(f, "BX-W2");
    run_until(f, &later.calls, 1);
    assert_int_equal(later.status, 0);
    assert_true(later.applied_then >= index + 1);
    /* Never reached: BASE_ERETRY once the time is up. */
    run_until(f, &never.calls, 1);
    assert_int_equal(never.status, BASE_ERETRY);
    assert_int_equal(now.calls + later.calls + never.calls, 3);
}

struct read_done {
    int calls;
    int status;
};

static void read_done(struct repl_read *rd, int status)
{
    struct read_done *x = rd->data;
    x->calls++;
    x->status = status;
}

static void reads_on_the_leader_share_barriers(void **state)
{
    struct fixture *f = *state;
    struct read_done done = {0};
    struct repl_read reads[5];
    uint64_t index;
    wait_leader(f);
    push(f, "BX-R1");
    index = repl_applied_index(f->repl);
    for (int i = 0; i < 5; i++) {
        memset(&reads[i], 0, sizeof reads[i]);
        reads[i].data = &done;
        repl_read_index(f->repl, &reads[i], true, read_done);
    }
    assert_int_equal(done.calls, 0);
    run_until(f, &done.calls, 5);
    assert_int_equal(done.status, 0);
    for (int i = 0; i < 5; i++) {
        assert_true(reads[i].index >= index);
    }
}

static void a_node_without_a_leader_refuses_to_forward(void **state)
{
    struct fixture *f = *state;
    struct repl_propose req = {.data = f};
    struct read_done done = {0};
    struct repl_read rd = {.data = &done};
    Command cmd = COMMAND__INIT;
    PoolPush p = POOL_PUSH__INIT;
    /* A node started to join (no bootstrap) on an empty raft dir has no configuration,
     * so no leader: a proposal is refused at once (its callback never runs), and a
     * consistent read ends with BASE_ERETRY from the loop. */
    stop(f);
    testlib_rm_rf(f->raft_dir);
    mkdir(f->raft_dir, 0700);
    start_as(f, false);
    cmd.tenant = "default";
    cmd.request_id = "r";
    cmd.operator_ = "t";
    p.image_no = "BX-N";
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = &p;
    f->done = 0;
    assert_int_equal(repl_propose(f->repl, &req, &cmd, proposed), BASE_ENOTLEADER);
    repl_read_index(f->repl, &rd, false, read_done);
    assert_int_equal(done.calls, 0);
    run_until(f, &done.calls, 1);
    assert_int_equal(done.status, BASE_ERETRY);
    for (int i = 0; i < 20; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    assert_false(repl_is_leader(f->repl));
    assert_int_equal(f->done, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(single_node_elects_itself_and_applies, setup, teardown),
    cmocka_unit_test_setup_teardown(restart_replays_without_reapplying, setup, teardown),
    cmocka_unit_test_setup_teardown(a_lost_store_is_rebuilt_from_a_snapshot_of_many_pieces,
                                    setup, teardown),
    cmocka_unit_test_setup_teardown(waits_end_once_the_index_is_applied_or_time_is_up, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(reads_on_the_leader_share_barriers, setup, teardown),
    cmocka_unit_test_setup_teardown(a_node_without_a_leader_refuses_to_forward, setup,
                                    teardown),
};

TESTLIB_MAIN("raft_node", tests)
