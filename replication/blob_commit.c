/* Group commit of uploaded blobs (see blob_path.h).
 *
 * Uploads whose bytes are written and fdatasync'ed (each on its own worker, in
 * parallel) queue here. One worker job at a time puts a whole batch in place (renames,
 * then one syncfs: see blob_commit_batch()), so the cost of a sync is shared by every
 * upload that finished while the previous batch was syncing. Under load batches grow by themselves; an idle node syncs single files at
 * once, so no latency is added by waiting. */
#include "replication/blob_path.h"

#include <stdlib.h>

#include "base/log.h"
#include "base/mem.h"

struct blob_commit {
    struct blob_path *bp;
    struct blob_commit_item *head, *tail;
    bool running;
    uv_work_t work;
    struct blob_commit_item **batch;
    struct blob_writer **writers;
    int *results;
    size_t n;
    size_t cap;
    struct base_err err;
};

struct blob_commit *blob_commit_new(struct blob_path *bp)
{
    struct blob_commit *d = xcalloc(1, sizeof *d);
    d->bp = bp;
    d->cap = bp->config.group_commit_max > 0 ? bp->config.group_commit_max : 64;
    d->batch = xcalloc(d->cap, sizeof *d->batch);
    d->writers = xcalloc(d->cap, sizeof *d->writers);
    d->results = xcalloc(d->cap, sizeof *d->results);
    return d;
}

void blob_commit_free(struct blob_commit *d)
{
    if (d == NULL) {
        return;
    }
    ASSERT(!d->running && d->head == NULL);
    free(d->batch);
    free(d->writers);
    free(d->results);
    free(d);
}

static void commit_work(uv_work_t *work)
{
    struct blob_commit *d = work->data;
    int rv = blob_commit_batch(d->bp->blobs, d->writers, d->n, d->results,
                               d->bp->config.sync_blobs, &d->err);
    if (rv != 0 && rv != BASE_ENOSPACE) { /* a full disk is logged by blob_space.c, once */
        LOG_ERROR("durable", "group commit of %zu blobs: %s", d->n, d->err.msg);
    }
}

static void start(struct blob_commit *d);

static void after_commit(uv_work_t *work, int status)
{
    struct blob_commit *d = work->data;
    size_t n = d->n;
    d->bp->stats.group_commits_total++;
    d->bp->stats.group_commit_files_total += n;
    d->running = false;
    d->n = 0;
    for (size_t i = 0; i < n; i++) {
        struct blob_commit_item *item = d->batch[i];
        if (status != 0) {
            blob_writer_abort(item->writer);
            item->cb(item, BASE_ECANCELED);
        } else {
            if (d->results[i] != 0) {
                blob_writer_abort(item->writer);
            }
            item->cb(item, d->results[i]);
        }
    }
    if (d->head != NULL) {
        start(d);
    }
}

static void start(struct blob_commit *d)
{
    while (d->head != NULL && d->n < d->cap) {
        struct blob_commit_item *item = d->head;
        d->head = item->next;
        if (d->head == NULL) {
            d->tail = NULL;
        }
        d->batch[d->n] = item;
        d->writers[d->n] = item->writer;
        d->n++;
    }
    d->running = true;
    d->work.data = d;
    ASSERT(uv_queue_work(d->bp->loop, &d->work, commit_work, after_commit) == 0);
}

void blob_commit_add(struct blob_commit *d, struct blob_commit_item *item)
{
    item->next = NULL;
    if (d->tail != NULL) {
        d->tail->next = item;
    } else {
        d->head = item;
    }
    d->tail = item;
    if (!d->running) {
        start(d);
    }
}
