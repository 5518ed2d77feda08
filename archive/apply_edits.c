/* Applying the edits of a bill's files: delete, set category, rotate, move, merge,
 * split, and the replacement of a file by a new capture. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* Whether @what may change @bill: before submit, yes; a ready sync-mode bill only as
 * an amend (@amend_ok) by a caller allowed to amend (@amend). False after refusing. */
static bool edit_allowed(struct txn *t, const BillRecord *bill, bool amend_ok, bool amend,
                         const char *what)
{
    if (state_in(bill, EDITABLE)) {
        return true;
    }
    if (amend_ok && state_in(bill, AMENDABLE)) {
        if (strcmp(bill->mode, "sync") != 0) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s: %s now would be an amend, which "
                   "only sync-mode bills allow (this one is %s)", bill->image_no, bill->state,
                   what, bill->mode[0] != '\0' ? bill->mode : "basic");
            return false;
        }
        if (!amend) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s: %s now is an amend, which needs "
                   "the amend permission", bill->image_no, bill->state, what);
            return false;
        }
        return true;
    }
    refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s is %s: %s is allowed while it is captured or "
           "returned%s", bill->image_no, bill->state, what,
           amend_ok ? " (and as an amend of a ready sync-mode bill)" : "");
    return false;
}

/* Whether @f is part of a merged document (its head or a sub-page); refuses @what. */
static bool refuse_merged(struct txn *t, const FileRecord *f, const char *what)
{
    if (f->n_parts == 0 && f->merged_into[0] == '\0') {
        return false;
    }
    refuse(t, ARCHIVE_R_INVALID_STATE, "file %s is %s a merged document: split it first to %s",
           f->file_id, f->n_parts > 0 ? "the head of" : "a sub-page of", what);
    return true;
}

/* One reference less to a blob under @k of @cf; *@last when none is left. The
 * cross-tenant record stays at zero references for garbage collection to find. */
int unref_blob(struct txn *t, enum archive_cf cf, const struct key *k, bool keep,
               bool *last)
{
    BlobRecord *blob;
    int rv = archive_load_record(t->a, cf, k, &blob_record__descriptor,
                                 (ProtobufCMessage **)&blob, t->err);
    *last = false;
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (blob->refs > 0) {
        blob->refs--;
    }
    *last = blob->refs == 0;
    if (*last) {
        blob->released_ms = t->cmd->time_ms; /* garbage collection counts from here */
    }
    if (*last && !keep) {
        rv = delete_blob(t, cf, k);
    } else {
        rv = put_blob(t, cf, k, blob);
    }
    blob_record__free_unpacked(blob, NULL);
    return rv;
}

/* Takes file @f out of @bill (and @order): its record, counts, blob references and
 * usage. */
int remove_file(struct txn *t, BillRecord *bill, BillOrder *order, const FileRecord *f)
{
    struct key k = {.len = f->blob.len};
    struct usage_delta d = {.bytes = -(int64_t)f->size, .files = -1};
    bool last;
    int rv;
    order_remove(order, f->file_id);
    key_pair(&k, t->cmd->tenant, f->file_id);
    rocks_batch_delete(t->batch, ARCHIVE_CF_FILES, k.buf, k.len);
    if (f->batch[0] != '\0') {
        key_triple(&k, t->cmd->tenant, f->batch, f->file_id);
        rocks_batch_delete(t->batch, ARCHIVE_CF_BATCHES, k.buf, k.len);
    }
    count_category(bill, f->category, -1);
    bill->files--;
    bill->bytes -= f->size;
    if (f->blob.len == 32) {
        k.len = 32;
        memcpy(k.buf, f->blob.data, 32);
        if ((rv = unref_blob(t, ARCHIVE_CF_BLOBS, &k, true, &last)) != 0) {
            return rv;
        }
        key_tenant_prefix(&k, t->cmd->tenant);
        memcpy(k.buf + k.len, f->blob.data, 32);
        k.len += 32;
        if ((rv = unref_blob(t, ARCHIVE_CF_TENANT_BLOBS, &k, false, &last)) != 0) {
            return rv;
        }
        d.physical = last ? -(int64_t)f->size : 0;
    }
    return count_usage(t, bill->org, &d);
}

/* Loads every file named by @ids (1-1000 distinct files of @bill) into @out; false
 * after refusing or on a store error (*@rv). */
static bool load_files(struct txn *t, const BillRecord *bill, char **ids, size_t n,
                       FileRecord **out, int *rv)
{
    *rv = 0;
    if (n == 0 || n > 1000) {
        refuse(t, ARCHIVE_R_INVALID, "name 1-1000 files");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ids[i], ids[j]) == 0) {
                refuse(t, ARCHIVE_R_INVALID, "file %.64s is named twice", ids[i]);
                return false;
            }
        }
        if ((*rv = load_bill_file(t, bill, ids[i], &out[i])) != 0) {
            *rv = *rv == BASE_ENOTFOUND ? 0 : *rv;
            return false;
        }
    }
    return true;
}

static void free_files(FileRecord **files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        archive_free_file(files[i]);
    }
    free(files);
}

int apply_delete_files(struct txn *t, const DeleteFiles *c)
{
    BillRecord *bill;
    BillOrder *order = NULL;
    FileRecord **files;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    files = xcalloc(c->n_file_ids + 1, sizeof *files);
    if (!edit_allowed(t, bill, true, c->amend, "deleting files") ||
        bill_held(t, bill, "deleting files") ||
        !load_files(t, bill, c->file_ids, c->n_file_ids, files, &rv) ||
        (rv = load_order(t, bill->image_no, &order)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < c->n_file_ids && rv == 0; i++) {
        if (refuse_merged(t, files[i], "delete it")) {
            goto out;
        }
        if (files[i]->match[0] != '\0') {
            refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched "
                   "invoices cannot be deleted", files[i]->file_id, files[i]->match);
            goto out;
        }
        if (state_in(bill, AMENDABLE) && strcmp(files[i]->category, "cover") == 0) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "file %s is the cover: an amend may replace "
                   "covers, never delete them", files[i]->file_id);
            goto out;
        }
        rv = remove_file(t, bill, order, files[i]);
    }
    if (rv == 0) {
        audit(t, bill, state_in(bill, AMENDABLE) ? "files_deleted_by_amend" : "files_deleted",
              json_pack("{s:o}", "file_ids", string_array(c->file_ids, c->n_file_ids)));
        store_order(t, bill->image_no, order);
        store_bill(t, bill);
        result_bill(t, bill);
    }
out:
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
    free_files(files, c->n_file_ids);
    archive_free_bill(bill);
    return rv;
}

int apply_set_category(struct txn *t, const SetCategory *c)
{
    BillRecord *bill;
    FileRecord **files;
    bool known;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    files = xcalloc(c->n_file_ids + 1, sizeof *files);
    if (!edit_allowed(t, bill, false, false, "changing categories") ||
        !load_files(t, bill, c->file_ids, c->n_file_ids, files, &rv)) {
        goto out;
    }
    if ((rv = category_known(t, c->category != NULL ? c->category : "", &known)) != 0) {
        goto out;
    }
    if (!known) {
        refuse(t, ARCHIVE_R_INVALID_CATEGORY, "unknown category '%.32s': cover, invoice, "
               "attachment or a category of the tenant (GET /api/v1/categories)", c->category);
        goto out;
    }
    if (strcmp(c->category, "invoice") == 0 && c->n_file_ids != 1) {
        refuse(t, ARCHIVE_R_INVALID, "set as invoice takes one file at a time (%zu named)",
               c->n_file_ids);
        goto out;
    }
    for (size_t i = 0; i < c->n_file_ids; i++) {
        if (refuse_merged(t, files[i], "change its category")) {
            goto out;
        }
        if (files[i]->match[0] != '\0') {
            refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched "
                   "invoices are locked", files[i]->file_id, files[i]->match);
            goto out;
        }
    }
    for (size_t i = 0; i < c->n_file_ids; i++) {
        if (strcmp(files[i]->category, c->category) != 0) {
            count_category(bill, files[i]->category, -1);
            count_category(bill, c->category, +1);
            set_string(&files[i]->category, c->category);
            put_file(t, files[i]);
        }
    }
    audit(t, bill, "category_set", json_pack("{s:o, s:s}", "file_ids",
                                             string_array(c->file_ids, c->n_file_ids), "category",
                                             c->category));
    store_bill(t, bill);
    result_bill(t, bill);
out:
    free_files(files, c->n_file_ids);
    archive_free_bill(bill);
    return rv;
}

int apply_rotate_files(struct txn *t, const RotateFiles *c)
{
    BillRecord *bill;
    FileRecord **files;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    files = xcalloc(c->n_file_ids + 1, sizeof *files);
    if (c->degrees != 90 && c->degrees != -90 && c->degrees != 180) {
        refuse(t, ARCHIVE_R_INVALID, "rotate by 90 (right), -90 (left) or 180 degrees");
    } else if (load_files(t, bill, c->file_ids, c->n_file_ids, files, &rv)) {
        for (size_t i = 0; i < c->n_file_ids; i++) {
            files[i]->rotation = (uint32_t)(((int)files[i]->rotation + c->degrees + 360) % 360);
            put_file(t, files[i]);
        }
        audit(t, bill, "rotated", json_pack("{s:o, s:i}", "file_ids",
                                            string_array(c->file_ids, c->n_file_ids), "degrees",
                                            (int)c->degrees));
        store_bill(t, bill);
        result_bill(t, bill);
    }
    free_files(files, c->n_file_ids);
    archive_free_bill(bill);
    return rv;
}

/* The category of the file at @pos of @order (NULL outside it). */
static int category_at(struct txn *t, const BillOrder *order, long pos, char **out)
{
    struct key k;
    FileRecord *f;
    int rv;
    *out = NULL;
    if (pos < 0 || (size_t)pos >= order->n_file_ids) {
        return 0;
    }
    key_pair(&k, t->cmd->tenant, order->file_ids[pos]);
    rv = archive_load_record(t->a, ARCHIVE_CF_FILES, &k, &file_record__descriptor,
                             (ProtobufCMessage **)&f, t->err);
    if (rv == 0) {
        *out = xstrdup(f->category);
        archive_free_file(f);
    }
    return rv;
}

int apply_move_file(struct txn *t, const MoveFile *c)
{
    BillRecord *bill;
    BillOrder *order = NULL;
    FileRecord *f = NULL;
    char *before = NULL, *next = NULL;
    const char *after = c->after != NULL ? c->after : "";
    const char *section;
    uint32_t position;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!edit_allowed(t, bill, false, false, "reordering") ||
        (rv = load_bill_file(t, bill, c->file_id, &f)) != 0) {
        rv = rv == BASE_ENOTFOUND ? 0 : rv;
        goto out;
    }
    if (strcmp(after, f->file_id) == 0) {
        refuse(t, ARCHIVE_R_INVALID, "a file cannot move after itself");
        goto out;
    }
    if (refuse_merged(t, f, "move it")) {
        goto out;
    }
    if ((rv = load_order(t, bill->image_no, &order)) != 0) {
        goto out;
    }
    order_remove(order, f->file_id); /* take it out... */
    /* ...and put it back: after @after, or first. */
    position = after[0] != '\0' ? insert_file(order, f->file_id, after)
                                 : insert_at(order, f->file_id, 0);
    if (position == 0) {
        refuse(t, ARCHIVE_R_FILE_NOT_FOUND, "file %.64s named by 'after' is not a file of bill "
               "%s", after, bill->image_no);
        goto out;
    }
    if ((rv = category_at(t, order, (long)position - 2, &before)) != 0 ||
        (rv = category_at(t, order, (long)position, &next)) != 0) {
        goto out;
    }
    /* The section it lands in: the file before it (or after it, when it goes first). It
     * keeps its category next to a file of its own. */
    section = before != NULL ? before : next;
    if (section != NULL && strcmp(section, f->category) != 0 &&
        (next == NULL || strcmp(next, f->category) != 0)) {
        if (c->category == NULL || strcmp(c->category, section) != 0) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "moving file %s into the %s section makes it "
                   "a%s %s: confirm with \"category\": \"%s\"", f->file_id, section,
                   section[0] == 'a' || section[0] == 'i' ? "n" : "", section, section);
            goto out;
        }
        if (f->match[0] != '\0') {
            refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched "
                   "invoices are locked", f->file_id, f->match);
            goto out;
        }
        count_category(bill, f->category, -1);
        count_category(bill, section, +1);
        set_string(&f->category, section);
        put_file(t, f);
    }
    audit(t, bill, "file_moved", json_pack("{s:s, s:i, s:s}", "file_id", f->file_id, "position",
                                           (int)position, "category", f->category));
    store_order(t, bill->image_no, order);
    store_bill(t, bill);
    result_bill(t, bill);
    t->res->position = position;
    snprintf(t->res->category, sizeof t->res->category, "%s", f->category);
out:
    free(before);
    free(next);
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
    archive_free_file(f);
    archive_free_bill(bill);
    return rv;
}

int apply_merge_files(struct txn *t, const MergeFiles *c)
{
    BillRecord *bill;
    BillOrder *order = NULL;
    FileRecord **files;
    size_t start = 0;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    files = xcalloc(c->n_file_ids + 1, sizeof *files);
    if (!edit_allowed(t, bill, false, false, "merging") ||
        !load_files(t, bill, c->file_ids, c->n_file_ids, files, &rv) ||
        (rv = load_order(t, bill->image_no, &order)) != 0) {
        goto out;
    }
    if (c->n_file_ids < 2 || c->n_file_ids > 100) {
        refuse(t, ARCHIVE_R_INVALID, "merge 2-100 adjacent files");
        goto out;
    }
    while (start < order->n_file_ids && strcmp(order->file_ids[start], c->file_ids[0]) != 0) {
        start++;
    }
    for (size_t i = 0; i < c->n_file_ids; i++) {
        if (start + i >= order->n_file_ids ||
            strcmp(order->file_ids[start + i], c->file_ids[i]) != 0) {
            refuse(t, ARCHIVE_R_INVALID, "only adjacent files merge, named in bill order: %s "
                   "does not follow %s", c->file_ids[i], i > 0 ? c->file_ids[i - 1] : "");
            goto out;
        }
        if (refuse_merged(t, files[i], "merge it again")) {
            goto out;
        }
        if (files[i]->match[0] != '\0') {
            refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched "
                   "invoices are locked", files[i]->file_id, files[i]->match);
            goto out;
        }
    }
    for (size_t i = 1; i < c->n_file_ids; i++) {
        if (strcmp(files[i]->category, files[0]->category) != 0) {
            count_category(bill, files[i]->category, -1);
            count_category(bill, files[0]->category, +1);
            set_string(&files[i]->category, files[0]->category);
        }
        set_string(&files[i]->merged_into, files[0]->file_id);
        put_file(t, files[i]);
    }
    files[0]->parts = xcalloc(c->n_file_ids - 1, sizeof *files[0]->parts);
    for (size_t i = 1; i < c->n_file_ids; i++) {
        files[0]->parts[files[0]->n_parts++] = xstrdup(c->file_ids[i]);
    }
    put_file(t, files[0]);
    audit(t, bill, "files_merged", json_pack("{s:s, s:o}", "document", files[0]->file_id,
                                             "file_ids", string_array(c->file_ids, c->n_file_ids)));
    store_bill(t, bill);
    result_bill(t, bill);
    snprintf(t->res->file_id, sizeof t->res->file_id, "%s", files[0]->file_id);
out:
    if (order != NULL) {
        bill_order__free_unpacked(order, NULL);
    }
    free_files(files, c->n_file_ids);
    archive_free_bill(bill);
    return rv;
}

int apply_split_file(struct txn *t, const SplitFile *c)
{
    BillRecord *bill;
    FileRecord *head = NULL;
    int rv = load_bill_or_refuse(t, c->image_no, &bill);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!edit_allowed(t, bill, false, false, "splitting") ||
        (rv = load_bill_file(t, bill, c->file_id, &head)) != 0) {
        rv = rv == BASE_ENOTFOUND ? 0 : rv;
        goto out;
    }
    if (head->n_parts == 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "file %s is not a merged document%s", head->file_id,
               head->merged_into[0] != '\0' ? ": split the document it belongs to" : "");
        goto out;
    }
    for (size_t i = 0; i < head->n_parts && rv == 0; i++) {
        FileRecord *part;
        if ((rv = load_bill_file(t, bill, head->parts[i], &part)) == 0) {
            set_string(&part->merged_into, "");
            put_file(t, part);
            archive_free_file(part);
        }
    }
    if (rv == 0) {
        audit(t, bill, "file_split",
              json_pack("{s:s, s:o}", "document", head->file_id, "file_ids",
                        string_array(head->parts, head->n_parts)));
        for (size_t i = 0; i < head->n_parts; i++) {
            free(head->parts[i]);
        }
        free(head->parts);
        head->parts = NULL;
        head->n_parts = 0;
        put_file(t, head);
        store_bill(t, bill);
        result_bill(t, bill);
    }
out:
    archive_free_file(head);
    archive_free_bill(bill);
    return rv == BASE_ENOTFOUND ? 0 : rv;
}

/* A capture that replaces file @f->replace: a replace scan keeps the replaced file's
 * category (never a cover's), a cover replacement puts the new file in as the cover;
 * either takes the old one's place. Replaces *@category (malloc()ed) and sets
 * *@position; false after refusing or on a store error (*@rv). */
bool replace_file(struct txn *t, BillRecord *bill, BillOrder *order, const AddFile *f,
                  char **category, uint32_t *position, int *rv)
{
    FileRecord *old;
    size_t at = 0;
    bool ok = false;
    *rv = 0;
    if (!edit_allowed(t, bill, true, f->amend, "replacing files") ||
        bill_held(t, bill, "replacing files")) {
        return false;
    }
    if ((*rv = load_bill_file(t, bill, f->replace, &old)) != 0) {
        *rv = *rv == BASE_ENOTFOUND ? 0 : *rv;
        return false;
    }
    if (old->match[0] != '\0') {
        refuse(t, ARCHIVE_R_MATCH_LOCKED, "file %s is matched to invoice %s: matched invoices "
               "cannot be replaced", old->file_id, old->match);
    } else if (refuse_merged(t, old, "replace it")) {
    } else if (f->category[0] != '\0' && strcmp(f->category, old->category) != 0) {
        refuse(t, ARCHIVE_R_INVALID_CATEGORY, "a replacement keeps the category of the file it "
               "replaces (%s), not %s", old->category, f->category);
    } else {
        for (size_t i = 0; i < order->n_file_ids; i++) {
            if (strcmp(order->file_ids[i], old->file_id) == 0) {
                at = i;
                break;
            }
        }
        audit(t, bill, "file_replaced", json_pack("{s:s, s:s, s:s}", "replaced", old->file_id,
                                                  "by", f->file_id, "category", old->category));
        if ((*rv = remove_file(t, bill, order, old)) == 0) {
            free(*category);
            *category = xstrdup(old->category);
            *position = insert_at(order, f->file_id, at);
            ok = true;
        }
    }
    archive_free_file(old);
    return ok;
}
