/* The client-facing API of a node: routes HTTP requests to the capture, retrieve,
 * status and operations handlers.
 *
 * Runs on the loop thread. Owns the HTTP server; borrows the archive, the raft
 * adapter and the blob store from node/. Disk and hashing work of the handlers goes
 * to the libuv worker pool. */
#ifndef IMGARC_API_API_H
#define IMGARC_API_API_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "base/child.h"
#include "base/err.h"
#include "replication/repl.h"
#include "storage/blobstore.h"

struct api_config {
    const char *listen_host;
    int listen_port;
    uint64_t node_id;
    const char *bootstrap_token; /* operator bearer token */
    size_t header_bytes_max;
    uint64_t body_bytes_max;
    uint64_t idle_timeout_ms;
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t buffered_bytes_max;
    unsigned connections_max;
    bool sync_blobs;   /* fsync blobs before acknowledging (off only for benchmarks) */
    bool verify_reads; /* check each whole-file read against its checksum */
    uint64_t reverify_after_ms; /* a copy verified this recently is sent unchecked */
    /* Ed25519 public keys whose licenses this node accepts (borrowed until stop). */
    const uint8_t (*license_keys)[32];
    size_t n_license_keys;
    uint64_t group_commit_max; /* most uploads made durable by one sync */
    uint64_t min_free_bytes;   /* below this free space, new files and copies are refused */
    uint64_t token_ttl_s;      /* lifetime of access tokens (clients and users) */
    uint64_t vendor_token_ttl_s; /* app and access tokens of the vendor surface */
    uint64_t link_ttl_s;         /* signed links and event codes */
    uint64_t login_failures_max; /* wrong passwords that lock an account */
    uint64_t login_lock_ms;      /* for how long */
    uint64_t login_source_failures; /* failures of one username from one address before
                                       that address is slowed down */
    const char *metrics_token;   /* may read tenant-labelled /metrics series (NULL: only
                                    the operator token) */
    struct outbox *outbox;       /* webhook deliveries, for /metrics (borrowed) */
    struct recognizer *recognizer; /* the recognition hook (borrowed); NULL: none */
    struct outbound *outbound;   /* where webhooks may point (borrowed) */
    struct http_client *http;    /* the vendor's fileDownUrl downloads (borrowed; NULL:
                                    refused) */
    struct keeper *keeper;       /* copies of blobs on other nodes (borrowed) */
    unsigned replicas;           /* R and W, for answers about placement */
    unsigned write_quorum;
    /* The cluster secret that signs /internal calls (borrowed until stop); NULL: this
     * node refuses them. */
    const struct peer_auth *auth;
    /* A PDF's pages are counted by a child process (archive/document.h): this
     * executable ("/proc/self/exe": imgarcd itself; NULL: no child, the byte scan's
     * estimate stands), under these limits, at most this many at once (twice as
     * many more captures wait up to pdf_limits.wall_ms for a turn; the rest keep the
     * estimate). */
    const char *pdf_exe;
    struct child_limits pdf_limits;
    unsigned pdf_children_max;
    struct http_tls *tls; /* TLS on the HTTP port (borrowed); NULL: plain HTTP */
    const char *data_dir; /* resumable uploads are kept in DATA/uploads */
    uint64_t upload_expiry_s; /* an upload not captured by then is removed */
    unsigned uploads_max;     /* unfinished uploads this node keeps at once */
};

struct api;

int api_start(struct api **out, uv_loop_t *loop, const struct api_config *config,
              struct archive *archive, struct repl *repl, struct blob_store *blobs,
              struct base_err *err) WARN_UNUSED;
/* The HTTP port actually bound. */
int api_port(const struct api *api);
/* Stops accepting, finishes requests in flight (up to @grace_ms), then @cb. */
/* The blob path of @api's server (replication/blob_path.h): where other parts of the
 * node (the migration runner) stream contents into the blob store. */
struct blob_path *api_blob_path(struct api *api);
/* The node's migration runner (migrate/runner.h), for /metrics; started after the API
 * because it streams into the API's blob path. */
struct migrate_runner;
void api_set_migrator(struct api *api, struct migrate_runner *r);
void api_stop(struct api *api, uint64_t grace_ms, void (*cb)(void *arg), void *arg);

#endif
