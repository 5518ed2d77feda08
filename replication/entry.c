/* Raft entries and snapshots of the archive. See entry.h. */
#include "replication/entry.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "storage/rocks.h"
#include "storage/snapshot.h"

#define FRAME_MAGIC "IMGC"
#define BATCH_MAGIC "IMGB"
#define FRAME_HEADER 8

static void put_be32(uint8_t *p, size_t v)
{
    ASSERT(v <= UINT32_MAX);
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t get_be32(const uint8_t *p)
{
    return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

/* A zeroed raft buffer of @len rounded up to 8 bytes. */
static uint8_t *frame_new(size_t len, struct raft_buffer *out)
{
    out->len = (len + 7) & ~(size_t)7;
    out->base = raft_calloc(1, out->len);
    ASSERT(out->base != NULL);
    return out->base;
}

void repl_entry_frame(const Command *cmd, struct raft_buffer *out)
{
    size_t len = command__get_packed_size(cmd);
    uint8_t *frame = frame_new(FRAME_HEADER + len, out);
    memcpy(frame, FRAME_MAGIC, 4);
    put_be32(frame + 4, len);
    command__pack(cmd, frame + FRAME_HEADER);
}

void repl_entry_frame_packed(const void *cmd, size_t len, struct raft_buffer *out)
{
    uint8_t *frame = frame_new(FRAME_HEADER + len, out);
    memcpy(frame, FRAME_MAGIC, 4);
    put_be32(frame + 4, len);
    memcpy(frame + FRAME_HEADER, cmd, len);
}

void repl_entry_frame_many(const struct archive_packed *cmds, size_t n,
                           struct raft_buffer *out)
{
    size_t len = FRAME_HEADER, at = FRAME_HEADER;
    uint8_t *frame;
    ASSERT(n >= 2 && n <= REPL_ENTRY_MAX_COMMANDS);
    for (size_t i = 0; i < n; i++) {
        len += 4 + cmds[i].len;
    }
    frame = frame_new(len, out);
    memcpy(frame, BATCH_MAGIC, 4);
    put_be32(frame + 4, n);
    for (size_t i = 0; i < n; i++) {
        put_be32(frame + at, cmds[i].len);
        memcpy(frame + at + 4, cmds[i].buf, cmds[i].len);
        at += 4 + cmds[i].len;
    }
}

size_t repl_entry_commands(const struct raft_buffer *buf, struct archive_packed *out,
                           bool *shared)
{
    const uint8_t *frame = buf->base;
    size_t n, at = FRAME_HEADER;
    *shared = false;
    if (buf->len < FRAME_HEADER || memcmp(frame, BATCH_MAGIC, 4) != 0) {
        out[0].buf = repl_entry_command(buf, &out[0].len);
        return 1;
    }
    n = get_be32(frame + 4);
    if (n < 2 || n > REPL_ENTRY_MAX_COMMANDS || buf->len % 8 != 0) {
        goto broken;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (buf->len - at < 4) {
            goto broken;
        }
        len = get_be32(frame + at);
        if (buf->len - at - 4 < len) {
            goto broken;
        }
        out[i].buf = frame + at + 4;
        out[i].len = len;
        at += 4 + len;
    }
    /* What follows the commands is padding: zeros, less than 8 bytes. */
    for (size_t i = at; i < buf->len; i++) {
        if (frame[i] != 0 || buf->len - at >= 8) {
            goto broken;
        }
    }
    *shared = true;
    return n;

broken:
    out[0].buf = frame;
    out[0].len = 0;
    return 1;
}

const uint8_t *repl_entry_command(const struct raft_buffer *buf, size_t *len)
{
    const uint8_t *frame = buf->base;
    *len = 0;
    if (buf->len >= FRAME_HEADER && memcmp(frame, FRAME_MAGIC, 4) == 0) {
        *len = get_be32(frame + 4);
    }
    if (*len > buf->len - FRAME_HEADER) {
        *len = 0;
    }
    return buf->len >= FRAME_HEADER ? frame + FRAME_HEADER : frame;
}

int repl_snapshot_take(struct archive *a, size_t piece_bytes, struct raft_buffer *bufs[],
                       unsigned *n_bufs, struct base_err *err)
{
    const size_t piece_len = piece_bytes > 0 ? piece_bytes : REPL_SNAPSHOT_PIECE;
    struct snapshot_reader *r = storage_snapshot_reader_new(a->db, a->applied_index);
    struct raft_buffer *out = NULL;
    unsigned n = 0, cap = 0;
    int rv;
    for (;;) {
        size_t len;
        void *piece = xmalloc(piece_len);
        rv = storage_snapshot_read(r, piece, piece_len, &len, err);
        if (rv != 0 || len == 0) {
            free(piece);
            break;
        }
        if (n == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            out = xrealloc(out, cap * sizeof *out);
        }
        out[n].base = len < piece_len ? xrealloc(piece, len) : piece;
        out[n].len = len;
        n++;
    }
    storage_snapshot_reader_free(r);
    if (rv != 0) {
        repl_snapshot_release(&out, &n);
        return rv;
    }
    *bufs = out;
    *n_bufs = n;
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

#define DESCRIPTOR_VERSION 1
#define DESCRIPTOR_HEAD (8 + 4 + 8 + 8 + 2 + 2) /* with an empty address, no member */

static size_t put_address(uint8_t *p, const char *http)
{
    size_t alen = strnlen(http, ARCHIVE_ADDRESS_MAX);
    p[0] = (uint8_t)(alen >> 8);
    p[1] = (uint8_t)alen;
    memcpy(p + 2, http, alen);
    return 2 + alen;
}

void repl_descriptor_encode(const struct repl_descriptor *d, struct raft_buffer *out)
{
    size_t n = d->n_members < REPL_DESCRIPTOR_MEMBERS_MAX ? d->n_members
                                                           : REPL_DESCRIPTOR_MEMBERS_MAX;
    size_t cap = DESCRIPTOR_HEAD + ARCHIVE_ADDRESS_MAX + 2 +
                 n * (8 + 2 + ARCHIVE_ADDRESS_MAX);
    uint8_t *p = xcalloc(1, cap);
    size_t at;
    memcpy(p, REPL_DESCRIPTOR_MAGIC, 8);
    put_be32(p + 8, DESCRIPTOR_VERSION);
    rocks_put_be64(p + 12, d->index);
    rocks_put_be64(p + 20, d->node_id);
    at = 28 + put_address(p + 28, d->http);
    p[at] = (uint8_t)(n >> 8);
    p[at + 1] = (uint8_t)n;
    at += 2;
    for (size_t i = 0; i < n; i++) {
        rocks_put_be64(p + at, d->members[i].id);
        at += 8 + put_address(p + at + 8, d->members[i].http);
    }
    out->base = p;
    out->len = at;
}

bool repl_descriptor_is(const void *buf, size_t len)
{
    return len >= 8 && memcmp(buf, REPL_DESCRIPTOR_MAGIC, 8) == 0;
}

/* An address at @p (@left bytes): its length and bytes into @out; 0 when it does not
 * fit or holds a NUL. */
static size_t get_address(const uint8_t *p, size_t left, char out[ARCHIVE_ADDRESS_MAX + 1])
{
    size_t alen;
    if (left < 2) {
        return 0;
    }
    alen = (size_t)p[0] << 8 | p[1];
    if (alen > ARCHIVE_ADDRESS_MAX || alen > left - 2 || memchr(p + 2, '\0', alen) != NULL) {
        return 0;
    }
    memcpy(out, p + 2, alen);
    out[alen] = '\0';
    return 2 + alen;
}

bool repl_descriptor_parse(const void *buf, size_t len, struct repl_descriptor *d)
{
    const uint8_t *p = buf;
    size_t at, used, n;
    if (len < DESCRIPTOR_HEAD || !repl_descriptor_is(buf, len) ||
        get_be32(p + 8) != DESCRIPTOR_VERSION) {
        return false;
    }
    d->index = rocks_get_be64(p + 12);
    d->node_id = rocks_get_be64(p + 20);
    if ((used = get_address(p + 28, len - 28, d->http)) == 0) {
        return false;
    }
    at = 28 + used;
    if (len - at < 2) {
        return false;
    }
    n = (size_t)p[at] << 8 | p[at + 1];
    at += 2;
    if (n > REPL_DESCRIPTOR_MEMBERS_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (len - at < 8) {
            return false;
        }
        d->members[i].id = rocks_get_be64(p + at);
        if ((used = get_address(p + at + 8, len - at - 8, d->members[i].http)) == 0) {
            return false;
        }
        at += 8 + used;
    }
    d->n_members = n;
    return at == len && d->index > 0;
}
