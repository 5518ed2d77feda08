/* Pure conversions of a source's answers into records. See import.h. */
#include "migrate/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/bill_state.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/mem.h"

const char *import_str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : "";
}

#define str import_str

void import_file_id(const char *datasource, const char *image_no, const char *id,
                    char out[ARCHIVE_ID_MAX + 1])
{
    uint8_t h[16];
    crypto_generichash_state st;
    if (archive_valid_tenant(id)) {
        snprintf(out, ARCHIVE_ID_MAX + 1, "%s", id);
        return;
    }
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)datasource, strlen(datasource) + 1);
    crypto_generichash_update(&st, (const uint8_t *)image_no, strlen(image_no) + 1);
    crypto_generichash_update(&st, (const uint8_t *)id, strlen(id));
    crypto_generichash_final(&st, h, sizeof h);
    out[0] = 'm';
    hex_encode(h, sizeof h, out + 1);
}

bool import_blob_of(const json_t *file, uint8_t out[32])
{
    const char *hex = json_string_value(json_object_get(file, "blob"));
    return hex != NULL && strlen(hex) == 64 && hex_decode(hex, out, 32);
}

const char *import_bill_problem(const json_t *bill, const char *image_no,
                                uint64_t file_bytes_max, char *why, size_t size)
{
    const json_t *files = json_object_get(bill, "files");
    enum bill_state st;
    const json_t *f;
    size_t i;
    if (strcmp(str(bill, "image_no"), image_no) != 0) {
        snprintf(why, size, "the source answered bill %.64s for %s", str(bill, "image_no"),
                 image_no);
        return why;
    }
    if (!bill_state_parse(str(bill, "state"), &st)) {
        snprintf(why, size, "the source's state '%.32s' is not a bill state here",
                 str(bill, "state"));
        return why;
    }
    if (files != NULL && !json_is_array(files)) {
        snprintf(why, size, "the source's files of the bill are not a list");
        return why;
    }
    if (json_array_size(files) > IMPORT_FILES_MAX) {
        snprintf(why, size, "the bill has %zu files, more than %d", json_array_size(files),
                 IMPORT_FILES_MAX);
        return why;
    }
    json_array_foreach(files, i, f) {
        json_int_t n = json_integer_value(json_object_get(f, "size"));
        const char *name = str(f, "name");
        const json_t *g;
        size_t j;
        if (str(f, "file_id")[0] == '\0' || name[0] == '\0' || strlen(name) > 255) {
            snprintf(why, size, "file %zu has no usable id or name", i + 1);
            return why;
        }
        if (!archive_valid_category(str(f, "category"))) {
            snprintf(why, size, "file %.64s has category '%.32s', which this archive does not "
                     "take", str(f, "file_id"), str(f, "category"));
            return why;
        }
        if (n < 0 || (file_bytes_max > 0 && (uint64_t)n > file_bytes_max)) {
            snprintf(why, size, "file %.64s is %lld bytes; this archive takes files of at most "
                     "%llu bytes (--body-max)", str(f, "file_id"), (long long)n,
                     (unsigned long long)file_bytes_max);
            return why;
        }
        if (strlen(str(f, "format")) > 16) {
            snprintf(why, size, "file %.64s has an unknown format", str(f, "file_id"));
            return why;
        }
        json_array_foreach(files, j, g) {
            if (j >= i) {
                break;
            }
            if (strcmp(str(g, "file_id"), str(f, "file_id")) == 0) {
                snprintf(why, size, "two files of the bill have the id %.64s",
                         str(f, "file_id"));
                return why;
            }
        }
    }
    return NULL;
}

static void set_invoice(Invoice **out, const json_t *j)
{
    Invoice *inv;
    if (!json_is_object(j) || str(j, "number")[0] == '\0') {
        *out = NULL;
        return;
    }
    inv = xmalloc(sizeof *inv);
    invoice__init(inv);
    inv->number = xstrdup(str(j, "number"));
    inv->code = xstrdup(str(j, "code"));
    inv->date = xstrdup(str(j, "date"));
    inv->amount = xstrdup(str(j, "amount"));
    inv->tax = xstrdup(str(j, "tax"));
    inv->total = xstrdup(str(j, "total"));
    inv->seller_tax_no = xstrdup(str(j, "seller_tax_no"));
    inv->buyer_tax_no = xstrdup(str(j, "buyer_tax_no"));
    *out = inv;
}

static uint64_t time_of(const json_t *o, const char *key)
{
    const char *t = json_string_value(json_object_get(o, key));
    int64_t ms = t != NULL ? clock_parse_rfc3339(t) : -1;
    return ms > 0 ? (uint64_t)ms : 0;
}

FileRecord *import_file_record(const json_t *f, const char *datasource, const char *image_no,
                               const uint8_t hash[32], uint64_t size, uint64_t check)
{
    FileRecord *r = xmalloc(sizeof *r);
    const json_t *parts = json_object_get(f, "parts");
    char id[ARCHIVE_ID_MAX + 1];
    const json_t *p;
    size_t i;
    json_int_t rotation = json_integer_value(json_object_get(f, "rotation"));
    json_int_t pages = json_integer_value(json_object_get(f, "pages"));
    file_record__init(r);
    import_file_id(datasource, image_no, str(f, "file_id"), id);
    r->file_id = xstrdup(id);
    r->image_no = xstrdup(image_no);
    r->name = xstrdup(str(f, "name"));
    r->format = xstrdup(str(f, "format"));
    r->size = size;
    r->pages = pages > 0 && pages <= UINT32_MAX ? (uint32_t)pages : 0;
    r->category = xstrdup(str(f, "category"));
    /* Quarter turns only: anything else is read as the quarter turn below it. */
    rotation = ((rotation % 360) + 360) % 360;
    r->rotation = (uint32_t)(rotation - rotation % 90);
    r->blob.data = xmalloc(32);
    memcpy(r->blob.data, hash, 32);
    r->blob.len = 32;
    set_invoice(&r->invoice, json_object_get(f, "invoice"));
    r->match = xstrdup(str(f, "match"));
    r->captured_by = xstrdup(str(f, "captured_by"));
    r->captured_ms = time_of(f, "captured_at");
    r->check = check;
    r->amended = json_is_true(json_object_get(f, "amended"));
    r->batch = xstrdup("");
    r->n_parts = json_is_array(parts) && json_array_size(parts) <= IMPORT_FILES_MAX
                     ? json_array_size(parts) : 0;
    r->parts = r->n_parts > 0 ? xcalloc(r->n_parts, sizeof *r->parts) : NULL;
    json_array_foreach(parts, i, p) {
        if (i >= r->n_parts) {
            break;
        }
        import_file_id(datasource, image_no, json_string_value(p) ?: "", id);
        r->parts[i] = xstrdup(id);
    }
    if (str(f, "merged_into")[0] != '\0') {
        import_file_id(datasource, image_no, str(f, "merged_into"), id);
        r->merged_into = xstrdup(id);
    } else {
        r->merged_into = xstrdup("");
    }
    return r;
}

BillRecord *import_bill_record(const json_t *b, const char *image_no)
{
    const json_t *invoices = json_object_get(b, "invoices");
    BillRecord *r = xmalloc(sizeof *r);
    json_int_t matched = json_integer_value(json_object_get(b, "invoices_matched"));
    const json_t *inv;
    size_t i;
    bill_record__init(r);
    r->image_no = xstrdup(image_no);
    r->bill_no = xstrdup(str(b, "bill_no"));
    r->bill_type = xstrdup(str(b, "bill_type"));
    r->org = xstrdup(str(b, "org"));
    r->submitter = xstrdup(str(b, "submitter"));
    r->amount = xstrdup(str(b, "amount"));
    r->currency = xstrdup(str(b, "currency"));
    r->state = xstrdup(str(b, "state"));
    r->in_pool = json_is_true(json_object_get(b, "in_pool"));
    r->created_ms = time_of(b, "created");
    r->updated_ms = time_of(b, "updated");
    r->mode = xstrdup(str(b, "mode"));
    r->match_level = xstrdup(str(b, "match_level"));
    r->invoices_matched = matched > 0 && matched <= UINT32_MAX ? (uint32_t)matched : 0;
    r->erp_error = xstrdup(str(b, "erp_error"));
    r->returned_reason = xstrdup(str(b, "returned_reason"));
    r->fbill_id = xstrdup(str(b, "fbill_id"));
    r->source = xstrdup(str(b, "source"));
    r->bill_type_name = xstrdup(str(b, "bill_type_name"));
    r->submitter_phone = xstrdup(str(b, "submitter_phone"));
    r->submitter_erp_name = xstrdup(str(b, "submitter_erp_name"));
    r->org_name = xstrdup(str(b, "org_name"));
    r->tax_no = xstrdup(str(b, "tax_no"));
    r->n_invoices = 0;
    r->invoices = xcalloc(json_array_size(invoices) + 1, sizeof *r->invoices);
    json_array_foreach(invoices, i, inv) {
        set_invoice(&r->invoices[r->n_invoices], inv);
        if (r->invoices[r->n_invoices] != NULL) {
            r->n_invoices++;
        }
    }
    return r;
}

void import_history(const json_t *bill, AuditRecord ***out, size_t *n)
{
    const json_t *log = json_object_get(bill, "log");
    size_t total = json_array_size(log) <= IMPORT_HISTORY_MAX ? json_array_size(log) : 0;
    AuditRecord **h = xcalloc(total + 1, sizeof *h);
    const json_t *e;
    size_t i, k = 0;
    json_array_foreach(log, i, e) {
        const json_t *d = json_object_get(e, "detail");
        json_int_t index = json_integer_value(json_object_get(e, "index"));
        char *detail;
        if (i >= total) {
            break;
        }
        if (strlen(str(e, "action")) == 0 || strlen(str(e, "action")) > 64 ||
            strlen(str(e, "operator")) > 128 || strlen(str(e, "request_id")) > 64) {
            continue; /* an entry this archive would not write: left out */
        }
        detail = d != NULL ? json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (detail != NULL && strlen(detail) > 16384) {
            free(detail);
            continue;
        }
        h[k] = xmalloc(sizeof *h[k]);
        audit_record__init(h[k]);
        h[k]->index = index > 0 ? (uint64_t)index : 0;
        h[k]->time_ms = time_of(e, "time");
        h[k]->action = xstrdup(str(e, "action"));
        h[k]->operator_ = xstrdup(str(e, "operator"));
        h[k]->request_id = xstrdup(str(e, "request_id"));
        h[k]->detail = detail != NULL ? detail : xstrdup("null");
        k++;
    }
    *out = h;
    *n = k;
}

void import_history_free(AuditRecord **h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        audit_record__free_unpacked(h[i], NULL);
    }
    free(h);
}
