/* Fuzz target: the signed node-to-node headers (replication/peer_auth.c).
 *
 * The input is split into the method, the target, the two headers, the body and the
 * receiver's clock. Half the inputs get a signature made with the cluster key over
 * their own fields, so the accepting path runs too: a request signed by the key and
 * fresh must pass, and the same request with any field changed must not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "replication/peer_auth.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct peer_auth key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    for (size_t i = 0; i < sizeof key.key; i++) {
        key.key[i] = (uint8_t)(i * 7 + 1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    uint64_t now = fuzz_u64(&in);
    char *method = fuzz_str(&in, 16);
    char *target = fuzz_str(&in, 200);
    char *time_header = fuzz_str(&in, 40);
    char *signature = fuzz_str(&in, 100);
    uint8_t *body = xmalloc(in.len + 1);
    size_t body_len = in.len;
    char why[256];
    bool ok;
    memcpy(body, in.p, in.len);
    if (mode & 1) {
        /* A genuine signature over this request at its own time. */
        char sig[PEER_AUTH_HEX_BYTES];
        uint64_t t = now % 4000000000000ull;
        free(time_header);
        time_header = xasprintf("%llu", (unsigned long long)t);
        peer_auth_sign(&key, method, target, t, body, body_len, sig);
        free(signature);
        signature = xstrdup(sig);
        now = t + (mode >> 1) % 1000;
        ok = peer_auth_check(&key, method, target, time_header, signature, body, body_len,
                             now, why, sizeof why);
        ASSERT(ok);
        if (body_len > 0) {
            body[body_len / 2] ^= 1;
            ASSERT(!peer_auth_check(&key, method, target, time_header, signature, body,
                                    body_len, now, why, sizeof why));
        }
        ASSERT(!peer_auth_check(&key, "PUT", target, time_header, signature, body, 0, now + 1,
                                why, sizeof why) ||
               (strcmp(method, "PUT") == 0 && body_len == 0));
    } else {
        ok = peer_auth_check(&key, method, target, (mode & 2) ? NULL : time_header,
                             (mode & 4) ? NULL : signature, body, body_len, now, why,
                             sizeof why);
        ASSERT(ok || strlen(why) > 0);
    }
    free(method);
    free(target);
    free(time_header);
    free(signature);
    free(body);
    return 0;
}
