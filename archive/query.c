/* Reads of the local metadata store, and the validation rules shared with the API. */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/access.h"
#include "archive/keys.h"
#include "storage/snapshot.h"
#include "base/hex.h"
#include "base/mem.h"

static bool valid_id(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    /* "." and ".." are path tricks, not identifiers. */
    return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

bool archive_valid_image_no(const char *s)
{
    return s != NULL && valid_id(s, ARCHIVE_IMAGE_NO_MAX);
}

bool archive_valid_tenant(const char *s)
{
    return s != NULL && valid_id(s, ARCHIVE_ID_MAX);
}

bool archive_builtin_category(const char *s)
{
    return strcmp(s, "cover") == 0 || strcmp(s, "invoice") == 0 ||
           strcmp(s, "attachment") == 0;
}

bool archive_valid_category(const char *s)
{
    return archive_builtin_category(s) ||
           (strlen(s) <= ARCHIVE_CATEGORY_MAX && archive_valid_tenant(s));
}

const char *archive_status_name(enum archive_status status)
{
    switch (status) {
    case ARCHIVE_OK:
        return "ok";
    case ARCHIVE_R_INVALID:
        return "invalid_command";
    case ARCHIVE_R_BILL_NOT_FOUND:
        return "bill_not_found";
    case ARCHIVE_R_FILE_NOT_FOUND:
        return "file_not_found";
    case ARCHIVE_R_BILL_EMPTY:
        return "bill_empty";
    case ARCHIVE_R_INVALID_STATE:
        return "invalid_state";
    case ARCHIVE_R_IDEM_CONFLICT:
        return "idempotency_conflict";
    case ARCHIVE_R_INVALID_CATEGORY:
        return "invalid_category";
    case ARCHIVE_R_TENANT_NOT_FOUND:
        return "tenant_not_found";
    case ARCHIVE_R_TENANT_EXISTS:
        return "tenant_exists";
    case ARCHIVE_R_LICENSE:
        return "license_expired";
    case ARCHIVE_R_QUOTA_BYTES:
        return "quota_exceeded";
    case ARCHIVE_R_QUOTA_FILES:
        return "file_quota_exceeded";
    case ARCHIVE_R_LICENSE_SUPERSEDED:
        return "license_superseded";
    case ARCHIVE_R_LICENSE_INVALID:
        return "license_invalid";
    case ARCHIVE_R_CLIENT_EXISTS:
        return "client_exists";
    case ARCHIVE_R_CLIENT_NOT_FOUND:
        return "client_not_found";
    case ARCHIVE_R_DATASOURCE_NOT_FOUND:
        return "datasource_not_found";
    case ARCHIVE_R_DATASOURCE_EXISTS:
        return "datasource_exists";
    case ARCHIVE_R_DATASOURCE_IN_USE:
        return "datasource_in_use";
    case ARCHIVE_R_MIGRATION_NOT_FOUND:
        return "migration_not_found";
    case ARCHIVE_R_MIGRATION_EXISTS:
        return "migration_exists";
    case ARCHIVE_R_SYNC_NOT_FOUND:
        return "sync_not_found";
    case ARCHIVE_R_ENTRY_FULL:
        return "entry_full";
    case ARCHIVE_R_LAST_ADMIN:
        return "last_admin";
    case ARCHIVE_R_ROLE_IN_USE:
        return "role_in_use";
    case ARCHIVE_R_USER_EXISTS:
        return "user_exists";
    case ARCHIVE_R_USER_NOT_FOUND:
        return "user_not_found";
    case ARCHIVE_R_ROLE_EXISTS:
        return "role_exists";
    case ARCHIVE_R_ROLE_NOT_FOUND:
        return "role_not_found";
    case ARCHIVE_R_ORG_EXISTS:
        return "org_exists";
    case ARCHIVE_R_ORG_NOT_FOUND:
        return "org_not_found";
    case ARCHIVE_R_ORG_CYCLE:
        return "org_cycle";
    case ARCHIVE_R_WEBHOOK_NOT_FOUND:
        return "webhook_not_found";
    case ARCHIVE_R_DELIVERY_NOT_FOUND:
        return "delivery_not_found";
    case ARCHIVE_R_BILL_TYPE_NOT_FOUND:
        return "bill_type_not_found";
    case ARCHIVE_R_MATCH_LOCKED:
        return "match_locked";
    case ARCHIVE_R_NODE_NOT_FOUND:
        return "node_not_found";
    case ARCHIVE_R_FBILL_CONFLICT:
        return "fbill_id_conflict";
    case ARCHIVE_R_BILL_HELD:
        return "bill_held";
    case ARCHIVE_R_HOLD_NOT_FOUND:
        return "hold_not_found";
    case ARCHIVE_R_RETAINED:
        return "bill_retained";
    case ARCHIVE_R_ORG_IN_USE:
        return "org_in_use";
    case ARCHIVE_R_TENANT_TOO_LARGE:
        return "tenant_too_large";
    case ARCHIVE_R_CLUSTER_LEVEL:
        return "upgrade_in_progress";
    }
    return "unknown";
}

void archive_new_file_id(char out[ARCHIVE_FILE_ID_BYTES + 1])
{
    uint8_t raw[16];
    char hex[33];
    randombytes_buf(raw, sizeof raw);
    hex_encode(raw, sizeof raw, hex);
    out[0] = 'f';
    memcpy(out + 1, hex, ARCHIVE_FILE_ID_BYTES - 1);
    out[ARCHIVE_FILE_ID_BYTES] = '\0';
}

int archive_load_record(struct archive *a, enum archive_cf cf, const struct key *k,
                        const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                        struct base_err *err)
{
    char *val;
    size_t vlen;
    int rv;
    *out = NULL; /* never a stale pointer for the caller to free on an error path */
    rv = a->applying != NULL
                 ? rocks_batch_get(a->applying, cf, k->buf, k->len, &val, &vlen, err)
                 : rocks_get(a->db, cf, k->buf, k->len, &val, &vlen, err);
    if (rv != 0) {
        return rv;
    }
    *out = protobuf_c_message_unpack(desc, NULL, vlen, (const uint8_t *)val);
    free(val);
    if (*out == NULL) {
        base_err_set(err, "%s record is corrupt", archive_cf_name(cf));
        return BASE_ECORRUPT;
    }
    return 0;
}

int archive_get_bill(struct archive *a, const char *tenant, const char *image_no,
                     BillRecord **out, struct base_err *err)
{
    struct key k;
    key_pair(&k, tenant, image_no);
    return archive_load_record(a, ARCHIVE_CF_BILLS, &k, &bill_record__descriptor,
                      (ProtobufCMessage **)out, err);
}

void archive_free_bill(BillRecord *bill)
{
    if (bill != NULL) {
        bill_record__free_unpacked(bill, NULL);
    }
}

int archive_get_order(struct archive *a, const char *tenant, const char *image_no,
                      BillOrder **out, struct base_err *err)
{
    struct key k;
    int rv;
    key_pair(&k, tenant, image_no);
    rv = archive_load_record(a, ARCHIVE_CF_ORDER, &k, &bill_order__descriptor,
                             (ProtobufCMessage **)out, err);
    if (rv == BASE_ENOTFOUND) {
        /* Allocated the way protobuf-c's default allocator does, so one free works. */
        *out = xmalloc(sizeof **out);
        bill_order__init(*out);
        rv = 0;
    }
    return rv;
}

void archive_free_order(BillOrder *order)
{
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
}

int archive_get_file(struct archive *a, const char *tenant, const char *file_id,
                     FileRecord **out, struct base_err *err)
{
    struct key k;
    if (strlen(file_id) > ARCHIVE_ID_MAX) {
        return BASE_ENOTFOUND;
    }
    key_pair(&k, tenant, file_id);
    return archive_load_record(a, ARCHIVE_CF_FILES, &k, &file_record__descriptor,
                      (ProtobufCMessage **)out, err);
}

void archive_free_file(FileRecord *file)
{
    if (file != NULL) {
        file_record__free_unpacked(file, NULL);
    }
}

int archive_get_usage(struct archive *a, const char *tenant, UsageRecord **out,
                      struct base_err *err)
{
    struct key k = {.len = strlen(tenant)};
    memcpy(k.buf, tenant, k.len);
    return archive_load_record(a, ARCHIVE_CF_USAGE, &k, &usage_record__descriptor,
                      (ProtobufCMessage **)out, err);
}

void archive_free_usage(UsageRecord *usage)
{
    if (usage != NULL) {
        usage_record__free_unpacked(usage, NULL);
    }
}

static bool bill_matches(struct archive *a, const BillRecord *b,
                         const struct archive_bill_filter *f)
{
    return (f->state == NULL || strcmp(b->state, f->state) == 0) &&
           (f->bill_type == NULL || strcmp(b->bill_type, f->bill_type) == 0) &&
           (f->org == NULL || strcmp(b->org, f->org) == 0) &&
           (f->bill_no == NULL || strcmp(b->bill_no, f->bill_no) == 0) &&
           (f->fbill_id == NULL || strcmp(b->fbill_id, f->fbill_id) == 0) &&
           (f->image_no == NULL || strcmp(b->image_no, f->image_no) == 0) &&
           (f->mode == NULL || strcmp(b->mode, f->mode) == 0) &&
           (f->created_from_ms == 0 || b->created_ms >= f->created_from_ms) &&
           (f->created_to_ms == 0 || b->created_ms < f->created_to_ms) &&
           (f->updated_from_ms == 0 || b->updated_ms >= f->updated_from_ms) &&
           (f->updated_to_ms == 0 || b->updated_ms < f->updated_to_ms) &&
           (f->actor == NULL || archive_actor_sees_org(a, f->actor, b->org));
}

/* The one bill a filter by image number or ERP bill id can name, when it lies after
 * the cursor and matches the rest of the filter: point reads, never a scan. */
static int list_one_bill(struct archive *a, const char *tenant,
                         const struct archive_bill_filter *f, archive_bill_cb cb, void *arg,
                         struct archive_bill_page *page, struct base_err *err)
{
    char image_no[ARCHIVE_IMAGE_NO_MAX + 1];
    BillRecord *b = NULL;
    int rv = 0;
    if (f->fbill_id != NULL) {
        rv = archive_find_bill_by_fbill_id(a, tenant, f->fbill_id, image_no, err);
    } else if (archive_valid_image_no(f->image_no)) {
        snprintf(image_no, sizeof image_no, "%s", f->image_no);
    } else {
        rv = BASE_ENOTFOUND;
    }
    if (rv == 0 && (f->after == NULL || strcmp(image_no, f->after) > 0)) {
        rv = archive_get_bill(a, tenant, image_no, &b, err);
    }
    if (rv == 0 && b != NULL) {
        page->scanned = 1;
        if (f->limit > 0 && bill_matches(a, b, f)) {
            cb(b, arg);
        }
        archive_free_bill(b);
    }
    return rv == BASE_ENOTFOUND ? 0 : rv;
}

int archive_list_bills(struct archive *a, const char *tenant,
                       const struct archive_bill_filter *filter, archive_bill_cb cb, void *arg,
                       struct archive_bill_page *page, struct base_err *err)
{
    struct key prefix;
    struct rocks_iter *it;
    unsigned found = 0;
    int rv;

    memset(page, 0, sizeof *page);
    if (filter->fbill_id != NULL || filter->image_no != NULL) {
        return list_one_bill(a, tenant, filter, cb, arg, page, err);
    }
    key_tenant_prefix(&prefix, tenant);
    it = rocks_iter_new(a->db, ARCHIVE_CF_BILLS, prefix.buf, prefix.len);
    if (filter->after != NULL) {
        struct key start;
        key_pair(&start, tenant, filter->after);
        /* The key after "tenant\0after" in byte order. */
        start.buf[start.len++] = '\0';
        rocks_iter_seek(it, start.buf, start.len);
    } else {
        rocks_iter_first(it);
    }
    for (; rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        BillRecord *b;
        if (filter->scan_max > 0 && page->scanned == filter->scan_max) {
            /* The budget is spent before this record: go on after the last one read. */
            page->more = true;
            break;
        }
        b = bill_record__unpack(NULL, vlen, (const uint8_t *)v);
        if (b == NULL) {
            base_err_set(err, "bills record is corrupt");
            rocks_iter_free(it);
            return BASE_ECORRUPT;
        }
        if (bill_matches(a, b, filter)) {
            if (found == filter->limit) {
                page->more = true;
                bill_record__free_unpacked(b, NULL);
                break;
            }
            cb(b, arg);
            found++;
        }
        page->scanned++;
        snprintf(page->resume_after, sizeof page->resume_after, "%s", b->image_no);
        bill_record__free_unpacked(b, NULL);
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    if (!page->more) {
        page->resume_after[0] = '\0';
    }
    return rv;
}

int archive_list_audit(struct archive *a, const char *tenant, const char *image_no,
                       archive_audit_cb cb, void *arg, struct base_err *err)
{
    struct key prefix;
    struct rocks_iter *it;
    int rv;
    key_audit_prefix(&prefix, tenant, image_no);
    it = rocks_iter_new(a->db, ARCHIVE_CF_AUDIT, prefix.buf, prefix.len);
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        AuditRecord *e = audit_record__unpack(NULL, vlen, (const uint8_t *)v);
        if (e == NULL) {
            base_err_set(err, "audit record is corrupt");
            rocks_iter_free(it);
            return BASE_ECORRUPT;
        }
        cb(e, arg);
        audit_record__free_unpacked(e, NULL);
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

/* The applied index as stored (the in-memory copy belongs to the loop thread). */
static int stored_index(struct archive *a, uint64_t *out, struct base_err *err)
{
    char *val = NULL;
    size_t vlen;
    int rv = rocks_get(a->db, ARCHIVE_CF_META, KEY_APPLIED_INDEX, strlen(KEY_APPLIED_INDEX), &val,
                       &vlen, err);
    if (rv == BASE_ENOTFOUND) {
        *out = 0;
        return 0;
    }
    if (rv == 0 && vlen != 8) {
        base_err_set(err, "applied index record is corrupt");
        rv = BASE_ECORRUPT;
    }
    if (rv == 0) {
        *out = rocks_get_be64((const uint8_t *)val);
    }
    free(val);
    return rv;
}

int archive_digest(struct archive *a, uint8_t out[32], uint64_t *index, struct base_err *err)
{
    /* Every apply writes its changes and the applied index in one batch: when the
     * index is the same before and after the scan, the scan saw one state. */
    for (int attempt = 0; attempt < 5; attempt++) {
        uint64_t before, after;
        int rv = stored_index(a, &before, err);
        if (rv == 0) {
            rv = storage_digest(a->db, out, err);
        }
        if (rv == 0) {
            rv = stored_index(a, &after, err);
        }
        if (rv != 0) {
            return rv;
        }
        if (before == after) {
            *index = after;
            return 0;
        }
    }
    base_err_set(err, "the store kept changing during the digest; retry when writes pause");
    return BASE_ERETRY;
}

int archive_get_blob(struct archive *a, const uint8_t hash[32], BlobRecord **out,
                     struct base_err *err)
{
    struct key k = {.len = 32};
    memcpy(k.buf, hash, 32);
    return archive_load_record(a, ARCHIVE_CF_BLOBS, &k, &blob_record__descriptor,
                               (ProtobufCMessage **)out, err);
}

void archive_free_blob(BlobRecord *blob)
{
    if (blob != NULL) {
        blob_record__free_unpacked(blob, NULL);
    }
}
