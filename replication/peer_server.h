/* The server side of the node-to-node protocol (replication/peer.h): the handlers of
 * the /internal/v1/ endpoints, on the node's HTTP server (net/http_server.h).
 *
 * The HTTP server hands every request whose path starts with PEER_PREFIX to
 * peer_server_route(), and every answer to such a request to peer_server_answer(),
 * which adds this node's clock, signed. Loop thread only. struct peer_server is the
 * caller's; what it points to is borrowed until the HTTP server has stopped. */
#ifndef IMGARC_REPLICATION_PEER_SERVER_H
#define IMGARC_REPLICATION_PEER_SERVER_H

#include "net/http_server.h"
#include "replication/blob_path.h"
#include "replication/peer_auth.h"
#include "replication/repl.h"

/* Answers @req for a proposal that failed with @status (not leader, outcome unknown,
 * shutting down): the API's words for it, so that a forwarding node passes them on. */
typedef void (*peer_propose_failed_cb)(struct http_request *req, int status, void *data);

struct peer_server {
    struct repl *repl;
    const struct peer_auth *auth; /* NULL: this node refuses every peer call (403) */
    struct blob_path *blobs;      /* copies pushed here and served from here */
    peer_propose_failed_cb propose_failed_cb;
    void *data; /* for propose_failed_cb */
};

/* Routes an /internal/ request: checks its signature from the head (401 and the
 * connection closed when it fails), reads the body (bounded by PEER_BODY_MAX; a pushed
 * copy is streamed instead) and answers. */
void peer_server_route(struct peer_server *ps, struct http_request *req);
/* Adds this node's clock to an answer to an /internal call, signed over the request's
 * signature when that is authentic (peer_auth.h); nothing otherwise. */
void peer_server_answer(struct peer_server *ps, struct http_request *req);

#endif
