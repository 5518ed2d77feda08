/* Raft entries and snapshots of the archive. See entry.h. */
#include "replication/entry.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "storage/snapshot.h"

#define FRAME_MAGIC "IMGC"
#define FRAME_HEADER 8

void repl_entry_frame(const Command *cmd, struct raft_buffer *out)
{
    size_t len = command__get_packed_size(cmd);
    uint8_t *frame;
    ASSERT(len <= UINT32_MAX);
    out->len = (FRAME_HEADER + len + 7) & ~(size_t)7;
    out->base = raft_calloc(1, out->len);
    ASSERT(out->base != NULL);
    frame = out->base;
    memcpy(frame, FRAME_MAGIC, 4);
    frame[4] = (uint8_t)(len >> 24);
    frame[5] = (uint8_t)(len >> 16);
    frame[6] = (uint8_t)(len >> 8);
    frame[7] = (uint8_t)len;
    command__pack(cmd, frame + FRAME_HEADER);
}

const uint8_t *repl_entry_command(const struct raft_buffer *buf, size_t *len)
{
    const uint8_t *frame = buf->base;
    *len = 0;
    if (buf->len >= FRAME_HEADER && memcmp(frame, FRAME_MAGIC, 4) == 0) {
        *len = (size_t)frame[4] << 24 | (size_t)frame[5] << 16 | (size_t)frame[6] << 8 |
               frame[7];
    }
    if (*len > buf->len - FRAME_HEADER) {
        *len = 0;
    }
    return buf->len >= FRAME_HEADER ? frame + FRAME_HEADER : frame;
}

int repl_snapshot_take(struct archive *a, struct raft_buffer *bufs[], unsigned *n_bufs,
                       struct base_err *err)
{
    void *data;
    size_t len;
    int rv = storage_snapshot_encode(a->db, a->applied_index, &data, &len, err);
    if (rv != 0) {
        return rv;
    }
    *bufs = xmalloc(sizeof **bufs);
    (*bufs)[0].base = data;
    (*bufs)[0].len = len;
    *n_bufs = 1;
    return 0;
}

void repl_snapshot_release(struct raft_buffer *bufs[], unsigned *n_bufs)
{
    for (unsigned i = 0; i < *n_bufs; i++) {
        free((*bufs)[i].base);
    }
    free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
}

int repl_snapshot_restore(struct archive *a, struct raft_buffer *buf, bool *skipped,
                          uint64_t *index, struct base_err *err)
{
    int rv = storage_snapshot_index(buf->base, buf->len, index, err);
    *skipped = false;
    if (rv == 0 && a->applied_index >= *index) {
        *skipped = true; /* a restart: the store holds everything the snapshot has */
    } else if (rv == 0 && (rv = storage_snapshot_restore(a->db, buf->base, buf->len, err)) == 0) {
        rv = archive_open(a, a->db, err);
    }
    if (rv == 0) {
        raft_free(buf->base);
    }
    return rv;
}
