/* Accept-Encoding (may the answer be gzip?) and If-None-Match (is this ETag listed?),
 * as RFC 9110 reads them. */
#include <stdbool.h>

#include "net/http_accept.h"
#include "tests/lib/testlib.h"

static void gzip_accepted(void **state)
{
    static const char *yes[] = {
        "gzip", "GZIP", "x-gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.5", " gzip ",
        "gzip;q=1", "gzip;q=1.000", "gzip;q=0.001", "gzip ; q=0.5", "gzip;Q=0.5",
        "*", "*;q=0.1", "identity;q=1, *;q=0.1", "deflate, *", "gzip;level=9",
        "gzip;q=0.5;foo=bar", ",,gzip,,", "br, gzip;q=0.2, *;q=0",
    };
    (void)state;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!http_accepts_gzip(yes[i])) {
            fail_msg("%s should accept gzip", yes[i]);
        }
    }
}

static void gzip_refused(void **state)
{
    static const char *no[] = {
        "", "identity", "br, deflate", "gzip;q=0", "gzip;q=0.0", "gzip;q=0.000",
        "GZIP;Q=0", "gzip;q=0, *", "*;q=0", "*;q=0.0, br", "gzips", "xgzip", "gzip2",
        "gzip;q=", "gzip;q=x", "gzip;q=2", "gzip;q=1.5", "gzip;q=1.0001", "gzip;q=0.0001",
        "gzip;q=-1", "gzip;q=\"1\"", "gzip;q=.5", ",", ";", "gzip;q=1, gzip;q=0",
        "gz ip",
    };
    (void)state;
    assert_false(http_accepts_gzip(NULL));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (http_accepts_gzip(no[i])) {
            fail_msg("%s should not accept gzip", no[i]);
        }
    }
}

static void etag_listed(void **state)
{
    const char *tag = "\"abc123\"";
    (void)state;
    assert_true(http_etag_listed("\"abc123\"", tag));
    assert_true(http_etag_listed("W/\"abc123\"", tag));
    assert_true(http_etag_listed("*", tag));
    assert_true(http_etag_listed(" * ", tag));
    assert_true(http_etag_listed("\"x\", \"abc123\"", tag));
    assert_true(http_etag_listed("\"x\",W/\"abc123\" , \"y\"", tag));
    assert_true(http_etag_listed("\"abc123\"", "W/\"abc123\""));
    assert_false(http_etag_listed(NULL, tag));
    assert_false(http_etag_listed("", tag));
    assert_false(http_etag_listed("\"abc12\"", tag));
    assert_false(http_etag_listed("\"abc1234\"", tag));
    assert_false(http_etag_listed("abc123", tag));
    assert_false(http_etag_listed("\"ABC123\"", tag));
    assert_false(http_etag_listed("\"xabc123\"", tag));
    assert_false(http_etag_listed("W/", tag));
    assert_false(http_etag_listed("**", tag));
    assert_false(http_etag_listed(",,,", tag));
    assert_false(http_etag_listed("\"abc123\"", ""));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gzip_accepted),
    cmocka_unit_test(gzip_refused),
    cmocka_unit_test(etag_listed),
};

TESTLIB_MAIN("http_accept", tests)
