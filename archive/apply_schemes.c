/* Applying the tenant's capture configuration: bill types, schemes (which mode, match
 * level and submission a bill type has in an organisation) and custom categories; and
 * resolving the scheme that applies to a bill. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/license.h"
#include "base/mem.h"

#define ORG_DEPTH_MAX 64

/* The parent of organisation @org ("" at the top or when it is unknown). */
static int org_parent(struct archive *a, const char *tenant, const char *org, char **parent,
                      struct base_err *err)
{
    struct key k;
    OrgRecord *o;
    int rv;
    key_pair(&k, tenant, org);
    rv = archive_load_record(a, ARCHIVE_CF_ORGS, &k, &org_record__descriptor,
                             (ProtobufCMessage **)&o, err);
    if (rv == BASE_ENOTFOUND) {
        *parent = xstrdup("");
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    *parent = xstrdup(o->parent);
    org_record__free_unpacked(o, NULL);
    return 0;
}

/* resolve_scheme on the committed state (the apply thread's or a reader's); *@covered
 * whether a scheme record applies. */
static int resolve_in(struct archive *a, const char *tenant, const char *bill_type,
                      const char *org, struct scheme_choice *out, bool *covered,
                      struct base_err *err)
{
    BillTypeRecord *type;
    SchemeRecord *sc = NULL;
    struct key k;
    char *cur;
    int rv;
    *covered = false;
    snprintf(out->mode, sizeof out->mode, "basic");
    snprintf(out->match, sizeof out->match, "normal");
    snprintf(out->submit, sizeof out->submit, "manual");
    if (bill_type == NULL || bill_type[0] == '\0') {
        return 0;
    }
    key_pair(&k, tenant, bill_type);
    rv = archive_load_record(a, ARCHIVE_CF_BILL_TYPES, &k, &bill_type_record__descriptor,
                             (ProtobufCMessage **)&type, err);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    cur = xstrdup(org != NULL ? org : "");
    for (int depth = 0; depth < ORG_DEPTH_MAX; depth++) {
        char *parent;
        key_triple(&k, tenant, bill_type, cur);
        rv = archive_load_record(a, ARCHIVE_CF_SCHEMES, &k, &scheme_record__descriptor,
                                 (ProtobufCMessage **)&sc, err);
        if (rv != BASE_ENOTFOUND || cur[0] == '\0') {
            break;
        }
        if ((rv = org_parent(a, tenant, cur, &parent, err)) != 0) {
            break;
        }
        free(cur);
        cur = parent;
    }
    free(cur);
    if (rv == 0) {
        snprintf(out->mode, sizeof out->mode, "%s", type->mode);
        snprintf(out->match, sizeof out->match, "%s", sc->match);
        snprintf(out->submit, sizeof out->submit, "%s", sc->submit);
        *covered = true;
        scheme_record__free_unpacked(sc, NULL);
    }
    bill_type_record__free_unpacked(type, NULL);
    return rv == BASE_ENOTFOUND ? 0 : rv;
}

int resolve_scheme(struct txn *t, const char *bill_type, const char *org,
                   struct scheme_choice *out)
{
    bool covered;
    return resolve_in(t->a, t->cmd->tenant, bill_type, org, out, &covered, t->err);
}

int archive_scheme_submit(struct archive *a, const char *tenant, const char *bill_type,
                          const char *org, char submit[8], struct base_err *err)
{
    struct scheme_choice sc;
    bool covered;
    int rv = resolve_in(a, tenant, bill_type, org, &sc, &covered, err);
    snprintf(submit, 8, "%s", rv == 0 && covered ? sc.submit : "");
    return rv;
}

unsigned mode_bit(const char *mode)
{
    return strcmp(mode, "match") == 0  ? LICENSE_MODE_MATCH
           : strcmp(mode, "sync") == 0 ? LICENSE_MODE_SYNC
                                       : LICENSE_MODE_BASIC;
}

int apply_create_bill_type(struct txn *t, const CreateBillType *c)
{
    BillTypeRecord rec = BILL_TYPE_RECORD__INIT;
    struct key k;
    if (c->code == NULL || !archive_valid_tenant(c->code) || c->name == NULL ||
        strlen(c->name) > 256 || !archive_valid_mode(c->mode)) {
        refuse(t, ARCHIVE_R_INVALID, "a bill type is a code (1-64 of A-Z a-z 0-9 . _ -), a "
                                     "name (at most 256 bytes) and a mode: basic, sync or match");
        return 0;
    }
    rec.code = c->code;
    rec.name = c->name;
    rec.mode = c->mode;
    rec.created_ms = t->cmd->time_ms;
    key_pair(&k, t->cmd->tenant, c->code);
    put_record(t, ARCHIVE_CF_BILL_TYPES, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "bill_type_set",
                json_pack("{s:s, s:s, s:s}", "code", c->code, "name", c->name, "mode", c->mode));
    return 0;
}

int apply_set_scheme(struct txn *t, const SetScheme *c)
{
    SchemeRecord rec = SCHEME_RECORD__INIT;
    const char *org = c->org != NULL ? c->org : "";
    struct key k;
    bool found;
    int rv;
    if (c->bill_type == NULL || !archive_valid_tenant(c->bill_type) ||
        (org[0] != '\0' && !archive_valid_tenant(org)) || c->match == NULL ||
        (strcmp(c->match, "normal") != 0 && strcmp(c->match, "standard") != 0) ||
        c->submit == NULL || (strcmp(c->submit, "auto") != 0 && strcmp(c->submit, "manual") != 0)) {
        refuse(t, ARCHIVE_R_INVALID, "a scheme names a bill type, optionally an organisation, "
                                     "match normal or standard, and submit auto or manual");
        return 0;
    }
    key_pair(&k, t->cmd->tenant, c->bill_type);
    if ((rv = record_exists(t, ARCHIVE_CF_BILL_TYPES, &k, &found)) != 0 || !found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_BILL_TYPE_NOT_FOUND, "no bill type %s; create it first with "
                   "POST /api/v1/bill-types", c->bill_type);
        }
        return rv;
    }
    if (org[0] != '\0') {
        key_pair(&k, t->cmd->tenant, org);
        if ((rv = record_exists(t, ARCHIVE_CF_ORGS, &k, &found)) != 0 || !found) {
            if (rv == 0) {
                refuse(t, ARCHIVE_R_ORG_NOT_FOUND, "no organisation %s", org);
            }
            return rv;
        }
    }
    rec.bill_type = c->bill_type;
    rec.org = (char *)org;
    rec.match = c->match;
    rec.submit = c->submit;
    rec.updated_ms = t->cmd->time_ms;
    key_triple(&k, t->cmd->tenant, c->bill_type, org);
    put_record(t, ARCHIVE_CF_SCHEMES, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "scheme_set",
                json_pack("{s:s, s:s, s:s, s:s}", "bill_type", c->bill_type, "org", org, "match",
                          c->match, "submit", c->submit));
    return 0;
}

/* Whether the tenant has @category: a built-in one or a custom one it defined. */
int category_known(struct txn *t, const char *category, bool *known)
{
    struct key k;
    if (archive_builtin_category(category)) {
        *known = true;
        return 0;
    }
    if (!archive_valid_category(category)) {
        *known = false;
        return 0;
    }
    key_pair(&k, t->cmd->tenant, category);
    return record_exists(t, ARCHIVE_CF_CATEGORIES, &k, known);
}

int apply_create_category(struct txn *t, const CreateCategory *c)
{
    CategoryRecord rec = CATEGORY_RECORD__INIT;
    struct key k;
    if (c->code == NULL || archive_builtin_category(c->code) ||
        !archive_valid_category(c->code) || c->name == NULL || strlen(c->name) > 256) {
        refuse(t, ARCHIVE_R_INVALID, "a category is a code (1-31 of A-Z a-z 0-9 . _ -, not "
                                     "cover, invoice or attachment) and a name");
        return 0;
    }
    rec.code = c->code;
    rec.name = c->name;
    rec.created_ms = t->cmd->time_ms;
    key_pair(&k, t->cmd->tenant, c->code);
    put_record(t, ARCHIVE_CF_CATEGORIES, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "category_set",
                json_pack("{s:s, s:s}", "code", c->code, "name", c->name));
    return 0;
}
