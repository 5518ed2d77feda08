/* The phases: one run of every client thread against a start barrier, then the
 * clients' counters and latencies merged and the percentiles taken; run_phases() runs
 * them in their order (push, upload or seed, read, status). */
#include "tools/bench/bench.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/mem.h"

/* ---- phases ---- */

const char *const phase_names[] = {"upload", "read", "status", "seed", "push", "http"};

bool phase_is_upload(enum phase_kind k)
{
    return k == PHASE_UPLOAD || k == PHASE_SEED;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @v: the smallest value with at least @pct percent
 * of the values at or below it. */
static uint64_t percentile(const uint64_t *v, size_t n, unsigned pct)
{
    size_t rank = (n * pct + 99) / 100;
    return n == 0 ? 0 : v[rank == 0 ? 0 : rank - 1];
}

/* Merges the clients' counters and latencies into @r. */
static void phase_collect(struct bench *b, struct phase_result *r)
{
    size_t total = 0, at = 0;
    uint64_t *all;
    for (unsigned i = 0; i < b->o.clients; i++) {
        const struct client *c = &b->clients[i];
        r->t.ops += c->t.ops;
        r->t.ok += c->t.ok;
        r->t.bytes += c->t.bytes;
        r->t.connects += c->t.connects;
        for (unsigned s = 0; s < ERR_SLOTS; s++) {
            r->t.errors[s] += c->t.errors[s];
        }
        total += c->lat_len;
    }
    all = xmalloc((total + 1) * sizeof *all);
    for (unsigned i = 0; i < b->o.clients; i++) {
        memcpy(all + at, b->clients[i].lat_ns, b->clients[i].lat_len * sizeof *all);
        at += b->clients[i].lat_len;
    }
    qsort(all, total, sizeof *all, cmp_u64);
    r->p50_ns = percentile(all, total, 50);
    r->p90_ns = percentile(all, total, 90);
    r->p99_ns = percentile(all, total, 99);
    r->max_ns = total == 0 ? 0 : all[total - 1];
    free(all);
}

/* Gathers the files the upload made, and the bills that got at least one. */
static void collect_files(struct bench *b)
{
    bool *seen = xcalloc(b->o.bills, sizeof *seen);
    size_t total = 0;
    for (unsigned i = 0; i < b->o.clients; i++) {
        total += b->clients[i].files_len;
    }
    b->files = xrealloc(b->files, (total + 1) * sizeof *b->files);
    b->nfiles = 0;
    for (unsigned i = 0; i < b->o.clients; i++) {
        const struct client *c = &b->clients[i];
        memcpy(b->files + b->nfiles, c->files, c->files_len * sizeof *c->files);
        b->nfiles += c->files_len;
    }
    b->live_bills = xrealloc(b->live_bills, ((size_t)b->o.bills + 1) * sizeof *b->live_bills);
    b->nlive = 0;
    for (size_t i = 0; i < b->nfiles; i++) {
        seen[b->files[i].op % b->o.bills] = true;
    }
    for (uint32_t i = 0; i < b->o.bills; i++) {
        if (seen[i]) {
            b->live_bills[b->nlive++] = i;
        }
    }
    free(seen);
}

static void phase_run(struct bench *b,
                      enum phase_kind kind,
                      uint64_t limit,
                      double duration_s,
                      struct phase_result *r)
{
    uint64_t per_client = limit == UINT64_MAX ? 4096 : limit / b->o.clients + 1;
    double cpu0, node_cpu0 = -1;
    uint64_t t0;
    *r = (struct phase_result){.kind = kind, .node_cpu_s = -1};
    b->kind = kind;
    b->op_limit = limit;
    atomic_store(&b->next_op, 0);
    atomic_store(&b->errors_shown, 0);
    for (unsigned i = 0; i < b->o.clients; i++) {
        client_phase_begin(&b->clients[i], kind, per_client + per_client / 4 + 16);
    }
    fprintf(stderr, "imgarc-bench: %s phase...\n", phase_names[kind]);
    rss_begin(b, &r->rss);
    if (b->o.pid != 0) {
        node_cpu0 = proc_cpu_s(b->o.pid);
    }
    cpu0 = self_cpu_s();
    ASSERT(pthread_barrier_init(&b->start, NULL, b->o.clients + 1) == 0);
    for (unsigned i = 0; i < b->o.clients; i++) {
        ASSERT(pthread_create(&b->clients[i].thread, NULL, client_main, &b->clients[i]) == 0);
    }
    b->deadline_ns = duration_s > 0 ? clock_mono_ns() + (uint64_t)(duration_s * 1e9) : 0;
    pthread_barrier_wait(&b->start);
    t0 = clock_mono_ns();
    for (unsigned i = 0; i < b->o.clients; i++) {
        pthread_join(b->clients[i].thread, NULL);
    }
    r->seconds = (double)(clock_mono_ns() - t0) / 1e9;
    r->bench_cpu_s = self_cpu_s() - cpu0;
    if (node_cpu0 >= 0) {
        double node_cpu1 = proc_cpu_s(b->o.pid);
        r->node_cpu_s = node_cpu1 >= 0 ? node_cpu1 - node_cpu0 : -1;
    }
    rss_end(b, &r->rss);
    pthread_barrier_destroy(&b->start);
    phase_collect(b, r);
    if (phase_is_upload(kind)) {
        collect_files(b);
    }
}

/* Runs the phases asked for; returns how many results it wrote. */
size_t run_phases(struct bench *b, struct phase_result *results)
{
    size_t n = 0;
    bool need_files = (b->o.phases & (PHASE_BIT(PHASE_READ) | PHASE_BIT(PHASE_STATUS))) != 0;
    if (b->o.phases == PHASE_BIT(PHASE_HTTP)) { /* alone, against any server */
        phase_run(b, PHASE_HTTP, b->o.files, b->o.duration_s, &results[n++]);
        return n;
    }
    /* push first: what an ERP does before the bill is scanned; independent of the
     * others (its image numbers are its own). */
    if (b->o.phases & PHASE_BIT(PHASE_PUSH)) {
        phase_run(b, PHASE_PUSH, b->o.files, b->o.duration_s, &results[n++]);
    }
    if (b->o.phases & PHASE_BIT(PHASE_UPLOAD)) {
        phase_run(b, PHASE_UPLOAD, b->o.files, b->o.duration_s, &results[n++]);
    } else if (need_files) {
        /* read and status need files: one per bill, not timed against the targets. */
        phase_run(b, PHASE_SEED, b->o.bills, 0, &results[n++]);
    } else {
        return n;
    }
    if (b->nfiles == 0) {
        fprintf(stderr, "imgarc-bench: no upload succeeded; skipping read and status\n");
        return n;
    }
    if (b->o.phases & PHASE_BIT(PHASE_READ)) {
        phase_run(b, PHASE_READ, b->o.files, b->o.duration_s, &results[n++]);
    }
    if (b->o.phases & PHASE_BIT(PHASE_STATUS)) {
        phase_run(b, PHASE_STATUS, b->o.files, b->o.duration_s, &results[n++]);
    }
    return n;
}
