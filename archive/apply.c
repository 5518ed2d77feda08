/* archive_apply(): one command applied to the metadata store, through the command
 * table.
 *
 * One command = one RocksDB batch holding every change plus the applied index.
 * Nothing here reads a clock, a random source or node-local configuration, so every
 * node that applies the same log reaches the same state. Each command is one row of
 * COMMANDS below: its body, its handler (apply_<family>.c) and whether it writes a
 * bill's content (then the tenant's license, the bill's image mode and the quota are
 * checked before the handler runs). Before any row runs, the tenant id is checked and
 * a retried request (same idempotency key) is answered from the first one's result. */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive_int.h"
#include "archive/keys.h"
#include "archive/license.h"
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
    *rv = archive_load_record(t->a, ARCHIVE_CF_IDEM, &k, &result_record__descriptor,
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
    put_record(t, ARCHIVE_CF_IDEM, &k, &rec.base);
}

/* How a command writes a bill's content: not at all, as a pool push (which names its
 * bill type and organisation), or to the bill named by the image_no of its body. */
enum content_write { WRITE_NONE, WRITE_POOL, WRITE_BILL };

/* The command table. One row per command:
 *   X(body case, Command field holding the body, handler, content write)
 * Every handler takes the txn and its body; a body case without a row is refused as
 * an unknown command. */
#define COMMANDS(X)                                                                   \
    X(POOL_PUSH, pool_push, apply_pool_push, WRITE_POOL)                              \
    X(ADD_FILE, add_file, apply_add_file, WRITE_BILL)                                 \
    X(SUBMIT, submit, apply_submit, WRITE_BILL)                                       \
    X(INIT_CLUSTER, init_cluster, apply_init_cluster, WRITE_NONE)                     \
    X(CREATE_TENANT, create_tenant, apply_create_tenant, WRITE_NONE)                  \
    X(INSTALL_LICENSE, install_license, apply_install_license, WRITE_NONE)            \
    X(CREATE_CLIENT, create_client, apply_create_client, WRITE_NONE)                  \
    X(CREATE_USER, create_user, apply_create_user, WRITE_NONE)                        \
    X(CREATE_ROLE, create_role, apply_create_role, WRITE_NONE)                        \
    X(LOGIN_RESULT, login_result, apply_login_result, WRITE_NONE)                     \
    X(UNLOCK_USER, unlock_user, apply_unlock_user, WRITE_NONE)                        \
    X(CREATE_ORG, create_org, apply_create_org, WRITE_NONE)                           \
    X(UPDATE_ORG, update_org, apply_update_org, WRITE_NONE)                           \
    X(SET_GRANTS, set_grants, apply_set_grants, WRITE_NONE)                           \
    X(CREATE_WEBHOOK, create_webhook, apply_create_webhook, WRITE_NONE)               \
    X(DELETE_WEBHOOK, delete_webhook, apply_delete_webhook, WRITE_NONE)               \
    X(DELIVERY_RESULT, delivery_result, apply_delivery_result, WRITE_NONE)            \
    X(RETRY_DELIVERY, retry_delivery, apply_retry_delivery, WRITE_NONE)               \
    X(PUT_DATA_SOURCE, put_data_source, apply_put_data_source, WRITE_NONE)            \
    X(DELETE_DATA_SOURCE, delete_data_source, apply_delete_data_source, WRITE_NONE)   \
    X(LICENSE_WARNING, license_warning, apply_license_warning, WRITE_NONE)            \
    X(CREATE_BILL_TYPE, create_bill_type, apply_create_bill_type, WRITE_NONE)         \
    X(SET_SCHEME, set_scheme, apply_set_scheme, WRITE_NONE)                           \
    X(SET_FILE_INVOICE, set_file_invoice, apply_set_file_invoice, WRITE_BILL)         \
    X(MATCH_BILL, match_bill, apply_match_bill, WRITE_BILL)                           \
    X(MATCH_FILE, match_file, apply_match_file, WRITE_BILL)                           \
    X(ERP_SUBMIT, erp_submit, apply_erp_submit, WRITE_NONE)                           \
    X(RETURN_BILL, return_bill, apply_return_bill, WRITE_NONE)                        \
    X(SET_CATEGORY, set_category, apply_set_category, WRITE_BILL)                     \
    X(DELETE_FILES, delete_files, apply_delete_files, WRITE_BILL)                     \
    X(MOVE_FILE, move_file, apply_move_file, WRITE_BILL)                              \
    X(ROTATE_FILES, rotate_files, apply_rotate_files, WRITE_NONE)                     \
    X(CREATE_CATEGORY, create_category, apply_create_category, WRITE_NONE)            \
    X(MERGE_FILES, merge_files, apply_merge_files, WRITE_BILL)                        \
    X(SPLIT_FILE, split_file, apply_split_file, WRITE_BILL)                           \
    X(REGISTER_NODE, register_node, apply_register_node, WRITE_NONE)                  \
    X(REMOVE_NODE, remove_node, apply_remove_node, WRITE_NONE)                        \
    X(SET_HOLDERS, set_holders, apply_set_holders, WRITE_NONE)                        \
    X(SET_NODE_STORAGE, set_node_storage, apply_set_node_storage, WRITE_NONE)         \
    X(PURGE_BLOBS, purge_blobs, apply_purge_blobs, WRITE_NONE)                        \
    X(REPORT_NODE_SPACE, report_node_space, apply_report_node_space, WRITE_NONE)      \
    X(SET_NODE_WEIGHT, set_node_weight, apply_set_node_weight, WRITE_NONE)            \
    X(RECOGNITION_RESULT, recognition_result, apply_recognition_result, WRITE_NONE)      \
    X(COLLECT_FILE, collect_file, apply_collect_file, WRITE_NONE)                     \
    X(SUBMIT_COLLECTED, submit_collected, apply_submit_collected, WRITE_BILL)         \
    X(PURGE_COLLECTED, purge_collected, apply_purge_collected, WRITE_NONE)   \
    X(LOGOUT_TOKEN, logout_token, apply_logout_token, WRITE_NONE)                     \
    X(UPDATE_USER, update_user, apply_update_user, WRITE_NONE)                        \
    X(SET_PASSWORD, set_password, apply_set_password, WRITE_NONE)                     \
    X(DELETE_USER, delete_user, apply_delete_user, WRITE_NONE)                        \
    X(UPDATE_ROLE, update_role, apply_update_role, WRITE_NONE)                        \
    X(DELETE_ROLE, delete_role, apply_delete_role, WRITE_NONE)                        \
    X(ROTATE_CLIENT_SECRET, rotate_client_secret, apply_rotate_client_secret, WRITE_NONE) \
    X(DELETE_CLIENT, delete_client, apply_delete_client, WRITE_NONE)                  \
    X(MIGRATION_LISTED, migration_listed, apply_migration_listed, WRITE_NONE)         \
    X(MIGRATION_CHECKED, migration_checked, apply_migration_checked, WRITE_NONE)      \
    X(MIGRATION_BILL_FAILED, migration_bill_failed, apply_migration_bill_failed, WRITE_NONE) \
    X(IMPORT_BILL, import_bill, apply_import_bill, WRITE_NONE) \
    X(CREATE_MIGRATION, create_migration, apply_create_migration, WRITE_NONE)         \
    X(MIGRATION_ACTION, migration_action, apply_migration_action, WRITE_NONE)         \
    X(SKIP_MIGRATION_BILLS, skip_migration_bills, apply_skip_migration_bills, WRITE_NONE) \
    X(PUT_SYNC_SETTINGS, put_sync_settings, apply_put_sync_settings, WRITE_NONE)       \
    X(CREATE_SYNC_RUN, create_sync_run, apply_create_sync_run, WRITE_NONE)             \
    X(SYNC_INVOICES, sync_invoices, apply_sync_invoices, WRITE_NONE)                   \
    X(SYNC_RUN_FAILED, sync_run_failed, apply_sync_run_failed, WRITE_NONE)             \
    X(RETRY_SYNC_FAILURES, retry_sync_failures, apply_retry_sync_failures, WRITE_NONE) \
    X(RETRY_SYNC_RUN, retry_sync_run, apply_retry_sync_run, WRITE_NONE)                 \
    X(PLACE_HOLD, place_hold, apply_place_hold, WRITE_NONE)                             \
    X(LIFT_HOLD, lift_hold, apply_lift_hold, WRITE_NONE)                               \
    X(SET_RETENTION, set_retention, apply_set_retention, WRITE_NONE)                   \
    X(DELETE_BILL, delete_bill, apply_delete_bill, WRITE_NONE)                         \
    X(DELETE_ORG, delete_org, apply_delete_org, WRITE_NONE)                           \
    X(DELETE_TENANT, delete_tenant, apply_delete_tenant, WRITE_NONE)                   \
    X(SET_CLUSTER_LEVEL, set_cluster_level, apply_set_cluster_level, WRITE_NONE)

struct command_kind {
    const char *name;
    enum content_write write;
    int (*apply)(struct txn *t);
    /* The bill a WRITE_BILL command is about (NULL for the others). */
    const char *(*image_no)(const Command *cmd);
};

/* Each row's glue: its handler called with its body, and its bill's image number. */
#define IMAGE_NO_WRITE_NONE(field) NULL
#define IMAGE_NO_WRITE_POOL(field) NULL
#define IMAGE_NO_WRITE_BILL(field) cmd->field->image_no
#define GLUE(CASE, field, fn, write)                                                  \
    static int run_##field(struct txn *t)                                             \
    {                                                                                 \
        return fn(t, t->cmd->field);                                                  \
    }                                                                                 \
    static const char *image_no_##field(const Command *cmd)                           \
    {                                                                                 \
        return IMAGE_NO_##write(field);                                               \
    }
COMMANDS(GLUE)
#undef GLUE

#define ROW(CASE, field, fn, write)                                                   \
    [COMMAND__BODY_##CASE] = {#field, write, run_##field, image_no_##field},
static const struct command_kind COMMAND_TABLE[] = {COMMANDS(ROW)};
#undef ROW

/* The row of @body_case; NULL for a body this build does not know (or none). */
static const struct command_kind *command_kind(Command__BodyCase body_case)
{
    if ((size_t)body_case >= ARRAY_SIZE(COMMAND_TABLE) ||
        COMMAND_TABLE[body_case].apply == NULL) {
        return NULL;
    }
    return &COMMAND_TABLE[body_case];
}

const char *archive_command_name(const Command *cmd)
{
    const struct command_kind *kind = command_kind(cmd->body_case);
    return kind != NULL ? kind->name : "unknown";
}

/* The image mode of the bill a content write is about (a pool push names its own bill
 * type and organisation; a bill not pushed yet is basic). */
static int write_mode(struct txn *t, const struct command_kind *kind, unsigned *mode)
{
    struct scheme_choice sc;
    const char *image_no = kind->image_no(t->cmd);
    int rv = 0;
    if (kind->write == WRITE_POOL) {
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
static bool write_allowed(struct txn *t, const struct command_kind *kind, int *rv)
{
    char msg[sizeof t->res->message];
    uint64_t bytes = 0, files = 0;
    enum archive_status st;
    unsigned mode;
    if (t->cmd->body_case == COMMAND__BODY_ADD_FILE) {
        bytes = t->cmd->add_file->size;
        files = 1;
    }
    if ((*rv = write_mode(t, kind, &mode)) != 0) {
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

static int dispatch(struct txn *t)
{
    const struct command_kind *kind = command_kind(t->cmd->body_case);
    int rv;
    if (!archive_valid_tenant(t->cmd->tenant)) {
        refuse(t, ARCHIVE_R_INVALID, "invalid tenant id");
        return 0;
    }
    if (replay_idempotent(t, &rv)) {
        return rv;
    }
    if (kind == NULL) {
        refuse(t, ARCHIVE_R_INVALID, "unknown command");
        return 0;
    }
    if (kind->write != WRITE_NONE && !write_allowed(t, kind, &rv)) {
        return rv;
    }
    rv = kind->apply(t);
    if (rv == 0) {
        remember_result(t);
    }
    return rv;
}

/* Refuses @cmd when its feature level is above the cluster's (archive.h); the cluster
 * record is read only for a command above level 0. */
static bool above_cluster_level(struct txn *t, const Command *cmd)
{
    unsigned need = archive_command_level(cmd);
    uint32_t have = need > 0 ? archive_cluster_level(t->a) : 0;
    if (need <= have) {
        return false;
    }
    refuse(t, ARCHIVE_R_CLUSTER_LEVEL, "%s needs every member of the cluster on a version of "
           "feature level %u or later (the cluster is at level %u): finish upgrading every "
           "node; GET /api/v1/cluster shows each node's level",
           archive_command_name(cmd), need, (unsigned)have);
    return true;
}

/* Applies one packed command into t->batch, which may already hold the commands before
 * it in the same entry: a refusal drops only this command's changes (a save point).
 * Non-zero only for a local store error. */
static int apply_command(struct txn *t, const void *buf, size_t len, bool shared)
{
    unsigned deliveries = t->deliveries;
    Command *cmd;
    int rv = 0;
    rocks_batch_save_point(t->batch);
    cmd = command__unpack(NULL, len, buf);
    if (cmd == NULL) {
        /* Deterministic: every node refuses the same undecodable entry. */
        refuse(t, ARCHIVE_R_INVALID, "undecodable command");
    } else if (shared && !archive_command_batchable(cmd)) {
        refuse(t, ARCHIVE_R_INVALID, "a %s command cannot share a raft entry with others",
               archive_command_name(cmd));
    } else if (above_cluster_level(t, cmd)) {
        /* refused there */
    } else {
        t->cmd = cmd;
        t->a->applying = t->batch;
        rv = dispatch(t);
        if (rv == 0 && t->store_rv != 0) {
            rv = t->store_rv;
        }
        t->store_rv = 0;
        t->a->applying = NULL;
        t->cmd = NULL;
        if (rv == 0 && t->res->status == ARCHIVE_OK && t->ranks_full) {
            refuse(t, ARCHIVE_R_ENTRY_FULL, "the raft entry has no room for this command's "
                   "webhook deliveries; propose it alone");
        }
    }
    if (rv == 0 && t->res->status != ARCHIVE_OK) {
        /* A refusal changes nothing (but the applied index, written by the caller). */
        rv = rocks_batch_rollback(t->batch, t->err);
        t->deliveries = deliveries;
    }
    t->ranks_full = false;
    if (cmd != NULL) {
        command__free_unpacked(cmd, NULL);
    }
    return rv;
}

/* Writes the batch with the entry's index as the applied index. */
static int commit_entry(struct txn *t)
{
    uint8_t be[8];
    int rv;
    rocks_put_be64(be, t->index);
    rocks_batch_put(t->batch, ARCHIVE_CF_META, KEY_APPLIED_INDEX, strlen(KEY_APPLIED_INDEX), be,
                    sizeof be);
    rv = rocks_write(t->a->db, t->batch, false, t->err);
    if (rv == 0) {
        t->a->applied_index = t->index;
    }
    return rv;
}

int archive_apply(struct archive *a, uint64_t index, const void *buf, size_t len,
                  struct archive_result *res, struct base_err *err)
{
    struct txn t = {.a = a, .index = index, .res = res, .err = err};
    int rv;

    memset(res, 0, sizeof *res);
    res->index = index;
    if (index <= a->applied_index) {
        res->replayed = true;
        return 0;
    }
    t.batch = rocks_batch_new(a->db);
    rv = apply_command(&t, buf, len, false);
    if (rv == 0) {
        rv = commit_entry(&t);
    }
    rocks_batch_free(t.batch);
    return rv;
}

unsigned archive_command_level(const Command *cmd)
{
    switch (cmd->body_case) {
    /* Level 1: added after 182740d. */
    case COMMAND__BODY_REPORT_NODE_SPACE:
    case COMMAND__BODY_SET_NODE_WEIGHT:
    case COMMAND__BODY_RECOGNITION_RESULT:
    case COMMAND__BODY_LOGOUT_TOKEN:
    case COMMAND__BODY_COLLECT_FILE:
    case COMMAND__BODY_SUBMIT_COLLECTED:
    case COMMAND__BODY_PURGE_COLLECTED:
    case COMMAND__BODY_UPDATE_USER:
    case COMMAND__BODY_SET_PASSWORD:
    case COMMAND__BODY_DELETE_USER:
    case COMMAND__BODY_UPDATE_ROLE:
    case COMMAND__BODY_DELETE_ROLE:
    case COMMAND__BODY_ROTATE_CLIENT_SECRET:
    case COMMAND__BODY_DELETE_CLIENT:
    case COMMAND__BODY_DELETE_ORG:
    case COMMAND__BODY_DELETE_TENANT:
    case COMMAND__BODY_PUT_DATA_SOURCE:
    case COMMAND__BODY_DELETE_DATA_SOURCE:
    case COMMAND__BODY_CREATE_MIGRATION:
    case COMMAND__BODY_MIGRATION_ACTION:
    case COMMAND__BODY_SKIP_MIGRATION_BILLS:
    case COMMAND__BODY_MIGRATION_LISTED:
    case COMMAND__BODY_MIGRATION_CHECKED:
    case COMMAND__BODY_MIGRATION_BILL_FAILED:
    case COMMAND__BODY_IMPORT_BILL:
    case COMMAND__BODY_PUT_SYNC_SETTINGS:
    case COMMAND__BODY_CREATE_SYNC_RUN:
    case COMMAND__BODY_SYNC_INVOICES:
    case COMMAND__BODY_SYNC_RUN_FAILED:
    case COMMAND__BODY_RETRY_SYNC_FAILURES:
    case COMMAND__BODY_RETRY_SYNC_RUN:
    case COMMAND__BODY_PLACE_HOLD:
    case COMMAND__BODY_LIFT_HOLD:
    case COMMAND__BODY_SET_RETENTION:
    case COMMAND__BODY_DELETE_BILL:
        return 1;
    default:
        return 0; /* SetClusterLevel among them: the way to raise the level */
    }
}

bool archive_command_batchable(const Command *cmd)
{
    switch (cmd->body_case) {
    case COMMAND__BODY_POOL_PUSH:
    case COMMAND__BODY_ADD_FILE:
    case COMMAND__BODY_SUBMIT:
        return true;
    default:
        return false;
    }
}

int archive_apply_entry(struct archive *a, uint64_t index, const struct archive_packed *cmds,
                        size_t n, struct archive_result *res, struct base_err *err)
{
    struct txn t = {.a = a, .index = index, .err = err, .shared = true};
    int rv = 0;

    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].index = index;
        res[i].replayed = index <= a->applied_index;
    }
    if (index <= a->applied_index) {
        return 0;
    }
    t.batch = rocks_batch_new(a->db);
    for (size_t i = 0; i < n && rv == 0; i++) {
        t.res = &res[i];
        t.position = (unsigned)i;
        rv = apply_command(&t, cmds[i].buf, cmds[i].len, true);
    }
    if (rv == 0) {
        rv = commit_entry(&t);
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
    rv = rocks_get(db, ARCHIVE_CF_META, KEY_APPLIED_INDEX, strlen(KEY_APPLIED_INDEX), &val, &vlen,
                   err);
    if (rv == BASE_ENOTFOUND) {
        return blob_index_ensure(a, err);
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
    return blob_index_ensure(a, err);
}

void archive_encode(const Command *cmd, void **buf, size_t *len)
{
    *len = command__get_packed_size(cmd);
    *buf = xmalloc(*len);
    command__pack(cmd, *buf);
}
