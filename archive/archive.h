/* The archive's domain: bills, files, blobs, usage and the audit log, kept in the
 * metadata store, and the deterministic state machine that changes them.
 *
 * Every change is a Command (archive.proto) applied in raft log order by
 * archive_apply() on the loop thread of every node. Apply never reads a clock or a
 * random source: the time and ids are in the command. A refusal (bill not found, rule
 * broken, idempotency key reused for another request) is a result, not an error;
 * archive_apply() fails only on a local I/O error, after which the node must stop and
 * replay from its raft log. Each command's changes and the index it was applied at
 * are written in one RocksDB batch, so a restart skips what was applied already.
 *
 * Queries read the local store and may run on the loop (point reads) or on workers
 * (scans). The archive borrows the store; it does not own it. */
#ifndef IMGARC_ARCHIVE_ARCHIVE_H
#define IMGARC_ARCHIVE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.pb-c.h"
#include "base/err.h"
#include "storage/rocks.h"

#define ARCHIVE_IMAGE_NO_MAX 64
#define ARCHIVE_FILE_ID_BYTES 32 /* "f" + 31 hex digits, see archive_new_file_id() */
#define ARCHIVE_ID_MAX 64        /* tenant ids, idempotency keys */

/* The outcome of a command, as the proposer's handler needs it. */
enum archive_status {
    ARCHIVE_OK = 0,
    ARCHIVE_R_INVALID,          /* the command itself is malformed */
    ARCHIVE_R_BILL_NOT_FOUND,
    ARCHIVE_R_FILE_NOT_FOUND,   /* e.g. "after" names no file of the bill */
    ARCHIVE_R_BILL_EMPTY,
    ARCHIVE_R_INVALID_STATE,
    ARCHIVE_R_IDEM_CONFLICT,
    ARCHIVE_R_INVALID_CATEGORY,
    ARCHIVE_R_TENANT_NOT_FOUND,
    ARCHIVE_R_TENANT_EXISTS,
    ARCHIVE_R_LICENSE,            /* no license in force, expired, or mode not licensed */
    ARCHIVE_R_QUOTA_BYTES,
    ARCHIVE_R_QUOTA_FILES,
    ARCHIVE_R_LICENSE_SUPERSEDED, /* a license issued later is in force */
    ARCHIVE_R_LICENSE_INVALID,    /* e.g. issued in the future, or for another tenant */
    ARCHIVE_R_CLIENT_EXISTS,
    ARCHIVE_R_USER_EXISTS,
    ARCHIVE_R_USER_NOT_FOUND,
    ARCHIVE_R_ROLE_EXISTS,
    ARCHIVE_R_ROLE_NOT_FOUND,
    ARCHIVE_R_ORG_EXISTS,         /* the id, or the name among its siblings */
    ARCHIVE_R_ORG_NOT_FOUND,
    ARCHIVE_R_ORG_CYCLE,          /* a move under its own descendant */
    ARCHIVE_R_WEBHOOK_NOT_FOUND,
    ARCHIVE_R_DELIVERY_NOT_FOUND,
    ARCHIVE_R_BILL_TYPE_NOT_FOUND,
    ARCHIVE_R_MATCH_LOCKED,       /* a matched invoice cannot change */
    ARCHIVE_R_NODE_NOT_FOUND,     /* not a member (never registered, or removed) */
    ARCHIVE_R_FBILL_CONFLICT,     /* the ERP's bill id is another bill's, or would change */
    ARCHIVE_R_LAST_ADMIN,         /* the tenant would be left without an enabled admin */
    ARCHIVE_R_ROLE_IN_USE,        /* a role some user has cannot be deleted */
    ARCHIVE_R_CLIENT_NOT_FOUND,
    ARCHIVE_R_DATASOURCE_NOT_FOUND,
    ARCHIVE_R_DATASOURCE_EXISTS,
    ARCHIVE_R_DATASOURCE_IN_USE,  /* a batch that is not over uses it */
    ARCHIVE_R_MIGRATION_NOT_FOUND,
    ARCHIVE_R_MIGRATION_EXISTS,
    ARCHIVE_R_SYNC_NOT_FOUND,     /* no sync settings, or no such sync run */
    ARCHIVE_R_ENTRY_FULL,         /* a shared raft entry had no delivery ids left: the
                                     proposer proposes the command again alone */
    ARCHIVE_R_BILL_HELD,          /* a legal hold forbids deleting or replacing content */
    ARCHIVE_R_HOLD_NOT_FOUND,     /* the bill has no hold of that id */
    ARCHIVE_R_RETAINED,           /* the bill's retention period has not ended */
    ARCHIVE_R_ORG_IN_USE,         /* an organisation with bills or sub-organisations */
    ARCHIVE_R_TENANT_TOO_LARGE,   /* a tenant deleted in one command has too many bills */
    ARCHIVE_R_CLUSTER_LEVEL,      /* the command is above the cluster's feature level */
};

/* The most bills a tenant may have when it is deleted (one command, one batch). */
#define ARCHIVE_TENANT_DELETE_BILLS 10000

/* Legal holds (docs/retention.md): an id is 'h' and 16 hex digits, drawn by the
 * proposer; a reason is 1-1024 bytes; a bill has at most 32 holds at once. */
#define ARCHIVE_HOLD_ID_BYTES 17
#define ARCHIVE_HOLD_REASON_MAX 1024
#define ARCHIVE_HOLDS_MAX 32
/* Whether @id has the form of a hold's id (the proposer's and the API's check). */
bool archive_hold_id_valid(const char *id);

/* Retention periods (docs/retention.md), in whole years; "permanent" keeps a bill for
 * good. Without a setting a tenant keeps bills 30 years, the longest period China's
 * accounting archive rules set for vouchers and books. */
#define ARCHIVE_RETENTION_PERMANENT UINT32_MAX
#define ARCHIVE_RETENTION_YEARS_MAX 1000
#define ARCHIVE_RETENTION_DEFAULT_YEARS 30
/* Until when a bill created at @created_ms is kept under a period of @years: the
 * start (00:00 UTC) of the first day after the calendar year of its creation, @years
 * on; @created_ms itself for 0 years; UINT64_MAX for a permanent period. */
uint64_t archive_retention_until(uint64_t created_ms, uint32_t years);
/* "YYYY-MM-DD" (UTC) of @ms into @out. */
void archive_date_utc(uint64_t ms, char out[16]);

/* The evaluation license every new cluster's "default" tenant starts with. */
#define ARCHIVE_EVAL_DAYS 30
#define ARCHIVE_EVAL_QUOTA_BYTES (10ull << 30)
#define ARCHIVE_DEFAULT_TENANT "default"
/* A license whose issue time is this far ahead of the command's time is refused as
 * not valid yet (more is not clock skew). */
#define ARCHIVE_LICENSE_SKEW_MS (5 * 60 * 1000)

struct archive_result {
    enum archive_status status;
    char message[256];
    bool replayed; /* an earlier request with the same idempotency key answered this */
    bool created;
    uint64_t index; /* raft index the command was applied at (the first one if replayed) */
    char image_no[ARCHIVE_IMAGE_NO_MAX + 1];
    char file_id[ARCHIVE_FILE_ID_BYTES + 1];
    char state[24];
    char category[32];
    uint32_t position;
};

struct archive {
    struct rocks *db;
    uint64_t applied_index;
    /* Node-local hint, not replicated state: counts deliveries queued by apply, so the
     * outbox dispatcher knows when to look again. */
    uint64_t outbox_added;
    /* The same for files queued for the recognition hook (replication/recognizer.c). */
    uint64_t recognition_added;
    /* The batch of the command being applied: reads during apply see its writes. */
    struct rocks_batch *applying;
};

/* Opens (creating if needed) the metadata store in @dir with the archive's column
 * families (archive/keys.h); then archive_open() it. */
int archive_store_open(struct rocks **out, const char *dir, struct base_err *err) WARN_UNUSED;
/* Binds to @db and loads the applied index. */
int archive_open(struct archive *a, struct rocks *db, struct base_err *err) WARN_UNUSED;

/* The period of @bill_type for @tenant: its own, else the tenant's default, else 30
 * years; *@set_on says where it came from ("bill_type", "tenant" or "default"). The
 * committed state (or the batch being applied). */
int archive_retention_years(struct archive *a, const char *tenant, const char *bill_type,
                            uint32_t *years, const char **set_on,
                            struct base_err *err) WARN_UNUSED;

/* Until when @bill of @tenant is kept: the later of its stamp and the period its bill
 * type has now (a longer period set later applies to bills already stored; a shorter
 * one never releases them). *@on names what decided ("the bill's stamp", "bill_type",
 * "tenant" or "default"). */
int archive_bill_retained_until(struct archive *a, const char *tenant, const BillRecord *bill,
                                uint64_t *until, const char **on,
                                struct base_err *err) WARN_UNUSED;

/* Applies the command encoded in @buf as raft entry @index. Entries at or below the
 * applied index are skipped (a restart replaying its log). */
int archive_apply(struct archive *a, uint64_t index, const void *buf, size_t len,
                  struct archive_result *res, struct base_err *err) WARN_UNUSED;

/* One packed Command of an entry that holds several. */
struct archive_packed {
    const void *buf;
    size_t len;
};

/* Applies the @n commands of raft entry @index in order, as if each were applied
 * alone, in one write batch with the entry's index: command i's result goes to
 * @res[i], and a refused command changes nothing while its neighbours apply. Only
 * commands archive_command_batchable() names may share an entry; any other is
 * refused in it (the same on every node). ARCHIVE_R_ENTRY_FULL refuses a command
 * whose webhook deliveries found no ids left in the entry: its proposer proposes it
 * again alone. Fails only on a local store error, like archive_apply(). */
int archive_apply_entry(struct archive *a, uint64_t index, const struct archive_packed *cmds,
                        size_t n, struct archive_result *res, struct base_err *err) WARN_UNUSED;
/* Whether @cmd may share a raft entry: the commands a busy archive proposes most
 * (pool pushes, captures, submits), whose apply reads what an earlier command of the
 * same entry wrote only through the write batch. */
bool archive_command_batchable(const Command *cmd);

/* Feature levels (docs/replication.md, "Upgrades"). Every command has the level of the
 * version that introduced it; apply refuses, the same way on every node, a command above
 * the cluster's level, which the leader raises (SetClusterLevel) once every member
 * reports running a version of that level. A node of an older version does not know such
 * a command and refuses it too, so nodes of two versions never apply different commands.
 * Level 0: the commands of 182740d (the build tests/upgrade's data dir was written by);
 * level 1: those added since, up to this version. */
#define ARCHIVE_FEATURE_LEVEL 1
unsigned archive_command_level(const Command *cmd);
/* The cluster's level (0 for a cluster created before levels existed). */
uint32_t archive_cluster_level(struct archive *a);

/* A digest (BLAKE2b-256) of the whole replicated keyspace and the applied index it
 * was taken at: nodes that applied the same log to the same index give the same
 * digest. Scans the store, so call it from a worker thread. BASE_ERETRY when writes
 * kept changing the store during every attempt. */
int archive_digest(struct archive *a, uint8_t out[32], uint64_t *index,
                   struct base_err *err) WARN_UNUSED;

/* Encodes @cmd into a fresh malloc()ed buffer. */
void archive_encode(const Command *cmd, void **buf, size_t *len);

/* The name of @cmd's kind for logs ("pool_push", "add_file"...; "unknown" for a body
 * this build does not know). */
const char *archive_command_name(const Command *cmd);

/* Whether tenant @tenant may add @bytes and @files at @now_ms to bills of image mode
 * @mode (LICENSE_MODE_* bit): ARCHIVE_OK, or the refusal (tenant unknown, no license
 * in force, expired, mode not licensed, byte or file quota) with a message for the
 * client in @msg. Apply uses it with the command's time, the API before it reads an
 * upload's body with the clock. Returns the refusal; *@rv is a store error or 0. */
enum archive_status archive_check_write(struct archive *a, const char *tenant, uint64_t now_ms,
                                        unsigned mode, uint64_t bytes, uint64_t files,
                                        char *msg, size_t msg_size, int *rv,
                                        struct base_err *err);
/* A warning for a license close to expiry (30, 7 and 1 days before), or expired, into
 * @buf; false when there is nothing to warn about. */
bool archive_license_warning(const License *l, uint64_t now_ms, char *buf, size_t size);
/* The warning stage of @l at @now_ms: 30, 7 or 1 (days left at most), 0 when expired,
 * -1 when it is further than 30 days from expiry. */
int archive_license_stage(const License *l, uint64_t now_ms);
/* The stage of tenant @t's license at @now_ms that was not announced yet (for that
 * license), or -1 when none is due. */
int archive_license_warning_due(const TenantRecord *t, uint64_t now_ms);

/* Fills @out with a new random file id. Called by the proposer, never by apply. */
void archive_new_file_id(char out[ARCHIVE_FILE_ID_BYTES + 1]);

/* Validation shared by the API and apply. */
bool archive_valid_image_no(const char *s);
bool archive_valid_tenant(const char *s);
/* cover, invoice or attachment. */
bool archive_builtin_category(const char *s);
/* A built-in category, or what a custom attachment category may be called (whether
 * the tenant defined it is for the state machine to say). */
bool archive_valid_category(const char *s);
#define ARCHIVE_CATEGORY_MAX 31
#define ARCHIVE_INVOICE_FIELD_MAX 64
const char *archive_status_name(enum archive_status status);

/* ---- The ERP's identity of a pool bill (archive/fbill.c) ---- */

#define ARCHIVE_FBILL_ID_MAX 128 /* the ERP's bill id: printable ASCII, no spaces */
#define ARCHIVE_SOURCE_MAX 32    /* the calling system: A-Z a-z 0-9 . _ - */
#define ARCHIVE_PHONE_MAX 32     /* 0-9 + - ( ) and spaces */
#define ARCHIVE_TAX_NO_MAX 32    /* letters and digits */
#define ARCHIVE_POOL_TEXT_MAX 256 /* names: UTF-8 without control characters */
/* Whether @s may be an ERP bill id (fbill_id). */
bool archive_valid_fbill_id(const char *s);
/* Whether the ERP identity fields of pool push @p (fbill_id, source, bill_type_name,
 * submitter_phone, submitter_erp_name, org_name, tax_no; each may be empty) are
 * acceptable; when not, @msg names the first field that is not and what it must be.
 * The API answers with it before proposing; apply refuses the same way. */
bool archive_pool_identity_valid(const PoolPush *p, char *msg, size_t size);
/* The image number of the bill of @tenant whose ERP bill id is @fbill_id, into
 * @image_no: a point read of the index apply keeps with the bills. BASE_ENOTFOUND when
 * no bill has it (or @fbill_id cannot be one). Does not apply an actor's grants: read
 * the bill with archive_get_bill_as() next. Reads like archive_get_bill() (the loop
 * thread; during apply it sees the command's own batch). */
int archive_find_bill_by_fbill_id(struct archive *a, const char *tenant, const char *fbill_id,
                                  char image_no[ARCHIVE_IMAGE_NO_MAX + 1],
                                  struct base_err *err) WARN_UNUSED;

/* ---- Queries: results are unpacked protobuf records the caller frees. ---- */

typedef void (*archive_audit_cb)(const AuditRecord *entry, void *arg);

int archive_get_bill(struct archive *a, const char *tenant, const char *image_no,
                     BillRecord **out, struct base_err *err) WARN_UNUSED;
void archive_free_bill(BillRecord *bill);
/* The bill's files in order; an empty list when it has none. */
int archive_get_order(struct archive *a, const char *tenant, const char *image_no,
                      BillOrder **out, struct base_err *err) WARN_UNUSED;
void archive_free_order(BillOrder *order);
int archive_get_file(struct archive *a, const char *tenant, const char *file_id,
                     FileRecord **out, struct base_err *err) WARN_UNUSED;
void archive_free_file(FileRecord *file);
int archive_get_usage(struct archive *a, const char *tenant, UsageRecord **out,
                      struct base_err *err) WARN_UNUSED;
int archive_get_tenant(struct archive *a, const char *tenant, TenantRecord **out,
                       struct base_err *err) WARN_UNUSED;
void archive_free_tenant(TenantRecord *tenant);
/* True once the cluster's InitCluster command is applied (the default tenant exists). */
bool archive_cluster_initialized(struct archive *a);
/* The cluster's access-token key (32 bytes); false before InitCluster is applied. */
bool archive_token_key(struct archive *a, uint8_t key[32]);
/* True when an earlier request of @tenant with idempotency key @key was applied (a
 * retry is answered from it, whatever the license or quota say now). */
bool archive_idem_known(struct archive *a, const char *tenant, const char *key);
int archive_get_client(struct archive *a, const char *client_id, ClientRecord **out,
                       struct base_err *err) WARN_UNUSED;
void archive_free_client(ClientRecord *client);
/* The clients (business systems) of @tenant, in client id order. */
typedef void (*archive_client_cb)(const ClientRecord *client, void *arg);
int archive_list_clients(struct archive *a, const char *tenant, archive_client_cb cb, void *arg,
                         struct base_err *err) WARN_UNUSED;
typedef void (*archive_tenant_cb)(const TenantRecord *tenant, void *arg);
int archive_list_tenants(struct archive *a, archive_tenant_cb cb, void *arg,
                         struct base_err *err) WARN_UNUSED;
/* Every license installed for @tenant, oldest issue first. */
typedef void (*archive_license_cb)(const License *license, void *arg);
int archive_list_licenses(struct archive *a, const char *tenant, archive_license_cb cb,
                          void *arg, struct base_err *err) WARN_UNUSED;
/* The tenant's admin audit log (tenant created, licenses, clients), entries applied
 * after raft index @after, oldest first, at most @limit; *@more when there are more. */
int archive_list_admin_audit(struct archive *a, const char *tenant, uint64_t after,
                             unsigned limit, archive_audit_cb cb, void *arg, bool *more,
                             struct base_err *err) WARN_UNUSED;
/* Per-organisation usage of @tenant ("" is bills without an organisation). */
typedef void (*archive_org_usage_cb)(const char *org, const UsageRecord *usage, void *arg);
int archive_list_org_usage(struct archive *a, const char *tenant, archive_org_usage_cb cb,
                           void *arg, struct base_err *err) WARN_UNUSED;
void archive_free_usage(UsageRecord *usage);

struct archive_actor;
/* Every condition is exact; NULL (0 for the times) leaves it out; they combine. */
struct archive_bill_filter {
    const char *state;     /* NULL: any */
    const char *bill_type; /* NULL: any */
    const char *org;       /* NULL: any */
    const char *after;     /* cursor: list image numbers greater than this */
    unsigned limit;
    const char *bill_no;    /* the business system's bill number */
    const char *fbill_id;   /* the ERP's bill id: a point read of the index */
    const char *image_no;   /* one bill: a point read */
    uint64_t created_from_ms; /* created at or after (0: no bound) */
    uint64_t created_to_ms;   /* created before (0: no bound) */
    uint64_t updated_from_ms; /* changed at or after (0: no bound) */
    uint64_t updated_to_ms;   /* changed before (0: no bound) */
    /* Only bills this actor sees (archive/access.h), counted before the limit; NULL:
     * every bill. */
    const struct archive_actor *actor;
    /* Without fbill_id or image_no the bills of the tenant are read in image-number
     * order until limit match: at most this many are read (0: no bound), after which
     * the page ends early with more set and resume_after where to go on. */
    unsigned scan_max;
    const char *mode;       /* the image mode decided at submit ("" before); NULL: any */
};
/* Where a listing stopped. */
struct archive_bill_page {
    bool more;          /* further bills may match: list again from resume_after */
    char resume_after[ARCHIVE_IMAGE_NO_MAX + 1]; /* the last bill read, when more */
    unsigned scanned;   /* bill records read */
};
/* Calls @cb for up to filter->limit bills of @tenant in image-number order that match
 * @filter; fills @page (which filter->after must not point into: copy the cursor). */
typedef void (*archive_bill_cb)(const BillRecord *bill, void *arg);
int archive_list_bills(struct archive *a, const char *tenant,
                       const struct archive_bill_filter *filter, archive_bill_cb cb, void *arg,
                       struct archive_bill_page *page, struct base_err *err) WARN_UNUSED;

/* The cross-tenant record of blob @hash (32 bytes): size, references, holders. */
int archive_get_blob(struct archive *a, const uint8_t hash[32], BlobRecord **out,
                     struct base_err *err) WARN_UNUSED;
void archive_free_blob(BlobRecord *blob);

/* ---- Webhooks and deliveries (archive/webhooks.c) ---- */

#define ARCHIVE_WEBHOOKS_MAX 32     /* per tenant */
#define ARCHIVE_DELIVERY_HISTORY 10 /* attempts kept per delivery */

/* Whether @event names an event a webhook can subscribe to ("*": all of them). */
bool archive_webhook_event_known(const char *event);
/* The events, for error messages: "pending_upload, captured, ...". */
const char *archive_webhook_event_names(void);
/* NULL when @url is acceptable for a webhook, else what is wrong with it. */
const char *archive_webhook_url_problem(const char *url);
/* Why @url is not an http(s) URL a node may be given (a host, at most @max bytes
 * (else @too_long), printable ASCII; with @base_only no query or fragment), or NULL.
 * Webhooks take 2048 bytes, data sources' base URLs 512 (ARCHIVE_DATASOURCE_URL_MAX). */
const char *archive_url_problem(const char *url, size_t max, bool base_only,
                                const char *too_long);
#define ARCHIVE_DATASOURCE_URL_MAX 512
bool archive_webhook_wants(const WebhookRecord *w, const char *event);

typedef void (*archive_webhook_cb)(const WebhookRecord *w, void *arg);
int archive_list_webhooks(struct archive *a, const char *tenant, archive_webhook_cb cb,
                          void *arg, struct base_err *err) WARN_UNUSED;
int archive_get_webhook(struct archive *a, const char *tenant, const char *id,
                        WebhookRecord **out, struct base_err *err) WARN_UNUSED;
void archive_free_webhook(WebhookRecord *w);
int archive_get_delivery(struct archive *a, uint64_t id, DeliveryRecord **out,
                         struct base_err *err) WARN_UNUSED;
void archive_free_delivery(DeliveryRecord *d);

struct archive_delivery_filter {
    const char *image_no; /* NULL: every bill and the tenant's own events */
    const char *state;    /* NULL: any */
    unsigned limit;
};
typedef void (*archive_delivery_cb)(const DeliveryRecord *d, void *arg);
/* A tenant's deliveries, per bill in event order; *@more when the limit cut the list. */
int archive_list_deliveries(struct archive *a, const char *tenant,
                            const struct archive_delivery_filter *filter,
                            archive_delivery_cb cb, void *arg, bool *more,
                            struct base_err *err) WARN_UNUSED;
/* Pending deliveries in queue order (id order), from id @after + 1: @cb gets the id and
 * when it is due, and returns false to stop. */
typedef bool (*archive_outbox_cb)(uint64_t id, uint64_t due_ms, void *arg);
int archive_scan_outbox(struct archive *a, uint64_t after, archive_outbox_cb cb, void *arg,
                        struct base_err *err) WARN_UNUSED;

/* ---- Bill types, schemes and matching (archive/schemes.c, archive/match.c) ---- */

bool archive_valid_mode(const char *mode);
typedef void (*archive_category_cb)(const CategoryRecord *c, void *arg);
int archive_list_categories(struct archive *a, const char *tenant, archive_category_cb cb,
                            void *arg, struct base_err *err) WARN_UNUSED;
typedef void (*archive_bill_type_cb)(const BillTypeRecord *t, void *arg);
int archive_list_bill_types(struct archive *a, const char *tenant, archive_bill_type_cb cb,
                            void *arg, struct base_err *err) WARN_UNUSED;
typedef void (*archive_scheme_cb)(const SchemeRecord *s, void *arg);
int archive_list_schemes(struct archive *a, const char *tenant, archive_scheme_cb cb,
                         void *arg, struct base_err *err) WARN_UNUSED;
/* The files captured in batch @batch of @tenant: @cb gets each file's image number and
 * id, in file-id order. */
typedef void (*archive_batch_cb)(const char *image_no, const char *file_id, void *arg);
int archive_list_batch(struct archive *a, const char *tenant, const char *batch,
                       archive_batch_cb cb, void *arg, struct base_err *err) WARN_UNUSED;
/* How a bill of @bill_type in @org is submitted to the ERP under the scheme that applies
 * now: "auto" or "manual" into @submit, or "" when no scheme covers it (then only
 * POST .../erp-submit sends it, as with manual). */
int archive_scheme_submit(struct archive *a, const char *tenant, const char *bill_type,
                          const char *org, char submit[8], struct base_err *err) WARN_UNUSED;
/* A decimal amount ("12", "12.50", "-3.2") in cents; false when it is not one. */
bool archive_amount_cents(const char *s, int64_t *out);
/* Whether a scanned invoice matches a declared one: number and total amount (total, or
 * amount plus tax), and with @standard also code, issue date, amount and tax. */
bool archive_invoices_match(const Invoice *declared, const Invoice *scanned, bool standard);
/* An invoice as the API and the audit log show it; JSON null for NULL. A jansson
 * json_t (declared here without <jansson.h>, which the domain's contract does not
 * need); the caller owns the reference. */
struct json_t;
struct json_t *archive_invoice_json(const Invoice *inv);
/* The first element that differs, for explanations; NULL when they match. */
const char *archive_invoice_mismatch(const Invoice *declared, const Invoice *scanned,
                                     bool standard);

/* Calls @cb for every audit entry of a bill, oldest first. */
int archive_list_audit(struct archive *a, const char *tenant, const char *image_no,
                       archive_audit_cb cb, void *arg, struct base_err *err) WARN_UNUSED;

/* ---- The recognition hook (archive/recognition.c, apply_recognition.c) ---- */

/* Longest invoice field a recognition answer may fill (bytes), and longest error kept. */
#define ARCHIVE_RECOGNITION_FIELD_MAX ARCHIVE_INVOICE_FIELD_MAX
#define ARCHIVE_RECOGNITION_ERROR_MAX 300
/* A file's recognition state as the API shows it ({"state", "attempts", "error",
 * "http_status", "requested", "updated", "next_attempt"}); JSON null for NULL. */
struct json_t *archive_recognition_json(const Recognition *r);
/* Whether a file of @format (FileRecord.format: "jpg", "png"...) is an image the
 * recognition hook reads. */
bool archive_recognition_format(const char *format);
/* NULL when @inv is invoice data recognition may set (a number, fields no longer than
 * ARCHIVE_RECOGNITION_FIELD_MAX, valid UTF-8 without control characters, amounts
 * decimal), else what is wrong. Apply and the dispatcher check alike. */
const char *archive_recognition_invoice_problem(const Invoice *inv);
/* Parses a recognition service's answer @body (@len bytes, untrusted): a JSON object
 * with an "invoice" object of strings (number, code, date, amount, tax, total; unknown
 * members are ignored). On success fills @out (initialised here; its strings are
 * malloc()ed: archive_recognition_invoice_clear() frees them) and returns 0; else
 * BASE_EINVAL with @why saying what is wrong, @out untouched. */
int archive_recognition_answer(const char *body, size_t len, Invoice *out, char *why,
                               size_t why_size) WARN_UNUSED;
void archive_recognition_invoice_clear(Invoice *inv);
/* Files waiting for recognition, in (tenant, file id) order after (@after_tenant,
 * @after_file) (both "" to start): @cb gets each one's tenant, file id and when its next
 * attempt is due, and returns false to stop. */
typedef bool (*archive_recognition_cb)(const char *tenant, const char *file_id,
                                       uint64_t due_ms, void *arg);
int archive_scan_recognition(struct archive *a, const char *after_tenant,
                             const char *after_file, archive_recognition_cb cb, void *arg,
                             struct base_err *err) WARN_UNUSED;

#endif
