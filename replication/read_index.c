/* Consistent reads: the leader commits a raft barrier (reads that arrive while one is
 * in flight share the next one, never the current: it may have been appended before
 * their write was acknowledged) and answers its applied index; a follower asks the
 * leader for it (POST /internal/v1/read-index), then waits to apply it. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/peer.h"
#include "replication/repl_int.h"

static void read_applied(struct repl_wait *w, int status)
{
    struct repl_read *rd = w->data;
    rd->cb(rd, status);
}

static void reads_fail(struct repl *r, struct repl_read *list, int status)
{
    while (list != NULL) {
        struct repl_read *rd = list;
        list = rd->next;
        rd->next = NULL;
        rd->cb(rd, status);
    }
}

static int start_barrier(struct repl *r);

void repl_reads_stop(struct repl *r)
{
    reads_fail(r, r->reads.next, BASE_ESHUTDOWN);
    r->reads.next = NULL;
}

static void barrier_done(struct raft_barrier *b, int status)
{
    struct repl *r = b->data;
    struct repl_read *done = r->reads.current;
    ASSERT(r->reads.barrier_in_flight);
    r->reads.barrier_in_flight = false;
    r->reads.current = NULL;
    if (status != 0 || r->stopping) {
        reads_fail(r, done, r->stopping ? BASE_ESHUTDOWN : BASE_ERETRY);
    } else {
        for (struct repl_read *rd = done; rd != NULL; rd = rd->next) {
            rd->index = r->archive->applied_index;
        }
        reads_fail(r, done, 0);
    }
    if (r->reads.next != NULL && !r->stopping && start_barrier(r) != 0) {
        done = r->reads.next;
        r->reads.next = NULL;
        reads_fail(r, done, BASE_ERETRY);
    }
}

/* Starts a barrier for the reads waiting for the next one; on failure they are left
 * in reads.next for the caller to end. */
static int start_barrier(struct repl *r)
{
    int rv;
    ASSERT(!r->reads.barrier_in_flight); /* reads after it wait in reads.next */
    memset(&r->reads.barrier, 0, sizeof r->reads.barrier);
    r->reads.barrier.data = r;
    rv = raft_barrier(&r->raft, &r->reads.barrier, barrier_done);
    if (rv != 0) {
        LOG_WARN("raft", "read barrier: %s", raft_strerror(rv));
        return BASE_ERETRY;
    }
    r->reads.current = r->reads.next;
    r->reads.next = NULL;
    r->reads.barrier_in_flight = true;
    return 0;
}

static void read_index_answered(struct peer_call *c)
{
    struct repl_read *rd = c->data;
    struct repl *r = rd->repl;
    ReadIndexResult *res = NULL;
    char why[400];
    if (c->req.status == 200 && !c->req.truncated) {
        res = read_index_result__unpack(NULL, c->req.response_len,
                                        (const uint8_t *)c->req.response);
    }
    if (res == NULL) {
        peer_call_describe(c, why, sizeof why);
    }
    rd->call = NULL;
    peer_call_free(c);
    if (r->stopping || res == NULL) {
        if (res == NULL && !r->stopping) {
            LOG_WARN("forward", "read index from the leader: %s", why);
        }
        read_index_result__free_unpacked(res, NULL);
        rd->cb(rd, r->stopping ? BASE_ESHUTDOWN : BASE_ERETRY);
        return;
    }
    rd->index = res->index;
    read_index_result__free_unpacked(res, NULL);
    rd->wait.data = rd;
    repl_wait_applied(r, &rd->wait, rd->index, REPL_READ_INDEX_TIMEOUT_MS, read_applied);
}

/* Ends @rd with @status from the next loop iteration (callbacks never run inside the
 * call that started them): a wait that is already over. */
static void fail_soon(struct repl *r, struct repl_read *rd, int status)
{
    rd->wait.data = rd;
    if (status == 0) {
        repl_wait_applied(r, &rd->wait, 0, 0, read_applied);
    } else {
        /* An index that is never reached with no time to wait: BASE_ERETRY. */
        repl_wait_applied(r, &rd->wait, UINT64_MAX, 0, read_applied);
    }
}

void repl_read_index(struct repl *r, struct repl_read *rd, bool local, repl_read_cb cb)
{
    char http[ARCHIVE_ADDRESS_MAX + 1];
    uint64_t leader;
    rd->repl = r;
    rd->cb = cb;
    rd->next = NULL;
    rd->call = NULL;
    rd->index = 0;
    if (repl_is_leader(r) && !r->stopping) {
        rd->next = r->reads.next;
        r->reads.next = rd;
        if (!r->reads.barrier_in_flight && start_barrier(r) != 0) {
            r->reads.next = NULL; /* rd alone: a barrier in flight would have taken others */
            fail_soon(r, rd, BASE_ERETRY);
        }
        return;
    }
    if (local || r->auth == NULL || !repl_leader_http(r, &leader, http, sizeof http) ||
        leader == r->id) {
        fail_soon(r, rd, BASE_ERETRY);
        return;
    }
    rd->call = peer_call_start(r, "POST", http, PEER_PATH_READ_INDEX, NULL, 0,
                               REPL_READ_INDEX_TIMEOUT_MS, read_index_answered, rd);
}
