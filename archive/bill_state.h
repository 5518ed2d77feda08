/* The states of an image bill, the transitions between them, and readiness.
 *
 * A bill is stored with the name of its state (BillRecord.state); the names below are
 * the strings stored, shown in the API and sent in webhook events, so they never
 * change. The states and the moves between them (docs/API.md shows them to clients):
 *
 *   pending_upload -> captured                       the first capture
 *   captured       -> submitted                      submit
 *   submitted      -> ready | returned
 *   ready          -> erp_submitted | erp_failed | returned | submitted (an unmatch)
 *   erp_failed     -> erp_submitted | returned | submitted (an unmatch)
 *   returned       -> captured | submitted
 *   erp_submitted     final
 *
 * Apply checks every request against the bill's state and refuses what the state does
 * not allow before it sets a new state, so bill_state_set() ASSERTs that the transition
 * is in the table: one that is not is a bug in apply, never bad input. Pure functions
 * of their arguments; any thread. */
#ifndef IMGARC_ARCHIVE_BILL_STATE_H
#define IMGARC_ARCHIVE_BILL_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "archive/archive.pb-c.h"

enum bill_state {
    BILL_PENDING_UPLOAD, /* the business system pushed the pool bill; no files yet */
    BILL_CAPTURED,       /* files present, not submitted */
    BILL_SUBMITTED,      /* submitted; a match-mode bill waits here for its invoices */
    BILL_READY,          /* complete: the business system may approve its bill */
    BILL_ERP_SUBMITTED,  /* the ERP accepted it */
    BILL_ERP_FAILED,     /* the ERP refused it, or no ERP webhook took it */
    BILL_RETURNED,       /* a reviewer sent it back for rescanning */
};
#define BILL_STATE_COUNT (BILL_RETURNED + 1)

/* The stored and shown name of @s ("pending_upload", "captured"...). */
const char *bill_state_name(enum bill_state s);

/* The state named @name; false when @name is no state (a record is validated with it,
 * never asserted on). */
bool bill_state_parse(const char *name, enum bill_state *out);

/* Whether a bill may start in @s: pending_upload (pushed before any capture) or
 * captured (captured before the push). */
bool bill_state_initial(enum bill_state s);

/* Whether a bill in state @from may move to @to (a different state). */
bool bill_state_allowed(enum bill_state from, enum bill_state to);

/* Whether a bill whose stored state is @from (a name, maybe unknown) may move to @to. */
bool bill_state_can(const char *from, enum bill_state to);

/* Moves @bill (fields malloc()ed, like unpacked records) to @to, replacing its state
 * string. ASSERTs that the move is allowed: callers check the state first. */
void bill_state_set(BillRecord *bill, enum bill_state to);

/* Whether the bill's images are ready for the business system: ready, or at the ERP
 * (erp_submitted, and erp_failed: a refused submission leaves the images ready). */
bool bill_state_ready(const BillRecord *bill);

/* Why a bill is not ready yet, or why the ERP refused it. */
enum bill_reason {
    BILL_REASON_NO_FILES,      /* pending_upload */
    BILL_REASON_NOT_SUBMITTED, /* captured */
    BILL_REASON_RETURNED,      /* returned (returned_reason says why) */
    BILL_REASON_UNMATCHED,     /* submitted with declared invoices not matched */
    BILL_REASON_ERP_FAILED,    /* erp_failed (erp_error says why) */
    BILL_REASON_NOT_IN_POOL,   /* no pool bill pushed for this image number */
};
#define BILL_REASONS_MAX 2

/* Writes to @out the reasons @bill is not ready (or why the ERP refused it): at most
 * one from its state, then BILL_REASON_NOT_IN_POOL when no pool bill was pushed. None
 * for a bill that is ready or erp_submitted. Returns how many it wrote. */
size_t bill_state_reasons(const BillRecord *bill, enum bill_reason out[BILL_REASONS_MAX]);

#endif
