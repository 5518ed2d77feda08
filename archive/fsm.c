/* The deterministic state machine: applies commands to the metadata store.
 *
 * One command = one RocksDB batch holding every change plus the applied index.
 * Nothing here reads a clock, a random source or node-local configuration, so every
 * node that applies the same log reaches the same state. */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "archive/archive_int.h"
#include "archive/keys.h"
#include "archive/license.h"
#include "archive/nodes.h"
#include "archive/users.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/mem.h"

static bool same_digest(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Answers a retried request from the stored result of the first one. Returns true
 * when the command must not be applied again. */
static bool replay_idempotent(struct txn *t, int *rv)
{
    struct key k;
    ResultRecord *prev;
    *rv = 0;
    if (t->cmd->idempotency_key == NULL || t->cmd->idempotency_key[0] == '\0') {
        return false;
    }
    key_pair(&k, t->cmd->tenant, t->cmd->idempotency_key);
    *rv = archive_load_record(t->a, ROCKS_CF_IDEM, &k, &result_record__descriptor,
                      (ProtobufCMessage **)&prev, t->err);
    if (*rv == BASE_ENOTFOUND) {
        *rv = 0;
        return false;
    }
    if (*rv != 0) {
        return true;
    }
    if (!same_digest(&prev->request_digest, &t->cmd->request_digest)) {
        refuse(t, ARCHIVE_R_IDEM_CONFLICT,
               "idempotency key '%s' was already used for a different request; use a new "
               "key for a new request",
               t->cmd->idempotency_key);
    } else {
        struct archive_result *r = t->res;
        r->replayed = true;
        r->created = prev->created;
        r->index = prev->index;
        r->position = prev->position;
        snprintf(r->image_no, sizeof r->image_no, "%s", prev->image_no);
        snprintf(r->file_id, sizeof r->file_id, "%s", prev->file_id);
        snprintf(r->state, sizeof r->state, "%s", prev->state);
        snprintf(r->category, sizeof r->category, "%s", prev->category);
    }
    result_record__free_unpacked(prev, NULL);
    return true;
}

static void remember_result(struct txn *t)
{
    ResultRecord rec = RESULT_RECORD__INIT;
    struct key k;
    if (t->cmd->idempotency_key == NULL || t->cmd->idempotency_key[0] == '\0' ||
        t->res->status != ARCHIVE_OK) {
        return;
    }
    rec.status = 0;
    rec.image_no = t->res->image_no;
    rec.file_id = t->res->file_id;
    rec.state = t->res->state;
    rec.created = t->res->created;
    rec.position = t->res->position;
    rec.category = t->res->category;
    rec.index = t->index;
    rec.request_digest = t->cmd->request_digest;
    key_pair(&k, t->cmd->tenant, t->cmd->idempotency_key);
    put_record(t, ROCKS_CF_IDEM, &k, &rec.base);
}

static const char *command_image_no(const Command *cmd)
{
    switch (cmd->body_case) {
    case COMMAND__BODY_ADD_FILE:
        return cmd->add_file->image_no;
    case COMMAND__BODY_SUBMIT:
        return cmd->submit->image_no;
    case COMMAND__BODY_SET_FILE_INVOICE:
        return cmd->set_file_invoice->image_no;
    case COMMAND__BODY_MATCH_BILL:
        return cmd->match_bill->image_no;
    case COMMAND__BODY_MATCH_FILE:
        return cmd->match_file->image_no;
    case COMMAND__BODY_SET_CATEGORY:
        return cmd->set_category->image_no;
    case COMMAND__BODY_DELETE_FILES:
        return cmd->delete_files->image_no;
    case COMMAND__BODY_MOVE_FILE:
        return cmd->move_file->image_no;
    case COMMAND__BODY_MERGE_FILES:
        return cmd->merge_files->image_no;
    case COMMAND__BODY_SPLIT_FILE:
        return cmd->split_file->image_no;
    default:
        return NULL;
    }
}

/* The image mode of the bill a content write is about (a pool push names its own bill
 * type and organisation; a bill not pushed yet is basic). */
static int write_mode(struct txn *t, unsigned *mode)
{
    struct scheme_choice sc;
    const char *image_no = command_image_no(t->cmd);
    int rv = 0;
    if (t->cmd->body_case == COMMAND__BODY_POOL_PUSH) {
        rv = resolve_scheme(t, t->cmd->pool_push->bill_type, t->cmd->pool_push->org, &sc);
    } else {
        BillRecord *bill;
        rv = load_bill(t, image_no != NULL ? image_no : "", &bill);
        if (rv == 0) {
            rv = resolve_scheme(t, bill->bill_type, bill->org, &sc);
            archive_free_bill(bill);
        } else if (rv == BASE_ENOTFOUND) {
            rv = resolve_scheme(t, "", "", &sc);
        }
    }
    *mode = rv == 0 ? mode_bit(sc.mode) : LICENSE_MODE_BASIC;
    return rv;
}

/* Content writes need the tenant's license in force at the command's time, the bill's
 * image mode licensed, and room in the quota. False (refused, or *@rv a store error)
 * when the command must not go on. */
static bool write_allowed(struct txn *t, int *rv)
{
    char msg[sizeof t->res->message];
    uint64_t bytes = 0, files = 0;
    enum archive_status st;
    unsigned mode;
    if (t->cmd->body_case == COMMAND__BODY_ADD_FILE) {
        bytes = t->cmd->add_file->size;
        files = 1;
    }
    if ((*rv = write_mode(t, &mode)) != 0) {
        return false;
    }
    st = archive_check_write(t->a, t->cmd->tenant, t->cmd->time_ms, mode, bytes, files, msg,
                             sizeof msg, rv, t->err);
    if (*rv != 0) {
        return false;
    }
    if (st != ARCHIVE_OK) {
        refuse(t, st, "%s", msg);
        return false;
    }
    return true;
}

static bool is_content_write(const Command *cmd)
{
    return cmd->body_case == COMMAND__BODY_POOL_PUSH || command_image_no(cmd) != NULL;
}

static int dispatch(struct txn *t)
{
    int rv;
    if (!archive_valid_tenant(t->cmd->tenant)) {
        refuse(t, ARCHIVE_R_INVALID, "invalid tenant id");
        return 0;
    }
    if (replay_idempotent(t, &rv)) {
        return rv;
    }
    if (is_content_write(t->cmd) && !write_allowed(t, &rv)) {
        return rv;
    }
    switch (t->cmd->body_case) {
    case COMMAND__BODY_POOL_PUSH:
        rv = apply_pool_push(t, t->cmd->pool_push);
        break;
    case COMMAND__BODY_ADD_FILE:
        rv = apply_add_file(t, t->cmd->add_file);
        break;
    case COMMAND__BODY_SUBMIT:
        rv = apply_submit(t, t->cmd->submit);
        break;
    case COMMAND__BODY_INIT_CLUSTER:
        rv = apply_init_cluster(t);
        break;
    case COMMAND__BODY_CREATE_TENANT:
        rv = apply_create_tenant(t, t->cmd->create_tenant);
        break;
    case COMMAND__BODY_INSTALL_LICENSE:
        rv = apply_install_license(t, t->cmd->install_license);
        break;
    case COMMAND__BODY_CREATE_CLIENT:
        rv = apply_create_client(t, t->cmd->create_client);
        break;
    case COMMAND__BODY_CREATE_USER:
        rv = apply_create_user(t, t->cmd->create_user);
        break;
    case COMMAND__BODY_CREATE_ROLE:
        rv = apply_create_role(t, t->cmd->create_role);
        break;
    case COMMAND__BODY_LOGIN_RESULT:
        rv = apply_login_result(t, t->cmd->login_result);
        break;
    case COMMAND__BODY_UNLOCK_USER:
        rv = apply_unlock_user(t, t->cmd->unlock_user);
        break;
    case COMMAND__BODY_CREATE_ORG:
        rv = apply_create_org(t, t->cmd->create_org);
        break;
    case COMMAND__BODY_UPDATE_ORG:
        rv = apply_update_org(t, t->cmd->update_org);
        break;
    case COMMAND__BODY_SET_GRANTS:
        rv = apply_set_grants(t, t->cmd->set_grants);
        break;
    case COMMAND__BODY_CREATE_WEBHOOK:
        rv = apply_create_webhook(t, t->cmd->create_webhook);
        break;
    case COMMAND__BODY_DELETE_WEBHOOK:
        rv = apply_delete_webhook(t, t->cmd->delete_webhook);
        break;
    case COMMAND__BODY_DELIVERY_RESULT:
        rv = apply_delivery_result(t, t->cmd->delivery_result);
        break;
    case COMMAND__BODY_RETRY_DELIVERY:
        rv = apply_retry_delivery(t, t->cmd->retry_delivery);
        break;
    case COMMAND__BODY_LICENSE_WARNING:
        rv = apply_license_warning(t, t->cmd->license_warning);
        break;
    case COMMAND__BODY_CREATE_BILL_TYPE:
        rv = apply_create_bill_type(t, t->cmd->create_bill_type);
        break;
    case COMMAND__BODY_SET_SCHEME:
        rv = apply_set_scheme(t, t->cmd->set_scheme);
        break;
    case COMMAND__BODY_SET_FILE_INVOICE:
        rv = apply_set_file_invoice(t, t->cmd->set_file_invoice);
        break;
    case COMMAND__BODY_MATCH_BILL:
        rv = apply_match_bill(t, t->cmd->match_bill);
        break;
    case COMMAND__BODY_MATCH_FILE:
        rv = apply_match_file(t, t->cmd->match_file);
        break;
    case COMMAND__BODY_ERP_SUBMIT:
        rv = apply_erp_submit(t, t->cmd->erp_submit);
        break;
    case COMMAND__BODY_RETURN_BILL:
        rv = apply_return_bill(t, t->cmd->return_bill);
        break;
    case COMMAND__BODY_SET_CATEGORY:
        rv = apply_set_category(t, t->cmd->set_category);
        break;
    case COMMAND__BODY_DELETE_FILES:
        rv = apply_delete_files(t, t->cmd->delete_files);
        break;
    case COMMAND__BODY_MOVE_FILE:
        rv = apply_move_file(t, t->cmd->move_file);
        break;
    case COMMAND__BODY_ROTATE_FILES:
        rv = apply_rotate_files(t, t->cmd->rotate_files);
        break;
    case COMMAND__BODY_CREATE_CATEGORY:
        rv = apply_create_category(t, t->cmd->create_category);
        break;
    case COMMAND__BODY_MERGE_FILES:
        rv = apply_merge_files(t, t->cmd->merge_files);
        break;
    case COMMAND__BODY_SPLIT_FILE:
        rv = apply_split_file(t, t->cmd->split_file);
        break;
    case COMMAND__BODY_REGISTER_NODE:
        rv = apply_register_node(t, t->cmd->register_node);
        break;
    case COMMAND__BODY_REMOVE_NODE:
        rv = apply_remove_node(t, t->cmd->remove_node);
        break;
    case COMMAND__BODY_SET_HOLDERS:
        rv = apply_set_holders(t, t->cmd->set_holders);
        break;
    case COMMAND__BODY_SET_NODE_STORAGE:
        rv = apply_set_node_storage(t, t->cmd->set_node_storage);
        break;
    case COMMAND__BODY_PURGE_BLOBS:
        rv = apply_purge_blobs(t, t->cmd->purge_blobs);
        break;
    default:
        refuse(t, ARCHIVE_R_INVALID, "unknown command");
        return 0;
    }
    if (rv == 0) {
        remember_result(t);
    }
    return rv;
}

int archive_apply(struct archive *a, uint64_t index, const void *buf, size_t len,
                  struct archive_result *res, struct base_err *err)
{
    struct txn t = {.a = a, .index = index, .res = res, .err = err};
    uint8_t be[8];
    Command *cmd;
    int rv = 0;

    memset(res, 0, sizeof *res);
    res->index = index;
    if (index <= a->applied_index) {
        res->replayed = true;
        return 0;
    }
    t.batch = rocks_batch_new(a->db);
    cmd = command__unpack(NULL, len, buf);
    if (cmd == NULL) {
        /* Deterministic: every node refuses the same undecodable entry. */
        refuse(&t, ARCHIVE_R_INVALID, "undecodable command");
    } else {
        t.cmd = cmd;
        a->applying = t.batch;
        rv = dispatch(&t);
        a->applying = NULL;
    }
    if (rv == 0 && res->status != ARCHIVE_OK) {
        /* A refusal changes nothing but the applied index. */
        rocks_batch_clear(t.batch);
    }
    if (rv == 0) {
        rocks_put_be64(be, index);
        rocks_batch_put(t.batch, ROCKS_CF_META, KEY_APPLIED_INDEX, strlen(KEY_APPLIED_INDEX),
                        be, sizeof be);
        rv = rocks_write(a->db, t.batch, false, err);
    }
    if (rv == 0) {
        a->applied_index = index;
    }
    if (cmd != NULL) {
        command__free_unpacked(cmd, NULL);
    }
    rocks_batch_free(t.batch);
    return rv;
}

int archive_open(struct archive *a, struct rocks *db, struct base_err *err)
{
    char *val;
    size_t vlen;
    int rv;
    a->db = db;
    a->applied_index = 0;
    rv = rocks_get(db, ROCKS_CF_META, KEY_APPLIED_INDEX, strlen(KEY_APPLIED_INDEX), &val, &vlen,
                   err);
    if (rv == BASE_ENOTFOUND) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (vlen != 8) {
        free(val);
        base_err_set(err, "applied index record is corrupt");
        return BASE_ECORRUPT;
    }
    a->applied_index = rocks_get_be64((const uint8_t *)val);
    free(val);
    return 0;
}

void archive_encode(const Command *cmd, void **buf, size_t *len)
{
    *len = command__get_packed_size(cmd);
    *buf = xmalloc(*len);
    command__pack(cmd, *buf);
}
