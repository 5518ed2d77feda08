/* Fuzz target: snapshot decoding and restore (storage/snapshot.c, replication/entry.c)
 * into a real RocksDB store.
 *
 * Mode byte even: the rest of the input is the snapshot raft hands to the state
 * machine, as received. Odd: the rest is the record section; the harness adds the
 * header and a valid checksum, so the record parser runs on every input. A snapshot
 * that restores must leave a store that opens, and encoding that store and restoring
 * it again must give the same store (digest). */
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
static struct archive arc;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct base_err err = {{0}};
    (void)argc;
    (void)argv;
    fuzz_init();
    db = fuzz_store_open("snapshot");
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
