#include "blob_fetch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/nodes.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/peer.h"
#include "replication/repl_int.h"
#include "replication/peer_tls.h"

#define FETCH_TIMEOUT_MS (10u * 60 * 1000) /* a whole large blob over a slow link */

static size_t fetch_data(struct http_client_req *req, const char *data, size_t n)
{
    struct blob_fetch *f = req->data;
    size_t taken;
    long status = http_client_status(req);
    if (status != 200 && status != 206) {
        f->refused = status;
        return 0; /* an error answer: fail rather than pass its body on as content */
    }
    if (f->received + n > f->expected) {
        return 0;
    }
    taken = f->on_data(f, data, n);
    if (taken == n) {
        f->received += n;
    }
    return taken;
}

static void fetch_start(struct blob_fetch *f);
static void fetch_send(struct blob_fetch *f);

static void fetch_done(struct http_client_req *req)
{
    struct blob_fetch *f = req->data;
    char why[320];
    bool ok = req->status != 0 && f->received == f->expected;
    int64_t offset = 0;
    bool learned = peer_headers_learn(f->repl->auth, f->holder_http, &f->auth, &f->answer,
                                      &offset);
    if (!ok && f->received == 0 && f->resent < PEER_AUTH_RESENDS_MAX && !f->repl->stopping &&
        peer_auth_should_resign(req->status != 0 ? req->status : f->refused, learned,
                                &f->auth, offset)) {
        /* Refused for the time window: sign again with the holder's clock. */
        f->resent++;
        free(req->response);
        fetch_send(f);
        return;
    }
    if (!ok && f->received == 0 && f->next < f->n_next && !f->repl->stopping) {
        /* Nothing passed on yet: the next holder may serve it. */
        LOG_WARN("blobs", "fetch %s failed (%s); asking the next holder", f->url,
                 req->error[0] != '\0' ? req->error : "HTTP error");
        free(req->response);
        fetch_start(f);
        return;
    }
    if (!ok) {
        long status = req->status != 0 ? req->status : f->refused;
        if (status != 0 && status != 200 && status != 206) {
            snprintf(why, sizeof why, "holder %" PRIu64 " answered HTTP %ld", f->holder,
                     status);
        } else {
            snprintf(why, sizeof why, "holder %" PRIu64 ": %s (%" PRIu64 " of %" PRIu64
                     " bytes)", f->holder, req->error[0] != '\0' ? req->error : "cut short",
                     f->received, f->expected);
        }
        LOG_WARN("blobs", "fetch %s: %s", f->url, why);
    }
    f->on_done(f, ok, ok ? NULL : why);
    free(req->response);
    free(f);
}

/* Orders the holders of @blob other than this node: same zone first, then other
 * zones, nodes marked out last; removed ones are left out. */
static void pick_holders(struct repl *r, const BlobRecord *blob, struct blob_fetch *f)
{
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < blob->n_holders && f->n_next < BLOB_FETCH_HOLDERS_MAX; i++) {
            struct base_err err = {{0}};
            NodeRecord *node;
            bool out, near;
            if (blob->holders[i] == r->id ||
                archive_get_node(r->archive, blob->holders[i], &node, &err) != 0) {
                continue;
            }
            out = strcmp(node->storage, ARCHIVE_STORAGE_OUT) == 0;
            near = strcmp(node->zone, r->zone) == 0;
            if (!node->removed && node->http[0] != '\0' &&
                ((pass == 0 && !out && near) || (pass == 1 && !out && !near) ||
                 (pass == 2 && out))) {
                f->next_ids[f->n_next] = node->id;
                snprintf(f->next_http[f->n_next], sizeof f->next_http[0], "%s", node->http);
                f->n_next++;
            }
            archive_free_node(node);
        }
    }
}

static void fetch_header(struct http_client_req *req, const char *line, size_t n)
{
    struct blob_fetch *f = req->data;
    peer_answer_line(&f->answer, line, n);
}

/* Asks the current holder, signed in its time as far as this node knows it. */
static void fetch_send(struct blob_fetch *f)
{
    memset(&f->req, 0, sizeof f->req);
    f->refused = 0;
    peer_answer_reset(&f->answer);
    f->req.data = f;
    peer_get_prepare(f->repl, &f->req, &f->auth, f->headers, f->holder_http, f->url,
                     f->target, f->range, fetch_data, fetch_header);
    f->req.timeout_ms = FETCH_TIMEOUT_MS;
    f->req.connect_timeout_ms = 2000;
    http_client_send(f->repl->http, &f->req, fetch_done);
}

/* Asks the next holder. */
static void fetch_start(struct blob_fetch *f)
{
    f->holder_http = f->next_http[f->next];
    f->holder = f->next_ids[f->next++];
    f->resent = 0;
    snprintf(f->url, sizeof f->url, "%s://%s%s", peer_scheme(), f->holder_http, f->target);
    fetch_send(f);
}

struct blob_fetch *repl_blob_fetch(struct repl *r, const uint8_t hash[32], uint64_t from,
                                   uint64_t to, blob_fetch_data_cb on_data,
                                   blob_fetch_done_cb on_done, void *data, char *why,
                                   size_t why_size)
{
    struct base_err err = {{0}};
    BlobRecord *blob;
    struct blob_fetch *f;
    char hex[65];
    if (r->auth == NULL) {
        snprintf(why, why_size, "this node has no copy and no cluster secret to ask others");
        return NULL;
    }
    if (archive_get_blob(r->archive, hash, &blob, &err) != 0) {
        snprintf(why, why_size, "no record of the blob: %s", err.msg);
        return NULL;
    }
    f = xcalloc(1, sizeof *f);
    pick_holders(r, blob, f);
    if (f->n_next == 0) {
        snprintf(why, why_size, "no other member holds a copy (holders: %zu)", blob->n_holders);
        archive_free_blob(blob);
        free(f);
        return NULL;
    }
    archive_free_blob(blob);
    hex_encode(hash, 32, hex);
    f->data = data;
    f->repl = r;
    f->on_data = on_data;
    f->on_done = on_done;
    f->expected = to - from + 1;
    snprintf(f->target, sizeof f->target, "%s%s", PEER_PATH_BLOBS, hex);
    snprintf(f->range, sizeof f->range, "Range: bytes=%" PRIu64 "-%" PRIu64, from, to);
    fetch_start(f);
    return f;
}

void blob_fetch_resume(struct blob_fetch *f)
{
    http_client_resume(&f->req);
}
