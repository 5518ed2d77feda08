/* One bill in a lane of the migration runner (runner_int.h): read from the source and
 * checked (MigrationChecked), or read again, its contents stored and copied, and
 * proposed whole (ImportBill); a bill that cannot come is recorded with the reason. */
#include "migrate/runner_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/blobs.h"
#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "migrate/import.h"

static void next_file(struct lane *l);
static void fail_bill(struct lane *l, const char *why);

#define str import_str

/* ---- Ending a lane's job ---- */

static void free_import(struct lane *l)
{
    for (size_t i = 0; i < l->n_files; i++) {
        if (l->files[i] != NULL) {
            file_record__free_unpacked(l->files[i], NULL);
        }
        if (l->holders[i] != NULL) {
            free(l->holders[i]->nodes);
            free(l->holders[i]);
        }
    }
    free(l->files);
    free(l->holders);
    l->files = NULL;
    l->holders = NULL;
    l->n_files = 0;
}

void lane_release(struct lane *l)
{
    free_import(l);
    json_decref(l->listed);
    json_decref(l->bill);
    l->listed = l->bill = NULL;
}

static void lane_idle(struct lane *l)
{
    lane_release(l);
    l->job = LANE_IDLE;
    l->proposing = false;
    runner_kick(l->run->r);
}

static void outcome_applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct lane *l = prop->data;
    struct run *run = l->run;
    if (status == 0 && res->status != ARCHIVE_OK && res->status != ARCHIVE_R_INVALID_STATE &&
        l->failure[0] == '\0') {
        /* What the source said cannot be recorded as it is: the bill fails with why,
         * rather than being read again and again. (A batch paused or cancelled, or a
         * bill skipped meanwhile, is INVALID_STATE: nothing to record then.) */
        char why[400];
        snprintf(why, sizeof why, "the source's bill cannot be recorded: %.300s", res->message);
        l->job = LANE_MOVE;
        fail_bill(l, why);
        return;
    }
    if (status != 0) {
        LOG_WARN("migrate", "batch %s bill %s: the outcome was not recorded: %s", run->batch_no,
                 l->image_no, base_strerror(status));
    } else if (res->status != ARCHIVE_OK && res->status != ARCHIVE_R_INVALID_STATE) {
        LOG_WARN("migrate", "batch %s bill %s: refused: %s", run->batch_no, l->image_no,
                 res->message);
    } else if (res->status == ARCHIVE_OK && l->job == LANE_MOVE && l->failure[0] == '\0') {
        run->r->stats.bills_moved_total++;
    }
    lane_idle(l);
}

/* Records that the bill cannot come now, with @why. */
static void fail_bill(struct lane *l, const char *why)
{
    struct run *run = l->run;
    Command cmd = COMMAND__INIT;
    MigrationChecked c = MIGRATION_CHECKED__INIT;
    MigrationBill b = MIGRATION_BILL__INIT;
    MigrationBill *bp = &b;
    MigrationBillFailed f = MIGRATION_BILL_FAILED__INIT;
    char reason[512];
    snprintf(reason, sizeof reason, "%s", why);
    snprintf(l->failure, sizeof l->failure, "%s", why);
    run->r->stats.bills_failed_total++;
    if (l->job == LANE_CHECK) {
        b.image_no = l->image_no;
        b.state = MIGRATION_BILL_FAILED;
        b.reason = reason;
        c.batch_no = run->batch_no;
        c.bills = &bp;
        c.n_bills = 1;
        cmd.body_case = COMMAND__BODY_MIGRATION_CHECKED;
        cmd.migration_checked = &c;
    } else {
        f.batch_no = run->batch_no;
        f.image_no = l->image_no;
        f.reason = reason;
        cmd.body_case = COMMAND__BODY_MIGRATION_BILL_FAILED;
        cmd.migration_bill_failed = &f;
    }
    l->prop.data = l;
    l->proposing = true;
    if (!run_propose(run, &l->prop, &cmd, outcome_applied)) {
        lane_idle(l);
    }
}

/* A failure of the source (or of this node) for the bill: transient ones back the batch
 * off and leave the bill for later, until too many in a row. */
static void source_failed(struct lane *l, int status, const char *why)
{
    struct run *run = l->run;
    if ((status == BASE_ERETRY || status == BASE_ENOSPACE) &&
        run->transient + 1 < MIGRATE_TRANSIENT_MAX && !run->r->stopping) {
        run_backoff(run, why);
        lane_idle(l);
        return;
    }
    if (run->r->stopping || run->gone) {
        lane_idle(l);
        return;
    }
    fail_bill(l, why);
}

/* ---- Reading what the source says ---- */

struct category_look {
    const char *code;
    bool found;
};

static void category_seen(const CategoryRecord *c, void *arg)
{
    struct category_look *look = arg;
    if (strcmp(c->code, look->code) == 0) {
        look->found = true;
    }
}

/* Whether the tenant has category @code: a built-in one or a custom one it defined. */
static bool category_here(struct run *run, const char *code)
{
    struct base_err err = {{0}};
    struct category_look look = {.code = code};
    if (archive_builtin_category(code)) {
        return true;
    }
    if (archive_list_categories(run->r->a, run->tenant, category_seen, &look, &err) != 0) {
        return true; /* the import checks again, and says why */
    }
    return look.found;
}

/* The verdict of the pre-check on @bill: NULL, or why it cannot come (into @why). */
static const char *check_bill(struct lane *l, const json_t *bill, char *why, size_t size)
{
    struct run *run = l->run;
    struct base_err err = {{0}};
    const json_t *f;
    BillRecord *here = NULL;
    size_t i;
    if (import_bill_problem(bill, l->image_no, run->r->config.file_bytes_max, why, size) !=
        NULL) {
        return why;
    }
    json_array_foreach(json_object_get(bill, "files"), i, f) {
        if (!category_here(run, str(f, "category"))) {
            snprintf(why, size, "category '%s' of file %.64s is not defined in tenant %s: "
                     "create it (POST /api/v1/categories), then retry the batch",
                     str(f, "category"), str(f, "file_id"), run->tenant);
            return why;
        }
    }
    if (archive_get_bill(run->r->a, run->tenant, l->image_no, &here, &err) == 0) {
        char ds[ARCHIVE_ID_MAX + 1], batch[ARCHIVE_ID_MAX + 1];
        MigrationRecord *m = NULL;
        int mv = archive_get_migrated(run->r->a, run->tenant, l->image_no, ds, batch, &err);
        bool same = false;
        archive_free_bill(here);
        if (mv == 0 && archive_get_migration(run->r->a, run->tenant, run->batch_no, &m, &err) == 0) {
            same = strcmp(ds, m->datasource) == 0;
            migration_record__free_unpacked(m, NULL);
        }
        if (!same) {
            snprintf(why, size, "image number %s exists here already%s%s", l->image_no,
                     mv == 0 ? ", migrated from data source " : " (not migrated)",
                     mv == 0 ? ds : "");
            return why;
        }
    }
    return NULL;
}

static void check_answered(void *arg, int status, const char *message, json_t *bill)
{
    struct lane *l = arg;
    struct run *run = l->run;
    MigrationBill b = MIGRATION_BILL__INIT;
    MigrationFile *items = NULL, **ptrs = NULL;
    uint8_t(*hashes)[32] = NULL;
    char(*ids)[ARCHIVE_ID_MAX + 1] = NULL;
    const json_t *files;
    const json_t *f;
    char why[512];
    const char *problem;
    size_t i, n = 0;
    if (status != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "reading bill %s from the source: %s", l->image_no, message);
        source_failed(l, status, msg);
        return;
    }
    run_ok(run);
    problem = check_bill(l, bill, why, sizeof why);
    /* The manifest: what the bill holds, as far as it can be recorded (a failed bill's
     * too, so its files show what is missing). */
    files = json_object_get(bill, "files");
    if (json_array_size(files) > 10000) {
        files = NULL;
    }
    items = xcalloc(json_array_size(files) + 1, sizeof *items);
    ptrs = xcalloc(json_array_size(files) + 1, sizeof *ptrs);
    hashes = xcalloc(json_array_size(files) + 1, sizeof *hashes);
    ids = xcalloc(json_array_size(files) + 1, sizeof *ids);
    json_array_foreach(files, i, f) {
        MigrationFile *mf = &items[n];
        json_int_t size = json_integer_value(json_object_get(f, "size"));
        if (str(f, "name")[0] == '\0' || strlen(str(f, "name")) > 255 ||
            !archive_valid_category(str(f, "category")) || strlen(str(f, "format")) > 16) {
            continue;
        }
        migration_file__init(mf);
        import_file_id(run->datasource, l->image_no, str(f, "file_id"), ids[n]);
        mf->file_id = ids[n];
        mf->name = (char *)str(f, "name");
        mf->category = (char *)str(f, "category");
        mf->format = (char *)str(f, "format");
        mf->size = size > 0 ? (uint64_t)size : 0;
        if (import_blob_of(f, hashes[n])) {
            mf->blob.data = hashes[n];
            mf->blob.len = 32;
        }
        ptrs[n++] = mf;
    }
    b.image_no = l->image_no;
    b.state = (char *)(problem != NULL ? MIGRATION_BILL_FAILED : MIGRATION_BILL_CHECKED);
    b.reason = (char *)(problem != NULL ? problem : "");
    b.files = ptrs;
    b.n_files = n;
    if (problem != NULL) {
        run->r->stats.bills_failed_total++;
    }
    {
        /* A copy of its own, proposed with other bills' verdicts; the lane is free. */
        size_t len = migration_bill__get_packed_size(&b);
        uint8_t *buf = xmalloc(len + 1);
        MigrationBill *copy;
        migration_bill__pack(&b, buf);
        copy = migration_bill__unpack(NULL, len, buf);
        free(buf);
        ASSERT(copy != NULL);
        run_add_verdict(run, copy);
    }
    lane_idle(l);
    free(items);
    free(ptrs);
    free(hashes);
    free(ids);
}

/* ---- Moving a bill ---- */

/* The file record of file @f of the bill, its content @hash (size @size, checksum
 * @check), held by @holders. */
static void add_file(struct lane *l, const json_t *f, const uint8_t hash[32], uint64_t size,
                     uint64_t check, const uint64_t *holders, size_t n_holders)
{
    ImportedHolders *h = xmalloc(sizeof *h);
    imported_holders__init(h);
    h->n_nodes = n_holders;
    h->nodes = n_holders > 0 ? xcalloc(n_holders, sizeof *h->nodes) : NULL;
    if (n_holders > 0) {
        memcpy(h->nodes, holders, n_holders * sizeof *holders);
    }
    l->files[l->n_files] = import_file_record(f, l->run->datasource, l->image_no, hash, size,
                                              check);
    l->holders[l->n_files] = h;
    l->n_files++;
}

static void propose_import(struct lane *l)
{
    struct run *run = l->run;
    Command cmd = COMMAND__INIT;
    ImportBill ib = IMPORT_BILL__INIT;
    BillRecord *bill = import_bill_record(l->bill, l->image_no);
    AuditRecord **history;
    size_t n;
    import_history(l->bill, &history, &n);
    ib.batch_no = run->batch_no;
    ib.bill = bill;
    ib.files = l->files;
    ib.n_files = l->n_files;
    ib.holders = l->holders;
    ib.n_holders = l->n_files;
    ib.history = history;
    ib.n_history = n;
    cmd.body_case = COMMAND__BODY_IMPORT_BILL;
    cmd.import_bill = &ib;
    l->prop.data = l;
    l->proposing = true;
    if (!run_propose(run, &l->prop, &cmd, outcome_applied)) {
        lane_idle(l);
    }
    import_history_free(history, n);
    archive_free_bill(bill);
}

/* The content of the current file is stored and copied: on to the next. */
static void copied(struct keeper_copies *c, int status)
{
    struct lane *l = c->data;
    const json_t *f = json_array_get(json_object_get(l->bill, "files"), l->file_i);
    char why[700];
    if (status != 0) {
        snprintf(why, sizeof why, "copies of file %.64s: %s", str(f, "file_id"), c->message);
        source_failed(l, BASE_ERETRY, why);
        return;
    }
    add_file(l, f, l->up.writer.hash, l->up.writer.size, l->up.writer.check, c->holders,
             c->n_holders);
    l->file_i++;
    next_file(l);
}

static void stored(struct blob_in *u, int status)
{
    struct lane *l = u->data;
    struct run *run = l->run;
    const json_t *f = json_array_get(json_object_get(l->bill, "files"), l->file_i);
    struct keeper_copies *kc = &l->copies;
    char why[700];
    int rv;
    l->storing = false;
    if (l->failure_status != 0 || status != 0) {
        if (l->failure_status != 0) {
            source_failed(l, l->failure_status, l->failure);
        } else if (status == BASE_ECORRUPT) {
            snprintf(why, sizeof why, "the content of file %.64s does not match the hash the "
                     "source gave for it", str(f, "file_id"));
            fail_bill(l, why);
        } else {
            snprintf(why, sizeof why, "storing file %.64s: %s", str(f, "file_id"),
                     base_strerror(status));
            source_failed(l, status == BASE_ECANCELED ? BASE_ERETRY : status, why);
        }
        return;
    }
    run->r->stats.files_fetched_total++;
    run->r->stats.bytes_fetched_total += u->writer.size;
    memset(kc, 0, sizeof *kc);
    memcpy(kc->hash, u->writer.hash, 32);
    kc->size = u->writer.size;
    kc->data = l;
    if (run->r->config.keeper == NULL) {
        kc->holders[0] = run->r->config.node_id;
        kc->n_holders = 1;
        copied(kc, 0);
        return;
    }
    rv = keeper_copy(run->r->config.keeper, kc, copied);
    if (rv == 1) {
        copied(kc, 0);
    } else if (rv != 0) {
        copied(kc, rv);
    }
}

static void room(struct blob_in *u)
{
    struct lane *l = u->data;
    if (l->dl_paused && !l->budget_wait && l->downloading) {
        l->dl_paused = false;
        http_client_resume(&l->dl);
    }
}

void lane_budget_resume(struct lane *l)
{
    l->budget_wait = false;
    if (l->dl_paused && l->downloading && !blob_in_full(&l->up)) {
        l->dl_paused = false;
        http_client_resume(&l->dl);
    }
}

/* The download of the current file failed with @status: the first reason stays. */
static void dl_fail(struct lane *l, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dl_fail(struct lane *l, int status, const char *fmt, ...)
{
    va_list ap;
    if (l->failure_status != 0) {
        return;
    }
    l->failure_status = status;
    va_start(ap, fmt);
    vsnprintf(l->failure, sizeof l->failure, fmt, ap);
    va_end(ap);
}

static size_t dl_data(struct http_client_req *req, const char *data, size_t n)
{
    struct lane *l = req->data;
    struct migrate_runner *r = l->run->r;
    long st = http_client_status(req);
    const json_t *f = json_array_get(json_object_get(l->bill, "files"), l->file_i);
    if (st < 200 || st >= 300) {
        return n; /* an error page: not the content */
    }
    if (l->failure_status != 0) {
        return 0;
    }
    if (r->config.file_bytes_max > 0 && l->fetched + n > r->config.file_bytes_max) {
        dl_fail(l, BASE_EINVAL, "file %.64s is larger than this archive takes (--body-max, "
                "%llu bytes)", str(f, "file_id"), (unsigned long long)r->config.file_bytes_max);
        return 0;
    }
    if (blob_in_full(&l->up)) {
        l->dl_paused = true;
        return HTTP_CLIENT_PAUSE;
    }
    if (!runner_budget_take(r, n)) {
        l->dl_paused = true;
        l->budget_wait = true;
        return HTTP_CLIENT_PAUSE;
    }
    for (size_t off = 0; off < n; off += HTTP_BODY_CHUNK_MAX) {
        size_t k = n - off < HTTP_BODY_CHUNK_MAX ? n - off : HTTP_BODY_CHUNK_MAX;
        blob_in_push(&l->up, data + off, k);
    }
    l->fetched += n;
    return n;
}

static void dl_done(struct http_client_req *req)
{
    struct lane *l = req->data;
    const json_t *f = json_array_get(json_object_get(l->bill, "files"), l->file_i);
    long st = req->status;
    l->downloading = false;
    if (st == 0) {
        dl_fail(l, BASE_ERETRY, "file %.64s: no answer from the source (%.200s)",
                str(f, "file_id"), req->error);
    } else if (st < 200 || st >= 300) {
        dl_fail(l, source_status_of(st) == BASE_ERETRY ? BASE_ERETRY : BASE_EINVAL,
                "file %.64s: the source answered HTTP %ld", str(f, "file_id"), st);
    } else if (l->fetched == 0) {
        dl_fail(l, BASE_EINVAL, "file %.64s: the source sent no content", str(f, "file_id"));
    }
    blob_in_push_end(&l->up, l->failure_status != 0 ? BASE_EINVAL : 0);
}

/* Fetches file l->file_i, or proposes the bill when every file is in. */
static void next_file(struct lane *l)
{
    struct run *run = l->run;
    struct base_err err = {{0}};
    const json_t *files = json_object_get(l->bill, "files");
    const json_t *f;
    BlobRecord *known = NULL;
    uint8_t hash[32];
    int rv;
    if (run->r->stopping || run->gone) {
        lane_idle(l);
        return;
    }
    while (l->file_i < json_array_size(files)) {
        f = json_array_get(files, l->file_i);
        if (!import_blob_of(f, hash) || archive_read_blob(run->r->a, hash, &known, &err) != 0) {
            break;
        }
        /* This archive holds the content already: no byte moves. */
        if (known->refs == 0 || known->n_holders == 0) {
            archive_free_blob(known);
            break;
        }
        add_file(l, f, hash, known->size, 0, NULL, 0);
        archive_free_blob(known);
        run->r->stats.files_deduplicated_total++;
        l->file_i++;
    }
    if (l->file_i >= json_array_size(files)) {
        propose_import(l);
        return;
    }
    f = json_array_get(files, l->file_i);
    rv = source_file_request(l->src, f, l->url, sizeof l->url, l->header, sizeof l->header, &err);
    if (rv != 0) {
        char why[400];
        snprintf(why, sizeof why, "file %.64s: %s", str(f, "file_id"), err.msg);
        source_failed(l, rv, why);
        return;
    }
    memset(&l->up, 0, sizeof l->up);
    snprintf(l->label, sizeof l->label, "migration %s bill %s", run->batch_no, l->image_no);
    l->up.bp = run->r->config.blobs;
    l->up.label = l->label;
    l->up.done = stored;
    l->up.data = l;
    l->expect = import_blob_of(f, l->expected);
    if (l->expect) {
        l->up.expect_hash = true;
        memcpy(l->up.expected, l->expected, 32);
    }
    l->fetched = 0;
    l->failure_status = 0;
    l->failure[0] = '\0';
    l->storing = true;
    blob_in_begin_pull(&l->up, room);
    memset(&l->dl, 0, sizeof l->dl);
    l->headers[0] = l->header[0] != '\0' ? l->header : NULL;
    l->headers[1] = NULL;
    l->dl.data = l;
    l->dl.method = "GET";
    l->dl.url = l->url;
    l->dl.headers = l->headers;
    l->dl.timeout_ms = SOURCE_FILE_TIMEOUT_MS;
    l->dl.on_data = dl_data;
    l->dl.permits = outbound_check;
    l->dl.guard = run->r->config.guard;
    l->downloading = true;
    l->dl_paused = l->budget_wait = false;
    http_client_send(run->r->config.http, &l->dl, dl_done);
}

static void move_answered(void *arg, int status, const char *message, json_t *bill)
{
    struct lane *l = arg;
    char why[512];
    const char *problem;
    if (status != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "reading bill %s from the source: %s", l->image_no, message);
        source_failed(l, status, msg);
        return;
    }
    run_ok(l->run);
    problem = check_bill(l, bill, why, sizeof why);
    if (problem != NULL) {
        fail_bill(l, problem);
        return;
    }
    l->bill = json_incref(bill);
    l->n_files = 0;
    l->files = xcalloc(json_array_size(json_object_get(bill, "files")) + 1, sizeof *l->files);
    l->holders = xcalloc(json_array_size(json_object_get(bill, "files")) + 1,
                         sizeof *l->holders);
    l->file_i = 0;
    next_file(l);
}

/* ---- Starting and cancelling ---- */

/* Whether the bill is here already, migrated from this batch's data source. */
static bool present_here(struct lane *l)
{
    struct run *run = l->run;
    struct base_err err = {{0}};
    char ds[ARCHIVE_ID_MAX + 1], batch[ARCHIVE_ID_MAX + 1];
    MigrationRecord *m = NULL;
    bool same = false;
    if (archive_get_migrated(run->r->a, run->tenant, l->image_no, ds, batch, &err) != 0 ||
        archive_get_migration(run->r->a, run->tenant, run->batch_no, &m, &err) != 0) {
        return false;
    }
    same = strcmp(ds, m->datasource) == 0;
    migration_record__free_unpacked(m, NULL);
    return same;
}

void lane_start(struct lane *l, enum lane_job job, const MigrationBill *b)
{
    l->job = job;
    l->failure[0] = '\0';
    l->failure_status = 0;
    snprintf(l->image_no, sizeof l->image_no, "%s", b->image_no);
    l->listed = json_pack("{s:s, s:s, s:s, s:s, s:s}", "image_no", b->image_no, "bill_no",
                          b->bill_no, "bill_type", b->bill_type, "org", b->org, "source_ref",
                          b->source_ref);
    if (job == LANE_MOVE && present_here(l)) {
        /* Moved by an earlier batch: recorded present, nothing read or fetched. */
        l->bill = json_object();
        propose_import(l);
        return;
    }
    source_get_bill(l->src, l->image_no, l->listed,
                    job == LANE_CHECK ? check_answered : move_answered, l);
}

void lane_cancel(struct lane *l)
{
    if (l->downloading) {
        http_client_cancel(&l->dl, "the migration stopped on this node");
    }
}
