/* Fuzz target: sequences of protobuf Commands applied by archive_apply() to real
 * RocksDB stores (archive/apply.c and the apply_*.c files).
 *
 * Every input starts from the same small archive (restored from a snapshot of the
 * prelude applied once at start: a cluster with the default tenant, bills CB-A (match
 * mode, one declared invoice) and CB-B (sync mode) with files, a webhook, an
 * organisation, a role, a user, a licensed second tenant, a node, a data source and a
 * running migration batch M1, listed in part, with a pending, a failed and a skipped
 * bill), then applies up to
 * MAX_COMMANDS commands read from the input:
 *   - op byte >= 0xF0: a length byte and that many bytes, applied as the packed
 *     Command as raft would hand it over (the decoder's path);
 *   - op byte 0xE0-0xEF: a shared raft entry of 2 to 8 commands built as below, applied
 *     by archive_apply_entry();
 *   - otherwise a Command built from the input through the protobuf descriptors: the
 *     op picks the body, every field is filled from the input, strings from a small
 *     vocabulary of the prelude's ids (image numbers, file ids of both bills, tenants,
 *     categories, users...) or from the input, so edits name existing bills and files,
 *     including files of the other bill.
 * A quarter of the inputs are applied to two stores; the results and the digests of the
 * two stores must be equal (apply is deterministic). Apply must never crash, leak, assert
 * or fail with an I/O error, every bill and the tenants' usage must stay consistent
 * (fuzz_check_archive()), and each migration batch's counts must be those of its bills'
 * states. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/migration.h"
#include "base/mem.h"
#include "storage/snapshot.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_COMMANDS 32
#define MAX_DEPTH 3
#define T0 1700000000000ull

static struct rocks *db[2];
static struct archive arc[2];
/* The store after the prelude, as a snapshot: each input starts by restoring it. */
static void *prelude_snap;
static size_t prelude_len;
static uint64_t prelude_next;

/* ---- Vocabulary ---- */

static const char *const IMAGES[] = {"CB-A", "CB-B", "CB-C", "cb-a"};
static const char *const FILES[] = {
    "f00000000000000000000000000000a1", "f00000000000000000000000000000a2",
    "f00000000000000000000000000000a3", "f00000000000000000000000000000b1",
    "f00000000000000000000000000000b2", "f0000000000000000000000000000099", ""};
static const char *const WORDS[] = {
    "default", "t2", "", "cover", "invoice", "attachment", "custom1", "basic", "sync",
    "match", "normal", "standard", "auto", "manual", "u1", "r1", "o1", "o2", "*", "read",
    "edit", "admin", "captured", "ready", "http://example.com/hook", "BT1", "INV-1",
    "12.50", "1.50", "2026-01-01", "draining", "out", "127.0.0.1:7001", "z1", "W1",
    "L1", "b1", "a.pdf", "pdf", "BT2", "erp_submit", "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
    "u2", "tenant_admin", "c1", "scanner", "M1", "M2", "mig-src", "start", "pause",
    "resume", "retry", "cancel", "ds1", "vendor", "imgarc",
    "https://src.example/ierp", "/kapi/app/bds/queryBillList",
    /* The invoice-data sync (apply_sync.c): the prelude's data source, run and fields. */
    "old", "02:00", "daily-2026-12-06", "2026-12-06", "scheduled", "full", "bill", "tax",
    "given_up",
    /* Legal holds (apply_holds.c): a well-formed hold id, so holds are placed, refuse
     * deletions and are lifted. */
    "h0123456789abcdef", "hold"};

static const uint64_t NUMBERS[] = {0, 1, 2, 3, 4, 5, 90, 180, 270, 1000, 86400000,
                                   0xFFFFFFFFull, 0x7FFFFFFFFFFFFFFFull, UINT64_MAX, T0};
static const int64_t SIGNED[] = {0, 1, -1, 90, -90, 180, -180, 270, 360, INT32_MIN, INT32_MAX};

static uint8_t hash_of(unsigned i, uint8_t out[32])
{
    memset(out, 0, 32);
    out[0] = (uint8_t)(0xA0 + i);
    return out[0];
}

/* ---- Building messages from the input ---- */

static char *str_for(struct fuzz_in *in, const char *field)
{
    uint8_t sel = fuzz_u8(in);
    if (sel >= 224) {
        return fuzz_str(in, 80);
    }
    if (strstr(field, "image_no") != NULL) {
        return xstrdup(IMAGES[sel % ARRAY_SIZE(IMAGES)]);
    }
    if (strstr(field, "file_id") != NULL || strcmp(field, "after") == 0 ||
        strcmp(field, "replace") == 0) {
        return xstrdup(FILES[sel % ARRAY_SIZE(FILES)]);
    }
    return xstrdup(WORDS[sel % ARRAY_SIZE(WORDS)]);
}

static ProtobufCBinaryData bytes_for(struct fuzz_in *in)
{
    uint8_t sel = fuzz_u8(in);
    ProtobufCBinaryData b;
    if (sel < 160) {
        b.len = 32;
        b.data = xmalloc(32);
        hash_of(sel % 5, b.data);
    } else {
        char *s = fuzz_str(in, 64);
        b.len = strlen(s);
        b.data = (uint8_t *)s;
    }
    return b;
}

static uint64_t number_for(struct fuzz_in *in)
{
    uint8_t sel = fuzz_u8(in);
    return sel < 200 ? NUMBERS[sel % ARRAY_SIZE(NUMBERS)] : fuzz_u64(in);
}

static int64_t signed_for(struct fuzz_in *in)
{
    uint8_t sel = fuzz_u8(in);
    return sel < 200 ? SIGNED[sel % ARRAY_SIZE(SIGNED)] : (int64_t)fuzz_u64(in);
}

static ProtobufCMessage *build(const ProtobufCMessageDescriptor *d, struct fuzz_in *in,
                               int depth);

/* One value of field @f into @slot (the field itself, or an element of its array). */
static void fill_value(const ProtobufCFieldDescriptor *f, void *slot, struct fuzz_in *in,
                       int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        *(char **)slot = str_for(in, f->name);
        break;
    case PROTOBUF_C_TYPE_BYTES:
        *(ProtobufCBinaryData *)slot = bytes_for(in);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)slot = fuzz_u8(in) & 1;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        *(uint32_t *)slot = (uint32_t)number_for(in);
        break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)slot = (int32_t)signed_for(in);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)slot = number_for(in);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)slot = signed_for(in);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)slot =
            depth < MAX_DEPTH ? build(f->descriptor, in, depth + 1) : NULL;
        break;
    default:
        break;
    }
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    default:
        return 4;
    }
}

/* A message of type @d with every field taken from the input (malloc()ed throughout,
 * so protobuf_c_message_free_unpacked() frees it). */
static ProtobufCMessage *build(const ProtobufCMessageDescriptor *d, struct fuzz_in *in,
                               int depth)
{
    ProtobufCMessage *m = xcalloc(1, d->sizeof_message);
    d->message_init(m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *field = (char *)m + f->offset;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            continue; /* Command's body is chosen by the caller */
        }
        if (fuzz_u8(in) % 8 == 0) {
            continue; /* left at its default */
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = fuzz_u8(in) % 5, size = value_size(f);
            uint8_t *array = n > 0 ? xcalloc(n, size) : NULL;
            for (size_t k = 0; k < n; k++) {
                fill_value(f, array + k * size, in, depth);
                if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
                    *(ProtobufCMessage **)(array + k * size) == NULL) {
                    n = k; /* too deep: a shorter list */
                    break;
                }
            }
            if (n == 0) {
                free(array);
                array = NULL;
            }
            *(size_t *)((char *)m + f->quantifier_offset) = n;
            *(void **)field = array;
        } else {
            fill_value(f, field, in, depth);
        }
    }
    return m;
}

/* A Command with body @body_field, from the input. */
static Command *build_command(const ProtobufCFieldDescriptor *body_field, struct fuzz_in *in,
                              uint64_t *clock)
{
    Command *cmd = (Command *)build(&command__descriptor, in, 0);
    uint8_t t = fuzz_u8(in);
    /* Mostly a clock that moves forward, as proposers stamp it. */
    *clock += (uint64_t)(t & 0x7F) * 60000;
    if (t < 0xF0) {
        cmd->time_ms = *clock;
    }
    if ((t & 0x80) == 0) {
        if (cmd->tenant != protobuf_c_empty_string) {
            free(cmd->tenant);
        }
        cmd->tenant = xstrdup("default");
    }
    *(uint32_t *)((char *)cmd + body_field->quantifier_offset) = body_field->id;
    *(ProtobufCMessage **)((char *)cmd + body_field->offset) =
        build(body_field->descriptor, in, 1);
    return cmd;
}

/* ---- The prelude ---- */

/* Whether this input is applied to the second store too (a quarter of the inputs, chosen
 * by the input itself so a saved input reproduces): the determinism check. */
static int n_stores = 2;
/* IMGARC_FUZZ_ECHO set: every result is printed (for reproducing). */
static bool echo;
static bool in_prelude;

static void apply_both(const void *buf, size_t len, uint64_t index)
{
    struct archive_result res[2];
    struct base_err err = {{0}};
    for (int s = 0; s < n_stores; s++) {
        if (archive_apply(&arc[s], index, buf, len, &res[s], &err) != 0) {
            fprintf(stderr, "apply of entry %llu failed: %s\n", (unsigned long long)index,
                    err.msg);
            abort();
        }
    }
    if (echo) {
        fprintf(stderr, "entry %llu: %s %s\n", (unsigned long long)index,
                archive_status_name(res[0].status), res[0].message);
    }
    if (in_prelude && res[0].status != ARCHIVE_OK) {
        fprintf(stderr, "prelude entry %llu refused: %s\n", (unsigned long long)index,
                res[0].message);
        abort();
    }
    if (n_stores == 2 && (res[0].status != res[1].status || strcmp(res[0].message, res[1].message) != 0 ||
        strcmp(res[0].file_id, res[1].file_id) != 0 || res[0].position != res[1].position ||
        strcmp(res[0].state, res[1].state) != 0)) {
        fprintf(stderr, "apply of entry %llu differs between two stores: %s / %s\n",
                (unsigned long long)index, res[0].message, res[1].message);
        abort();
    }
}

/* The @n packed commands as one raft entry (archive_apply_entry()), to both stores:
 * results must be equal, command by command. */
static void apply_entry_both(const struct archive_packed *cmds, size_t n, uint64_t index)
{
    struct archive_result res[2][8];
    struct base_err err = {{0}};
    ASSERT(n <= 8);
    for (int s = 0; s < n_stores; s++) {
        if (archive_apply_entry(&arc[s], index, cmds, n, res[s], &err) != 0) {
            fprintf(stderr, "apply of shared entry %llu failed: %s\n",
                    (unsigned long long)index, err.msg);
            abort();
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (echo) {
            fprintf(stderr, "entry %llu.%zu: %s %s\n", (unsigned long long)index, i,
                    archive_status_name(res[0][i].status), res[0][i].message);
        }
        if (n_stores == 2 && (res[0][i].status != res[1][i].status ||
                              strcmp(res[0][i].message, res[1][i].message) != 0 ||
                              strcmp(res[0][i].file_id, res[1][i].file_id) != 0 ||
                              strcmp(res[0][i].state, res[1][i].state) != 0)) {
            fprintf(stderr, "shared entry %llu.%zu differs between two stores\n",
                    (unsigned long long)index, i);
            abort();
        }
    }
}

static void apply_cmd(Command *cmd, uint64_t index)
{
    void *buf;
    size_t len;
    archive_encode(cmd, &buf, &len);
    apply_both(buf, len, index);
    free(buf);
}

static void add_file(const char *image_no, const char *file_id, unsigned blob,
                     const char *category, uint64_t index)
{
    Command cmd = COMMAND__INIT;
    AddFile f = ADD_FILE__INIT;
    Invoice inv = INVOICE__INIT;
    uint8_t h[32];
    hash_of(blob, h);
    cmd.tenant = "default";
    cmd.time_ms = T0 + index;
    cmd.body_case = COMMAND__BODY_ADD_FILE;
    cmd.add_file = &f;
    f.image_no = (char *)image_no;
    f.file_id = (char *)file_id;
    f.name = "scan.pdf";
    f.format = "pdf";
    f.size = 1000 + blob;
    f.pages = 1;
    f.category = (char *)category;
    f.blob.data = h;
    f.blob.len = 32;
    if (strcmp(category, "invoice") == 0) {
        inv.number = "INV-1";
        inv.total = "12.50";
        f.invoice = &inv;
    }
    apply_cmd(&cmd, index);
}

/* Migration batch M1 of data source mig-src, started, listed in part (bills CB-A,
 * CB-B and CB-C), CB-B failed and CB-C skipped: the operator's commands and the
 * runner's meet bills of every kind. Returns the next index. */
static uint64_t prelude_migration(uint64_t i)
{
    DataSourceRecord ds = DATA_SOURCE_RECORD__INIT;
    PutDataSource put = PUT_DATA_SOURCE__INIT;
    CreateMigration create = CREATE_MIGRATION__INIT;
    MigrationAction start = MIGRATION_ACTION__INIT;
    MigrationListed listed = MIGRATION_LISTED__INIT;
    MigrationBill bills[3] = {MIGRATION_BILL__INIT, MIGRATION_BILL__INIT, MIGRATION_BILL__INIT};
    MigrationBill *listed_bills[3];
    MigrationBillFailed failed = MIGRATION_BILL_FAILED__INIT;
    SkipMigrationBills skip = SKIP_MIGRATION_BILLS__INIT;
    char *skipped[] = {"CB-C"};
    Command cmd;

#define STEP(body_enum, field, value)                                                    \
    cmd = (Command)COMMAND__INIT;                                                        \
    cmd.tenant = "default";                                                              \
    cmd.time_ms = T0 + i;                                                                \
    cmd.body_case = body_enum;                                                           \
    cmd.field = value;                                                                   \
    apply_cmd(&cmd, i++)

    ds.name = "mig-src";
    ds.kind = "imgarc";
    ds.url = "http://192.0.2.1";
    ds.source_tenant = "old";
    ds.client_id = "c";
    ds.secret = "fuzz-source-secret";
    put.source = &ds;
    put.create = true;
    STEP(COMMAND__BODY_PUT_DATA_SOURCE, put_data_source, &put);
    create.batch_no = "M1";
    create.datasource = "mig-src";
    STEP(COMMAND__BODY_CREATE_MIGRATION, create_migration, &create);
    start.batch_no = "M1";
    start.action = "start";
    STEP(COMMAND__BODY_MIGRATION_ACTION, migration_action, &start);
    for (size_t b = 0; b < ARRAY_SIZE(bills); b++) {
        static const char *const numbers[] = {"CB-A", "CB-B", "CB-C"};
        bills[b].image_no = (char *)numbers[b];
        bills[b].bill_no = "ER-9";
        bills[b].bill_type = "BT1";
        bills[b].org = "o1";
        listed_bills[b] = &bills[b];
    }
    listed.batch_no = "M1";
    listed.next_cursor = "2";
    listed.bills = listed_bills;
    listed.n_bills = ARRAY_SIZE(bills);
    STEP(COMMAND__BODY_MIGRATION_LISTED, migration_listed, &listed);
    failed.batch_no = "M1";
    failed.image_no = "CB-B";
    failed.reason = "the source answered 500";
    STEP(COMMAND__BODY_MIGRATION_BILL_FAILED, migration_bill_failed, &failed);
    skip.batch_no = "M1";
    skip.image_nos = skipped;
    skip.n_image_nos = 1;
    skip.skip = true;
    STEP(COMMAND__BODY_SKIP_MIGRATION_BILLS, skip_migration_bills, &skip);
#undef STEP
    return i;
}

/* Applies the prelude; returns the next index. */
static uint64_t prelude(void)
{
    uint64_t i = 1;
    uint8_t key[32] = {1};
    Command cmd;
    InitCluster init = INIT_CLUSTER__INIT;
    PoolPush push = POOL_PUSH__INIT;
    CreateWebhook hook = CREATE_WEBHOOK__INIT;
    CreateOrg org = CREATE_ORG__INIT;
    CreateRole role = CREATE_ROLE__INIT;
    CreateUser user = CREATE_USER__INIT;
    RegisterNode node = REGISTER_NODE__INIT;
    CreateTenant tenant = CREATE_TENANT__INIT;
    InstallLicense install = INSTALL_LICENSE__INIT;
    License license = LICENSE__INIT;
    CreateBillType bill_type = CREATE_BILL_TYPE__INIT;
    SetScheme scheme = SET_SCHEME__INIT;
    Invoice invoice = INVOICE__INIT;
    Invoice *invoices[] = {&invoice};
    char *events[] = {"*"}, *perms[] = {"read", "edit"}, *roles[] = {"r1"};
    char *admin_roles[1];
    CreateClient client = CREATE_CLIENT__INIT;
    DataSourceRecord source = DATA_SOURCE_RECORD__INIT;
    PutDataSource put_source = PUT_DATA_SOURCE__INIT;
    PutDataSource put_ds = PUT_DATA_SOURCE__INIT;
    DataSourceRecord ds = DATA_SOURCE_RECORD__INIT;
    PutSyncSettings put_sync = PUT_SYNC_SETTINGS__INIT;
    SyncSettings sync = SYNC_SETTINGS__INIT;
    CreateSyncRun sync_run = CREATE_SYNC_RUN__INIT;
    char *sync_orgs[] = {"o1"}, *sync_protect[] = {"tax"};

#define PRELUDE(body_enum, field, value)                                                 \
    cmd = (Command)COMMAND__INIT;                                                        \
    cmd.tenant = "default";                                                              \
    cmd.time_ms = T0 + i;                                                                \
    cmd.body_case = body_enum;                                                           \
    cmd.field = value;                                                                   \
    apply_cmd(&cmd, i++)

    init.token_key.data = key;
    init.token_key.len = 32;
    init.level = ARCHIVE_FEATURE_LEVEL;
    PRELUDE(COMMAND__BODY_INIT_CLUSTER, init_cluster, &init);
    hook.id = "W1";
    hook.url = "http://example.com/hook";
    hook.events = events;
    hook.n_events = 1;
    hook.secret = "s3cret-s3cret-s3cret";
    PRELUDE(COMMAND__BODY_CREATE_WEBHOOK, create_webhook, &hook);
    org.id = "o1";
    org.name = "Org one";
    PRELUDE(COMMAND__BODY_CREATE_ORG, create_org, &org);
    source.name = "ds1";
    source.kind = "vendor";
    source.url = "https://src.example/ierp";
    source.source_tenant = "t2";
    source.client_id = "c1";
    source.secret = "s3cret";
    source.user = "u1";
    put_source.source = &source;
    put_source.create = true;
    PRELUDE(COMMAND__BODY_PUT_DATA_SOURCE, put_data_source, &put_source);
    role.name = "r1";
    role.permissions = perms;
    role.n_permissions = 2;
    PRELUDE(COMMAND__BODY_CREATE_ROLE, create_role, &role);
    user.username = "u1";
    user.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
    user.roles = roles;
    user.n_roles = 1;
    PRELUDE(COMMAND__BODY_CREATE_USER, create_user, &user);
    /* An admin, so that user edits meet the last-admin rule, and a client to rotate. */
    user.username = "u2";
    admin_roles[0] = "tenant_admin";
    user.roles = admin_roles;
    PRELUDE(COMMAND__BODY_CREATE_USER, create_user, &user);
    client.client_id = "c1";
    client.name = "ERP";
    client.secret_hash.data = key;
    client.secret_hash.len = 32;
    PRELUDE(COMMAND__BODY_CREATE_CLIENT, create_client, &client);
    node.id = 1;
    node.http = "127.0.0.1:7000";
    node.raft = "127.0.0.1:7001";
    node.zone = "z1";
    PRELUDE(COMMAND__BODY_REGISTER_NODE, register_node, &node);
    tenant.id = "t2";
    tenant.name = "Tenant two";
    PRELUDE(COMMAND__BODY_CREATE_TENANT, create_tenant, &tenant);
    license.license_id = "L1";
    license.tenant = "t2";
    license.issued_ms = T0;
    license.expires_ms = T0 + 365 * 86400000ull;
    license.quota_bytes = 1 << 30;
    license.modes = 7;
    license.document = "{}";
    install.license = &license;
    cmd = (Command)COMMAND__INIT;
    cmd.tenant = "t2";
    cmd.time_ms = T0 + i;
    cmd.body_case = COMMAND__BODY_INSTALL_LICENSE;
    cmd.install_license = &install;
    apply_cmd(&cmd, i++);
    bill_type.code = "BT1";
    bill_type.name = "Travel";
    bill_type.mode = "match";
    PRELUDE(COMMAND__BODY_CREATE_BILL_TYPE, create_bill_type, &bill_type);
    scheme.bill_type = "BT1";
    scheme.match = "normal";
    scheme.submit = "auto";
    PRELUDE(COMMAND__BODY_SET_SCHEME, set_scheme, &scheme);
    push.image_no = "CB-A";
    push.bill_no = "ER-1";
    push.bill_type = "BT1";
    push.org = "o1";
    push.amount = "12.50";
    invoice.number = "INV-1";
    invoice.total = "12.50";
    push.invoices = invoices;
    push.n_invoices = 1;
    PRELUDE(COMMAND__BODY_POOL_PUSH, pool_push, &push);
    bill_type.code = "BT2";
    bill_type.name = "Purchase";
    bill_type.mode = "sync";
    PRELUDE(COMMAND__BODY_CREATE_BILL_TYPE, create_bill_type, &bill_type);
    scheme.bill_type = "BT2";
    scheme.submit = "manual";
    PRELUDE(COMMAND__BODY_SET_SCHEME, set_scheme, &scheme);
    push.image_no = "CB-B";
    push.bill_no = "ER-2";
    push.bill_type = "BT2";
    push.n_invoices = 0;
    PRELUDE(COMMAND__BODY_POOL_PUSH, pool_push, &push);
    /* The invoice-data sync: a data source, settings and a run with a known id. */
    ds.name = "old";
    ds.kind = "imgarc";
    ds.url = "https://old.example.com";
    ds.source_tenant = "default";
    ds.client_id = "c1";
    ds.secret = "s3cret";
    put_ds.source = &ds;
    put_ds.create = true;
    PRELUDE(COMMAND__BODY_PUT_DATA_SOURCE, put_data_source, &put_ds);
    sync.datasource = "old";
    sync.enabled = true;
    sync.daily_at = "02:00";
    sync.orgs = sync_orgs;
    sync.n_orgs = 1;
    sync.protected_fields = sync_protect;
    sync.n_protected_fields = 1;
    put_sync.settings = &sync;
    PRELUDE(COMMAND__BODY_PUT_SYNC_SETTINGS, put_sync_settings, &put_sync);
    sync_run.run_id = "daily-2026-12-06";
    sync_run.kind = "scheduled";
    sync_run.date = "2026-12-06";
    PRELUDE(COMMAND__BODY_CREATE_SYNC_RUN, create_sync_run, &sync_run);
#undef PRELUDE
    add_file("CB-A", FILES[0], 0, "cover", i++);
    add_file("CB-A", FILES[1], 1, "invoice", i++);
    add_file("CB-A", FILES[2], 2, "attachment", i++);
    add_file("CB-B", FILES[3], 3, "cover", i++);
    add_file("CB-B", FILES[4], 1, "attachment", i++);
    i = prelude_migration(i);
    return i;
}

/* ---- Checks after a sequence ---- */

/* Each batch's counts are those of its bills' states, whatever was applied. */
struct batch_counts {
    uint64_t bills, pending, migrated, failed, skipped;
};

static bool count_bill(const MigrationBill *b, void *arg)
{
    struct batch_counts *c = arg;
    c->bills++;
    if (strcmp(b->state, MIGRATION_BILL_PENDING) == 0 ||
        strcmp(b->state, MIGRATION_BILL_CHECKED) == 0) {
        c->pending++;
    } else if (strcmp(b->state, MIGRATION_BILL_MIGRATED) == 0 ||
               strcmp(b->state, MIGRATION_BILL_PRESENT) == 0) {
        c->migrated++;
    } else if (strcmp(b->state, MIGRATION_BILL_FAILED) == 0) {
        c->failed++;
    } else if (strcmp(b->state, MIGRATION_BILL_SKIPPED) == 0) {
        c->skipped++;
    }
    return true;
}

static bool check_batch(const MigrationRecord *m, void *arg)
{
    struct base_err err = {{0}};
    struct batch_counts c = {0};
    struct archive *a = arg;
    ASSERT(archive_each_migration_bill(a, m->tenant, m->batch_no, "", count_bill, &c, &err) ==
           0);
    if (c.bills != m->bills || c.pending != m->pending || c.migrated != m->migrated ||
        c.failed != m->failed || c.skipped != m->skipped) {
        fprintf(stderr,
                "batch %s counts %llu/%llu/%llu/%llu/%llu, its bills %llu/%llu/%llu/%llu/%llu "
                "(bills/pending/migrated/failed/skipped)\n",
                m->batch_no, (unsigned long long)m->bills, (unsigned long long)m->pending,
                (unsigned long long)m->migrated, (unsigned long long)m->failed,
                (unsigned long long)m->skipped, (unsigned long long)c.bills,
                (unsigned long long)c.pending, (unsigned long long)c.migrated,
                (unsigned long long)c.failed, (unsigned long long)c.skipped);
        abort();
    }
    return true;
}

static void check_stores(void)
{
    struct base_err err = {{0}};
    uint8_t d[2][32];
    uint64_t index[2];
    if (n_stores == 2) {
        for (int s = 0; s < 2; s++) {
            ASSERT(archive_digest(&arc[s], d[s], &index[s], &err) == 0);
        }
        if (index[0] != index[1] || memcmp(d[0], d[1], 32) != 0) {
            fprintf(stderr, "two stores that applied the same commands differ\n");
            abort();
        }
    }
    fuzz_check_archive(&arc[0], "default");
    fuzz_check_archive(&arc[0], "t2");
    ASSERT(archive_list_migrations(&arc[0], "default", check_batch, &arc[0], &err) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct base_err err = {{0}};
    (void)argc;
    (void)argv;
    fuzz_init();
    echo = getenv("IMGARC_FUZZ_ECHO") != NULL;
    for (int s = 0; s < 2; s++) {
        db[s] = fuzz_store_open(s == 0 ? "apply-a" : "apply-b");
        ASSERT(archive_open(&arc[s], db[s], &err) == 0);
    }
    in_prelude = true;
    prelude_next = prelude();
    in_prelude = false;
    ASSERT(storage_snapshot_encode(db[0], arc[0].applied_index, &prelude_snap, &prelude_len,
                                   &err) == 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct base_err err = {{0}};
    const ProtobufCMessageDescriptor *cd = &command__descriptor;
    unsigned n_bodies = 0, first_body = 0;
    uint64_t clock = T0 + 1000, index;
    for (unsigned i = 0; i < cd->n_fields; i++) {
        if (cd->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (n_bodies++ == 0) {
                first_body = i;
            }
        }
    }
    n_stores = size % 4 == 0 ? 2 : 1;
    for (int s = 0; s < n_stores; s++) {
        ASSERT(storage_snapshot_restore(db[s], prelude_snap, prelude_len, &err) == 0 &&
               archive_open(&arc[s], db[s], &err) == 0);
    }
    index = prelude_next;
    for (unsigned n = 0; n < MAX_COMMANDS && in.len > 0; n++) {
        uint8_t op = fuzz_u8(&in);
        if (op >= 0xE0 && op < 0xF0) {
            /* A shared entry of 2 to 8 commands built from the input, as a leader
             * gathers pool pushes, captures and submits (others are refused in it). */
            struct archive_packed cmds[8];
            size_t k = 2 + (op & 7) % 7;
            for (size_t i = 0; i < k; i++) {
                static const char *const shareable[] = {"pool_push", "add_file", "submit"};
                uint8_t b = fuzz_u8(&in);
                const ProtobufCFieldDescriptor *body =
                    b >= 0x40 ? protobuf_c_message_descriptor_get_field_by_name(
                                    cd, shareable[b % 3])
                              : &cd->fields[first_body + b % n_bodies];
                Command *cmd = build_command(body, &in, &clock);
                void *buf;
                archive_encode(cmd, &buf, &cmds[i].len);
                cmds[i].buf = buf;
                command__free_unpacked(cmd, NULL);
            }
            apply_entry_both(cmds, k, index++);
            for (size_t i = 0; i < k; i++) {
                free((void *)cmds[i].buf);
            }
        } else if (op >= 0xF0) {
            size_t len = fuzz_u8(&in);
            uint8_t *raw;
            if (len > in.len) {
                len = in.len;
            }
            raw = xmalloc(len + 1);
            memcpy(raw, in.p, len);
            in.p += len;
            in.len -= len;
            apply_both(raw, len, index++);
            free(raw);
        } else {
            const ProtobufCFieldDescriptor *body = &cd->fields[first_body + op % n_bodies];
            Command *cmd = build_command(body, &in, &clock);
            apply_cmd(cmd, index++);
            command__free_unpacked(cmd, NULL);
        }
    }
    check_stores();
    return 0;
}
