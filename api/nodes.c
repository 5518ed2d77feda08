/* GET /api/v1/nodes: the members of the cluster with the address of each one's console,
 * for any token (the console's "this node does not answer" banner links to the others).
 *
 * The members, their health and the leader come from the same view as GET
 * /api/v1/cluster (replication/members_view.c: one status call per member), kept for
 * NODES_CACHE_MS: a console polls every minute and many consoles share one view, so a
 * request finds the answer cached almost always. A request that finds it stale takes
 * a new view and waits for it (at most the view's poll timeout); one that arrives
 * while another refreshes gets the stale copy at once. This node's own address is
 * the one it registers even before its registry record is applied (just after a
 * start); an answer in which a member has no address yet is not kept. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "replication/repl.h"

#define NODES_CACHE_MS 5000u

struct nodes_call {
    struct api_call call;
    struct repl_view view;
};

static json_t *node_json(struct api *api, const struct repl_member *m, uint64_t leader,
                         bool *complete)
{
    struct base_err err;
    NodeRecord *rec = NULL;
    const char *health = m->health;
    char url[ARCHIVE_ADDRESS_MAX + 16];
    json_t *j;
    /* A drained node that answers is "draining", as in GET /cluster. */
    if (archive_get_node(api->archive, m->id, &rec, &err) == 0 &&
        strcmp(archive_storage_name(rec->storage), "draining") == 0 &&
        strcmp(health, "ok") == 0) {
        health = "draining";
    }
    archive_free_node(rec);
    if (m->http[0] != '\0') {
        snprintf(url, sizeof url, "%s://%s", peer_scheme(), m->http);
    } else if (m->id == api->config.node_id && repl_http_address(api->repl)[0] != '\0') {
        snprintf(url, sizeof url, "%s://%s", peer_scheme(), repl_http_address(api->repl));
        *complete = false;
    } else {
        url[0] = '\0';
        *complete = false;
    }
    j = json_pack("{s:o, s:o, s:s, s:s, s:b}", "id", api_node_id_json(m->id), "url",
                  url[0] != '\0' ? json_string(url) : json_null(), "zone", m->zone,
                  "health", health, "leader", m->id != 0 && m->id == leader);
    return j;
}

static void answer(struct api_call *call, json_t *nodes)
{
    api_respond_json(call->api, call->req, 200, json_pack("{s:O}", "nodes", nodes));
}

static void viewed(struct repl_view *v)
{
    struct nodes_call *nc = v->data;
    struct api *api = nc->call.api;
    json_t *nodes = json_array();
    bool complete = true;
    for (size_t i = 0; i < v->n; i++) {
        json_array_append_new(nodes, node_json(api, &v->members[i], v->leader_id, &complete));
    }
    api->nodes_refreshing = false;
    answer(&nc->call, nodes);
    if (complete) {
        json_decref(api->nodes_cache);
        api->nodes_cache = nodes;
        api->nodes_cache_ms = uv_now(api->loop);
    } else {
        json_decref(nodes);
    }
    repl_view_free(v);
    free(nc);
}

void api_handle_nodes(struct api_call *call)
{
    struct api *api = call->api;
    struct nodes_call *nc;
    if (api->nodes_cache != NULL &&
        (uv_now(api->loop) - api->nodes_cache_ms < NODES_CACHE_MS || api->nodes_refreshing)) {
        answer(call, api->nodes_cache);
        return;
    }
    nc = xcalloc(1, sizeof *nc);
    nc->call = *call;
    nc->view.data = nc;
    api->nodes_refreshing = true;
    repl_view_cluster(api->repl, &nc->view, viewed);
}
