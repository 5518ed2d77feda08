/* Placement of blob copies: rendezvous hashing over the active members, zones first. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "replication/placement.h"
#include "tests/lib/testlib.h"

#define BLOBS 3000

static void add_node(struct placement *p, uint64_t id, const char *zone, const char *storage)
{
    struct placement_node *n = &p->nodes[p->n++];
    memset(n, 0, sizeof *n);
    n->id = id;
    snprintf(n->zone, sizeof n->zone, "%s", zone);
    snprintf(n->http, sizeof n->http, "127.0.0.1:%llu", (unsigned long long)(8000 + id));
    n->active = strcmp(storage, "active") == 0;
    n->live = strcmp(storage, "out") != 0;
}

static void blob_hash(unsigned i, uint8_t out[PLACEMENT_HASH_BYTES])
{
    crypto_generichash(out, PLACEMENT_HASH_BYTES, (const uint8_t *)&i, sizeof i, NULL, 0);
}

static void init(struct placement *p, unsigned r, unsigned w)
{
    memset(p, 0, sizeof *p);
    p->replicas = r;
    p->write_quorum = w;
}

/* Every node ranks alike, each member once, the same blob the same way. */
static void ranking_is_deterministic_and_complete(void **state)
{
    static struct placement p;
    uint64_t a[PLACEMENT_MAX_NODES], b[PLACEMENT_MAX_NODES];
    uint8_t h[PLACEMENT_HASH_BYTES];
    (void)state;
    init(&p, 3, 2);
    for (uint64_t id = 1; id <= 5; id++) {
        add_node(&p, id * 1000003, "z", "active");
    }
    for (unsigned i = 0; i < 100; i++) {
        size_t n;
        blob_hash(i, h);
        n = placement_rank(&p, h, a, PLACEMENT_MAX_NODES);
        assert_int_equal(n, 5);
        assert_int_equal(placement_rank(&p, h, b, PLACEMENT_MAX_NODES), 5);
        assert_memory_equal(a, b, sizeof a[0] * n);
        for (size_t x = 0; x < n; x++) {
            for (size_t y = x + 1; y < n; y++) {
                assert_true(a[x] != a[y]);
            }
        }
        assert_int_equal(placement_rank(&p, h, b, 3), 3);
        assert_memory_equal(a, b, sizeof a[0] * 3);
    }
}

/* With three zones the three copies go to three zones; with two, both get one. */
static void copies_spread_across_zones(void **state)
{
    static struct placement p;
    uint64_t ranked[PLACEMENT_MAX_NODES];
    uint8_t h[PLACEMENT_HASH_BYTES];
    const char *zones[] = {"a", "a", "a", "b", "b", "c"};
    (void)state;
    init(&p, 3, 2);
    for (uint64_t id = 0; id < 6; id++) {
        add_node(&p, id + 1, zones[id], "active");
    }
    for (unsigned i = 0; i < BLOBS; i++) {
        const char *seen[3];
        blob_hash(i, h);
        assert_int_equal(placement_rank(&p, h, ranked, 3), 3);
        for (int k = 0; k < 3; k++) {
            seen[k] = placement_node(&p, ranked[k])->zone;
        }
        assert_true(strcmp(seen[0], seen[1]) != 0 && strcmp(seen[0], seen[2]) != 0 &&
                    strcmp(seen[1], seen[2]) != 0);
    }
}

/* A node that joins takes about R/N of the copies, and only copies move to it: no
 * blob's wanted set changes between the nodes that were there. */
static void a_new_node_takes_its_share_and_nothing_else_moves(void **state)
{
    static struct placement before, after;
    uint64_t x[3], y[3];
    uint8_t h[PLACEMENT_HASH_BYTES];
    unsigned moved = 0;
    (void)state;
    init(&before, 3, 2);
    for (uint64_t id = 1; id <= 4; id++) {
        add_node(&before, id, "z", "active");
    }
    after = before;
    add_node(&after, 5, "z", "active");
    for (unsigned i = 0; i < BLOBS; i++) {
        bool has_new = false;
        blob_hash(i, h);
        placement_rank(&before, h, x, 3);
        placement_rank(&after, h, y, 3);
        for (int k = 0; k < 3; k++) {
            has_new = has_new || y[k] == 5;
        }
        if (has_new) {
            moved++;
            /* The other two wanted nodes were wanted before too. */
            for (int k = 0; k < 3; k++) {
                bool known = y[k] == 5;
                for (int j = 0; j < 3 && !known; j++) {
                    known = y[k] == x[j];
                }
                assert_true(known);
            }
        } else {
            assert_memory_equal(x, y, sizeof x);
        }
    }
    /* R/N = 3/5 of the blobs get a copy on the new node: 60%, give or take. */
    assert_in_range(moved, BLOBS * 50 / 100, BLOBS * 70 / 100);
}

/* Draining and out nodes take no new copies; out ones no longer count as holding. R
 * and W are capped at the number of members. */
static void storage_states_and_caps(void **state)
{
    static struct placement p;
    uint64_t ranked[PLACEMENT_MAX_NODES];
    uint8_t h[PLACEMENT_HASH_BYTES];
    (void)state;
    init(&p, 3, 2);
    add_node(&p, 1, "z", "active");
    assert_int_equal(placement_replicas(&p), 1);
    assert_int_equal(placement_write_quorum(&p), 1);
    add_node(&p, 2, "z", "draining");
    add_node(&p, 3, "z", "out");
    add_node(&p, 4, "z", "active");
    assert_int_equal(placement_replicas(&p), 3);
    assert_int_equal(placement_write_quorum(&p), 2);
    assert_true(placement_live(&p, 2));
    assert_false(placement_live(&p, 3));
    assert_false(placement_live(&p, 99));
    for (unsigned i = 0; i < 50; i++) {
        blob_hash(i, h);
        assert_int_equal(placement_rank(&p, h, ranked, PLACEMENT_MAX_NODES), 2);
        assert_true((ranked[0] == 1 && ranked[1] == 4) || (ranked[0] == 4 && ranked[1] == 1));
    }
    init(&p, 0, 0);
    assert_int_equal(placement_replicas(&p), 1); /* no members known yet: this node */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(ranking_is_deterministic_and_complete),
    cmocka_unit_test(copies_spread_across_zones),
    cmocka_unit_test(a_new_node_takes_its_share_and_nothing_else_moves),
    cmocka_unit_test(storage_states_and_caps),
};

TESTLIB_MAIN("placement", tests)
