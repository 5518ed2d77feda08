/* Matching of scanned invoices to the invoices a bill declares (DOMAIN.md "Matching"):
 * pure functions of the records, used by the state machine. */
#include "archive.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Parses a decimal amount ("12", "12.5", "-3.25") into cents; false when it is not one
 * (more than two decimals, stray characters, too large). */
bool archive_amount_cents(const char *s, int64_t *out)
{
    int64_t units = 0, cents = 0;
    int decimals = -1;
    bool negative = false, digits = false;
    if (s == NULL || *s == '\0') {
        return false;
    }
    if (*s == '-' || *s == '+') {
        negative = *s == '-';
        s++;
    }
    for (; *s != '\0'; s++) {
        if (*s == '.' && decimals < 0) {
            decimals = 0;
        } else if (*s >= '0' && *s <= '9') {
            digits = true;
            if (decimals < 0) {
                if (units > INT64_MAX / 1000) {
                    return false;
                }
                units = units * 10 + (*s - '0');
            } else if (++decimals <= 2) {
                cents = cents * 10 + (*s - '0');
            } else if (*s != '0') {
                return false; /* a fraction of a cent */
            }
        } else {
            return false;
        }
    }
    if (!digits) {
        return false;
    }
    if (decimals == 1) {
        cents *= 10;
    }
    *out = (negative ? -1 : 1) * (units * 100 + cents);
    return true;
}

/* The invoice's total: "total" when given, else amount plus tax. */
static bool total_cents(const Invoice *inv, int64_t *out)
{
    int64_t amount, tax;
    if (inv->total != NULL && inv->total[0] != '\0') {
        return archive_amount_cents(inv->total, out);
    }
    if (!archive_amount_cents(inv->amount, &amount)) {
        return false;
    }
    if (inv->tax == NULL || inv->tax[0] == '\0') {
        tax = 0;
    } else if (!archive_amount_cents(inv->tax, &tax)) {
        return false;
    }
    *out = amount + tax;
    return true;
}

static bool same_amount(const char *a, const char *b)
{
    int64_t x, y;
    return archive_amount_cents(a, &x) && archive_amount_cents(b, &y) && x == y;
}

static bool same_text(const char *a, const char *b)
{
    return a != NULL && b != NULL && a[0] != '\0' && strcmp(a, b) == 0;
}

/* A fully digitalised e-invoice (数电票) has no invoice code: its number, 20 digits,
 * says everything. Its codes compare equal when neither side has one; every other
 * invoice needs the same non-empty code. */
static bool digitalised(const char *number)
{
    return number != NULL && strlen(number) == 20 && strspn(number, "0123456789") == 20;
}

static bool same_code(const Invoice *declared, const Invoice *scanned)
{
    if (digitalised(declared->number) && (declared->code == NULL || declared->code[0] == '\0') &&
        (scanned->code == NULL || scanned->code[0] == '\0')) {
        return true;
    }
    return same_text(declared->code, scanned->code);
}

bool archive_invoices_match(const Invoice *declared, const Invoice *scanned, bool standard)
{
    int64_t t1, t2;
    if (declared == NULL || scanned == NULL || !same_text(declared->number, scanned->number) ||
        !total_cents(declared, &t1) || !total_cents(scanned, &t2) || t1 != t2) {
        return false;
    }
    if (!standard) {
        return true;
    }
    return same_code(declared, scanned) && same_text(declared->date, scanned->date) &&
           same_amount(declared->amount, scanned->amount) &&
           same_amount(declared->tax != NULL && declared->tax[0] != '\0' ? declared->tax : "0",
                       scanned->tax != NULL && scanned->tax[0] != '\0' ? scanned->tax : "0");
}

/* Which elements of @scanned differ from @declared, for a status reason. */
const char *archive_invoice_mismatch(const Invoice *declared, const Invoice *scanned,
                                     bool standard)
{
    int64_t t1, t2;
    if (!same_text(declared->number, scanned->number)) {
        return "number";
    }
    if (!total_cents(declared, &t1) || !total_cents(scanned, &t2) || t1 != t2) {
        return "total amount";
    }
    if (standard) {
        if (!same_code(declared, scanned)) {
            return "invoice code";
        }
        if (!same_text(declared->date, scanned->date)) {
            return "issue date";
        }
        if (!same_amount(declared->amount, scanned->amount)) {
            return "amount before tax";
        }
        if (!archive_invoices_match(declared, scanned, true)) {
            return "tax";
        }
    }
    return NULL;
}

json_t *archive_invoice_json(const Invoice *inv)
{
    if (inv == NULL) {
        return json_null();
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "number", inv->number, "code",
                     inv->code, "date", inv->date, "amount", inv->amount, "tax", inv->tax,
                     "total", inv->total, "seller_tax_no", inv->seller_tax_no, "buyer_tax_no",
                     inv->buyer_tax_no);
}
