/* What a source's answers become here: pure conversions from the JSON shapes of
 * source.h (a source's bill, its files and history) to the records an ImportBill
 * carries, and the checks of that JSON that need no archive. The migration runner
 * (mover.c) uses them; so does the fuzz target tests/fuzz/fuzz_source_bill.c, since
 * this JSON comes from another system and is not trusted.
 *
 * Any thread; no I/O. */
#ifndef IMGARC_MIGRATE_IMPORT_H
#define IMGARC_MIGRATE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "archive/archive.h"

#define IMPORT_FILES_MAX 2000       /* files of one bill (checked pairwise for duplicate ids) */
#define IMPORT_HISTORY_MAX 100000   /* history entries of one bill */

/* The string member @key of @o, or "" when absent or not a string. */
const char *import_str(const json_t *o, const char *key);
/* The id source file @id of bill @image_no gets here: @id itself when it is one this
 * archive takes (so merged documents keep their parts), else "m" and 32 hex digits of
 * a hash of @datasource's name, the bill and @id: the same in every batch from that
 * data source (a bill moved twice never gets two ids, and a sync finds the file). */
void import_file_id(const char *datasource, const char *image_no, const char *id,
                    char out[ARCHIVE_ID_MAX + 1]);
/* The content hash @file names ("blob": 64 hex digits) into @out; false when none. */
bool import_blob_of(const json_t *file, uint8_t out[32]);
/* Why @bill cannot come as bill @image_no (into @why), or NULL: the checks of its
 * shape (the state a bill state here; files with ids, names, categories this archive
 * may have, sizes up to @file_bytes_max (0: any), formats). */
const char *import_bill_problem(const json_t *bill, const char *image_no,
                                uint64_t file_bytes_max, char *why, size_t size);
/* The bill record of @bill as bill @image_no (archive_free_bill()). */
BillRecord *import_bill_record(const json_t *bill, const char *image_no);
/* The file record of @file of bill @image_no from @datasource, whose content is @hash
 * (@size bytes, XXH3 @check or 0) (file_record__free_unpacked()). */
FileRecord *import_file_record(const json_t *file, const char *datasource, const char *image_no,
                               const uint8_t hash[32], uint64_t size, uint64_t check);
/* The entries of @bill's "log" this archive can write, oldest first: *@out (an array of
 * *@n, freed with import_history_free()). */
void import_history(const json_t *bill, AuditRecord ***out, size_t *n);
void import_history_free(AuditRecord **h, size_t n);

#endif
