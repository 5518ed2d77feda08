/* The vendor kind's mapping of answers onto the native shapes of source.h
 * (source_vendor_map.c), apart from its calls (source_vendor.c) so that the fuzz
 * target tests/fuzz/fuzz_vendor_answer.c reaches it. Every input is the source's,
 * untrusted: anything unusable is BASE_EINVAL with a message for a person (a bill's
 * reason), never a crash. Any thread; no state. */
#ifndef IMGARC_MIGRATE_SOURCE_VENDOR_H
#define IMGARC_MIGRATE_SOURCE_VENDOR_H

#include <stddef.h>

#include <jansson.h>

/* A numeric field given as a number or a string of digits; -1 otherwise. */
long long source_vendor_number(json_t *v);

/* Page @page (of @limit bills) of the listing call, its envelope's @data: 0 with
 * *@bills (the native list entries, each with its "source_ref"; the caller decrefs)
 * and @next (24 bytes: the next page's cursor, "" at the end), or BASE_EINVAL with
 * @why naming call @what. */
int source_vendor_map_list(json_t *data, const char *what, unsigned page, unsigned limit,
                           json_t **bills, char *next, char *why, size_t why_size);

/* What get_bill needs of bill @image_no's list entry @listed (as the runner keeps it:
 * its "source_ref"; may be NULL): a new object with image_no, bill_no, bill_type, org,
 * state, created (when known), bill_id, and "refused" (why the bill cannot come) when
 * its state says so or the entry is not this kind's. */
json_t *source_vendor_listed(const char *image_no, const json_t *listed);

/* queryCover's @data as the native bill of @listed (source_vendor_listed()): 0 with
 * *@bill (caller decrefs), or BASE_EINVAL with @why. */
int source_vendor_map_bill(json_t *data, const json_t *listed, json_t **bill, char *why,
                           size_t why_size);

#endif
