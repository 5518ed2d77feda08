/* Organisations of a tenant (a tree: create, rename, move) and users' data grants.
 * Tenant admins and the operator use these; the state machine enforces the tree's
 * rules (names unique among siblings, no cycles, bounded depth). */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/users.h"
#include "base/mem.h"

#define ORG_BODY_MAX (64u << 10)

/* ---- POST /api/v1/orgs ---- */

static void create_body(struct http_request *req, int status)
{
    struct api_op *oc = req->data;
    json_t *root = api_op_json(oc, status);
    const char *id = json_string_value(json_object_get(root, "id"));
    const char *name = json_string_value(json_object_get(root, "name"));
    json_t *parent = json_object_get(root, "parent");
    Command cmd = COMMAND__INIT;
    CreateOrg c = CREATE_ORG__INIT;
    if (root == NULL) {
        api_op_free(oc);
        return;
    }
    if (id == NULL || !archive_valid_tenant(id) || name == NULL || name[0] == '\0' ||
        strlen(name) > 256 || (parent != NULL && !json_is_null(parent) &&
                               !archive_valid_tenant(json_string_value(parent)))) {
        api_op_bad(oc, "an organisation is {\"id\" (1-64 of A-Z a-z 0-9 . _ -), \"name\" (1-256 "
                       "bytes), \"parent\" (an organisation id, or absent for a top one)}");
        return;
    }
    c.id = (char *)id;
    c.name = (char *)name;
    c.parent = (char *)(json_is_string(parent) ? json_string_value(parent) : "");
    cmd.body_case = COMMAND__BODY_CREATE_ORG;
    cmd.create_org = &c;
    api_op_propose(oc, &cmd, NULL, api_op_echo_applied);
}

void api_handle_create_org(struct api_call *call)
{
    api_op_start(call, ORG_BODY_MAX, create_body);
}

/* ---- PATCH /api/v1/orgs/{id}: rename and/or move ---- */

static void update_body(struct http_request *req, int status)
{
    struct api_op *oc = req->data;
    json_t *root = api_op_json(oc, status);
    json_t *name = json_object_get(root, "name");
    json_t *parent = json_object_get(root, "parent");
    Command cmd = COMMAND__INIT;
    UpdateOrg u = UPDATE_ORG__INIT;
    if (root == NULL) {
        api_op_free(oc);
        return;
    }
    if ((name != NULL && (!json_is_string(name) || json_string_length(name) == 0 ||
                          json_string_length(name) > 256)) ||
        (parent != NULL && !json_is_null(parent) &&
         !archive_valid_tenant(json_string_value(parent))) ||
        (name == NULL && parent == NULL)) {
        api_op_bad(oc, "give \"name\" (1-256 bytes) to rename and/or \"parent\" (an "
                       "organisation id, or null for the top) to move");
        return;
    }
    u.id = oc->call.param;
    u.name = (char *)(name != NULL ? json_string_value(name) : "");
    u.move = parent != NULL;
    u.parent = (char *)(json_is_string(parent) ? json_string_value(parent) : "");
    json_object_set_new(root, "id", json_string(oc->call.param));
    cmd.body_case = COMMAND__BODY_UPDATE_ORG;
    cmd.update_org = &u;
    api_op_propose(oc, &cmd, NULL, api_op_echo_applied);
}

void api_handle_update_org(struct api_call *call)
{
    api_op_start(call, ORG_BODY_MAX, update_body);
}

/* ---- DELETE /api/v1/orgs/{id} ---- */

/* 200 {"id", "deleted": true, "index"}. */
static void org_deleted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    api_op_answer_deleted(prop, status, res, "id");
}

void api_handle_delete_org(struct api_call *call)
{
    struct api_op *op = api_op_new(call);
    Command cmd = COMMAND__INIT;
    DeleteOrg d = DELETE_ORG__INIT;
    d.id = call->param;
    cmd.body_case = COMMAND__BODY_DELETE_ORG;
    cmd.delete_org = &d;
    api_op_propose(op, &cmd, NULL, org_deleted);
}

/* ---- GET /api/v1/orgs ---- */

static void list_org(const OrgRecord *o, void *arg)
{
    json_array_append_new(arg, json_pack("{s:s, s:s, s:o, s:o}", "id", o->id, "name", o->name,
                                         "parent", o->parent[0] != '\0' ? json_string(o->parent)
                                                                        : json_null(),
                                         "created", api_time_json(o->created_ms)));
}

void api_handle_list_orgs(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *orgs = json_array();
    if (archive_list_orgs(call->api->archive, call->tenant, list_org, orgs, &err) != 0) {
        json_decref(orgs);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "orgs: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, json_pack("{s:s, s:o}", "tenant", call->tenant,
                                                          "orgs", orgs));
}

/* ---- PUT /api/v1/users/{id}/grants ---- */

static void grants_body(struct http_request *req, int status)
{
    struct api_op *oc = req->data;
    json_t *root = api_op_json(oc, status);
    json_t *list = json_object_get(root, "grants");
    Grant storage[ARCHIVE_GRANTS_MAX], *ptrs[ARCHIVE_GRANTS_MAX];
    Command cmd = COMMAND__INIT;
    SetGrants sg = SET_GRANTS__INIT;
    size_t i;
    json_t *g;
    if (root == NULL) {
        api_op_free(oc);
        return;
    }
    if (!json_is_array(list) || json_array_size(list) > ARCHIVE_GRANTS_MAX) {
        api_op_bad(oc, "body must be {\"grants\": [{\"org\", \"include_children\"}...]} "
                       "(at most 256)");
        return;
    }
    json_array_foreach(list, i, g)
    {
        const char *org = json_string_value(json_object_get(g, "org"));
        json_t *children = json_object_get(g, "include_children");
        if (org == NULL || (strcmp(org, "*") != 0 && !archive_valid_tenant(org)) ||
            (children != NULL && !json_is_boolean(children))) {
            api_op_bad(oc, "each grant is {\"org\": an organisation id or \"*\", "
                           "\"include_children\": true|false}");
            return;
        }
        grant__init(&storage[i]);
        storage[i].org = (char *)org;
        storage[i].include_children = json_is_true(children);
        ptrs[i] = &storage[i];
    }
    json_object_set_new(root, "username", json_string(oc->call.param));
    sg.username = oc->call.param;
    sg.grants = ptrs;
    sg.n_grants = json_array_size(list);
    cmd.body_case = COMMAND__BODY_SET_GRANTS;
    cmd.set_grants = &sg;
    api_op_propose(oc, &cmd, NULL, api_op_echo_applied);
}

void api_handle_set_grants(struct api_call *call)
{
    api_op_start(call, ORG_BODY_MAX, grants_body);
}
