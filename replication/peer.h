/* The node-to-node protocol in one place: the paths of the /internal/v1/ endpoints,
 * the bound on their bodies, the error codes their refusals carry, and the message
 * pairs packed on one side and unpacked on the other (archive.proto).
 *
 *   GET  /internal/v1/status       -> NodeStatus
 *   POST /internal/v1/propose      Command -> ProposeResult (the leader proposes it)
 *   POST /internal/v1/read-index   -> ReadIndexResult (the leader commits a barrier)
 *   POST /internal/v1/join         JoinRequest -> ChangeResult (?forwarded=1: passed on)
 *   POST /internal/v1/remove       RemoveRequest -> ChangeResult (on the leader)
 *   GET  /internal/v1/blobs/<hash> a copy of a blob (Range honoured)
 *   PUT  /internal/v1/blobs/<hash> a copy pushed here, stored if it hashes to <hash>
 *   GET  /internal/v1/snapshot?min_index=<I> the whole metadata store as a snapshot
 *                                  stream (storage/snapshot.h), at an index >= I
 *
 * Every call is signed with the cluster secret (peer_auth.h). The client side is
 * peer_call.c (and blob_fetch.c, blob_push.c for blobs); the server side is
 * peer_server.c. Pure functions and constants: any thread. */
#ifndef IMGARC_REPLICATION_PEER_H
#define IMGARC_REPLICATION_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "base/error_codes.h"

#define PEER_PREFIX "/internal/"
#define PEER_PATH_STATUS "/internal/v1/status"
#define PEER_PATH_PROPOSE "/internal/v1/propose"
#define PEER_PATH_READ_INDEX "/internal/v1/read-index"
#define PEER_PATH_JOIN "/internal/v1/join"
#define PEER_PATH_JOIN_FORWARDED "/internal/v1/join?forwarded=1"
#define PEER_PATH_REMOVE "/internal/v1/remove"
#define PEER_PATH_BLOBS "/internal/v1/blobs/" /* + 64 hex digits */
#define PEER_PATH_SNAPSHOT "/internal/v1/snapshot" /* ?min_index=<I> */

/* The Content-Type of every protobuf body, either way. */
#define PEER_CONTENT_TYPE "application/x-protobuf"

/* The largest body of a node-to-node message (not a blob), either way. */
#define PEER_BODY_MAX (4u << 20)

/* The codes of the JSON error answers the server side gives, named from the one
 * vocabulary of base/error_codes.h. */
enum peer_error {
    PEER_E_BAD_REQUEST = ERROR_CODE_BAD_REQUEST,
    PEER_E_UNAUTHORIZED = ERROR_CODE_UNAUTHORIZED,
    PEER_E_FORBIDDEN = ERROR_CODE_FORBIDDEN,
    PEER_E_NOT_FOUND = ERROR_CODE_NOT_FOUND,
    PEER_E_METHOD_NOT_ALLOWED = ERROR_CODE_METHOD_NOT_ALLOWED,
    PEER_E_LENGTH_REQUIRED = ERROR_CODE_LENGTH_REQUIRED,
    PEER_E_BODY_TOO_LARGE = ERROR_CODE_BODY_TOO_LARGE,
    PEER_E_INTERNAL = ERROR_CODE_INTERNAL,
    PEER_E_UNAVAILABLE = ERROR_CODE_UNAVAILABLE,
    PEER_E_INSUFFICIENT_STORAGE = ERROR_CODE_INSUFFICIENT_STORAGE,
    PEER_E_RANGE_NOT_SATISFIABLE = ERROR_CODE_RANGE_NOT_SATISFIABLE,
    PEER_E_EMPTY_FILE = ERROR_CODE_EMPTY_FILE,
    PEER_E_CONTENT_CORRUPT = ERROR_CODE_CONTENT_CORRUPT,
    PEER_E_INDEX_NOT_REACHED = ERROR_CODE_INDEX_NOT_REACHED,
};

/* The snake_case name of a code ("internal" for one not in the map). */
const char *peer_error_name(enum peer_error code);

struct http_request;
/* Answers @req with a JSON error of @code (the API's shape: net/http_server.h's
 * http_respond_error()); the message is cut at 511 bytes. */
void peer_respond_error(struct http_request *req, int status, enum peer_error code,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- ProposeResult: the leader's answer to a forwarded proposal ---- */

/* Packs @res, applied at raft entry @entry_index, into a buffer the caller frees;
 * *len is its length. */
uint8_t *peer_propose_result_pack(const struct archive_result *res, uint64_t entry_index,
                                  size_t *len);
/* Unpacks an answer into @res and *entry_index; false (outputs untouched) when it is
 * not a valid one (not a ProposeResult, no entry index, a negative status). Any other
 * refusal status is passed on as it is. */
bool peer_propose_result_unpack(const uint8_t *buf, size_t len, struct archive_result *res,
                                uint64_t *entry_index);

#endif
