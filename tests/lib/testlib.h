/* Helpers shared by the unit tests: temporary directories and cmocka's main.
 *
 * Every test case runs as its own process; IMGARC_TEST_TMP (set by CTest) is the root
 * under which each case makes its own fresh directory. */
#ifndef IMGARC_TESTLIB_H
#define IMGARC_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Makes a fresh empty directory for this case and returns its path (static storage). */
const char *testlib_tmpdir(void);
/* Removes @path recursively (used by teardowns). */
void testlib_rm_rf(const char *path);
/* Runs @tests, filtered to the case named in argv[1] when given. */
int testlib_run(const char *group, const struct CMUnitTest *tests, size_t n, int argc,
                char **argv);

#define TESTLIB_MAIN(group, tests)                                                       \
    int main(int argc, char **argv)                                                      \
    {                                                                                    \
        return testlib_run(group, tests, sizeof(tests) / sizeof((tests)[0]), argc, argv); \
    }

#endif
