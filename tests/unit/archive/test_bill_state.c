/* Bill states: names, the transition table, the asserted setter and readiness. */
#include <stdlib.h>
#include <string.h>

#include "archive/bill_state.h"
#include "base/mem.h"
#include "tests/lib/testlib.h"

static const char *const STORED[BILL_STATE_COUNT] = {
    "pending_upload", "captured", "submitted", "ready", "erp_submitted", "erp_failed",
    "returned",
};

/* Every move apply makes, and only those. */
static const struct {
    enum bill_state from, to;
} MOVES[] = {
    {BILL_PENDING_UPLOAD, BILL_CAPTURED},                      /* first capture */
    {BILL_CAPTURED, BILL_SUBMITTED},                           /* submit */
    {BILL_RETURNED, BILL_CAPTURED},                            /* rescan */
    {BILL_RETURNED, BILL_SUBMITTED},                           /* submitted again as is */
    {BILL_SUBMITTED, BILL_READY},                              /* complete */
    {BILL_SUBMITTED, BILL_RETURNED},                           /* return */
    {BILL_READY, BILL_ERP_SUBMITTED},                          /* ERP accepted */
    {BILL_READY, BILL_ERP_FAILED},                             /* refused, or no ERP */
    {BILL_READY, BILL_RETURNED},                               /* return */
    {BILL_READY, BILL_SUBMITTED},                              /* an invoice unmatched */
    {BILL_ERP_FAILED, BILL_ERP_SUBMITTED},                     /* accepted on retry */
    {BILL_ERP_FAILED, BILL_RETURNED},                          /* return */
    {BILL_ERP_FAILED, BILL_SUBMITTED},                         /* an invoice unmatched */
};

static void names_are_the_stored_strings(void **state)
{
    (void)state;
    for (unsigned s = 0; s < BILL_STATE_COUNT; s++) {
        enum bill_state parsed;
        assert_string_equal(bill_state_name((enum bill_state)s), STORED[s]);
        assert_true(bill_state_parse(STORED[s], &parsed));
        assert_int_equal(parsed, s);
    }
    {
        enum bill_state parsed = BILL_READY;
        assert_false(bill_state_parse("", &parsed));
        assert_false(bill_state_parse("Ready", &parsed));
        assert_false(bill_state_parse("archived", &parsed));
        assert_int_equal(parsed, BILL_READY); /* untouched */
    }
}

static void only_pending_upload_and_captured_are_initial(void **state)
{
    (void)state;
    for (unsigned s = 0; s < BILL_STATE_COUNT; s++) {
        assert_int_equal(bill_state_initial((enum bill_state)s),
                         s == BILL_PENDING_UPLOAD || s == BILL_CAPTURED);
    }
}

static bool listed(enum bill_state from, enum bill_state to)
{
    for (size_t i = 0; i < ARRAY_SIZE(MOVES); i++) {
        if (MOVES[i].from == from && MOVES[i].to == to) {
            return true;
        }
    }
    return false;
}

static void every_move_apply_makes_is_allowed(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(MOVES); i++) {
        assert_true(bill_state_allowed(MOVES[i].from, MOVES[i].to));
        assert_true(bill_state_can(STORED[MOVES[i].from], MOVES[i].to));
    }
}

static void other_moves_are_refused(void **state)
{
    (void)state;
    for (unsigned from = 0; from < BILL_STATE_COUNT; from++) {
        for (unsigned to = 0; to < BILL_STATE_COUNT; to++) {
            if (!listed((enum bill_state)from, (enum bill_state)to)) {
                assert_false(bill_state_allowed((enum bill_state)from, (enum bill_state)to));
            }
        }
    }
    /* For instance: erp_submitted is final, and nothing skips submit. */
    assert_false(bill_state_allowed(BILL_ERP_SUBMITTED, BILL_RETURNED));
    assert_false(bill_state_allowed(BILL_CAPTURED, BILL_READY));
    assert_false(bill_state_allowed(BILL_PENDING_UPLOAD, BILL_SUBMITTED));
    /* A stored name that is no state allows nothing. */
    assert_false(bill_state_can("archived", BILL_CAPTURED));
}

static BillRecord *bill_in(const char *state)
{
    BillRecord *b = xmalloc(sizeof *b);
    bill_record__init(b);
    b->image_no = xstrdup("CB-1");
    b->state = xstrdup(state);
    b->in_pool = true;
    return b;
}

static void set_moves_the_bill_and_replaces_its_string(void **state)
{
    BillRecord *b = bill_in("captured");
    (void)state;
    bill_state_set(b, BILL_SUBMITTED);
    assert_string_equal(b->state, "submitted");
    bill_state_set(b, BILL_READY);
    bill_state_set(b, BILL_ERP_FAILED);
    bill_state_set(b, BILL_ERP_SUBMITTED);
    assert_string_equal(b->state, "erp_submitted");
    bill_record__free_unpacked(b, NULL);
}

static void ready_means_ready_or_at_the_erp(void **state)
{
    (void)state;
    for (unsigned s = 0; s < BILL_STATE_COUNT; s++) {
        BillRecord *b = bill_in(STORED[s]);
        assert_int_equal(bill_state_ready(b),
                         s == BILL_READY || s == BILL_ERP_SUBMITTED || s == BILL_ERP_FAILED);
        bill_record__free_unpacked(b, NULL);
    }
    {
        BillRecord *b = bill_in("archived");
        assert_false(bill_state_ready(b));
        bill_record__free_unpacked(b, NULL);
    }
}

static void reasons_say_why_a_bill_is_not_ready(void **state)
{
    static const struct {
        const char *state;
        bool in_pool;
        uint32_t declared, matched;
        size_t n;
        enum bill_reason why[BILL_REASONS_MAX];
    } cases[] = {
        {"pending_upload", true, 0, 0, 1, {BILL_REASON_NO_FILES}},
        {"captured", true, 0, 0, 1, {BILL_REASON_NOT_SUBMITTED}},
        {"captured", false, 0, 0, 2, {BILL_REASON_NOT_SUBMITTED, BILL_REASON_NOT_IN_POOL}},
        {"returned", true, 0, 0, 1, {BILL_REASON_RETURNED}},
        {"submitted", true, 2, 1, 1, {BILL_REASON_UNMATCHED}},
        {"submitted", true, 2, 2, 0, {0}},
        {"submitted", false, 0, 0, 1, {BILL_REASON_NOT_IN_POOL}},
        {"erp_failed", true, 0, 0, 1, {BILL_REASON_ERP_FAILED}},
        {"erp_failed", false, 0, 0, 2, {BILL_REASON_ERP_FAILED, BILL_REASON_NOT_IN_POOL}},
        {"ready", true, 0, 0, 0, {0}},
        {"ready", false, 0, 0, 0, {0}}, /* ready: no reasons at all */
        {"erp_submitted", false, 0, 0, 0, {0}},
        {"archived", false, 0, 0, 1, {BILL_REASON_NOT_IN_POOL}},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        BillRecord *b = bill_in(cases[i].state);
        Invoice inv[2];
        Invoice *invs[2] = {&inv[0], &inv[1]};
        enum bill_reason why[BILL_REASONS_MAX];
        size_t n;
        b->in_pool = cases[i].in_pool;
        b->n_invoices = cases[i].declared;
        b->invoices = cases[i].declared > 0 ? invs : NULL;
        b->invoices_matched = cases[i].matched;
        n = bill_state_reasons(b, why);
        if (n != cases[i].n) {
            fail_msg("case %zu (%s): %zu reasons, want %zu", i, cases[i].state, n, cases[i].n);
        }
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(why[k], cases[i].why[k]);
        }
        b->n_invoices = 0;
        b->invoices = NULL;
        bill_record__free_unpacked(b, NULL);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(names_are_the_stored_strings),
    cmocka_unit_test(only_pending_upload_and_captured_are_initial),
    cmocka_unit_test(every_move_apply_makes_is_allowed),
    cmocka_unit_test(other_moves_are_refused),
    cmocka_unit_test(set_moves_the_bill_and_replaces_its_string),
    cmocka_unit_test(ready_means_ready_or_at_the_erp),
    cmocka_unit_test(reasons_say_why_a_bill_is_not_ready),
};

TESTLIB_MAIN("archive/bill_state", tests)
