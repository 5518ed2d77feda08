/* Reading a blob this node does not hold from a node that does.
 *
 * The holders of a blob are in its cross-tenant record (BlobRecord.holders, kept by
 * captures and the keeper). A fetch asks a holder other than this node for GET
 * /internal/v1/blobs/<hash> (signed with the cluster secret), optionally a byte range,
 * and streams the answer to the caller one piece at a time: the caller pauses the
 * transfer until it has passed a piece on, so a fetch holds one piece whatever the
 * size. Holders in this node's zone are asked first, nodes marked out last; when one
 * fails before the first byte, the next is asked. Runs on the loop thread. */
#ifndef IMGARC_REPLICATION_BLOB_FETCH_H
#define IMGARC_REPLICATION_BLOB_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/nodes.h"
#include "net/http_client.h"
#include "replication/peer_auth.h"
#include "replication/repl.h"

#define BLOB_FETCH_HOLDERS_MAX 8

struct blob_fetch;
/* A piece of the blob: return @n to go on, HTTP_CLIENT_PAUSE to hold the transfer
 * until blob_fetch_resume(), 0 to stop. */
typedef size_t (*blob_fetch_data_cb)(struct blob_fetch *f, const char *data, size_t n);
/* The end: @ok when every byte asked for arrived; else @why says what failed. The
 * fetch is freed after this returns. */
typedef void (*blob_fetch_done_cb)(struct blob_fetch *f, bool ok, const char *why);

struct blob_fetch {
    void *data; /* for the caller */
    /* Private. */
    struct repl *repl;
    struct http_client_req req;
    blob_fetch_data_cb on_data;
    blob_fetch_done_cb on_done;
    uint64_t expected;
    uint64_t received;
    char url[512];
    char range[64];
    struct peer_headers auth; /* the signed X-Imgarc-Time and X-Imgarc-Signature lines */
    struct peer_answer answer; /* the answer's clock */
    long refused;              /* the status of an error answer, when one came */
    unsigned resent;           /* signed again after a refusal for the time window */
    const char *headers[4];
    uint64_t holder;
    const char *holder_http;
    char target[128];
    /* The holders still to ask, in order. */
    uint64_t next_ids[BLOB_FETCH_HOLDERS_MAX];
    char next_http[BLOB_FETCH_HOLDERS_MAX][ARCHIVE_ADDRESS_MAX + 1];
    size_t n_next, next;
};

/* Starts fetching bytes [@from, @to] (inclusive) of blob @hash; NULL with @why set
 * when no other node holds it (or no cluster secret is configured). */
struct blob_fetch *repl_blob_fetch(struct repl *r, const uint8_t hash[32], uint64_t from,
                                   uint64_t to, blob_fetch_data_cb on_data,
                                   blob_fetch_done_cb on_done, void *data, char *why,
                                   size_t why_size);
void blob_fetch_resume(struct blob_fetch *f);

#endif
