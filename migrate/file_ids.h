/* The id a source's file gets here, shared by the migration (mover.c: the id a moved
 * file is stored under) and the invoice-data sync (sync.c: the local file a source's
 * face data belongs to), so both find the same file. Pure; any thread. */
#ifndef IMGARC_MIGRATE_FILE_IDS_H
#define IMGARC_MIGRATE_FILE_IDS_H

#include "archive/archive.h"

/* The source's own id @id when it is one this archive takes (so merged documents keep
 * their parts), else "m" and 32 hex digits of a hash of data source @datasource's name,
 * bill @image_no and @id: the same in every batch from that data source (a bill moved
 * twice never gets two ids, and a sync finds the file). */
void migrate_file_id(const char *datasource, const char *image_no, const char *id,
                     char out[ARCHIVE_ID_MAX + 1]);

#endif
