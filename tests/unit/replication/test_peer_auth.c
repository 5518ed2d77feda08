/* The cluster secret: signatures of node-to-node calls, checked from the head alone,
 * and the rotation of the secret. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "replication/peer_auth.h"
#include "tests/lib/testlib.h"

#define NOW 1700000000000ull
#define TIME "1700000000000"
#define SECRET_A "0123456789abcdef0123456789abcdef0123456789abcdef"
#define SECRET_B "fedcba9876543210fedcba9876543210fedcba9876543210"

static void secret_file(const char *name, const char *text, char *path, size_t size)
{
    FILE *f;
    snprintf(path, size, "%s/%s", testlib_tmpdir(), name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Loads @text as the current secret and, unless NULL, @previous as the one before. */
static void load2(struct peer_auth *a, const char *text, const char *previous)
{
    char path[4200], prev[4200];
    struct base_err err;
    secret_file("secret", text, path, sizeof path);
    if (previous != NULL) {
        secret_file("previous", previous, prev, sizeof prev);
    }
    assert_int_equal(peer_auth_load(a, path, previous != NULL ? prev : NULL, &err), 0);
}

static void load(struct peer_auth *a, const char *text)
{
    load2(a, text, NULL);
}

/* A request of "body" to /internal/v1/propose, with its digest. */
static struct peer_request propose(char digest[PEER_AUTH_HEX_BYTES])
{
    peer_body_sha256("body", 4, digest);
    return (struct peer_request){.method = "POST", .target = "/internal/v1/propose",
                                 .content_length = 4, .body_sha256 = digest};
}

static bool check(const struct peer_auth *a, const struct peer_request *req, const char *time,
                  const char *sig, uint64_t now)
{
    char why[256];
    return peer_auth_check(a, req, time, sig, now, why, sizeof why);
}

static void signed_request_is_accepted(void **state)
{
    struct peer_auth a, b;
    char sig[PEER_AUTH_HEX_BYTES], digest[PEER_AUTH_HEX_BYTES];
    struct peer_request req = propose(digest);
    (void)state;
    assert_true(sodium_init() >= 0);
    load(&a, SECRET_A "\n");
    peer_auth_sign(&a, &req, NOW, sig);
    assert_true(check(&a, &req, TIME, sig, NOW + 1000));
    assert_true(peer_body_matches(digest, "body", 4));
    assert_false(peer_body_matches(digest, "bodz", 4));
    assert_false(peer_body_matches(NULL, "body", 4));
    /* Surrounding whitespace of the file is not part of the secret. */
    load(&b, "  " SECRET_A "  \n\n");
    assert_true(check(&b, &req, TIME, sig, NOW));
}

static void altered_or_stale_requests_are_refused(void **state)
{
    struct peer_auth a, other;
    char sig[PEER_AUTH_HEX_BYTES], digest[PEER_AUTH_HEX_BYTES], other_digest[PEER_AUTH_HEX_BYTES];
    char why[256];
    struct peer_request req = propose(digest), bad;
    (void)state;
    assert_true(sodium_init() >= 0);
    load(&a, SECRET_A);
    load(&other, SECRET_B);
    peer_auth_sign(&a, &req, NOW, sig);
    /* Every part of the head is covered: digest, length, target, method, time. */
    peer_body_sha256("bodz", 4, other_digest);
    bad = req;
    bad.body_sha256 = other_digest;
    assert_false(peer_auth_check(&a, &bad, TIME, sig, NOW, why, sizeof why));
    assert_non_null(strstr(why, "wrong signature"));
    bad = req;
    bad.body_sha256 = NULL;
    assert_false(check(&a, &bad, TIME, sig, NOW));
    bad = req;
    bad.content_length = 5;
    assert_false(check(&a, &bad, TIME, sig, NOW));
    bad = req;
    bad.content_length = 4ull << 20;
    assert_false(check(&a, &bad, TIME, sig, NOW));
    bad = req;
    bad.target = "/internal/v1/join";
    assert_false(check(&a, &bad, TIME, sig, NOW));
    bad = req;
    bad.method = "GET";
    assert_false(check(&a, &bad, TIME, sig, NOW));
    assert_false(check(&a, &req, "1700000000001", sig, NOW));
    assert_false(check(&other, &req, TIME, sig, NOW));
    /* Outside the allowed clock skew, either way. */
    assert_false(peer_auth_check(&a, &req, TIME, sig, NOW + PEER_AUTH_SKEW_MS + 1, why,
                                 sizeof why));
    assert_non_null(strstr(why, "clock"));
    assert_false(check(&a, &req, TIME, sig, NOW - PEER_AUTH_SKEW_MS - 1));
    /* Missing or malformed headers. */
    assert_false(check(&a, &req, NULL, sig, NOW));
    assert_false(check(&a, &req, TIME, NULL, NOW));
    assert_false(check(&a, &req, "-5", sig, NOW));
    assert_false(check(&a, &req, TIME, "zz", NOW));
}

static void headers_sign_the_declared_length_and_digest(void **state)
{
    struct peer_auth a;
    struct peer_headers h;
    char digest[PEER_AUTH_HEX_BYTES];
    struct peer_request req = propose(digest);
    const char *sig, *time;
    (void)state;
    assert_true(sodium_init() >= 0);
    load(&a, SECRET_A);
    peer_headers_sign(&a, "POST", "/internal/v1/propose", "body", 4, &h);
    assert_int_equal(strncmp(h.digest, PEER_AUTH_DIGEST_HEADER ": ", 22), 0);
    assert_string_equal(h.digest + 22, digest);
    time = strchr(h.time, ' ') + 1;
    sig = strchr(h.signature, ' ') + 1;
    assert_true(check(&a, &req, time, sig, clock_wall_ms()));
    /* A blob copy is named by its hash: no digest, but its length is signed. */
    peer_headers_sign(&a, "PUT", "/internal/v1/blobs/00", NULL, 1000, &h);
    assert_string_equal(h.digest, "");
    req = (struct peer_request){.method = "PUT", .target = "/internal/v1/blobs/00",
                                .content_length = 1000};
    time = strchr(h.time, ' ') + 1;
    sig = strchr(h.signature, ' ') + 1;
    assert_true(check(&a, &req, time, sig, clock_wall_ms()));
    req.content_length = 999;
    assert_false(check(&a, &req, time, sig, clock_wall_ms()));
    /* No body, no digest. */
    peer_headers_sign(&a, "GET", "/internal/v1/status", NULL, 0, &h);
    assert_string_equal(h.digest, "");
}

static void either_secret_is_accepted_during_a_rotation(void **state)
{
    struct peer_auth old, rotating, next;
    char old_sig[PEER_AUTH_HEX_BYTES], new_sig[PEER_AUTH_HEX_BYTES];
    char digest[PEER_AUTH_HEX_BYTES];
    struct peer_request req = propose(digest);
    (void)state;
    assert_true(sodium_init() >= 0);
    load(&old, SECRET_A);
    load2(&rotating, SECRET_B, SECRET_A);
    load(&next, SECRET_B);
    assert_int_equal(peer_auth_key_count(&old), 1);
    assert_int_equal(peer_auth_key_count(&rotating), 2);
    /* The keys, current first, for the raft transport. */
    assert_memory_equal(peer_auth_key(&rotating, 0), peer_auth_key(&next, 0), PEER_AUTH_KEY_BYTES);
    assert_memory_equal(peer_auth_key(&rotating, 1), peer_auth_key(&old, 0), PEER_AUTH_KEY_BYTES);
    assert_null(peer_auth_key(&rotating, 2));
    assert_null(peer_auth_key(&old, 1));
    /* A node not rotated yet and a rotated one understand each other both ways. */
    peer_auth_sign(&old, &req, NOW, old_sig);
    assert_true(check(&rotating, &req, TIME, old_sig, NOW));
    peer_auth_sign(&rotating, &req, NOW, new_sig);
    assert_string_not_equal(old_sig, new_sig); /* signs with the new secret */
    assert_true(check(&next, &req, TIME, new_sig, NOW));
    assert_false(check(&old, &req, TIME, new_sig, NOW));
    /* Once the previous secret is dropped, its signatures are refused. */
    assert_false(check(&next, &req, TIME, old_sig, NOW));
    peer_auth_wipe(&rotating);
    assert_int_equal(peer_auth_key_count(&rotating), 0);
    assert_false(check(&rotating, &req, TIME, new_sig, NOW));
}

static void short_or_missing_secret_is_refused(void **state)
{
    struct peer_auth a;
    struct base_err err;
    char path[4200], good[4200];
    (void)state;
    assert_true(sodium_init() >= 0);
    secret_file("short", "too short\n", path, sizeof path);
    secret_file("good", SECRET_A, good, sizeof good);
    assert_int_equal(peer_auth_load(&a, path, NULL, &err), BASE_EINVAL);
    assert_non_null(strstr(err.msg, "32"));
    assert_int_equal(peer_auth_load(&a, "/nonexistent/secret", NULL, &err), BASE_EINVAL);
    assert_non_null(strstr(err.msg, "/nonexistent/secret"));
    /* A bad previous secret fails the load too, and leaves no key behind. */
    assert_int_equal(peer_auth_load(&a, good, path, &err), BASE_EINVAL);
    assert_int_equal(peer_auth_key_count(&a), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(signed_request_is_accepted),
    cmocka_unit_test(altered_or_stale_requests_are_refused),
    cmocka_unit_test(headers_sign_the_declared_length_and_digest),
    cmocka_unit_test(either_secret_is_accepted_during_a_rotation),
    cmocka_unit_test(short_or_missing_secret_is_refused),
};

TESTLIB_MAIN("peer_auth", tests)
