/* Fuzz target: the raft port's handshake and frames (replication/handshake.c).
 *
 * The first byte picks what the input plays:
 *   0  a stranger talking to a server: the rest, cut into chunks, is fed as it would
 *      arrive on the socket; nothing it sends may get the server to DONE without the
 *      secret (it would have to forge a keyed BLAKE2b proof);
 *   1  a server answering a client: the same, on the client side;
 *   2  a genuine client and server, with the input flipping bytes of their messages in
 *      transit: both may reach DONE only when no byte was flipped (every byte is under
 *      a proof), and then their keys agree; fuzzer-made frames are then opened on the
 *      session;
 *   3  a genuine session, then the rest offered as frames: none may open, since only
 *      the holder of the session key can seal one.
 * Any crash, sanitizer report, or broken property aborts. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "replication/handshake.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct handshake_keys keys_a, keys_ab;

static bool member_cb(void *arg, uint64_t id)
{
    (void)arg;
    return id % 3 != 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t s[2][32];
    (void)argc;
    (void)argv;
    fuzz_init();
    for (int i = 0; i < 32; i++) {
        s[0][i] = (uint8_t)(i + 1);
        s[1][i] = (uint8_t)(200 - i);
    }
    handshake_keys_derive(&keys_a, (const uint8_t(*)[32])s, 1);
    handshake_keys_derive(&keys_ab, (const uint8_t(*)[32])s, 2);
    return 0;
}

/* Feeds @in to @h in chunks whose sizes come from the input; stops at a verdict. */
static enum handshake_step feed_chunks(struct handshake *h, struct fuzz_in *in)
{
    uint8_t buf[2048];
    size_t have = 0;
    enum handshake_step step = HANDSHAKE_NEED_MORE;
    while (in->len > 0) {
        size_t n = 1 + fuzz_u8(in) % 64, used;
        if (n > in->len) {
            n = in->len;
        }
        if (have + n > sizeof buf) {
            break; /* more than any handshake before an answer: the transport refuses */
        }
        memcpy(buf + have, in->p, n);
        in->p += n;
        in->len -= n;
        have += n;
        do {
            step = handshake_feed(h, buf, have, &used);
            ASSERT(used <= have);
            memmove(buf, buf + used, have - used);
            have -= used;
            h->out_len = 0; /* "sent" */
        } while (step == HANDSHAKE_NEED_MORE && used > 0);
        if (step != HANDSHAKE_NEED_MORE) {
            break;
        }
    }
    return step;
}

/* Moves @from's message to @to, flipping the byte the input names (if any). */
static enum handshake_step transit(struct handshake *from, struct handshake *to,
                                   struct fuzz_in *in, bool *flipped)
{
    uint8_t msg[sizeof from->out];
    size_t n = from->out_len, used = 0, off = 0;
    enum handshake_step step = HANDSHAKE_NEED_MORE;
    uint8_t where = fuzz_u8(in), what = fuzz_u8(in);
    memcpy(msg, from->out, n);
    from->out_len = 0;
    if (n > 0 && what != 0 && where < n) {
        msg[where] ^= what;
        *flipped = true;
    }
    while (off < n) {
        step = handshake_feed(to, msg + off, n - off, &used);
        off += used;
        if (step != HANDSHAKE_NEED_MORE || used == 0) {
            break;
        }
    }
    return step;
}

static void open_frames(struct handshake_dir *rx, struct fuzz_in *in, bool expect_none)
{
    uint8_t out[HANDSHAKE_FRAME_MAX + 64];
    while (in->len >= HANDSHAKE_FRAME_HEADER) {
        size_t size = handshake_frame_size(in->p, in->len);
        long n;
        if (size == 0 || size > in->len) {
            return;
        }
        n = handshake_open(rx, in->p, size, out);
        ASSERT(!expect_none || n < 0);
        in->p += size;
        in->len -= size;
        if (n < 0) {
            return; /* the transport closes the connection here */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    struct handshake c, s;
    bool flipped = false;
    enum handshake_step cs, ss;
    memset(&c, 0, sizeof c);
    memset(&s, 0, sizeof s);
    switch (mode % 4) {
    case 0:
        handshake_server_init(&s, (mode & 4) ? &keys_ab : &keys_a, 22, member_cb, NULL);
        ss = feed_chunks(&s, &in);
        ASSERT(ss != HANDSHAKE_DONE);
        break;
    case 1:
        handshake_client_init(&c, (mode & 4) ? &keys_ab : &keys_a, 11, "10.0.0.1:9000", 22);
        cs = feed_chunks(&c, &in);
        ASSERT(cs != HANDSHAKE_DONE);
        break;
    case 2:
    case 3:
        handshake_client_init(&c, (mode & 4) ? &keys_ab : &keys_a, 11, "10.0.0.1:9000", 22);
        handshake_server_init(&s, (mode & 8) ? &keys_ab : &keys_a, 22, member_cb, NULL);
        ss = transit(&c, &s, &in, &flipped);
        if (ss != HANDSHAKE_NEED_MORE) {
            break;
        }
        cs = transit(&s, &c, &in, &flipped);
        if (cs != HANDSHAKE_NEED_MORE) {
            break;
        }
        ss = transit(&c, &s, &in, &flipped);
        if (ss != HANDSHAKE_DONE) {
            break;
        }
        cs = transit(&s, &c, &in, &flipped);
        if (cs != HANDSHAKE_DONE) {
            break;
        }
        ASSERT(memcmp(c.tx.key, s.rx.key, HANDSHAKE_KEY_BYTES) == 0);
        ASSERT(memcmp(s.tx.key, c.rx.key, HANDSHAKE_KEY_BYTES) == 0);
        ASSERT(!flipped); /* every byte of the handshake is under a proof */
        if (mode % 4 == 2) {
            uint8_t frame[HANDSHAKE_FRAME_HEADER + 64 + HANDSHAKE_TAG_BYTES], out[128];
            uint8_t msg[64];
            size_t n;
            memset(msg, 'r', sizeof msg);
            n = handshake_seal(&c.tx, msg, sizeof msg, frame);
            ASSERT(handshake_open(&s.rx, frame, n, out) == (long)sizeof msg);
            ASSERT(memcmp(out, msg, sizeof msg) == 0);
            open_frames(&s.rx, &in, false);
        } else {
            open_frames(&s.rx, &in, true);
        }
        break;
    }
    handshake_wipe(&s);
    handshake_wipe(&c);
    return 0;
}
