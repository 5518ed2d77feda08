/* The outbox dispatcher's excerpt of a receiver's answer. */
#include <stdio.h>
#include <string.h>

#include "base/utf8.h"
#include "replication/outbox.h"
#include "tests/lib/testlib.h"

static void excerpt_of(const char *body, size_t n, char *out)
{
    outbox_excerpt(body, n, out);
    assert_true(strlen(out) <= OUTBOX_EXCERPT_MAX);
    assert_true(utf8_valid(out, strlen(out)));
}

static void excerpt_replaces_controls_and_invalid_bytes(void **state)
{
    char out[OUTBOX_EXCERPT_MAX + 1];
    static const char body[] = "ok\r\n\t\x1b[2J\x00\x7f\xff\xc3\x28 \xe4\xb8\xad \xc3\xa9";
    (void)state;
    excerpt_of(body, sizeof body - 1, out);
    assert_string_equal(out, "ok????[2J????"
                             "( \xe4\xb8\xad \xc3\xa9"); /* split: no trigraph */
}

static void excerpt_replaces_invisible_and_bidirectional_marks(void **state)
{
    char out[OUTBOX_EXCERPT_MAX + 1];
    /* U+202E right-to-left override, U+200B zero width space, U+0085 (C1), U+FEFF. */
    static const char body[] = "a\xe2\x80\xae" "b\xe2\x80\x8b" "c\xc2\x85" "d\xef\xbb\xbf" "e";
    (void)state;
    excerpt_of(body, sizeof body - 1, out);
    assert_string_equal(out, "a?b?c?d?e");
}

static void excerpt_is_cut_at_the_limit_between_characters(void **state)
{
    char body[600], out[OUTBOX_EXCERPT_MAX + 1];
    size_t n = 0;
    (void)state;
    body[n++] = 'x'; /* then 3-byte characters: 199 bytes fit 66 of them */
    while (n + 3 <= sizeof body) {
        memcpy(body + n, "\xe4\xb8\xad", 3);
        n += 3;
    }
    excerpt_of(body, n, out);
    assert_int_equal(strlen(out), 1 + 66 * 3);
    memset(body, 'y', sizeof body);
    excerpt_of(body, sizeof body, out);
    assert_int_equal(strlen(out), OUTBOX_EXCERPT_MAX);
    excerpt_of("", 0, out);
    assert_string_equal(out, "");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(excerpt_replaces_controls_and_invalid_bytes),
    cmocka_unit_test(excerpt_replaces_invisible_and_bidirectional_marks),
    cmocka_unit_test(excerpt_is_cut_at_the_limit_between_characters),
};

TESTLIB_MAIN("replication/outbox", tests)
