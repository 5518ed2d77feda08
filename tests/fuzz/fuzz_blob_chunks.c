/* Fuzz target: a blob's chunk list as read from disk (storage/blobstore.c,
 * blob_chunks_load()).
 *
 * The store holds four good blobs (sizes around the 64 KiB chunk: 1 byte, one chunk,
 * one chunk and a byte, three and a half chunks). Each input picks one and becomes its
 * chunk list on disk: raw bytes, or the genuine list with bytes flipped, truncated or
 * extended where the input says. Loading must then succeed (the content is good), and
 * the list it answers must verify every chunk of the content: a list that loads but
 * names other hashes is a finding. A list that was rebuilt must be the genuine one
 * byte for byte. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "storage/blobstore.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_BLOBS 4
static const size_t sizes[N_BLOBS] = {1, BLOB_CHUNK_BYTES, BLOB_CHUNK_BYTES + 1,
                                      BLOB_CHUNK_BYTES * 3 + BLOB_CHUNK_BYTES / 2};
static struct blob_store store;
static uint8_t hashes[N_BLOBS][BLOB_HASH_BYTES];
static uint8_t *genuine[N_BLOBS]; /* each blob's chunk list as its writer made it */
static size_t genuine_len[N_BLOBS];
static char *chunk_buf;

static uint8_t *read_file(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *buf;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "fuzz_blob_chunks: cannot read %s\n", path);
        abort();
    }
    buf = xmalloc((size_t)st.st_size + 1);
    if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
        abort();
    }
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len)) {
        fprintf(stderr, "fuzz_blob_chunks: cannot write %s\n", path);
        abort();
    }
    close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct base_err err = {{0}};
    char root[4096], path[4200];
    (void)argc;
    (void)argv;
    fuzz_init();
    snprintf(root, sizeof root, "%s/blobs", fuzz_tmpdir());
    if (blob_store_open(&store, root, &err) != 0) {
        fprintf(stderr, "fuzz_blob_chunks: %s\n", err.msg);
        abort();
    }
    chunk_buf = xmalloc(BLOB_CHUNK_BYTES);
    for (int i = 0; i < N_BLOBS; i++) {
        struct blob_writer w, *wp = &w;
        uint8_t *content = xmalloc(sizes[i]);
        int result;
        for (size_t j = 0; j < sizes[i]; j++) {
            content[j] = (uint8_t)(j * 131 + (size_t)i * 7 + (j >> 9));
        }
        if (blob_writer_open(&store, &w, &err) != 0 ||
            blob_writer_write(&w, content, sizes[i], &err) != 0 ||
            blob_writer_finish(&w, false, &err) != 0 ||
            blob_commit_batch(&store, &wp, 1, &result, false, &err) != 0) {
            fprintf(stderr, "fuzz_blob_chunks: %s\n", err.msg);
            abort();
        }
        memcpy(hashes[i], w.hash, BLOB_HASH_BYTES);
        blob_chunks_path(&store, hashes[i], path, sizeof path);
        genuine[i] = read_file(path, &genuine_len[i]);
        free(content);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct base_err err = {{0}};
    struct blob_chunks chunks = {0};
    uint8_t mode = fuzz_u8(&in);
    int which = mode % N_BLOBS;
    char path[4200];
    uint8_t *list;
    size_t list_len;
    uint64_t blob_size;
    bool rebuilt = false;
    int fd, rv;

    if (mode & 0x80) {
        list_len = in.len; /* raw bytes */
        list = xmalloc(list_len + 1);
        memcpy(list, in.p, in.len);
    } else {
        /* The genuine list, changed: flips at input-chosen offsets, then a new length. */
        uint32_t new_len = fuzz_u32(&in) % (uint32_t)(genuine_len[which] + 64);
        list_len = (mode & 0x40) ? new_len : genuine_len[which];
        list = xcalloc(list_len + genuine_len[which] + 1, 1);
        memcpy(list, genuine[which], genuine_len[which]);
        while (in.len >= 3) {
            uint32_t off = ((uint32_t)fuzz_u8(&in) << 8 | fuzz_u8(&in)) % (uint32_t)(list_len + 1);
            uint8_t x = fuzz_u8(&in);
            if (off < list_len) {
                list[off] ^= x;
            }
        }
    }
    blob_chunks_path(&store, hashes[which], path, sizeof path);
    write_file(path, list, list_len);

    if (blob_open(&store, hashes[which], &fd, &blob_size, &err) != 0) {
        fprintf(stderr, "fuzz_blob_chunks: open: %s\n", err.msg);
        abort();
    }
    rv = blob_chunks_load(&store, hashes[which], fd, blob_size, &chunks, &rebuilt, &err);
    if (rv != 0) {
        fprintf(stderr, "fuzz_blob_chunks: a good blob's list did not load: %s\n", err.msg);
        abort();
    }
    if (chunks.size != blob_size || chunks.count != (blob_size + BLOB_CHUNK_BYTES - 1) / BLOB_CHUNK_BYTES) {
        fprintf(stderr, "fuzz_blob_chunks: loaded list of %llu chunks for %llu bytes\n",
                (unsigned long long)chunks.count, (unsigned long long)chunks.size);
        abort();
    }
    for (uint64_t i = 0; i < chunks.count; i++) {
        size_t n;
        if (blob_chunk_read(&chunks, fd, i, chunk_buf, &n, &err) != 0) {
            fprintf(stderr, "fuzz_blob_chunks: chunk %llu refused by the list that loaded: %s\n",
                    (unsigned long long)i, err.msg);
            abort();
        }
    }
    if (rebuilt) {
        size_t len;
        uint8_t *now = read_file(path, &len);
        if (len != genuine_len[which] || memcmp(now, genuine[which], len) != 0) {
            fprintf(stderr, "fuzz_blob_chunks: a rebuilt list differs from the writer's\n");
            abort();
        }
        free(now);
    }
    blob_chunks_free(&chunks);
    close(fd);
    free(list);
    return 0;
}
