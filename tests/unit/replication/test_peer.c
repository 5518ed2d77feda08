/* The node-to-node protocol's shared parts: error codes as the API names them, and
 * the ProposeResult pair packed by the server side and unpacked by the client side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/errors.h"
#include "replication/peer.h"
#include "tests/lib/testlib.h"

/* Every code the server side answers with has the API's number and name. */
static void error_codes_match_the_api(void **state)
{
    (void)state;
    assert_int_equal((int)PEER_E_INSUFFICIENT_STORAGE, (int)API_E_INSUFFICIENT_STORAGE);
    assert_int_equal((int)PEER_E_CONTENT_CORRUPT, 11013);
    assert_string_equal(peer_error_name(PEER_E_INSUFFICIENT_STORAGE), "insufficient_storage");
    assert_string_equal(peer_error_name(PEER_E_RANGE_NOT_SATISFIABLE), "range_not_satisfiable");
    assert_string_equal(peer_error_name((enum peer_error)10999), "internal");
    assert_true(strncmp(PEER_PATH_BLOBS, PEER_PREFIX, strlen(PEER_PREFIX)) == 0);
    assert_true(strncmp(PEER_PATH_JOIN_FORWARDED, PEER_PATH_JOIN, strlen(PEER_PATH_JOIN)) == 0);
}

static void propose_result_round_trips(void **state)
{
    struct archive_result in, out;
    uint64_t entry = 0;
    size_t len;
    uint8_t *buf;
    (void)state;
    memset(&in, 0, sizeof in);
    in.status = ARCHIVE_R_INVALID_STATE;
    snprintf(in.message, sizeof in.message, "bill is ready");
    in.replayed = true;
    in.created = true;
    in.index = 41;
    snprintf(in.image_no, sizeof in.image_no, "IMG-1");
    snprintf(in.file_id, sizeof in.file_id, "f1");
    snprintf(in.state, sizeof in.state, "ready");
    snprintf(in.category, sizeof in.category, "invoice");
    in.position = 3;
    buf = peer_propose_result_pack(&in, 42, &len);
    assert_true(peer_propose_result_unpack(buf, len, &out, &entry));
    assert_int_equal(entry, 42);
    assert_memory_equal(&in, &out, sizeof in);
    free(buf);
}

/* Not an answer: no entry index, a negative status, bytes that do not parse. */
static void invalid_answers_are_refused(void **state)
{
    struct archive_result in, out;
    uint64_t entry = 7;
    size_t len;
    uint8_t *buf;
    (void)state;
    memset(&in, 0, sizeof in);
    memset(&out, 0xab, sizeof out);
    in.status = (enum archive_status) - 1;
    buf = peer_propose_result_pack(&in, 5, &len);
    assert_false(peer_propose_result_unpack(buf, len, &out, &entry));
    free(buf);
    assert_false(peer_propose_result_unpack((const uint8_t *)"", 0, &out, &entry));
    assert_false(peer_propose_result_unpack((const uint8_t *)"\xff\xff\xff", 3, &out, &entry));
    assert_int_equal(entry, 7);
    assert_int_equal(out.position, 0xabababab);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(error_codes_match_the_api),
    cmocka_unit_test(propose_result_round_trips),
    cmocka_unit_test(invalid_answers_are_refused),
};

TESTLIB_MAIN("peer", tests)
