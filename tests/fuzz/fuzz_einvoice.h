/* The checks shared by the e-invoice fuzz targets (fuzz_einvoice_xml.c, fuzz_ofd.c):
 * header-only, static functions. */
#ifndef IMGARC_TESTS_FUZZ_EINVOICE_H
#define IMGARC_TESTS_FUZZ_EINVOICE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/einvoice.h"

#define FUZZ_EINVOICE_UNTOUCHED 0x5a

static void fuzz_einvoice_field(const char *target, const char *name, const char *v,
                                bool amount)
{
    size_t n = strnlen(v, ARCHIVE_INVOICE_FIELD_MAX + 1);
    int64_t cents;
    bool bad = n > ARCHIVE_INVOICE_FIELD_MAX || (amount && n > 0 && !archive_amount_cents(v, &cents));
    for (size_t i = 0; i < n && !bad; i++) {
        bad = (unsigned char)v[i] < 0x20 || v[i] == 0x7f;
    }
    if (bad) {
        fprintf(stderr, "%s: field %s is not a valid value\n", target, name);
        abort();
    }
}

/* Aborts unless (@rv, *@e, @err) is an answer einvoice.h allows. */
static void fuzz_einvoice_check(const char *target, int rv, const struct einvoice *e,
                                const struct base_err *err)
{
    if (rv != 0) {
        struct einvoice untouched;
        memset(&untouched, FUZZ_EINVOICE_UNTOUCHED, sizeof untouched);
        if ((rv != BASE_ECORRUPT && rv != BASE_ETOOBIG) || err->msg[0] == '\0' ||
            memcmp(e, &untouched, sizeof untouched) != 0) {
            fprintf(stderr, "%s: rv=%d err=%s (output touched: %d)\n", target, rv, err->msg,
                    memcmp(e, &untouched, sizeof untouched) != 0);
            abort();
        }
        return;
    }
    if (e->layout == NULL ||
        (strcmp(e->layout, "einvoice-xml") != 0 && strcmp(e->layout, "fp-xml") != 0 &&
         strcmp(e->layout, "ofd") != 0) ||
        e->number[0] == '\0') {
        fprintf(stderr, "%s: accepted without a layout or a number\n", target);
        abort();
    }
    fuzz_einvoice_field(target, "number", e->number, false);
    fuzz_einvoice_field(target, "code", e->code, false);
    fuzz_einvoice_field(target, "date", e->date, false);
    fuzz_einvoice_field(target, "amount", e->amount, true);
    fuzz_einvoice_field(target, "tax", e->tax, true);
    fuzz_einvoice_field(target, "total", e->total, true);
    fuzz_einvoice_field(target, "seller_tax_no", e->seller_tax_no, false);
    fuzz_einvoice_field(target, "buyer_tax_no", e->buyer_tax_no, false);
}

#endif
