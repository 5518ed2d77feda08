/* Starting and stopping the API (the operations endpoints are in ops.c). */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/repl.h"

void api_route(struct api *api, struct http_request *req);

static void on_request(struct http_request *req)
{
    struct api *api = http_request_server_data(req);
    if (api->stopping) {
        api_respond_error(api, req, 503, API_E_UNAVAILABLE, "the node is shutting down");
        return;
    }
    api_route(api, req);
}


int api_start(struct api **out, uv_loop_t *loop, const struct api_config *config,
              struct archive *archive, struct repl *repl, struct blob_store *blobs,
              struct base_err *err)
{
    struct api *api = xcalloc(1, sizeof *api);
    struct http_server_config hc = {
        .host = config->listen_host,
        .port = config->listen_port,
        .header_bytes_max = config->header_bytes_max,
        .body_bytes_max = config->body_bytes_max,
        .idle_timeout_ms = config->idle_timeout_ms,
        .header_timeout_ms = config->header_timeout_ms,
        .body_timeout_ms = config->body_timeout_ms,
        .buffered_bytes_max = config->buffered_bytes_max,
        .connections_max = config->connections_max,
        .request_cb = on_request,
        .answer_cb = api_add_common_headers,
        .data = api,
        .tls = config->tls,
    };
    struct blob_path_config bc = {
        .node_id = config->node_id,
        .sync_blobs = config->sync_blobs,
        .verify_reads = config->verify_reads,
        .reverify_after_ms = config->reverify_after_ms,
        .group_commit_max = config->group_commit_max,
        .min_free_bytes = config->min_free_bytes,
        .keeper = config->keeper,
    };
    char msg[256] = "";
    unsigned n_pdf;
    int rv;
    api->loop = loop;
    api->config = *config;
    api->archive = archive;
    api->repl = repl;
    api->blobs = blobs;
    rv = http_server_start(&api->http, loop, &hc, msg, sizeof msg);
    if (rv != 0) {
        base_err_set(err, "listen on %s:%d: %s", config->listen_host, config->listen_port, msg);
        free(api);
        return rv;
    }
    /* Twice as many uploads may wait for a counter as may run one: with the defaults
     * (2 children, a pool of 8 threads) at most 6 pool threads are ever tied up in
     * counting pages, 2 stay free for disk work whatever PDFs arrive. */
    n_pdf = config->pdf_children_max > 0 ? config->pdf_children_max : 1;
    child_slots_init(&api->pdf_slots, n_pdf, 2 * n_pdf);
    cluster_init_start(&api->init, loop, archive, repl);
    blob_path_init(&api->blob_path, loop, &bc, archive, repl, blobs);
    api_internal_init(api);
    api_uploads_start(api);
    *out = api;
    return 0;
}

struct blob_path *api_blob_path(struct api *api)
{
    return &api->blob_path;
}

void api_set_migrator(struct api *api, struct migrate_runner *r)
{
    api->migrator = r;
}

int api_port(const struct api *api)
{
    return http_server_port(api->http);
}

void api_maybe_free(struct api *api)
{
    void (*cb)(void *) = api->stop_cb;
    void *arg = api->stop_arg;
    if (!api->http_stopped || !api->init_stopped || !api->blob_path_stopped ||
        !api->uploads_stopped) {
        return;
    }
    blob_path_close(&api->blob_path);
    child_slots_close(&api->pdf_slots); /* no upload left: no worker holds a slot */
    json_decref(api->nodes_cache);
    free(api);
    if (cb != NULL) {
        cb(arg);
    }
}

static void http_stopped(struct http_server *server)
{
    struct api *api = http_server_data(server);
    api->http_stopped = true;
    api_maybe_free(api);
}

static void init_stopped(void *arg)
{
    struct api *api = arg;
    api->init_stopped = true;
    api_maybe_free(api);
}

static void uploads_stopped(void *arg)
{
    struct api *api = arg;
    api->uploads_stopped = true;
    api_maybe_free(api);
}

static void blob_path_stopped(void *arg)
{
    struct api *api = arg;
    api->blob_path_stopped = true;
    api_maybe_free(api);
}

void api_stop(struct api *api, uint64_t grace_ms, void (*cb)(void *arg), void *arg)
{
    api->stopping = true;
    api->stop_cb = cb;
    api->stop_arg = arg;
    cluster_init_stop(&api->init, init_stopped, api);
    blob_path_stop(&api->blob_path, blob_path_stopped, api);
    api_uploads_stop(api, uploads_stopped, api);
    http_server_stop(api->http, grace_ms, http_stopped);
}
