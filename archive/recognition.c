/* The recognition hook's shared parts: the answer parser (untrusted input), the
 * validation of recognised invoice data that apply and the dispatcher share, the JSON
 * form of a file's recognition state, and the scan of the queue. The command is applied
 * in apply_recognition.c; the dispatcher is replication/recognizer.c. */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "archive/keys.h"
#include "base/clock.h"
#include "base/mem.h"
#include "base/utf8.h"

json_t *archive_recognition_json(const Recognition *r)
{
    json_t *j;
    char buf[40];
    if (r == NULL) {
        return json_null();
    }
    j = json_pack("{s:s, s:i, s:o, s:o}", "state", r->state, "attempts", (int)r->attempts,
                  "error", r->error[0] != '\0' ? json_string(r->error) : json_null(),
                  "http_status", r->http_status != 0 ? json_integer(r->http_status)
                                                      : json_null());
    clock_format_rfc3339(r->requested_ms, buf, sizeof buf);
    json_object_set_new(j, "requested", r->requested_ms != 0 ? json_string(buf) : json_null());
    clock_format_rfc3339(r->updated_ms, buf, sizeof buf);
    json_object_set_new(j, "updated", r->updated_ms != 0 ? json_string(buf) : json_null());
    clock_format_rfc3339(r->next_ms, buf, sizeof buf);
    json_object_set_new(j, "next_attempt", strcmp(r->state, "pending") == 0 && r->next_ms != 0
                                               ? json_string(buf)
                                               : json_null());
    return j;
}

bool archive_recognition_format(const char *format)
{
    static const char *const images[] = {"jpg", "jpeg", "png", "tif", "tiff", "bmp",
                                         "gif", "webp"};
    for (size_t i = 0; i < ARRAY_SIZE(images); i++) {
        if (strcasecmp(format, images[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether @s is a field value recognition may set. */
static bool field_ok(const char *s, bool amount)
{
    size_t n = strlen(s);
    int64_t cents;
    if (n > ARCHIVE_RECOGNITION_FIELD_MAX || !utf8_valid(s, n)) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return !amount || n == 0 || archive_amount_cents(s, &cents);
}

const char *archive_recognition_invoice_problem(const Invoice *inv)
{
    /* Static words only, the same on every node and thread. */
    const struct {
        const char *value;
        bool amount;
        const char *problem;
    } fields[] = {
        {inv->number, false, "invoice.number is too long or not printable text"},
        {inv->code, false, "invoice.code is too long or not printable text"},
        {inv->date, false, "invoice.date is too long or not printable text"},
        {inv->amount, true, "invoice.amount is not a decimal amount (like \"123.45\")"},
        {inv->tax, true, "invoice.tax is not a decimal amount (like \"123.45\")"},
        {inv->total, true, "invoice.total is not a decimal amount (like \"123.45\")"},
        {inv->seller_tax_no, false, "invoice.seller_tax_no is too long or not printable text"},
        {inv->buyer_tax_no, false, "invoice.buyer_tax_no is too long or not printable text"},
    };
    if (inv->number == NULL || inv->number[0] == '\0') {
        return "the invoice has no number";
    }
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        if (fields[i].value == NULL || !field_ok(fields[i].value, fields[i].amount)) {
            return fields[i].problem;
        }
    }
    return NULL;
}

void archive_recognition_invoice_clear(Invoice *inv)
{
    char **fields[] = {&inv->number,     &inv->code,         &inv->date,
                       &inv->amount,     &inv->tax,          &inv->total,
                       &inv->seller_tax_no, &inv->buyer_tax_no};
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        /* INVOICE__INIT's strings are protobuf-c's static "". */
        if (*fields[i] != protobuf_c_empty_string) {
            free(*fields[i]);
        }
    }
    invoice__init(inv);
}

int archive_recognition_answer(const char *body, size_t len, Invoice *out, char *why,
                               size_t why_size)
{
    static const char *const names[] = {"number", "code",  "date",          "amount",
                                        "tax",    "total", "seller_tax_no", "buyer_tax_no"};
    json_error_t jerr;
    json_t *root, *inv;
    Invoice tmp = INVOICE__INIT;
    char **slots[] = {&tmp.number, &tmp.code,  &tmp.date,          &tmp.amount,
                      &tmp.tax,    &tmp.total, &tmp.seller_tax_no, &tmp.buyer_tax_no};
    const char *problem;
    int rv = BASE_EINVAL;
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(why, why_size, "the answer is not JSON (line %d: %.80s)", jerr.line,
                 jerr.text);
        return BASE_EINVAL;
    }
    inv = json_object_get(root, "invoice");
    if (!json_is_object(root) || !json_is_object(inv)) {
        snprintf(why, why_size, "the answer has no \"invoice\" object");
        goto out;
    }
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        json_t *v = json_object_get(inv, names[i]);
        if (v == NULL || json_is_null(v)) {
            *slots[i] = xstrdup("");
        } else if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v)) {
            *slots[i] = xstrdup(json_string_value(v));
        } else {
            snprintf(why, why_size, "invoice.%s is not a string", names[i]);
            goto out;
        }
    }
    if ((problem = archive_recognition_invoice_problem(&tmp)) != NULL) {
        snprintf(why, why_size, "%s", problem);
        goto out;
    }
    *out = tmp;
    invoice__init(&tmp);
    rv = 0;
out:
    archive_recognition_invoice_clear(&tmp);
    json_decref(root);
    return rv;
}

int archive_scan_recognition(struct archive *a, const char *after_tenant,
                             const char *after_file, archive_recognition_cb cb, void *arg,
                             struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_RECOGNITION, "", 0);
    struct key start;
    int rv;
    key_pair(&start, after_tenant, after_file);
    for (rocks_iter_seek(it, start.buf, start.len); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen, vlen, tlen;
        const char *k = rocks_iter_key(it, &klen);
        const char *v = rocks_iter_value(it, &vlen);
        char tenant[KEY_MAX], file_id[KEY_MAX];
        if ((klen == start.len && memcmp(k, start.buf, klen) == 0) || vlen != 8 ||
            klen >= KEY_MAX) {
            continue; /* the one seen last, or not a queue entry */
        }
        tlen = strnlen(k, klen);
        if (tlen == klen) {
            continue;
        }
        memcpy(tenant, k, tlen);
        tenant[tlen] = '\0';
        memcpy(file_id, k + tlen + 1, klen - tlen - 1);
        file_id[klen - tlen - 1] = '\0';
        if (strlen(file_id) != klen - tlen - 1) {
            continue;
        }
        if (!cb(tenant, file_id, rocks_get_be64((const uint8_t *)v), arg)) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}
