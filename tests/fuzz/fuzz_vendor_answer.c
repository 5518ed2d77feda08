/* Fuzz target: what a vendor data source answers (migrate/source_vendor_map.c), the
 * untrusted JSON the migration runner's vendor kind turns into imgarc's native shapes:
 * a page of the listing call, and a bill's queryCover with the list entry the runner
 * kept for it (its source_ref).
 *
 * Input: byte 0 picks the answer (even: a list page, odd: a queryCover), byte 1 the page
 * number, byte 2 the page size; for a queryCover a length byte and that many bytes of
 * source_ref follow; the rest is the answer's body, parsed as source_call() parses it.
 * What must hold: no crash, leak or undefined behaviour; an accepted page's entries have
 * an image number of 1-64 bytes, a state of at most 32 bytes and a source_ref of at most
 * 256 (what the runner keeps), and an entry's source_ref read back gives its billId and
 * state; an accepted bill has files with an id, a name, a category the archive takes, a
 * format of at most 16 bytes and a localUrl; a refusal says why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "migrate/source_vendor.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_vendor_answer: %s\n", what);
        abort();
    }
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void fuzz_list(unsigned page, unsigned limit, json_t *answer)
{
    json_t *bills = NULL, *b;
    char next[24], why[512] = "";
    size_t i;
    int rv = source_vendor_map_list(json_object_get(answer, "data"), "POST /list", page, limit,
                                    &bills, next, why, sizeof why);
    if (rv != 0) {
        check(rv == BASE_EINVAL && why[0] != '\0', "a refused page says why");
        return;
    }
    check(strlen(next) < 24, "next cursor");
    json_array_foreach(bills, i, b) {
        const char *image_no = str(b, "image_no"), *ref = str(b, "source_ref");
        const char *state = str(b, "state");
        json_t *listed, *kept;
        check(image_no != NULL && image_no[0] != '\0' && strlen(image_no) <= 64, "image_no");
        check(state != NULL && strlen(state) <= 32, "state");
        check(ref != NULL && strlen(ref) <= 256, "source_ref");
        /* What the runner keeps and hands to get_bill. */
        kept = json_pack("{s:s, s:s}", "image_no", image_no, "source_ref", ref);
        listed = source_vendor_listed(image_no, kept);
        check(str(listed, "bill_id") != NULL && str(listed, "state") != NULL, "listed");
        if (json_object_get(listed, "refused") == NULL) {
            check(strcmp(str(listed, "state"), state) == 0, "the state survives source_ref");
        }
        json_decref(listed);
        json_decref(kept);
    }
    json_decref(bills);
}

static void fuzz_bill(const char *ref, json_t *answer)
{
    json_t *kept = json_pack("{s:s, s:s, s:s}", "image_no", "IMG-1", "bill_type", "FYBX",
                             "source_ref", ref);
    json_t *listed = source_vendor_listed("IMG-1", kept);
    json_t *bill = NULL, *f;
    char why[512] = "";
    size_t i;
    int rv = source_vendor_map_bill(json_object_get(answer, "data"), listed, &bill, why,
                                    sizeof why);
    if (rv != 0) {
        check(rv == BASE_EINVAL && why[0] != '\0', "a refused bill says why");
    } else {
        check(strcmp(str(bill, "image_no"), "IMG-1") == 0, "image_no");
        json_array_foreach(json_object_get(bill, "files"), i, f) {
            const char *cat = str(f, "category");
            check(str(f, "file_id") != NULL && str(f, "file_id")[0] != '\0', "file_id");
            check(str(f, "name") != NULL && str(f, "name")[0] != '\0', "name");
            check(cat != NULL && (strcmp(cat, "cover") == 0 || strcmp(cat, "attachment") == 0 ||
                                  strcmp(cat, "invoice") == 0), "category");
            check(str(f, "format") != NULL && strlen(str(f, "format")) <= 16, "format");
            check(str(f, "source_url") != NULL && str(f, "source_url")[0] != '\0', "localUrl");
        }
    }
    json_decref(bill);
    json_decref(listed);
    json_decref(kept);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ref[256];
    size_t at = 3, n = 0;
    json_t *answer;
    if (size < 3) {
        return 0;
    }
    if (data[0] & 1) {
        n = at < size ? data[at] : 0;
        at++;
        if (n > size - at || n >= sizeof ref) {
            return 0;
        }
        memcpy(ref, data + at, n);
        ref[n] = '\0';
        at += n;
        if (strlen(ref) != n) {
            return 0; /* a stored string holds no NUL */
        }
    }
    answer = json_loadb((const char *)data + at, size - at, JSON_REJECT_DUPLICATES, NULL);
    if (data[0] & 1) {
        /* json_pack refuses a source_ref that is not UTF-8, as the runner's store would
         * never hold one: skip those. */
        json_t *probe = json_string(ref);
        if (probe != NULL) {
            fuzz_bill(ref, answer);
        }
        json_decref(probe);
    } else {
        fuzz_list(data[1], data[2], answer);
    }
    json_decref(answer);
    return 0;
}
