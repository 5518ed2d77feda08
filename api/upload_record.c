/* A resumable upload's record on this node's disk, and the Upload-Metadata header
 * (uploads.h). The record is read back at every start, so its reader trusts nothing. */
#include "api/uploads.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/mem.h"
#include "storage/store_swap.h"

/* ---- The record as JSON ---- */

bool upload_id_valid(const char *s)
{
    if (strlen(s) != UPLOAD_ID_HEX) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* String @key of @o into @dst: false when it is missing, empty or too long. */
static bool take_string(json_t *o, const char *key, char *dst, size_t size)
{
    const char *v = json_string_value(json_object_get(o, key));
    size_t n = v != NULL ? strlen(v) : 0;
    if (n == 0 || n >= size || n != json_string_length(json_object_get(o, key))) {
        return false;
    }
    memcpy(dst, v, n + 1);
    return true;
}

/* A non-negative integer @key of @o. */
static bool take_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

int upload_record_parse(const char *text, size_t len, struct upload_record *r,
                        struct base_err *err)
{
    struct upload_record n;
    json_error_t jerr;
    json_t *o, *result;
    uint64_t version = 0;
    const char *why = NULL;
    memset(&n, 0, sizeof n);
    if (len > UPLOAD_RECORD_MAX_BYTES) {
        base_err_set(err, "the upload record is %zu bytes, more than a record can be", len);
        return BASE_ECORRUPT;
    }
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        base_err_set(err, "the upload record is not a JSON object: %s", jerr.text);
        json_decref(o);
        return BASE_ECORRUPT;
    }
    result = json_object_get(o, "result");
    if (!take_u64(o, "version", &version) || version != UPLOAD_RECORD_VERSION) {
        why = "its version is not 1";
    } else if (!take_string(o, "id", n.id, sizeof n.id) || !upload_id_valid(n.id)) {
        why = "its id is not 32 lowercase hex digits";
    } else if (!take_string(o, "tenant", n.tenant, sizeof n.tenant) ||
               !archive_valid_tenant(n.tenant)) {
        why = "its tenant is not valid";
    } else if (!take_string(o, "actor", n.actor, sizeof n.actor)) {
        why = "its actor is missing or too long";
    } else if (!take_string(o, "image_no", n.image_no, sizeof n.image_no) ||
               !archive_valid_image_no(n.image_no)) {
        why = "its image number is not valid";
    } else if (!take_u64(o, "length", &n.length) || n.length == 0) {
        why = "its length is not a positive integer";
    } else if (!take_u64(o, "offset", &n.offset) || n.offset > n.length) {
        why = "its offset is not an integer from 0 to its length";
    } else if (!take_u64(o, "created", &n.created_ms) ||
               !take_u64(o, "expires", &n.expires_ms)) {
        why = "its times are not integers";
    } else if (!json_is_object(json_object_get(o, "params"))) {
        why = "it has no capture parameters";
    } else if (result != NULL && !json_is_null(result) &&
               (!json_is_object(result) || n.offset != n.length)) {
        why = "its result is not an object of a complete upload";
    }
    if (why != NULL) {
        base_err_set(err, "the upload record is not valid: %s", why);
        json_decref(o);
        return BASE_ECORRUPT;
    }
    n.params = json_incref(json_object_get(o, "params"));
    n.result = json_is_object(result) ? json_incref(result) : NULL;
    json_decref(o);
    *r = n;
    return 0;
}

char *upload_record_format(const struct upload_record *r)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:O, s:O}", "version",
                          UPLOAD_RECORD_VERSION, "id", r->id, "tenant", r->tenant, "actor",
                          r->actor, "image_no", r->image_no, "length", (json_int_t)r->length,
                          "offset", (json_int_t)r->offset, "created",
                          (json_int_t)r->created_ms, "expires", (json_int_t)r->expires_ms,
                          "params", r->params, "result",
                          r->result != NULL ? r->result : json_null());
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

void upload_record_clear(struct upload_record *r)
{
    json_decref(r->params);
    json_decref(r->result);
    r->params = r->result = NULL;
}

/* ---- Files ---- */

void upload_data_path(const char *dir, const char *id, char *out, size_t size)
{
    snprintf(out, size, "%s/%s.data", dir, id);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int upload_record_save(const char *dir, const char *id, const char *text, struct base_err *err)
{
    char tmp[1200], path[1200];
    int fd, rv = 0;
    snprintf(tmp, sizeof tmp, "%s/%s.json.tmp", dir, id);
    snprintf(path, sizeof path, "%s/%s.json", dir, id);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) != 0 || fdatasync(fd) != 0) {
        rv = errno == ENOSPC ? BASE_ENOSPACE : BASE_EIO;
        base_err_set(err, "writing %s failed: %s", tmp, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rv == 0 && rename(tmp, path) != 0) {
        rv = BASE_EIO;
        base_err_set(err, "renaming %s failed: %s", tmp, strerror(errno));
    }
    if (rv != 0) {
        unlink(tmp);
        return rv;
    }
    return storage_fsync_dir(dir, err);
}

int upload_record_load(const char *dir, const char *name, struct upload_record *r,
                       struct base_err *err)
{
    char path[1200];
    char *buf = xmalloc(UPLOAD_RECORD_MAX_BYTES + 1);
    size_t len = 0;
    int fd, rv;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        base_err_set(err, "opening %s failed: %s", path, strerror(errno));
        free(buf);
        return BASE_EIO;
    }
    while (len <= UPLOAD_RECORD_MAX_BYTES) {
        ssize_t n = read(fd, buf + len, UPLOAD_RECORD_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    rv = upload_record_parse(buf, len, r, err);
    free(buf);
    return rv;
}

int upload_files_remove(const char *dir, const char *id, struct base_err *err)
{
    static const char *const suffixes[] = {".json", ".json.tmp", ".data"};
    char path[1200];
    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, id, suffixes[i]);
        if (unlink(path) != 0 && errno != ENOENT) {
            base_err_set(err, "removing %s failed: %s", path, strerror(errno));
            return BASE_EIO;
        }
    }
    return storage_fsync_dir(dir, err);
}

/* ---- Upload-Metadata ---- */

int upload_metadata_get(const char *header, const char *key, char *out, size_t size,
                        struct base_err *err)
{
    const char *p = header;
    size_t key_len = strlen(key);
    int found = 0;
    unsigned pairs = 0;
    out[0] = '\0';
    while (*p != '\0') {
        const char *k, *v, *end;
        size_t klen, vlen, dlen = 0;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        k = p;
        while (*p != '\0' && *p != ' ' && *p != ',') {
            p++;
        }
        klen = (size_t)(p - k);
        if (++pairs > UPLOAD_METADATA_KEYS_MAX) {
            base_err_set(err, "Upload-Metadata has more than %d keys",
                         UPLOAD_METADATA_KEYS_MAX);
            return BASE_EINVAL;
        }
        if (klen == 0) {
            base_err_set(err, "Upload-Metadata has an empty key: send \"key base64value\" "
                              "pairs separated by commas");
            return BASE_EINVAL;
        }
        /* A key met twice is refused, whichever key the caller asks for. */
        for (const char *q = header; q < k;) {
            const char *qk = q, *qe;
            while (*qk == ' ' || *qk == '\t') {
                qk++;
            }
            qe = qk;
            while (*qe != '\0' && *qe != ' ' && *qe != ',') {
                qe++;
            }
            if ((size_t)(qe - qk) == klen && memcmp(qk, k, klen) == 0) {
                base_err_set(err, "Upload-Metadata names key '%.*s' twice", (int)klen, k);
                return BASE_EINVAL;
            }
            q = strchr(qe, ',');
            if (q == NULL) {
                break;
            }
            q++;
        }
        while (*p == ' ') {
            p++;
        }
        v = p;
        while (*p != '\0' && *p != ',') {
            p++;
        }
        end = p;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        vlen = (size_t)(end - v);
        if (memchr(v, ' ', vlen) != NULL) {
            base_err_set(err, "Upload-Metadata: the value of '%.*s' holds a space", (int)klen,
                         k);
            return BASE_EINVAL;
        }
        if (vlen > 0) {
            char *tmp = xmalloc(vlen + 1);
            bool mine = klen == key_len && memcmp(k, key, klen) == 0;
            int bad = sodium_base642bin((unsigned char *)tmp, vlen, v, vlen, NULL, &dlen,
                                        NULL, sodium_base64_VARIANT_ORIGINAL);
            bool fits = dlen < size && memchr(tmp, '\0', dlen) == NULL;
            if (bad == 0 && mine && fits) {
                memcpy(out, tmp, dlen);
                out[dlen] = '\0';
                found = 1;
            }
            free(tmp);
            if (bad != 0) {
                base_err_set(err, "Upload-Metadata: the value of '%.*s' is not base64",
                             (int)klen, k);
                return BASE_EINVAL;
            }
            if (mine && !fits) {
                base_err_set(err,
                             "Upload-Metadata: the value of '%.*s' is longer than %zu bytes "
                             "or holds a NUL",
                             (int)klen, k, size - 1);
                return BASE_EINVAL;
            }
        } else if (klen == key_len && memcmp(k, key, klen) == 0) {
            found = 1;
        }
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                base_err_set(err, "Upload-Metadata ends with a comma");
                return BASE_EINVAL;
            }
        }
    }
    return found;
}
