/* License documents: signing, verification, tampering, keys, modes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "archive/license.h"
#include "tests/lib/testlib.h"

static uint8_t pk[LICENSE_PUBLIC_KEY_BYTES], sk[LICENSE_SECRET_KEY_BYTES];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) {
        return -1;
    }
    license_keygen(pk, sk);
    return 0;
}

static struct license sample(void)
{
    struct license l = {.issued_ms = 1767225600000ull,  /* 2026-01-01 */
                        .expires_ms = 1798761600000ull, /* 2027-01-01 */
                        .quota_bytes = 5000,
                        .max_files = 7,
                        .modes = LICENSE_MODE_BASIC | LICENSE_MODE_MATCH};
    snprintf(l.license_id, sizeof l.license_id, "lic-1");
    snprintf(l.tenant, sizeof l.tenant, "acme");
    return l;
}

static void signed_license_verifies_and_round_trips(void **state)
{
    struct license in = sample(), out;
    struct base_err err;
    char *doc = license_sign(&in, sk);
    (void)state;
    assert_int_equal(license_verify(doc, strlen(doc), &pk, 1, &out, &err), 0);
    assert_string_equal(out.license_id, "lic-1");
    assert_string_equal(out.tenant, "acme");
    assert_int_equal(out.issued_ms, in.issued_ms);
    assert_int_equal(out.expires_ms, in.expires_ms);
    assert_int_equal(out.quota_bytes, 5000);
    assert_int_equal(out.max_files, 7);
    assert_int_equal(out.modes, LICENSE_MODE_BASIC | LICENSE_MODE_MATCH);
    free(doc);
}

static void tampered_payload_is_refused(void **state)
{
    struct license in = sample(), out = {.quota_bytes = 42};
    struct base_err err;
    char *doc = license_sign(&in, sk);
    char *q = strstr(doc, "5000");
    (void)state;
    assert_non_null(q);
    q[0] = '9'; /* a bigger quota, same signature */
    assert_int_equal(license_verify(doc, strlen(doc), &pk, 1, &out, &err), BASE_EINVAL);
    assert_non_null(strstr(err.msg, "signature"));
    assert_int_equal(out.quota_bytes, 42); /* untouched on failure */
    free(doc);
}

static void other_key_is_refused_and_any_trusted_key_accepted(void **state)
{
    uint8_t keys[2][LICENSE_PUBLIC_KEY_BYTES], other_sk[LICENSE_SECRET_KEY_BYTES];
    struct license in = sample(), out;
    struct base_err err;
    char *doc;
    (void)state;
    license_keygen(keys[0], other_sk);
    doc = license_sign(&in, other_sk);
    assert_int_equal(license_verify(doc, strlen(doc), &pk, 1, &out, &err), BASE_EINVAL);
    memcpy(keys[1], pk, sizeof pk);
    assert_int_equal(license_verify(doc, strlen(doc), (const uint8_t(*)[32])keys, 2, &out,
                                    &err), 0);
    assert_int_equal(license_verify(doc, strlen(doc), NULL, 0, &out, &err), BASE_EINVAL);
    assert_non_null(strstr(err.msg, "trusts no license key"));
    free(doc);
}

static void malformed_documents_are_refused(void **state)
{
    const char *bad[] = {
        "", "not json", "[]", "{\"payload\": 1, \"signature\": \"x\"}",
        "{\"payload\": \"{}\"}", "{\"payload\": \"{}\", \"signature\": \"!!!\"}",
    };
    struct license out;
    struct base_err err;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(license_verify(bad[i], strlen(bad[i]), &pk, 1, &out, &err),
                         BASE_EINVAL);
    }
}

static void expiry_before_issue_is_refused(void **state)
{
    struct license in = sample(), out;
    struct base_err err;
    char *doc;
    (void)state;
    in.expires_ms = in.issued_ms;
    doc = license_sign(&in, sk);
    assert_int_equal(license_verify(doc, strlen(doc), &pk, 1, &out, &err), BASE_EINVAL);
    assert_non_null(strstr(err.msg, "expires"));
    free(doc);
}

static void modes_parse_and_format(void **state)
{
    unsigned m;
    char buf[32];
    (void)state;
    assert_int_equal(license_modes_parse("basic,match", &m), 0);
    assert_int_equal(m, LICENSE_MODE_BASIC | LICENSE_MODE_MATCH);
    license_modes_format(m, buf, sizeof buf);
    assert_string_equal(buf, "basic,match");
    assert_int_equal(license_modes_parse("basic,gold", &m), -1);
    assert_int_equal(license_modes_parse("", &m), -1);
}

static void key_files_round_trip_and_refuse_overwrite(void **state)
{
    const char *dir = testlib_tmpdir();
    char path[4096];
    uint8_t got[LICENSE_SECRET_KEY_BYTES];
    struct base_err err;
    struct stat st;
    (void)state;
    snprintf(path, sizeof path, "%s/license.key", dir);
    assert_int_equal(license_write_key(path, sk, sizeof sk, 0600, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(license_read_key(path, got, sizeof got, &err), 0);
    assert_memory_equal(got, sk, sizeof sk);
    assert_int_equal(license_write_key(path, sk, sizeof sk, 0600, &err), BASE_EEXISTS);
    /* A public key file is not a secret key. */
    assert_int_equal(license_read_key(path, got, LICENSE_PUBLIC_KEY_BYTES, &err), BASE_EINVAL);
    testlib_rm_rf(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(signed_license_verifies_and_round_trips, setup),
    cmocka_unit_test_setup(tampered_payload_is_refused, setup),
    cmocka_unit_test_setup(other_key_is_refused_and_any_trusted_key_accepted, setup),
    cmocka_unit_test_setup(malformed_documents_are_refused, setup),
    cmocka_unit_test_setup(expiry_before_issue_is_refused, setup),
    cmocka_unit_test_setup(modes_parse_and_format, setup),
    cmocka_unit_test_setup(key_files_round_trip_and_refuse_overwrite, setup),
};

TESTLIB_MAIN("license", tests)
