/* Reads of migration state: data sources, batches, the bills of a batch and its log
 * (the commands are applied in apply_datasources.c and apply_migration.c;
 * docs/migration.md).
 *
 * A data source names another imaging system a tenant moves in from: another imgarc
 * cluster (kind "imgarc", read through its native API with a client's credentials) or
 * a system speaking the incumbent's API (kind "vendor"). A batch (MigrationRecord)
 * moves the bills of a scope from one source; its bills (MigrationBill) and log
 * (MigrationLogEntry) are replicated state, so a batch survives any node's death and
 * the leader moving, and resumes where it stopped. The leader's runner
 * (migrate/runner.c) walks the batches in family migration_run.
 *
 * Threads: any; these read the committed store, never the batch being applied. */
#ifndef IMGARC_ARCHIVE_MIGRATION_H
#define IMGARC_ARCHIVE_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"

#define ARCHIVE_DATASOURCES_MAX 64   /* data sources per tenant */
#define ARCHIVE_MIGRATION_SCOPE_MAX 64 /* organisations (and bill types) in a scope */

/* Batch states and bill states, as stored and answered. */
#define MIGRATION_PENDING "pending"
#define MIGRATION_RUNNING "running"
#define MIGRATION_PAUSED "paused"
#define MIGRATION_DONE "done"
#define MIGRATION_FAILED "failed"
#define MIGRATION_BILL_PENDING "pending"   /* listed, not checked yet */
#define MIGRATION_BILL_CHECKED "checked"   /* checked, to move */
#define MIGRATION_BILL_MIGRATED "migrated" /* moved by this batch */
#define MIGRATION_BILL_PRESENT "present"   /* here already, from the same source */
#define MIGRATION_BILL_FAILED "failed"
#define MIGRATION_BILL_SKIPPED "skipped"   /* "do not migrate" */

/* Whether @name is a usable data source name or batch number: 1-64 of [A-Za-z0-9._-],
 * not starting with '.'. */
bool archive_valid_migration_name(const char *name);

/* Data source @name of @tenant: 0 with @out (data_source_record__free_unpacked()),
 * BASE_ENOTFOUND, or a store error. */
int archive_get_datasource(struct archive *a, const char *tenant, const char *name,
                           DataSourceRecord **out, struct base_err *err) WARN_UNUSED;
/* Calls @cb with each data source of @tenant in name order. */
typedef void (*archive_datasource_cb)(const DataSourceRecord *r, void *arg);
int archive_list_datasources(struct archive *a, const char *tenant, archive_datasource_cb cb,
                             void *arg, struct base_err *err) WARN_UNUSED;

/* Batch @batch_no of @tenant: 0 with @out (migration_record__free_unpacked()),
 * BASE_ENOTFOUND, or a store error. */
int archive_get_migration(struct archive *a, const char *tenant, const char *batch_no,
                          MigrationRecord **out, struct base_err *err) WARN_UNUSED;
/* Calls @cb with each batch of @tenant in batch-number order, until it returns false. */
typedef bool (*archive_migration_cb)(const MigrationRecord *r, void *arg);
int archive_list_migrations(struct archive *a, const char *tenant, archive_migration_cb cb,
                            void *arg, struct base_err *err) WARN_UNUSED;

/* Bill @image_no of batch @batch_no: 0 with @out (migration_bill__free_unpacked()),
 * BASE_ENOTFOUND, or a store error. */
int archive_get_migration_bill(struct archive *a, const char *tenant, const char *batch_no,
                               const char *image_no, MigrationBill **out,
                               struct base_err *err) WARN_UNUSED;
/* Calls @cb with the bills of batch @batch_no in image-number order after @after ("":
 * from the first), until it returns false. */
typedef bool (*archive_migration_bill_cb)(const MigrationBill *b, void *arg);
int archive_each_migration_bill(struct archive *a, const char *tenant, const char *batch_no,
                                const char *after, archive_migration_bill_cb cb, void *arg,
                                struct base_err *err) WARN_UNUSED;
/* Calls @cb with the batch's log entries with seq > @after, oldest first, until it
 * returns false. */
typedef bool (*archive_migration_log_cb)(const MigrationLogEntry *e, void *arg);
int archive_each_migration_log(struct archive *a, const char *tenant, const char *batch_no,
                               uint64_t after, archive_migration_log_cb cb, void *arg,
                               struct base_err *err) WARN_UNUSED;

/* The running batches (any tenant): @cb gets the tenant and batch number, until it
 * returns false. */
typedef bool (*archive_migration_run_cb)(const char *tenant, const char *batch_no, void *arg);
int archive_each_running_migration(struct archive *a, archive_migration_run_cb cb, void *arg,
                                   struct base_err *err) WARN_UNUSED;

/* Where bill @image_no of @tenant came from, when it came by migration: 0 with the data
 * source and batch copied into @datasource and @batch_no (each ARCHIVE_ID_MAX + 1),
 * BASE_ENOTFOUND when it did not, or a store error. */
int archive_get_migrated(struct archive *a, const char *tenant, const char *image_no,
                         char *datasource, char *batch_no, struct base_err *err) WARN_UNUSED;

#endif
