/* The export zip (format "imgarc-export/1", docs/cli.md, "export"): what imgarc export
 * writes and export-verify checks. */
#ifndef IMGARC_TOOLS_CLI_EXPORT_ZIP_H
#define IMGARC_TOOLS_CLI_EXPORT_ZIP_H

#include <sodium.h>
#include <stdint.h>
#include <zip.h>

#include "tools/cli/cli.h"

#define EXPORT_FORMAT "imgarc-export/1"
#define HASH_BYTES 32
#define MANIFEST_MAX (256u << 20) /* the largest manifest the verifier reads */
#define CSV_HEADER "image_no,position,file_id,name,category,size,blake2b_256,sha256,path\r\n"

/* BLAKE2b-256 (a file's blob name) and SHA-256 of a stream, with its size. */
struct hashes {
    crypto_generichash_state blake;
    crypto_hash_sha256_state sha;
    uint64_t size;
};
void hashes_init(struct hashes *h);
void hashes_update(struct hashes *h, const void *data, size_t len);
void hashes_final(struct hashes *h, char blake_hex[2 * HASH_BYTES + 1],
                  char sha_hex[2 * HASH_BYTES + 1]);

/* A growing NUL-terminated text. */
struct text {
    char *buf;
    size_t len, cap;
};
void text_add(struct text *t, const char *s, size_t n);
/* One CSV field (RFC 4180), then a comma, or CRLF when @last. */
void csv_field(struct text *t, const char *s, bool last);

struct export_totals {
    uint64_t bills, files, bytes;
};
/* Checks the export at @path against its manifest (each problem on stderr): 0 with the
 * problems found in *@problems (0: valid) and what was checked in @t; CLI_ELOCAL when
 * @path is not a zip that can be opened. */
int export_zip_verify(const char *path, struct export_totals *t, unsigned *problems);

#endif
