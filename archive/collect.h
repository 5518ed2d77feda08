/* Reads of the files collected ahead of their bill (fileCollect; the commands are
 * applied in apply_collect.c): one record for the vendor handlers, and the walk the
 * leader's cleanup timer makes to find records older than the cleanup time.
 *
 * Threads: any; these read the committed store, never the batch being applied. */
#ifndef IMGARC_ARCHIVE_COLLECT_H
#define IMGARC_ARCHIVE_COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"

/* The collected file @file_no of @tenant: 0 with @out (freed with
 * collected_record__free_unpacked()), BASE_ENOTFOUND, BASE_ECORRUPT or a store error. */
int archive_get_collected(struct archive *a, const char *tenant, const char *file_no,
                          CollectedRecord **out, struct base_err *err) WARN_UNUSED;

/* Calls @cb for each collected record (any tenant) collected at or before
 * @collected_before_ms, in key order, until it returns false. Undecodable records are
 * skipped. Returns 0 or the store's error. */
typedef bool (*archive_collected_cb)(const char *tenant, const CollectedRecord *rec, void *arg);
int archive_each_collected_before(struct archive *a, uint64_t collected_before_ms,
                                  archive_collected_cb cb, void *arg,
                                  struct base_err *err) WARN_UNUSED;

#endif
