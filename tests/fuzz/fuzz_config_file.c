/* Fuzz target: imgarcd's config file (node/config.c, node_config_load() with --config),
 * read at start and again on every SIGHUP.
 *
 * The input is the file. Loading must load or refuse (saying why on stderr), never
 * crash, leak or read past a line; a file that loads must load again to the same
 * configuration (node_config_diff() finds nothing), and its values must be ones the
 * checks allow: every address as the node will bind it, a log level it knows. stderr
 * is sent to /dev/null around each load (a refused file prints a line; millions of
 * them would fill the CI log); set IMGARC_FUZZ_VERBOSE=1 to see them when reproducing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/log.h"
#include "node/config.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    snprintf(path, sizeof path, "%s/imgarcd.conf", fuzz_tmpdir());
    return 0;
}

static int load(struct node_config *c)
{
    char *argv[] = {"imgarcd", "--config", path, "--data", "/nonexistent/fuzz", NULL};
    int rv;
    fuzz_quiet_begin();
    rv = node_config_load(c, 5, argv);
    fuzz_quiet_end();
    return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct node_config a, b;
    const char *names[8];
    FILE *f = fopen(path, "wb");
    int rv;
    ASSERT(f != NULL);
    ASSERT(fwrite(data, 1, size, f) == size);
    fclose(f);
    rv = load(&a);
    ASSERT(rv == 0 || rv == -1); /* 1 is --help or --version: not in this argv */
    if (rv == 0) {
        ASSERT(load(&b) == 0);
        ASSERT(node_config_diff(&a, &b, names, 8) == 0);
        ASSERT(log_level_parse(a.log_level) >= 0);
        ASSERT(a.listen != NULL && strchr(a.listen, ':') != NULL);
        ASSERT(a.raft_listen != NULL && strchr(a.raft_listen, ':') != NULL);
        ASSERT(strcmp(a.snapshot_format, "store") == 0 || strcmp(a.snapshot_format, "inline") == 0);
        node_config_free(&b);
    }
    node_config_free(&a);
    return 0;
}
