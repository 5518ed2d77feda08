/* What `imgarc backup` reads from a running cluster (docs/backup.md), for the operator
 * token only: everything a backup holds (every tenant's bills, password hashes, client
 * secrets, the token key) is the whole cluster's.
 *
 *   GET /api/v1/cluster/backup               the metadata store at one raft index: the
 *                                            stream a joining member fetches
 *                                            (storage/snapshot.h), the index in header
 *                                            X-Imgarc-Snapshot-Index. With
 *                                            ?consistent=true (what the CLI sends) the
 *                                            router first waits for a read index, so the
 *                                            backup holds every write acknowledged before
 *                                            it began.
 *   GET /api/v1/cluster/blobs/{hash}/content the bytes of one blob by its BLAKE2b name,
 *                                            verified against that name as they are read
 *                                            (from this node, or from a holder when this
 *                                            node has no copy). */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "replication/repl.h"

/* The Retry-After (seconds) of a node busy sending its store. */
#define BACKUP_RETRY_AFTER_S "10"

void api_handle_cluster_backup(struct api_call *call)
{
    struct api *api = call->api;
    switch (repl_snapshot_stream(api->repl, call->req, 0)) {
    case 0:
        LOG_INFO("backup", "request_id=%s: the metadata store is streamed for a backup",
                 call->req->request_id);
        return;
    case BASE_ECONFLICT:
        http_request_add_header(call->req, "Retry-After", BACKUP_RETRY_AFTER_S);
        api_respond_error(api, call->req, 503, API_E_UNAVAILABLE,
                          "this node is sending its metadata store already (to a joining "
                          "member or another backup); retry later or ask another node");
        return;
    default:
        http_request_add_header(call->req, "Retry-After", BACKUP_RETRY_AFTER_S);
        api_respond_error(api, call->req, 503, API_E_UNAVAILABLE,
                          "this node cannot send its metadata store now (it is catching up); "
                          "ask another node");
        return;
    }
}

void api_handle_cluster_blob_content(struct api_call *call)
{
    struct api *api = call->api;
    struct blob_out *out;
    BlobRecord *rec;
    uint8_t hash[BLOB_HASH_BYTES];
    char hex[BLOB_HEX_BYTES];
    if (!api_blob_named(call, hash, hex, &rec)) {
        return;
    }
    /* check 0: verified against the BLAKE2b name, the strongest check there is. */
    out = blob_out_plan(&api->blob_path, call->req, hash, rec->size, 0);
    archive_free_blob(rec);
    if (out != NULL) {
        http_request_add_header(call->req, "X-Content-Type-Options", "nosniff");
        blob_out_start(out, "application/octet-stream");
    }
}
