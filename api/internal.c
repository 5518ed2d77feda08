/* The node-to-node endpoints under /internal/ are replication's (replication/
 * peer_server.c); the router hands their requests and answers over here, with the
 * API's words for a failed proposal. */
#include "api/api_int.h"

static void propose_failed(struct http_request *req, int status, void *data)
{
    api_respond_propose_error(data, req, status);
}

void api_internal_init(struct api *api)
{
    api->peers = (struct peer_server){
        .repl = api->repl,
        .auth = api->config.auth,
        .blobs = &api->blob_path,
        .propose_failed_cb = propose_failed,
        .data = api,
    };
}

void api_internal_route(struct api *api, struct http_request *req)
{
    peer_server_route(&api->peers, req);
}

void api_internal_answer(struct api *api, struct http_request *req)
{
    peer_server_answer(&api->peers, req);
}
