/* Applying the recognition hook's part of the state machine: queueing a captured file
 * (from apply_add_file()) and the leader's reports of its attempts (RecognitionResult).
 *
 * A file asked for recognition carries a Recognition record (FileRecord.recognition)
 * and, while pending, an entry in column family "recognition" (tenant \0 file_id -> the
 * next attempt's time), which the leader's dispatcher (replication/recognizer.c) scans.
 * The recognised data never overwrites what a person entered, nor a matched invoice:
 * when the file has invoice data by the time the answer comes, the answer is dropped and
 * the state says so (superseded). Every check below depends on the command and the
 * stored records only. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

static void queue_put(struct txn *t, const char *file_id, uint64_t due_ms)
{
    struct key k;
    uint8_t be[8];
    key_pair(&k, t->cmd->tenant, file_id);
    rocks_put_be64(be, due_ms);
    rocks_batch_put(t->batch, ARCHIVE_CF_RECOGNITION, k.buf, k.len, be, sizeof be);
}

static void queue_remove(struct txn *t, const char *file_id)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, file_id);
    rocks_batch_delete(t->batch, ARCHIVE_CF_RECOGNITION, k.buf, k.len);
}

void recognition_request(struct txn *t, Recognition *r, const char *file_id)
{
    r->state = (char *)"pending";
    r->attempts = 0;
    r->error = (char *)"";
    r->requested_ms = t->cmd->time_ms;
    r->updated_ms = t->cmd->time_ms;
    r->next_ms = t->cmd->time_ms;
    queue_put(t, file_id, r->next_ms);
    t->a->recognition_added++;
}

/* Why recognised data cannot be set on @f now; NULL when it can. */
static const char *superseded_why(const FileRecord *f, char *buf, size_t size)
{
    if (f->match[0] != '\0') {
        snprintf(buf, size, "the file was matched to invoice %.64s before the answer came: "
                 "the recognised data was not used", f->match);
    } else if (f->invoice != NULL && f->invoice->number[0] != '\0') {
        snprintf(buf, size, "the file's invoice data was set before the answer came: the "
                 "recognised data was not used");
    } else if (strcmp(f->category, "invoice") != 0) {
        snprintf(buf, size, "the file is a%s %.32s now, not an invoice: the recognised data "
                 "was not used", f->category[0] == 'a' ? "n" : "", f->category);
    } else if (f->merged_into[0] != '\0') {
        snprintf(buf, size, "the file is a sub-page of document %.64s now: the recognised "
                 "data was not used", f->merged_into);
    } else {
        return NULL;
    }
    return buf;
}

/* The recognised data becomes the file's invoice data, as a person's PATCH would set
 * it; a submitted match-mode bill is matched again. */
static int fill_invoice(struct txn *t, BillRecord *bill, FileRecord *f, const Invoice *src)
{
    Invoice *inv = xmalloc(sizeof *inv);
    invoice__init(inv);
    copy_invoice(inv, src);
    if (f->invoice != NULL) {
        invoice__free_unpacked(f->invoice, NULL);
    }
    f->invoice = inv;
    put_file(t, f);
    audit(t, bill, "invoice_data_set",
          json_pack("{s:s, s:o, s:o, s:s}", "file_id", f->file_id, "before", json_null(),
                    "after", archive_invoice_json(inv), "by", "recognition"));
    return rematch_bill(t, bill);
}

static int check_result(struct txn *t, const RecognitionResult *r)
{
    /* The image number may be "" (the dispatcher found the file gone): it is compared
     * with the file's own. */
    if (strlen(r->image_no) > ARCHIVE_IMAGE_NO_MAX || r->file_id[0] == '\0' ||
        strlen(r->file_id) > ARCHIVE_ID_MAX || r->attempt == 0 ||
        strlen(r->error) > ARCHIVE_RECOGNITION_ERROR_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "malformed recognition result");
        return 1;
    }
    if (r->ok) {
        const char *problem = r->invoice != NULL ? archive_recognition_invoice_problem(r->invoice)
                                                 : "no invoice data";
        if (problem != NULL) {
            refuse(t, ARCHIVE_R_INVALID, "recognition result: %s", problem);
            return 1;
        }
    }
    return 0;
}

int apply_recognition_result(struct txn *t, const RecognitionResult *r)
{
    BillRecord *bill = NULL;
    FileRecord *f = NULL;
    Recognition *rec;
    struct key k;
    char why[200];
    const char *superseded;
    bool queued;
    int rv;

    if (check_result(t, r) != 0) {
        return 0;
    }
    key_pair(&k, t->cmd->tenant, r->file_id);
    if ((rv = record_exists(t, ARCHIVE_CF_RECOGNITION, &k, &queued)) != 0) {
        return rv;
    }
    rv = archive_load_record(t->a, ARCHIVE_CF_FILES, &k, &file_record__descriptor,
                             (ProtobufCMessage **)&f, t->err);
    if (rv == BASE_ENOTFOUND && queued) {
        /* Deleted (or replaced) while waiting: nothing to recognise any more. */
        queue_remove(t, r->file_id);
        snprintf(t->res->state, sizeof t->res->state, "cancelled");
        return 0;
    }
    if (rv == 0 && strcmp(f->image_no, r->image_no) != 0) {
        archive_free_file(f);
        f = NULL;
        rv = BASE_ENOTFOUND;
    }
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_FILE_NOT_FOUND, "bill %.64s has no file %.64s", r->image_no,
               r->file_id);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    rec = f->recognition;
    if (rec == NULL || strcmp(rec->state, "pending") != 0 || r->attempt != rec->attempts + 1) {
        /* Not waiting for this attempt: a former leader's late report, or a replay. */
        if (queued && (rec == NULL || strcmp(rec->state, "pending") != 0)) {
            queue_remove(t, r->file_id);
        }
        t->res->replayed = true;
        snprintf(t->res->state, sizeof t->res->state, "%s", rec != NULL ? rec->state : "none");
        goto out;
    }
    if ((rv = load_bill(t, r->image_no, &bill)) != 0) {
        if (rv == BASE_ENOTFOUND) {
            refuse(t, ARCHIVE_R_BILL_NOT_FOUND, "no bill with image number %s", r->image_no);
            rv = 0;
        }
        bill = NULL;
        goto out;
    }
    rec->attempts++;
    rec->updated_ms = t->cmd->time_ms;
    rec->http_status = r->http_status;
    if (r->ok) {
        rec->next_ms = 0;
        queue_remove(t, r->file_id);
        if ((superseded = superseded_why(f, why, sizeof why)) != NULL) {
            set_string(&rec->state, "superseded");
            set_string(&rec->error, superseded);
            put_file(t, f);
            audit(t, bill, "recognition_superseded",
                  json_pack("{s:s, s:s}", "file_id", f->file_id, "reason", superseded));
        } else {
            set_string(&rec->state, "done");
            set_string(&rec->error, "");
            rv = fill_invoice(t, bill, f, r->invoice);
        }
    } else if (r->give_up) {
        set_string(&rec->state, "failed");
        set_string(&rec->error, r->error);
        rec->next_ms = 0;
        queue_remove(t, r->file_id);
        put_file(t, f);
        audit(t, bill, "recognition_failed",
              json_pack("{s:s, s:s, s:i, s:i}", "file_id", f->file_id, "error", r->error,
                        "attempts", (int)rec->attempts, "http_status", (int)r->http_status));
    } else {
        set_string(&rec->error, r->error);
        rec->next_ms = r->next_ms;
        queue_put(t, r->file_id, r->next_ms);
        put_file(t, f);
        t->a->recognition_added++;
    }
    if (rv == 0 && t->res->status == ARCHIVE_OK) {
        store_bill(t, bill);
        result_bill(t, bill);
        snprintf(t->res->file_id, sizeof t->res->file_id, "%s", f->file_id);
        snprintf(t->res->state, sizeof t->res->state, "%s", rec->state);
    }
out:
    archive_free_file(f);
    archive_free_bill(bill);
    return rv;
}
