/* Fuzz target: a data source's bill as the migration runner reads it (migrate/import.c:
 * the JSON another system answers for one bill, with its files and history), and what
 * the state machine makes of the ImportBill built from it.
 *
 * Each input is the bill's JSON. Its image number is replaced by a fresh one (FZ-<n>),
 * so every input is a new bill. What must hold: no crash or leak; a bill the runner
 * refuses (import_bill_problem()) gets a reason; a bill it accepts becomes an ImportBill
 * that the state machine applies on a real store, in a running batch that lists the bill
 * (never refused, nor failed as malformed: what the runner checked and built is what apply
 * takes). The bill then is migrated with as many files as the JSON had, or failed with a
 * reason about this archive (a category it lacks, a file id it has). A JSON dictionary
 * (dict/source_bill.dict) names the members. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "archive/archive.h"
#include "archive/migration.h"
#include "base/mem.h"
#include "migrate/import.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct archive archive;
static uint64_t applied;
static unsigned bills;

static void apply(Command *cmd, struct archive_result *res)
{
    struct base_err err = {{0}};
    void *buf;
    size_t len;
    cmd->tenant = "default";
    cmd->request_id = "fuzz";
    cmd->operator_ = "fuzz";
    cmd->time_ms = 1700000000000ull + applied;
    archive_encode(cmd, &buf, &len);
    memset(res, 0, sizeof *res);
    if (archive_apply(&archive, ++applied, buf, len, res, &err) != 0) {
        fprintf(stderr, "fuzz_source_bill: apply: %s\n", err.msg);
        abort();
    }
    free(buf);
}

static void must(Command *cmd, const char *what)
{
    struct archive_result res;
    apply(cmd, &res);
    if (res.status != ARCHIVE_OK) {
        fprintf(stderr, "fuzz_source_bill: %s refused: %s\n", what, res.message);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct base_err err = {{0}};
    Command cmd = COMMAND__INIT;
    InitCluster ic = INIT_CLUSTER__INIT;
    PutDataSource put = PUT_DATA_SOURCE__INIT;
    DataSourceRecord ds = DATA_SOURCE_RECORD__INIT;
    uint8_t key[32] = {9};
    (void)argc;
    (void)argv;
    fuzz_init();
    if (archive_open(&archive, fuzz_store_open("source_bill"), &err) != 0) {
        fprintf(stderr, "fuzz_source_bill: open: %s\n", err.msg);
        abort();
    }
    ic.token_key.data = key;
    ic.token_key.len = sizeof key;
    ic.level = ARCHIVE_FEATURE_LEVEL;
    cmd.body_case = COMMAND__BODY_INIT_CLUSTER;
    cmd.init_cluster = &ic;
    must(&cmd, "InitCluster");
    ds.name = "src";
    ds.kind = "imgarc";
    ds.url = "http://old.example.com";
    ds.source_tenant = "default";
    ds.client_id = "c1";
    ds.secret = "a-secret-of-the-source";
    put.source = &ds;
    put.create = true;
    cmd = (Command)COMMAND__INIT;
    cmd.body_case = COMMAND__BODY_PUT_DATA_SOURCE;
    cmd.put_data_source = &put;
    must(&cmd, "PutDataSource");
    return 0;
}

/* A running batch of its own whose list holds bill @image_no. */
static void batch_for(const char *batch_no, const char *image_no)
{
    Command cmd = COMMAND__INIT;
    CreateMigration create = CREATE_MIGRATION__INIT;
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    MigrationAction start = MIGRATION_ACTION__INIT;
    MigrationListed listed = MIGRATION_LISTED__INIT;
    MigrationBill b = MIGRATION_BILL__INIT;
    MigrationBill *bp = &b;
    create.batch_no = (char *)batch_no;
    create.datasource = "src";
    create.scope = &scope;
    cmd.body_case = COMMAND__BODY_CREATE_MIGRATION;
    cmd.create_migration = &create;
    must(&cmd, "CreateMigration");
    start.batch_no = (char *)batch_no;
    start.action = "start";
    cmd = (Command)COMMAND__INIT;
    cmd.body_case = COMMAND__BODY_MIGRATION_ACTION;
    cmd.migration_action = &start;
    must(&cmd, "MigrationAction start");
    b.image_no = (char *)image_no;
    listed.batch_no = (char *)batch_no;
    listed.cursor = "";
    listed.next_cursor = "";
    listed.done = true;
    listed.bills = &bp;
    listed.n_bills = 1;
    cmd = (Command)COMMAND__INIT;
    cmd.body_case = COMMAND__BODY_MIGRATION_LISTED;
    cmd.migration_listed = &listed;
    must(&cmd, "MigrationListed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct base_err err = {{0}};
    struct archive_result res;
    char image_no[32], batch_no[32], why[512];
    Command cmd = COMMAND__INIT;
    ImportBill ib = IMPORT_BILL__INIT;
    MigrationBill *mb = NULL;
    FileRecord **files;
    ImportedHolders **holders;
    AuditRecord **history;
    const json_t *f;
    size_t i, n_history;
    json_t *bill = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(bill)) {
        json_decref(bill);
        return 0;
    }
    snprintf(image_no, sizeof image_no, "FZ-%u", bills);
    snprintf(batch_no, sizeof batch_no, "B%u", bills++);
    json_object_set_new(bill, "image_no", json_string(image_no));
    memset(why, 0, sizeof why);
    if (import_bill_problem(bill, image_no, 1u << 30, why, sizeof why) != NULL) {
        if (why[0] == '\0' || memchr(why, '\0', sizeof why) == NULL) {
            fprintf(stderr, "fuzz_source_bill: a refusal without a reason\n");
            abort();
        }
        json_decref(bill);
        return 0;
    }
    batch_for(batch_no, image_no);
    files = xcalloc(json_array_size(json_object_get(bill, "files")) + 1, sizeof *files);
    holders = xcalloc(json_array_size(json_object_get(bill, "files")) + 1, sizeof *holders);
    json_array_foreach(json_object_get(bill, "files"), i, f) {
        uint8_t hash[32] = {(uint8_t)i, (uint8_t)(i >> 8), 7};
        (void)import_blob_of(f, hash);
        files[i] = import_file_record(f, "src", image_no, hash, 100 + i, 0);
        holders[i] = xmalloc(sizeof *holders[i]);
        imported_holders__init(holders[i]);
    }
    import_history(bill, &history, &n_history);
    ib.batch_no = batch_no;
    ib.bill = import_bill_record(bill, image_no);
    ib.files = files;
    ib.n_files = json_array_size(json_object_get(bill, "files"));
    ib.holders = holders;
    ib.n_holders = ib.n_files;
    ib.history = history;
    ib.n_history = n_history;
    cmd.body_case = COMMAND__BODY_IMPORT_BILL;
    cmd.import_bill = &ib;
    apply(&cmd, &res);
    if (res.status != ARCHIVE_OK) {
        fprintf(stderr, "fuzz_source_bill: ImportBill refused (%d): %s\n", (int)res.status,
                res.message);
        abort();
    }
    if (archive_get_migration_bill(&archive, "default", batch_no, image_no, &mb, &err) != 0) {
        fprintf(stderr, "fuzz_source_bill: the batch lost its bill: %s\n", err.msg);
        abort();
    }
    if (strcmp(mb->state, MIGRATION_BILL_MIGRATED) == 0) {
        BillRecord *b = NULL;
        if (archive_get_bill(&archive, "default", image_no, &b, &err) != 0 ||
            b->files != ib.n_files) {
            fprintf(stderr, "fuzz_source_bill: a migrated bill without its %zu files\n",
                    ib.n_files);
            abort();
        }
        archive_free_bill(b);
    } else if (strcmp(mb->state, MIGRATION_BILL_FAILED) != 0 || mb->reason[0] == '\0' ||
               strstr(mb->reason, ") is malformed") != NULL) {
        fprintf(stderr, "fuzz_source_bill: bill %s is %s: %s\n", image_no, mb->state,
                mb->reason);
        abort();
    }
    migration_bill__free_unpacked(mb, NULL);
    for (i = 0; i < ib.n_files; i++) {
        file_record__free_unpacked(files[i], NULL);
        imported_holders__free_unpacked(holders[i], NULL);
    }
    free(files);
    free(holders);
    import_history_free(history, n_history);
    archive_free_bill(ib.bill);
    json_decref(bill);
    return 0;
}
