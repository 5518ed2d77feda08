#include "tests/unit/archive/archive_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"

void fx_open(struct fx *f)
{
    struct base_err err;
    assert_true(sodium_init() >= 0);
    f->dir = testlib_tmpdir();
    assert_int_equal(archive_store_open(&f->db, f->dir, &err), 0);
    assert_int_equal(archive_open(&f->a, f->db, &err), 0);
}

void fx_reopen(struct fx *f)
{
    struct base_err err;
    rocks_close(f->db);
    assert_int_equal(archive_store_open(&f->db, f->dir, &err), 0);
    assert_int_equal(archive_open(&f->a, f->db, &err), 0);
}

void fx_close(struct fx *f)
{
    rocks_close(f->db);
    testlib_rm_rf(f->dir);
}

void fx_init_cluster(struct fx *f)
{
    Command cmd = COMMAND__INIT;
    InitCluster ic = INIT_CLUSTER__INIT;
    uint8_t key[32] = {7};
    struct archive_result res;
    ic.token_key.data = key;
    ic.token_key.len = sizeof key;
    ic.level = ARCHIVE_FEATURE_LEVEL;
    cmd.body_case = COMMAND__BODY_INIT_CLUSTER;
    cmd.init_cluster = &ic;
    fx_apply_as(f, "default", FX_T0, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
}

static struct fx fixture;

int fx_setup_empty(void **state)
{
    memset(&fixture, 0, sizeof fixture);
    fx_open(&fixture);
    *state = &fixture;
    return 0;
}

int fx_setup(void **state)
{
    int rv = fx_setup_empty(state);
    fx_init_cluster(&fixture);
    return rv;
}

int fx_teardown(void **state)
{
    fx_close(*state);
    return 0;
}

void fx_stamp(Command *cmd, const char *tenant, uint64_t time_ms)
{
    cmd->tenant = (char *)tenant;
    cmd->request_id = "req";
    cmd->operator_ = "tester";
    cmd->time_ms = time_ms;
    cmd->idempotency_key = "";
}

void fx_apply_at(struct fx *f, uint64_t index, Command *cmd, struct archive_result *res)
{
    struct base_err err;
    void *buf;
    size_t len;
    archive_encode(cmd, &buf, &len);
    assert_int_equal(archive_apply(&f->a, index, buf, len, res, &err), 0);
    free(buf);
}

void fx_apply(struct fx *f, Command *cmd, struct archive_result *res)
{
    fx_apply_at(f, ++f->index, cmd, res);
}

void fx_apply_as(struct fx *f, const char *tenant, uint64_t time_ms, Command *cmd,
                 struct archive_result *res)
{
    fx_stamp(cmd, tenant, time_ms);
    fx_apply(f, cmd, res);
}

void fx_apply_ok(struct fx *f, const char *tenant, uint64_t time_ms, Command *cmd)
{
    struct archive_result res;
    fx_apply_as(f, tenant, time_ms, cmd, &res);
    if (res.status != ARCHIVE_OK) {
        fprintf(stderr, "command %d refused: %s\n", (int)cmd->body_case, res.message);
    }
    assert_int_equal(res.status, ARCHIVE_OK);
}

void fx_create_user(struct fx *f, const char *username, const char *role)
{
    Command cmd = COMMAND__INIT;
    CreateUser c = CREATE_USER__INIT;
    char *roles[1] = {(char *)role};
    c.username = (char *)username;
    c.name = (char *)username;
    c.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
    c.roles = roles;
    c.n_roles = 1;
    cmd.body_case = COMMAND__BODY_CREATE_USER;
    cmd.create_user = &c;
    fx_apply_ok(f, "default", FX_T0, &cmd);
}

void fx_create_tenant(struct fx *f, const char *id, const char *name,
                      struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    CreateTenant c = CREATE_TENANT__INIT;
    c.id = (char *)id;
    c.name = (char *)name;
    cmd.body_case = COMMAND__BODY_CREATE_TENANT;
    cmd.create_tenant = &c;
    fx_apply_as(f, id, FX_T0, &cmd, res);
}

void fx_install_license(struct fx *f, const char *tenant, const char *id, uint64_t issued_ms,
                        uint64_t expires_ms, uint64_t quota_bytes, uint64_t max_files,
                        unsigned modes, uint64_t now_ms, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    InstallLicense il = INSTALL_LICENSE__INIT;
    License l = LICENSE__INIT;
    l.license_id = (char *)id;
    l.tenant = (char *)tenant;
    l.issued_ms = issued_ms;
    l.expires_ms = expires_ms;
    l.quota_bytes = quota_bytes;
    l.max_files = max_files;
    l.modes = modes;
    l.document = "{}";
    il.license = &l;
    cmd.body_case = COMMAND__BODY_INSTALL_LICENSE;
    cmd.install_license = &il;
    fx_apply_as(f, tenant, now_ms, &cmd, res);
}

void fx_add_file_cmd(Command *cmd, AddFile *a, uint8_t *blob, const char *image_no,
                     const char *file_id, const char *name)
{
    cmd->request_digest.data = blob;
    cmd->request_digest.len = 32;
    a->image_no = (char *)image_no;
    a->file_id = (char *)file_id;
    a->name = (char *)name;
    a->format = "pdf";
    a->size = 1000;
    a->pages = 1;
    a->blob.data = blob;
    a->blob.len = 32;
    cmd->body_case = COMMAND__BODY_ADD_FILE;
    cmd->add_file = a;
}

void fx_add_file(struct fx *f, const char *image_no, const char *file_id, const char *name,
                 const char *idem, uint8_t blob_byte, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    AddFile a = ADD_FILE__INIT;
    uint8_t blob[32];
    memset(blob, blob_byte, sizeof blob);
    fx_stamp(&cmd, "default", FX_T0);
    cmd.idempotency_key = (char *)(idem != NULL ? idem : "");
    fx_add_file_cmd(&cmd, &a, blob, image_no, file_id, name);
    a.has_cover_code = strstr(name, image_no) != NULL;
    fx_apply(f, &cmd, res);
}

void fx_capture_held(struct fx *f, const char *image_no, const char *file_id, uint8_t byte,
                     uint64_t *holders, size_t n_holders)
{
    Command cmd = COMMAND__INIT;
    AddFile a = ADD_FILE__INIT;
    uint8_t blob[32];
    memset(blob, byte, sizeof blob);
    fx_stamp(&cmd, "default", FX_T0);
    fx_add_file_cmd(&cmd, &a, blob, image_no, file_id, file_id);
    a.holders = holders;
    a.n_holders = n_holders;
    fx_apply(f, &cmd, &(struct archive_result){0});
}

void fx_delete_file(struct fx *f, const char *image_no, const char *file_id)
{
    Command cmd = COMMAND__INIT;
    DeleteFiles d = DELETE_FILES__INIT;
    char *ids[] = {(char *)file_id};
    struct archive_result res;
    fx_stamp(&cmd, "default", FX_T0 + 1000);
    d.image_no = (char *)image_no;
    d.file_ids = ids;
    d.n_file_ids = 1;
    cmd.body_case = COMMAND__BODY_DELETE_FILES;
    cmd.delete_files = &d;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
}

char *fx_fixture_path(const char *folder, const char *name)
{
    const char *self = __FILE__;
    const char *cut = strstr(self, "tests/unit/archive/archive_fixture.c");
    assert_non_null(cut);
    return xasprintf("%.*stests/fixtures/%s/%s", (int)(cut - self), self, folder, name);
}

char *fx_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long n;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    data = xmalloc((size_t)n);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return data;
}
