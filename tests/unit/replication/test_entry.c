/* Raft entry framing (replication/entry.c): one command, or several in one entry, and
 * what any other bytes are taken for. */
#include <string.h>

#include "replication/entry.h"
#include "tests/lib/testlib.h"

static void several_commands_round_trip(void **state)
{
    struct archive_packed in[3] = {{"abc", 3}, {"", 0}, {"0123456789", 10}};
    struct archive_packed out[REPL_ENTRY_MAX_COMMANDS];
    struct raft_buffer buf;
    bool shared;
    (void)state;
    repl_entry_frame_many(in, 3, &buf);
    assert_int_equal(buf.len % 8, 0);
    assert_memory_equal(buf.base, "IMGB", 4);
    assert_int_equal(repl_entry_commands(&buf, out, &shared), 3);
    assert_true(shared);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(out[i].len, in[i].len);
        assert_memory_equal(out[i].buf, in[i].buf, in[i].len);
    }
    raft_free(buf.base);
}

static void one_command_is_the_single_frame(void **state)
{
    struct archive_packed out[REPL_ENTRY_MAX_COMMANDS];
    struct raft_buffer buf;
    bool shared;
    size_t len;
    (void)state;
    repl_entry_frame_packed("hello", 5, &buf);
    assert_memory_equal(buf.base, "IMGC", 4);
    assert_int_equal(buf.len, 16);
    assert_int_equal(repl_entry_commands(&buf, out, &shared), 1);
    assert_false(shared);
    assert_int_equal(out[0].len, 5);
    assert_ptr_equal(out[0].buf, repl_entry_command(&buf, &len));
    raft_free(buf.base);
}

/* A "shared" frame that does not hold together is one empty command, refused alike
 * on every node: never a read past the buffer. */
static void broken_frames_are_one_empty_command(void **state)
{
    struct archive_packed in[2] = {{"abc", 3}, {"efg", 3}}; /* 22 bytes: 2 of padding */
    struct archive_packed out[REPL_ENTRY_MAX_COMMANDS];
    struct raft_buffer buf;
    uint8_t *p;
    bool shared;
    (void)state;
    repl_entry_frame_many(in, 2, &buf);
    p = buf.base;
    /* Counts of 1 and of more than the most are refused. */
    p[7] = 1;
    assert_int_equal(repl_entry_commands(&buf, out, &shared), 1);
    assert_false(shared);
    assert_int_equal(out[0].len, 0);
    p[7] = REPL_ENTRY_MAX_COMMANDS + 1;
    assert_int_equal(repl_entry_commands(&buf, out, &shared), 1);
    assert_int_equal(out[0].len, 0);
    p[7] = 2;
    /* A length past the end. */
    p[8 + 3] = 200;
    assert_int_equal(repl_entry_commands(&buf, out, &shared), 1);
    assert_int_equal(out[0].len, 0);
    p[8 + 3] = 3;
    assert_int_equal(repl_entry_commands(&buf, out, &shared), 2);
    /* Padding that is not zeros. */
    p[buf.len - 1] = 1;
    assert_int_equal(repl_entry_commands(&buf, out, &shared), 1);
    assert_false(shared);
    raft_free(buf.base);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(several_commands_round_trip),
    cmocka_unit_test(one_command_is_the_single_frame),
    cmocka_unit_test(broken_frames_are_one_empty_command),
};

TESTLIB_MAIN("replication/entry", tests)
