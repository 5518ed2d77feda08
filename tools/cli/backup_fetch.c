/* The blobs an `imgarc backup` fetches, several at once (backup_int.h): threads, each
 * with its own connection, take blobs from a short queue the metadata stream's reader
 * fills; each blob is downloaded to blobs/incoming-HASH, hashed, checked against its
 * name and size, and renamed into place. The first failure stops the others and is the
 * backup's. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hex.h"
#include "tools/cli/backup_int.h"
#include "tools/cli/cli.h"

#define QUEUE_PER_THREAD 4

struct fetch_job {
    uint8_t hash[BLOB_HASH_BYTES];
    uint64_t size;
};

struct fetch_pool {
    const char *dir;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct fetch_job *queue; /* a ring */
    size_t cap, head, n;
    bool closed;
    int failed; /* the first failure, a CLI_E* code (printed) */
    uint64_t fetched, fetched_bytes;
    bool renamed_in[256];
    pthread_t *threads;
    struct cli_http **http;
    unsigned n_threads;
};

struct worker {
    struct fetch_pool *pool;
    struct cli_http *http;
};

/* One blob, over @http. */
static int fetch_one(struct fetch_pool *p, struct cli_http *http, const struct fetch_job *j)
{
    char hex[BLOB_HEX_BYTES];
    char *path, *tmp, *sub, *url;
    uint8_t got[32];
    uint64_t got_size = 0;
    int rv;
    hex_encode(j->hash, BLOB_HASH_BYTES, hex);
    path = blob_file(p->dir, hex);
    sub = xasprintf("%s/blobs/%.2s", p->dir, hex);
    tmp = xasprintf("%s/blobs/incoming-%s", p->dir, hex);
    url = xasprintf("/api/v1/cluster/blobs/%s/content", hex);
    {
        const struct cli_request req = {.method = "GET", .path = url};
        rv = make_dir("backup", sub);
        if (rv == 0) {
            rv = cli_http_download(http, &req, NULL, tmp);
        }
    }
    if (rv == 0 && (hash_path(tmp, got, &got_size) != 0 || got_size != j->size ||
                    sodium_memcmp(got, j->hash, 32) != 0)) {
        fprintf(stderr, "imgarc: backup: blob %s arrived with %" PRIu64 " bytes that do not "
                "hash to its name (its record says %" PRIu64 " bytes); nothing kept\n", hex,
                got_size, j->size);
        rv = CLI_ETRANSPORT;
    }
    if (rv == 0 && rename(tmp, path) != 0) {
        rv = local_error("backup", "cannot rename", tmp);
    }
    if (rv != 0) {
        unlink(tmp);
    }
    free(url);
    free(tmp);
    free(sub);
    free(path);
    return rv;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    struct fetch_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    while (true) {
        struct fetch_job j;
        int rv;
        while (p->n == 0 && !p->closed && p->failed == 0) {
            pthread_cond_wait(&p->cond, &p->mu);
        }
        if (p->failed != 0 || p->n == 0) {
            break; /* a failure elsewhere, or closed and drained */
        }
        j = p->queue[p->head];
        p->head = (p->head + 1) % p->cap;
        p->n--;
        pthread_cond_broadcast(&p->cond); /* room for the reader */
        pthread_mutex_unlock(&p->mu);
        rv = fetch_one(p, w->http, &j);
        pthread_mutex_lock(&p->mu);
        if (rv != 0 && p->failed == 0) {
            p->failed = rv;
            pthread_cond_broadcast(&p->cond);
        } else if (rv == 0) {
            p->fetched++;
            p->fetched_bytes += j.size;
            p->renamed_in[j.hash[0]] = true;
        }
    }
    pthread_mutex_unlock(&p->mu);
    free(w);
    return NULL;
}

int fetch_pool_new(struct fetch_pool **out, struct cli *cli, const char *dir, unsigned n)
{
    struct fetch_pool *p = xcalloc(1, sizeof *p);
    int rv = 0;
    p->dir = dir;
    p->cap = (size_t)n * QUEUE_PER_THREAD;
    p->queue = xcalloc(p->cap, sizeof *p->queue);
    p->threads = xcalloc(n, sizeof *p->threads);
    p->http = xcalloc(n, sizeof *p->http);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    /* The connections first, on this thread: libcurl's global set-up is not
     * thread-safe. */
    for (unsigned i = 0; i < n && rv == 0; i++) {
        rv = cli_http_new(&p->http[i], &cli->conn);
    }
    for (unsigned i = 0; i < n && rv == 0; i++) {
        struct worker *w = xcalloc(1, sizeof *w);
        w->pool = p;
        w->http = p->http[i];
        if (pthread_create(&p->threads[i], NULL, run, w) != 0) {
            fprintf(stderr, "imgarc: backup: cannot start a fetch thread: %s\n",
                    strerror(errno));
            free(w);
            rv = CLI_ELOCAL;
            break;
        }
        p->n_threads++;
    }
    *out = p;
    return rv;
}

int fetch_pool_add(struct fetch_pool *p, const uint8_t hash[BLOB_HASH_BYTES], uint64_t size)
{
    int rv;
    pthread_mutex_lock(&p->mu);
    while (p->n == p->cap && p->failed == 0) {
        pthread_cond_wait(&p->cond, &p->mu);
    }
    rv = p->failed;
    if (rv == 0) {
        struct fetch_job *j = &p->queue[(p->head + p->n) % p->cap];
        memcpy(j->hash, hash, BLOB_HASH_BYTES);
        j->size = size;
        p->n++;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->mu);
    return rv;
}

int fetch_pool_finish(struct fetch_pool *p, uint64_t *fetched, uint64_t *fetched_bytes,
                      bool renamed_in[256])
{
    int rv;
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n_threads; i++) {
        pthread_join(p->threads[i], NULL);
    }
    rv = p->failed;
    *fetched += p->fetched;
    *fetched_bytes += p->fetched_bytes;
    for (unsigned i = 0; i < 256; i++) {
        renamed_in[i] = renamed_in[i] || p->renamed_in[i];
    }
    for (unsigned i = 0; p->http != NULL && i < p->cap / QUEUE_PER_THREAD; i++) {
        cli_http_free(p->http[i]);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    free(p->http);
    free(p->threads);
    free(p->queue);
    free(p);
    return rv;
}
