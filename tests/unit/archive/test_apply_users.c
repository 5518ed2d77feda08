/* Logged-out tokens (LogoutToken, archive/apply_users.c): kept in the user's record
 * until they expire, pruned by the command's time, bounded, refused when malformed, and
 * the same on every store that applies the same log. Real RocksDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/users.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0
#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

/* The cluster of fx_setup() and its user "erp", a scanner. */
static int setup(void **state)
{
    int rv = fx_setup(state);
    fx_create_user(*state, "erp", "scanner");
    return rv;
}

static enum archive_status logout(struct fx *f, const char *user, const char *id,
                                  uint64_t expires_ms, uint64_t now)
{
    Command cmd = COMMAND__INIT;
    LogoutToken lt = LOGOUT_TOKEN__INIT;
    struct archive_result res;
    lt.username = (char *)user;
    lt.token_id = (char *)id;
    lt.expires_ms = expires_ms;
    cmd.body_case = COMMAND__BODY_LOGOUT_TOKEN;
    cmd.logout_token = &lt;
    fx_apply_as(f, "default", now, &cmd, &res);
    return res.status;
}

static UserRecord *user(struct fx *f)
{
    struct base_err err;
    UserRecord *u;
    assert_int_equal(archive_get_user(&f->a, "default", "erp", &u, &err), 0);
    return u;
}

static void logged_out_tokens_are_kept_until_they_expire(void **state)
{
    struct fx *f = *state;
    UserRecord *u;
    assert_int_equal(logout(f, "erp", ID_A, T0 + 1000, T0), ARCHIVE_OK);
    assert_int_equal(logout(f, "erp", ID_A, T0 + 1000, T0 + 10), ARCHIVE_OK); /* again */
    assert_int_equal(logout(f, "erp", ID_B, T0 + 5000, T0 + 20), ARCHIVE_OK);
    u = user(f);
    assert_int_equal(u->n_logged_out, 2);
    assert_string_equal(u->logged_out[0]->token_id, ID_A);
    assert_int_equal(u->logged_out[1]->expires_ms, T0 + 5000);
    assert_int_equal(u->token_generation, 2); /* the raft index of its creation */
    archive_free_user(u);
    /* The next logout after A's expiry prunes it; an already expired token is not kept. */
    assert_int_equal(logout(f, "erp", "00000000000000000000000000000001", T0 + 1500, T0 + 2000),
                     ARCHIVE_OK);
    u = user(f);
    assert_int_equal(u->n_logged_out, 1);
    assert_string_equal(u->logged_out[0]->token_id, ID_B);
    archive_free_user(u);
}

static void too_many_revoke_every_token_of_the_user(void **state)
{
    struct fx *f = *state;
    char id[33];
    UserRecord *u;
    for (unsigned i = 0; i < 65; i++) {
        snprintf(id, sizeof id, "%032x", i);
        assert_int_equal(logout(f, "erp", id, T0 + 3600000, T0 + i), ARCHIVE_OK);
    }
    u = user(f);
    assert_int_equal(u->n_logged_out, 0); /* the 65th bumped the generation instead */
    assert_int_equal(u->token_generation, 3); /* created at index 2, bumped once */
    archive_free_user(u);
}

static void malformed_logouts_are_refused(void **state)
{
    struct fx *f = *state;
    UserRecord *u;
    assert_int_equal(logout(f, "nobody", ID_A, T0 + 1000, T0), ARCHIVE_R_USER_NOT_FOUND);
    assert_int_equal(logout(f, "erp", "short", T0 + 1000, T0), ARCHIVE_R_INVALID);
    assert_int_equal(logout(f, "erp", "0123456789ABCDEF0123456789ABCDEF", T0 + 1000, T0),
                     ARCHIVE_R_INVALID);
    assert_int_equal(logout(f, "erp", "", T0 + 1000, T0), ARCHIVE_R_INVALID);
    u = user(f);
    assert_int_equal(u->n_logged_out, 0);
    archive_free_user(u);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(logged_out_tokens_are_kept_until_they_expire, setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(too_many_revoke_every_token_of_the_user, setup, fx_teardown),
    cmocka_unit_test_setup_teardown(malformed_logouts_are_refused, setup, fx_teardown),
};

TESTLIB_MAIN("apply_users", tests)
