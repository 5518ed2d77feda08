/* E-invoices read from their files (archive/einvoice.c) on the fixtures of
 * tests/fixtures/einvoice/ (make_fixtures.py there writes them): the fields of each
 * layout, and the hostile or broken files that must be refused with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zip.h>

#include "archive/einvoice.h"
#include "base/mem.h"
#include "tests/unit/archive/archive_fixture.h"

/* Reads fixture @name as @kind from its file and from memory; both must agree. Returns
 * the result, *@e filled on success; on failure *@e is checked untouched. */
static int read_fixture(const char *name, const char *kind, struct einvoice *e,
                        struct base_err *err)
{
    char *path = fx_fixture_path("einvoice", name);
    size_t len;
    char *data = fx_slurp(path, &len);
    struct einvoice mem;
    struct base_err err2 = {{0}};
    int rv, rv2;
    memset(e, 0x5a, sizeof *e);
    memset(&mem, 0x5a, sizeof mem);
    rv = einvoice_read_file(path, kind, e, err);
    rv2 = strcmp(kind, "xml") == 0 ? einvoice_parse_xml(data, len, &mem, &err2)
                                   : einvoice_parse_ofd(data, len, &mem, &err2);
    assert_int_equal(rv, rv2);
    if (rv == 0) {
        assert_memory_equal(e, &mem, sizeof mem);
    } else {
        struct einvoice untouched;
        memset(&untouched, 0x5a, sizeof untouched);
        assert_memory_equal(e, &untouched, sizeof untouched);
        assert_string_equal(err->msg, err2.msg);
        assert_true(strlen(err->msg) > 0);
    }
    free(data);
    free(path);
    return rv;
}

static void sdp_xml_fields_are_read(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    (void)state;
    assert_int_equal(read_fixture("sdp-invoice.xml", "xml", &e, &err), 0);
    assert_string_equal(e.layout, "einvoice-xml");
    assert_string_equal(e.number, "25312000000000001234");
    assert_string_equal(e.code, ""); /* a 数电票 has none */
    assert_string_equal(e.date, "2025-03-14");
    assert_string_equal(e.amount, "100.00");
    assert_string_equal(e.tax, "13.00");
    assert_string_equal(e.total, "113.00");
    assert_string_equal(e.seller_tax_no, "91310000MA1FL0XX1A");
    assert_string_equal(e.buyer_tax_no, "91110108MA00TEST2B");
}

static void earlier_xml_fields_are_read(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    (void)state;
    assert_int_equal(read_fixture("fp-invoice.xml", "xml", &e, &err), 0);
    assert_string_equal(e.layout, "fp-xml");
    assert_string_equal(e.number, "21010038");
    assert_string_equal(e.code, "044031900111");
    assert_string_equal(e.date, "2020-04-07");
    assert_string_equal(e.amount, "300.00");
    assert_string_equal(e.tax, "18.00");
    assert_string_equal(e.total, "318.00");
    assert_string_equal(e.seller_tax_no, "9111010807MGTEST02");
    assert_string_equal(e.buyer_tax_no, "91110108MA00TEST2B");
}

static void ofd_custom_data_is_read(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    (void)state;
    assert_int_equal(read_fixture("ofd-invoice.ofd", "ofd", &e, &err), 0);
    assert_string_equal(e.layout, "ofd");
    assert_string_equal(e.number, "25312000000000005678");
    assert_string_equal(e.date, "2025-03-15");
    assert_string_equal(e.amount, "200.00");
    assert_string_equal(e.tax, "26.00");
    assert_string_equal(e.total, "226.00");
    assert_string_equal(e.seller_tax_no, "91310000MA1FL0XX1A");
    assert_string_equal(e.buyer_tax_no, "91110108MA00TEST2B");
}

static void ofd_attached_original_is_read(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    (void)state;
    assert_int_equal(read_fixture("ofd-attached.ofd", "ofd", &e, &err), 0);
    assert_string_equal(e.layout, "ofd");
    assert_string_equal(e.number, "25312000000000009012");
    assert_string_equal(e.total, "56.50");
    assert_string_equal(e.amount, "50.00");
    assert_string_equal(e.tax, "6.50");
    assert_string_equal(e.seller_tax_no, "91310000MA1FL0XX1A");
}

static void billion_laughs_is_refused_unexpanded(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    clock_t t0 = clock();
    (void)state;
    assert_int_equal(read_fixture("billion-laughs.xml", "xml", &e, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "DTD"));
    assert_true(clock() - t0 < CLOCKS_PER_SEC); /* nothing was expanded */
}

static void external_entity_is_refused(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    (void)state;
    assert_int_equal(read_fixture("xxe.xml", "xml", &e, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "DTD"));
    assert_null(strstr(err.msg, "root:")); /* /etc/passwd was not read */
}

static void zip_bombs_are_refused_uninflated(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    (void)state;
    assert_int_equal(read_fixture("bomb.ofd", "ofd", &e, &err), BASE_ETOOBIG);
    assert_non_null(strstr(err.msg, "OFD.xml"));
    /* Its headers say 1,000 bytes: read through the cap, refused at the 1,001st. */
    assert_true(read_fixture("bomb-lying.ofd", "ofd", &e, &err) < 0);
    assert_non_null(strstr(err.msg, "OFD.xml"));
}

static void too_many_entries_are_refused(void **state)
{
    const char *dir = testlib_tmpdir();
    char *path = xasprintf("%s/many.ofd", dir);
    struct einvoice e;
    struct base_err err = {{0}};
    int code;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    (void)state;
    assert_non_null(za);
    for (int i = 0; i <= EINVOICE_ZIP_ENTRIES_MAX; i++) {
        char name[32];
        zip_source_t *src = zip_source_buffer(za, "", 0, 0);
        snprintf(name, sizeof name, "%s%d", i == 0 ? "OFD.xml" : "e", i == 0 ? 0 : i);
        assert_non_null(src);
        assert_true(zip_file_add(za, i == 0 ? "OFD.xml" : name, src, 0) >= 0);
    }
    assert_int_equal(zip_close(za), 0);
    assert_int_equal(einvoice_read_file(path, "ofd", &e, &err), BASE_ETOOBIG);
    assert_non_null(strstr(err.msg, "entries"));
    free(path);
}

static void missing_parts_are_refused(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    (void)state;
    assert_int_equal(read_fixture("no-ofd-xml.ofd", "ofd", &e, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "no OFD.xml"));
    assert_int_equal(read_fixture("no-data.ofd", "ofd", &e, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "no invoice data"));
    assert_int_equal(read_fixture("truncated.ofd", "ofd", &e, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "zip"));
    assert_int_equal(read_fixture("not-invoice.xml", "xml", &e, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "not an e-invoice"));
    /* An XML is not an OFD, nor an OFD an XML. */
    assert_int_equal(read_fixture("sdp-invoice.xml", "ofd", &e, &err), BASE_ECORRUPT);
    assert_int_equal(read_fixture("ofd-invoice.ofd", "xml", &e, &err), BASE_ECORRUPT);
    assert_int_equal(einvoice_parse_xml("", 0, &e, &err), BASE_ECORRUPT);
    assert_int_equal(einvoice_parse_ofd("", 0, &e, &err), BASE_ECORRUPT);
    assert_int_equal(einvoice_read_file("/nonexistent/x.xml", "xml", &e, &err), BASE_EIO);
    assert_int_equal(einvoice_read_file("/nonexistent/x.ofd", "ofd", &e, &err), BASE_ECORRUPT);
    assert_int_equal(einvoice_read_file("/nonexistent/x.pdf", "pdf", &e, &err), BASE_EINVAL);
}

static int parse(const char *xml, struct einvoice *e, struct base_err *err)
{
    return einvoice_parse_xml(xml, strlen(xml), e, err);
}

static void bad_values_are_refused(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    char *big = xmalloc(EINVOICE_XML_MAX + 1);
    (void)state;
    assert_int_equal(parse("<EInvoice><Header><EIid>1</EIid></Header><EInvoiceData>"
                           "<BasicInformation><TotalTaxAm>1,000.00</TotalTaxAm>"
                           "</BasicInformation></EInvoiceData></EInvoice>",
                           &e, &err),
                     BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "TotalTaxAm"));
    assert_int_equal(parse("<EInvoice><Header><EIid>"
                           "12345678901234567890123456789012345678901234567890123456789012345"
                           "</EIid></Header></EInvoice>",
                           &e, &err),
                     BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "EIid"));
    assert_int_equal(parse("<EInvoice><Header><EIid><b>1</b></EIid></Header></EInvoice>", &e,
                           &err),
                     BASE_ECORRUPT);
    assert_int_equal(parse("<EInvoice><Header><EIid>1&#x1;</EIid></Header></EInvoice>", &e,
                           &err),
                     BASE_ECORRUPT);
    assert_int_equal(parse("<EInvoice><Header/></EInvoice>", &e, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "no invoice number"));
    assert_int_equal(parse("<EInvoice><Header><EIid>1</EIid></Header>", &e, &err),
                     BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "not well-formed"));
    memset(big, ' ', EINVOICE_XML_MAX + 1);
    assert_int_equal(einvoice_parse_xml(big, EINVOICE_XML_MAX + 1, &e, &err), BASE_ETOOBIG);
    free(big);
}

static void dates_and_fallbacks(void **state)
{
    struct einvoice e;
    struct base_err err = {{0}};
    (void)state;
    /* No TaxSupervisionInfo: EIid is the number, RequestTime the date. */
    assert_int_equal(parse("<EInvoice><Header><EIid> 2531 </EIid></Header><EInvoiceData>"
                           "<BasicInformation><RequestTime>20250102093000</RequestTime>"
                           "</BasicInformation></EInvoiceData></EInvoice>",
                           &e, &err),
                     0);
    assert_string_equal(e.number, "2531");
    assert_string_equal(e.date, "2025-01-02");
    assert_string_equal(e.total, "");
    assert_int_equal(parse("<EInvoice><Header><EIid>1</EIid></Header><TaxSupervisionInfo>"
                           "<InvoiceNumber>2</InvoiceNumber><IssueTime>2025年1月6日</IssueTime>"
                           "</TaxSupervisionInfo></EInvoice>",
                           &e, &err),
                     0);
    assert_string_equal(e.number, "2"); /* TaxSupervisionInfo first, wherever it is */
    assert_string_equal(e.date, "2025-01-06");
    assert_int_equal(parse("<EInvoice><TaxSupervisionInfo><InvoiceNumber>3</InvoiceNumber>"
                           "<IssueTime>next Tuesday</IssueTime></TaxSupervisionInfo>"
                           "</EInvoice>",
                           &e, &err),
                     0);
    assert_string_equal(e.date, "next Tuesday"); /* kept as written */
}

static void kind_follows_the_format(void **state)
{
    (void)state;
    assert_string_equal(einvoice_kind("xml", (const uint8_t *)"<?xml", 5), "xml");
    assert_string_equal(einvoice_kind("ofd", (const uint8_t *)"PK\3\4", 4), "ofd");
    assert_string_equal(einvoice_kind("bin", (const uint8_t *)"PK\3\4", 4), "ofd");
    assert_null(einvoice_kind("docx", (const uint8_t *)"PK\3\4", 4));
    assert_null(einvoice_kind("pdf", (const uint8_t *)"%PDF", 4));
    assert_null(einvoice_kind("bin", (const uint8_t *)"PK", 2));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sdp_xml_fields_are_read),
    cmocka_unit_test(earlier_xml_fields_are_read),
    cmocka_unit_test(ofd_custom_data_is_read),
    cmocka_unit_test(ofd_attached_original_is_read),
    cmocka_unit_test(billion_laughs_is_refused_unexpanded),
    cmocka_unit_test(external_entity_is_refused),
    cmocka_unit_test(zip_bombs_are_refused_uninflated),
    cmocka_unit_test(too_many_entries_are_refused),
    cmocka_unit_test(missing_parts_are_refused),
    cmocka_unit_test(bad_values_are_refused),
    cmocka_unit_test(dates_and_fallbacks),
    cmocka_unit_test(kind_follows_the_format),
};

TESTLIB_MAIN("archive/einvoice", tests)
