/* Fuzz target: snapshot decoding and restore (storage/snapshot.c, replication/entry.c)
 * into a real RocksDB store.
 *
 * Mode byte even: the rest of the input is the snapshot raft hands to the state
 * machine, as received. Odd: the rest is the record section; the harness adds the
 * header and a valid checksum, so the record parser runs on every input. A snapshot
 * that restores must leave a store that opens, and encoding that store and restoring
 * it again must give the same store (digest). The same bytes are also written in
 * pieces (of sizes the input picks) through the streaming writer into a second store:
 * it must accept exactly what the one-buffer restore accepts, and make the same
 * store. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/archive.h"
#include "base/mem.h"
#include "replication/entry.h"
#include "storage/snapshot.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rocks *db;
static struct rocks *db2;
static struct archive arc;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct base_err err = {{0}};
    (void)argc;
    (void)argv;
    fuzz_init();
    db = fuzz_store_open("snapshot");
    db2 = fuzz_store_open("snapshot-stream");
    ASSERT(archive_open(&arc, db, &err) == 0);
    return 0;
}

/* "IMGSNAP1", index, @body, 0xFF, BLAKE2b-256 of all that. */
static struct raft_buffer wrap(const uint8_t *body, size_t len, uint64_t index)
{
    struct raft_buffer b = {.len = 16 + len + 33};
    uint8_t *p = raft_malloc(b.len);
    ASSERT(p != NULL);
    memcpy(p, "IMGSNAP1", 8);
    rocks_put_be64(p + 8, index);
    memcpy(p + 16, body, len);
    p[16 + len] = 0xFF;
    crypto_generichash(p + b.len - 32, 32, p, b.len - 32, NULL, 0);
    b.base = p;
    return b;
}

/* @buf restored as one buffer and written as a stream in pieces into db2: the same
 * verdict, the same store. */
static void streamed_like_whole(const uint8_t *buf, size_t len, uint8_t pieces)
{
    struct base_err err = {{0}};
    struct snapshot_writer *w;
    uint8_t d1[32], d2[32];
    uint64_t index;
    int whole, streamed = 0;
    size_t piece = 1 + pieces % 61;
    ASSERT(rocks_wipe(db2, &err) == 0);
    whole = storage_snapshot_restore(db2, buf, len, &err);
    if (whole == 0) {
        ASSERT(storage_digest(db2, d1, &err) == 0);
    }
    ASSERT(rocks_wipe(db2, &err) == 0);
    w = storage_snapshot_writer_new(db2);
    for (size_t at = 0; at < len && streamed == 0; at += piece) {
        streamed = storage_snapshot_write(w, buf + at, len - at < piece ? len - at : piece,
                                          &err);
    }
    if (streamed == 0) {
        streamed = storage_snapshot_writer_finish(w, &index, &err);
    }
    storage_snapshot_writer_free(w);
    ASSERT((whole == 0) == (streamed == 0));
    if (streamed == 0) {
        ASSERT(storage_digest(db2, d2, &err) == 0);
        ASSERT(memcmp(d1, d2, 32) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct base_err err = {{0}};
    struct raft_buffer buf;
    bool skipped;
    uint64_t index;
    uint8_t d1[32], d2[32];
    int rv;
    if (size < 1) {
        return 0;
    }
    /* Each input starts from an empty store at index 0, so nothing is skipped. */
    ASSERT(rocks_wipe(db, &err) == 0 && archive_open(&arc, db, &err) == 0);
    if ((data[0] & 1) == 0) {
        buf.len = size - 1;
        buf.base = raft_malloc(buf.len > 0 ? buf.len : 1);
        memcpy(buf.base, data + 1, buf.len);
    } else {
        buf = wrap(data + 1, size - 1, 1 + (data[0] >> 1));
    }
    streamed_like_whole(buf.base, buf.len, data[0]);
    rv = repl_snapshot_restore(&arc, &buf, &skipped, &index, &err);
    if (rv != 0) {
        ASSERT(err.msg[0] != '\0');
        raft_free(buf.base); /* on failure the buffer is still the caller's */
        return 0;
    }
    if (!skipped) {
        /* The store holds what was restored: it encodes, and restores to itself. */
        void *snap;
        size_t len;
        ASSERT(storage_digest(db, d1, &err) == 0);
        ASSERT(storage_snapshot_encode(db, arc.applied_index, &snap, &len, &err) == 0);
        ASSERT(storage_snapshot_restore(db, snap, len, &err) == 0);
        ASSERT(storage_digest(db, d2, &err) == 0);
        ASSERT(memcmp(d1, d2, 32) == 0);
        free(snap);
        ASSERT(archive_digest(&arc, d1, &index, &err) == 0);
    }
    return 0;
}
