/* Retention periods (docs/retention.md): which period applies to a bill type, and the
 * date a bill's period ends. Shared by apply (stamping bills, refusing deletions) and
 * the API (GET /api/v1/retention, the bill's "retain_until").
 *
 * A period is counted as China's accounting archive rules count it: from the first day
 * after the accounting year of the bill's creation. Dates are UTC, computed with integer
 * arithmetic only, so every node stamps the same instant. */
#include "archive/archive.h"

#include <stdio.h>
#include <string.h>

#include "archive/keys.h"

#define DAY_MS (24ull * 3600 * 1000)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

uint64_t archive_retention_until(uint64_t created_ms, uint32_t years)
{
    int64_t y, days;
    unsigned m, d;
    if (years == ARCHIVE_RETENTION_PERMANENT) {
        return UINT64_MAX;
    }
    if (years == 0) {
        return created_ms;
    }
    civil_from_days((int64_t)(created_ms / DAY_MS), &y, &m, &d);
    days = days_from_civil(y + 1 + (int64_t)years, 1, 1);
    if ((uint64_t)days > UINT64_MAX / DAY_MS) {
        return UINT64_MAX; /* past the clock's range: kept as long as time runs */
    }
    return (uint64_t)days * DAY_MS;
}

void archive_date_utc(uint64_t ms, char out[16])
{
    int64_t y;
    unsigned m, d;
    if (ms == UINT64_MAX) {
        snprintf(out, 16, "permanent");
        return;
    }
    civil_from_days((int64_t)(ms / DAY_MS), &y, &m, &d);
    /* m and d are 1-12 and 1-31; the remainders tell the compiler so (it checks that
     * the text fits). */
    snprintf(out, 16, "%04lld-%02u-%02u", (long long)(y % 100000000), m % 100u, d % 100u);
}

int archive_bill_retained_until(struct archive *a, const char *tenant, const BillRecord *bill,
                                uint64_t *until, const char **on, struct base_err *err)
{
    uint32_t years;
    uint64_t now;
    int rv = archive_retention_years(a, tenant, bill->bill_type, &years, on, err);
    if (rv != 0) {
        return rv;
    }
    now = archive_retention_until(bill->created_ms, years);
    *until = bill->retain_until_ms;
    if (now > *until) {
        *until = now;
    } else {
        *on = "the bill's stamp";
    }
    return 0;
}

int archive_retention_years(struct archive *a, const char *tenant, const char *bill_type,
                            uint32_t *years, const char **set_on, struct base_err *err)
{
    BillTypeRecord *type;
    TenantRecord *rec;
    struct key k;
    int rv;
    if (bill_type != NULL && bill_type[0] != '\0' &&
        strlen(tenant) + 1 + strlen(bill_type) <= KEY_MAX) {
        key_pair(&k, tenant, bill_type);
        rv = archive_load_record(a, ARCHIVE_CF_BILL_TYPES, &k, &bill_type_record__descriptor,
                                 (ProtobufCMessage **)&type, err);
        if (rv == 0) {
            bool own = type->retention != NULL;
            *years = own ? type->retention->years : 0;
            bill_type_record__free_unpacked(type, NULL);
            if (own) {
                *set_on = "bill_type";
                return 0;
            }
        } else if (rv != BASE_ENOTFOUND && rv != BASE_ECORRUPT) {
            return rv;
        }
    }
    k.len = strlen(tenant);
    if (k.len > 0 && k.len <= sizeof k.buf) {
        memcpy(k.buf, tenant, k.len);
        rv = archive_load_record(a, ARCHIVE_CF_TENANTS, &k, &tenant_record__descriptor,
                                 (ProtobufCMessage **)&rec, err);
        if (rv == 0) {
            bool own = rec->retention != NULL;
            *years = own ? rec->retention->years : 0;
            tenant_record__free_unpacked(rec, NULL);
            if (own) {
                *set_on = "tenant";
                return 0;
            }
        } else if (rv != BASE_ENOTFOUND && rv != BASE_ECORRUPT) {
            return rv;
        }
    }
    *years = ARCHIVE_RETENTION_DEFAULT_YEARS;
    *set_on = "default";
    return 0;
}
