/* Starting and stopping the API (the operations endpoints are in ops.c). */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

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


static void init_proposed(struct repl_propose *prop, int status,
                          const struct archive_result *res)
{
    struct api *api = prop->data;
    api->init_in_flight = false;
    if (status != 0 && status != BASE_ESHUTDOWN) {
        LOG_WARN("api", "initialising the cluster: %s; trying again", base_strerror(status));
    } else if (status == 0 && res->status != ARCHIVE_OK) {
        LOG_ERROR("api", "initialising the cluster refused: %s", res->message);
    }
    if (api->stopping) {
        api_maybe_free(api);
    }
}

/* A new cluster's first leader records the cluster's creation and the default tenant
 * with its evaluation license (the InitCluster command; a no-op when applied twice). */
static void init_tick(uv_timer_t *timer)
{
    struct api *api = timer->data;
    Command cmd = COMMAND__INIT;
    InitCluster ic = INIT_CLUSTER__INIT;
    uint8_t key[32];
    if (archive_cluster_initialized(api->archive)) {
        uv_timer_stop(timer);
        return;
    }
    if (api->init_in_flight || !repl_is_leader(api->repl)) {
        return;
    }
    repl_stamp_node_command(&cmd, "init-cluster");
    randombytes_buf(key, sizeof key);
    ic.token_key.data = key;
    ic.token_key.len = sizeof key;
    cmd.body_case = COMMAND__BODY_INIT_CLUSTER;
    cmd.init_cluster = &ic;
    api->init_prop.data = api;
    if (repl_propose(api->repl, &api->init_prop, &cmd, init_proposed) == 0) {
        api->init_in_flight = true;
    }
    sodium_memzero(key, sizeof key);
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
    };
    char msg[256] = "";
    int rv;
    api->loop = loop;
    api->config = *config;
    api->archive = archive;
    api->repl = repl;
    api->blobs = blobs;
    api->durable = durable_new(api);
    rv = http_server_start(&api->http, loop, &hc, msg, sizeof msg);
    if (rv != 0) {
        base_err_set(err, "listen on %s:%d: %s", config->listen_host, config->listen_port, msg);
        durable_free(api->durable);
        free(api);
        return rv;
    }
    uv_timer_init(loop, &api->init_timer);
    api->init_timer.data = api;
    uv_timer_start(&api->init_timer, init_tick, 0, 100);
    api_space_start(api);
    *out = api;
    return 0;
}

int api_port(const struct api *api)
{
    return http_server_port(api->http);
}

void api_maybe_free(struct api *api)
{
    void (*cb)(void *) = api->stop_cb;
    void *arg = api->stop_arg;
    if (!api->http_stopped || !api->timer_closed || api->init_in_flight ||
        !api_space_idle(api)) {
        return;
    }
    durable_free(api->durable);
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

static void timer_closed(uv_handle_t *h)
{
    struct api *api = h->data;
    api->timer_closed = true;
    api_maybe_free(api);
}

void api_stop(struct api *api, uint64_t grace_ms, void (*cb)(void *arg), void *arg)
{
    api->stopping = true;
    api->stop_cb = cb;
    api->stop_arg = arg;
    uv_close((uv_handle_t *)&api->init_timer, timer_closed);
    api_space_stop(api);
    http_server_stop(api->http, grace_ms, http_stopped);
}
