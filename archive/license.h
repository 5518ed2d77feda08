/* Signed licenses: the document format, Ed25519 signing and verification, key files.
 *
 * A license document is JSON:
 *     {"payload": "<license JSON text>", "signature": "<base64 Ed25519 signature>"}
 * The signature covers exactly the bytes of the payload string, so no canonical form
 * of JSON is needed. The payload is {"license_id", "tenant", "issued", "expires"
 * (RFC 3339), "quota_bytes", "modes": ["basic", "sync", "match"], "max_files" (0: no
 * limit)}. Who may sign is decided by the public keys a node trusts
 * (--license-pubkey); the state machine never verifies, it applies what a node
 * verified (docs/licenses.md says why).
 *
 * Key files hold the key in lowercase hex on one line. Pure functions but the key
 * file ones, which do blocking I/O (tools and node start-up only). Any thread. */
#ifndef IMGARC_ARCHIVE_LICENSE_H
#define IMGARC_ARCHIVE_LICENSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define LICENSE_PUBLIC_KEY_BYTES 32
#define LICENSE_SECRET_KEY_BYTES 64
#define LICENSE_ID_MAX 64
#define LICENSE_DOC_MAX (16u << 10)

enum license_mode {
    LICENSE_MODE_BASIC = 1,
    LICENSE_MODE_SYNC = 2,
    LICENSE_MODE_MATCH = 4,
};
#define LICENSE_MODES_ALL (LICENSE_MODE_BASIC | LICENSE_MODE_SYNC | LICENSE_MODE_MATCH)

struct license {
    char license_id[LICENSE_ID_MAX + 1];
    char tenant[LICENSE_ID_MAX + 1];
    uint64_t issued_ms;
    uint64_t expires_ms;
    uint64_t quota_bytes;
    uint64_t max_files; /* 0: no limit */
    unsigned modes;     /* enum license_mode bits */
};

void license_keygen(uint8_t pk[LICENSE_PUBLIC_KEY_BYTES], uint8_t sk[LICENSE_SECRET_KEY_BYTES]);
/* The document for @l signed with @sk: a fresh malloc()ed, NUL-terminated string. */
char *license_sign(const struct license *l, const uint8_t sk[LICENSE_SECRET_KEY_BYTES]);
/* Checks that @doc is a license document signed by one of the @n_keys trusted public
 * keys and parses its payload into @out. On failure returns BASE_EINVAL and says
 * what is wrong in @err (not JSON, no signature, signed by a key not trusted, a field
 * missing or of the wrong type, expiry before issue...). @out is untouched then. */
int license_verify(const char *doc, size_t len, const uint8_t (*keys)[LICENSE_PUBLIC_KEY_BYTES],
                   size_t n_keys, struct license *out, struct base_err *err) WARN_UNUSED;

/* "basic,sync,match" into enum license_mode bits; -1 on an unknown or empty mode. */
int license_modes_parse(const char *csv, unsigned *out) WARN_UNUSED;
/* "basic,sync" for @modes into @buf. */
void license_modes_format(unsigned modes, char *buf, size_t size);
/* The bit of one mode name; 0 for an unknown one. */
unsigned license_mode_bit(const char *name);

/* Reads a key file of exactly @bytes bytes in hex. */
int license_read_key(const char *path, uint8_t *key, size_t bytes,
                     struct base_err *err) WARN_UNUSED;
/* Writes a key file with @mode permissions; refuses to overwrite an existing file. */
int license_write_key(const char *path, const uint8_t *key, size_t bytes, unsigned mode,
                      struct base_err *err) WARN_UNUSED;

#endif
