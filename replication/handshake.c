#include "replication/handshake.h"

#include <string.h>

#include <sodium.h>

#include "base/mem.h"

#define MAGIC "IMGRAFT1"
#define MAGIC_LEN 8
#define NONCE_LEN 32
#define MAC_LEN 32
#define HELLO_C_FIXED (MAGIC_LEN + 8 + 8 + NONCE_LEN + 1)
#define HELLO_S_LEN (MAGIC_LEN + 8 + NONCE_LEN)

/* Stages of each side. */
enum {
    CLIENT_WAIT_HELLO, /* sent our hello */
    CLIENT_WAIT_PROOF, /* sent our proof */
    SERVER_WAIT_HELLO,
    SERVER_WAIT_PROOF, /* sent our hello */
    FINISHED
};

const char *handshake_refusal_name(enum handshake_refusal r)
{
    static const char *const names[HANDSHAKE_R_COUNT] = {
        [HANDSHAKE_OK] = "ok",
        [HANDSHAKE_R_MALFORMED] = "malformed",
        [HANDSHAKE_R_WRONG_NODE] = "wrong_node",
        [HANDSHAKE_R_BAD_PROOF] = "bad_proof",
        [HANDSHAKE_R_NOT_MEMBER] = "not_member",
        [HANDSHAKE_R_TIMEOUT] = "timeout",
        [HANDSHAKE_R_NO_SECRET] = "no_secret",
        [HANDSHAKE_R_INTEGRITY] = "integrity",
        [HANDSHAKE_R_BUSY] = "busy",
        [HANDSHAKE_R_PEER_CLOSED] = "peer_closed",
    };
    return (unsigned)r < HANDSHAKE_R_COUNT ? names[r] : "unknown";
}

void handshake_keys_derive(struct handshake_keys *k, const uint8_t secrets[][32], unsigned n)
{
    static const char label[] = "imgarc raft transport v1";
    ASSERT(n <= HANDSHAKE_KEYS_MAX);
    memset(k, 0, sizeof *k);
    for (unsigned i = 0; i < n; i++) {
        crypto_generichash(k->key[i], HANDSHAKE_KEY_BYTES, (const uint8_t *)label,
                           sizeof label - 1, secrets[i], 32);
    }
    k->n = n;
}

void handshake_keys_wipe(struct handshake_keys *k)
{
    sodium_memzero(k, sizeof *k);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* H(K, label | T | extra). */
static void proof(const uint8_t key[HANDSHAKE_KEY_BYTES], const char *label,
                  const uint8_t transcript[32], const uint8_t *extra, size_t extra_len,
                  uint8_t out[MAC_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, HANDSHAKE_KEY_BYTES, MAC_LEN);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label) + 1);
    crypto_generichash_update(&st, transcript, 32);
    if (extra_len > 0) {
        crypto_generichash_update(&st, extra, extra_len);
    }
    crypto_generichash_final(&st, out, MAC_LEN);
    sodium_memzero(&st, sizeof st);
}

static void make_transcript(struct handshake *h)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h->transcript);
    crypto_generichash_update(&st, h->hello_c, h->hello_c_len);
    crypto_generichash_update(&st, h->hello_s, sizeof h->hello_s);
    crypto_generichash_final(&st, h->transcript, sizeof h->transcript);
}

static void make_session(struct handshake *h)
{
    uint8_t both[2 * HANDSHAKE_KEY_BYTES];
    proof(h->keys->key[h->key_used], "session", h->transcript, NULL, 0, both);
    /* proof() gives 32 bytes; the second key is the same construction with another
     * label, so the two directions never share a key. */
    proof(h->keys->key[h->key_used], "session2", h->transcript, NULL, 0,
          both + HANDSHAKE_KEY_BYTES);
    memcpy(h->client ? h->tx.key : h->rx.key, both, HANDSHAKE_KEY_BYTES);
    memcpy(h->client ? h->rx.key : h->tx.key, both + HANDSHAKE_KEY_BYTES, HANDSHAKE_KEY_BYTES);
    h->tx.seq = 0;
    h->rx.seq = 0;
    sodium_memzero(both, sizeof both);
}

static bool valid_address(const uint8_t *p, size_t n)
{
    if (n == 0 || n > HANDSHAKE_ADDRESS_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == ':' || c == '-' || c == '[' || c == ']')) {
            return false;
        }
    }
    return true;
}

void handshake_client_init(struct handshake *h, const struct handshake_keys *keys,
                           uint64_t self_id, const char *self_address, uint64_t server_id)
{
    size_t alen = strlen(self_address);
    memset(h, 0, sizeof *h);
    h->client = true;
    h->keys = keys;
    h->self_id = self_id;
    h->peer_id = server_id;
    if (alen > HANDSHAKE_ADDRESS_MAX) {
        alen = HANDSHAKE_ADDRESS_MAX;
    }
    randombytes_buf(h->nonce, sizeof h->nonce);
    memcpy(h->hello_c, MAGIC, MAGIC_LEN);
    put_be64(h->hello_c + MAGIC_LEN, self_id);
    put_be64(h->hello_c + MAGIC_LEN + 8, server_id);
    memcpy(h->hello_c + MAGIC_LEN + 16, h->nonce, NONCE_LEN);
    h->hello_c[HELLO_C_FIXED - 1] = (uint8_t)alen;
    memcpy(h->hello_c + HELLO_C_FIXED, self_address, alen);
    h->hello_c_len = HELLO_C_FIXED + alen;
    memcpy(h->out, h->hello_c, h->hello_c_len);
    h->out_len = h->hello_c_len;
    h->stage = CLIENT_WAIT_HELLO;
}

void handshake_server_init(struct handshake *h, const struct handshake_keys *keys,
                           uint64_t self_id, handshake_member_cb member_cb, void *arg)
{
    memset(h, 0, sizeof *h);
    h->keys = keys;
    h->self_id = self_id;
    h->member_cb = member_cb;
    h->member_arg = arg;
    randombytes_buf(h->nonce, sizeof h->nonce);
    h->stage = SERVER_WAIT_HELLO;
}

static enum handshake_step refuse(struct handshake *h, enum handshake_refusal why)
{
    h->refusal = why;
    h->stage = FINISHED;
    h->out_len = 0;
    return HANDSHAKE_REFUSED;
}

static enum handshake_step client_feed(struct handshake *h, const uint8_t *data, size_t n,
                                       size_t *used)
{
    if (h->stage == CLIENT_WAIT_HELLO) {
        if (n < HELLO_S_LEN) {
            return HANDSHAKE_NEED_MORE;
        }
        if (memcmp(data, MAGIC, MAGIC_LEN) != 0) {
            return refuse(h, HANDSHAKE_R_MALFORMED);
        }
        if (get_be64(data + MAGIC_LEN) != h->peer_id) {
            return refuse(h, HANDSHAKE_R_WRONG_NODE);
        }
        memcpy(h->hello_s, data, HELLO_S_LEN);
        *used = HELLO_S_LEN;
        make_transcript(h);
        h->out[0] = (uint8_t)h->keys->n;
        for (unsigned i = 0; i < h->keys->n; i++) {
            proof(h->keys->key[i], "client", h->transcript, NULL, 0, h->out + 1 + i * MAC_LEN);
        }
        h->out_len = 1 + h->keys->n * MAC_LEN;
        memcpy(h->client_proof, h->out, h->out_len);
        h->client_proof_len = h->out_len;
        h->stage = CLIENT_WAIT_PROOF;
        return HANDSHAKE_NEED_MORE;
    }
    if (n < MAC_LEN) {
        return HANDSHAKE_NEED_MORE;
    }
    *used = MAC_LEN;
    for (unsigned i = 0; i < h->keys->n; i++) {
        uint8_t want[MAC_LEN];
        /* The server's proof covers our whole proof message as we sent it: a byte
         * changed on the way, even in a proof it did not use, fails here. */
        proof(h->keys->key[i], "server", h->transcript, h->client_proof, h->client_proof_len,
              want);
        if (sodium_memcmp(want, data, MAC_LEN) == 0) {
            h->key_used = i;
            make_session(h);
            h->stage = FINISHED;
            return HANDSHAKE_DONE;
        }
    }
    return refuse(h, HANDSHAKE_R_BAD_PROOF);
}

static enum handshake_step server_feed(struct handshake *h, const uint8_t *data, size_t n,
                                       size_t *used)
{
    if (h->keys == NULL || h->keys->n == 0) {
        return refuse(h, HANDSHAKE_R_NO_SECRET);
    }
    if (h->stage == SERVER_WAIT_HELLO) {
        size_t alen;
        uint64_t client_id, wanted;
        if (n >= MAGIC_LEN && memcmp(data, MAGIC, MAGIC_LEN) != 0) {
            return refuse(h, HANDSHAKE_R_MALFORMED); /* as early as possible */
        }
        if (n < HELLO_C_FIXED) {
            return HANDSHAKE_NEED_MORE;
        }
        alen = data[HELLO_C_FIXED - 1];
        if (n < HELLO_C_FIXED + alen) {
            return HANDSHAKE_NEED_MORE;
        }
        client_id = get_be64(data + MAGIC_LEN);
        wanted = get_be64(data + MAGIC_LEN + 8);
        if (client_id == 0 || client_id == h->self_id ||
            !valid_address(data + HELLO_C_FIXED, alen)) {
            return refuse(h, HANDSHAKE_R_MALFORMED);
        }
        if (wanted != h->self_id) {
            return refuse(h, HANDSHAKE_R_WRONG_NODE);
        }
        memcpy(h->hello_c, data, HELLO_C_FIXED + alen);
        h->hello_c_len = HELLO_C_FIXED + alen;
        *used = h->hello_c_len;
        h->peer_id = client_id;
        memcpy(h->peer_address, data + HELLO_C_FIXED, alen);
        h->peer_address[alen] = '\0';
        memcpy(h->hello_s, MAGIC, MAGIC_LEN);
        put_be64(h->hello_s + MAGIC_LEN, h->self_id);
        memcpy(h->hello_s + MAGIC_LEN + 8, h->nonce, NONCE_LEN);
        memcpy(h->out, h->hello_s, HELLO_S_LEN);
        h->out_len = HELLO_S_LEN;
        make_transcript(h);
        h->stage = SERVER_WAIT_PROOF;
        return HANDSHAKE_NEED_MORE;
    }
    if (n < 1) {
        return HANDSHAKE_NEED_MORE;
    }
    if (data[0] < 1 || data[0] > HANDSHAKE_KEYS_MAX) {
        return refuse(h, HANDSHAKE_R_MALFORMED);
    }
    if (n < 1 + (size_t)data[0] * MAC_LEN) {
        return HANDSHAKE_NEED_MORE;
    }
    *used = 1 + (size_t)data[0] * MAC_LEN;
    memcpy(h->client_proof, data, *used);
    h->client_proof_len = *used;
    for (unsigned k = 0; k < h->keys->n; k++) {
        uint8_t want[MAC_LEN];
        proof(h->keys->key[k], "client", h->transcript, NULL, 0, want);
        for (unsigned i = 0; i < data[0]; i++) {
            if (sodium_memcmp(want, data + 1 + i * MAC_LEN, MAC_LEN) == 0) {
                h->key_used = k;
                sodium_memzero(want, sizeof want);
                goto authentic;
            }
        }
        sodium_memzero(want, sizeof want);
    }
    return refuse(h, HANDSHAKE_R_BAD_PROOF);
authentic:
    if (h->member_cb != NULL && !h->member_cb(h->member_arg, h->peer_id)) {
        return refuse(h, HANDSHAKE_R_NOT_MEMBER);
    }
    proof(h->keys->key[h->key_used], "server", h->transcript, h->client_proof,
          h->client_proof_len, h->out);
    h->out_len = MAC_LEN;
    make_session(h);
    h->stage = FINISHED;
    return HANDSHAKE_DONE;
}

enum handshake_step handshake_feed(struct handshake *h, const uint8_t *data, size_t n,
                                   size_t *used)
{
    *used = 0;
    if (h->stage == FINISHED) {
        return h->refusal != HANDSHAKE_OK ? HANDSHAKE_REFUSED : HANDSHAKE_DONE;
    }
    return h->client ? client_feed(h, data, n, used) : server_feed(h, data, n, used);
}

void handshake_wipe(struct handshake *h)
{
    sodium_memzero(h->tx.key, sizeof h->tx.key);
    sodium_memzero(h->rx.key, sizeof h->rx.key);
    sodium_memzero(h->client_proof, sizeof h->client_proof);
    sodium_memzero(h->out, sizeof h->out);
}

static void frame_nonce(uint64_t seq, uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES])
{
    memset(nonce, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    for (int i = 0; i < 8; i++) {
        nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES - 8 + i] = (uint8_t)(seq >> (8 * i));
    }
}

size_t handshake_seal(struct handshake_dir *d, const uint8_t *in, size_t n, uint8_t *out)
{
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    unsigned long long clen;
    uint32_t len = (uint32_t)(n + HANDSHAKE_TAG_BYTES);
    ASSERT(n > 0 && n <= HANDSHAKE_FRAME_MAX);
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    frame_nonce(d->seq++, nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + HANDSHAKE_FRAME_HEADER, &clen, in, n, out,
                                               HANDSHAKE_FRAME_HEADER, NULL, nonce, d->key);
    return HANDSHAKE_FRAME_HEADER + (size_t)clen;
}

size_t handshake_frame_size(const uint8_t *buf, size_t n)
{
    uint32_t len;
    ASSERT(n >= HANDSHAKE_FRAME_HEADER);
    len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    if (len <= HANDSHAKE_TAG_BYTES || len > HANDSHAKE_FRAME_MAX + HANDSHAKE_TAG_BYTES) {
        return 0;
    }
    return HANDSHAKE_FRAME_HEADER + len;
}

long handshake_open(struct handshake_dir *d, const uint8_t *frame, size_t size, uint8_t *out)
{
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    unsigned long long mlen;
    if (size <= HANDSHAKE_FRAME_HEADER + HANDSHAKE_TAG_BYTES ||
        handshake_frame_size(frame, size) != size) {
        return -1;
    }
    frame_nonce(d->seq, nonce);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL,
                                                   frame + HANDSHAKE_FRAME_HEADER,
                                                   size - HANDSHAKE_FRAME_HEADER, frame,
                                                   HANDSHAKE_FRAME_HEADER, nonce, d->key) != 0) {
        return -1;
    }
    d->seq++;
    return (long)mlen;
}
