/* Edits of a captured bill's files: categories (and the tenant's custom attachment
 * categories), delete, rotate, move, merge and split. Replacing a file is an upload with ?replace=
 * (api/capture.c). The state machine enforces when each edit is allowed (before
 * submit; delete and replace also as an amend of a ready sync-mode bill). */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/users.h"
#include "base/mem.h"

#define EDIT_BODY_MAX (256u << 10)
#define EDIT_FILES_MAX 1000

/* False after answering 404 when this node knows @file_id as a file of another bill than
 * the call's (files never change bill, so a local record is enough to refuse). A file
 * this node has not seen yet is left to the state machine, which checks every id again. */
static bool file_of_bill(struct api_op *op, const char *file_id)
{
    struct base_err err = {{0}};
    FileRecord *f;
    bool other;
    if (file_id == NULL || file_id[0] == '\0' ||
        archive_get_file(op->call.api->archive, op->call.tenant, file_id, &f, &err) != 0) {
        return true;
    }
    other = strcmp(f->image_no, op->call.param) != 0;
    archive_free_file(f);
    if (other) {
        api_respond_error(op->call.api, op->call.req, 404, API_E_FILE_NOT_FOUND,
                          "bill %s has no file %s: name files of this bill (GET "
                          "/api/v1/bills/%s lists them)", op->call.param, file_id,
                          op->call.param);
        api_op_free(op);
        return false;
    }
    return true;
}

/* Reads "file_ids" (1-1000 file ids) into a malloc()ed array of borrowed strings;
 * NULL after answering. */
static char **file_ids(struct api_op *op, json_t *root, size_t *n)
{
    json_t *ids = json_object_get(root, "file_ids");
    char **out;
    size_t i;
    json_t *v;
    if (!json_is_array(ids) || json_array_size(ids) == 0 ||
        json_array_size(ids) > EDIT_FILES_MAX) {
        api_op_bad(op, "\"file_ids\" must be a list of 1-1000 file ids of the bill");
        return NULL;
    }
    out = xcalloc(json_array_size(ids), sizeof *out);
    json_array_foreach(ids, i, v) {
        const char *id = json_string_value(v);
        if (id == NULL || !archive_valid_tenant(id)) {
            free(out);
            api_op_bad(op, "\"file_ids\" holds something that is not a file id");
            return NULL;
        }
        if (!file_of_bill(op, id)) {
            free(out);
            return NULL;
        }
        out[i] = (char *)id;
    }
    *n = json_array_size(ids);
    return out;
}

/* ---- Custom categories ---- */

static void category_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *code = json_string_value(json_object_get(root, "code"));
    const char *name = json_string_value(json_object_get(root, "name"));
    Command cmd = COMMAND__INIT;
    CreateCategory c = CREATE_CATEGORY__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (code == NULL || archive_builtin_category(code) || !archive_valid_category(code) ||
        (name != NULL && strlen(name) > 256)) {
        api_op_bad(op, "a category is {\"code\" (1-31 of A-Z a-z 0-9 . _ -, not cover, invoice or "
                       "attachment), \"name\"}: an attachment sub-category of the tenant");
        return;
    }
    if (name == NULL) {
        json_object_set_new(root, "name", json_string(code));
        name = code;
    }
    c.code = (char *)code;
    c.name = (char *)name;
    cmd.body_case = COMMAND__BODY_CREATE_CATEGORY;
    cmd.create_category = &c;
    api_op_propose(op, &cmd, NULL, api_op_echo_applied);
}

void api_handle_create_category(struct api_call *call)
{
    api_op_start(call, EDIT_BODY_MAX, category_body);
}

static void list_category(const CategoryRecord *c, void *arg)
{
    json_array_append_new(arg, json_pack("{s:s, s:s, s:o}", "code", c->code, "name", c->name,
                                         "created", api_time_json(c->created_ms)));
}

void api_handle_list_categories(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *list = json_array();
    if (archive_list_categories(call->api->archive, call->tenant, list_category, list, &err) !=
        0) {
        json_decref(list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "%s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:[s,s,s], s:o}", "built_in", "cover", "invoice",
                               "attachment", "categories", list));
}

/* ---- Categorize, delete, rotate ---- */

static void categorize_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *category = json_string_value(json_object_get(root, "category"));
    Command cmd = COMMAND__INIT;
    SetCategory c = SET_CATEGORY__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (category == NULL || !archive_valid_category(category)) {
        api_op_bad(op, "the body is {\"file_ids\": [...], \"category\": \"cover\" | \"invoice\" | "
                       "\"attachment\" | a category of the tenant}");
        return;
    }
    if ((c.file_ids = file_ids(op, root, &c.n_file_ids)) == NULL) {
        return;
    }
    c.image_no = op->call.param;
    c.category = (char *)category;
    cmd.body_case = COMMAND__BODY_SET_CATEGORY;
    cmd.set_category = &c;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
    free(c.file_ids);
}

void api_handle_categorize(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, EDIT_BODY_MAX, categorize_body);
    }
}

static void propose_delete(struct api_op *op, char **ids, size_t n)
{
    Command cmd = COMMAND__INIT;
    DeleteFiles d = DELETE_FILES__INIT;
    d.image_no = op->call.param;
    d.file_ids = ids;
    d.n_file_ids = n;
    d.amend = archive_actor_may(&op->call.access, PERM_AMEND);
    cmd.body_case = COMMAND__BODY_DELETE_FILES;
    cmd.delete_files = &d;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
}

static void delete_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    char **ids;
    size_t n;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if ((ids = file_ids(op, root, &n)) != NULL) {
        propose_delete(op, ids, n);
        free(ids);
    }
}

void api_handle_delete_files(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, EDIT_BODY_MAX, delete_body);
    }
}

void api_handle_delete_file(struct api_call *call)
{
    char *ids[1];
    struct api_op *op;
    if (!api_bill_param_ok(call)) {
        return;
    }
    op = api_op_new(call);
    ids[0] = op->call.param2;
    if (file_of_bill(op, ids[0])) {
        propose_delete(op, ids, 1);
    }
}

static void rotate_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    json_t *deg = json_object_get(root, "degrees");
    Command cmd = COMMAND__INIT;
    RotateFiles r = ROTATE_FILES__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (!json_is_integer(deg) || (json_integer_value(deg) != 90 &&
                                  json_integer_value(deg) != -90 &&
                                  json_integer_value(deg) != 180)) {
        api_op_bad(op, "the body is {\"file_ids\": [...], \"degrees\": 90 (right) | -90 "
                       "(left) | 180}");
        return;
    }
    if ((r.file_ids = file_ids(op, root, &r.n_file_ids)) == NULL) {
        return;
    }
    r.image_no = op->call.param;
    r.degrees = (int32_t)json_integer_value(deg);
    cmd.body_case = COMMAND__BODY_ROTATE_FILES;
    cmd.rotate_files = &r;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
    free(r.file_ids);
}

void api_handle_rotate(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, EDIT_BODY_MAX, rotate_body);
    }
}

/* ---- Merge and split ---- */

static void merge_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    Command cmd = COMMAND__INIT;
    MergeFiles m = MERGE_FILES__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if ((m.file_ids = file_ids(op, root, &m.n_file_ids)) == NULL) {
        return;
    }
    m.image_no = op->call.param;
    cmd.body_case = COMMAND__BODY_MERGE_FILES;
    cmd.merge_files = &m;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
    free(m.file_ids);
}

void api_handle_merge(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, EDIT_BODY_MAX, merge_body);
    }
}

void api_handle_split(struct api_call *call)
{
    struct api_op *op;
    Command cmd = COMMAND__INIT;
    SplitFile sp = SPLIT_FILE__INIT;
    if (!api_bill_param_ok(call)) {
        return;
    }
    op = api_op_new(call);
    if (!file_of_bill(op, op->call.param2)) {
        return;
    }
    sp.image_no = op->call.param;
    sp.file_id = op->call.param2;
    cmd.body_case = COMMAND__BODY_SPLIT_FILE;
    cmd.split_file = &sp;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
}

/* ---- POST /api/v1/bills/{image_no}/files/{file_id}/move ---- */

static void move_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    json_t *after = json_object_get(root, "after");
    json_t *category = json_object_get(root, "category");
    Command cmd = COMMAND__INIT;
    MoveFile m = MOVE_FILE__INIT;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (after == NULL ||
        (!json_is_null(after) && !archive_valid_tenant(json_string_value(after))) ||
        (category != NULL && !archive_valid_category(json_string_value(category)))) {
        api_op_bad(op, "the body is {\"after\": a file id or null (first), \"category\": the new "
                       "category when the move lands in another category's section}");
        return;
    }
    if (!file_of_bill(op, op->call.param2) ||
        (json_is_string(after) && !file_of_bill(op, json_string_value(after)))) {
        return;
    }
    m.image_no = op->call.param;
    m.file_id = op->call.param2;
    m.after = (char *)(json_is_string(after) ? json_string_value(after) : "");
    m.category = (char *)(category != NULL ? json_string_value(category) : "");
    cmd.body_case = COMMAND__BODY_MOVE_FILE;
    cmd.move_file = &m;
    api_op_propose(op, &cmd, NULL, api_bill_applied);
}

void api_handle_move_file(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, EDIT_BODY_MAX, move_body);
    }
}
