/* Bill types, schemes and custom categories: queries (the commands are applied in
 * apply_schemes.c). */
#include "archive.h"

#include <stdlib.h>
#include <string.h>

#include "archive/keys.h"

bool archive_valid_mode(const char *mode)
{
    return mode != NULL && (strcmp(mode, "basic") == 0 || strcmp(mode, "sync") == 0 ||
                            strcmp(mode, "match") == 0);
}

struct list_cb {
    void *cb;
    void *arg;
};

static void bill_type_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    struct list_cb *l = arg;
    (void)key;
    (void)klen;
    ((archive_bill_type_cb)l->cb)((const BillTypeRecord *)m, l->arg);
}

int archive_list_bill_types(struct archive *a, const char *tenant, archive_bill_type_cb cb,
                            void *arg, struct base_err *err)
{
    struct list_cb l = {(void *)cb, arg};
    struct key prefix;
    key_tenant_prefix(&prefix, tenant);
    return archive_scan_records(a, ARCHIVE_CF_BILL_TYPES, prefix.buf, prefix.len,
                                &bill_type_record__descriptor, bill_type_cb, &l, err);
}

static void scheme_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    struct list_cb *l = arg;
    (void)key;
    (void)klen;
    ((archive_scheme_cb)l->cb)((const SchemeRecord *)m, l->arg);
}

int archive_list_schemes(struct archive *a, const char *tenant, archive_scheme_cb cb,
                         void *arg, struct base_err *err)
{
    struct list_cb l = {(void *)cb, arg};
    struct key prefix;
    key_tenant_prefix(&prefix, tenant);
    return archive_scan_records(a, ARCHIVE_CF_SCHEMES, prefix.buf, prefix.len,
                                &scheme_record__descriptor, scheme_cb, &l, err);
}

static void category_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    struct list_cb *l = arg;
    (void)key;
    (void)klen;
    ((archive_category_cb)l->cb)((const CategoryRecord *)m, l->arg);
}

int archive_list_categories(struct archive *a, const char *tenant, archive_category_cb cb,
                            void *arg, struct base_err *err)
{
    struct list_cb l = {(void *)cb, arg};
    struct key prefix;
    key_tenant_prefix(&prefix, tenant);
    return archive_scan_records(a, ARCHIVE_CF_CATEGORIES, prefix.buf, prefix.len,
                                &category_record__descriptor, category_cb, &l, err);
}

int archive_list_batch(struct archive *a, const char *tenant, const char *batch,
                       archive_batch_cb cb, void *arg, struct base_err *err)
{
    struct key prefix;
    struct rocks_iter *it;
    int rv;
    key_audit_prefix(&prefix, tenant, batch);
    it = rocks_iter_new(a->db, ARCHIVE_CF_BATCHES, prefix.buf, prefix.len);
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocks_iter_key(it, &klen);
        const char *v = rocks_iter_value(it, &vlen);
        char *file_id = strndup(k + prefix.len, klen - prefix.len);
        char *image_no = strndup(v, vlen);
        cb(image_no, file_id, arg);
        free(file_id);
        free(image_no);
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}
