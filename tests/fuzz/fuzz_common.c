#define _XOPEN_SOURCE 700
#include "tests/fuzz/fuzz_common.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

static char tmpdir[PATH_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void tmpdir_remove(void)
{
    if (tmpdir[0] != '\0') {
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

const char *fuzz_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        /* RocksDB syncs its WAL on every command: on tmpfs that costs nothing, and the
         * fuzzers run at the speed of the code, not of the disk. */
        const char *root = getenv("IMGARC_FUZZ_TMP");
        if (root == NULL || root[0] == '\0') {
            root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        }
        snprintf(tmpdir, sizeof tmpdir, "%s/imgarc-fuzz-XXXXXX", root);
        if (mkdtemp(tmpdir) == NULL) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(tmpdir_remove);
    }
    return tmpdir;
}

struct rocks *fuzz_store_open(const char *name)
{
    char dir[PATH_MAX + 64];
    struct rocks *db;
    struct base_err err = {{0}};
    snprintf(dir, sizeof dir, "%s/%s", fuzz_tmpdir(), name);
    if (rocks_open(&db, dir, &err) != 0) {
        fprintf(stderr, "fuzz: store %s: %s\n", dir, err.msg);
        abort();
    }
    return db;
}

void fuzz_init(void)
{
    const char *level = getenv("IMGARC_FUZZ_LOG");
    log_set_level(level != NULL && log_level_parse(level) >= 0
                      ? (enum log_level)log_level_parse(level)
                      : LOG_LEVEL_ERROR);
    if (sodium_init() < 0) {
        abort();
    }
}

uint8_t fuzz_u8(struct fuzz_in *in)
{
    uint8_t v = 0;
    if (in->len > 0) {
        v = in->p[0];
        in->p++;
        in->len--;
    }
    return v;
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v = v << 8 | fuzz_u8(in);
    }
    return v;
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
    return (uint64_t)fuzz_u32(in) << 32 | fuzz_u32(in);
}

char *fuzz_str(struct fuzz_in *in, size_t max)
{
    size_t n = fuzz_u8(in) % (max + 1);
    char *s;
    if (n > in->len) {
        n = in->len;
    }
    s = xmalloc(n + 1);
    memcpy(s, in->p, n);
    s[n] = '\0';
    in->p += n;
    in->len -= n;
    return s;
}

const char *fuzz_pick(struct fuzz_in *in, const char *const *vocab, size_t n)
{
    return vocab[fuzz_u8(in) % n];
}

void fuzz_license_key(uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[crypto_sign_SEEDBYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
    crypto_sign_seed_keypair(pk, sk, seed);
}
