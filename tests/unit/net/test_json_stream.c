/* The streaming JSON object scanner: fields in any order, a streamed string handed over
 * unescaped whatever the split, short fields collected, others skipped; bad JSON and
 * over-long fields refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/json_stream.h"
#include "tests/lib/testlib.h"

struct seen {
    char collected[512];
    char streamed[512];
    size_t streamed_len;
    int ends;
};

static enum json_stream_mode member(void *arg, const char *key)
{
    (void)arg;
    if (strcmp(key, "base64") == 0) {
        return JSON_STREAM_STREAM;
    }
    return strncmp(key, "skip", 4) == 0 ? JSON_STREAM_SKIP : JSON_STREAM_COLLECT;
}

static int value(void *arg, const char *key, enum json_stream_kind kind, const char *text,
                 size_t len)
{
    struct seen *s = arg;
    size_t n = strlen(s->collected);
    (void)len;
    snprintf(s->collected + n, sizeof s->collected - n, "%s=%d:%s;", key, (int)kind, text);
    return 0;
}

static int chunk(void *arg, const char *key, const char *data, size_t len, bool end)
{
    struct seen *s = arg;
    assert_string_equal(key, "base64");
    assert_true(s->streamed_len + len < sizeof s->streamed);
    memcpy(s->streamed + s->streamed_len, data, len);
    s->streamed_len += len;
    s->ends += end;
    return 0;
}

/* Scans @text in pieces of @step bytes. */
static int scan(const char *text, size_t step, struct seen *s)
{
    struct json_stream js;
    struct json_stream_cbs cbs = {member, value, chunk, s};
    struct base_err err;
    size_t len = strlen(text);
    int rv;
    memset(s, 0, sizeof *s);
    json_stream_init(&js, &cbs);
    for (size_t i = 0; i < len; i += step) {
        if ((rv = json_stream_feed(&js, text + i, len - i < step ? len - i : step, &err)) != 0) {
            return rv;
        }
    }
    return json_stream_finish(&js, &err);
}

static void fields_in_any_order_and_any_split(void **state)
{
    static const char body[] =
        " {\"fileType\": \"cover\", \"skipme\": {\"a\": [1, \"]}\", {}]}, \"base64\": "
        "\"QU\\/J\\nD\\u0041\", \"n\": -1.5e3, \"ok\": true, \"no\": null, "
        "\"uni\": \"\\u00e9\\ud83d\\ude00\"} \n";
    (void)state;
    for (size_t step = 1; step <= sizeof body; step++) {
        struct seen s;
        assert_int_equal(scan(body, step, &s), 0);
        assert_string_equal(s.collected,
                            "fileType=0:cover;n=1:-1.5e3;ok=2:true;no=4:null;"
                            "uni=0:\xc3\xa9\xf0\x9f\x98\x80;");
        assert_int_equal(s.streamed_len, 7);
        assert_memory_equal(s.streamed, "QU/J\nDA", 7);
        assert_int_equal(s.ends, 1);
    }
}

static void bad_json_is_refused(void **state)
{
    static const char *const bad[] = {
        "", "[]", "{", "{\"a\" 1}", "{\"a\": 1,}", "{\"a\": tru}", "{\"a\": 01}",
        "{\"a\": \"x\ny\"}", "{\"a\": \"\\q\"}", "{\"a\": \"\\ud800\"}", "{\"a\": \"\\udc00\"}",
        "{\"a\": 1} x", "{\"base64\": 5}", "{\"a\": \"\\u12g4\"}", "{\"a\": 1 \"b\": 2}",
        NULL};
    struct seen s;
    (void)state;
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_int_equal(scan(bad[i], 1, &s), BASE_EINVAL);
        assert_int_equal(scan(bad[i], 100, &s), BASE_EINVAL);
    }
}

static void long_fields_are_refused_but_skipped_ones_are_not(void **state)
{
    size_t n = JSON_STREAM_VALUE_MAX + 100;
    char *body = malloc(n + 64);
    struct seen s;
    (void)state;
    memcpy(body, "{\"a\": \"", 7);
    memset(body + 7, 'x', n);
    strcpy(body + 7 + n, "\"}");
    assert_int_equal(scan(body, 1000, &s), BASE_ETOOBIG);
    memcpy(body, "{\"skip\": \"", 10);
    memset(body + 10, 'x', n - 3);
    assert_int_equal(scan(body, 1000, &s), 0);
    free(body);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(fields_in_any_order_and_any_split),
    cmocka_unit_test(bad_json_is_refused),
    cmocka_unit_test(long_fields_are_refused_but_skipped_ones_are_not),
};

TESTLIB_MAIN("json_stream", tests)
