/* Key layout of the metadata store (folder-private to archive/).
 *
 *   bills  tenant \0 image_no                   -> BillRecord
 *   files  tenant \0 file_id                    -> FileRecord
 *   blobs  hash (32 bytes)                      -> BlobRecord (refs across tenants)
 *   usage  tenant                               -> UsageRecord
 *   usage  tenant \0 org                        -> UsageRecord of one organisation
 *   tenants tenant                              -> TenantRecord (with its license)
 *   licenses tenant \0 issued (be64) license_id -> License (every one installed)
 *   tblobs tenant \0 hash                       -> BlobRecord (the tenant's refs)
 *   clients client_id                           -> ClientRecord (ids are global)
 *   admin_audit tenant \0 index (be64)          -> AuditRecord of an admin action
 *   users  tenant \0 username                   -> UserRecord
 *   roles  tenant \0 role name                  -> RoleRecord (custom roles)
 *   orgs   tenant \0 org id                     -> OrgRecord (a tree by parent id)
 *   webhooks tenant \0 webhook id              -> WebhookRecord
 *   deliveries id (be64)                        -> DeliveryRecord
 *   delivery_index tenant \0 image_no \0 id (be64) -> "" (a bill's deliveries; tenant
 *                                                 events under an empty image_no)
 *   outbox id (be64)                            -> next attempt ms (be64): pending only
 *   bill_types tenant \0 code                  -> BillTypeRecord
 *   schemes tenant \0 bill_type \0 org          -> SchemeRecord ("" org: every one)
 *   categories tenant \0 code                  -> CategoryRecord (custom attachment ones)
 *   batches tenant \0 batch \0 file_id          -> image_no (files of a capture batch)
 *   nodes  id (be64)                            -> NodeRecord (cluster members)
 *   fbill_ids tenant \0 fbill_id                -> image_no (the ERP's bill id; unique)
 *   recognition tenant \0 file_id               -> next attempt ms (be64): files waiting
 *                                                 for the recognition hook (pending only)
 *   collected tenant \0 file_no                 -> CollectedRecord (fileCollect)
 *   datasources tenant \0 name                  -> DataSourceRecord
 *   migrations tenant \0 batch_no               -> MigrationRecord
 *   migration_bills tenant \0 batch_no \0 image_no -> MigrationBill
 *   migration_log tenant \0 batch_no \0 seq (be64) -> MigrationLogEntry
 *   migrated tenant \0 image_no                 -> datasource \0 batch_no (bills that
 *                                                 came by migration; key_pair value)
 *   migration_run tenant \0 batch_no            -> "" (batches running: the runner's
 *                                                 queue)
 *   sync_settings tenant                        -> SyncSettings
 *   sync_runs tenant \0 run_id                  -> SyncRunRecord
 *   sync_items tenant \0 org \0 image_no \0 file_id -> SyncFailure (records that failed)
 *   sync_queue tenant \0 run_id                 -> "" (runs pending or running)
 *   audit  tenant \0 image_no \0 seq (be64)     -> AuditRecord
 *   idem   tenant \0 idempotency key            -> ResultRecord
 *   blob_index 'c' class (u8) hash              -> "" (derived from blobs: each record's
 *                                                 class, archive_blob_class())
 *   blob_index 'h' holder (be64) hash           -> "" (each holder a record lists)
 *   meta   "applied_index"                      -> be64
 *   meta   "blob_index"                         -> be64 (the blob index's version, once
 *                                                 built: archive/blob_index.c)
 *   meta   "cluster"                            -> ClusterRecord
 *
 * Tenant ids, image numbers, file ids and keys never contain NUL (validated), so the
 * separators keep keys of different bills apart and prefix scans exact. */
#ifndef IMGARC_ARCHIVE_KEYS_H
#define IMGARC_ARCHIVE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "base/err.h"
#include "storage/rocks.h"

/* The column families of the metadata store, by number: the order is part of the
 * on-disk format (a snapshot names a family by its number), so new ones go last. */
enum archive_cf {
    ARCHIVE_CF_META = 0, /* "default": node-level keys such as the applied index */
    ARCHIVE_CF_BILLS,
    ARCHIVE_CF_FILES,
    ARCHIVE_CF_BLOBS,
    ARCHIVE_CF_USAGE,
    ARCHIVE_CF_AUDIT,
    ARCHIVE_CF_IDEM,
    ARCHIVE_CF_ORDER,
    ARCHIVE_CF_TENANTS,
    ARCHIVE_CF_LICENSES,
    ARCHIVE_CF_TENANT_BLOBS,
    ARCHIVE_CF_CLIENTS,
    ARCHIVE_CF_ADMIN_AUDIT,
    ARCHIVE_CF_USERS,
    ARCHIVE_CF_ROLES,
    ARCHIVE_CF_ORGS,
    ARCHIVE_CF_WEBHOOKS,
    ARCHIVE_CF_DELIVERIES,
    ARCHIVE_CF_DELIVERY_INDEX,
    ARCHIVE_CF_OUTBOX,
    ARCHIVE_CF_BILL_TYPES,
    ARCHIVE_CF_SCHEMES,
    ARCHIVE_CF_CATEGORIES,
    ARCHIVE_CF_BATCHES,
    /* New families go last. */
    ARCHIVE_CF_NODES, /* cluster members (archive/nodes.c) */
    ARCHIVE_CF_FBILL_IDS, /* the ERP's bill ids -> image numbers (archive/fbill.c) */
    ARCHIVE_CF_RECOGNITION, /* files queued for the recognition hook (recognition.c) */
    ARCHIVE_CF_COLLECTED, /* files collected ahead of their bill (archive/collect.h) */
    ARCHIVE_CF_DATASOURCES,     /* systems to migrate from (archive/migration.h) */
    ARCHIVE_CF_MIGRATIONS,      /* migration batches */
    ARCHIVE_CF_MIGRATION_BILLS, /* the bills of each batch */
    ARCHIVE_CF_MIGRATION_LOG,   /* each batch's log */
    ARCHIVE_CF_MIGRATED,        /* bills that came by migration, and from where */
    ARCHIVE_CF_MIGRATION_RUN,   /* batches running */
    ARCHIVE_CF_SYNC_SETTINGS,   /* each tenant's invoice-data sync settings (archive/sync.h) */
    ARCHIVE_CF_SYNC_RUNS,       /* sync runs */
    ARCHIVE_CF_SYNC_ITEMS,      /* sync records that failed */
    ARCHIVE_CF_SYNC_QUEUE,      /* sync runs pending or running: the runner's queue */
    ARCHIVE_CF_BLOB_INDEX,      /* derived from blobs: by class and by holder (blob_index.c) */
    ARCHIVE_CF_COUNT,
};
/* RocksDB's names of the families, in that order. */
extern const char *const archive_cf_names[ARCHIVE_CF_COUNT];
/* The name of family @cf ("bills"...), for errors and dumps. */
const char *archive_cf_name(enum archive_cf cf);

#define KEY_MAX 512

struct key {
    char buf[KEY_MAX];
    size_t len;
};

void key_pair(struct key *k, const char *a, const char *b);
void key_audit(struct key *k, const char *tenant, const char *image_no, uint64_t seq);
/* Prefix of a bill's audit keys. */
void key_audit_prefix(struct key *k, const char *tenant, const char *image_no);
/* "a \0 b \0 c". */
void key_triple(struct key *k, const char *a, const char *b, const char *c);
/* Prefix "tenant \0". */
void key_tenant_prefix(struct key *k, const char *tenant);

/* Folder-private: loads the record under @k of @cf, unpacked with @desc (the caller
 * frees it); BASE_ENOTFOUND when absent, BASE_ECORRUPT when undecodable. */
struct archive;
int archive_load_record(struct archive *a, enum archive_cf cf, const struct key *k,
                        const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                        struct base_err *err);

/* Folder-private: calls @cb with every record of @cf under @prefix, unpacked with
 * @desc (freed after the call). */
int archive_scan_records(struct archive *a, enum archive_cf cf, const void *prefix, size_t plen,
                         const ProtobufCMessageDescriptor *desc,
                         void (*cb)(const ProtobufCMessage *m, const char *key, size_t klen,
                                    void *arg),
                         void *arg, struct base_err *err) WARN_UNUSED;

extern const char KEY_APPLIED_INDEX[];
extern const char KEY_CLUSTER[];

#endif
