/* Fuzz target: a resumable upload's record (api/upload_record.c), the JSON file
 * DATA/uploads/ID.json a node reads back at every start.
 *
 * upload_record_parse() must refuse anything but a valid record with BASE_ECORRUPT and
 * a message, and never crash or leak; what it accepts must hold its promises (an id of
 * 32 lowercase hex digits, a valid tenant and image number, 0 < length, offset <=
 * length, a result only on a complete upload) and format back to text that parses to
 * the same record and formats to the same text again. */
#include <stdlib.h>
#include <string.h>

#include "api/uploads.h"
#include "base/assert.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct upload_record r, again;
    struct base_err err = {{0}};
    char *text, *text2;
    int rv = upload_record_parse((const char *)data, size, &r, &err);
    if (rv != 0) {
        ASSERT(rv == BASE_ECORRUPT);
        ASSERT(err.msg[0] != '\0');
        return 0;
    }
    ASSERT(strlen(r.id) == UPLOAD_ID_HEX && strspn(r.id, "0123456789abcdef") == UPLOAD_ID_HEX);
    ASSERT(archive_valid_tenant(r.tenant) && archive_valid_image_no(r.image_no));
    ASSERT(r.actor[0] != '\0');
    ASSERT(r.length > 0 && r.offset <= r.length);
    ASSERT(r.result == NULL || r.offset == r.length);
    ASSERT(json_is_object(r.params));
    text = upload_record_format(&r);
    ASSERT(text != NULL);
    ASSERT(upload_record_parse(text, strlen(text), &again, &err) == 0);
    ASSERT(strcmp(again.id, r.id) == 0 && strcmp(again.tenant, r.tenant) == 0);
    ASSERT(strcmp(again.actor, r.actor) == 0 && strcmp(again.image_no, r.image_no) == 0);
    ASSERT(again.length == r.length && again.offset == r.offset);
    ASSERT(again.created_ms == r.created_ms && again.expires_ms == r.expires_ms);
    ASSERT(json_equal(again.params, r.params));
    ASSERT((again.result == NULL) == (r.result == NULL));
    text2 = upload_record_format(&again);
    ASSERT(strcmp(text, text2) == 0);
    free(text);
    free(text2);
    upload_record_clear(&r);
    upload_record_clear(&again);
    return 0;
}
