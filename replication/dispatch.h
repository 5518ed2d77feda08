/* The leader's dispatch loop: what the webhook outbox (outbox.c) and the recognition
 * dispatcher (recognizer.c) share, and the leader-only timer the collect cleanup
 * (collect_gc.c) uses too.
 *
 * A dispatcher works through a queue the state machine keeps in replicated state. On
 * the leader only, a timer looks at the queue; each entry that is due gets a job (one
 * attempt: a POST to an operator's or tenant's service under the outbound guard, then
 * the proposal of its outcome), at most `concurrency` at once; an entry whose job is
 * still in flight is passed over; a failed attempt is retried after
 * dispatch_backoff_ms(). This module holds the part that does not depend on what is
 * sent:
 *  - struct dispatch_timer: a periodic timer whose callback is told whether this node
 *    leads an initialised cluster (and is not stopping);
 *  - struct dispatch: that timer, the jobs in flight (a list of struct dispatch_job,
 *    embedded in the caller's job and found by the caller's key; each holds its HTTP
 *    request, headers and proposal), and when to look at the queue again: when a job
 *    ended, when entries were queued since the last full pass, when the earliest future
 *    attempt is due, or to go on with a pass that stopped after DISPATCH_SCAN_BATCH
 *    entries;
 *  - dispatch_backoff_ms(): the delay before the next attempt.
 * The caller keeps its queue's cursor, what an attempt sends, how an answer is read and
 * which command reports it, and its metrics. Loop thread only; owns the timer handle
 * and each job's headers and answer. */
#ifndef IMGARC_REPLICATION_DISPATCH_H
#define IMGARC_REPLICATION_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "net/http_client.h"
#include "replication/outbound.h"
#include "replication/repl.h"

#define DISPATCH_TICK_MS 200     /* how often a dispatcher looks at its queue */
#define DISPATCH_SCAN_BATCH 4096 /* queue entries looked at per tick: bounds the loop's work */
#define DISPATCH_HEADERS_MAX 9   /* request headers of one attempt */

/* Delay before attempt @made + 1: @retry_ms doubled per attempt made after the first,
 * capped at @retry_max_ms, plus up to a tenth of jitter so a receiver coming back is
 * not hit by every retry at once. */
uint64_t dispatch_backoff_ms(unsigned retry_ms, unsigned retry_max_ms, uint32_t made);

/* ---- The leader-only timer ---- */

struct dispatch_timer;
/* @leading: this node is the leader of an initialised cluster and not stopping. */
typedef void (*dispatch_tick_cb)(struct dispatch_timer *t, bool leading);

struct dispatch_timer {
    void *data; /* the caller's; left as the caller sets it */
    bool stopping;
    uv_timer_t uv;
    struct archive *a; /* borrowed */
    struct repl *repl; /* borrowed */
    dispatch_tick_cb tick_cb;
};

/* Calls @tick_cb every @every_ms, the first time @every_ms from now. */
void dispatch_timer_start(struct dispatch_timer *t, uv_loop_t *loop, uint64_t every_ms,
                          struct archive *archive, struct repl *repl, dispatch_tick_cb tick_cb);
/* Sets stopping and closes the timer: @tick_cb is not called again. The struct stays
 * in use until the loop has run the close. */
void dispatch_timer_stop(struct dispatch_timer *t);

/* ---- Jobs in flight and the look at the queue ---- */

/* One attempt, embedded in the caller's job (found with container_of(), or through
 * req.data and prop.data, which are the caller's job). */
struct dispatch_job {
    /* The caller sets url, body, body_len, timeout_ms and response_max before
     * dispatch_post(); the answer is valid until dispatch_remove(). */
    struct http_client_req req;
    struct repl_propose prop;
    /* Private. */
    char *headers[DISPATCH_HEADERS_MAX];
    const char *header_ptrs[DISPATCH_HEADERS_MAX + 1];
    unsigned n_headers;
    struct dispatch_job *next, *prev;
};

/* Whether @job is the one of the queue entry @key (the caller's key). */
typedef bool (*dispatch_same_cb)(const struct dispatch_job *job, const void *key);

struct dispatch_config {
    unsigned concurrency;     /* jobs in flight at once */
    struct http_client *http; /* sends the attempts (borrowed) */
    struct outbound *guard;   /* checks every connection they open (borrowed) */
    void *data;               /* the caller's, as timer.data */
};

struct dispatch {
    struct dispatch_timer timer; /* every DISPATCH_TICK_MS; .data is the caller's */
    unsigned concurrency;
    struct http_client *http;
    struct outbound *guard;
    struct dispatch_job *jobs;
    unsigned n_jobs;
    /* When to look at the queue again. */
    uint64_t seen_added;  /* the queue's count of additions at the last full pass */
    uint64_t next_due_ms; /* earliest future attempt seen; 0: none */
    bool rescan;          /* a job ended, or a pass stopped short: look again */
};

/* One look at the queue, from dispatch_scan_begin() to dispatch_scan_end(). */
struct dispatch_pass {
    struct dispatch *d;
    uint64_t now;
    unsigned seen;
};

/* Starts the timer (@tick_cb every DISPATCH_TICK_MS) with no job in flight. @config is
 * copied. */
void dispatch_start(struct dispatch *d, uv_loop_t *loop, const struct dispatch_config *config,
                    struct archive *archive, struct repl *repl, dispatch_tick_cb tick_cb);
/* Stops the timer; jobs in flight end on their own (their callbacks see
 * d->timer.stopping). */
void dispatch_stop(struct dispatch *d);
/* Asserts that every job ended; call once the loop has run out. */
void dispatch_close(struct dispatch *d);

/* Adds @j (zeroed) to the jobs in flight, with @data (the caller's job) as its
 * request's and proposal's data; @j is kept until dispatch_remove(). */
void dispatch_add(struct dispatch *d, struct dispatch_job *j, void *data);
/* Takes @j out of the jobs in flight and frees its headers and answer: a slot is free,
 * the queue is looked at again. */
void dispatch_remove(struct dispatch *d, struct dispatch_job *j);
/* Whether a job for @key is in flight (@same_cb says which job is @key's). */
bool dispatch_in_flight(const struct dispatch *d, const void *key, dispatch_same_cb same_cb);

/* Adds "Name: value" @header (allocated; @j takes it) to @j's request. */
void dispatch_header(struct dispatch_job *j, char *header);
/* POSTs @j's request with its headers, every connection checked by the guard;
 * @done_cb runs exactly once (http_client_send()). */
void dispatch_post(struct dispatch *d, struct dispatch_job *j, http_client_cb done_cb);
/* Proposes @cmd (its body set by the caller) as the outcome of @j, for @tenant, named
 * @request_id, by @operator_, at this node's time; @applied_cb runs once it is applied
 * (repl_propose()). Fails when this node is no longer the leader or is stopping: the
 * next leader makes the attempt again. The strings must live until the call returns. */
int dispatch_propose(struct dispatch *d, struct dispatch_job *j, Command *cmd,
                     const char *tenant, const char *request_id, const char *operator_,
                     repl_propose_cb applied_cb) WARN_UNUSED;

/* Whether the queue is worth a look at @now: a slot is free, and a job ended, a pass
 * stopped short, @added (the queue's count of additions) moved since the last full
 * pass, or the earliest future attempt is due. */
bool dispatch_scan_wanted(const struct dispatch *d, uint64_t added, uint64_t now);
/* Begins a look at @now; @from_start: a full pass begins (the caller's cursor is at
 * the start), taken as having seen @added. */
void dispatch_scan_begin(struct dispatch *d, struct dispatch_pass *p, bool from_start,
                         uint64_t added, uint64_t now);
/* Counts one more entry; false when the batch is full: stop and go on next tick. */
bool dispatch_scan_next(struct dispatch_pass *p);
/* Whether an entry not in flight, due at @due_ms, is to start now: it is due and a
 * slot is free. Else it says when to look again (at its time, or at once for a due
 * entry that found no free slot). */
bool dispatch_scan_due(struct dispatch_pass *p, uint64_t due_ms);
/* Ends a look that went through; true when it stopped at the batch's end (the
 * caller keeps its cursor, the next tick goes on), false when the pass is complete
 * (the caller's cursor goes back to the start). */
bool dispatch_scan_end(struct dispatch_pass *p);

#endif
