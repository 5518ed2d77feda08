/* The local id of a source's file. See file_ids.h. */
#include "migrate/file_ids.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "base/hex.h"

void migrate_file_id(const char *datasource, const char *image_no, const char *id,
                     char out[ARCHIVE_ID_MAX + 1])
{
    uint8_t h[16];
    crypto_generichash_state st;
    if (archive_valid_tenant(id)) {
        snprintf(out, ARCHIVE_ID_MAX + 1, "%s", id);
        return;
    }
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)datasource, strlen(datasource) + 1);
    crypto_generichash_update(&st, (const uint8_t *)image_no, strlen(image_no) + 1);
    crypto_generichash_update(&st, (const uint8_t *)id, strlen(id));
    crypto_generichash_final(&st, h, sizeof h);
    out[0] = 'm';
    hex_encode(h, sizeof h, out + 1);
}
