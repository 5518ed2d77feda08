/* Reads of the invoice-data sync: a tenant's settings, its runs, the runner's queue and
 * the records that failed (the commands are applied in apply_sync.c; docs/migration.md
 * "Invoice-data sync").
 *
 * A tenant synchronises invoice face data (number, code, date, amount, tax, total, tax
 * numbers) from one data source: daily at a set UTC time (run "daily-YYYY-MM-DD[-org]",
 * one per organisation and day whichever node leads), by hand for a date, everything
 * ("full") or one bill. A run's records apply to the local files the source's files
 * became (migrate/import.h: import_file_id()); a file whose invoice data was edited here, and the
 * tenant's protected fields, are never overwritten; a matched file is locked. A record
 * that fails is kept (SyncFailure) and tried again first by the next runs of its
 * organisation, up to SYNC_ATTEMPTS_MAX attempts; then it is given up, for a person.
 *
 * Threads: any; these read the committed store. */
#ifndef IMGARC_ARCHIVE_SYNC_H
#define IMGARC_ARCHIVE_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"

#define SYNC_ATTEMPTS_MAX 3     /* attempts of a record (and of a failed run) */
#define SYNC_RUN_ID_MAX 128
#define SYNC_ORGS_MAX 64
#define SYNC_ITEMS_MAX 2000     /* records in one SyncInvoices */
#define SYNC_RETRY_MAX 10000    /* given-up records one RetrySyncFailures puts back */

#define SYNC_PENDING "pending"
#define SYNC_RUNNING "running"
#define SYNC_DONE "done"
#define SYNC_FAILED "failed"
#define SYNC_RESULT_OK "ok"
#define SYNC_RESULT_PARTIAL "partial"
#define SYNC_RESULT_ERROR "error"
#define SYNC_RETRYING "retrying"
#define SYNC_GIVEN_UP "given_up"
#define SYNC_KIND_SCHEDULED "scheduled"
#define SYNC_KIND_DATE "date"
#define SYNC_KIND_FULL "full"
#define SYNC_KIND_BILL "bill"

/* The invoice fields a tenant may protect, NULL-terminated. */
extern const char *const SYNC_FIELDS[];
bool archive_sync_field_known(const char *name);
/* Whether @id is a usable run id: 1-128 of [A-Za-z0-9._-], not starting with '.'. */
bool archive_valid_sync_run_id(const char *id);
/* Whether @s is "HH:MM" (00:00-23:59). */
bool archive_valid_sync_time(const char *s);
/* Whether @s is a date "YYYY-MM-DD" (1970-9999). */
bool archive_valid_sync_date(const char *s);

/* @tenant's settings: 0 with @out (sync_settings__free_unpacked()), BASE_ENOTFOUND,
 * or a store error. */
int archive_get_sync_settings(struct archive *a, const char *tenant, SyncSettings **out,
                              struct base_err *err) WARN_UNUSED;
/* Calls @cb with every tenant's settings, until it returns false. */
typedef bool (*archive_sync_settings_cb)(const char *tenant, const SyncSettings *s, void *arg);
int archive_each_sync_settings(struct archive *a, archive_sync_settings_cb cb, void *arg,
                               struct base_err *err) WARN_UNUSED;

/* Run @run_id of @tenant: 0 with @out (sync_run_record__free_unpacked()),
 * BASE_ENOTFOUND, or a store error. */
int archive_get_sync_run(struct archive *a, const char *tenant, const char *run_id,
                         SyncRunRecord **out, struct base_err *err) WARN_UNUSED;
/* Calls @cb with @tenant's runs in run-id order after @after ("" or NULL: from the
 * first), until it returns false. */
typedef bool (*archive_sync_run_cb)(const SyncRunRecord *r, void *arg);
int archive_each_sync_run(struct archive *a, const char *tenant, const char *after,
                          archive_sync_run_cb cb, void *arg, struct base_err *err) WARN_UNUSED;
/* The runs pending or running (any tenant): @cb gets the tenant and run id. */
typedef bool (*archive_sync_queue_cb)(const char *tenant, const char *run_id, void *arg);
int archive_each_queued_sync_run(struct archive *a, archive_sync_queue_cb cb, void *arg,
                                 struct base_err *err) WARN_UNUSED;
/* Calls @cb with @tenant's failed records of organisation @org (NULL: every one), in
 * key order, until it returns false. */
typedef bool (*archive_sync_failure_cb)(const SyncFailure *f, void *arg);
int archive_each_sync_failure(struct archive *a, const char *tenant, const char *org,
                              archive_sync_failure_cb cb, void *arg,
                              struct base_err *err) WARN_UNUSED;

#endif
