/* A data dir written by `imgarc restore`: see restored.h. */
#include "node/restored.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/restore.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/repl.h"
#include "storage/store_swap.h"

int node_restored_check(const struct node_config *c, uint64_t *index, struct base_err *err)
{
    int rv = archive_restore_marked(c->data, index, err);
    if (rv == BASE_ENOTFOUND) {
        *index = 0;
        return 0;
    }
    if (rv != 0) {
        return BASE_EINVAL;
    }
    if (c->join != NULL || c->recover) {
        base_err_set(err, "%s holds a store restored from a backup: it founds a new cluster, "
                          "so start it without %s, then join other nodes to it",
                     c->data, c->join != NULL ? "--join" : "--recover");
        return BASE_EINVAL;
    }
    return 0;
}

static bool held_here(const uint8_t hash[32], void *arg)
{
    return blob_exists(arg, hash);
}

int node_restored_adopt(struct rocks *db, uint64_t node_id, struct blob_store *blobs,
                        struct base_err *err)
{
    return archive_restore_adopt(db, node_id, held_here, blobs, err);
}

int node_restored_seed(const struct node_config *c, const struct archive *archive,
                       uint64_t index, struct base_err *err)
{
    char *raft_dir = xasprintf("%s/raft", c->data);
    struct repl_seed seed = {
        .raft_dir = raft_dir,
        .node_id = c->node_id,
        .raft_address = c->raft_listen,
        .http_address = c->advertise != NULL ? c->advertise : c->listen,
        .index = index,
    };
    int rv = 0;
    if (archive->applied_index != index) {
        base_err_set(err, "the restored store is at index %llu, but %s/%s names %llu: run "
                          "imgarc restore again into an empty data dir",
                     (unsigned long long)archive->applied_index, c->data,
                     ARCHIVE_RESTORE_MARKER, (unsigned long long)index);
        rv = BASE_ECORRUPT;
    }
    if (rv == 0 && (rv = storage_remove_tree(raft_dir, err)) == 0 &&
        mkdir(raft_dir, 0700) != 0) {
        base_err_set(err, "mkdir %s: %s", raft_dir, strerror(errno));
        rv = BASE_EIO;
    }
    if (rv == 0 && (rv = repl_seed_restored(&seed, err)) == 0) {
        rv = archive_restore_unmark(c->data, err);
    }
    free(raft_dir);
    if (rv == 0) {
        LOG_WARN("node", "this node founds a new cluster on the store restored from a backup "
                 "at index %llu; join other nodes to it (--join) and they take the store and "
                 "the copies from it", (unsigned long long)index);
    }
    return rv;
}
