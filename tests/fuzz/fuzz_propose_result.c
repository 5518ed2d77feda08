/* Fuzz target: the answer of a forwarded proposal (replication/peer.c,
 * peer_propose_result_unpack()), the bytes a leader sends back to a follower.
 *
 * Each input is the answer's body. What must hold: no crash or leak; an accepted
 * answer has an entry index and a status a refusal can carry, every string it fills is
 * terminated within its field; and packing what was accepted gives bytes that unpack
 * to the same result (the server side's encoding round-trips). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "replication/peer.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static void check_terminated(const char *field, size_t size, const char *what)
{
    if (memchr(field, '\0', size) == NULL) {
        fprintf(stderr, "fuzz_propose_result: %s is not terminated\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct archive_result res, again;
    uint64_t entry = 0, entry2 = 0;
    uint8_t *buf;
    size_t len;
    memset(&res, 0xa5, sizeof res);
    if (!peer_propose_result_unpack(data, size, &res, &entry)) {
        return 0;
    }
    if (entry == 0 || (int)res.status < 0) {
        fprintf(stderr, "fuzz_propose_result: accepted entry %llu status %d\n",
                (unsigned long long)entry, (int)res.status);
        abort();
    }
    check_terminated(res.message, sizeof res.message, "message");
    check_terminated(res.image_no, sizeof res.image_no, "image_no");
    check_terminated(res.file_id, sizeof res.file_id, "file_id");
    check_terminated(res.state, sizeof res.state, "state");
    check_terminated(res.category, sizeof res.category, "category");
    buf = peer_propose_result_pack(&res, entry, &len);
    memset(&again, 0, sizeof again);
    if (!peer_propose_result_unpack(buf, len, &again, &entry2) || entry2 != entry ||
        again.status != res.status || again.replayed != res.replayed ||
        again.created != res.created || again.index != res.index ||
        again.position != res.position || strcmp(again.message, res.message) != 0 ||
        strcmp(again.image_no, res.image_no) != 0 || strcmp(again.file_id, res.file_id) != 0 ||
        strcmp(again.state, res.state) != 0 || strcmp(again.category, res.category) != 0) {
        fprintf(stderr, "fuzz_propose_result: a packed result does not unpack the same\n");
        abort();
    }
    free(buf);
    return 0;
}
