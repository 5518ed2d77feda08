/* RFC 3339 parsing: the times licenses carry. */
#include <stdint.h>

#include "base/clock.h"
#include "tests/lib/testlib.h"

static void parses_utc_offsets_and_fractions(void **state)
{
    (void)state;
    assert_int_equal(clock_parse_rfc3339("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(clock_parse_rfc3339("2027-01-01T00:00:00Z"), 1798761600000ll);
    assert_int_equal(clock_parse_rfc3339("2027-01-01T08:00:00+08:00"), 1798761600000ll);
    assert_int_equal(clock_parse_rfc3339("2026-12-31T19:00:00-05:00"), 1798761600000ll);
    assert_int_equal(clock_parse_rfc3339("2027-01-01T00:00:00.250Z"), 1798761600250ll);
    assert_int_equal(clock_parse_rfc3339("2024-02-29T12:00:00Z"), 1709208000000ll);
}

static void round_trips_with_the_formatter(void **state)
{
    char buf[40];
    (void)state;
    clock_format_rfc3339(1798761600123ull, buf, sizeof buf);
    assert_int_equal(clock_parse_rfc3339(buf), 1798761600123ll);
}

static void refuses_what_is_not_a_time(void **state)
{
    const char *bad[] = {"", "2027-01-01", "2027-01-01T00:00:00", "2027-13-01T00:00:00Z",
                         "2027-02-29T00:00:00Z", "2027-01-01T24:00:00Z", "1969-12-31T23:59:59Z",
                         "2027-01-01T00:00:00Zx", "2027-01-01T00:00:00+8:00", "tomorrow"};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(clock_parse_rfc3339(bad[i]), -1);
    }
}

/* The formatter writes four-digit years: a leap second or an offset that lands past
 * 9999-12-31T23:59:59.999Z would parse into a time it cannot write back (a license
 * that verified, signed again, no longer verified). Found by the license fuzz target. */
static void refuses_times_past_year_9999(void **state)
{
    (void)state;
    assert_true(clock_parse_rfc3339("9999-12-31T23:59:59.999Z") > 0);
    assert_int_equal(clock_parse_rfc3339("9999-12-31T23:59:60Z"), -1);
    assert_int_equal(clock_parse_rfc3339("9999-12-31T23:30:00-01:00"), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(parses_utc_offsets_and_fractions),
    cmocka_unit_test(round_trips_with_the_formatter),
    cmocka_unit_test(refuses_what_is_not_a_time),
    cmocka_unit_test(refuses_times_past_year_9999),
};

TESTLIB_MAIN("clock", tests)
