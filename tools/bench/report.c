/* What imgarc-bench prints: the plan before the first phase, then one row per phase,
 * its errors by HTTP status and its node figures, and with --json one JSON object
 * per phase. */
#include "tools/bench/bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/mem.h"

/* ---- output ---- */

uint64_t error_total(const struct tally *t)
{
    uint64_t n = 0;
    for (unsigned s = 0; s < ERR_SLOTS; s++) {
        n += t->errors[s];
    }
    return n;
}

static void error_slot_name(unsigned slot, char *buf, size_t size)
{
    if (slot == ERR_TRANSPORT) {
        snprintf(buf, size, "transport");
    } else if (slot == ERR_BAD_BODY) {
        snprintf(buf, size, "bad_body");
    } else if (slot == ERR_STATUS_ODD) {
        snprintf(buf, size, "other");
    } else {
        snprintf(buf, size, "%u", slot);
    }
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void print_row(const struct phase_result *r)
{
    char rss[32] = "unknown";
    double secs = r->seconds > 0 ? r->seconds : 1e-9;
    if (r->rss.source != RSS_UNKNOWN) {
        snprintf(rss, sizeof rss, "%.1f MiB", mib(r->rss.after));
    }
    printf("%-7s %9" PRIu64 " %7" PRIu64 " %8.2f %9.1f %8.1f %7.2f %7.2f %7.2f %8.2f  %s\n",
           phase_names[r->kind], r->t.ops, error_total(&r->t), r->seconds, (double)r->t.ok / secs,
           mib(r->t.bytes) / secs, ms(r->p50_ns), ms(r->p90_ns), ms(r->p99_ns), ms(r->max_ns), rss);
}

static void print_details(const struct bench *b, const struct phase_result *r)
{
    char name[16];
    printf("%s: errors", phase_names[r->kind]);
    if (error_total(&r->t) == 0) {
        printf(" none");
    }
    for (unsigned s = 0; s < ERR_SLOTS; s++) {
        if (r->t.errors[s] != 0) {
            error_slot_name(s, name, sizeof name);
            printf(" %s x%" PRIu64, name, r->t.errors[s]);
        }
    }
    printf("; %" PRIu64 " connection(s) opened; bench CPU %.2f cores", r->t.connects,
           r->bench_cpu_s / (r->seconds > 0 ? r->seconds : 1e-9));
    if (r->node_cpu_s >= 0) {
        printf(", node CPU %.2f cores", r->node_cpu_s / (r->seconds > 0 ? r->seconds : 1e-9));
    }
    if (r->rss.source == RSS_VMHWM) {
        printf("; node peak RSS: VmHWM of pid %ld, %s (%.1f MiB at the phase start)", b->o.pid,
               r->rss.reset ? "reset at the phase start" : "since the node started",
               mib(r->rss.before));
    } else if (r->rss.source == RSS_METRICS) {
        printf("; node peak RSS: " RSS_METRIC " (%.1f MiB at the phase start)", mib(r->rss.before));
    }
    printf("\n");
}

static void print_json(const struct bench *b, const struct phase_result *r)
{
    static const char *const sources[] = {"unknown", "vmhwm", "metrics"};
    double secs = r->seconds > 0 ? r->seconds : 1e-9;
    json_t *errors = json_object(), *line;
    char name[16], *text;
    for (unsigned s = 0; s < ERR_SLOTS; s++) {
        if (r->t.errors[s] != 0) {
            error_slot_name(s, name, sizeof name);
            json_object_set_new(errors, name, json_integer((json_int_t)r->t.errors[s]));
        }
    }
    line = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:o, s:f, s:f, s:f}", "phase",
                     phase_names[r->kind], "run_id", b->run_id, "server", b->servers, "clients",
                     (int)b->o.clients, "size", (json_int_t)b->o.size, "ops", (json_int_t)r->t.ops,
                     "ok", (json_int_t)r->t.ok, "errors", (json_int_t)error_total(&r->t),
                     "errors_by_status", errors, "seconds", r->seconds, "ops_per_s",
                     (double)r->t.ok / secs, "mib_per_s", mib(r->t.bytes) / secs);
    ASSERT(line != NULL);
    json_object_set_new(line, "bytes", json_integer((json_int_t)r->t.bytes));
    json_object_set_new(line, "engine", json_string(b->o.engine == ENGINE_RAW ? "raw" : "curl"));
    json_object_set_new(line, "latency_ms",
                        json_pack("{s:f, s:f, s:f, s:f}", "p50", ms(r->p50_ns), "p90",
                                  ms(r->p90_ns), "p99", ms(r->p99_ns), "max", ms(r->max_ns)));
    json_object_set_new(line, "connections_opened", json_integer((json_int_t)r->t.connects));
    json_object_set_new(line, "node_peak_rss_bytes",
                        r->rss.source == RSS_UNKNOWN ? json_null()
                                                     : json_integer((json_int_t)r->rss.after));
    json_object_set_new(line, "node_peak_rss_source", json_string(sources[r->rss.source]));
    json_object_set_new(line, "node_peak_rss_reset", json_boolean(r->rss.reset));
    json_object_set_new(line, "bench_cpu_s", json_real(r->bench_cpu_s));
    json_object_set_new(line, "node_cpu_s",
                        r->node_cpu_s >= 0 ? json_real(r->node_cpu_s) : json_null());
    text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
    ASSERT(text != NULL);
    printf("%s\n", text);
    free(text);
    json_decref(line);
}

void print_results(const struct bench *b, const struct phase_result *r, size_t n)
{
    printf("\n%-7s %9s %7s %8s %9s %8s %7s %7s %7s %8s  %s\n", "phase", "ops", "errors", "seconds",
           "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "node peak RSS");
    for (size_t i = 0; i < n; i++) {
        print_row(&r[i]);
    }
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        print_details(b, &r[i]);
    }
    for (size_t i = 0; b->o.json && i < n; i++) {
        print_json(b, &r[i]);
    }
}

void print_plan(const struct bench *b)
{
    char ops[64] = "", dur[64] = "";
    if (b->o.files != UINT64_MAX) {
        snprintf(ops, sizeof ops, "%" PRIu64 " operations per phase", b->o.files);
    }
    if (b->o.duration_s > 0) {
        snprintf(dur, sizeof dur, "%s%g s per phase", ops[0] != '\0' ? " or " : "",
                 b->o.duration_s);
    }
    if (b->o.phases == PHASE_BIT(PHASE_HTTP)) {
        printf("imgarc-bench: run %s, raw engine, %u clients, %s %s (body: %s), %s%s\n", b->run_id,
               b->o.clients, b->o.method, b->o.path,
               b->o.body_tmpl != NULL                ? b->o.body_tmpl
               : strcmp(b->o.method, "GET") == 0 ? "none"
                                                     : "--size bytes",
               ops, dur);
    } else if (b->o.phases != PHASE_BIT(PHASE_PUSH)) {
        printf("imgarc-bench: run %s, %s engine, %u clients, %" PRIu64 " bytes per file, %s%s, "
               "%u bills (BENCH-%s-0..%u)\n",
               b->run_id, b->o.engine == ENGINE_RAW ? "raw" : "curl", b->o.clients, b->o.size,
               ops, dur, b->o.bills, b->run_id, b->o.bills - 1);
    } else {
        printf("imgarc-bench: run %s, %s engine, %u clients, %s%s\n", b->run_id,
               b->o.engine == ENGINE_RAW ? "raw" : "curl", b->o.clients, ops, dur);
    }
    if (b->o.phases & PHASE_BIT(PHASE_PUSH)) {
        printf("imgarc-bench: push: one new pool bill per operation, BENCH-%s-P<n>\n", b->run_id);
    }
    if (b->ntargets > 1) {
        printf("imgarc-bench: %u nodes, client i uses node i mod %u; node RSS and CPU are "
               "about %s\n",
               b->ntargets, b->ntargets, b->base);
    }
    fflush(stdout);
}
