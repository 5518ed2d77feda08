/* The cluster secret: signatures of node-to-node calls. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "replication/peer_auth.h"
#include "tests/lib/testlib.h"

#define NOW 1700000000000ull

static void secret_file(const char *name, const char *text, char *path, size_t size)
{
    FILE *f;
    snprintf(path, size, "%s/%s", testlib_tmpdir(), name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void load(struct peer_auth *a, const char *text)
{
    char path[4200];
    struct base_err err;
    secret_file("secret", text, path, sizeof path);
    assert_int_equal(peer_auth_load(a, path, &err), 0);
}

static void signed_request_is_accepted(void **state)
{
    struct peer_auth a;
    char sig[PEER_AUTH_HEX_BYTES], why[256];
    (void)state;
    assert_true(sodium_init() >= 0);
    load(&a, "0123456789abcdef0123456789abcdef0123456789abcdef\n");
    peer_auth_sign(&a, "POST", "/internal/v1/propose", NOW, "body", 4, sig);
    assert_true(peer_auth_check(&a, "POST", "/internal/v1/propose", "1700000000000", sig, "body",
                                4, NOW + 1000, why, sizeof why));
    /* Surrounding whitespace of the file is not part of the secret. */
    {
        struct peer_auth b;
        load(&b, "  0123456789abcdef0123456789abcdef0123456789abcdef  \n\n");
        assert_true(peer_auth_check(&b, "POST", "/internal/v1/propose", "1700000000000", sig,
                                    "body", 4, NOW, why, sizeof why));
    }
}

static void altered_or_stale_requests_are_refused(void **state)
{
    struct peer_auth a, other;
    char sig[PEER_AUTH_HEX_BYTES], why[256];
    (void)state;
    assert_true(sodium_init() >= 0);
    load(&a, "0123456789abcdef0123456789abcdef0123456789abcdef");
    load(&other, "fedcba9876543210fedcba9876543210fedcba9876543210");
    peer_auth_sign(&a, "POST", "/internal/v1/propose", NOW, "body", 4, sig);
    assert_false(peer_auth_check(&a, "POST", "/internal/v1/propose", "1700000000000", sig,
                                 "bodz", 4, NOW, why, sizeof why));
    assert_non_null(strstr(why, "wrong signature"));
    assert_false(peer_auth_check(&a, "POST", "/internal/v1/join", "1700000000000", sig, "body",
                                 4, NOW, why, sizeof why));
    assert_false(peer_auth_check(&a, "GET", "/internal/v1/propose", "1700000000000", sig, "body",
                                 4, NOW, why, sizeof why));
    assert_false(peer_auth_check(&a, "POST", "/internal/v1/propose", "1700000000001", sig,
                                 "body", 4, NOW, why, sizeof why));
    assert_false(peer_auth_check(&other, "POST", "/internal/v1/propose", "1700000000000", sig,
                                 "body", 4, NOW, why, sizeof why));
    /* Outside the allowed clock skew, either way. */
    assert_false(peer_auth_check(&a, "POST", "/internal/v1/propose", "1700000000000", sig,
                                 "body", 4, NOW + PEER_AUTH_SKEW_MS + 1, why, sizeof why));
    assert_non_null(strstr(why, "clock"));
    assert_false(peer_auth_check(&a, "POST", "/internal/v1/propose", "1700000000000", sig,
                                 "body", 4, NOW - PEER_AUTH_SKEW_MS - 1, why, sizeof why));
    /* Missing or malformed headers. */
    assert_false(peer_auth_check(&a, "POST", "/internal/v1/propose", NULL, sig, "body", 4, NOW,
                                 why, sizeof why));
    assert_false(peer_auth_check(&a, "POST", "/internal/v1/propose", "1700000000000", NULL,
                                 "body", 4, NOW, why, sizeof why));
    assert_false(peer_auth_check(&a, "POST", "/internal/v1/propose", "-5", sig, "body", 4, NOW,
                                 why, sizeof why));
    assert_false(peer_auth_check(&a, "POST", "/internal/v1/propose", "1700000000000", "zz",
                                 "body", 4, NOW, why, sizeof why));
}

static void short_or_missing_secret_is_refused(void **state)
{
    struct peer_auth a;
    struct base_err err;
    char path[4200];
    (void)state;
    assert_true(sodium_init() >= 0);
    secret_file("short", "too short\n", path, sizeof path);
    assert_int_equal(peer_auth_load(&a, path, &err), BASE_EINVAL);
    assert_non_null(strstr(err.msg, "32"));
    assert_int_equal(peer_auth_load(&a, "/nonexistent/secret", &err), BASE_EINVAL);
    assert_non_null(strstr(err.msg, "/nonexistent/secret"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(signed_request_is_accepted),
    cmocka_unit_test(altered_or_stale_requests_are_refused),
    cmocka_unit_test(short_or_missing_secret_is_refused),
};

TESTLIB_MAIN("peer_auth", tests)
