/* Fuzz target: the HTTP request parser and the router (net/http_server.c, api/router.c) of a
 * whole in-process node (fuzz_node.h), fed raw bytes as a client connection would:
 * pipelined requests, chunked bodies, broken framing, any header.
 *
 * The first input byte is for the harness: with its top bit set the rest is written in
 * pieces of (byte & 63) + 1 bytes, so the parser also resumes across reads. The rest
 * goes to the server as is. Whatever it is, the node must not crash, leak or hang,
 * and what it answers must be HTTP/1.1 responses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_node.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    fuzz_node_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t piece = 0;
    if (size < 1) {
        return 0;
    }
    if (data[0] & 0x80) {
        piece = (data[0] & 63) + 1;
    }
    if (fuzz_node_send(data + 1, size - 1, piece) > 0) {
        const char *answer = fuzz_node_answer();
        if (strncmp(answer, "HTTP/1.1 ", 9) != 0) {
            fprintf(stderr, "the node answered something else than HTTP/1.1: %.80s\n", answer);
            abort();
        }
    }
    return 0;
}
