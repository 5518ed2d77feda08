/* Bill states: names, the transition table, readiness (bill_state.h). */
#include "archive/bill_state.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

static const char *const NAMES[BILL_STATE_COUNT] = {
    [BILL_PENDING_UPLOAD] = "pending_upload",
    [BILL_CAPTURED] = "captured",
    [BILL_SUBMITTED] = "submitted",
    [BILL_READY] = "ready",
    [BILL_ERP_SUBMITTED] = "erp_submitted",
    [BILL_ERP_FAILED] = "erp_failed",
    [BILL_RETURNED] = "returned",
};

#define TO(s) (1u << (s))

/* The states each state may move to, and who moves it:
 *   pending_upload: the first capture;
 *   captured: submit;
 *   submitted: complete (basic and sync at once, match once every invoice matches), or
 *              returned by a reviewer;
 *   ready: to the ERP (accepted, refused, or no ERP webhook), returned, or back to
 *          submitted when a person unmatches an invoice;
 *   erp_failed: to the ERP again, returned, or back to submitted (unmatch);
 *   erp_submitted: final;
 *   returned: a capture (rescan), or submitted again as it is. */
static const unsigned ALLOWED[BILL_STATE_COUNT] = {
    [BILL_PENDING_UPLOAD] = TO(BILL_CAPTURED),
    [BILL_CAPTURED] = TO(BILL_SUBMITTED),
    [BILL_SUBMITTED] = TO(BILL_READY) | TO(BILL_RETURNED),
    [BILL_READY] = TO(BILL_ERP_SUBMITTED) | TO(BILL_ERP_FAILED) | TO(BILL_RETURNED) |
                   TO(BILL_SUBMITTED),
    [BILL_ERP_SUBMITTED] = 0,
    [BILL_ERP_FAILED] = TO(BILL_ERP_SUBMITTED) | TO(BILL_RETURNED) | TO(BILL_SUBMITTED),
    [BILL_RETURNED] = TO(BILL_CAPTURED) | TO(BILL_SUBMITTED),
};

const char *bill_state_name(enum bill_state s)
{
    ASSERT((unsigned)s < BILL_STATE_COUNT);
    return NAMES[s];
}

bool bill_state_parse(const char *name, enum bill_state *out)
{
    for (unsigned s = 0; s < BILL_STATE_COUNT; s++) {
        if (strcmp(name, NAMES[s]) == 0) {
            *out = (enum bill_state)s;
            return true;
        }
    }
    return false;
}

bool bill_state_initial(enum bill_state s)
{
    return s == BILL_PENDING_UPLOAD || s == BILL_CAPTURED;
}

bool bill_state_allowed(enum bill_state from, enum bill_state to)
{
    ASSERT((unsigned)from < BILL_STATE_COUNT && (unsigned)to < BILL_STATE_COUNT);
    return (ALLOWED[from] & TO(to)) != 0;
}

bool bill_state_can(const char *from, enum bill_state to)
{
    enum bill_state s;
    return bill_state_parse(from, &s) && bill_state_allowed(s, to);
}

void bill_state_set(BillRecord *bill, enum bill_state to)
{
    ASSERT(bill_state_can(bill->state, to));
    /* Fields of unpacked records were allocated by protobuf-c with malloc. */
    if (bill->state != NULL && bill->state != protobuf_c_empty_string) {
        free(bill->state);
    }
    bill->state = xstrdup(NAMES[to]);
}

bool bill_state_ready(const BillRecord *bill)
{
    enum bill_state s;
    return bill_state_parse(bill->state, &s) &&
           (s == BILL_READY || s == BILL_ERP_SUBMITTED || s == BILL_ERP_FAILED);
}

size_t bill_state_reasons(const BillRecord *bill, enum bill_reason out[BILL_REASONS_MAX])
{
    enum bill_state s;
    size_t n = 0;
    bool known = bill_state_parse(bill->state, &s);
    if (known && (s == BILL_READY || s == BILL_ERP_SUBMITTED)) {
        return 0;
    }
    if (known && s == BILL_PENDING_UPLOAD) {
        out[n++] = BILL_REASON_NO_FILES;
    } else if (known && s == BILL_CAPTURED) {
        out[n++] = BILL_REASON_NOT_SUBMITTED;
    } else if (known && s == BILL_RETURNED) {
        out[n++] = BILL_REASON_RETURNED;
    } else if (known && s == BILL_SUBMITTED && bill->invoices_matched < bill->n_invoices) {
        out[n++] = BILL_REASON_UNMATCHED;
    } else if (known && s == BILL_ERP_FAILED) {
        out[n++] = BILL_REASON_ERP_FAILED;
    }
    if (!bill->in_pool) {
        out[n++] = BILL_REASON_NOT_IN_POOL;
    }
    return n;
}
