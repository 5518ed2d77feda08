/* Walks and reads of the blob and node records for replication/. See blobs.h. */
#include "archive/blobs.h"

#include <stdlib.h>

#include "archive/keys.h"
#include "storage/rocks.h"

int archive_each_blob(struct archive *a, archive_blob_cb cb, void *arg, struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_BLOBS, NULL, 0);
    int rv;
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocks_iter_key(it, &klen);
        const char *val = rocks_iter_value(it, &vlen);
        BlobRecord *rec;
        bool more;
        if (klen != 32) {
            continue;
        }
        rec = blob_record__unpack(NULL, vlen, (const uint8_t *)val);
        if (rec == NULL) {
            continue;
        }
        more = cb((const uint8_t *)key, rec, arg);
        blob_record__free_unpacked(rec, NULL);
        if (!more) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

int archive_read_blob(struct archive *a, const uint8_t hash[32], BlobRecord **out,
                      struct base_err *err)
{
    char *val;
    size_t vlen;
    int rv = rocks_get(a->db, ARCHIVE_CF_BLOBS, hash, 32, &val, &vlen, err);
    *out = NULL;
    if (rv != 0) {
        return rv;
    }
    *out = blob_record__unpack(NULL, vlen, (const uint8_t *)val);
    free(val);
    if (*out == NULL) {
        base_err_set(err, "blobs record is corrupt");
        return BASE_ECORRUPT;
    }
    return 0;
}

int archive_each_node(struct archive *a, archive_each_node_cb cb, void *arg,
                      struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_NODES, NULL, 0);
    int rv;
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        NodeRecord *rec = node_record__unpack(NULL, vlen, (const uint8_t *)v);
        cb(rec, arg);
        if (rec != NULL) {
            node_record__free_unpacked(rec, NULL);
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}
