/* The vendor kind's answers mapped onto the native shapes of migrate/source.h: a page
 * of the listing call, a bill's queryCover, and what a bill's list entry carries to
 * get_bill (source_vendor.h). Pure functions of the JSON they are given: the calls are
 * in source_vendor.c; the fuzz target reaches these directly. */
#include "migrate/source_vendor.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"

#define BILL_ID_MAX 200 /* a billId kept in a source_ref of at most 256 bytes */
#define TIME_MAX_MS 253402300799999ll /* 9999-12-31T23:59:59.999Z */

/* A numeric field given as a number or a string of digits; -1 otherwise. */
long long source_vendor_number(json_t *v)
{
    if (json_is_integer(v)) {
        return json_integer_value(v);
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return d >= 0 && d < 9e18 ? (long long)d : -1; /* NaN and the rest: none */
    }
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 20) {
        char *end;
        long long n = strtoll(json_string_value(v), &end, 10);
        return *end == '\0' ? n : -1;
    }
    return -1;
}

/* The vendor's createTime (that form, RFC 3339, or epoch milliseconds) as RFC 3339
 * UTC into @out (40 bytes); false when it is none of them. */
static bool created_time(json_t *v, char *out)
{
    long long ms = -1;
    if (json_is_integer(v)) {
        ms = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char t[40];
        if (strlen(s) == 19 && s[10] == ' ') {
            snprintf(t, sizeof t, "%.10sT%.8s+08:00", s, s + 11);
            ms = clock_parse_rfc3339(t);
        } else {
            ms = clock_parse_rfc3339(s);
        }
    }
    if (ms < 0 || ms > TIME_MAX_MS) {
        return false;
    }
    clock_format_rfc3339((uint64_t)ms, out, 40);
    return true;
}

/* A text field given as a string or a number ("" otherwise) into @buf (@size). */
static const char *text_of(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v)) {
        return json_string_value(v);
    }
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return "";
}

/* The vendor's imageStatus as imgarc's bill state: the inverse of the table of
 * api/vendor_bills.c (docs/integrators.md), with the vendor's own recognised (9) and
 * matched (10) read as submitted; deleted (11) and numbers without a known meaning
 * have none (docs/migration.md). */
static const struct {
    int number;
    const char *state;
} STATUS_STATES[] = {
    {0, "captured"},   {1, "submitted"},  {2, "ready"},          {3, "returned"},
    {4, "submitted"},  {5, "erp_failed"}, {9, "submitted"},      {10, "submitted"},
    {12, "pending_upload"}, {13, "erp_submitted"},
};

static const char *state_of_status(long long number)
{
    for (size_t i = 0; i < ARRAY_SIZE(STATUS_STATES); i++) {
        if (STATUS_STATES[i].number == number) {
            return STATUS_STATES[i].state;
        }
    }
    return NULL;
}

/* What a bill's list entry keeps for get_bill (the runner stores it as the bill's
 * source_ref): "v1:<imageStatus or ->:<created ms>:<billId>". */
static void make_ref(char *out, size_t size, long long status, long long created_ms,
                     const char *bill_id)
{
    if (status >= 0) {
        snprintf(out, size, "v1:%lld:%lld:%s", status, created_ms, bill_id);
    } else {
        snprintf(out, size, "v1:-:%lld:%s", created_ms, bill_id);
    }
}

/* Reads a source_ref of make_ref(); false when @ref is not one. */
static bool read_ref(const char *ref, long long *status, long long *created_ms,
                     const char **bill_id)
{
    char *end;
    if (ref == NULL || strncmp(ref, "v1:", 3) != 0) {
        return false;
    }
    ref += 3;
    if (*ref == '-') {
        *status = -1;
        end = (char *)ref + 1;
    } else {
        *status = strtoll(ref, &end, 10);
        if (end == ref) {
            return false;
        }
    }
    if (*end != ':') {
        return false;
    }
    ref = end + 1;
    *created_ms = strtoll(ref, &end, 10);
    if (end == ref || *end != ':') {
        return false;
    }
    *bill_id = end + 1;
    return true;
}

/* The extension of @name (lower case, at most 7 bytes) into @out, or "". */
static void extension_of(const char *name, char *out, size_t size)
{
    const char *dot = strrchr(name, '.');
    const char *q = dot != NULL ? dot + 1 : "";
    size_t n = 0;
    out[0] = '\0';
    if (dot == NULL || strchr(dot, '/') != NULL) {
        return;
    }
    for (; q[n] != '\0' && q[n] != '?' && q[n] != '#' && n + 1 < size && n < 7; n++) {
        if (!isalnum((unsigned char)q[n])) {
            out[0] = '\0';
            return;
        }
        out[n] = (char)tolower((unsigned char)q[n]);
    }
    out[n] = '\0';
    if (q[n] != '\0' && q[n] != '?' && q[n] != '#') {
        out[0] = '\0';
    }
}

/* The format of a vendor file: its name's or URL's extension, else fileType 1 "pdf";
 * "" when nothing says (the runner reads the content). */
static void format_of(json_t *f, const char *name, const char *url, char *out, size_t size)
{
    extension_of(name, out, size);
    if (out[0] == '\0') {
        extension_of(url, out, size);
    }
    if (strcmp(out, "jpeg") == 0) {
        snprintf(out, size, "jpg");
    } else if (strcmp(out, "tif") == 0) {
        snprintf(out, size, "tiff");
    }
    if (out[0] == '\0' && source_vendor_number(json_object_get(f, "fileType")) == 1) {
        snprintf(out, size, "pdf");
    }
}

/* The native invoice object of a vendor invoice entry (its "invoice" object when it is
 * one already, else its flat fields), or null. */
static json_t *invoice_of(json_t *f)
{
    static const char *const flat[][2] = {
        {"number", "invoiceNo"}, {"code", "invoiceCode"}, {"date", "invoiceDate"},
        {"amount", "amount"},    {"tax", "taxAmount"},    {"total", "totalAmount"},
    };
    json_t *inv = json_object_get(f, "invoice");
    json_t *o;
    bool any = false;
    if (json_is_object(inv)) {
        return json_incref(inv);
    }
    o = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(flat); i++) {
        char buf[24];
        const char *t = text_of(json_object_get(f, flat[i][1]), buf, sizeof buf);
        if (json_is_real(json_object_get(f, flat[i][1]))) {
            snprintf(buf, sizeof buf, "%.2f", json_real_value(json_object_get(f, flat[i][1])));
            t = buf;
        }
        json_object_set_new(o, flat[i][0], json_string(t));
        any = any || t[0] != '\0';
    }
    if (!any) {
        json_decref(o);
        return json_null();
    }
    json_object_set_new(o, "seller_tax_no", json_string(""));
    json_object_set_new(o, "buyer_tax_no", json_string(""));
    return o;
}

/* Appends the files of queryCover list @key (category @category) to @files; false
 * with @why when an entry is unusable. */
static bool map_files(json_t *data, const char *key, const char *category,
                      const char *image_no, json_t *files, char *why, size_t size)
{
    json_t *list = json_object_get(data, key), *f;
    size_t i;
    if (list == NULL || json_is_null(list)) {
        return true;
    }
    if (!json_is_array(list)) {
        snprintf(why, size, "POST /kapi/app/rim/queryCover: data.%s is not a list", key);
        return false;
    }
    json_array_foreach(list, i, f) {
        const char *url = json_string_value(json_object_get(f, "localUrl"));
        const char *name = NULL;
        const char *names[] = {"fileName", "attachmentName", "invoiceName", "coverNo"};
        char id[128], buf[24], format[8], fallback[96];
        long long pos = source_vendor_number(json_object_get(f, "serialNo"));
        json_t *file;
        if (url == NULL || url[0] == '\0') {
            snprintf(why, size, "POST /kapi/app/rim/queryCover: %s %zu has no localUrl", key,
                     i + 1);
            return false;
        }
        for (size_t n = 0; n < ARRAY_SIZE(names) && (name == NULL || name[0] == '\0'); n++) {
            name = json_string_value(json_object_get(f, names[n]));
        }
        format_of(f, name != NULL ? name : "", url, format, sizeof format);
        if (name == NULL || name[0] == '\0') {
            snprintf(fallback, sizeof fallback, "%s-%zu%s%s", category, i + 1,
                     format[0] != '\0' ? "." : "", format);
            name = fallback;
        }
        /* The source's id of the file when it gives one, else its place in the answer,
         * after the bill's image number: a vendor's file ids may be per bill. */
        if (text_of(json_object_get(f, "fileId"), buf, sizeof buf)[0] != '\0') {
            snprintf(id, sizeof id, "%.40s.%.50s", image_no,
                     text_of(json_object_get(f, "fileId"), buf, sizeof buf));
        } else {
            snprintf(id, sizeof id, "%.64s.%s-%zu", image_no, category, i + 1);
        }
        file = json_pack("{s:s, s:s, s:s, s:n, s:s, s:I, s:i, s:o, s:n, s:[], s:n, s:s}",
                         "file_id", id, "name", name, "format", format, "size", "category",
                         category, "position",
                         (json_int_t)(pos >= 0 ? pos : (long long)json_array_size(files) + 1),
                         "rotation", 0, "invoice",
                         strcmp(category, "invoice") == 0 ? invoice_of(f) : json_null(), "blob",
                         "parts", "merged_into", "source_url", url);
        json_array_append_new(files, file);
    }
    return true;
}


/* ---- The listing call's page ---- */

int source_vendor_map_list(json_t *data, const char *what, unsigned page, unsigned limit,
                           json_t **bills, char *next, char *why, size_t why_size)
{
    json_t *list = json_object_get(data, "bills");
    long long total = source_vendor_number(json_object_get(data, "total"));
    json_t *out, *b;
    size_t i;
    next[0] = '\0';
    if (!json_is_array(list)) {
        snprintf(why, why_size, "%s: the answer has no data.bills list", what);
        return BASE_EINVAL;
    }
    out = json_array();
    json_array_foreach(list, i, b) {
        const char *image_no = json_string_value(json_object_get(b, "scanBillNo"));
        long long status = source_vendor_number(json_object_get(b, "imageStatus"));
        const char *state = state_of_status(status);
        char created[40] = "", n1[24], n2[24], n3[24], n5[24], ref[300], raw[40];
        const char *bill_id = text_of(json_object_get(b, "billId"), n5, sizeof n5);
        json_t *entry;
        if (image_no == NULL || image_no[0] == '\0' || strlen(image_no) > 64) {
            snprintf(why, why_size, "%s: bill %zu of page %u has no scanBillNo of 1-64 bytes",
                     what, i + 1, page);
            json_decref(out);
            return BASE_EINVAL;
        }
        if (json_object_get(b, "createTime") != NULL &&
            !created_time(json_object_get(b, "createTime"), created)) {
            snprintf(why, why_size, "%s: bill %s: createTime is not \"yyyy-MM-dd HH:mm:ss\", "
                     "RFC 3339 or epoch milliseconds", what, image_no);
            json_decref(out);
            return BASE_EINVAL;
        }
        if (strlen(bill_id) > BILL_ID_MAX) {
            snprintf(why, why_size, "%s: bill %s: its billId is longer than %d bytes", what,
                     image_no, BILL_ID_MAX);
            json_decref(out);
            return BASE_EINVAL;
        }
        make_ref(ref, sizeof ref, status, created[0] != '\0' ? clock_parse_rfc3339(created) : 0,
                 bill_id);
        if (state == NULL) {
            raw[0] = '\0';
            if (status >= 0) {
                snprintf(raw, sizeof raw, "imageStatus %lld", status);
            }
            state = raw;
        }
        entry = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "image_no", image_no,
                          "bill_no", text_of(json_object_get(b, "billNo"), n1, sizeof n1),
                          "bill_type", text_of(json_object_get(b, "billType"), n2, sizeof n2),
                          "org", text_of(json_object_get(b, "orgCode"), n3, sizeof n3),
                          "state", state, "created",
                          created[0] != '\0' ? json_string(created) : json_null(),
                          "source_ref", ref);
        if (entry == NULL) {
            snprintf(why, why_size, "%s: bill %s: a field is not text", what, image_no);
            json_decref(out);
            return BASE_EINVAL;
        }
        json_array_append_new(out, entry);
    }
    /* More pages while this one was full and the total says there are more. */
    if (json_array_size(list) > 0 &&
        (total < 0 ? json_array_size(list) >= limit : (long long)page * limit < total)) {
        snprintf(next, 24, "%u", page + 1);
    }
    *bills = out;
    return 0;
}

/* ---- A bill ---- */

json_t *source_vendor_listed(const char *image_no, const json_t *listed)
{
    const char *keys[] = {"bill_no", "bill_type", "org"};
    const char *ref = json_string_value(json_object_get(listed, "source_ref"));
    const char *bill_id = NULL, *state = NULL;
    long long status = -1, created_ms = 0;
    json_t *o = json_object();
    char t[40];
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *x = json_string_value(json_object_get(listed, keys[i]));
        json_object_set_new(o, keys[i], json_string(x != NULL ? x : ""));
    }
    json_object_set_new(o, "image_no", json_string(image_no));
    if (read_ref(ref, &status, &created_ms, &bill_id)) {
        state = state_of_status(status);
        if (created_ms > 0 && created_ms <= TIME_MAX_MS) {
            clock_format_rfc3339((uint64_t)created_ms, t, sizeof t);
            json_object_set_new(o, "created", json_string(t));
        }
        if (state == NULL) {
            char why[200];
            if (status == 11) {
                snprintf(why, sizeof why, "bill %.64s is deleted at the source (imageStatus 11)",
                         image_no);
            } else {
                snprintf(why, sizeof why, "bill %.64s has imageStatus %lld at the source, which "
                         "has no imgarc state (docs/migration.md)", image_no, status);
            }
            json_object_set_new(o, "refused", json_string(why));
        }
    } else {
        /* Not listed by this kind: no state to say. */
        json_object_set_new(o, "refused",
                            json_string("the bill's list entry has no vendor source_ref (list "
                                        "the batch again)"));
    }
    json_object_set_new(o, "state", json_string(state != NULL ? state : ""));
    /* Without the vendor's bill id, its image number (imgarc's own queryCover takes
     * either). */
    json_object_set_new(o, "bill_id",
                        json_string(bill_id != NULL && bill_id[0] != '\0' ? bill_id : image_no));
    return o;
}

int source_vendor_map_bill(json_t *data, const json_t *listed, json_t **bill, char *why,
                           size_t why_size)
{
    const char *image_no = json_string_value(json_object_get(listed, "image_no"));
    const char *created = json_string_value(json_object_get(listed, "created"));
    json_t *files;
    if (!json_is_object(data)) {
        snprintf(why, why_size, "POST /kapi/app/rim/queryCover: the answer has no data");
        return BASE_EINVAL;
    }
    files = json_array();
    if (!map_files(data, "cover", "cover", image_no != NULL ? image_no : "", files, why,
                   why_size) ||
        !map_files(data, "attachment", "attachment", image_no != NULL ? image_no : "", files,
                   why, why_size) ||
        !map_files(data, "invoice", "invoice", image_no != NULL ? image_no : "", files, why,
                   why_size)) {
        json_decref(files);
        return BASE_EINVAL;
    }
    /* The ERP's id of the bill is its fbillId here, as erpBillPush would have set it. */
    *bill = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:o, s:O?, s:o, s:[]}", "image_no",
                      json_object_get(listed, "image_no"), "bill_no",
                      json_object_get(listed, "bill_no"), "bill_type",
                      json_object_get(listed, "bill_type"), "org",
                      json_object_get(listed, "org"), "state", json_object_get(listed, "state"),
                      "created", created != NULL ? json_string(created) : json_null(),
                      "fbill_id", json_object_get(listed, "bill_id"), "files", files, "log");
    if (*bill == NULL) {
        snprintf(why, why_size, "POST /kapi/app/rim/queryCover: the bill could not be made");
        return BASE_EINVAL;
    }
    return 0;
}
