/* A caller's access: permissions and grants loaded once, and the reads that apply them,
 * against a real RocksDB filled by applied commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/access.h"
#include "tests/unit/archive/archive_fixture.h"

static void org(struct fx *f, const char *id, const char *parent)
{
    Command cmd = COMMAND__INIT;
    CreateOrg c = CREATE_ORG__INIT;
    c.id = (char *)id;
    c.name = (char *)id;
    c.parent = (char *)parent;
    cmd.body_case = COMMAND__BODY_CREATE_ORG;
    cmd.create_org = &c;
    fx_apply_ok(f, "default", FX_T0, &cmd);
}

static void grant(struct fx *f, const char *name, const char *org_id, bool children)
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
    fx_apply_ok(f, "default", FX_T0, &cmd);
}

static void bill(struct fx *f, const char *image_no, const char *org_id)
{
    Command cmd = COMMAND__INIT;
    PoolPush p = POOL_PUSH__INIT;
    p.image_no = (char *)image_no;
    p.bill_no = (char *)image_no;
    p.org = (char *)org_id;
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = &p;
    fx_apply_ok(f, "default", FX_T0, &cmd);
}

static int setup(void **state)
{
    struct fx *f;
    struct archive_result res;
    int rv = fx_setup(state);
    f = *state;
    /* north > north-east; south apart. */
    org(f, "north", "");
    org(f, "north-east", "north");
    org(f, "south", "");
    fx_create_user(f, "ann", "scanner");
    grant(f, "ann", "north", true);
    fx_create_user(f, "bob", "reviewer");
    grant(f, "bob", "north", false);
    fx_create_user(f, "eve", "tenant_admin");
    bill(f, "B-NORTH", "north");
    bill(f, "B-NE", "north-east");
    bill(f, "B-SOUTH", "south");
    bill(f, "B-NONE", "");
    fx_add_file(f, "B-NE", "f0000000000000000000000000000001", "scan.pdf", NULL, 1, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    fx_add_file(f, "B-SOUTH", "f0000000000000000000000000000002", "scan.pdf", NULL, 2, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    return rv;
}

static bool sees(struct fx *f, const struct archive_actor *actor, const char *image_no)
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
    struct fx *f = *state;
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
    struct fx *f = *state;
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
    struct fx *f = *state;
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
    struct fx *f = *state;
    struct archive_actor none;
    memset(&none, 0, sizeof none);
    snprintf(none.tenant, sizeof none.tenant, "default");
    assert_true(archive_actor_restricted(&none));
    assert_false(archive_actor_may(&none, PERM_READ));
    assert_false(sees(f, &none, "B-NORTH"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(operator_and_system_see_everything, setup, fx_teardown),
    cmocka_unit_test_setup_teardown(users_get_their_roles_and_grants, setup, fx_teardown),
    cmocka_unit_test_setup_teardown(files_are_seen_through_their_bill, setup, fx_teardown),
    cmocka_unit_test_setup_teardown(a_zeroed_actor_sees_nothing, setup, fx_teardown),
};

TESTLIB_MAIN("archive/access", tests)
