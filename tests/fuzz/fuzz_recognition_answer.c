/* Fuzz target: a recognition service's answer (archive/recognition.c,
 * archive_recognition_answer()), the untrusted body the leader's dispatcher reads
 * (replication/recognizer.c) before it proposes the invoice data it holds.
 *
 * Each input is the answer's body. What must hold: no crash or leak; an accepted answer
 * gives invoice data with a number, every field terminated, no longer than
 * ARCHIVE_RECOGNITION_FIELD_MAX, and acceptable to archive_recognition_invoice_problem();
 * a refused one says why. And what the dispatcher accepts the state machine applies:
 * the accepted data, proposed as the RecognitionResult of a file queued for it on a real
 * store, is applied (not refused) and becomes the file's invoice data, byte for byte.
 * A JSON dictionary (dict/recognition_answer.dict) names the answer's members. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "base/mem.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct archive archive;
static uint64_t applied;
static unsigned files;

static void apply(Command *cmd, struct archive_result *res)
{
    struct base_err err = {{0}};
    void *buf;
    size_t len;
    cmd->tenant = "default";
    cmd->request_id = "fuzz";
    cmd->operator_ = "fuzz";
    cmd->time_ms = 1700000000000ull;
    archive_encode(cmd, &buf, &len);
    memset(res, 0, sizeof *res);
    if (archive_apply(&archive, ++applied, buf, len, res, &err) != 0) {
        fprintf(stderr, "fuzz_recognition_answer: apply: %s\n", err.msg);
        abort();
    }
    free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct base_err err = {{0}};
    struct archive_result res;
    Command cmd = COMMAND__INIT;
    InitCluster ic = INIT_CLUSTER__INIT;
    uint8_t key[32] = {9};
    (void)argc;
    (void)argv;
    fuzz_init();
    if (archive_open(&archive, fuzz_store_open("recognition"), &err) != 0) {
        fprintf(stderr, "fuzz_recognition_answer: open: %s\n", err.msg);
        abort();
    }
    ic.token_key.data = key;
    ic.token_key.len = sizeof key;
    ic.level = ARCHIVE_FEATURE_LEVEL;
    cmd.body_case = COMMAND__BODY_INIT_CLUSTER;
    cmd.init_cluster = &ic;
    apply(&cmd, &res);
    return 0;
}

static void check_field(const char *s, const char *what)
{
    if (s == NULL || strlen(s) > ARCHIVE_RECOGNITION_FIELD_MAX) {
        fprintf(stderr, "fuzz_recognition_answer: accepted %s is %s\n", what,
                s == NULL ? "NULL" : "too long");
        abort();
    }
}

/* Queues a new file for recognition and applies @inv as its result. */
static void apply_accepted(const Invoice *inv)
{
    struct base_err err = {{0}};
    struct archive_result res;
    Command cmd = COMMAND__INIT;
    AddFile add = ADD_FILE__INIT;
    RecognitionResult r = RECOGNITION_RESULT__INIT;
    uint8_t blob[32] = {1};
    char file_id[32], image_no[32];
    FileRecord *f;
    /* A new bill every 200 files keeps each bill's order small. */
    snprintf(image_no, sizeof image_no, "FZ-%u", files / 200);
    snprintf(file_id, sizeof file_id, "fz%u", files++);
    add.image_no = image_no;
    add.file_id = file_id;
    add.name = "scan.jpg";
    add.format = "jpg";
    add.size = 100;
    add.pages = 1;
    add.blob.data = blob;
    add.blob.len = sizeof blob;
    add.recognize = true;
    cmd.body_case = COMMAND__BODY_ADD_FILE;
    cmd.add_file = &add;
    apply(&cmd, &res);
    if (res.status != ARCHIVE_OK) {
        fprintf(stderr, "fuzz_recognition_answer: capture refused: %s\n", res.message);
        abort();
    }
    r.image_no = image_no;
    r.file_id = file_id;
    r.attempt = 1;
    r.ok = true;
    r.http_status = 200;
    r.invoice = (Invoice *)inv;
    cmd = (Command)COMMAND__INIT;
    cmd.body_case = COMMAND__BODY_RECOGNITION_RESULT;
    cmd.recognition_result = &r;
    apply(&cmd, &res);
    if (res.status != ARCHIVE_OK || strcmp(res.state, "done") != 0) {
        fprintf(stderr, "fuzz_recognition_answer: an accepted answer was not applied: %d %s "
                "(%s)\n", (int)res.status, res.state, res.message);
        abort();
    }
    if (archive_get_file(&archive, "default", file_id, &f, &err) != 0 || f->invoice == NULL ||
        strcmp(f->invoice->number, inv->number) != 0 || strcmp(f->invoice->code, inv->code) != 0 ||
        strcmp(f->invoice->date, inv->date) != 0 || strcmp(f->invoice->amount, inv->amount) != 0 ||
        strcmp(f->invoice->tax, inv->tax) != 0 || strcmp(f->invoice->total, inv->total) != 0) {
        fprintf(stderr, "fuzz_recognition_answer: the file's invoice data differs\n");
        abort();
    }
    archive_free_file(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Invoice inv = INVOICE__INIT;
    char why[200];
    const char *problem;
    memset(why, 0, sizeof why);
    if (archive_recognition_answer((const char *)data, size, &inv, why, sizeof why) != 0) {
        if (why[0] == '\0' || memchr(why, '\0', sizeof why) == NULL) {
            fprintf(stderr, "fuzz_recognition_answer: a refusal without a reason\n");
            abort();
        }
        return 0;
    }
    check_field(inv.number, "number");
    check_field(inv.code, "code");
    check_field(inv.date, "date");
    check_field(inv.amount, "amount");
    check_field(inv.tax, "tax");
    check_field(inv.total, "total");
    if (inv.number[0] == '\0' || (problem = archive_recognition_invoice_problem(&inv)) != NULL) {
        fprintf(stderr, "fuzz_recognition_answer: accepted invoice data it calls wrong\n");
        abort();
    }
    apply_accepted(&inv);
    archive_recognition_invoice_clear(&inv);
    return 0;
}
