/* The in-memory raft log's byte bound: when a snapshot is asked for, and how many
 * entries it keeps. */
#include "replication/log_budget.h"
#include "tests/lib/testlib.h"

static void counts_alone_without_byte_bounds(void **state)
{
    struct log_budget b;
    (void)state;
    log_budget_init(&b, 100, 500, 0, 0);
    for (uint64_t i = 1; i <= 1000; i++) {
        assert_int_equal(log_budget_applied(&b, i, 1 << 20), 100);
    }
    assert_int_equal(log_budget_snapshot(&b, 1000), 500);
    log_budget_close(&b);
}

static void a_snapshot_is_asked_for_once_the_bytes_are_reached(void **state)
{
    struct log_budget b;
    (void)state;
    log_budget_init(&b, 1000, 1000, 10000, 0);
    /* 99 entries of 100 bytes: below 10000, the count stands. */
    for (uint64_t i = 1; i <= 99; i++) {
        assert_int_equal(log_budget_applied(&b, i, 100), 1000);
    }
    /* The 100th reaches 10000 bytes: the threshold is the count already reached, so
     * raft takes a snapshot right after this entry. */
    assert_int_equal(log_budget_applied(&b, 100, 100), 100);
    assert_int_equal(log_budget_applied(&b, 101, 100), 101); /* not taken yet: still due */
    log_budget_snapshot(&b, 101);
    assert_int_equal(b.since_snapshot, 0);
    /* After it the count is back, and bytes count from the snapshot. */
    assert_int_equal(log_budget_applied(&b, 102, 100), 1000);
    assert_int_equal(b.since_snapshot, 100);
    log_budget_close(&b);
}

static void trailing_keeps_what_fits_in_the_bytes(void **state)
{
    struct log_budget b;
    uint64_t entries, bytes;
    (void)state;
    log_budget_init(&b, 1000, 1000, 0, 64 * 1000 + 500);
    for (uint64_t i = 1; i <= 900; i++) {
        (void)log_budget_applied(&b, i, 1000);
    }
    /* 64 entries of 1000 bytes fit in 64500; a 65th would not. */
    assert_int_equal(log_budget_snapshot(&b, 900), 64);
    log_budget_held(&b, &entries, &bytes);
    assert_int_equal(entries, 64);
    assert_int_equal(bytes, 64 * 1000);
    log_budget_close(&b);
}

static void trailing_never_drops_below_the_minimum(void **state)
{
    struct log_budget b;
    (void)state;
    log_budget_init(&b, 1000, 1000, 0, 1); /* one byte: nothing would fit */
    for (uint64_t i = 1; i <= 500; i++) {
        (void)log_budget_applied(&b, i, 4096);
    }
    assert_int_equal(log_budget_snapshot(&b, 500), LOG_BUDGET_MIN_TRAILING);
    log_budget_close(&b);
}

static void trailing_is_capped_by_the_count_and_the_log_start(void **state)
{
    struct log_budget b;
    (void)state;
    log_budget_init(&b, 1000, 100, 0, 1u << 30);
    for (uint64_t i = 1; i <= 500; i++) {
        (void)log_budget_applied(&b, i, 10);
    }
    assert_int_equal(log_budget_snapshot(&b, 500), 100);
    log_budget_close(&b);
    log_budget_init(&b, 1000, 1000, 0, 1u << 30);
    for (uint64_t i = 1; i <= 30; i++) {
        (void)log_budget_applied(&b, i, 10);
    }
    assert_int_equal(log_budget_snapshot(&b, 30), 30); /* entries 1..30 are all there is */
    log_budget_close(&b);
}

static void gaps_and_laps_of_the_ring_are_not_counted_twice(void **state)
{
    struct log_budget b;
    uint64_t entries, bytes;
    (void)state;
    log_budget_init(&b, 16, 16, 0, 1u << 30); /* a ring of 2*16+16+64 = 112 slots */
    for (uint64_t i = 1; i <= 112; i++) {
        (void)log_budget_applied(&b, i, 7);
    }
    /* A jump past a whole lap (entries that never reached the state machine, such as
     * configuration changes, or a restart): old sizes must not be read as new ones. */
    (void)log_budget_applied(&b, 500, 3);
    log_budget_snapshot(&b, 500);
    log_budget_held(&b, &entries, &bytes);
    assert_int_equal(entries, 16);
    assert_int_equal(bytes, 3);
    /* A small gap: the slot between is cleared. */
    (void)log_budget_applied(&b, 502, 5);
    log_budget_held(&b, &entries, &bytes);
    assert_int_equal(entries, 18);
    assert_int_equal(bytes, 8);
    log_budget_close(&b);
}

static void a_restored_snapshot_restarts_the_count(void **state)
{
    struct log_budget b;
    (void)state;
    log_budget_init(&b, 1000, 1000, 1000, 0);
    for (uint64_t i = 1; i <= 5; i++) {
        (void)log_budget_applied(&b, i, 100);
    }
    log_budget_restored(&b, 5);
    assert_int_equal(b.since_snapshot, 0);
    assert_int_equal(log_budget_applied(&b, 6, 999), 1000);
    assert_int_equal(log_budget_applied(&b, 7, 1), 2);
    /* An older snapshot than the one known changes nothing. */
    log_budget_restored(&b, 3);
    assert_int_equal(b.snapshot_index, 5);
    log_budget_close(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(counts_alone_without_byte_bounds),
    cmocka_unit_test(a_snapshot_is_asked_for_once_the_bytes_are_reached),
    cmocka_unit_test(trailing_keeps_what_fits_in_the_bytes),
    cmocka_unit_test(trailing_never_drops_below_the_minimum),
    cmocka_unit_test(trailing_is_capped_by_the_count_and_the_log_start),
    cmocka_unit_test(gaps_and_laps_of_the_ring_are_not_counted_twice),
    cmocka_unit_test(a_restored_snapshot_restarts_the_count),
};

TESTLIB_MAIN("replication/log_budget", tests)
