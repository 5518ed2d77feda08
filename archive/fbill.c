/* The ERP's identity of a pool bill: validation of the identity fields a pool push
 * carries (shared by the API and apply), and the index from the ERP's bill id to the
 * image number (family fbill_ids, written by apply in the bill's own batch). */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* Printable ASCII without spaces: ERP ids are opaque (Kingdee EAS ids are base64,
 * with '+', '/' and '='), and a NUL would break the key layout. */
bool archive_valid_fbill_id(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > ARCHIVE_FBILL_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* Whether @s has at most @max characters, each a digit, a character of @extra or (with
 * @letters) an ASCII letter. */
static bool chars_in(const char *s, size_t max, bool letters, const char *extra)
{
    size_t n = strlen(s);
    if (n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((letters && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) ||
              (c >= '0' && c <= '9') ||
              (c != '\0' && strchr(extra, c) != NULL))) {
            return false;
        }
    }
    return true;
}

/* Text meant for people (names): any UTF-8 up to the limit, no control characters. */
static bool valid_text(const char *s)
{
    size_t n = strlen(s);
    if (n > ARCHIVE_POOL_TEXT_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

bool archive_pool_identity_valid(const PoolPush *p, char *msg, size_t size)
{
    if (p->fbill_id[0] != '\0' && !archive_valid_fbill_id(p->fbill_id)) {
        snprintf(msg, size, "fbill_id must be 1-%d printable ASCII characters without spaces",
                 ARCHIVE_FBILL_ID_MAX);
        return false;
    }
    if (!chars_in(p->source, ARCHIVE_SOURCE_MAX, true, "._-")) {
        snprintf(msg, size, "source must be at most %d characters of A-Z a-z 0-9 . _ - (e.g. "
                 "EAS)", ARCHIVE_SOURCE_MAX);
        return false;
    }
    if (!chars_in(p->submitter_phone, ARCHIVE_PHONE_MAX, false, "+- ()")) {
        snprintf(msg, size, "submitter_phone must be at most %d characters of 0-9 + - ( ) and "
                 "spaces", ARCHIVE_PHONE_MAX);
        return false;
    }
    /* A taxpayer number is a code (the unified social credit code: 18 letters and
     * digits; older ones 15 to 20). */
    if (!chars_in(p->tax_no, ARCHIVE_TAX_NO_MAX, true, "")) {
        snprintf(msg, size, "tax_no must be at most %d letters and digits",
                 ARCHIVE_TAX_NO_MAX);
        return false;
    }
    {
        const char *names[] = {"bill_type_name", "submitter_erp_name", "org_name"};
        const char *values[] = {p->bill_type_name, p->submitter_erp_name, p->org_name};
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
            if (!valid_text(values[i])) {
                snprintf(msg, size, "%s must be at most %d bytes without control characters",
                         names[i], ARCHIVE_POOL_TEXT_MAX);
                return false;
            }
        }
    }
    return true;
}

static void fbill_key(struct key *k, const char *tenant, const char *fbill_id)
{
    key_pair(k, tenant, fbill_id);
}

int archive_find_bill_by_fbill_id(struct archive *a, const char *tenant, const char *fbill_id,
                                  char image_no[ARCHIVE_IMAGE_NO_MAX + 1], struct base_err *err)
{
    struct key k;
    char *val = NULL;
    size_t vlen = 0;
    int rv;
    if (!archive_valid_tenant(tenant) || !archive_valid_fbill_id(fbill_id)) {
        return BASE_ENOTFOUND; /* no such id can have been indexed */
    }
    fbill_key(&k, tenant, fbill_id);
    rv = a->applying != NULL
             ? rocks_batch_get(a->applying, ARCHIVE_CF_FBILL_IDS, k.buf, k.len, &val, &vlen, err)
             : rocks_get(a->db, ARCHIVE_CF_FBILL_IDS, k.buf, k.len, &val, &vlen, err);
    if (rv != 0) {
        return rv;
    }
    if (vlen == 0 || vlen > ARCHIVE_IMAGE_NO_MAX || memchr(val, '\0', vlen) != NULL) {
        free(val);
        base_err_set(err, "fbill_ids record is corrupt");
        return BASE_ECORRUPT;
    }
    memcpy(image_no, val, vlen);
    image_no[vlen] = '\0';
    free(val);
    return 0;
}

int fbill_claim(struct txn *t, BillRecord *bill, const char *fbill_id)
{
    char other[ARCHIVE_IMAGE_NO_MAX + 1];
    struct key k;
    int rv;
    if (fbill_id[0] == '\0' || strcmp(bill->fbill_id, fbill_id) == 0) {
        return 0; /* nothing said, or nothing new */
    }
    if (bill->fbill_id[0] != '\0') {
        refuse(t, ARCHIVE_R_FBILL_CONFLICT,
               "bill %s has fbill_id '%.128s'; the ERP's id of a bill never changes (pushed "
               "'%.128s')",
               bill->image_no, bill->fbill_id, fbill_id);
        return 1;
    }
    rv = archive_find_bill_by_fbill_id(t->a, t->cmd->tenant, fbill_id, other, t->err);
    if (rv == 0 && strcmp(other, bill->image_no) != 0) {
        refuse(t, ARCHIVE_R_FBILL_CONFLICT,
               "fbill_id '%.128s' is the ERP id of bill %s already; one ERP bill has one "
               "image number",
               fbill_id, other);
        return 1;
    }
    if (rv != 0 && rv != BASE_ENOTFOUND) {
        return rv;
    }
    fbill_key(&k, t->cmd->tenant, fbill_id);
    rocks_batch_put(t->batch, ARCHIVE_CF_FBILL_IDS, k.buf, k.len, bill->image_no,
                    strlen(bill->image_no));
    return 0;
}
