/* Fuzz target: the signed time of a node-to-node answer (replication/peer_auth.c:
 * peer_answer_line(), peer_auth_answer_check(), peer_headers_learn()).
 *
 * A node learns a peer's clock offset only from an answer whose time is signed for its
 * own call, so the answer's header lines are input an attacker on the network writes.
 * Each input is a series of header lines, fed as received (exact length, no NUL after
 * them), for a call this harness signed. With bit 0 of the first byte, the genuine
 * time lines the receiver would send (for a time text the input chooses) are placed
 * among them. What must hold: a time is learnt only when the answer carried the
 * genuine signature of exactly the time text kept, and then it is that text's value;
 * a signature checked on its own passes only when it is the genuine one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "replication/peer_auth.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct peer_auth key;
static struct peer_request req = {"POST", "/internal/v1/propose", 3, NULL};
static const char *request_time = "1765000000000";
static char request_sig[PEER_AUTH_HEX_BYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    for (size_t i = 0; i < PEER_AUTH_KEY_BYTES; i++) {
        key.keys[0][i] = (uint8_t)(i * 11 + 2);
        key.keys[1][i] = (uint8_t)(i * 3 + 9);
    }
    key.n_keys = 2;
    peer_auth_sign(&key, &req, strtoull(request_time, NULL, 10), request_sig);
    return 0;
}

/* Feeds @text as one received line: exactly its bytes, in a buffer of that size. */
static void feed(struct peer_answer *ans, const char *text, size_t n)
{
    char *line = xmalloc(n > 0 ? n : 1);
    memcpy(line, text, n);
    peer_answer_line(ans, line, n);
    free(line);
}

/* The genuine signature of @time_text for this harness's call, or false when the
 * receiver would not sign (it signs any text; the caller then refuses a bad one). */
static bool genuine(const char *time_text, char out[PEER_AUTH_HEX_BYTES])
{
    return peer_auth_answer_sign(&key, &req, request_time, request_sig, time_text, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct peer_answer ans;
    struct peer_headers sent = {0};
    uint8_t mode = fuzz_u8(&in);
    char *time_text = fuzz_str(&in, 30);
    char sig[PEER_AUTH_HEX_BYTES], want[PEER_AUTH_HEX_BYTES];
    int64_t offset = 0;
    unsigned lines = 0, at = fuzz_u8(&in) % 8;
    bool learnt, placed = false;

    snprintf(sent.mac, sizeof sent.mac, "%s", request_sig);
    peer_answer_reset(&ans);
    while (in.len > 0 && lines < 16) {
        char *line;
        if ((mode & 1) && lines == at && genuine(time_text, sig)) {
            char l1[128], l2[128];
            int n1 = snprintf(l1, sizeof l1, "%s: %s\r\n", PEER_AUTH_TIME_HEADER, time_text);
            int n2 = snprintf(l2, sizeof l2, "%s: %s\r\n", PEER_AUTH_ANSWER_SIGNATURE_HEADER, sig);
            feed(&ans, l1, (size_t)n1);
            feed(&ans, l2, (size_t)n2);
            placed = true;
        }
        line = fuzz_str(&in, 200);
        feed(&ans, line, strlen(line));
        free(line);
        lines++;
    }
    if ((mode & 1) && !placed && genuine(time_text, sig)) {
        char l1[128], l2[128];
        int n1 = snprintf(l1, sizeof l1, "%s: %s\r\n", PEER_AUTH_TIME_HEADER, time_text);
        int n2 = snprintf(l2, sizeof l2, "%s: %s\r\n", PEER_AUTH_ANSWER_SIGNATURE_HEADER, sig);
        feed(&ans, l1, (size_t)n1);
        feed(&ans, l2, (size_t)n2);
    }
    if (memchr(ans.time, '\0', sizeof ans.time) == NULL ||
        memchr(ans.signature, '\0', sizeof ans.signature) == NULL) {
        fprintf(stderr, "fuzz_peer_answer: a kept header is not terminated\n");
        abort();
    }

    learnt = peer_headers_learn(&key, NULL, &sent, &ans, &offset);
    if (learnt) {
        /* Only the genuine signature of the kept time text teaches a time. */
        uint64_t t;
        if (!genuine(ans.time, want) || strcasecmp(want, ans.signature) != 0) {
            fprintf(stderr, "fuzz_peer_answer: learnt a time from a forged answer: %s / %s\n",
                    ans.time, ans.signature);
            abort();
        }
        if (!peer_auth_answer_check(&key, request_sig, ans.time, ans.signature, &t) ||
            (int64_t)(t - ans.local_ms) != offset) {
            fprintf(stderr, "fuzz_peer_answer: the offset learnt is not the answer's time\n");
            abort();
        }
    }
    /* A signature checked on its own: only the genuine one passes. */
    {
        char *other = fuzz_str(&in, 80);
        uint64_t t;
        if (peer_auth_answer_check(&key, request_sig, time_text, other, &t) &&
            (!genuine(time_text, want) || strcasecmp(want, other) != 0)) {
            fprintf(stderr, "fuzz_peer_answer: a forged signature passed\n");
            abort();
        }
        free(other);
    }
    free(time_text);
    return 0;
}
