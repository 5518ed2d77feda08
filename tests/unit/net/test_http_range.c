/* The Range header: one range served, anything else ignored or refused as RFC 9110
 * says. */
#include <stdint.h>

#include "net/http_range.h"
#include "tests/lib/testlib.h"

static void single_ranges(void **state)
{
    uint64_t from = 0, to = 0;
    (void)state;
    assert_int_equal(http_range_parse("bytes=0-9", 100, &from, &to), 1);
    assert_int_equal(from, 0);
    assert_int_equal(to, 9);
    assert_int_equal(http_range_parse("BYTES=90-", 100, &from, &to), 1);
    assert_int_equal(from, 90);
    assert_int_equal(to, 99);
    assert_int_equal(http_range_parse("bytes=-10", 100, &from, &to), 1);
    assert_int_equal(from, 90);
    assert_int_equal(to, 99);
    assert_int_equal(http_range_parse("bytes=-1000", 100, &from, &to), 1);
    assert_int_equal(from, 0);
    assert_int_equal(http_range_parse("bytes=5-99999999999999999999999", 100, &from, &to), 1);
    assert_int_equal(to, 99);
}

static void ignored_and_unsatisfiable(void **state)
{
    uint64_t from = 7, to = 7;
    (void)state;
    assert_int_equal(http_range_parse(NULL, 100, &from, &to), 0);
    assert_int_equal(http_range_parse("bytes=--1", 100, &from, &to), 0);
    assert_int_equal(http_range_parse("bytes=5-2", 100, &from, &to), 0);
    assert_int_equal(http_range_parse("bytes=0-1,3-4", 100, &from, &to), 0);
    assert_int_equal(http_range_parse("bytes= 0-1", 100, &from, &to), 0);
    assert_int_equal(http_range_parse("items=0-1", 100, &from, &to), 0);
    assert_int_equal(from, 7);
    assert_int_equal(http_range_parse("bytes=100-", 100, &from, &to), -1);
    assert_int_equal(http_range_parse("bytes=-0", 100, &from, &to), -1);
    assert_int_equal(http_range_parse("bytes=-5", 0, &from, &to), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(single_ranges),
    cmocka_unit_test(ignored_and_unsatisfiable),
};

TESTLIB_MAIN("http_range", tests)
