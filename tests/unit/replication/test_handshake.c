/* The raft port's handshake and frames (replication/handshake.c): two real ends run
 * against each other through byte buffers, honest and tampered. */
#include <string.h>

#include <sodium.h>

#include "replication/handshake.h"
#include "tests/lib/testlib.h"

static const uint8_t secret_a[32] = {1, 2, 3};
static const uint8_t secret_b[32] = {9, 8, 7};

struct members {
    uint64_t allowed;
    unsigned calls;
};

static bool member_cb(void *arg, uint64_t id)
{
    struct members *m = arg;
    m->calls++;
    return id == m->allowed;
}

struct pair {
    struct handshake_keys ck, sk;
    struct handshake c, s;
    struct members members;
    enum handshake_step cstep, sstep;
};

/* Keys from one or two secrets (@b may be NULL). */
static void keys(struct handshake_keys *k, const uint8_t *a, const uint8_t *b)
{
    uint8_t s[2][32];
    memcpy(s[0], a, 32);
    if (b != NULL) {
        memcpy(s[1], b, 32);
    }
    handshake_keys_derive(k, (const uint8_t(*)[32])s, b != NULL ? 2 : 1);
}

/* Moves what @from has to say into @to; returns @to's step. */
static enum handshake_step deliver(struct handshake *from, struct handshake *to)
{
    uint8_t buf[1024];
    size_t n = from->out_len, used, off = 0;
    enum handshake_step step = HANDSHAKE_NEED_MORE;
    memcpy(buf, from->out, n);
    from->out_len = 0;
    /* One byte at a time: a handshake must survive any split of its bytes. */
    for (size_t end = 1; end <= n; end++) {
        step = handshake_feed(to, buf + off, end - off, &used);
        off += used;
        if (step != HANDSHAKE_NEED_MORE) {
            break;
        }
    }
    assert_int_equal(off, step == HANDSHAKE_REFUSED ? off : n);
    return step;
}

/* Runs a whole handshake between client 11 (dialling node @want) and server 22. */
static void run(struct pair *p, uint64_t want)
{
    handshake_client_init(&p->c, &p->ck, 11, "127.0.0.1:9011", want);
    handshake_server_init(&p->s, &p->sk, 22, member_cb, &p->members);
    p->cstep = p->sstep = HANDSHAKE_NEED_MORE;
    p->sstep = deliver(&p->c, &p->s); /* client hello */
    if (p->sstep != HANDSHAKE_NEED_MORE) {
        return;
    }
    p->cstep = deliver(&p->s, &p->c); /* server hello; client proof queued */
    if (p->cstep != HANDSHAKE_NEED_MORE) {
        return;
    }
    p->sstep = deliver(&p->c, &p->s); /* client proof */
    if (p->sstep != HANDSHAKE_DONE) {
        return;
    }
    p->cstep = deliver(&p->s, &p->c); /* server proof */
}

static void sealed_round_trip(struct handshake_dir *tx, struct handshake_dir *rx)
{
    uint8_t msg[300], frame[400], out[400];
    size_t size;
    randombytes_buf(msg, sizeof msg);
    size = handshake_seal(tx, msg, sizeof msg, frame);
    assert_int_equal(size, HANDSHAKE_FRAME_HEADER + sizeof msg + HANDSHAKE_TAG_BYTES);
    assert_int_equal(handshake_frame_size(frame, size), size);
    assert_int_equal(handshake_open(rx, frame, size, out), (long)sizeof msg);
    assert_memory_equal(out, msg, sizeof msg);
    assert_memory_not_equal(frame + HANDSHAKE_FRAME_HEADER, msg, 32); /* encrypted */
}

static void members_with_the_secret_meet(void **state)
{
    struct pair p = {.members = {.allowed = 11}};
    keys(&p.ck, secret_a, NULL);
    keys(&p.sk, secret_a, NULL);
    run(&p, 22);
    assert_int_equal(p.sstep, HANDSHAKE_DONE);
    assert_int_equal(p.cstep, HANDSHAKE_DONE);
    assert_int_equal(p.s.peer_id, 11);
    assert_string_equal(p.s.peer_address, "127.0.0.1:9011");
    assert_int_equal(p.members.calls, 1);
    sealed_round_trip(&p.c.tx, &p.s.rx);
    sealed_round_trip(&p.s.tx, &p.c.rx);
    sealed_round_trip(&p.c.tx, &p.s.rx);
    /* The two directions never share a key. */
    assert_memory_not_equal(p.c.tx.key, p.c.rx.key, HANDSHAKE_KEY_BYTES);
}

static void another_secret_is_refused_before_membership_is_asked(void **state)
{
    struct pair p = {.members = {.allowed = 11}};
    keys(&p.ck, secret_b, NULL);
    keys(&p.sk, secret_a, NULL);
    run(&p, 22);
    assert_int_equal(p.sstep, HANDSHAKE_REFUSED);
    assert_int_equal(p.s.refusal, HANDSHAKE_R_BAD_PROOF);
    assert_int_equal(p.members.calls, 0);
    assert_int_equal(p.s.out_len, 0); /* nothing to say to it */
}

static void a_non_member_is_refused(void **state)
{
    struct pair p = {.members = {.allowed = 99}};
    keys(&p.ck, secret_a, NULL);
    keys(&p.sk, secret_a, NULL);
    run(&p, 22);
    assert_int_equal(p.sstep, HANDSHAKE_REFUSED);
    assert_int_equal(p.s.refusal, HANDSHAKE_R_NOT_MEMBER);
}

static void dialling_another_node_id_is_refused_both_ways(void **state)
{
    struct pair p = {.members = {.allowed = 11}};
    keys(&p.ck, secret_a, NULL);
    keys(&p.sk, secret_a, NULL);
    run(&p, 23); /* the server is 22 */
    assert_int_equal(p.sstep, HANDSHAKE_REFUSED);
    assert_int_equal(p.s.refusal, HANDSHAKE_R_WRONG_NODE);
}

/* During a rotation a node holds the new secret and the old one; it meets nodes that
 * still have only the old one, in both directions, and nodes with only the new one. */
static void a_rotation_meets_on_the_shared_secret(void **state)
{
    const uint8_t *sides[][4] = {
        /* client current, client previous, server current, server previous */
        {secret_b, secret_a, secret_a, NULL},
        {secret_a, NULL, secret_b, secret_a},
        {secret_b, secret_a, secret_b, NULL},
        {secret_b, NULL, secret_b, secret_a},
    };
    for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) {
        struct pair p = {.members = {.allowed = 11}};
        keys(&p.ck, sides[i][0], sides[i][1]);
        keys(&p.sk, sides[i][2], sides[i][3]);
        run(&p, 22);
        assert_int_equal(p.sstep, HANDSHAKE_DONE);
        assert_int_equal(p.cstep, HANDSHAKE_DONE);
        sealed_round_trip(&p.c.tx, &p.s.rx);
        sealed_round_trip(&p.s.tx, &p.c.rx);
    }
}

/* A server that answers with a proof made for another transcript (a replayed answer,
 * or one from a node without the secret) is refused by the client. */
static void a_replayed_server_proof_is_refused(void **state)
{
    struct pair p = {.members = {.allowed = 11}}, q = {.members = {.allowed = 11}};
    uint8_t old_proof[32];
    size_t used;
    keys(&p.ck, secret_a, NULL);
    keys(&p.sk, secret_a, NULL);
    run(&p, 22);
    assert_int_equal(p.cstep, HANDSHAKE_DONE);
    /* Record the server's proof of a first session by running it again by hand. */
    keys(&q.ck, secret_a, NULL);
    keys(&q.sk, secret_a, NULL);
    handshake_client_init(&q.c, &q.ck, 11, "127.0.0.1:9011", 22);
    handshake_server_init(&q.s, &q.sk, 22, member_cb, &q.members);
    assert_int_equal(deliver(&q.c, &q.s), HANDSHAKE_NEED_MORE);
    assert_int_equal(deliver(&q.s, &q.c), HANDSHAKE_NEED_MORE);
    assert_int_equal(deliver(&q.c, &q.s), HANDSHAKE_DONE);
    memcpy(old_proof, q.s.out, sizeof old_proof);
    /* A new session, answered with the old proof. */
    handshake_client_init(&p.c, &p.ck, 11, "127.0.0.1:9011", 22);
    handshake_server_init(&p.s, &p.sk, 22, member_cb, &p.members);
    assert_int_equal(deliver(&p.c, &p.s), HANDSHAKE_NEED_MORE);
    assert_int_equal(deliver(&p.s, &p.c), HANDSHAKE_NEED_MORE);
    assert_int_equal(handshake_feed(&p.c, old_proof, sizeof old_proof, &used),
                     HANDSHAKE_REFUSED);
    assert_int_equal(p.c.refusal, HANDSHAKE_R_BAD_PROOF);
}

/* What the built-in raft_uv_tcp transport, or a stranger, sends first is refused at
 * once, and so is a server without a secret. */
static void other_protocols_and_no_secret_are_refused(void **state)
{
    struct handshake_keys k, none = {.n = 0};
    struct handshake s;
    struct members m = {.allowed = 11};
    uint8_t raft_tcp[24] = {1, 0, 0, 0, 0, 0, 0, 0, 11}; /* raft_uv_tcp: protocol 1, id */
    uint8_t hello[HANDSHAKE_HELLO_MAX];
    size_t used;
    keys(&k, secret_a, NULL);
    handshake_server_init(&s, &k, 22, member_cb, &m);
    assert_int_equal(handshake_feed(&s, raft_tcp, sizeof raft_tcp, &used), HANDSHAKE_REFUSED);
    assert_int_equal(s.refusal, HANDSHAKE_R_MALFORMED);
    /* An address with characters no address has. */
    {
        struct handshake c;
        handshake_client_init(&c, &k, 11, "127.0.0.1:9011", 22);
        memcpy(hello, c.out, c.out_len);
        hello[c.out_len - 3] = '\n';
        handshake_server_init(&s, &k, 22, member_cb, &m);
        assert_int_equal(handshake_feed(&s, hello, c.out_len, &used), HANDSHAKE_REFUSED);
        assert_int_equal(s.refusal, HANDSHAKE_R_MALFORMED);
        /* Our own id as the client's: a reflected hello. */
        handshake_client_init(&c, &k, 22, "127.0.0.1:9011", 22);
        handshake_server_init(&s, &k, 22, member_cb, &m);
        assert_int_equal(handshake_feed(&s, c.out, c.out_len, &used), HANDSHAKE_REFUSED);
        assert_int_equal(s.refusal, HANDSHAKE_R_MALFORMED);
    }
    handshake_server_init(&s, &none, 22, member_cb, &m);
    assert_int_equal(handshake_feed(&s, raft_tcp, sizeof raft_tcp, &used), HANDSHAKE_REFUSED);
    assert_int_equal(s.refusal, HANDSHAKE_R_NO_SECRET);
    /* A proof count out of range. */
    {
        struct pair p = {.members = {.allowed = 11}};
        uint8_t bad[1 + 3 * 32] = {3};
        keys(&p.ck, secret_a, NULL);
        keys(&p.sk, secret_a, NULL);
        handshake_client_init(&p.c, &p.ck, 11, "127.0.0.1:9011", 22);
        handshake_server_init(&p.s, &p.sk, 22, member_cb, &p.members);
        assert_int_equal(deliver(&p.c, &p.s), HANDSHAKE_NEED_MORE);
        assert_int_equal(handshake_feed(&p.s, bad, sizeof bad, &used), HANDSHAKE_REFUSED);
        assert_int_equal(p.s.refusal, HANDSHAKE_R_MALFORMED);
    }
}

/* After the handshake a frame that was altered, replayed, reordered or dropped does
 * not open, and lengths out of range are refused before any decryption. */
static void altered_replayed_and_reordered_frames_do_not_open(void **state)
{
    struct pair p = {.members = {.allowed = 11}};
    uint8_t msg[64] = "AppendEntries", f1[128], f2[128], out[128];
    size_t n1, n2;
    struct handshake_dir rx;
    keys(&p.ck, secret_a, NULL);
    keys(&p.sk, secret_a, NULL);
    run(&p, 22);
    assert_int_equal(p.cstep, HANDSHAKE_DONE);
    n1 = handshake_seal(&p.c.tx, msg, sizeof msg, f1);
    n2 = handshake_seal(&p.c.tx, msg, sizeof msg, f2);
    /* Reordered: the second frame first. */
    rx = p.s.rx;
    assert_int_equal(handshake_open(&rx, f2, n2, out), -1);
    /* Altered: one bit of the ciphertext, or of the length. */
    rx = p.s.rx;
    f1[10] ^= 1;
    assert_int_equal(handshake_open(&rx, f1, n1, out), -1);
    f1[10] ^= 1;
    /* In order it opens; the same frame again (a replay) does not. */
    assert_int_equal(handshake_open(&p.s.rx, f1, n1, out), (long)sizeof msg);
    assert_int_equal(handshake_open(&p.s.rx, f1, n1, out), -1);
    assert_int_equal(handshake_open(&p.s.rx, f2, n2, out), (long)sizeof msg);
    /* Lengths: empty, too long. */
    {
        uint8_t hdr[4] = {0, 0, 0, HANDSHAKE_TAG_BYTES};
        uint8_t big[4] = {0, 0x01, 0x00, 0x11}; /* 65536 + 17 */
        assert_int_equal(handshake_frame_size(hdr, 4), 0);
        assert_int_equal(handshake_frame_size(big, 4), 0);
    }
    /* A frame sealed by another session's key. */
    {
        struct pair q = {.members = {.allowed = 11}};
        keys(&q.ck, secret_a, NULL);
        keys(&q.sk, secret_a, NULL);
        run(&q, 22);
        n1 = handshake_seal(&q.c.tx, msg, sizeof msg, f1);
        rx = p.s.rx;
        rx.seq = 0;
        assert_int_equal(handshake_open(&rx, f1, n1, out), -1);
    }
}

static int setup(void **state)
{
    return sodium_init() < 0 ? -1 : 0;
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(members_with_the_secret_meet, setup),
    cmocka_unit_test_setup(another_secret_is_refused_before_membership_is_asked, setup),
    cmocka_unit_test_setup(a_non_member_is_refused, setup),
    cmocka_unit_test_setup(dialling_another_node_id_is_refused_both_ways, setup),
    cmocka_unit_test_setup(a_rotation_meets_on_the_shared_secret, setup),
    cmocka_unit_test_setup(a_replayed_server_proof_is_refused, setup),
    cmocka_unit_test_setup(other_protocols_and_no_secret_are_refused, setup),
    cmocka_unit_test_setup(altered_replayed_and_reordered_frames_do_not_open, setup),
};

TESTLIB_MAIN("handshake", tests)
