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
    peer_headers_sign(&a, NULL, "POST", "/internal/v1/propose", "body", 4, &h);
    assert_int_equal(strncmp(h.digest, PEER_AUTH_DIGEST_HEADER ": ", 22), 0);
    assert_string_equal(h.digest + 22, digest);
    time = strchr(h.time, ' ') + 1;
    sig = strchr(h.signature, ' ') + 1;
    assert_true(check(&a, &req, time, sig, clock_wall_ms()));
    /* A blob copy is named by its hash: no digest, but its length is signed. */
    peer_headers_sign(&a, NULL, "PUT", "/internal/v1/blobs/00", NULL, 1000, &h);
    assert_string_equal(h.digest, "");
    req = (struct peer_request){.method = "PUT", .target = "/internal/v1/blobs/00",
                                .content_length = 1000};
    time = strchr(h.time, ' ') + 1;
    sig = strchr(h.signature, ' ') + 1;
    assert_true(check(&a, &req, time, sig, clock_wall_ms()));
    req.content_length = 999;
    assert_false(check(&a, &req, time, sig, clock_wall_ms()));
    /* No body, no digest. */
    peer_headers_sign(&a, NULL, "GET", "/internal/v1/status", NULL, 0, &h);
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

/* The value of a "Name: value" header line made by peer_headers_sign(). */
static const char *value_of(const char *line)
{
    return strchr(line, ' ') + 1;
}

/* The receiver's answer to the call signed into @sent, stamped @now by a node holding
 * @receiver, fed to @ans as the caller's HTTP client would. */
static void answer(const struct peer_auth *receiver, const struct peer_request *req,
                   const struct peer_headers *sent, uint64_t now, struct peer_answer *ans)
{
    char time[24], mac[PEER_AUTH_HEX_BYTES], line[160];
    snprintf(time, sizeof time, "%llu", (unsigned long long)now);
    peer_answer_reset(ans);
    peer_answer_line(ans, "HTTP/1.1 401 Unauthorized\r\n", strlen("HTTP/1.1 401 Unauthorized\r\n"));
    snprintf(line, sizeof line, "x-imgarc-time:  %s \r\n", time);
    peer_answer_line(ans, line, strlen(line));
    if (peer_auth_answer_sign(receiver, req, value_of(sent->time), value_of(sent->signature),
                              time, mac)) {
        snprintf(line, sizeof line, "X-Imgarc-Time-Signature: %s\r\n", mac);
        peer_answer_line(ans, line, strlen(line));
    }
}

static void a_node_whose_clock_is_off_is_called_in_its_time(void **state)
{
    struct peer_auth caller, receiver;
    struct peer_clock clock;
    struct peer_headers h;
    struct peer_answer ans;
    char digest[PEER_AUTH_HEX_BYTES], why[256];
    struct peer_request req = propose(digest);
    uint64_t ahead = clock_wall_ms() + 120000; /* the receiver's clock, 120 s ahead */
    int64_t offset = 0;
    (void)state;
    assert_true(sodium_init() >= 0);
    peer_clock_init(&clock);
    load(&caller, SECRET_A);
    caller.clock = &clock;
    load(&receiver, SECRET_A);
    /* Signed with the caller's clock: refused for the window. */
    peer_headers_sign(&caller, "10.0.0.2:8080", "POST", "/internal/v1/propose", "body", 4, &h);
    assert_int_equal(h.offset_ms, 0);
    assert_false(peer_auth_check(&receiver, &req, value_of(h.time), value_of(h.signature),
                                 ahead, why, sizeof why));
    assert_non_null(strstr(why, "clock"));
    /* The refusal carries the receiver's time, signed over the call: learned, and the
     * call is to be signed again. */
    answer(&receiver, &req, &h, ahead, &ans);
    assert_string_not_equal(ans.signature, "");
    assert_true(peer_headers_learn(&caller, "10.0.0.2:8080", &h, &ans, &offset));
    assert_true(offset > 60000 && offset <= 120000);
    assert_true(peer_auth_should_resign(401, true, &h, offset));
    assert_false(peer_auth_should_resign(401, false, &h, offset)); /* no authentic time */
    assert_false(peer_auth_should_resign(200, true, &h, offset));
    assert_true(peer_clock_get(&clock, "10.0.0.2:8080", &offset));
    /* Signed again, in the receiver's time: accepted by its unchanged check. */
    peer_headers_sign(&caller, "10.0.0.2:8080", "POST", "/internal/v1/propose", "body", 4, &h);
    assert_int_equal(h.offset_ms, offset);
    assert_true(check(&receiver, &req, value_of(h.time), value_of(h.signature), ahead));
    /* Other nodes are still called in the caller's own time. */
    peer_headers_sign(&caller, "10.0.0.3:8080", "POST", "/internal/v1/propose", "body", 4, &h);
    assert_int_equal(h.offset_ms, 0);
    /* The receiver's clock jumps back: the next refusal teaches that too. */
    peer_headers_sign(&caller, "10.0.0.2:8080", "POST", "/internal/v1/propose", "body", 4, &h);
    assert_false(check(&receiver, &req, value_of(h.time), value_of(h.signature),
                       clock_wall_ms()));
    answer(&receiver, &req, &h, clock_wall_ms(), &ans);
    assert_true(peer_headers_learn(&caller, "10.0.0.2:8080", &h, &ans, &offset));
    assert_true(offset <= 0 && offset > -60000);
    assert_true(peer_auth_should_resign(401, true, &h, offset));
    peer_headers_sign(&caller, "10.0.0.2:8080", "POST", "/internal/v1/propose", "body", 4, &h);
    assert_true(check(&receiver, &req, value_of(h.time), value_of(h.signature),
                      clock_wall_ms()));
    peer_clock_close(&clock);
}

static void a_forged_or_replayed_answer_time_is_not_learned(void **state)
{
    struct peer_auth caller, receiver, outsider;
    struct peer_clock clock;
    struct peer_headers h, earlier;
    struct peer_answer ans;
    char digest[PEER_AUTH_HEX_BYTES], mac[PEER_AUTH_HEX_BYTES], line[160];
    struct peer_request req = propose(digest);
    uint64_t now = clock_wall_ms();
    int64_t offset;
    (void)state;
    assert_true(sodium_init() >= 0);
    peer_clock_init(&clock);
    load(&caller, SECRET_A);
    caller.clock = &clock;
    load(&receiver, SECRET_A);
    load(&outsider, SECRET_B);
    peer_headers_sign(&caller, "n2", "POST", "/internal/v1/propose", "body", 4, &earlier);
    peer_headers_sign(&caller, "n2", "POST", "/internal/v1/propose", "body", 4, &h);
    /* Signed with another secret (an outsider's answer). */
    answer(&outsider, &req, &h, now + 3600000, &ans);
    assert_string_equal(ans.signature, ""); /* it could not verify the call either */
    peer_auth_answer_sign(&receiver, &req, value_of(h.time), value_of(h.signature), "1", mac);
    assert_true(peer_auth_answer_check(&caller, h.mac, "1", mac, &(uint64_t){0}));
    assert_false(peer_auth_answer_check(&outsider, h.mac, "1", mac, &(uint64_t){0}));
    /* A time altered on the way, or without its signature. */
    answer(&receiver, &req, &h, now + 3600000, &ans);
    ans.time[3] = ans.time[3] == '9' ? '8' : '9';
    assert_false(peer_headers_learn(&caller, "n2", &h, &ans, &offset));
    answer(&receiver, &req, &h, now + 3600000, &ans);
    ans.signature[0] = '\0';
    assert_false(peer_headers_learn(&caller, "n2", &h, &ans, &offset));
    /* An authentic answer to another call (replayed). */
    answer(&receiver, &req, &earlier, now + 3600000, &ans);
    if (strcmp(earlier.mac, h.mac) != 0) {
        assert_false(peer_headers_learn(&caller, "n2", &h, &ans, &offset));
    }
    /* Garbage in the headers. */
    peer_answer_reset(&ans);
    snprintf(line, sizeof line, "X-Imgarc-Time: -5\r\nX-Imgarc-Time-Signature: zz\r\n");
    peer_answer_line(&ans, line, strlen(line));
    assert_false(peer_headers_learn(&caller, "n2", &h, &ans, &offset));
    /* Nothing was learned: calls to n2 are still signed with this node's clock. */
    assert_false(peer_clock_get(&clock, "n2", &offset));
    peer_clock_close(&clock);
}

static void only_an_authentic_call_gets_a_signed_time(void **state)
{
    struct peer_auth a, other, old, rotating;
    struct peer_headers h;
    char digest[PEER_AUTH_HEX_BYTES], mac[PEER_AUTH_HEX_BYTES], why[256];
    struct peer_request req = propose(digest), bad = req;
    uint64_t t;
    (void)state;
    assert_true(sodium_init() >= 0);
    load(&a, SECRET_A);
    load(&other, SECRET_B);
    peer_headers_sign(&other, NULL, "POST", "/internal/v1/propose", "body", 4, &h);
    /* A wrong secret is named as such even when the time is off too. */
    assert_false(peer_auth_check(&a, &req, value_of(h.time), value_of(h.signature),
                                 clock_wall_ms() + 3600000, why, sizeof why));
    assert_non_null(strstr(why, "wrong signature"));
    assert_false(peer_auth_answer_sign(&a, &req, value_of(h.time), value_of(h.signature), "1",
                                       mac));
    assert_false(peer_auth_answer_sign(&a, &req, NULL, value_of(h.signature), "1", mac));
    assert_false(peer_auth_answer_sign(&a, &req, value_of(h.time), "zz", "1", mac));
    assert_false(peer_auth_answer_sign(NULL, &req, value_of(h.time), value_of(h.signature),
                                       "1", mac));
    /* An altered request head. */
    peer_headers_sign(&a, NULL, "POST", "/internal/v1/propose", "body", 4, &h);
    bad.target = "/internal/v1/join";
    assert_false(peer_auth_answer_sign(&a, &bad, value_of(h.time), value_of(h.signature), "1",
                                       mac));
    /* During a rotation the receiver answers with the key the caller used. */
    load(&old, SECRET_A);
    load2(&rotating, SECRET_B, SECRET_A);
    peer_headers_sign(&old, NULL, "POST", "/internal/v1/propose", "body", 4, &h);
    assert_true(peer_auth_answer_sign(&rotating, &req, value_of(h.time), value_of(h.signature),
                                      "1700000000000", mac));
    assert_true(peer_auth_answer_check(&old, h.mac, "1700000000000", mac, &t));
    assert_int_equal(t, NOW);
    peer_headers_sign(&rotating, NULL, "POST", "/internal/v1/propose", "body", 4, &h);
    assert_true(peer_auth_answer_sign(&old, &req, value_of(h.time), value_of(h.signature),
                                      "1700000000000", mac) == false);
}

static void the_clock_table_keeps_the_latest_offsets(void **state)
{
    struct peer_clock clock;
    char peer[32];
    int64_t offset;
    (void)state;
    peer_clock_init(&clock);
    assert_int_equal(peer_clock_offset_ms(&clock, "a"), 0);
    assert_int_equal(peer_clock_offset_ms(NULL, "a"), 0);
    peer_clock_learn(&clock, "a", 120300);
    peer_clock_learn(&clock, "a", 120310); /* logged once: no state change */
    assert_int_equal(peer_clock_offset_ms(&clock, "a"), 120310);
    peer_clock_learn(&clock, "a", -5);
    assert_int_equal(peer_clock_offset_ms(&clock, "a"), -5);
    /* Full: the entry learned longest ago makes room. */
    for (int i = 0; i < PEER_CLOCK_PEERS_MAX; i++) {
        snprintf(peer, sizeof peer, "p%d", i);
        peer_clock_learn(&clock, peer, i);
    }
    assert_false(peer_clock_get(&clock, "a", &offset));
    assert_true(peer_clock_get(&clock, "p0", &offset));
    assert_int_equal(offset, 0);
    assert_true(peer_clock_get(&clock, "p63", &offset));
    assert_int_equal(offset, 63);
    peer_clock_close(&clock);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(a_node_whose_clock_is_off_is_called_in_its_time),
    cmocka_unit_test(a_forged_or_replayed_answer_time_is_not_learned),
    cmocka_unit_test(only_an_authentic_call_gets_a_signed_time),
    cmocka_unit_test(the_clock_table_keeps_the_latest_offsets),
    cmocka_unit_test(signed_request_is_accepted),
    cmocka_unit_test(altered_or_stale_requests_are_refused),
    cmocka_unit_test(headers_sign_the_declared_length_and_digest),
    cmocka_unit_test(either_secret_is_accepted_during_a_rotation),
    cmocka_unit_test(short_or_missing_secret_is_refused),
};

TESTLIB_MAIN("peer_auth", tests)
