/* Applying legal holds (docs/retention.md): a hold placed on a bill with a reason, and
 * lifted by its id. While a bill has a hold, none of its content may be deleted or
 * replaced (bill_held() is asked by every command that would). */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

bool bill_held(struct txn *t, const BillRecord *bill, const char *what)
{
    if (bill->n_holds == 0) {
        return false;
    }
    refuse(t, ARCHIVE_R_BILL_HELD, "bill %s is under %zu legal hold(s) (the first: %s, \"%.80s\"): "
           "%s is not allowed until every hold is lifted", bill->image_no, bill->n_holds,
           bill->holds[0]->hold_id, bill->holds[0]->reason, what);
    return true;
}

bool archive_hold_id_valid(const char *id)
{
    if (id == NULL || strlen(id) != ARCHIVE_HOLD_ID_BYTES || id[0] != 'h') {
        return false;
    }
    for (size_t i = 1; i < ARCHIVE_HOLD_ID_BYTES; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

static bool reason_ok(struct txn *t, const char *reason, bool required)
{
    size_t n = reason != NULL ? strlen(reason) : 0;
    if (n == 0 && required) {
        refuse(t, ARCHIVE_R_INVALID, "a hold needs a reason (1-%d bytes): the case, order or "
               "audit it is kept for", ARCHIVE_HOLD_REASON_MAX);
        return false;
    }
    if (n > ARCHIVE_HOLD_REASON_MAX || (n > 0 && !utf8_valid(reason, n))) {
        refuse(t, ARCHIVE_R_INVALID, "a hold's reason is 1-%d bytes of UTF-8",
               ARCHIVE_HOLD_REASON_MAX);
        return false;
    }
    return true;
}

int apply_place_hold(struct txn *t, const PlaceHold *c)
{
    BillRecord *bill;
    BillHold *h;
    int rv;
    if (!archive_hold_id_valid(c->hold_id)) {
        refuse(t, ARCHIVE_R_INVALID, "a hold id is 'h' and 16 hex digits");
        return 0;
    }
    if (!reason_ok(t, c->reason, true)) {
        return 0;
    }
    if ((rv = load_bill_or_refuse(t, c->image_no, &bill)) != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    for (size_t i = 0; i < bill->n_holds; i++) {
        if (strcmp(bill->holds[i]->hold_id, c->hold_id) == 0) {
            refuse(t, ARCHIVE_R_INVALID, "bill %s has a hold %s already", bill->image_no,
                   c->hold_id);
            archive_free_bill(bill);
            return 0;
        }
    }
    if (bill->n_holds >= ARCHIVE_HOLDS_MAX) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s has %d holds, the most a bill may have: "
               "lift one that another covers", bill->image_no, ARCHIVE_HOLDS_MAX);
        archive_free_bill(bill);
        return 0;
    }
    h = xmalloc(sizeof *h);
    bill_hold__init(h);
    h->hold_id = xstrdup(c->hold_id);
    h->reason = xstrdup(c->reason);
    h->placed_by = xstrdup(t->cmd->operator_ != NULL ? t->cmd->operator_ : "");
    h->placed_ms = t->cmd->time_ms;
    bill->holds = xrealloc(bill->holds, (bill->n_holds + 1) * sizeof *bill->holds);
    bill->holds[bill->n_holds++] = h;
    audit(t, bill, "hold_placed", json_pack("{s:s, s:s}", "hold_id", c->hold_id, "reason",
                                            c->reason));
    store_bill(t, bill);
    result_bill(t, bill);
    /* The result's id is the hold's: kept with an idempotency key, a retried request is
     * answered with the hold the first one placed. */
    snprintf(t->res->file_id, sizeof t->res->file_id, "%s", c->hold_id);
    archive_free_bill(bill);
    return 0;
}

int apply_lift_hold(struct txn *t, const LiftHold *c)
{
    BillRecord *bill;
    size_t at;
    int rv;
    if (!reason_ok(t, c->reason, false)) {
        return 0;
    }
    if ((rv = load_bill_or_refuse(t, c->image_no, &bill)) != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    for (at = 0; at < bill->n_holds; at++) {
        if (c->hold_id != NULL && strcmp(bill->holds[at]->hold_id, c->hold_id) == 0) {
            break;
        }
    }
    if (at == bill->n_holds) {
        refuse(t, ARCHIVE_R_HOLD_NOT_FOUND, "bill %s has no hold %.40s (GET /api/v1/bills/%s "
               "lists its holds)", bill->image_no, c->hold_id != NULL ? c->hold_id : "",
               bill->image_no);
        archive_free_bill(bill);
        return 0;
    }
    audit(t, bill, "hold_lifted",
          json_pack("{s:s, s:s, s:s, s:s}", "hold_id", bill->holds[at]->hold_id,
                    "placed_by", bill->holds[at]->placed_by, "placed_reason",
                    bill->holds[at]->reason, "reason", c->reason != NULL ? c->reason : ""));
    bill_hold__free_unpacked(bill->holds[at], NULL);
    memmove(&bill->holds[at], &bill->holds[at + 1],
            (bill->n_holds - at - 1) * sizeof *bill->holds);
    bill->n_holds--;
    store_bill(t, bill);
    result_bill(t, bill);
    archive_free_bill(bill);
    return 0;
}
