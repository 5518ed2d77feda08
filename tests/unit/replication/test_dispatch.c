/* The dispatchers' shared part: back-off, the jobs in flight, when to look at the queue. */
#include <string.h>

#include "base/mem.h"
#include "replication/dispatch.h"
#include "tests/lib/testlib.h"

struct item {
    uint64_t id;
    struct dispatch_job dj;
};

static bool same_item(const struct dispatch_job *dj, const void *key)
{
    return container_of(dj, struct item, dj)->id == *(const uint64_t *)key;
}

static bool in_flight(const struct dispatch *d, uint64_t id)
{
    return dispatch_in_flight(d, &id, same_item);
}

static void backoff_doubles_per_attempt_up_to_the_cap(void **state)
{
    (void)state;
    for (int round = 0; round < 200; round++) {
        uint64_t first = dispatch_backoff_ms(1000, 60000, 1);
        uint64_t third = dispatch_backoff_ms(1000, 60000, 3);
        uint64_t late = dispatch_backoff_ms(1000, 60000, 40);
        assert_true(first >= 1000 && first <= 1100);
        assert_true(third >= 4000 && third <= 4400);
        assert_true(late >= 60000 && late <= 66000);
        /* Attempt 0 (none made) waits as long as the first. */
        uint64_t none = dispatch_backoff_ms(1000, 60000, 0);
        assert_true(none >= 1000 && none <= 1100);
    }
}

static void backoff_has_jitter_of_at_most_a_tenth(void **state)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    (void)state;
    for (int round = 0; round < 1000; round++) {
        uint64_t ms = dispatch_backoff_ms(2000, 2000, 5);
        assert_true(ms >= 2000 && ms <= 2200);
        lo = ms < lo ? ms : lo;
        hi = ms > hi ? ms : hi;
    }
    assert_true(hi > lo); /* 1000 draws of 201 values: not all the same */
    /* A delay under ten milliseconds has no jitter. */
    assert_int_equal(dispatch_backoff_ms(5, 5, 3), 5);
}

static void jobs_are_found_by_key_and_removed_anywhere(void **state)
{
    struct dispatch d;
    struct item items[4];
    (void)state;
    memset(&d, 0, sizeof d);
    memset(items, 0, sizeof items);
    d.concurrency = 4;
    for (unsigned i = 0; i < 4; i++) {
        items[i].id = 10 + i;
        dispatch_add(&d, &items[i].dj, &items[i]);
    }
    /* What a job holds is freed when it ends (the sanitizer build sees a leak). */
    dispatch_header(&items[1].dj, xstrdup("X-Imgarc-Event: test"));
    dispatch_header(&items[1].dj, xstrdup("X-Imgarc-Delivery: 11"));
    items[1].dj.req.response = xstrdup("an answer");
    assert_int_equal(d.n_jobs, 4);
    assert_true(in_flight(&d, 10) && in_flight(&d, 13));
    assert_false(in_flight(&d, 14));
    /* The middle, the head (last added), then the tail (first added). */
    dispatch_remove(&d, &items[1].dj);
    assert_true(d.rescan);
    assert_null(items[1].dj.req.response);
    assert_false(in_flight(&d, 11));
    dispatch_remove(&d, &items[3].dj);
    dispatch_remove(&d, &items[0].dj);
    assert_int_equal(d.n_jobs, 1);
    assert_true(in_flight(&d, 12));
    assert_false(in_flight(&d, 10) || in_flight(&d, 13));
    dispatch_remove(&d, &items[2].dj);
    assert_int_equal(d.n_jobs, 0);
    assert_null(d.jobs);
    dispatch_close(&d);
}

/* A look at @now (a full pass when @from_start, the queue having seen @added
 * additions) over one entry due at @due_ms: whether the entry starts. */
static bool look_at_one(struct dispatch *d, bool from_start, uint64_t added, uint64_t now,
                        uint64_t due_ms)
{
    struct dispatch_pass p;
    bool starts;
    dispatch_scan_begin(d, &p, from_start, added, now);
    assert_false(d->rescan);
    assert_true(dispatch_scan_next(&p));
    starts = dispatch_scan_due(&p, due_ms);
    assert_false(dispatch_scan_end(&p));
    return starts;
}

static void queue_is_looked_at_when_something_changed(void **state)
{
    struct dispatch d;
    struct dispatch_pass p;
    struct item item = {.id = 1};
    (void)state;
    memset(&d, 0, sizeof d);
    d.concurrency = 1;
    d.rescan = true;
    assert_true(dispatch_scan_wanted(&d, 0, 1000));
    dispatch_scan_begin(&d, &p, true, 7, 1000);
    assert_false(dispatch_scan_end(&p));
    /* Nothing changed: no look. Entries queued since the last full pass: a look. */
    assert_false(dispatch_scan_wanted(&d, 7, 1000));
    assert_true(dispatch_scan_wanted(&d, 8, 1000));
    /* Future attempts: a look at the earliest one's time. */
    assert_false(look_at_one(&d, true, 7, 1000, 5000));
    assert_false(look_at_one(&d, false, 7, 1000, 3000));
    assert_int_equal(d.next_due_ms, 3000);
    assert_false(dispatch_scan_wanted(&d, 7, 2999));
    assert_true(dispatch_scan_wanted(&d, 7, 3000));
    /* No free slot: no look, whatever changed; a due entry asks for one at once. */
    dispatch_add(&d, &item.dj, &item);
    assert_ptr_equal(item.dj.req.data, &item);
    assert_ptr_equal(item.dj.prop.data, &item);
    assert_false(dispatch_scan_wanted(&d, 9, 9000));
    assert_false(look_at_one(&d, false, 9, 4000, 3500));
    assert_int_equal(d.next_due_ms, 4000);
    /* The job ends: a slot, and a look, which starts the entry now due. */
    dispatch_remove(&d, &item.dj);
    assert_true(dispatch_scan_wanted(&d, 7, 0));
    assert_true(look_at_one(&d, false, 9, 4000, 4000));
    /* A pass that goes on keeps what the full pass saw. */
    assert_int_equal(d.seen_added, 7);
}

static void pass_stops_at_the_batch_and_goes_on(void **state)
{
    struct dispatch d;
    struct dispatch_pass p;
    (void)state;
    memset(&d, 0, sizeof d);
    d.concurrency = 1;
    dispatch_scan_begin(&d, &p, true, 3, 1000);
    for (unsigned i = 0; i < DISPATCH_SCAN_BATCH; i++) {
        assert_true(dispatch_scan_next(&p));
    }
    assert_false(dispatch_scan_next(&p));
    assert_true(dispatch_scan_end(&p));
    assert_true(dispatch_scan_wanted(&d, 3, 1000)); /* the next tick goes on */
    dispatch_scan_begin(&d, &p, false, 3, 1200);
    assert_false(d.rescan);
    assert_true(dispatch_scan_next(&p));
    assert_false(dispatch_scan_end(&p));
    assert_false(dispatch_scan_wanted(&d, 3, 1200));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(backoff_doubles_per_attempt_up_to_the_cap),
    cmocka_unit_test(backoff_has_jitter_of_at_most_a_tenth),
    cmocka_unit_test(jobs_are_found_by_key_and_removed_anywhere),
    cmocka_unit_test(queue_is_looked_at_when_something_changed),
    cmocka_unit_test(pass_stops_at_the_batch_and_goes_on),
};

TESTLIB_MAIN("replication/dispatch", tests)
