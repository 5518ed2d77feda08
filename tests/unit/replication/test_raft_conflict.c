/* A follower whose log conflicts with a new leader's, under libraft's fixture (the
 * legacy raft_io path imgarcd uses: recvCb, recvAppendEntries, replicationAppend,
 * legacyHandleUpdateEntries). This is the guard for the "libraft 0.22.1: the malformed
 * AppendEntries abort" section of docs/replication.md: in 0.22.1 a received entries
 * batch is freed twice when handling an AppendEntries fails, and the only failure a
 * message can cause by its content is a conflict at or below the follower's commit
 * index, which a real leader never sends. These cases drive the conflicts real members
 * do produce (uncommitted entries truncated and replaced, with the truncated appends
 * still on their way to disk, or replaced by a snapshot) and check that no server
 * stops and every acknowledged command is applied, at its index, everywhere.
 *
 * The state machine here only records what it applies (the archive's own apply is
 * covered by test_fsm_fixture.c); a command is 16 bytes, "CONFLICT" and its number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>
#include <raft/fixture.h>

#include "tests/lib/testlib.h"

#define N_SERVERS 3
#define MAX_PROPS 256
#define MAX_INDEX 1024
#define MAGIC "CONFLICT"

struct cluster;

struct server {
    struct cluster *c;
    unsigned i;
    struct raft_fsm fsm;
    uint64_t applied[MAX_INDEX]; /* the command number applied at each index, 0: none */
    uint64_t last_applied;       /* the highest index applied, snapshots included */
    unsigned restores;
};

struct prop {
    struct raft_apply req;
    uint64_t number;
    raft_index index;
    bool pending;
    int status;
};

struct cluster {
    struct raft_fixture f;
    struct server s[N_SERVERS];
    struct prop props[MAX_PROPS];
    unsigned n_props;
};

/* ---- The state machine: a record of what was applied where ---- */

static uint64_t command_number(const struct raft_buffer *buf)
{
    uint64_t number;
    assert_int_equal(buf->len, 16);
    assert_memory_equal(buf->base, MAGIC, 8);
    memcpy(&number, (const uint8_t *)buf->base + 8, 8);
    return number;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct server *s = fsm->data;
    uint64_t index = raft_last_applied(raft_fixture_get(&s->c->f, s->i)) + 1;
    assert_true(index < MAX_INDEX);
    s->applied[index] = command_number(buf);
    s->last_applied = index;
    *result = NULL;
    return 0;
}

/* The snapshot is the applied table itself, so that a server that installs it knows
 * which command sits at each index it did not apply. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct server *s = fsm->data;
    *bufs = raft_malloc(sizeof **bufs);
    assert_non_null(*bufs);
    (*bufs)[0].len = sizeof s->applied;
    (*bufs)[0].base = raft_malloc(sizeof s->applied);
    assert_non_null((*bufs)[0].base);
    memcpy((*bufs)[0].base, s->applied, sizeof s->applied);
    *n_bufs = 1;
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                                 unsigned *n_bufs)
{
    (void)fsm;
    raft_free((*bufs)[0].base);
    raft_free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct server *s = fsm->data;
    assert_int_equal(buf->len, sizeof s->applied);
    memcpy(s->applied, buf->base, sizeof s->applied);
    raft_free(buf->base);
    s->restores++;
    return 0;
}

/* ---- Set-up ---- */

static int setup(void **state)
{
    struct cluster *c = calloc(1, sizeof *c);
    struct raft_configuration conf;
    if (c == NULL || raft_fixture_init(&c->f) != 0) {
        free(c);
        return -1;
    }
    *state = c;
    for (unsigned i = 0; i < N_SERVERS; i++) {
        struct server *s = &c->s[i];
        s->c = c;
        s->i = i;
        s->fsm.version = 2;
        s->fsm.data = s;
        s->fsm.apply = fsm_apply;
        s->fsm.snapshot = fsm_snapshot;
        s->fsm.snapshot_finalize = fsm_snapshot_finalize;
        s->fsm.restore = fsm_restore;
        if (raft_fixture_grow(&c->f, &s->fsm) != 0) {
            return -1;
        }
        raft_set_pre_vote(raft_fixture_get(&c->f, i), true);
        if (getenv("LIBRAFT_TRACE") == NULL) {
            raft_fixture_get(&c->f, i)->tracer = NULL;
        }
    }
    raft_configuration_init(&conf);
    if (raft_fixture_configuration(&c->f, N_SERVERS, &conf) != 0 ||
        raft_fixture_bootstrap(&c->f, &conf) != 0) {
        raft_configuration_close(&conf);
        return -1;
    }
    raft_configuration_close(&conf);
    return raft_fixture_start(&c->f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct cluster *c = *state;
    if (c != NULL) {
        raft_fixture_close(&c->f);
        free(c);
    }
    return 0;
}

/* ---- Proposals and checks ---- */

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct prop *p = req->data;
    (void)result;
    p->pending = false;
    p->status = status;
}

static struct prop *propose(struct cluster *c, unsigned i)
{
    struct raft_buffer buf;
    struct prop *p;
    int rv;
    assert_true(c->n_props < MAX_PROPS);
    p = &c->props[c->n_props];
    memset(p, 0, sizeof *p);
    p->number = c->n_props + 1;
    p->req.data = p;
    buf.len = 16;
    buf.base = raft_malloc(buf.len);
    assert_non_null(buf.base);
    memcpy(buf.base, MAGIC, 8);
    memcpy((uint8_t *)buf.base + 8, &p->number, 8);
    rv = raft_apply(raft_fixture_get(&c->f, i), &p->req, &buf, 1, apply_cb);
    assert_int_equal(rv, 0);
    p->index = p->req.index;
    p->pending = true;
    c->n_props++;
    return p;
}

static bool all_done(struct raft_fixture *f, void *arg)
{
    struct cluster *c = arg;
    (void)f;
    for (unsigned k = 0; k < c->n_props; k++) {
        if (c->props[k].pending) {
            return false;
        }
    }
    return true;
}

static bool new_leader(struct raft_fixture *f, void *arg)
{
    unsigned old = *(unsigned *)arg;
    unsigned l = raft_fixture_leader_index(f);
    return l < raft_fixture_n(f) && l != old;
}

static void isolate(struct cluster *c, unsigned i)
{
    for (unsigned j = 0; j < N_SERVERS; j++) {
        if (j != i) {
            raft_fixture_saturate(&c->f, i, j);
            raft_fixture_saturate(&c->f, j, i);
        }
    }
}

static void heal(struct cluster *c)
{
    for (unsigned i = 0; i < N_SERVERS; i++) {
        for (unsigned j = 0; j < N_SERVERS; j++) {
            if (i != j) {
                raft_fixture_desaturate(&c->f, i, j);
            }
        }
    }
}

/* Every server is alive and applied up to @index; every acknowledged command is at its
 * index on every server; no refused command is anywhere. */
static void assert_acknowledged_everywhere(struct cluster *c, raft_index index)
{
    assert_true(raft_fixture_step_until_applied(&c->f, N_SERVERS, index, 30000));
    assert_true(raft_fixture_step_until(&c->f, all_done, c, 30000));
    for (unsigned i = 0; i < N_SERVERS; i++) {
        assert_true(raft_fixture_alive(&c->f, i));
        assert_true(raft_last_applied(raft_fixture_get(&c->f, i)) >= index);
    }
    for (unsigned k = 0; k < c->n_props; k++) {
        const struct prop *p = &c->props[k];
        for (unsigned i = 0; i < N_SERVERS; i++) {
            if (p->status == 0) {
                assert_int_equal(c->s[i].applied[p->index], p->number);
            } else {
                assert_int_not_equal(c->s[i].applied[p->index], p->number);
            }
        }
    }
}

/* A stable leader that applied one command everywhere. */
static unsigned start(struct cluster *c)
{
    unsigned l;
    struct prop *p;
    assert_true(raft_fixture_step_until_has_leader(&c->f, 20000));
    l = raft_fixture_leader_index(&c->f);
    p = propose(c, l);
    assert_true(raft_fixture_step_until_applied(&c->f, N_SERVERS, p->index, 20000));
    assert_int_equal(p->status, 0);
    return l;
}

/* The deposed leader's uncommitted commands, the new leader's committed ones at the
 * same indexes, then the heal. Returns the new leader's last command. */
static struct prop *diverge(struct cluster *c, unsigned old, unsigned n_lost, unsigned n_new,
                            unsigned *l2)
{
    struct prop *last = NULL;
    raft_term old_term = raft_fixture_get(&c->f, old)->current_term;
    raft_index first_lost;
    isolate(c, old);
    first_lost = propose(c, old)->index;
    for (unsigned j = 1; j < n_lost; j++) {
        propose(c, old);
    }
    assert_true(raft_fixture_step_until(&c->f, new_leader, &old, 30000));
    *l2 = raft_fixture_leader_index(&c->f);
    assert_true(raft_fixture_get(&c->f, *l2)->current_term > old_term);
    for (unsigned j = 0; j < n_new; j++) {
        last = propose(c, *l2);
    }
    /* The new leader's first command lands on an index the old leader used. */
    assert_true(c->props[c->n_props - n_new].index <= first_lost + n_lost - 1);
    assert_true(raft_fixture_step_until(&c->f, all_done, c, 30000));
    assert_int_equal(last->status, 0);
    for (unsigned k = 0; k < c->n_props; k++) {
        /* The isolated leader acknowledged none of its commands. */
        if (c->props[k].index >= first_lost && c->props[k].status == 0) {
            assert_true(c->props[k].number > c->n_props - n_new);
        }
    }
    return last;
}

/* ---- Cases ---- */

/* The old leader's conflicting entries are truncated and replaced by the new leader's
 * AppendEntries: the probe (previous entry of another term) is rejected, the next one
 * truncates. */
static void deposed_leader_log_is_truncated_and_replaced(void **state)
{
    struct cluster *c = *state;
    unsigned old = start(c), l2;
    struct prop *last = diverge(c, old, 5, 8, &l2);
    heal(c);
    assert_acknowledged_everywhere(c, last->index);
    assert_int_equal(raft_state(raft_fixture_get(&c->f, old)), RAFT_FOLLOWER);
}

/* The same, with the old leader's disk so slow that the appends of its conflicting
 * entries are still in flight when the new leader's entries truncate them, and the
 * followers' appends in flight when the next AppendEntries arrive. */
static void conflicting_entries_truncated_while_their_append_is_in_flight(void **state)
{
    struct cluster *c = *state;
    unsigned old = start(c), l2;
    struct prop *last;
    raft_fixture_set_disk_latency(&c->f, old, 5000);
    last = diverge(c, old, 6, 10, &l2);
    for (unsigned i = 0; i < N_SERVERS; i++) {
        if (i != old) {
            raft_fixture_set_disk_latency(&c->f, i, 200);
        }
    }
    /* The old leader has not stored its conflicting entries yet. */
    assert_true(raft_fixture_get(&c->f, old)->last_stored <
                raft_last_index(raft_fixture_get(&c->f, old)));
    heal(c);
    for (unsigned j = 0; j < 10; j++) {
        last = propose(c, l2);
    }
    assert_acknowledged_everywhere(c, last->index);
}

/* The new leader compacts its log past the conflict, so the old leader is brought up
 * by InstallSnapshot, with AppendEntries arriving while the snapshot is installed. */
static void conflicting_entries_replaced_by_a_snapshot(void **state)
{
    struct cluster *c = *state;
    unsigned old = start(c), l2;
    struct prop *last;
    for (unsigned i = 0; i < N_SERVERS; i++) {
        raft_set_snapshot_threshold(raft_fixture_get(&c->f, i), 8);
        raft_set_snapshot_trailing(raft_fixture_get(&c->f, i), 2);
    }
    last = diverge(c, old, 4, 40, &l2);
    raft_fixture_set_disk_latency(&c->f, old, 300);
    heal(c);
    for (unsigned j = 0; j < 10; j++) {
        last = propose(c, l2);
        raft_fixture_step_until_elapsed(&c->f, 50);
    }
    assert_true(raft_fixture_step_until_applied(&c->f, N_SERVERS, last->index, 30000));
    assert_true(c->s[old].restores > 0);
    /* The entries before the snapshot are known through it; check from there on. */
    assert_acknowledged_everywhere(c, last->index);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(deposed_leader_log_is_truncated_and_replaced, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(conflicting_entries_truncated_while_their_append_is_in_flight,
                                    setup, teardown),
    cmocka_unit_test_setup_teardown(conflicting_entries_replaced_by_a_snapshot, setup,
                                    teardown),
};

TESTLIB_MAIN("replication/raft_conflict", tests)
