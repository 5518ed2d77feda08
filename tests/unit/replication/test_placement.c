/* Placement of blob copies: weighted rendezvous hashing over the active members that
 * are not full, zones first. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/placement.h"
#include "tests/lib/testlib.h"

#define BLOBS 3000

/* Known answers (ranking_known_answer); computed once, never to change. */
#define KNOWN_SCORE_1 0xdb34b1108d9958b0ull
#define KNOWN_NEG_LOG2_1 961461340ull /* -log2((score + 1) / 2^64) * 2^32 = 961461339.9 */
/* 1 GiB, 2 GiB, 4 GiB and 4 GiB at 25%: -log2(u)/w puts them 1, 2, 4, 3. */
#define KNOWN_RANK_0 1
#define KNOWN_RANK_1 2
#define KNOWN_RANK_2 4
#define KNOWN_RANK_3 3

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

/* ---- Capacity weights ---- */

#define MANY 100000
#define GIB (1ull << 30)

static void set_capacity(struct placement *p, uint64_t id, uint64_t bytes, unsigned pct)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->nodes[i].id == id) {
            p->nodes[i].capacity_bytes = bytes;
            p->nodes[i].weight_pct = pct;
        }
    }
    placement_weigh(p);
}

/* The fixed-point -log2: its ends, exact powers of two, and never increasing. */
static void neg_log2_is_exact_at_the_ends_and_monotone(void **state)
{
    (void)state;
    assert_int_equal(placement_neg_log2(UINT64_MAX), 0);
    assert_int_equal(placement_neg_log2(0), 64ull << 32);     /* u = 2^-64 */
    assert_int_equal(placement_neg_log2((1ull << 63) - 1), 1ull << 32); /* u = 1/2 */
    assert_int_equal(placement_neg_log2((1ull << 62) - 1), 2ull << 32); /* u = 1/4 */
    /* u = 3/4: -log2 = 0.41503749927884... = 1782572486.02 / 2^32, to the last place. */
    assert_in_range(placement_neg_log2(3ull << 62), 1782572486ull, 1782572487ull);
    assert_in_range(placement_neg_log2((3ull << 62) - 1), 1782572486ull, 1782572487ull);
    /* Never increasing: random pairs, and neighbours. */
    srand(7);
    for (unsigned i = 0; i < MANY; i++) {
        uint64_t x = (uint64_t)rand() << 42 ^ (uint64_t)rand() << 21 ^ (uint64_t)rand();
        uint64_t y = (uint64_t)rand() << 42 ^ (uint64_t)rand() << 21 ^ (uint64_t)rand();
        uint64_t lo = x < y ? x : y, hi = x < y ? y : x;
        assert_true(placement_neg_log2(lo) >= placement_neg_log2(hi));
        if (lo < UINT64_MAX) {
            assert_true(placement_neg_log2(lo) >= placement_neg_log2(lo + 1));
        }
    }
}

/* Equal weights rank exactly as unweighted rendezvous (by raw score), whatever the
 * weight: a cluster whose nodes report equal capacities, or none, moves nothing. */
static void equal_weights_rank_by_raw_score(void **state)
{
    static struct placement p, q;
    uint64_t a[PLACEMENT_MAX_NODES], b[PLACEMENT_MAX_NODES];
    uint8_t h[PLACEMENT_HASH_BYTES];
    char zone[8];
    (void)state;
    init(&p, 3, 2);
    for (uint64_t id = 1; id <= 7; id++) {
        snprintf(zone, sizeof zone, "z%llu", (unsigned long long)id);
        add_node(&p, id * 7919, zone, "active");
    }
    q = p;
    for (size_t i = 0; i < q.n; i++) {
        q.nodes[i].capacity_bytes = 3 * GIB;
    }
    placement_weigh(&q);
    assert_true(q.nodes[0].weight == 3 * 1024 * 100);
    for (unsigned i = 0; i < 20000; i++) {
        size_t n;
        blob_hash(i, h);
        n = placement_rank(&p, h, a, PLACEMENT_MAX_NODES);
        assert_int_equal(placement_rank(&q, h, b, PLACEMENT_MAX_NODES), n);
        assert_memory_equal(a, b, n * sizeof a[0]);
        for (size_t k = 1; k < n; k++) { /* one zone each: pure score order */
            assert_true(placement_score(h, a[k - 1]) >= placement_score(h, a[k]));
        }
    }
}

/* A known answer: the ranking depends on nothing but the hash, the ids and the weights
 * (the same on every CPU, compiler and libm); a change here moves stored copies. */
static void ranking_known_answer(void **state)
{
    static struct placement p;
    uint64_t ranked[4];
    uint8_t h[PLACEMENT_HASH_BYTES];
    (void)state;
    init(&p, 2, 1);
    add_node(&p, 1, "z", "active");
    add_node(&p, 2, "z", "active");
    add_node(&p, 3, "z", "active");
    add_node(&p, 4, "z", "active");
    set_capacity(&p, 1, 1 * GIB, 100);
    set_capacity(&p, 2, 2 * GIB, 100);
    set_capacity(&p, 3, 4 * GIB, 100);
    set_capacity(&p, 4, 4 * GIB, 25);
    memset(h, 0xab, sizeof h);
    assert_int_equal(placement_score(h, 1), KNOWN_SCORE_1);
    assert_int_equal(placement_neg_log2(KNOWN_SCORE_1), KNOWN_NEG_LOG2_1);
    assert_int_equal(placement_rank(&p, h, ranked, 4), 4);
    assert_int_equal(ranked[0], KNOWN_RANK_0);
    assert_int_equal(ranked[1], KNOWN_RANK_1);
    assert_int_equal(ranked[2], KNOWN_RANK_2);
    assert_int_equal(ranked[3], KNOWN_RANK_3);
}

/* Over 100,000 blobs a node twice as large gets twice the copies: the share of first
 * copies (all copies when R = 1) is its share of the weight within 3% (relative). With
 * R = 3 of 6 nodes, the second and third copies go to the rest of the ranking (a node
 * holds one copy of a blob at most), which evens shares out: big/small measures 1.62
 * here (docs/replication.md, "Capacity weights"); asserted above 1.5 and below 2. The
 * operator's factor scales a node's weight. */
static void a_node_twice_as_large_takes_twice_the_copies(void **state)
{
    static struct placement p;
    uint64_t ranked[3];
    uint8_t h[PLACEMENT_HASH_BYTES];
    unsigned first[8] = {0}, copies[8] = {0};
    double small, big;
    (void)state;
    init(&p, 3, 2);
    /* Six nodes, one zone: four of 1 TiB, two of 2 TiB (weights 1,1,1,1,2,2 of 8). */
    for (uint64_t id = 1; id <= 6; id++) {
        add_node(&p, id, "z", "active");
        set_capacity(&p, id, (id <= 4 ? 1024 : 2048) * GIB, 100);
    }
    for (unsigned i = 0; i < MANY; i++) {
        size_t n;
        blob_hash(i, h);
        n = placement_rank(&p, h, ranked, 3);
        assert_int_equal(n, 3);
        first[ranked[0]]++;
        for (size_t k = 0; k < n; k++) {
            copies[ranked[k]]++;
        }
    }
    for (uint64_t id = 1; id <= 6; id++) {
        double want = MANY * (id <= 4 ? 1.0 : 2.0) / 8;
        print_message("node %llu: %u first copies (expected %.0f), %u copies\n",
                      (unsigned long long)id, first[id], want, copies[id]);
        assert_in_range(first[id], (unsigned)(want * 0.97), (unsigned)(want * 1.03));
    }
    small = (copies[1] + copies[2] + copies[3] + copies[4]) / 4.0;
    big = (copies[5] + copies[6]) / 2.0;
    print_message("R=3: copies big/small = %.3f\n", big / small);
    assert_true(big / small > 1.5 && big / small < 2.0);

    /* The operator halves node 5: it weighs as a small one now. */
    memset(first, 0, sizeof first);
    set_capacity(&p, 5, 2048 * GIB, 50);
    for (unsigned i = 0; i < MANY; i++) {
        blob_hash(i, h);
        placement_rank(&p, h, ranked, 1);
        first[ranked[0]]++;
    }
    assert_in_range(first[5], (unsigned)(MANY / 7.0 * 0.97), (unsigned)(MANY / 7.0 * 1.03));
    assert_in_range(first[6], (unsigned)(MANY * 2 / 7.0 * 0.97), (unsigned)(MANY * 2 / 7.0 * 1.03));
}

/* A node that has not reported counts as the mean of those that have. */
static void an_unreported_node_weighs_the_mean(void **state)
{
    static struct placement p;
    (void)state;
    init(&p, 3, 2);
    add_node(&p, 1, "z", "active");
    add_node(&p, 2, "z", "active");
    add_node(&p, 3, "z", "active");
    placement_weigh(&p);
    assert_true(p.nodes[0].weight == 100 && p.nodes[2].weight == 100); /* none: all equal */
    set_capacity(&p, 1, 1 * GIB, 100);
    set_capacity(&p, 2, 3 * GIB, 200);
    assert_true(p.nodes[0].weight == 1024 * 100);
    assert_true(p.nodes[1].weight == 3 * 1024 * 200);
    assert_true(p.nodes[2].weight == 2 * 1024 * 100); /* mean of 1 and 3 GiB */
}

/* Raising one node's weight only draws blobs to it: a blob whose first copy moves
 * moves onto that node, and about the share it gained moves (from 1/5 to 2/6). */
static void raising_a_weight_moves_only_onto_that_node(void **state)
{
    static struct placement before, after;
    uint64_t x[1], y[1];
    uint8_t h[PLACEMENT_HASH_BYTES];
    unsigned moved = 0;
    (void)state;
    init(&before, 1, 1);
    for (uint64_t id = 1; id <= 5; id++) {
        add_node(&before, id, "z", "active");
        set_capacity(&before, id, 100 * GIB, 100);
    }
    after = before;
    set_capacity(&after, 3, 200 * GIB, 100);
    for (unsigned i = 0; i < MANY; i++) {
        blob_hash(i, h);
        placement_rank(&before, h, x, 1);
        placement_rank(&after, h, y, 1);
        if (x[0] != y[0]) {
            assert_int_equal(y[0], 3);
            moved++;
        }
    }
    print_message("moved %u of %u (expected %.0f)\n", moved, MANY, MANY * (2.0 / 6 - 1.0 / 5));
    assert_in_range(moved, (unsigned)(MANY * 0.1333 * 0.95), (unsigned)(MANY * 0.1333 * 1.05));
}

/* A full node is never chosen for a new copy, however heavy; for a blob it holds it
 * keeps its place (placement_rank_held), so fullness moves nothing away. */
static void a_full_node_is_never_chosen(void **state)
{
    static struct placement p;
    static struct placement not_full;
    uint64_t ranked[PLACEMENT_MAX_NODES], held[1] = {2}, plain[2];
    uint8_t h[PLACEMENT_HASH_BYTES];
    unsigned kept = 0;
    (void)state;
    init(&p, 2, 1);
    add_node(&p, 1, "a", "active");
    add_node(&p, 2, "b", "active");
    add_node(&p, 3, "c", "active");
    add_node(&p, 4, "c", "active");
    set_capacity(&p, 2, 1000 * GIB, 1000); /* by far the heaviest */
    not_full = p;
    p.nodes[1].full = true;
    for (unsigned i = 0; i < MANY; i++) {
        size_t n;
        blob_hash(i, h);
        n = placement_rank(&p, h, ranked, PLACEMENT_MAX_NODES);
        assert_int_equal(n, 3);
        for (size_t k = 0; k < n; k++) {
            assert_true(ranked[k] != 2);
        }
        /* Where it holds a copy, the wanted nodes are those it would have if it were
         * not full: its copy stays, nothing moves. */
        assert_int_equal(placement_rank_held(&p, h, held, 1, ranked, 2), 2);
        assert_int_equal(placement_rank(&not_full, h, plain, 2), 2);
        assert_memory_equal(ranked, plain, sizeof plain);
        kept += ranked[0] == 2 || ranked[1] == 2;
    }
    assert_true(kept > MANY / 2); /* and it is wanted for most, by its weight */
    /* Full and draining: not even where it holds one. */
    p.nodes[1].active = false;
    blob_hash(1, h);
    assert_int_equal(placement_rank_held(&p, h, held, 1, ranked, PLACEMENT_MAX_NODES), 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(ranking_is_deterministic_and_complete),
    cmocka_unit_test(copies_spread_across_zones),
    cmocka_unit_test(a_new_node_takes_its_share_and_nothing_else_moves),
    cmocka_unit_test(storage_states_and_caps),
    cmocka_unit_test(neg_log2_is_exact_at_the_ends_and_monotone),
    cmocka_unit_test(equal_weights_rank_by_raw_score),
    cmocka_unit_test(ranking_known_answer),
    cmocka_unit_test(a_node_twice_as_large_takes_twice_the_copies),
    cmocka_unit_test(an_unreported_node_weighs_the_mean),
    cmocka_unit_test(raising_a_weight_moves_only_onto_that_node),
    cmocka_unit_test(a_full_node_is_never_chosen),
};

TESTLIB_MAIN("placement", tests)
