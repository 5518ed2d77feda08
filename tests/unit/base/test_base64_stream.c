/* Incremental base64: any split of the text decodes to the same bytes as libsodium's
 * whole-buffer decoder, and bad texts are refused. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/base64_stream.h"
#include "tests/lib/testlib.h"

/* Decodes @text fed in pieces of @step characters; the bytes into @out. */
static int decode(const char *text, size_t step, uint8_t *out, size_t *out_len)
{
    struct base64_stream s;
    struct base_err err;
    size_t len = strlen(text), n;
    int rv;
    base64_stream_init(&s);
    *out_len = 0;
    for (size_t i = 0; i < len; i += step) {
        size_t k = len - i < step ? len - i : step;
        if ((rv = base64_stream_feed(&s, text + i, k, out + *out_len, &n, &err)) != 0) {
            return rv;
        }
        *out_len += n;
    }
    rv = base64_stream_finish(&s, out + *out_len, &n, &err);
    *out_len += n;
    return rv;
}

static void any_split_matches_libsodium(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    for (size_t size = 0; size < 70; size++) {
        uint8_t data[70], out[80];
        char text[120];
        size_t n;
        for (size_t i = 0; i < size; i++) {
            data[i] = (uint8_t)(i * 37 + size);
        }
        sodium_bin2base64(text, sizeof text, data, size, sodium_base64_VARIANT_ORIGINAL);
        for (size_t step = 1; step <= 9; step++) {
            assert_int_equal(decode(text, step, out, &n), 0);
            assert_int_equal(n, size);
            assert_memory_equal(out, data, size);
        }
        /* Unpadded and URL-safe too. */
        sodium_bin2base64(text, sizeof text, data, size,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        assert_int_equal(decode(text, 3, out, &n), 0);
        assert_int_equal(n, size);
        assert_memory_equal(out, data, size);
    }
}

static void whitespace_is_ignored(void **state)
{
    uint8_t out[16];
    size_t n;
    (void)state;
    assert_int_equal(decode("SGVs\nbG8s\r\nIHdv cmxk\t", 2, out, &n), 0);
    assert_int_equal(n, 12);
    assert_memory_equal(out, "Hello, world", 12);
    assert_int_equal(decode("SGk=\n", 1, out, &n), 0);
    assert_int_equal(n, 2);
}

static void bad_texts_are_refused(void **state)
{
    static const char *const bad[] = {"ab$c", "a===", "=abc", "ab=c", "abc=d", "abcd=",
                                      "a", "abcde", "ab==a", "ab=", NULL};
    uint8_t out[16];
    size_t n;
    (void)state;
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_int_equal(decode(bad[i], 1, out, &n), BASE_EINVAL);
        assert_int_equal(decode(bad[i], 4, out, &n), BASE_EINVAL);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(any_split_matches_libsodium),
    cmocka_unit_test(whitespace_is_ignored),
    cmocka_unit_test(bad_texts_are_refused),
};

TESTLIB_MAIN("base64_stream", tests)
