#define _XOPEN_SOURCE 700
#include "testlib.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir_path[PATH_MAX];

const char *testlib_tmpdir(void)
{
    const char *root = getenv("IMGARC_TEST_TMP");
    if (root == NULL || root[0] == '\0') {
        root = "/tmp";
    }
    mkdir(root, 0755);
    snprintf(tmpdir_path, sizeof tmpdir_path, "%s/unit-XXXXXX", root);
    if (mkdtemp(tmpdir_path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return tmpdir_path;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void testlib_rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int testlib_run(const char *group, const struct CMUnitTest *tests, size_t n, int argc,
                char **argv)
{
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}
