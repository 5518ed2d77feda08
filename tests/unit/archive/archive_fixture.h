/* The archive unit tests' shared fixture: a real RocksDB-backed archive in the case's own
 * temporary directory, commands stamped, packed and applied at the next raft index as
 * the state machine gets them, and the files of tests/fixtures/ read back.
 *
 * Every case runs as its own process (tests/lib/testlib.h), so fx_setup() keeps its
 * fixture in static storage and hands it over in *state. Each helper fails the running
 * cmocka case on an error that is the harness's, not the code's under test: what a
 * command's apply answers is returned for the test to check. Built into the static
 * library imgarc_archive_fixture, which every tests/unit/archive/ executable links. */
#ifndef IMGARC_TESTS_ARCHIVE_FIXTURE_H
#define IMGARC_TESTS_ARCHIVE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "tests/lib/testlib.h"

/* The time commands are stamped with unless a test says otherwise; the cluster
 * fx_setup() initialises is created then (its evaluation license starts here). */
#define FX_T0 1700000000000ull

struct fx {
    const char *dir; /* testlib_tmpdir() of this case */
    struct rocks *db;
    struct archive a;
    uint64_t index; /* the raft index of the last command fx_apply() applied */
};

/* Initialises libsodium and opens a fresh store and archive in a new temporary
 * directory, with nothing applied. */
void fx_open(struct fx *f);
/* Closes the store and opens the same directory again, as a node's restart does. */
void fx_reopen(struct fx *f);
/* Closes the store and removes its directory. */
void fx_close(struct fx *f);
/* Applies InitCluster (token key 07 00.., tenant "default", FX_T0): the default tenant
 * on its evaluation license, as a new node has it. */
void fx_init_cluster(struct fx *f);

/* cmocka set-ups and teardown: *state is the case's struct fx. fx_setup() opens it and
 * initialises the cluster; fx_setup_empty() only opens it. */
int fx_setup(void **state);
int fx_setup_empty(void **state);
int fx_teardown(void **state);

/* Stamps @cmd as one of @tenant's at @time_ms: request id "req", operator "tester", no
 * idempotency key. */
void fx_stamp(Command *cmd, const char *tenant, uint64_t time_ms);
/* Packs @cmd as it is and applies it at raft index @index; *@res is the answer. */
void fx_apply_at(struct fx *f, uint64_t index, Command *cmd, struct archive_result *res);
/* The same at the next index (f->index is advanced). */
void fx_apply(struct fx *f, Command *cmd, struct archive_result *res);
/* Stamps @cmd for @tenant at @time_ms (fx_stamp()) and applies it at the next index. */
void fx_apply_as(struct fx *f, const char *tenant, uint64_t time_ms, Command *cmd,
                 struct archive_result *res);
/* fx_apply_as() for a command that must be applied: fails the case, printing the
 * refusal's message, unless the answer is ARCHIVE_OK. */
void fx_apply_ok(struct fx *f, const char *tenant, uint64_t time_ms, Command *cmd);
/* Creates the default tenant's user @username (named the same) with the one role @role
 * and a fixed password hash, at FX_T0. */
void fx_create_user(struct fx *f, const char *username, const char *role);

/* Creates tenant @id named @name, a command of @id's at FX_T0. */
void fx_create_tenant(struct fx *f, const char *id, const char *name,
                      struct archive_result *res);
/* Installs @tenant's license @id (issued, expiring, its quota of bytes and files, its
 * modes; document "{}"), a command of @tenant's at @now_ms. */
void fx_install_license(struct fx *f, const char *tenant, const char *id, uint64_t issued_ms,
                        uint64_t expires_ms, uint64_t quota_bytes, uint64_t max_files,
                        unsigned modes, uint64_t now_ms, struct archive_result *res);
/* Fills @cmd's body and @a as the capture of @image_no's file @file_id named @name: a
 * PDF of 1000 bytes on one page whose content, and the request's digest, is the 32
 * bytes of @blob. @cmd, @a and @blob are borrowed: they must outlive the command. */
void fx_add_file_cmd(Command *cmd, AddFile *a, uint8_t *blob, const char *image_no,
                     const char *file_id, const char *name);
/* Captures that file for the default tenant at FX_T0 with idempotency key @idem (NULL:
 * none), its content @blob_byte repeated; a name holding @image_no makes it a cover. */
void fx_add_file(struct fx *f, const char *image_no, const char *file_id, const char *name,
                 const char *idem, uint8_t blob_byte, struct archive_result *res);

/* Captures file @file_id of @image_no (default tenant, FX_T0) whose content is @byte
 * repeated, held by @holders (the blob record's nodes). */
void fx_capture_held(struct fx *f, const char *image_no, const char *file_id, uint8_t byte,
                     uint64_t *holders, size_t n_holders);
/* Deletes file @file_id of @image_no (FX_T0 + 1 s); the command must apply. */
void fx_delete_file(struct fx *f, const char *image_no, const char *file_id);

/* The path of tests/fixtures/@folder/@name, found from this module's own source path
 * (CMake compiles sources by absolute path); the caller frees it. */
char *fx_fixture_path(const char *folder, const char *name);
/* The whole (non-empty) file at @path, in a new allocation the caller frees. */
char *fx_slurp(const char *path, size_t *len);

#endif
