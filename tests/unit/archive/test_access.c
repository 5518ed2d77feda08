/* A caller's access: permissions and grants loaded once, and the reads that apply them,
 * against a real RocksDB filled by applied commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/access.h"
#include "tests/lib/testlib.h"

struct fixture {
    const char *dir;
    struct rocks *db;
    struct archive a;
    uint64_t index;
};

static void apply(struct fixture *f, Command *cmd)
{
    struct archive_result res;
    struct base_err err;
    void *buf;
    size_t len;
    cmd->tenant = "default";
    cmd->request_id = "req";
    cmd->operator_ = "tester";
    cmd->time_ms = 1700000000000ull;
    cmd->idempotency_key = "";
    archive_encode(cmd, &buf, &len);
    assert_int_equal(archive_apply(&f->a, ++f->index, buf, len, &res, &err), 0);
    free(buf);
    if (res.status != ARCHIVE_OK) {
        fprintf(stderr, "command %d refused: %s\n", (int)cmd->body_case, res.message);
    }
    assert_int_equal(res.status, ARCHIVE_OK);
}

static void org(struct fixture *f, const char *id, const char *parent)
{
    Command cmd = COMMAND__INIT;
    CreateOrg c = CREATE_ORG__INIT;
    c.id = (char *)id;
    c.name = (char *)id;
    c.parent = (char *)parent;
    cmd.body_case = COMMAND__BODY_CREATE_ORG;
    cmd.create_org = &c;
    apply(f, &cmd);
}

static void user(struct fixture *f, const char *name, char *role)
{
    Command cmd = COMMAND__INIT;
    CreateUser c = CREATE_USER__INIT;
    char *roles[1] = {role};
    c.username = (char *)name;
    c.name = (char *)name;
    c.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
    c.roles = roles;
    c.n_roles = 1;
    cmd.body_case = COMMAND__BODY_CREATE_USER;
    cmd.create_user = &c;
    apply(f, &cmd);
}

static void grant(struct fixture *f, const char *name, const char *org_id, bool children)
{
    Command cmd = COMMAND__INIT;
    SetGrants s = SET_GRANTS__INIT;
    Grant g = GRANT__INIT;
    Grant *gs[1] = {&g};
    g.org = (char *)org_id;
    g.include_children = children;
    s.username = (char *)name;
    s.grants = gs;
    s.n_grants = 1;
    cmd.body_case = COMMAND__BODY_SET_GRANTS;
    cmd.set_grants = &s;
    apply(f, &cmd);
}

static void bill(struct fixture *f, const char *image_no, const char *org_id)
{
    Command cmd = COMMAND__INIT;
    PoolPush p = POOL_PUSH__INIT;
    p.image_no = (char *)image_no;
    p.bill_no = (char *)image_no;
    p.org = (char *)org_id;
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = &p;
    apply(f, &cmd);
}

static void file(struct fixture *f, const char *image_no, const char *file_id, uint8_t byte)
{
    Command cmd = COMMAND__INIT;
    AddFile a = ADD_FILE__INIT;
    uint8_t blob[32];
    memset(blob, byte, sizeof blob);
    cmd.request_digest.data = blob;
    cmd.request_digest.len = sizeof blob;
    a.image_no = (char *)image_no;
    a.file_id = (char *)file_id;
    a.name = "scan.pdf";
    a.format = "pdf";
    a.size = 1000;
    a.pages = 1;
    a.blob.data = blob;
    a.blob.len = sizeof blob;
    cmd.body_case = COMMAND__BODY_ADD_FILE;
    cmd.add_file = &a;
    apply(f, &cmd);
}

static int setup(void **state)
{
    static struct fixture f;
    struct base_err err;
    Command cmd = COMMAND__INIT;
    InitCluster ic = INIT_CLUSTER__INIT;
    uint8_t key[32] = {7};
    memset(&f, 0, sizeof f);
    if (sodium_init() < 0) {
        return -1;
    }
    f.dir = testlib_tmpdir();
    assert_int_equal(archive_store_open(&f.db, f.dir, &err), 0);
    assert_int_equal(archive_open(&f.a, f.db, &err), 0);
    ic.token_key.data = key;
    ic.token_key.len = sizeof key;
    cmd.body_case = COMMAND__BODY_INIT_CLUSTER;
    cmd.init_cluster = &ic;
    apply(&f, &cmd);
    /* north > north-east; south apart. */
    org(&f, "north", "");
    org(&f, "north-east", "north");
    org(&f, "south", "");
    user(&f, "ann", "scanner");
    grant(&f, "ann", "north", true);
    user(&f, "bob", "reviewer");
    grant(&f, "bob", "north", false);
    user(&f, "eve", "tenant_admin");
    bill(&f, "B-NORTH", "north");
    bill(&f, "B-NE", "north-east");
    bill(&f, "B-SOUTH", "south");
    bill(&f, "B-NONE", "");
    file(&f, "B-NE", "f0000000000000000000000000000001", 1);
    file(&f, "B-SOUTH", "f0000000000000000000000000000002", 2);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rocks_close(f->db);
    testlib_rm_rf(f->dir);
    return 0;
}

static bool sees(struct fixture *f, const struct archive_actor *actor, const char *image_no)
{
    struct base_err err;
    BillRecord *b;
    int rv = archive_get_bill_as(&f->a, actor, image_no, &b, &err);
    if (rv == 0) {
        archive_free_bill(b);
        assert_true(archive_actor_sees_bill(&f->a, actor, image_no));
        return true;
    }
    assert_int_equal(rv, BASE_ENOTFOUND);
    return false;
}

static void operator_and_system_see_everything(void **state)
{
    struct fixture *f = *state;
    struct archive_actor op, sys;
    archive_actor_operator(&op, "default");
    archive_actor_system(&sys, "default");
    assert_true(archive_actor_may(&op, PERM_ALL));
    assert_true(archive_actor_may(&sys, PERM_READ | PERM_CAPTURE | PERM_AMEND));
    assert_false(archive_actor_may(&sys, PERM_ADMIN));
    assert_false(archive_actor_restricted(&op));
    assert_false(archive_actor_restricted(&sys));
    assert_true(sees(f, &op, "B-SOUTH"));
    assert_true(sees(f, &sys, "B-NONE"));
    assert_false(sees(f, &sys, "B-MISSING"));
}

static void users_get_their_roles_and_grants(void **state)
{
    struct fixture *f = *state;
    struct archive_actor ann, bob, eve;
    struct base_err err;
    assert_int_equal(archive_actor_load_user(&f->a, "default", "ann", &ann, &err), 0);
    assert_int_equal(archive_actor_load_user(&f->a, "default", "bob", &bob, &err), 0);
    assert_int_equal(archive_actor_load_user(&f->a, "default", "eve", &eve, &err), 0);
    assert_int_equal(archive_actor_load_user(&f->a, "default", "nobody", &eve, &err),
                     BASE_ENOTFOUND);
    assert_int_equal(eve.kind, ARCHIVE_ACTOR_USER); /* untouched by the failure */
    assert_int_equal(ann.perms, PERM_READ | PERM_CAPTURE | PERM_SUBMIT);
    assert_int_equal(bob.perms, PERM_READ | PERM_REVIEW);
    assert_true(archive_actor_restricted(&ann));
    assert_false(archive_actor_restricted(&eve));
    /* A grant with include_children covers the tree below it. */
    assert_true(sees(f, &ann, "B-NORTH"));
    assert_true(sees(f, &ann, "B-NE"));
    assert_false(sees(f, &ann, "B-SOUTH"));
    assert_false(sees(f, &ann, "B-NONE"));
    assert_true(archive_actor_sees_org(&f->a, &ann, "north-east"));
    assert_false(archive_actor_sees_org(&f->a, &ann, ""));
    /* Without it, only the organisation itself. */
    assert_true(sees(f, &bob, "B-NORTH"));
    assert_false(sees(f, &bob, "B-NE"));
    /* An admin sees every bill. */
    assert_true(sees(f, &eve, "B-SOUTH"));
    assert_true(sees(f, &eve, "B-NONE"));
}

static void files_are_seen_through_their_bill(void **state)
{
    struct fixture *f = *state;
    struct archive_actor ann, sys;
    struct base_err err;
    FileRecord *file_rec;
    assert_int_equal(archive_actor_load_user(&f->a, "default", "ann", &ann, &err), 0);
    archive_actor_system(&sys, "default");
    assert_int_equal(archive_get_file_as(&f->a, &ann, "f0000000000000000000000000000001",
                                         &file_rec, &err), 0);
    archive_free_file(file_rec);
    assert_int_equal(archive_get_file_as(&f->a, &ann, "f0000000000000000000000000000002",
                                         &file_rec, &err), BASE_ENOTFOUND);
    assert_int_equal(archive_get_file_as(&f->a, &sys, "f0000000000000000000000000000002",
                                         &file_rec, &err), 0);
    archive_free_file(file_rec);
}

static void a_zeroed_actor_sees_nothing(void **state)
{
    struct fixture *f = *state;
    struct archive_actor none;
    memset(&none, 0, sizeof none);
    snprintf(none.tenant, sizeof none.tenant, "default");
    assert_true(archive_actor_restricted(&none));
    assert_false(archive_actor_may(&none, PERM_READ));
    assert_false(sees(f, &none, "B-NORTH"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(operator_and_system_see_everything, setup, teardown),
    cmocka_unit_test_setup_teardown(users_get_their_roles_and_grants, setup, teardown),
    cmocka_unit_test_setup_teardown(files_are_seen_through_their_bill, setup, teardown),
    cmocka_unit_test_setup_teardown(a_zeroed_actor_sees_nothing, setup, teardown),
};

TESTLIB_MAIN("archive/access", tests)
