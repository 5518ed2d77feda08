/* Folder-private to archive/: one apply's transaction and the helpers the apply files
 * share.
 *
 * archive_apply() (apply.c) decodes a command, finds its row in the command table and
 * runs the row's handler with a struct txn: the batch every change goes into, the
 * command, its raft index and the result being built. The handlers live in one
 * apply_<family>.c per area; the helpers below (txn.c) write records, the audit logs,
 * usage counters, bills, orders and files, and queue webhook events in the same batch.
 * Everything here runs on the thread that applies the log and must stay deterministic:
 * no clock, no randomness, no node-local configuration.
 *
 * A handler returns 0 (applied, or refused through refuse()) or a store error, after
 * which nothing of the batch is written. */
#ifndef IMGARC_ARCHIVE_ARCHIVE_INT_H
#define IMGARC_ARCHIVE_ARCHIVE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "archive/archive.h"
#include "archive/bill_state.h"
#include "archive/keys.h"

/* What one apply is building. */
struct txn {
    struct archive *a;
    struct rocks_batch *batch;
    const Command *cmd;
    uint64_t index;
    struct archive_result *res;
    struct base_err *err;
    unsigned deliveries; /* queued by this entry: the low bits of their ids */
    bool shared;         /* the entry holds several commands (archive_apply_entry) */
    unsigned position;   /* this command's place in it */
    bool ranks_full;     /* a delivery found no id left in a shared entry */
    int store_rv;        /* a store error met by a helper that returns nothing
                            (store_bill): the command fails with it */
};

/* Changes to usage counters made by one command. */
struct usage_delta {
    int64_t bytes;
    int64_t files;
    int64_t bills;
    int64_t physical;
};

/* What applies to a bill: its bill type's mode when a scheme covers the bill's
 * organisation (or an organisation above it, or every organisation), else basic. */
struct scheme_choice {
    char mode[8];
    char match[12];
    char submit[8];
};

/* Bill states that take edits, and those where a sync-mode bill takes an amend. */
extern const char *const EDITABLE[];
extern const char *const AMENDABLE[];

/* ---- txn.c: records, audit, usage, bills, orders, files, events ---- */

/* Refuses the command: @status and the message are its result; the batch is dropped. */
void refuse(struct txn *t, enum archive_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void put_record(struct txn *t, enum archive_cf cf, const struct key *k,
                const ProtobufCMessage *msg);
/* Whether a record is stored under @k (*@found); a store error otherwise. */
int record_exists(struct txn *t, enum archive_cf cf, const struct key *k, bool *found);
void key_one(struct key *k, const char *s);
/* An administrative action of (or for) a tenant, in its admin audit log; consumes
 * @detail. */
void admin_audit(struct txn *t, const char *tenant, const char *action, json_t *detail);
/* An entry of @bill's audit log; consumes @detail. */
void audit(struct txn *t, BillRecord *bill, const char *action, json_t *detail);
int adjust_usage(struct txn *t, const struct key *k, const struct usage_delta *d);
/* Adjusts the tenant's usage and that of organisation @org. */
int count_usage(struct txn *t, const char *org, const struct usage_delta *d);
int load_bill(struct txn *t, const char *image_no, BillRecord **out);
void store_bill(struct txn *t, BillRecord *bill);
/* A bill made by this command, in initial state @state (archive_free_bill() releases
 * it). */
BillRecord *new_bill(struct txn *t, const char *image_no, enum bill_state state);
/* Replaces a malloc()ed string field of a record (NULL @value: ""). */
void set_string(char **field, const char *value);
/* Announces that @bill entered its state (from @before; NULL for a new bill). */
int announce_state(struct txn *t, const BillRecord *bill, const char *before);
/* Moves @bill to state @to (nothing when it is in it already), with an audit entry and
 * the event; the transition must be allowed (bill_state.h), which the caller checked. */
int set_state(struct txn *t, BillRecord *bill, enum bill_state to);
void result_bill(struct txn *t, const BillRecord *bill);
void copy_invoice(Invoice *dst, const Invoice *src);
/* Counts a file of @category into the bill's per-category totals (@delta +1 or -1). */
void count_category(BillRecord *bill, const char *category, int delta);
/* Takes @file_id out of @order (nothing when it is not in it). */
void order_remove(BillOrder *order, const char *file_id);
/* Inserts @file_id at 0-based index @at of @order; returns its 1-based position. */
uint32_t insert_at(BillOrder *order, const char *file_id, size_t at);
/* Inserts @file_id after @after (or at the end); the 1-based position, or 0 when
 * @after is not a file of the bill. */
uint32_t insert_file(BillOrder *order, const char *file_id, const char *after);
/* The bill's file order; an empty one when the bill has none yet. */
int load_order(struct txn *t, const char *image_no, BillOrder **out);
void store_order(struct txn *t, const char *image_no, BillOrder *order);
/* Adds the nodes of @holders that @blob does not list yet. */
void add_holders(BlobRecord *blob, const uint64_t *holders, size_t n);
/* A file of @bill, or a refusal (BASE_ENOTFOUND). */
int load_bill_file(struct txn *t, const BillRecord *bill, const char *file_id,
                   FileRecord **out);
void put_file(struct txn *t, const FileRecord *f);
/* A bill of the command's tenant, or a refusal (BASE_ENOTFOUND). */
int load_bill_or_refuse(struct txn *t, const char *image_no, BillRecord **bill);
bool state_in(const BillRecord *bill, const char *const *states);
void store_delivery(struct txn *t, const DeliveryRecord *d);
/* Deletes delivery @id and its outbox entry (a pending one is never sent). */
void delete_delivery(struct txn *t, uint64_t id);
/* Calls @fn for every record of @cf under @prefix in the committed store, not the
 * command's own batch: for the commands that never share a raft entry (deletions). A
 * non-zero return of @fn stops the walk and is returned. */
typedef int (*record_fn)(struct txn *t, enum archive_cf cf, const char *key, size_t klen,
                         const char *val, size_t vlen, void *arg);
int each_record(struct txn *t, enum archive_cf cf, const struct key *prefix, record_fn fn,
                void *arg);
void outbox_put(struct txn *t, uint64_t id, uint64_t due_ms);
void outbox_remove(struct txn *t, uint64_t id);
/* Queues @event (about bill @image_no, "" for a tenant event) for every webhook of the
 * command's tenant that subscribes to it; consumes @body. */
int emit_event(struct txn *t, const char *image_no, const char *event, json_t *body);
json_t *string_array(char **v, size_t n);

/* ---- apply_schemes.c: bill types, schemes, categories ---- */

/* The scheme that applies to a bill of @bill_type in @org (basic when none does). */
int resolve_scheme(struct txn *t, const char *bill_type, const char *org,
                   struct scheme_choice *out);
unsigned mode_bit(const char *mode);
/* Whether the tenant has @category: a built-in one or a custom one it defined. */
int category_known(struct txn *t, const char *category, bool *known);

/* ---- fbill.c ---- */

/* Gives @bill the ERP bill id @fbill_id in the index (same batch): nothing when
 * @fbill_id is empty or the bill's already; refuses (returns 1) when the bill has
 * another one or another bill has this one; a negative store error. The caller then
 * sets bill->fbill_id. */
int fbill_claim(struct txn *t, BillRecord *bill, const char *fbill_id);

/* ---- apply_edits.c ---- */

/* A capture that replaces file @f->replace; false after refusing or on a store error
 * (*@rv). */
bool replace_file(struct txn *t, BillRecord *bill, BillOrder *order, const AddFile *f,
                  char **category, uint32_t *position, int *rv);

/* ---- apply_workflow.c ---- */

/* The ERP's answer to an erp_submit delivery moves the bill on. */
int erp_outcome(struct txn *t, const DeliveryRecord *d, const DeliveryResult *r);
/* Matches a submitted match-mode bill again (ready when every declared invoice is
 * matched); nothing for other bills. The caller stores the bill. */
int rematch_bill(struct txn *t, BillRecord *bill);

/* ---- apply_recognition.c ---- */

/* Asks the recognition hook for file @file_id: fills @r (pending; its strings are
 * static) and queues the file. */
void recognition_request(struct txn *t, Recognition *r, const char *file_id);

/* ---- Shared with apply_collect.c (collected files joining a bill) ---- */

/* apply_bills.c: whether @bill takes a new file of @category now (else refused). */
bool capture_allowed(struct txn *t, const BillRecord *bill, const char *category);
/* apply_bills.c: one more reference to a blob in @cf under @k; *@fresh when first. */
int ref_blob(struct txn *t, enum archive_cf cf, const struct key *k, uint64_t size,
             const uint64_t *holders, size_t n_holders, bool *fresh);
/* blob_index.c: puts (deletes) a blob record under @k of @cf; a cross-tenant record
 * (ARCHIVE_CF_BLOBS) keeps its index keys in step, in the same batch. Every write of a
 * blob record goes through these two. */
int put_blob(struct txn *t, enum archive_cf cf, const struct key *k, const BlobRecord *blob);
int delete_blob(struct txn *t, enum archive_cf cf, const struct key *k);
/* blob_index.c: builds the blob index when the store has none of this version (a store
 * written by an older version); archive_open() calls it. */
int blob_index_ensure(struct archive *a, struct base_err *err);
/* blob_index.c: into @b, the deletion of the index's version: the next archive_open()
 * builds the index again from the records (a restored store's holders changed). */
void blob_index_forget(struct rocks_batch *b);
/* apply_edits.c: one reference less; *@last when none is left (the cross-tenant record
 * is kept, @keep, for garbage collection). */
int unref_blob(struct txn *t, enum archive_cf cf, const struct key *k, bool keep, bool *last);
/* apply_edits.c: takes file @f out of @bill and @order: record, counts, refs, usage. */
int remove_file(struct txn *t, BillRecord *bill, BillOrder *order, const FileRecord *f);

/* ---- The handlers, one per command (the command table is in apply.c) ---- */

/* apply_bills.c */
int apply_pool_push(struct txn *t, const PoolPush *p);
int apply_add_file(struct txn *t, const AddFile *f);
/* apply_tenants.c */
int apply_init_cluster(struct txn *t, const InitCluster *init);
int apply_create_client(struct txn *t, const CreateClient *c);
int apply_create_tenant(struct txn *t, const CreateTenant *c);
int apply_install_license(struct txn *t, const InstallLicense *cmd);
int apply_license_warning(struct txn *t, const LicenseWarning *w);
/* apply_users.c */
int apply_create_user(struct txn *t, const CreateUser *c);
int apply_create_role(struct txn *t, const CreateRole *c);
int apply_login_result(struct txn *t, const LoginResult *l);
int apply_unlock_user(struct txn *t, const UnlockUser *c);
int apply_logout_token(struct txn *t, const LogoutToken *c);
int apply_create_org(struct txn *t, const CreateOrg *c);
int apply_update_org(struct txn *t, const UpdateOrg *c);
int apply_set_grants(struct txn *t, const SetGrants *c);
int apply_delete_org(struct txn *t, const DeleteOrg *c);
int apply_delete_tenant(struct txn *t, const DeleteTenant *c);
int apply_set_cluster_level(struct txn *t, const SetClusterLevel *c);
int apply_update_user(struct txn *t, const UpdateUser *c);
int apply_set_password(struct txn *t, const SetPassword *c);
int apply_delete_user(struct txn *t, const DeleteUser *c);
int apply_update_role(struct txn *t, const UpdateRole *c);
int apply_delete_role(struct txn *t, const DeleteRole *c);
/* apply_tenants.c */
int apply_rotate_client_secret(struct txn *t, const RotateClientSecret *c);
int apply_delete_client(struct txn *t, const DeleteClient *c);
/* apply_cluster.c */
int apply_register_node(struct txn *t, const RegisterNode *c);
int apply_remove_node(struct txn *t, const RemoveNode *c);
int apply_set_holders(struct txn *t, const SetHolders *c);
int apply_set_node_storage(struct txn *t, const SetNodeStorage *c);
int apply_report_node_space(struct txn *t, const ReportNodeSpace *c);
int apply_set_node_weight(struct txn *t, const SetNodeWeight *c);
int apply_purge_blobs(struct txn *t, const PurgeBlobs *c);
/* apply_webhooks.c */
int apply_create_webhook(struct txn *t, const CreateWebhook *c);
int apply_delete_webhook(struct txn *t, const DeleteWebhook *c);
int apply_delivery_result(struct txn *t, const DeliveryResult *r);
int apply_retry_delivery(struct txn *t, const RetryDelivery *r);
/* apply_schemes.c */
int apply_create_bill_type(struct txn *t, const CreateBillType *c);
int apply_set_scheme(struct txn *t, const SetScheme *c);
int apply_create_category(struct txn *t, const CreateCategory *c);
/* apply_workflow.c */
int apply_submit(struct txn *t, const SubmitBill *s);
int apply_match_bill(struct txn *t, const MatchBill *m);
int apply_match_file(struct txn *t, const MatchFile *m);
int apply_set_file_invoice(struct txn *t, const SetFileInvoice *c);
int apply_erp_submit(struct txn *t, const ErpSubmit *c);
int apply_return_bill(struct txn *t, const ReturnBill *c);
/* apply_edits.c */
int apply_delete_files(struct txn *t, const DeleteFiles *c);
int apply_set_category(struct txn *t, const SetCategory *c);
int apply_rotate_files(struct txn *t, const RotateFiles *c);
int apply_move_file(struct txn *t, const MoveFile *c);
int apply_merge_files(struct txn *t, const MergeFiles *c);
int apply_split_file(struct txn *t, const SplitFile *c);
/* apply_recognition.c */
int apply_recognition_result(struct txn *t, const RecognitionResult *r);
/* apply_collect.c */
int apply_collect_file(struct txn *t, const CollectFile *c);
int apply_submit_collected(struct txn *t, const SubmitCollected *c);
int apply_purge_collected(struct txn *t, const PurgeCollected *c);
/* apply_datasources.c */
int apply_put_data_source(struct txn *t, const PutDataSource *c);
int apply_delete_data_source(struct txn *t, const DeleteDataSource *c);

/* ---- apply_migration.c: shared by the migration commands ---- */

/* Batch @batch_no of the command's tenant, or a refusal (BASE_ENOTFOUND). */
int migration_load(struct txn *t, const char *batch_no, MigrationRecord **out);
/* Stores @m (updated now) and keeps the runner's queue (family migration_run) equal to
 * the running batches. */
void migration_store(struct txn *t, MigrationRecord *m);
/* Appends an entry to @m's log (m->log_seq grows: store @m after); consumes @detail
 * (NULL: {}). @image_no: the bill it is about, or NULL. */
void migration_log(struct txn *t, MigrationRecord *m, const char *action, const char *image_no,
                   json_t *detail);
/* Bill @image_no of batch @m: 0, BASE_ENOTFOUND (no refusal made) or a store error. */
int migration_bill_load(struct txn *t, const MigrationRecord *m, const char *image_no,
                        MigrationBill **out);
void migration_bill_store(struct txn *t, const MigrationRecord *m, MigrationBill *b);
/* Moves @b to @state with @reason (NULL: ""), keeping @m's counts (a bill with no state
 * yet joins the batch: m->bills grows). Store both after. */
void migration_bill_set_state(MigrationRecord *m, MigrationBill *b, const char *state,
                              const char *reason);
/* apply_migration.c: the runner's commands. */
int apply_migration_listed(struct txn *t, const MigrationListed *c);
int apply_migration_checked(struct txn *t, const MigrationChecked *c);
int apply_migration_bill_failed(struct txn *t, const MigrationBillFailed *c);
int apply_import_bill(struct txn *t, const ImportBill *c);

/* ---- apply_migration_ops.c: the operator's migration commands ---- */
int apply_create_migration(struct txn *t, const CreateMigration *c);
int apply_migration_action(struct txn *t, const MigrationAction *c);
/* Answers the number of bills changed in res->position. */
int apply_skip_migration_bills(struct txn *t, const SkipMigrationBills *c);

/* ---- apply_sync.c: the invoice-data sync (archive/sync.h) ---- */
int apply_put_sync_settings(struct txn *t, const PutSyncSettings *c);
/* Answers the number of runs made in res->position. */
int apply_create_sync_run(struct txn *t, const CreateSyncRun *c);
int apply_sync_invoices(struct txn *t, const SyncInvoices *c);
int apply_sync_run_failed(struct txn *t, const SyncRunFailed *c);
/* Answers the number of records put back in res->position. */
int apply_retry_sync_failures(struct txn *t, const RetrySyncFailures *c);
int apply_retry_sync_run(struct txn *t, const RetrySyncRun *c);

/* ---- apply_holds.c: legal holds (docs/retention.md) ---- */
int apply_place_hold(struct txn *t, const PlaceHold *c);
int apply_lift_hold(struct txn *t, const LiftHold *c);
/* True after refusing with ARCHIVE_R_BILL_HELD when @bill has a hold: @what ("deleting
 * files") would delete or replace its content. */
bool bill_held(struct txn *t, const BillRecord *bill, const char *what);

/* ---- apply_retention.c: retention periods and deleting bills (docs/retention.md) ---- */
int apply_set_retention(struct txn *t, const SetRetention *c);
int apply_delete_bill(struct txn *t, const DeleteBill *c);
/* Stamps @bill's retain_until_ms from its bill type's period when the bill has no stamp
 * or its type changed since, never moving it earlier (store_bill() calls it). */
int stamp_retention(struct txn *t, BillRecord *bill);
/* The same whatever the bill carries already (a bill migrated in: a stamp from the
 * source is kept only when it is later than the period here). */
int stamp_retention_now(struct txn *t, BillRecord *bill);

#endif
