/* imgarc-verify: checks a node's data directory without the daemon.
 *
 *   imgarc-verify --data DIR [--metadata]
 *
 * Re-hashes every stored blob (BLAKE2b-256 must equal its file name) and reports
 * corrupt, unreadable and misnamed ones, and checks each blob's chunk list (chunks/,
 * which verifies range reads) in the same pass: a damaged one is a problem, a missing
 * one (a blob stored by an older version, upgraded by the node lazily) is counted;
 * safe while the node runs (read only, tmp/ is not touched). With --metadata (the node
 * must be stopped: RocksDB is locked by a running node) it also checks that the blob of
 * every file record is present with the recorded size, when the blob's record lists
 * this node (DATA/node-id) as a holder: in a cluster with more nodes than copies, the
 * others hold the rest. Exit status: 0 all good, 1 problems found, 2 usage or cannot
 * open. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "archive/archive.h"
#include "base/hex.h"
#include "base/mem.h"
#include "storage/blobstore.h"
#include "archive/keys.h"
#include "storage/rocks.h"
#include "version.h"

struct tally {
    unsigned long long blobs, bytes, corrupt, unreadable, misnamed, records, missing, elsewhere;
    unsigned long long chunks_bad, chunks_missing;
};

static void check_blob(const struct blob_store *bs, const char *dir, const char *name,
                       struct tally *t)
{
    uint8_t hash[BLOB_HASH_BYTES];
    struct base_err err = {{0}};
    char *path;
    enum blob_chunks_found found = BLOB_CHUNKS_GOOD;
    struct stat st;
    int rv;
    const char *ab = strlen(dir) >= 5 ? dir + strlen(dir) - 5 : dir; /* "ab/cd" */
    path = xasprintf("%s/%s", dir, name);
    if (strlen(name) != 2 * BLOB_HASH_BYTES || !hex_is_lower(name, 2 * BLOB_HASH_BYTES) ||
        !hex_decode(name, hash, sizeof hash) || strncmp(name, ab, 2) != 0 ||
        strncmp(name + 2, ab + 3, 2) != 0) {
        printf("misnamed   %s\n", path);
        t->misnamed++;
        free(path);
        return;
    }
    t->blobs++;
    if (stat(path, &st) == 0) {
        t->bytes += (unsigned long long)st.st_size;
    }
    rv = blob_verify_paced(bs, hash, false, NULL, NULL, &found, &err);
    if (rv == 0 && found == BLOB_CHUNKS_BAD) {
        printf("bad chunks %s (its chunk list; the node rewrites it)\n", path);
        t->chunks_bad++;
    } else if (rv == 0 && found == BLOB_CHUNKS_MISSING) {
        t->chunks_missing++;
    }
    if (rv == BASE_ECORRUPT) {
        printf("corrupt    %s\n", path);
        t->corrupt++;
    } else if (rv != 0) {
        printf("unreadable %s: %s\n", path, err.msg);
        t->unreadable++;
    }
    free(path);
}

/* Walks blobs/ab/cd/<hash>. */
static int walk_blobs(const struct blob_store *bs, struct tally *t)
{
    DIR *top = opendir(bs->blob_dir);
    struct dirent *a;
    if (top == NULL) {
        fprintf(stderr, "imgarc-verify: %s: %s\n", bs->blob_dir, strerror(errno));
        return -1;
    }
    while ((a = readdir(top)) != NULL) {
        char *mid;
        DIR *m;
        struct dirent *b;
        if (a->d_name[0] == '.') {
            continue;
        }
        mid = xasprintf("%s/%s", bs->blob_dir, a->d_name);
        if ((m = opendir(mid)) == NULL) {
            free(mid);
            continue;
        }
        while ((b = readdir(m)) != NULL) {
            char *leaf;
            DIR *l;
            struct dirent *c;
            if (b->d_name[0] == '.') {
                continue;
            }
            leaf = xasprintf("%s/%s", mid, b->d_name);
            if ((l = opendir(leaf)) != NULL) {
                while ((c = readdir(l)) != NULL) {
                    if (c->d_name[0] != '.') {
                        check_blob(bs, leaf, c->d_name, t);
                    }
                }
                closedir(l);
            }
            free(leaf);
        }
        closedir(m);
        free(mid);
    }
    closedir(top);
    return 0;
}

/* This node's id from DATA/node-id; 0 when there is none (a node that never started). */
static uint64_t own_node_id(const char *data)
{
    char *path = xasprintf("%s/node-id", data);
    FILE *f = fopen(path, "r");
    unsigned long long id = 0;
    free(path);
    if (f != NULL) {
        if (fscanf(f, "%llu", &id) != 1) {
            id = 0;
        }
        fclose(f);
    }
    return (uint64_t)id;
}

/* Whether this node should hold @hash: its blob record lists @node among the holders.
 * In a cluster with more nodes than copies, the other nodes' copies are not here. */
static bool held_here(struct rocks *db, const uint8_t *hash, uint64_t node)
{
    struct base_err err = {{0}};
    char *v;
    size_t vlen;
    BlobRecord *rec;
    bool here = true;
    if (node == 0 || rocks_get(db, ARCHIVE_CF_BLOBS, hash, BLOB_HASH_BYTES, &v, &vlen, &err) != 0) {
        return true; /* no record to say otherwise: it must be here */
    }
    rec = blob_record__unpack(NULL, vlen, (const uint8_t *)v);
    free(v);
    if (rec != NULL) {
        here = false;
        for (size_t i = 0; i < rec->n_holders; i++) {
            here = here || rec->holders[i] == node;
        }
        blob_record__free_unpacked(rec, NULL);
    }
    return here;
}

/* Every file record whose blob this node holds (by the blob records) has it stored
 * with the recorded size. */
static int check_metadata(const struct blob_store *bs, const char *data, struct tally *t)
{
    char *meta = xasprintf("%s/meta", data);
    struct base_err err = {{0}};
    struct rocks *db;
    struct rocks_iter *it;
    uint64_t node = own_node_id(data);
    if (archive_store_open(&db, meta, &err) != 0) {
        fprintf(stderr, "imgarc-verify: metadata in %s: %s (stop the node first: a running "
                        "node holds the store's lock)\n", meta, err.msg);
        free(meta);
        return -1;
    }
    free(meta);
    it = rocks_iter_new(db, ARCHIVE_CF_FILES, "", 0);
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        FileRecord *f = file_record__unpack(NULL, vlen, (const uint8_t *)v);
        char path[4096];
        struct stat st;
        t->records++;
        if (f == NULL || f->blob.len != BLOB_HASH_BYTES) {
            printf("bad record in the files column family\n");
            t->missing++;
        } else if (!held_here(db, f->blob.data, node)) {
            t->elsewhere++;
        } else {
            bool absent;
            blob_path(bs, f->blob.data, path, sizeof path);
            absent = stat(path, &st) != 0;
            if (absent || (uint64_t)st.st_size != f->size) {
                printf("missing    file %s (bill %s): %s %s\n", f->file_id, f->image_no, path,
                       absent ? "absent" : "has another size");
                t->missing++;
            }
        }
        if (f != NULL) {
            file_record__free_unpacked(f, NULL);
        }
    }
    rocks_iter_free(it);
    rocks_close(db);
    return 0;
}

/* The usage on @out; --help asks for it (stdout, status 0), a wrong call gets it on
 * stderr with status 2. */
static int usage(FILE *out, int status)
{
    fprintf(out, "Usage: imgarc-verify --data DIR [--metadata]\n"
                 "Checks an imgarc node's data directory without the daemon.\n\n"
                 "  --data DIR    re-hashes every blob under DIR/blobs and checks its chunk\n"
                 "                list (safe while the node runs: read only)\n"
                 "  --metadata    also checks the blob of every file record this node is a\n"
                 "                holder of (the node must be stopped)\n"
                 "  --help        this text\n"
                 "  --version     the version\n\n"
                 "Exit status: 0 all good, 1 problems found, 2 usage or cannot open.\n");
    return status;
}

int main(int argc, char **argv)
{
    const char *data = NULL;
    bool metadata = false;
    struct tally t = {0};
    struct blob_store bs = {0};
    int rv;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (strcmp(argv[i], "--metadata") == 0) {
            metadata = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            return usage(stdout, 0);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("imgarc-verify %s (git %s)\n", IMGARC_VERSION, IMGARC_GIT_COMMIT);
            return 0;
        } else {
            return usage(stderr, 2);
        }
    }
    if (data == NULL || sodium_init() < 0) {
        return usage(stderr, 2);
    }
    /* Not blob_store_open(): that empties tmp/, which a running node is using. */
    bs.root = (char *)data;
    bs.blob_dir = xasprintf("%s/blobs", data);
    bs.chunk_dir = xasprintf("%s/chunks", data);
    rv = walk_blobs(&bs, &t);
    if (rv == 0 && metadata) {
        rv = check_metadata(&bs, data, &t);
    }
    free(bs.blob_dir);
    free(bs.chunk_dir);
    if (rv != 0) {
        return 2;
    }
    printf("%llu blobs, %llu bytes: %llu corrupt, %llu unreadable, %llu misnamed; chunk "
           "lists: %llu damaged, %llu missing", t.blobs, t.bytes, t.corrupt, t.unreadable,
           t.misnamed, t.chunks_bad, t.chunks_missing);
    if (metadata) {
        printf("; %llu file records, %llu without their blob, %llu held by other nodes only",
               t.records, t.missing, t.elsewhere);
    }
    printf("\n");
    return t.corrupt + t.unreadable + t.misnamed + t.missing + t.chunks_bad > 0 ? 1 : 0;
}
