/* Matching rules: amounts and the elements normal and standard matching compare. */
#include <string.h>

#include "archive/archive.h"
#include "tests/lib/testlib.h"

static void amounts_parse_to_cents(void **state)
{
    static const struct {
        const char *s;
        bool ok;
        int64_t cents;
    } cases[] = {
        {"12", true, 1200},     {"12.5", true, 1250},  {"12.50", true, 1250},
        {"12.500", true, 1250}, {"0.01", true, 1},     {"-3.2", true, -320},
        {"+7", true, 700},      {".5", true, 50},      {"12.345", false, 0},
        {"", false, 0},         {"abc", false, 0},     {"1.2.3", false, 0},
        {"-", false, 0},        {".", false, 0},       {"1e3", false, 0},
        {"99999999999999999999", false, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = -1;
        bool ok = archive_amount_cents(cases[i].s, &v);
        if (ok != cases[i].ok || (ok && v != cases[i].cents)) {
            fail_msg("'%s': ok=%d cents=%lld", cases[i].s, ok, (long long)v);
        }
    }
}

static void init(Invoice *i, char *number, char *code, char *date, char *amount, char *tax,
                 char *total)
{
    invoice__init(i);
    i->number = number;
    i->code = code;
    i->date = date;
    i->amount = amount;
    i->tax = tax;
    i->total = total;
}

static void normal_compares_number_and_total(void **state)
{
    Invoice d, s;
    (void)state;
    init(&d, "0440", "044", "2026-11-01", "100.00", "13.00", "");
    init(&s, "0440", "999", "2020-01-01", "", "", "113");
    assert_true(archive_invoices_match(&d, &s, false)); /* total given vs amount + tax */
    assert_false(archive_invoices_match(&d, &s, true));
    assert_string_equal(archive_invoice_mismatch(&d, &s, true), "invoice code");
    s.total = "113.01";
    assert_false(archive_invoices_match(&d, &s, false));
    assert_string_equal(archive_invoice_mismatch(&d, &s, false), "total amount");
    s.total = "113";
    s.number = "0441";
    assert_false(archive_invoices_match(&d, &s, false));
    assert_string_equal(archive_invoice_mismatch(&d, &s, false), "number");
    s.number = "";
    d.number = "";
    assert_false(archive_invoices_match(&d, &s, false)); /* no number, no match */
}

static void standard_compares_every_element(void **state)
{
    Invoice d, s;
    (void)state;
    init(&d, "0440", "044", "2026-11-01", "100", "13", "");
    init(&s, "0440", "044", "2026-11-01", "100.00", "13.0", "113.00");
    assert_true(archive_invoices_match(&d, &s, true));
    assert_null(archive_invoice_mismatch(&d, &s, true));
    s.date = "2026-11-02";
    assert_string_equal(archive_invoice_mismatch(&d, &s, true), "issue date");
    s.date = "2026-11-01";
    s.amount = "101";
    s.total = "";
    s.tax = "12";
    assert_false(archive_invoices_match(&d, &s, true)); /* same total, other split */
    assert_true(archive_invoices_match(&d, &s, false));
    assert_string_equal(archive_invoice_mismatch(&d, &s, true), "amount before tax");
}

/* A 数电票 has a 20-digit number and no code: standard matching compares the rest. An
 * older invoice without a code on either side still fails on the code. */
static void standard_digitalised_invoice_has_no_code(void **state)
{
    Invoice d, s;
    (void)state;
    init(&d, "25442000000012345678", "", "2026-11-01", "100", "13", "");
    init(&s, "25442000000012345678", "", "2026-11-01", "100.00", "13.00", "113.00");
    assert_true(archive_invoices_match(&d, &s, true));
    assert_null(archive_invoice_mismatch(&d, &s, true));
    s.code = "044";
    assert_false(archive_invoices_match(&d, &s, true));
    assert_string_equal(archive_invoice_mismatch(&d, &s, true), "invoice code");
    init(&d, "04400001", "", "2026-11-01", "100", "13", "");
    init(&s, "04400001", "", "2026-11-01", "100", "13", "");
    assert_false(archive_invoices_match(&d, &s, true));
    assert_string_equal(archive_invoice_mismatch(&d, &s, true), "invoice code");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(amounts_parse_to_cents),
    cmocka_unit_test(normal_compares_number_and_total),
    cmocka_unit_test(standard_compares_every_element),
    cmocka_unit_test(standard_digitalised_invoice_has_no_code),
};

TESTLIB_MAIN("archive/match", tests)
