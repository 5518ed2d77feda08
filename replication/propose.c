/* Forwarding to the leader: proposals made on a follower.
 *
 * A follower sends the encoded command to the leader's POST /internal/v1/propose; the
 * leader proposes it (re-stamping its time: the leader's clock is the cluster's) and
 * answers a ProposeResult with the entry's index. The follower then waits until it has
 * applied that entry itself before the proposer's callback runs, so the client reads
 * its own write on the node it wrote through. When the call fails after it may have
 * reached the leader (a transport error, a timeout, a 5xx such as the leader losing the
 * lead before the entry commits, an answer that is not a valid result, or this node
 * seeing another leader while the call waits: repl_forwards_leader_changed() ends it
 * then, so a client is not held for the call's whole timeout by a leader that was cut
 * off or stopped), the outcome is unknown: the proposer gets BASE_ERETRY and the client
 * retries with its idempotency key. When the leader refuses the call (a 4xx: it checks
 * the signature and the body before doing anything), nothing was applied: the proposer
 * gets BASE_EREFUSED. Either way p->why says which leader and what it answered.
 * Nothing is retried here (but the one re-signing of a call refused for the clock
 * window, peer_call.c, which the leader refused before reading it): a retry of a
 * command without a key could apply twice.
 *
 * Consistent reads ask the leader for its read index in read_index.c.
 *
 * The leader's side of that wait (repl_commit_notice()): a follower learns that an entry
 * is committed only from the leader's next AppendEntries, and libraft sends one after a
 * commit only with a new entry or at the next heartbeat (up to --heartbeat-timeout-ms
 * later; libraft 0.22.1 has no call that sends a heartbeat now). So when the leader has
 * answered a forwarded proposal or read index, it makes sure an entry is appended after
 * that commit within the same loop iteration: any proposal does, and when none came, a
 * raft barrier (an empty entry, not seen by the state machine). One barrier serves every
 * answer of the iteration; under load the proposals themselves carry the news and no
 * barrier is needed. Nothing about what is acknowledged changes: the leader answers
 * after its entry is committed and applied, as before, and the follower still answers
 * its client only once it has applied the entry itself. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/peer.h"
#include "replication/repl_int.h"

/* ---- Proposals ---- */

static void forward_applied(struct repl_wait *w, int status)
{
    struct repl_propose *p = w->data;
    struct repl *r = p->repl;
    if (status == BASE_ESHUTDOWN) {
        p->cb(p, BASE_ESHUTDOWN, NULL);
        return;
    }
    if (status != 0) {
        /* The write is committed: answer it; only this node is slow to show it. */
        LOG_WARN("forward", "entry %llu applied by the leader is not applied here after %d "
                            "ms (applied %llu); answering anyway",
                 (unsigned long long)p->index, REPL_FORWARD_APPLY_WAIT_MS,
                 (unsigned long long)r->archive->applied_index);
    }
    p->cb(p, 0, &p->result);
}

/* The leader's answer into p->result; false when it is not a valid one. */
static bool take_result(struct repl_propose *p, const struct peer_call *c)
{
    /* Any refusal code is passed on: the API answers one it does not know with a 500
     * naming it, rather than a retry that would be refused again. */
    if (c->req.status != 200 || c->req.truncated ||
        !peer_propose_result_unpack((const uint8_t *)c->req.response, c->req.response_len,
                                    &p->result, &p->index)) {
        return false;
    }
    p->has_result = true;
    return true;
}

/* The "message" of a JSON error answer (api/router.c's shape), or the body as it is,
 * into @out: printable characters only. */
static void answer_message(const struct peer_call *c, char *out, size_t size)
{
    const char *body = c->req.response != NULL ? c->req.response : "";
    const char *m = strstr(body, "\"message\":\"");
    size_t n = 0;
    if (m != NULL) {
        body = m + strlen("\"message\":\"");
    }
    for (; *body != '\0' && n + 1 < size; body++) {
        if (m != NULL && *body == '"') {
            break;
        }
        if (m != NULL && *body == '\\' && body[1] != '\0') {
            body++;
        }
        out[n++] = (*body >= 0x20 && *body < 0x7f) ? *body : ' ';
    }
    out[n] = '\0';
}

/* Why a forwarded proposal failed into p->why; the status for the proposer. */
static int forward_failure(struct repl_propose *p, const struct peer_call *c)
{
    char msg[256], what[400];
    long status = c->req.status;
    if (p->superseded_by != 0) {
        snprintf(p->why, sizeof p->why, "the leader changed from node %llu to node %llu while "
                 "this write was forwarded to the old one; its outcome is unknown",
                 (unsigned long long)p->leader, (unsigned long long)p->superseded_by);
        return BASE_ERETRY;
    }
    if (status >= 400 && status < 500) {
        answer_message(c, msg, sizeof msg);
        snprintf(p->why, sizeof p->why, "the leader (node %llu at %.64s) refused this node's "
                 "signed call with HTTP %ld: %.200s; nothing was applied",
                 (unsigned long long)p->leader, c->peer, status, msg);
        return BASE_EREFUSED;
    }
    if (status != 0) {
        answer_message(c, msg, sizeof msg);
        snprintf(what, sizeof what, "HTTP %ld%s%.200s", status, msg[0] != '\0' ? ": " : "",
                 msg);
    } else {
        snprintf(what, sizeof what, "%s", c->req.error);
    }
    snprintf(p->why, sizeof p->why, "the call to the leader (node %llu at %.64s) ended "
             "without a result (%.240s)", (unsigned long long)p->leader, c->peer, what);
    return BASE_ERETRY;
}

static void forwarding_add(struct repl *r, struct repl_propose *p)
{
    p->prev = NULL;
    p->next = r->forwards.list;
    if (r->forwards.list != NULL) {
        r->forwards.list->prev = p;
    }
    r->forwards.list = p;
}

static void forwarding_remove(struct repl *r, struct repl_propose *p)
{
    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else {
        r->forwards.list = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    }
    p->next = p->prev = NULL;
}

/* A call to a leader that lost the lead may hang until its timeout (the old leader is
 * cut off or stopped): once this node sees another leader, the client is told at once
 * to retry (with its idempotency key), rather than after REPL_FORWARD_TIMEOUT_MS. */
void repl_forwards_leader_changed(struct repl *r, uint64_t leader)
{
    struct repl_propose *p = r->forwards.list;
    while (p != NULL) {
        struct repl_propose *next = p->next; /* p leaves the list in its callback */
        if (p->leader != leader && p->call != NULL) {
            p->superseded_by = leader;
            peer_call_cancel(p->call, "the leader changed");
        }
        p = next;
    }
}

static void forwarded(struct peer_call *c)
{
    struct repl_propose *p = c->data;
    struct repl *r = p->repl;
    int status = 0;
    bool ok;
    forwarding_remove(r, p);
    ok = take_result(p, c);
    if (!ok) {
        status = forward_failure(p, c);
    }
    p->call = NULL;
    peer_call_free(c);
    if (r->stopping) {
        r->forwards.failed++;
        p->cb(p, BASE_ESHUTDOWN, NULL);
        return;
    }
    if (!ok) {
        r->forwards.failed++;
        LOG_WARN("forward", "proposal %s: %s",
                 status == BASE_EREFUSED ? "refused" : "not confirmed (outcome unknown)",
                 p->why);
        p->cb(p, status, NULL);
        return;
    }
    p->wait.data = p;
    repl_wait_applied(r, &p->wait, p->index, REPL_FORWARD_APPLY_WAIT_MS, forward_applied);
}

int repl_forward(struct repl *r, struct repl_propose *p, const Command *cmd)
{
    char http[ARCHIVE_ADDRESS_MAX + 1];
    uint64_t leader;
    void *body;
    size_t len;
    if (r->auth == NULL) {
        return BASE_ENOTLEADER; /* a node without the secret cannot be a follower */
    }
    if (!repl_leader_http(r, &leader, http, sizeof http) || leader == r->id) {
        return BASE_ENOTLEADER;
    }
    archive_encode(cmd, &body, &len);
    p->has_result = false;
    p->index = 0;
    p->raft_req = NULL;
    p->leader = leader;
    p->superseded_by = 0;
    r->forwards.total++;
    forwarding_add(r, p);
    p->call = peer_call_start(r, "POST", http, PEER_PATH_PROPOSE, body, len,
                              REPL_FORWARD_TIMEOUT_MS, forwarded, p);
    return 0;
}

/* ---- The leader: the commit index to the followers at once ---- */

/* Does nothing: an active idle handle makes the loop poll without blocking, so the
 * check phase (the monitor) comes at once even when the answer was given from a timer
 * or another phase before the poll. */
static void notice_idle(uv_idle_t *h)
{
    (void)h;
}

void repl_commit_notice_init(struct repl *r)
{
    uv_idle_init(r->loop, &r->notice.idle);
    r->notice.idle.data = r;
}

void repl_commit_notice(struct repl *r)
{
    if (r->stopping) {
        return;
    }
    /* An entry appended after this (there is none yet: the last index now) carries a
     * commit index that covers it. */
    r->notice.pending = true;
    r->notice.last_index = raft_last_index(&r->raft);
    uv_idle_start(&r->notice.idle, notice_idle);
}

static void notice_done(struct raft_barrier *b, int status)
{
    (void)status; /* a lost lead or a close: the new leader's entries say it */
    free(b);
}

void repl_commit_notice_check(struct repl *r)
{
    struct raft_barrier *b;
    int rv;
    if (!r->notice.pending) {
        return;
    }
    r->notice.pending = false;
    uv_idle_stop(&r->notice.idle);
    /* Proposals queued for the next entry (propose_local.c: appended at the next idle
     * phase, which comes without waiting) carry the commit index as well. */
    if (r->stopping || !repl_is_leader(r) ||
        raft_last_index(&r->raft) > r->notice.last_index || r->queue.n > 0) {
        return;
    }
    b = xcalloc(1, sizeof *b);
    b->data = r;
    rv = raft_barrier(&r->raft, b, notice_done);
    if (rv != 0) {
        free(b); /* the followers learn it at the next heartbeat */
        LOG_DEBUG("forward", "commit notice barrier: %s", raft_strerror(rv));
        return;
    }
    r->notice.barriers++;
}
