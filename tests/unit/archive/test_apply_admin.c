/* Administration of users, roles and clients (archive/apply_users.c, apply_tenants.c):
 * editing, disabling, password changes and deletion revoke tokens through the
 * generation, the tenant never loses its last enabled admin, roles in use stay, and
 * clients of another tenant are not found. Every refusal leaves the store as it was.
 * Real RocksDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/users.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0
#define HASH2 "$argon2id$v=19$m=65536,t=2,p=1$c2FsdDI$aGFzaDI"

/* The cluster of fx_setup(), admin "boss" and scanner "ann" in tenant default. */
static int setup(void **state)
{
    int rv = fx_setup(state);
    fx_create_user(*state, "boss", "tenant_admin");
    fx_create_user(*state, "ann", "scanner");
    return rv;
}

static UserRecord *user(struct fx *f, const char *name)
{
    struct base_err err;
    UserRecord *u = NULL;
    assert_int_equal(archive_get_user(&f->a, "default", name, &u, &err), 0);
    return u;
}

static bool user_exists(struct fx *f, const char *name)
{
    struct base_err err;
    UserRecord *u = NULL;
    int rv = archive_get_user(&f->a, "default", name, &u, &err);
    archive_free_user(u);
    return rv == 0;
}

static uint64_t generation(struct fx *f, const char *name)
{
    UserRecord *u = user(f, name);
    uint64_t g = u->token_generation;
    archive_free_user(u);
    return g;
}

static enum archive_status update(struct fx *f, const char *name, const char *new_name,
                                  const char *role, int disabled, char *msg, size_t size)
{
    Command cmd = COMMAND__INIT;
    UpdateUser c = UPDATE_USER__INIT;
    struct archive_result res;
    char *roles[1] = {(char *)role};
    c.username = (char *)name;
    if (new_name != NULL) {
        c.set_name = true;
        c.name = (char *)new_name;
    }
    if (role != NULL) {
        c.set_roles = true;
        c.roles = roles;
        c.n_roles = 1;
    }
    if (disabled >= 0) {
        c.set_disabled = true;
        c.disabled = disabled != 0;
    }
    cmd.body_case = COMMAND__BODY_UPDATE_USER;
    cmd.update_user = &c;
    fx_apply_as(f, "default", T0 + 10, &cmd, &res);
    if (msg != NULL) {
        snprintf(msg, size, "%s", res.message);
    }
    return res.status;
}

static enum archive_status set_password(struct fx *f, const char *name, const char *hash)
{
    Command cmd = COMMAND__INIT;
    SetPassword c = SET_PASSWORD__INIT;
    struct archive_result res;
    c.username = (char *)name;
    c.password_hash = (char *)hash;
    cmd.body_case = COMMAND__BODY_SET_PASSWORD;
    cmd.set_password = &c;
    fx_apply_as(f, "default", T0 + 20, &cmd, &res);
    return res.status;
}

static enum archive_status delete_user(struct fx *f, const char *name)
{
    Command cmd = COMMAND__INIT;
    DeleteUser c = DELETE_USER__INIT;
    struct archive_result res;
    c.username = (char *)name;
    cmd.body_case = COMMAND__BODY_DELETE_USER;
    cmd.delete_user = &c;
    fx_apply_as(f, "default", T0 + 30, &cmd, &res);
    return res.status;
}

static enum archive_status role_cmd(struct fx *f, Command__BodyCase kind, const char *name,
                                    const char *perm, char *msg, size_t size)
{
    Command cmd = COMMAND__INIT;
    CreateRole cr = CREATE_ROLE__INIT;
    UpdateRole ur = UPDATE_ROLE__INIT;
    DeleteRole dr = DELETE_ROLE__INIT;
    struct archive_result res;
    char *perms[1] = {(char *)perm};
    cmd.body_case = kind;
    cr.name = ur.name = dr.name = (char *)name;
    cr.permissions = ur.permissions = perms;
    cr.n_permissions = ur.n_permissions = perm != NULL ? 1 : 0;
    cmd.create_role = &cr; /* one union: set the member of @kind last */
    if (kind == COMMAND__BODY_UPDATE_ROLE) {
        cmd.update_role = &ur;
    } else if (kind == COMMAND__BODY_DELETE_ROLE) {
        cmd.delete_role = &dr;
    }
    fx_apply_as(f, "default", T0 + 40, &cmd, &res);
    if (msg != NULL) {
        snprintf(msg, size, "%s", res.message);
    }
    return res.status;
}

static void update_changes_name_roles_and_revokes(void **state)
{
    struct fx *f = *state;
    uint64_t g = generation(f, "ann");
    UserRecord *u;
    /* A new name alone leaves the tokens alone. */
    assert_int_equal(update(f, "ann", "Ann Li", NULL, -1, NULL, 0), ARCHIVE_OK);
    assert_int_equal(generation(f, "ann"), g);
    /* The same roles again change nothing either. */
    assert_int_equal(update(f, "ann", NULL, "scanner", -1, NULL, 0), ARCHIVE_OK);
    assert_int_equal(generation(f, "ann"), g);
    assert_int_equal(update(f, "ann", NULL, "reviewer", -1, NULL, 0), ARCHIVE_OK);
    u = user(f, "ann");
    assert_string_equal(u->name, "Ann Li");
    assert_int_equal(u->n_roles, 1);
    assert_string_equal(u->roles[0], "reviewer");
    assert_int_equal(u->token_generation, g + 1);
    assert_false(u->disabled);
    archive_free_user(u);
    /* Disabling revokes; enabling again does not need to. */
    assert_int_equal(update(f, "ann", NULL, NULL, 1, NULL, 0), ARCHIVE_OK);
    u = user(f, "ann");
    assert_true(u->disabled);
    assert_int_equal(u->token_generation, g + 2);
    archive_free_user(u);
    assert_int_equal(update(f, "ann", NULL, NULL, 0, NULL, 0), ARCHIVE_OK);
    u = user(f, "ann");
    assert_false(u->disabled);
    assert_int_equal(u->token_generation, g + 2);
    assert_string_equal(u->roles[0], "reviewer"); /* kept while disabled */
    archive_free_user(u);
}

static void bad_updates_are_refused_and_change_nothing(void **state)
{
    struct fx *f = *state;
    uint64_t g = generation(f, "ann");
    UserRecord *u;
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(update(f, "nobody", "X", NULL, -1, NULL, 0), ARCHIVE_R_USER_NOT_FOUND);
    assert_int_equal(update(f, "ann", NULL, "no_such_role", -1, NULL, 0),
                     ARCHIVE_R_ROLE_NOT_FOUND);
    assert_int_equal(update(f, "ann", NULL, "bad role!", -1, NULL, 0), ARCHIVE_R_INVALID);
    assert_int_equal(update(f, "ann", "", NULL, -1, NULL, 0), ARCHIVE_R_INVALID);
    assert_int_equal(update(f, "ann", long_name, NULL, -1, NULL, 0), ARCHIVE_R_INVALID);
    {
        Command cmd = COMMAND__INIT;
        UpdateUser c = UPDATE_USER__INIT;
        struct archive_result res;
        c.username = "ann";
        c.set_roles = true; /* and no role */
        cmd.body_case = COMMAND__BODY_UPDATE_USER;
        cmd.update_user = &c;
        fx_apply_as(f, "default", T0, &cmd, &res);
        assert_int_equal(res.status, ARCHIVE_R_INVALID);
    }
    u = user(f, "ann");
    assert_string_equal(u->name, "ann");
    assert_string_equal(u->roles[0], "scanner");
    assert_int_equal(u->token_generation, g);
    archive_free_user(u);
}

static void the_last_enabled_admin_stays(void **state)
{
    struct fx *f = *state;
    char msg[256];
    assert_int_equal(update(f, "boss", NULL, NULL, 1, msg, sizeof msg), ARCHIVE_R_LAST_ADMIN);
    assert_non_null(strstr(msg, "without an enabled admin"));
    assert_int_equal(update(f, "boss", NULL, "scanner", -1, NULL, 0), ARCHIVE_R_LAST_ADMIN);
    assert_int_equal(delete_user(f, "boss"), ARCHIVE_R_LAST_ADMIN);
    assert_true(user_exists(f, "boss"));
    /* A disabled admin does not count; an enabled second one does. */
    fx_create_user(f, "deputy", "tenant_admin");
    assert_int_equal(update(f, "deputy", NULL, NULL, 1, NULL, 0), ARCHIVE_OK);
    assert_int_equal(delete_user(f, "boss"), ARCHIVE_R_LAST_ADMIN);
    assert_int_equal(update(f, "deputy", NULL, NULL, 0, NULL, 0), ARCHIVE_OK);
    assert_int_equal(update(f, "boss", NULL, "scanner", -1, NULL, 0), ARCHIVE_OK);
    /* A custom role with "admin" makes an admin too, until the role loses it. */
    assert_int_equal(role_cmd(f, COMMAND__BODY_CREATE_ROLE, "chief", "admin", NULL, 0),
                     ARCHIVE_OK);
    assert_int_equal(update(f, "ann", NULL, "chief", -1, NULL, 0), ARCHIVE_OK);
    assert_int_equal(delete_user(f, "deputy"), ARCHIVE_OK);
    assert_int_equal(role_cmd(f, COMMAND__BODY_UPDATE_ROLE, "chief", "read", msg, sizeof msg),
                     ARCHIVE_R_LAST_ADMIN);
}

static void a_tenant_without_admins_is_left_alone(void **state)
{
    struct fx *f = *state;
    assert_int_equal(delete_user(f, "boss"), ARCHIVE_R_LAST_ADMIN);
    /* ann is no admin: the tenant has one, and still has it after her changes. */
    assert_int_equal(update(f, "ann", NULL, NULL, 1, NULL, 0), ARCHIVE_OK);
    assert_int_equal(delete_user(f, "ann"), ARCHIVE_OK);
    assert_false(user_exists(f, "ann"));
    assert_int_equal(delete_user(f, "ann"), ARCHIVE_R_USER_NOT_FOUND);
}

static void passwords_reset_failures_lock_and_tokens(void **state)
{
    struct fx *f = *state;
    Command cmd = COMMAND__INIT;
    LoginResult lr = LOGIN_RESULT__INIT;
    uint64_t g;
    UserRecord *u;
    lr.username = "ann";
    lr.max_failures = 2;
    lr.lock_ms = 60000;
    cmd.body_case = COMMAND__BODY_LOGIN_RESULT;
    cmd.login_result = &lr;
    fx_apply_ok(f, "default", T0, &cmd);
    fx_apply_ok(f, "default", T0, &cmd); /* locked */
    g = generation(f, "ann");
    assert_int_equal(set_password(f, "ann", HASH2), ARCHIVE_OK);
    u = user(f, "ann");
    assert_string_equal(u->password_hash, HASH2);
    assert_int_equal(u->failures, 0);
    assert_int_equal(u->locked_until_ms, 0);
    assert_int_equal(u->token_generation, g + 1);
    archive_free_user(u);
    assert_int_equal(set_password(f, "ann", "plain text"), ARCHIVE_R_INVALID);
    assert_int_equal(set_password(f, "ann", ""), ARCHIVE_R_INVALID);
    assert_int_equal(set_password(f, "nobody", HASH2), ARCHIVE_R_USER_NOT_FOUND);
    assert_int_equal(generation(f, "ann"), g + 1);
}

static void a_user_created_again_gets_a_new_generation(void **state)
{
    struct fx *f = *state;
    uint64_t g = generation(f, "ann");
    assert_int_equal(update(f, "ann", NULL, NULL, 1, NULL, 0), ARCHIVE_OK);
    assert_int_equal(delete_user(f, "ann"), ARCHIVE_OK);
    fx_create_user(f, "ann", "scanner");
    /* Tokens of the first ann carried g or g + 1: neither is the new ann's. */
    assert_true(generation(f, "ann") > g + 1);
}

static void roles_update_and_delete(void **state)
{
    struct fx *f = *state;
    char msg[256];
    struct base_err err;
    RoleRecord *r;
    assert_int_equal(role_cmd(f, COMMAND__BODY_CREATE_ROLE, "auditor", "read", NULL, 0),
                     ARCHIVE_OK);
    assert_int_equal(role_cmd(f, COMMAND__BODY_UPDATE_ROLE, "auditor", "review", NULL, 0),
                     ARCHIVE_OK);
    assert_int_equal(archive_get_role(&f->a, "default", "auditor", &r, &err), 0);
    assert_int_equal(r->n_permissions, 1);
    assert_string_equal(r->permissions[0], "review");
    role_record__free_unpacked(r, NULL);
    assert_int_equal(role_cmd(f, COMMAND__BODY_UPDATE_ROLE, "auditor", "fly", NULL, 0),
                     ARCHIVE_R_INVALID);
    assert_int_equal(role_cmd(f, COMMAND__BODY_UPDATE_ROLE, "auditor", NULL, NULL, 0),
                     ARCHIVE_R_INVALID);
    assert_int_equal(role_cmd(f, COMMAND__BODY_UPDATE_ROLE, "ghost", "read", NULL, 0),
                     ARCHIVE_R_ROLE_NOT_FOUND);
    assert_int_equal(role_cmd(f, COMMAND__BODY_UPDATE_ROLE, "scanner", "read", NULL, 0),
                     ARCHIVE_R_INVALID);
    assert_int_equal(role_cmd(f, COMMAND__BODY_DELETE_ROLE, "tenant_admin", NULL, NULL, 0),
                     ARCHIVE_R_INVALID);
    assert_int_equal(update(f, "ann", NULL, "auditor", -1, NULL, 0), ARCHIVE_OK);
    assert_int_equal(role_cmd(f, COMMAND__BODY_DELETE_ROLE, "auditor", NULL, msg, sizeof msg),
                     ARCHIVE_R_ROLE_IN_USE);
    assert_non_null(strstr(msg, "ann"));
    assert_int_equal(update(f, "ann", NULL, "scanner", -1, NULL, 0), ARCHIVE_OK);
    assert_int_equal(role_cmd(f, COMMAND__BODY_DELETE_ROLE, "auditor", NULL, NULL, 0),
                     ARCHIVE_OK);
    assert_int_equal(archive_get_role(&f->a, "default", "auditor", &r, &err), BASE_ENOTFOUND);
    assert_int_equal(role_cmd(f, COMMAND__BODY_DELETE_ROLE, "auditor", NULL, NULL, 0),
                     ARCHIVE_R_ROLE_NOT_FOUND);
}

static enum archive_status client_cmd(struct fx *f, const char *tenant, Command__BodyCase kind,
                                      const char *id, uint8_t fill)
{
    Command cmd = COMMAND__INIT;
    CreateClient cc = CREATE_CLIENT__INIT;
    RotateClientSecret rc = ROTATE_CLIENT_SECRET__INIT;
    DeleteClient dc = DELETE_CLIENT__INIT;
    struct archive_result res;
    uint8_t hash[32];
    memset(hash, fill, sizeof hash);
    cc.client_id = rc.client_id = dc.client_id = (char *)id;
    cc.name = "ERP";
    cc.secret_hash.data = rc.secret_hash.data = hash;
    cc.secret_hash.len = rc.secret_hash.len = fill != 0 ? sizeof hash : 5;
    cmd.body_case = kind;
    if (kind == COMMAND__BODY_CREATE_CLIENT) {
        cmd.create_client = &cc;
    } else if (kind == COMMAND__BODY_ROTATE_CLIENT_SECRET) {
        cmd.rotate_client_secret = &rc;
    } else {
        cmd.delete_client = &dc;
    }
    fx_apply_as(f, tenant, T0, &cmd, &res);
    return res.status;
}

static void count_client(const ClientRecord *c, void *arg)
{
    (void)c;
    (*(int *)arg)++;
}

static void clients_rotate_and_delete(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    ClientRecord *c;
    int n = 0;
    fx_create_tenant(f, "acme", "Acme", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(client_cmd(f, "default", COMMAND__BODY_CREATE_CLIENT, "c1", 1), ARCHIVE_OK);
    assert_int_equal(client_cmd(f, "acme", COMMAND__BODY_CREATE_CLIENT, "c2", 1), ARCHIVE_OK);
    assert_int_equal(archive_list_clients(&f->a, "default", count_client, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(client_cmd(f, "default", COMMAND__BODY_ROTATE_CLIENT_SECRET, "c1", 2),
                     ARCHIVE_OK);
    assert_int_equal(archive_get_client(&f->a, "c1", &c, &err), 0);
    assert_int_equal(c->token_generation, 1);
    assert_int_equal(c->secret_hash.data[0], 2);
    archive_free_client(c);
    /* Another tenant's client is not found; a short hash is refused. */
    assert_int_equal(client_cmd(f, "default", COMMAND__BODY_ROTATE_CLIENT_SECRET, "c2", 3),
                     ARCHIVE_R_CLIENT_NOT_FOUND);
    assert_int_equal(client_cmd(f, "default", COMMAND__BODY_DELETE_CLIENT, "c2", 3),
                     ARCHIVE_R_CLIENT_NOT_FOUND);
    assert_int_equal(client_cmd(f, "default", COMMAND__BODY_ROTATE_CLIENT_SECRET, "c1", 0),
                     ARCHIVE_R_INVALID);
    assert_int_equal(client_cmd(f, "default", COMMAND__BODY_ROTATE_CLIENT_SECRET, "nope!", 3),
                     ARCHIVE_R_CLIENT_NOT_FOUND);
    assert_int_equal(client_cmd(f, "default", COMMAND__BODY_DELETE_CLIENT, "c1", 3), ARCHIVE_OK);
    assert_int_equal(archive_get_client(&f->a, "c1", &c, &err), BASE_ENOTFOUND);
    assert_int_equal(archive_get_client(&f->a, "c2", &c, &err), 0);
    archive_free_client(c);
    assert_int_equal(client_cmd(f, "default", COMMAND__BODY_DELETE_CLIENT, "c1", 3),
                     ARCHIVE_R_CLIENT_NOT_FOUND);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(update_changes_name_roles_and_revokes, setup, fx_teardown),
    cmocka_unit_test_setup_teardown(bad_updates_are_refused_and_change_nothing, setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(the_last_enabled_admin_stays, setup, fx_teardown),
    cmocka_unit_test_setup_teardown(a_tenant_without_admins_is_left_alone, setup, fx_teardown),
    cmocka_unit_test_setup_teardown(passwords_reset_failures_lock_and_tokens, setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(a_user_created_again_gets_a_new_generation, setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(roles_update_and_delete, setup, fx_teardown),
    cmocka_unit_test_setup_teardown(clients_rotate_and_delete, setup, fx_teardown),
};

TESTLIB_MAIN("apply_admin", tests)
