/* Seeding raft for a store restored from a backup (archive/restore.h): before the node
 * starts, its empty raft dir gets term 1 and a snapshot at the store's index J whose
 * configuration names this node alone as a voter, and whose content is a descriptor
 * of this node's store (replication/entry.h). At start raft loads it, restore() finds
 * the store at J already and skips, this node elects itself, and the log goes on at
 * J+1: every index the store recorded (idempotency results, audit entries, ids drawn
 * from indices) keeps its meaning, which a cluster bootstrapped at index 1 would not.
 *
 * It is the same write raft makes when a follower installs a snapshot (raft_io's
 * snapshot_put with no trailing entries), through a raft_uv of its own on a loop of
 * its own, run to completion here. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <raft.h>
#include <raft/uv.h>

#include "base/log.h"
#include "replication/entry.h"
#include "replication/repl.h"

struct seed {
    bool put_done, closed;
    int put_status;
};

static void put_done(struct raft_io_snapshot_put *req, int status)
{
    struct seed *s = req->data;
    s->put_done = true;
    s->put_status = status;
}

static void closed(struct raft_io *io)
{
    struct seed *s = io->data;
    s->closed = true;
}

static int seed(struct raft_io *io, uv_loop_t *loop, struct seed *s,
                const struct repl_seed *c, struct base_err *err)
{
    struct raft_snapshot snap;
    struct raft_snapshot *loaded = NULL;
    struct raft_entry *entries = NULL;
    struct raft_io_snapshot_put req;
    struct repl_descriptor d;
    struct raft_buffer buf;
    raft_term term;
    raft_id voted;
    raft_index start;
    size_t n_entries = 0;
    int rv;
    if ((rv = io->init(io, c->node_id, c->raft_address)) != 0) {
        base_err_set(err, "raft storage in %s: %s", c->raft_dir, io->errmsg);
        return BASE_EIO;
    }
    if ((rv = io->load(io, &term, &voted, &loaded, &start, &entries, &n_entries)) != 0) {
        base_err_set(err, "raft storage in %s: %s", c->raft_dir, io->errmsg);
        return BASE_EIO;
    }
    if (term != 0 || loaded != NULL || n_entries > 0) {
        /* The caller empties the dir first; raft state here is someone else's. */
        base_err_set(err, "raft dir %s is not empty: a restored store is seeded into an "
                          "empty one", c->raft_dir);
        return BASE_EEXISTS;
    }
    if ((rv = io->set_term(io, 1)) != 0) {
        base_err_set(err, "raft term in %s: %s", c->raft_dir, io->errmsg);
        return BASE_EIO;
    }
    memset(&d, 0, sizeof d);
    d.index = c->index;
    d.node_id = c->node_id;
    snprintf(d.http, sizeof d.http, "%s", c->http_address);
    repl_descriptor_encode(&d, &buf);
    memset(&snap, 0, sizeof snap);
    snap.index = c->index;
    snap.term = 1;
    snap.configuration_index = c->index;
    raft_configuration_init(&snap.configuration);
    if ((rv = raft_configuration_add(&snap.configuration, c->node_id, c->raft_address,
                                     RAFT_VOTER)) != 0) {
        base_err_set(err, "raft configuration: %s", raft_strerror(rv));
        rv = BASE_EINVAL;
    } else {
        snap.bufs = &buf;
        snap.n_bufs = 1;
        req.data = s;
        if ((rv = io->snapshot_put(io, 0, &req, &snap, put_done)) != 0) {
            base_err_set(err, "raft snapshot in %s: %s", c->raft_dir, raft_strerror(rv));
            rv = BASE_EIO;
        } else {
            while (!s->put_done) {
                uv_run(loop, UV_RUN_ONCE);
            }
            if (s->put_status != 0) {
                base_err_set(err, "raft snapshot in %s: %s", c->raft_dir,
                             raft_strerror(s->put_status));
                rv = BASE_EIO;
            }
        }
    }
    raft_configuration_close(&snap.configuration);
    raft_free(buf.base);
    return rv;
}

int repl_seed_restored(const struct repl_seed *c, struct base_err *err)
{
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct seed s = {0};
    int rv;
    uv_loop_init(&loop);
    memset(&transport, 0, sizeof transport);
    memset(&io, 0, sizeof io);
    transport.version = 1; /* the version libraft 0.22.1's transport interface has */
    if (raft_uv_tcp_init(&transport, &loop) != 0) {
        base_err_set(err, "raft transport: %s", transport.errmsg);
        uv_loop_close(&loop);
        return BASE_ENOMEM;
    }
    if (raft_uv_init(&io, &loop, c->raft_dir, &transport) != 0) {
        base_err_set(err, "raft storage in %s: %s", c->raft_dir, io.errmsg);
        raft_uv_tcp_close(&transport);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return BASE_EIO;
    }
    rv = seed(&io, &loop, &s, c, err);
    io.data = &s;
    io.close(&io, closed);
    while (!s.closed) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    raft_uv_close(&io);
    raft_uv_tcp_close(&transport);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rv == 0) {
        LOG_INFO("restore", "raft seeded in %s: a snapshot at index %" PRIu64
                 " naming node %" PRIu64 " (%s) the only voter", c->raft_dir, c->index,
                 c->node_id, c->raft_address);
    }
    return rv;
}
