/* Helpers shared by the libFuzzer targets of tests/fuzz/ (docs/fuzzing.md).
 *
 * Each target is one process that runs many inputs: the scratch directory and the
 * stores it opens live for the whole process and are removed at exit. The helpers
 * abort on a set-up failure (that is the harness, not the code under test). */
#ifndef IMGARC_TESTS_FUZZ_COMMON_H
#define IMGARC_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "storage/rocks.h"

/* The process's scratch directory (made on first call under $IMGARC_FUZZ_TMP, else
 * /dev/shm, else /tmp; removed at exit, or by the next process when this one died). */
const char *fuzz_tmpdir(void);
/* Opens a fresh RocksDB store in a new directory under fuzz_tmpdir(). */
struct rocks *fuzz_store_open(const char *name);
/* Writes all @size bytes of @data to @path (created or truncated, mode 0600), for the
 * targets that also read an input as a file. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t size);
/* Quiets the log (errors only) and initialises libsodium; call from every init. */
void fuzz_init(void);
/* Sends stderr to /dev/null until fuzz_quiet_end(), for code that prints a line per
 * refused input (millions of them would fill the CI log); IMGARC_FUZZ_VERBOSE=1 keeps
 * stderr when reproducing. */
void fuzz_quiet_begin(void);
void fuzz_quiet_end(void);

/* The harness's license key pair, fixed (seed 01..08 then zeros) so that a saved input
 * and the signed seeds of make_corpus.py keep verifying. */
void fuzz_license_key(uint8_t pk[32], uint8_t sk[64]);

/* Aborts, saying what, unless every bill of @tenant is consistent (its order lists each
 * file once and only files of the bill, and its counters match those files) and the
 * tenant's usage counts its bills, files and bytes. Whatever commands were applied,
 * this must hold. */
void fuzz_check_archive(struct archive *a, const char *tenant);

/* Reads the input as a stream of small values, for structure-aware targets. Past the
 * end every read gives zero. */
struct fuzz_in {
    const uint8_t *p;
    size_t len;
};
uint8_t fuzz_u8(struct fuzz_in *in);
uint32_t fuzz_u32(struct fuzz_in *in);
uint64_t fuzz_u64(struct fuzz_in *in);
/* Up to @max bytes into a fresh NUL-terminated allocation (length from the input). */
char *fuzz_str(struct fuzz_in *in, size_t max);
/* One of @n entries of @vocab. */
const char *fuzz_pick(struct fuzz_in *in, const char *const *vocab, size_t n);

#endif
