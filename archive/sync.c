/* Reads of the invoice-data sync. See sync.h. */
#include "archive/sync.h"

#include <stdlib.h>
#include <string.h>

#include "archive/keys.h"
#include "storage/rocks.h"

const char *const SYNC_FIELDS[] = {"number", "code",  "date",          "amount",
                                   "tax",    "total", "seller_tax_no", "buyer_tax_no",
                                   NULL};

bool archive_sync_field_known(const char *name)
{
    for (size_t i = 0; name != NULL && SYNC_FIELDS[i] != NULL; i++) {
        if (strcmp(name, SYNC_FIELDS[i]) == 0) {
            return true;
        }
    }
    return false;
}

bool archive_valid_sync_run_id(const char *id)
{
    size_t n;
    if (id == NULL) {
        return false;
    }
    n = strlen(id);
    if (n == 0 || n > SYNC_RUN_ID_MAX || id[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

bool archive_valid_sync_time(const char *s)
{
    return s != NULL && strlen(s) == 5 && digits(s, 2) && s[2] == ':' && digits(s + 3, 2) &&
           (s[0] - '0') * 10 + (s[1] - '0') < 24 && (s[3] - '0') * 10 + (s[4] - '0') < 60;
}

bool archive_valid_sync_date(const char *s)
{
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (s == NULL || strlen(s) != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
        s[7] != '-' || !digits(s + 8, 2)) {
        return false;
    }
    y = atoi(s);
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days[m - 1]) {
        return false;
    }
    return !(m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
}

int archive_get_sync_settings(struct archive *a, const char *tenant, SyncSettings **out,
                              struct base_err *err)
{
    struct key k;
    if (!archive_valid_tenant(tenant)) {
        return BASE_ENOTFOUND;
    }
    k.len = strlen(tenant);
    memcpy(k.buf, tenant, k.len);
    return archive_load_record(a, ARCHIVE_CF_SYNC_SETTINGS, &k, &sync_settings__descriptor,
                               (ProtobufCMessage **)out, err);
}

int archive_each_sync_settings(struct archive *a, archive_sync_settings_cb cb, void *arg,
                               struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_SYNC_SETTINGS, NULL, 0);
    int rv;
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocks_iter_key(it, &klen);
        const char *v = rocks_iter_value(it, &vlen);
        char tenant[ARCHIVE_ID_MAX + 1];
        SyncSettings *s;
        bool more;
        if (klen == 0 || klen > ARCHIVE_ID_MAX || memchr(k, '\0', klen) != NULL) {
            continue;
        }
        memcpy(tenant, k, klen);
        tenant[klen] = '\0';
        s = sync_settings__unpack(NULL, vlen, (const uint8_t *)v);
        if (s == NULL) {
            continue;
        }
        more = cb(tenant, s, arg);
        sync_settings__free_unpacked(s, NULL);
        if (!more) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

int archive_get_sync_run(struct archive *a, const char *tenant, const char *run_id,
                         SyncRunRecord **out, struct base_err *err)
{
    struct key k;
    if (!archive_valid_tenant(tenant) || !archive_valid_sync_run_id(run_id)) {
        return BASE_ENOTFOUND;
    }
    key_pair(&k, tenant, run_id);
    return archive_load_record(a, ARCHIVE_CF_SYNC_RUNS, &k, &sync_run_record__descriptor,
                               (ProtobufCMessage **)out, err);
}

int archive_each_sync_run(struct archive *a, const char *tenant, const char *after,
                          archive_sync_run_cb cb, void *arg, struct base_err *err)
{
    struct key prefix, start;
    struct rocks_iter *it;
    int rv;
    if (!archive_valid_tenant(tenant)) {
        return 0;
    }
    key_tenant_prefix(&prefix, tenant);
    it = rocks_iter_new(a->db, ARCHIVE_CF_SYNC_RUNS, prefix.buf, prefix.len);
    if (after != NULL && after[0] != '\0') {
        if (!archive_valid_sync_run_id(after)) {
            rocks_iter_free(it);
            return 0;
        }
        key_pair(&start, tenant, after);
        start.buf[start.len++] = '\0'; /* the smallest key after @after's */
        rocks_iter_seek(it, start.buf, start.len);
    } else {
        rocks_iter_first(it);
    }
    for (; rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        SyncRunRecord *r = sync_run_record__unpack(NULL, vlen, (const uint8_t *)v);
        bool more;
        if (r == NULL) {
            continue;
        }
        more = cb(r, arg);
        sync_run_record__free_unpacked(r, NULL);
        if (!more) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

int archive_each_queued_sync_run(struct archive *a, archive_sync_queue_cb cb, void *arg,
                                 struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_SYNC_QUEUE, NULL, 0);
    int rv;
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen;
        const char *k = rocks_iter_key(it, &klen);
        const char *sep = memchr(k, '\0', klen);
        char tenant[ARCHIVE_ID_MAX + 1], run_id[SYNC_RUN_ID_MAX + 1];
        size_t tlen, rlen;
        if (sep == NULL) {
            continue;
        }
        tlen = (size_t)(sep - k);
        rlen = klen - tlen - 1;
        if (tlen == 0 || tlen > ARCHIVE_ID_MAX || rlen == 0 || rlen > SYNC_RUN_ID_MAX ||
            memchr(sep + 1, '\0', rlen) != NULL) {
            continue;
        }
        memcpy(tenant, k, tlen);
        tenant[tlen] = '\0';
        memcpy(run_id, sep + 1, rlen);
        run_id[rlen] = '\0';
        if (!cb(tenant, run_id, arg)) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

int archive_each_sync_failure(struct archive *a, const char *tenant, const char *org,
                              archive_sync_failure_cb cb, void *arg, struct base_err *err)
{
    struct key prefix;
    struct rocks_iter *it;
    int rv;
    if (!archive_valid_tenant(tenant) || (org != NULL && strlen(org) > 64)) {
        return 0;
    }
    if (org != NULL) {
        key_audit_prefix(&prefix, tenant, org); /* tenant \0 org \0 */
    } else {
        key_tenant_prefix(&prefix, tenant);
    }
    it = rocks_iter_new(a->db, ARCHIVE_CF_SYNC_ITEMS, prefix.buf, prefix.len);
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        SyncFailure *f = sync_failure__unpack(NULL, vlen, (const uint8_t *)v);
        bool more;
        if (f == NULL) {
            continue;
        }
        more = cb(f, arg);
        sync_failure__free_unpacked(f, NULL);
        if (!more) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}
