/* Applying the commands about cluster members and blob copies: node registration and
 * removal, storage states, space reports and weights, holders of blobs and purges of
 * unreferenced blob records. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/nodes.h"
#include "base/mem.h"

static void key_node(struct key *k, uint64_t id)
{
    rocks_put_be64((uint8_t *)k->buf, id);
    k->len = 8;
}

/* The member's record, or a fresh one (every field malloc()ed, like unpacked ones). */
static int load_node(struct txn *t, uint64_t id, NodeRecord **out, bool *found)
{
    int rv = archive_get_node(t->a, id, out, t->err);
    *found = rv == 0;
    if (rv != BASE_ENOTFOUND) {
        return rv;
    }
    *out = xmalloc(sizeof **out);
    node_record__init(*out);
    (*out)->id = id;
    (*out)->http = xstrdup("");
    (*out)->raft = xstrdup("");
    (*out)->zone = xstrdup("");
    return 0;
}

static void store_node(struct txn *t, NodeRecord *n)
{
    struct key k;
    n->updated_ms = t->cmd->time_ms;
    key_node(&k, n->id);
    put_record(t, ARCHIVE_CF_NODES, &k, &n->base);
}

int apply_register_node(struct txn *t, const RegisterNode *c)
{
    NodeRecord *n;
    bool found;
    int rv;
    if (c->id == 0 || c->http == NULL || !archive_valid_address(c->http) || c->raft == NULL ||
        !archive_valid_address(c->raft) || c->zone == NULL || !archive_valid_zone(c->zone)) {
        refuse(t, ARCHIVE_R_INVALID, "malformed node registration");
        return 0;
    }
    if ((rv = load_node(t, c->id, &n, &found)) != 0) {
        return rv;
    }
    if (n->removed) {
        refuse(t, ARCHIVE_R_INVALID, "node %llu was removed from the cluster; a node joins "
               "again only with a new id (an empty data dir)", (unsigned long long)c->id);
    } else {
        set_string(&n->http, c->http);
        set_string(&n->raft, c->raft);
        set_string(&n->zone, c->zone);
        if (!found) {
            n->joined_ms = t->cmd->time_ms;
        }
        store_node(t, n);
        t->res->created = !found;
    }
    archive_free_node(n);
    return 0;
}

/* Marks a member removed, registered or not (a node may leave before it registered). */
int apply_remove_node(struct txn *t, const RemoveNode *c)
{
    NodeRecord *n;
    bool found;
    int rv;
    if (c->id == 0) {
        refuse(t, ARCHIVE_R_INVALID, "malformed node removal");
        return 0;
    }
    if ((rv = load_node(t, c->id, &n, &found)) != 0) {
        return rv;
    }
    if (n->removed) {
        t->res->replayed = true;
    } else {
        n->removed = true;
        n->removed_ms = t->cmd->time_ms;
        store_node(t, n);
    }
    archive_free_node(n);
    return 0;
}

/* ---- Blob copies: holders, storage states, purges ---- */

static bool holds(const BlobRecord *blob, uint64_t id)
{
    for (size_t i = 0; i < blob->n_holders; i++) {
        if (blob->holders[i] == id) {
            return true;
        }
    }
    return false;
}

static void drop_holder(BlobRecord *blob, uint64_t id)
{
    for (size_t i = 0; i < blob->n_holders; i++) {
        if (blob->holders[i] == id) {
            blob->holders[i] = blob->holders[--blob->n_holders];
            return;
        }
    }
}

/* Applies each change whose required holders are all still there; res->position
 * counts the changes applied. */
int apply_set_holders(struct txn *t, const SetHolders *c)
{
    for (size_t i = 0; i < c->n_changes; i++) {
        const HolderChange *hc = c->changes[i];
        struct key k = {.len = 32};
        BlobRecord *blob;
        bool ok = true;
        int rv;
        if (hc->blob.len != 32) {
            continue;
        }
        memcpy(k.buf, hc->blob.data, 32);
        rv = archive_load_record(t->a, ARCHIVE_CF_BLOBS, &k, &blob_record__descriptor,
                                 (ProtobufCMessage **)&blob, t->err);
        if (rv == BASE_ENOTFOUND) {
            continue; /* purged meanwhile: the copies are garbage now */
        }
        if (rv != 0) {
            return rv;
        }
        for (size_t j = 0; j < hc->n_require && ok; j++) {
            ok = holds(blob, hc->require[j]);
        }
        if (ok) {
            add_holders(blob, hc->add, hc->n_add);
            for (size_t j = 0; j < hc->n_remove; j++) {
                drop_holder(blob, hc->remove[j]);
            }
            rv = put_blob(t, ARCHIVE_CF_BLOBS, &k, blob);
            t->res->position++;
        }
        blob_record__free_unpacked(blob, NULL);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int apply_set_node_storage(struct txn *t, const SetNodeStorage *c)
{
    NodeRecord *n;
    bool found;
    int rv;
    if (c->id == 0 || c->storage == NULL || !archive_valid_storage_state(c->storage)) {
        refuse(t, ARCHIVE_R_INVALID, "malformed storage state");
        return 0;
    }
    if ((rv = load_node(t, c->id, &n, &found)) != 0) {
        return rv;
    }
    if (!found || n->removed) {
        refuse(t, ARCHIVE_R_NODE_NOT_FOUND, "node %llu is not a member of the cluster",
               (unsigned long long)c->id);
    } else if (strcmp(n->storage, c->storage) == 0) {
        t->res->replayed = true;
    } else if (strcmp(n->storage, ARCHIVE_STORAGE_OUT) == 0 &&
               strcmp(c->storage, ARCHIVE_STORAGE_DRAINING) == 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE,
               "node %llu is out (unreachable): its copies are being made again elsewhere "
               "already; remove it, or let it come back first",
               (unsigned long long)c->id);
    } else {
        set_string(&n->storage, c->storage);
        n->storage_ms = t->cmd->time_ms;
        store_node(t, n);
    }
    archive_free_node(n);
    return 0;
}

/* Purges the records of blobs unreferenced for the grace period; res->position counts
 * them. Holders delete their copies once they no longer find the record. */
int apply_purge_blobs(struct txn *t, const PurgeBlobs *c)
{
    for (size_t i = 0; i < c->n_blobs; i++) {
        struct key k = {.len = 32};
        BlobRecord *blob;
        int rv;
        if (c->blobs[i].len != 32) {
            continue;
        }
        memcpy(k.buf, c->blobs[i].data, 32);
        rv = archive_load_record(t->a, ARCHIVE_CF_BLOBS, &k, &blob_record__descriptor,
                                 (ProtobufCMessage **)&blob, t->err);
        if (rv == BASE_ENOTFOUND) {
            continue;
        }
        if (rv != 0) {
            return rv;
        }
        /* Compared without the sum, which a forged grace could wrap. */
        if (blob->refs == 0 && blob->released_ms <= t->cmd->time_ms &&
            t->cmd->time_ms - blob->released_ms >= c->grace_ms) {
            rv = delete_blob(t, ARCHIVE_CF_BLOBS, &k);
            t->res->position++;
        }
        blob_record__free_unpacked(blob, NULL);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* ---- Capacity weights ---- */

/* A member's own report of its blob file system; replayed when nothing changed. */
int apply_report_node_space(struct txn *t, const ReportNodeSpace *c)
{
    NodeRecord *n;
    bool found;
    int rv;
    if (c->id == 0 || c->capacity_bytes < ARCHIVE_CAPACITY_MIN ||
        c->capacity_bytes > ARCHIVE_CAPACITY_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "malformed space report (a node id and a capacity "
               "of 1 MiB to 2^60 bytes)");
        return 0;
    }
    if ((rv = load_node(t, c->id, &n, &found)) != 0) {
        return rv;
    }
    if (!found || n->removed) {
        refuse(t, ARCHIVE_R_NODE_NOT_FOUND, "node %llu is not a member of the cluster",
               (unsigned long long)c->id);
    } else if (n->capacity_bytes == c->capacity_bytes && n->full == c->full) {
        t->res->replayed = true;
    } else {
        n->capacity_bytes = c->capacity_bytes;
        n->full = c->full;
        n->space_ms = t->cmd->time_ms;
        store_node(t, n);
    }
    archive_free_node(n);
    return 0;
}

/* The operator's factor on a member's capacity weight (100 stored as 0: the default). */
int apply_set_node_weight(struct txn *t, const SetNodeWeight *c)
{
    NodeRecord *n;
    bool found;
    int rv;
    uint32_t pct;
    if (c->id == 0 || c->weight_pct < ARCHIVE_WEIGHT_PCT_MIN ||
        c->weight_pct > ARCHIVE_WEIGHT_PCT_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "malformed weight (a node id and a weight of %d to %d "
               "percent)", ARCHIVE_WEIGHT_PCT_MIN, ARCHIVE_WEIGHT_PCT_MAX);
        return 0;
    }
    pct = c->weight_pct == ARCHIVE_WEIGHT_PCT_DEFAULT ? 0 : c->weight_pct;
    if ((rv = load_node(t, c->id, &n, &found)) != 0) {
        return rv;
    }
    if (!found || n->removed) {
        refuse(t, ARCHIVE_R_NODE_NOT_FOUND, "node %llu is not a member of the cluster",
               (unsigned long long)c->id);
    } else if (n->weight_pct == pct) {
        t->res->replayed = true;
    } else {
        n->weight_pct = pct;
        store_node(t, n);
    }
    archive_free_node(n);
    return 0;
}
