/* The leader's proposals, gathered into raft entries.
 *
 * Every proposal made on the leader (its own, and those followers forward to it) waits
 * in a queue until the loop's next idle phase, then goes into a raft entry: the pool
 * pushes, captures and submits proposed meanwhile share one entry (up to
 * REPL_ENTRY_MAX_COMMANDS and REPL_ENTRY_MAX_BYTES), applied by
 * archive_apply_entry() in one write batch; any other command gets an entry of its
 * own, in the order it was proposed. A queue of one gives the single-command frame of
 * before. One entry instead of many saves raft a log entry, a message and a RocksDB
 * write per command; the wait is one loop iteration.
 *
 * An entry that raft took is pending until applied; the FSM (raft_node.c) finds it by
 * index and writes each command's result into its proposal. A command refused with
 * ARCHIVE_R_ENTRY_FULL (its webhook deliveries found no ids left in a shared entry;
 * nothing was applied) is queued again, alone. When raft refuses the entry, or the
 * leadership is lost before it commits, every proposal in it gets the failure: nothing
 * is retried here (see propose.c). */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/entry.h"
#include "replication/repl_int.h"

/* An entry this node proposed, and the proposals it carries, in order. */
struct repl_entry {
    struct raft_apply areq;
    struct repl *r;
    uint64_t index;
    size_t n;
    struct repl_propose *props[REPL_ENTRY_MAX_COMMANDS];
    struct repl_entry *next, *prev;
};

/* ---- Entries waiting to be applied ---- */

static void pending_add(struct repl *r, struct repl_entry *e)
{
    e->next = NULL;
    e->prev = r->props.tail;
    if (r->props.tail != NULL) {
        r->props.tail->next = e;
    } else {
        r->props.head = e;
    }
    r->props.tail = e;
}

static void pending_remove(struct repl *r, struct repl_entry *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        r->props.head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        r->props.tail = e->prev;
    }
}

size_t repl_pending_proposals(struct repl *r, uint64_t index, struct repl_propose **out)
{
    for (struct repl_entry *e = r->props.head; e != NULL; e = e->next) {
        if (e->index == index) {
            memcpy(out, e->props, e->n * sizeof *out);
            return e->n;
        }
    }
    return 0;
}

/* ---- The queue ---- */

static void queue_push(struct repl *r, struct repl_propose *p)
{
    p->next = NULL;
    p->prev = r->queue.tail;
    if (r->queue.tail != NULL) {
        r->queue.tail->next = p;
    } else {
        r->queue.head = p;
    }
    r->queue.tail = p;
    r->queue.n++;
    if (!uv_is_active((uv_handle_t *)&r->queue.idle)) {
        uv_idle_start(&r->queue.idle, repl_queue_flush);
    }
}

static struct repl_propose *queue_pop(struct repl *r)
{
    struct repl_propose *p = r->queue.head;
    if (p != NULL) {
        r->queue.head = p->next;
        if (r->queue.head == NULL) {
            r->queue.tail = NULL;
        } else {
            r->queue.head->prev = NULL;
        }
        p->next = p->prev = NULL;
        r->queue.n--;
    }
    return p;
}

/* The proposal is over: its packed command goes, then its callback runs. */
static void finish(struct repl_propose *p, int status, const struct archive_result *res)
{
    free(p->packed);
    p->packed = NULL;
    p->cb(p, status, res);
}

static int raft_status(int rv)
{
    return rv == RAFT_NOTLEADER  ? BASE_ENOTLEADER
           : rv == RAFT_NOSPACE ? BASE_ENOSPACE
           : rv == RAFT_SHUTDOWN ? BASE_ESHUTDOWN
                                : BASE_EIO;
}

static void entry_applied(struct raft_apply *areq, int status, void *result)
{
    struct repl_entry *e = (struct repl_entry *)areq;
    struct repl *r = e->r;
    (void)result;
    pending_remove(r, e);
    for (size_t i = 0; i < e->n; i++) {
        struct repl_propose *p = e->props[i];
        if (status == 0 && p->has_result && p->result.status == ARCHIVE_R_ENTRY_FULL &&
            !r->stopping) {
            p->alone = true; /* nothing was applied: proposed again, in an entry alone */
            p->has_result = false;
            r->props.requeued++;
            queue_push(r, p);
        } else if (status == 0 && p->has_result) {
            finish(p, 0, &p->result);
        } else {
            r->props.failed++;
            if (status == RAFT_SHUTDOWN || r->stopping) {
                finish(p, BASE_ESHUTDOWN, NULL);
            } else {
                LOG_WARN("raft", "proposal at index %llu: %s", (unsigned long long)e->index,
                         raft_strerror(status));
                finish(p, BASE_ERETRY, NULL);
            }
        }
    }
    free(e);
}

/* Takes the next entry's proposals off the queue into @e: the first one, and the
 * batchable ones after it while they fit. */
static void take_entry(struct repl *r, struct repl_entry *e)
{
    size_t bytes = 0;
    e->n = 0;
    while (r->queue.head != NULL && e->n < r->queue.max) {
        struct repl_propose *p = r->queue.head;
        bool shares = p->batchable && !p->alone;
        if (e->n > 0 && (!shares || !e->props[0]->batchable || e->props[0]->alone ||
                         bytes + p->packed_len > REPL_ENTRY_MAX_BYTES)) {
            break;
        }
        e->props[e->n++] = queue_pop(r);
        bytes += p->packed_len;
    }
}

/* Proposes one entry of the queue; false when raft refused it (its proposals were
 * told). */
static bool propose_entry(struct repl *r)
{
    struct repl_entry *e = xcalloc(1, sizeof *e);
    struct raft_buffer buf;
    int rv;
    e->r = r;
    take_entry(r, e);
    if (e->n == 1) {
        repl_entry_frame_packed(e->props[0]->packed, e->props[0]->packed_len, &buf);
    } else {
        struct archive_packed cmds[REPL_ENTRY_MAX_COMMANDS];
        for (size_t i = 0; i < e->n; i++) {
            cmds[i].buf = e->props[i]->packed;
            cmds[i].len = e->props[i]->packed_len;
        }
        repl_entry_frame_many(cmds, e->n, &buf);
    }
    rv = raft_apply(&r->raft, &e->areq, &buf, 1, entry_applied);
    if (rv != 0) {
        /* Refused before raft took the buffer for these; after that (an append
         * error) raft owns and frees it, and calls back. */
        if (rv == RAFT_NOTLEADER || rv == RAFT_NOSPACE || rv == RAFT_NOMEM) {
            raft_free(buf.base);
        }
        LOG_WARN("raft", "propose: %s", raft_strerror(rv));
        r->props.failed += e->n;
        for (size_t i = 0; i < e->n; i++) {
            finish(e->props[i], raft_status(rv), NULL);
        }
        free(e);
        return false;
    }
    e->index = e->areq.index;
    for (size_t i = 0; i < e->n; i++) {
        e->props[i]->index = e->index;
        e->props[i]->has_result = false;
    }
    pending_add(r, e);
    r->props.entries++;
    return true;
}

void repl_queue_flush(uv_idle_t *h)
{
    struct repl *r = h->data;
    uv_idle_stop(&r->queue.idle);
    while (r->queue.head != NULL) {
        if (r->stopping || !repl_is_leader(r)) {
            struct repl_propose *p = queue_pop(r);
            r->props.failed++;
            finish(p, r->stopping ? BASE_ESHUTDOWN : BASE_ENOTLEADER, NULL);
            continue;
        }
        (void)propose_entry(r);
    }
}

void repl_queue_init(struct repl *r, unsigned max_commands)
{
    r->queue.max = max_commands < 1                         ? 1
                   : max_commands > REPL_ENTRY_MAX_COMMANDS ? REPL_ENTRY_MAX_COMMANDS
                                                            : max_commands;
    uv_idle_init(r->loop, &r->queue.idle);
    r->queue.idle.data = r;
}

void repl_queue_stop(struct repl *r, uv_close_cb closed)
{
    repl_queue_flush(&r->queue.idle); /* r->stopping: each proposal ends, shut down */
    uv_close((uv_handle_t *)&r->queue.idle, closed);
}

int repl_apply_local(struct repl *r, struct repl_propose *p, const Command *cmd,
                     repl_propose_cb cb)
{
    void *packed;
    size_t len;
    if (r->stopping) {
        return BASE_ESHUTDOWN;
    }
    if (!repl_is_leader(r) || repl_catching_up(r)) {
        /* A catching-up leader hands over (catchup.c): its results would wait for the
         * fetch, and what it would propose rests on a store about to be replaced. */
        return BASE_ENOTLEADER;
    }
    archive_encode(cmd, &packed, &len);
    p->repl = r;
    p->cb = cb;
    p->has_result = false;
    p->call = NULL;
    p->index = 0;
    p->packed = packed;
    p->packed_len = len;
    p->batchable = archive_command_batchable(cmd);
    p->alone = false;
    r->props.total++;
    queue_push(r, p);
    return 0;
}

int repl_propose_local(struct repl *r, struct repl_propose *p, const Command *cmd,
                       repl_propose_cb cb)
{
    return repl_apply_local(r, p, cmd, cb);
}
