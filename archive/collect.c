/* Reads of the collected files. See collect.h. */
#include "archive/collect.h"

#include <stdlib.h>
#include <string.h>

#include "archive/keys.h"
#include "storage/rocks.h"

int archive_get_collected(struct archive *a, const char *tenant, const char *file_no,
                          CollectedRecord **out, struct base_err *err)
{
    struct key k;
    char *val;
    size_t vlen;
    int rv;
    *out = NULL;
    if (strlen(tenant) + strlen(file_no) + 1 > KEY_MAX) {
        return BASE_ENOTFOUND;
    }
    key_pair(&k, tenant, file_no);
    rv = rocks_get(a->db, ARCHIVE_CF_COLLECTED, k.buf, k.len, &val, &vlen, err);
    if (rv != 0) {
        return rv;
    }
    *out = collected_record__unpack(NULL, vlen, (const uint8_t *)val);
    free(val);
    if (*out == NULL) {
        base_err_set(err, "collected record is corrupt");
        return BASE_ECORRUPT;
    }
    return 0;
}

int archive_each_collected_before(struct archive *a, uint64_t collected_before_ms,
                                  archive_collected_cb cb, void *arg, struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_COLLECTED, NULL, 0);
    int rv;
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocks_iter_key(it, &klen);
        const char *val = rocks_iter_value(it, &vlen);
        const char *sep = memchr(key, '\0', klen);
        char tenant[ARCHIVE_ID_MAX + 1];
        CollectedRecord *rec;
        bool more = true;
        if (sep == NULL || (size_t)(sep - key) > ARCHIVE_ID_MAX) {
            continue;
        }
        memcpy(tenant, key, (size_t)(sep - key));
        tenant[sep - key] = '\0';
        rec = collected_record__unpack(NULL, vlen, (const uint8_t *)val);
        if (rec == NULL) {
            continue;
        }
        if (rec->collected_ms <= collected_before_ms) {
            more = cb(tenant, rec, arg);
        }
        collected_record__free_unpacked(rec, NULL);
        if (!more) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}
