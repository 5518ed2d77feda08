/* A whole node in the fuzzer's process, for the targets that speak HTTP to it
 * (http_request, json_bodies): a real RocksDB archive and blob store under the fuzz
 * scratch directory, raft (libraft over raft_uv) as a one-voter cluster on loopback,
 * and the API (api/server.c, api/router.c and every handler) on a loopback port, all
 * on one libuv loop that this harness runs.
 *
 * Each input is sent on a fresh TCP connection, which is then half-closed; the call
 * returns once the server has closed the connection, so every request of the input
 * (pipelined ones too) has been parsed, routed, handled and answered, including the
 * raft round trip of the commands it proposed. State accumulates between inputs (one
 * node per process), as on a real node. */
#ifndef IMGARC_TESTS_FUZZ_NODE_H
#define IMGARC_TESTS_FUZZ_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"

/* The operator token the node accepts (Authorization: Bearer ...). */
#define FUZZ_NODE_TOKEN "fuzz-operator-token-0123456789abcdef"

/* Starts the node (once per process) and waits until it leads and has applied the
 * cluster's first command. */
void fuzz_node_start(void);
/* Sends @len bytes on a new connection, in writes of @piece bytes (0: one write),
 * half-closes it and runs the loop until the server has closed it. Returns the number
 * of bytes the server answered; the answer is in fuzz_node_answer(). */
size_t fuzz_node_send(const void *data, size_t len, size_t piece);
/* The last answer (NUL-terminated, at most 64 KiB kept). With IMGARC_FUZZ_ECHO set in
 * the environment every answer is also printed to stderr (for reproducing). */
const char *fuzz_node_answer(void);

/* The node's archive (read it between sends, on this thread). */
struct archive *fuzz_node_archive(void);

#endif
