/* The raft port's handshake and framing: how two nodes prove to each other that they
 * hold the cluster secret before a single raft byte reaches libraft, and how every
 * raft byte after that is sealed. Pure functions over buffers, no I/O, any thread;
 * replication/transport.c drives them over libuv streams.
 *
 * Wire format (integers big-endian; K is a 32-byte key derived from a cluster secret,
 * H(k, m) keyed BLAKE2b-256 of m):
 *
 *     client -> server  HELLO   "IMGRAFT1" | client id (8) | server id wanted (8) |
 *                               client nonce (32) | address length (1) | address
 *     server -> client  HELLO   "IMGRAFT1" | server id (8) | server nonce (32)
 *     client -> server  PROOF   n (1: 1 or 2) | n macs (32 each), one per secret the
 *                               client holds: H(K, "client" | T)
 *     server -> client  PROOF   H(K, "server" | T | the client's PROOF message)
 *
 * where T = BLAKE2b-256 of both HELLOs as sent. The client proves first and may offer
 * its current and its previous secret, so nodes in the middle of a secret rotation
 * (docs/security.md) still meet on the secret they share; the server answers with the
 * one that matched, over the client's whole PROOF as received, and the client checks
 * the answer against what it sent, so no byte of the handshake goes unchecked. Both
 * nonces
 * make every transcript new (no replay), the "client"/"server" labels make a proof
 * useless in the other direction (no reflection), and the server states its id under
 * the proof (the client checks it is the node it dialled).
 *
 * After the handshake each direction has its own key, H(K, "session" | T) from client to
 * server and H(K, "session2" | T) back, and carries frames: a 4-byte length L (17 to HANDSHAKE_FRAME_MAX + 16)
 * then L bytes of XChaCha20-Poly1305 ciphertext of up to HANDSHAKE_FRAME_MAX bytes of
 * raft stream, the length as associated data and the frame's sequence number as the
 * nonce. A frame that does not open (altered, reordered, dropped, replayed, or sealed
 * with another key) ends the connection. */
#ifndef IMGARC_REPLICATION_HANDSHAKE_H
#define IMGARC_REPLICATION_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HANDSHAKE_KEYS_MAX 2          /* the current secret and the previous one */
#define HANDSHAKE_KEY_BYTES 32
#define HANDSHAKE_ADDRESS_MAX 255
#define HANDSHAKE_HELLO_MAX (8 + 8 + 8 + 32 + 1 + HANDSHAKE_ADDRESS_MAX)
#define HANDSHAKE_FRAME_MAX 65536     /* plaintext bytes of raft stream in one frame */
#define HANDSHAKE_TAG_BYTES 16
#define HANDSHAKE_FRAME_HEADER 4

/* Why a handshake or a frame was refused; also the label of the refusal counter. */
enum handshake_refusal {
    HANDSHAKE_OK = 0,
    HANDSHAKE_R_MALFORMED,  /* not our protocol, or a field out of range */
    HANDSHAKE_R_WRONG_NODE, /* the client wanted another node id than ours */
    HANDSHAKE_R_BAD_PROOF,  /* no secret of ours matches the peer's proof */
    HANDSHAKE_R_NOT_MEMBER, /* authentic, but not a member of this cluster */
    HANDSHAKE_R_TIMEOUT,    /* did not finish the handshake in time */
    HANDSHAKE_R_NO_SECRET,  /* this node has no cluster secret: it takes no peers */
    HANDSHAKE_R_INTEGRITY,  /* a frame after the handshake did not open */
    HANDSHAKE_R_BUSY,       /* too many connections in their handshake already */
    HANDSHAKE_R_PEER_CLOSED, /* (dialling) the other end closed during the handshake */
    HANDSHAKE_R_COUNT
};
const char *handshake_refusal_name(enum handshake_refusal r);

/* The keys both sides use, derived once from the cluster secrets (the raw 32-byte
 * secret keys of peer_auth); wiped by handshake_keys_wipe(). */
struct handshake_keys {
    uint8_t key[HANDSHAKE_KEYS_MAX][HANDSHAKE_KEY_BYTES];
    unsigned n;
};
void handshake_keys_derive(struct handshake_keys *k, const uint8_t secrets[][32], unsigned n);
void handshake_keys_wipe(struct handshake_keys *k);

/* One direction of a sealed stream. */
struct handshake_dir {
    uint8_t key[HANDSHAKE_KEY_BYTES];
    uint64_t seq;
};

/* Whether a member id may talk raft to this node; called once per authentic peer. */
typedef bool (*handshake_member_cb)(void *arg, uint64_t id);

enum handshake_step {
    HANDSHAKE_NEED_MORE, /* feed more bytes */
    HANDSHAKE_DONE,      /* authenticated: the session keys are set */
    HANDSHAKE_REFUSED    /* close the connection; @refusal says why */
};

/* One side of a handshake, fed bytes as they arrive. Bytes to send accumulate in
 * @out (the caller sends and clears them); bytes after the handshake stay unread in
 * the caller's buffer (feed reports how many it consumed). */
struct handshake {
    bool client;
    const struct handshake_keys *keys;
    uint64_t self_id;
    uint64_t peer_id;   /* client: the node it dials; server: the client, once known */
    char peer_address[HANDSHAKE_ADDRESS_MAX + 1]; /* server: the client's raft address */
    handshake_member_cb member_cb;
    void *member_arg;
    enum handshake_refusal refusal;
    struct handshake_dir tx, rx; /* set when done */
    /* Private. */
    int stage;
    unsigned key_used;
    uint8_t nonce[32];
    uint8_t hello_c[HANDSHAKE_HELLO_MAX];
    size_t hello_c_len;
    uint8_t hello_s[8 + 8 + 32];
    uint8_t transcript[32];
    uint8_t client_proof[1 + HANDSHAKE_KEYS_MAX * 32]; /* the client's PROOF as sent */
    size_t client_proof_len;
    uint8_t out[HANDSHAKE_HELLO_MAX + 1 + HANDSHAKE_KEYS_MAX * 32];
    size_t out_len;
};

/* A client dialling node @server_id (with its own id and raft address); the first
 * bytes to send are in h->out at once. */
void handshake_client_init(struct handshake *h, const struct handshake_keys *keys,
                           uint64_t self_id, const char *self_address, uint64_t server_id);
/* A server (node @self_id) taking a connection. */
void handshake_server_init(struct handshake *h, const struct handshake_keys *keys,
                           uint64_t self_id, handshake_member_cb member_cb, void *arg);
/* Consumes up to @n bytes of @data (*@used says how many). */
enum handshake_step handshake_feed(struct handshake *h, const uint8_t *data, size_t n,
                                   size_t *used);
/* Wipes the secrets a handshake holds (its session keys included). */
void handshake_wipe(struct handshake *h);

/* Seals @n (1..HANDSHAKE_FRAME_MAX) bytes into @out, which must hold
 * HANDSHAKE_FRAME_HEADER + n + HANDSHAKE_TAG_BYTES bytes; returns the frame's size. */
size_t handshake_seal(struct handshake_dir *d, const uint8_t *in, size_t n, uint8_t *out);
/* The size of the frame at the start of @buf (which holds @n >= HANDSHAKE_FRAME_HEADER
 * bytes), or 0 when the length is out of range (refuse: malformed). */
size_t handshake_frame_size(const uint8_t *buf, size_t n);
/* Opens one whole frame of @size bytes into @out (at least @size bytes); returns the
 * plaintext length, or -1 when it does not open (refuse: integrity). */
long handshake_open(struct handshake_dir *d, const uint8_t *frame, size_t size, uint8_t *out);

#endif
