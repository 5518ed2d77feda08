/* Folder-private to migrate/: the runner's batches and lanes, shared by runner.c (the
 * batches and their phases) and mover.c (one bill read, checked or moved in a lane). */
#ifndef IMGARC_MIGRATE_RUNNER_INT_H
#define IMGARC_MIGRATE_RUNNER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "archive/migration.h"
#include "migrate/runner.h"
#include "migrate/source.h"

#define MIGRATE_HEADER_MAX 2200

struct run;

enum lane_job {
    LANE_IDLE = 0,
    LANE_CHECK, /* read a bill and propose its verdict */
    LANE_MOVE,  /* read a bill, store its contents, propose it */
};

/* One bill at a time, with a source of its own (a source takes one call at a time). */
struct lane {
    struct run *run;
    struct source *src;
    enum lane_job job;
    char image_no[ARCHIVE_ID_MAX + 1];
    json_t *listed;  /* what the source needs to find the bill */
    json_t *bill;    /* the source's answer */
    size_t file_i;   /* the file being fetched */
    /* The ImportBill being built. */
    FileRecord **files;
    ImportedHolders **holders;
    size_t n_files;
    /* The download of one file. */
    struct http_client_req dl;
    char url[SOURCE_URL_MAX];
    char header[MIGRATE_HEADER_MAX];
    const char *headers[2];
    struct blob_in up;
    struct keeper_copies copies;
    uint8_t expected[32];
    bool expect;
    bool downloading;
    bool dl_paused;   /* held by the writer or the byte budget */
    bool budget_wait; /* held by the byte budget */
    bool storing;     /* the blob writer is open */
    uint64_t fetched; /* bytes of this file so far */
    char failure[400]; /* why the file failed, once it did */
    int failure_status;
    char label[160];
    /* The proposal of the outcome. */
    struct repl_propose prop;
    bool proposing;
};

/* A running batch this leader works on. */
struct run {
    struct migrate_runner *r;
    char tenant[ARCHIVE_ID_MAX + 1];
    char batch_no[ARCHIVE_ID_MAX + 1];
    char datasource[ARCHIVE_ID_MAX + 1];
    uint64_t ds_updated_ms; /* the data source's version the sources were made from */
    bool seen;     /* running at the last look */
    bool gone;     /* no longer running: freed once nothing is in flight */
    struct source *lister;
    bool listing;  /* a list call or its proposal in flight */
    bool closing;  /* the end-of-phase proposal in flight */
    struct repl_propose list_prop;
    struct repl_propose close_prop;
    char list_cursor[257];
    struct lane *lanes;
    unsigned n_lanes;
    /* Pre-check verdicts, proposed together (one MigrationChecked for up to
     * VERDICTS_MAX bills): waiting, and in the proposal in flight. */
    MigrationBill **verdicts;
    size_t n_verdicts;
    MigrationBill **flushing;
    size_t n_flushing;
    struct repl_propose verdict_prop;
    bool one_by_one; /* a combined proposal was refused: one bill per proposal */
    char scan_after[ARCHIVE_ID_MAX + 1]; /* where the look for bills to do goes on */
    uint64_t pass_todo;                  /* bills to do seen since the pass began */
    uint64_t retry_at_ms;                /* backed off until then */
    unsigned transient;                  /* source failures in a row */
    char last_error[400];
    struct run *next;
};

struct migrate_runner {
    uv_loop_t *loop;
    struct migrate_config config;
    struct archive *a;
    struct repl *repl;
    struct migrate_stats stats;
    uv_timer_t timer;
    uv_timer_t budget_timer;
    uv_timer_t kick_timer; /* a look at once, after a lane or a phase step ended */
    int64_t budget;        /* bytes the downloads may take now */
    bool stopping;
    unsigned closes;       /* timers still to close */
    struct run *runs;
};

/* runner.c */
/* A source failed @run with @status (BASE_ERETRY...): backs the batch off. */
void run_backoff(struct run *run, const char *why);
/* A call of @run's worked: the back-off starts over. */
void run_ok(struct run *run);
/* Stamps @cmd for @run's tenant (as the runner, now) and proposes it; false when it
 * could not be proposed (not the leader any more, stopping). */
bool run_propose(struct run *run, struct repl_propose *prop, Command *cmd, repl_propose_cb cb);
/* Looks at the batches again on the next loop iteration (a lane is free, a step is
 * recorded): the tick alone would leave lanes idle up to a tick long. */
void runner_kick(struct migrate_runner *r);
/* Queues the pre-check verdict @b (taken) of @run's bill for the next proposal. */
void run_add_verdict(struct run *run, MigrationBill *b);
/* Takes @n bytes of the download budget: false when it is spent (wait for the timer). */
bool runner_budget_take(struct migrate_runner *r, size_t n);

/* mover.c */
/* Starts @job for bill @b on idle lane @l. */
void lane_start(struct lane *l, enum lane_job job, const MigrationBill *b);
/* Ends a download held by the byte budget (the budget refilled). */
void lane_budget_resume(struct lane *l);
/* Cancels what the lane has in flight on the network (stopping). */
void lane_cancel(struct lane *l);
void lane_release(struct lane *l);

#endif
