/* Fuzz target: the signed node-to-node headers (replication/peer_auth.c).
 *
 * The input is split into the method, the target, the declared length and body
 * digest, the two headers, the body and the receiver's clock; the node holds two keys,
 * as during a rotation. Half the inputs get a signature made with the current key over
 * their own head, so the accepting path runs too: a head signed by the key and fresh
 * must pass, the same head with another length, method or digest must not, and the
 * body must match its signed digest only unchanged. */
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
    /* Two keys, as during a rotation: the current one signs, both verify. */
    for (size_t i = 0; i < PEER_AUTH_KEY_BYTES; i++) {
        key.keys[0][i] = (uint8_t)(i * 7 + 1);
        key.keys[1][i] = (uint8_t)(i * 5 + 3);
    }
    key.n_keys = 2;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    uint64_t now = fuzz_u64(&in);
    uint64_t length = fuzz_u64(&in);
    char *method = fuzz_str(&in, 16);
    char *target = fuzz_str(&in, 200);
    char *time_header = fuzz_str(&in, 40);
    char *signature = fuzz_str(&in, 100);
    char *digest = fuzz_str(&in, 80);
    uint8_t *body = xmalloc(in.len + 1);
    size_t body_len = in.len;
    struct peer_request req = {method, target, length, (mode & 8) ? NULL : digest};
    char why[256];
    bool ok;
    memcpy(body, in.p, in.len);
    if (mode & 1) {
        /* A genuine signature over this head at its own time, with the digest of the
         * body that follows. */
        char sig[PEER_AUTH_HEX_BYTES], hex[PEER_AUTH_HEX_BYTES];
        uint64_t t = now % 4000000000000ull;
        struct peer_request changed;
        peer_body_sha256(body, body_len, hex);
        req.content_length = body_len;
        req.body_sha256 = hex;
        free(time_header);
        time_header = xasprintf("%llu", (unsigned long long)t);
        peer_auth_sign(&key, &req, t, sig);
        free(signature);
        signature = xstrdup(sig);
        now = t + (mode >> 1) % 1000;
        ok = peer_auth_check(&key, &req, time_header, signature, now, why, sizeof why);
        ASSERT(ok);
        ASSERT(peer_body_matches(hex, body, body_len));
        if (body_len > 0) {
            body[body_len / 2] ^= 1;
            ASSERT(!peer_body_matches(hex, body, body_len));
        }
        /* Any other length, method or digest under the same signature is refused. */
        changed = req;
        changed.content_length = req.content_length + 1 + (length % 7);
        ASSERT(!peer_auth_check(&key, &changed, time_header, signature, now, why, sizeof why));
        changed = req;
        changed.method = strcmp(method, "PUT") == 0 ? "GET" : "PUT";
        ASSERT(!peer_auth_check(&key, &changed, time_header, signature, now, why, sizeof why));
        changed = req;
        changed.body_sha256 = NULL;
        ASSERT(!peer_auth_check(&key, &changed, time_header, signature, now, why,
                                sizeof why) ||
               hex[0] == '\0');
    } else {
        ok = peer_auth_check(&key, &req, (mode & 2) ? NULL : time_header,
                             (mode & 4) ? NULL : signature, now, why, sizeof why);
        ASSERT(ok || strlen(why) > 0);
        (void)peer_body_matches(req.body_sha256, body, body_len);
    }
    free(method);
    free(target);
    free(time_header);
    free(signature);
    free(digest);
    free(body);
    return 0;
}
