/* license keygen, sign, verify, install and show. keygen, sign and verify ask no
 * server: they use the license codec of archive/license.h, and wipe a secret key once
 * used. install sends the document's bytes as they are; show prints the license in
 * force and the tenant's history. */
#include "tools/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "archive/license.h"
#include "base/clock.h"
#include "base/hex.h"

/* ---- license: shared helpers ---- */

#define KEY_FILE_NAME "license.key"
#define PUB_FILE_NAME "license.pub"
/* A license id made up by sign: "lic-" and this many random bytes in hex. */
#define LICENSE_ID_RANDOM_BYTES 8
/* license verify found the document not valid: exit 1, like a refusal by a node. */
#define VERIFY_FAILED CLI_ESERVER

/* A file count limit; 0 or null means none. */
void put_max_files(const json_t *v)
{
    if (json_integer_value(v) > 0) {
        printf("%-10s %lld\n", "max_files", (long long)json_integer_value(v));
    } else {
        put_field("max_files", "no limit");
    }
}

/* A JSON list of mode names as "basic,sync". */
static void put_modes(const json_t *modes)
{
    const json_t *m;
    size_t i;
    printf("%-10s ", "modes");
    json_array_foreach(modes, i, m)
    {
        const char *name = json_string_value(m);
        if (i > 0) {
            putchar(',');
        }
        put_text(name != NULL ? name : "?");
    }
    puts(json_array_size(modes) > 0 ? "" : "-");
}

/* A license as the API spells it: LICENSE in docs/cli.md. The fields only a node
 * knows (days_left, installed) are printed when present. */
static void print_license(const json_t *lic)
{
    const json_t *days = json_object_get(lic, "expires_in_days");
    const char *warning = json_string_value(json_object_get(lic, "warning"));
    put_field("license_id", jstr(lic, "license_id"));
    put_field("tenant", jstr(lic, "tenant"));
    put_field("issued", jstr(lic, "issued"));
    put_field("expires", jstr(lic, "expires"));
    if (json_is_integer(days)) {
        printf("%-10s %lld\n", "days_left", (long long)json_integer_value(days));
    }
    put_size("quota", jint(lic, "quota_bytes"));
    putchar('\n');
    put_modes(json_object_get(lic, "modes"));
    put_max_files(json_object_get(lic, "max_files"));
    if (json_object_get(lic, "installed") != NULL) {
        put_field("installed", jstr(lic, "installed"));
    }
    if (warning != NULL) {
        put_field("warning", warning);
    }
}

/* Reads a license document from @path, or from stdin for "-", into a fresh
 * NUL-terminated buffer. A document is at most LICENSE_DOC_MAX bytes. */
static int read_document(const char *path, char **out, size_t *len)
{
    bool from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "stdin" : path;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    char *buf;
    size_t n;
    int rv = CLI_ELOCAL;
    if (f == NULL) {
        fprintf(stderr, "imgarc: %s: %s\n", path, strerror(errno));
        return CLI_ELOCAL;
    }
    if (from_stdin && isatty(STDIN_FILENO)) {
        fprintf(stderr, "imgarc: reading the license document from the terminal; end it with "
                        "Ctrl-D\n");
    }
    buf = xmalloc(LICENSE_DOC_MAX + 2);
    n = fread(buf, 1, LICENSE_DOC_MAX + 1, f);
    if (ferror(f)) {
        fprintf(stderr, "imgarc: %s: read: %s\n", name, strerror(errno));
    } else if (n > LICENSE_DOC_MAX) {
        fprintf(stderr, "imgarc: %s: over %u bytes, too large for a license document\n", name,
                LICENSE_DOC_MAX);
    } else if (n == 0) {
        fprintf(stderr, "imgarc: %s: empty; expected a license document from 'imgarc license "
                        "sign'\n", name);
    } else {
        rv = 0;
    }
    if (!from_stdin) {
        fclose(f);
    }
    if (rv != 0) {
        free(buf);
        return rv;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Reads a key file of @bytes bytes written by license keygen. */
static int read_key(const char *path, uint8_t *key, size_t bytes)
{
    struct base_err err = {{0}};
    if (license_read_key(path, key, bytes, &err) != 0) {
        fprintf(stderr, "imgarc: %s\n", err.msg);
        return CLI_ELOCAL;
    }
    return 0;
}

/* ---- license keygen ---- */

/* Creates @dir and any missing parent; @dir itself gets @mode. */
static int make_dirs(const char *dir, mode_t mode)
{
    char *path = xstrdup(dir);
    int rv = 0;
    for (char *p = strchr(path + 1, '/'); p != NULL && rv == 0; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "imgarc: mkdir %s: %s\n", path, strerror(errno));
            rv = CLI_ELOCAL;
        }
        *p = '/';
    }
    if (rv == 0 && mkdir(path, mode) != 0 && errno != EEXIST) {
        fprintf(stderr, "imgarc: mkdir %s: %s\n", path, strerror(errno));
        rv = CLI_ELOCAL;
    }
    free(path);
    return rv;
}

/* Neither key file may exist: a key pair is never half replaced. */
static int check_no_keys(const char *key_path, const char *pub_path)
{
    const char *paths[] = {key_path, pub_path};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        struct stat st;
        if (lstat(paths[i], &st) == 0) {
            fprintf(stderr, "imgarc: %s exists already; not overwriting a key (the licenses "
                            "signed with it would no longer verify): choose another --out\n",
                    paths[i]);
            return CLI_ELOCAL;
        }
        if (errno != ENOENT) {
            fprintf(stderr, "imgarc: %s: %s\n", paths[i], strerror(errno));
            return CLI_ELOCAL;
        }
    }
    return 0;
}

/* Writes one key file; a file this call created is removed again when it fails. */
static int write_key(const char *path, const uint8_t *key, size_t bytes, unsigned mode)
{
    struct base_err err = {{0}};
    int rv = license_write_key(path, key, bytes, mode, &err);
    if (rv == 0) {
        return 0;
    }
    fprintf(stderr, "imgarc: %s\n", err.msg[0] != '\0' ? err.msg : path);
    if (rv != BASE_EEXISTS) {
        unlink(path);
    }
    return CLI_ELOCAL;
}

/* Writes a fresh key pair; on failure neither file is left behind. */
static int write_key_pair(const char *key_path, const char *pub_path)
{
    uint8_t pk[LICENSE_PUBLIC_KEY_BYTES], sk[LICENSE_SECRET_KEY_BYTES];
    int rv;
    if (sodium_init() < 0) {
        fprintf(stderr, "imgarc: libsodium failed to initialize\n");
        return CLI_ELOCAL;
    }
    license_keygen(pk, sk);
    rv = write_key(key_path, sk, sizeof sk, 0600);
    sodium_memzero(sk, sizeof sk);
    if (rv == 0) {
        rv = write_key(pub_path, pk, sizeof pk, 0644);
        /* 0644 whatever the umask: it is public */
        if (rv == 0 && chmod(pub_path, 0644) != 0) {
            fprintf(stderr, "imgarc: chmod %s: %s\n", pub_path, strerror(errno));
            unlink(pub_path);
            rv = CLI_ELOCAL;
        }
        if (rv != 0) {
            unlink(key_path);
        }
    }
    return rv;
}

static int license_keygen_cmd(struct cli *cli, int argc, char **argv)
{
    const char *dir = NULL;
    const struct flag flags[] = {{"--out", NULL, FLAG_VALUE, &dir}};
    char *key_path = NULL, *pub_path = NULL;
    struct args a;
    int rv = parse_command(cli, "license keygen", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("license keygen", &a, 0, 0, "nothing");
    }
    if (rv == 0 && (dir == NULL || dir[0] == '\0')) {
        rv = usage_error("license keygen", "missing --out DIR, the directory for the keys");
    }
    if (rv == 0) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') {
            n--; /* "keys/" is "keys", which gets mode 0700 */
        }
        key_path = xasprintf("%.*s/%s", (int)n, dir, KEY_FILE_NAME);
        pub_path = xasprintf("%.*s/%s", (int)n, dir, PUB_FILE_NAME);
        key_path[n] = '\0';
        rv = make_dirs(key_path, 0700);
        key_path[n] = '/';
    }
    if (rv == 0) {
        rv = check_no_keys(key_path, pub_path);
    }
    if (rv == 0) {
        rv = write_key_pair(key_path, pub_path);
    }
    if (rv == 0) {
        printf("secret key  %s  (mode 0600: keep it private and offline, it signs licenses)\n",
               key_path);
        printf("public key  %s  (for the nodes: imgarcd --license-pubkey %s)\n", pub_path,
               pub_path);
    }
    free(key_path);
    free(pub_path);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- license sign and verify ---- */

struct sign_opts {
    const char *key;
    const char *expires;
    const char *issued;
    const char *quota;
    const char *modes;
    const char *max_files;
    const char *id;
};

/* --issued and --expires into @l; --issued defaults to now. */
static int sign_times(const struct sign_opts *o, struct license *l)
{
    int64_t now = (int64_t)clock_wall_ms();
    int64_t issued = o->issued != NULL ? clock_parse_rfc3339(o->issued) : now;
    int64_t expires = clock_parse_rfc3339(o->expires);
    const char *bad = issued < 0 ? "--issued" : expires < 0 ? "--expires" : NULL;
    if (bad != NULL) {
        return usage_error("license sign", "%s '%s' is not an RFC 3339 time such as "
                                           "2027-12-31T00:00:00Z",
                           bad, issued < 0 ? o->issued : o->expires);
    }
    if (expires <= issued) {
        return usage_error("license sign", "--expires must be later than --issued (%s)",
                           o->issued != NULL ? o->issued : "now");
    }
    l->issued_ms = (uint64_t)issued;
    l->expires_ms = (uint64_t)expires;
    return 0;
}

/* Checks every flag of license sign and fills @l from them. */
static int sign_fields(const char *tenant, const struct sign_opts *o, struct license *l)
{
    const char *cmd = "license sign";
    const char *missing = o->key == NULL       ? "--key FILE"
                          : tenant == NULL     ? "--tenant ID"
                          : o->expires == NULL ? "--expires TIME"
                          : o->quota == NULL   ? "--quota-bytes N"
                          : o->modes == NULL   ? "--modes LIST"
                                               : NULL;
    if (missing != NULL) {
        return usage_error(cmd, "missing %s", missing);
    }
    if (check_id(cmd, "--tenant", tenant) != 0 ||
        (o->id != NULL && check_id(cmd, "--id", o->id) != 0) || sign_times(o, l) != 0) {
        return CLI_EUSAGE;
    }
    if (!parse_count(o->quota, true, &l->quota_bytes)) {
        return usage_error(cmd, "--quota-bytes '%s' is not a number of bytes such as "
                                "1099511627776 or 1T (K, M, G, T: powers of 1024)", o->quota);
    }
    if (o->max_files != NULL && !parse_count(o->max_files, false, &l->max_files)) {
        return usage_error(cmd, "--max-files '%s' is not a whole number (0: no limit)",
                           o->max_files);
    }
    if (license_modes_parse(o->modes, &l->modes) != 0) {
        return usage_error(cmd, "--modes '%s' is not a comma-separated list of basic, sync, "
                                "match", o->modes);
    }
    snprintf(l->tenant, sizeof l->tenant, "%s", tenant);
    if (o->id != NULL) {
        snprintf(l->license_id, sizeof l->license_id, "%s", o->id);
    } else {
        uint8_t raw[LICENSE_ID_RANDOM_BYTES];
        char hex[2 * sizeof raw + 1];
        randombytes_buf(raw, sizeof raw); /* initializes itself; no sodium_init() needed */
        hex_encode(raw, sizeof raw, hex);
        snprintf(l->license_id, sizeof l->license_id, "lic-%s", hex);
    }
    return 0;
}

static int license_sign_cmd(struct cli *cli, int argc, char **argv)
{
    struct sign_opts o = {0};
    const struct flag flags[] = {
        {"--key", NULL, FLAG_VALUE, &o.key},
        {"--expires", NULL, FLAG_VALUE, &o.expires},
        {"--issued", NULL, FLAG_VALUE, &o.issued},
        {"--quota-bytes", NULL, FLAG_VALUE, &o.quota},
        {"--modes", NULL, FLAG_VALUE, &o.modes},
        {"--max-files", NULL, FLAG_VALUE, &o.max_files},
        {"--id", NULL, FLAG_VALUE, &o.id},
    };
    uint8_t sk[LICENSE_SECRET_KEY_BYTES];
    struct license l = {0};
    struct args a;
    int rv = parse_command(cli, "license sign", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("license sign", &a, 0, 0, "nothing");
    }
    if (rv == 0) {
        /* The license's tenant is the global --tenant, given before or after "sign". */
        const char *tenant = cli->conn.tenant;
        rv = sign_fields(tenant != NULL && tenant[0] != '\0' ? tenant : NULL, &o, &l);
    }
    if (rv == 0) {
        rv = read_key(o.key, sk, sizeof sk);
    }
    if (rv == 0) {
        char *doc = license_sign(&l, sk);
        puts(doc);
        free(doc);
        if (l.expires_ms <= clock_wall_ms()) {
            fprintf(stderr, "imgarc: license sign: warning: --expires %s is past; nodes refuse "
                            "to install an expired license\n", o.expires);
        }
    }
    sodium_memzero(sk, sizeof sk);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* The verified fields of @l with the names the API gives them. */
static json_t *license_fields(const struct license *l)
{
    char issued[40], expires[40], modes[32];
    json_t *list = json_array();
    json_t *obj;
    clock_format_rfc3339(l->issued_ms, issued, sizeof issued);
    clock_format_rfc3339(l->expires_ms, expires, sizeof expires);
    license_modes_format(l->modes, modes, sizeof modes);
    for (char *save = NULL, *tok = strtok_r(modes, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        json_array_append_new(list, json_string(tok));
    }
    obj = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "license_id", l->license_id,
                    "tenant", l->tenant, "issued", issued, "expires", expires, "quota_bytes",
                    (json_int_t)l->quota_bytes, "max_files", (json_int_t)l->max_files,
                    "modes", list);
    ASSERT(obj != NULL);
    if (clock_wall_ms() >= l->expires_ms) {
        json_object_set_new(obj, "warning",
                            json_string("expired: nodes refuse to install this license"));
    }
    return obj;
}

static int license_verify_cmd(struct cli *cli, int argc, char **argv)
{
    const char *pub = NULL;
    const struct flag flags[] = {
        {"--pub", NULL, FLAG_VALUE, &pub}, {"--json", NULL, FLAG_BOOL, &cli->json}};
    uint8_t keys[1][LICENSE_PUBLIC_KEY_BYTES];
    struct base_err err = {{0}};
    struct license l;
    char *doc = NULL;
    size_t len = 0;
    struct args a;
    int rv = parse_command(cli, "license verify", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("license verify", &a, 0, 1, "DOCUMENT_FILE");
    }
    if (rv == 0 && pub == NULL) {
        rv = usage_error("license verify", "missing --pub FILE, the public key to check against");
    }
    if (rv == 0) {
        rv = read_key(pub, keys[0], sizeof keys[0]);
    }
    if (rv == 0) {
        rv = read_document(a.n > 0 ? a.pos[0] : "-", &doc, &len);
    }
    if (rv == 0 && license_verify(doc, len, (const uint8_t(*)[LICENSE_PUBLIC_KEY_BYTES])keys, 1,
                                  &l, &err) != 0) {
        fprintf(stderr, "imgarc: %s: not a valid license for the key in %s: %s\n",
                a.n > 0 && strcmp(a.pos[0], "-") != 0 ? a.pos[0] : "stdin", pub, err.msg);
        rv = VERIFY_FAILED;
    } else if (rv == 0) {
        json_t *fields = license_fields(&l);
        if (cli->json) {
            print_json(fields, false);
        } else {
            char *good = xasprintf("good (the key in %s)", pub);
            print_license(fields);
            put_field("signature", good);
            free(good);
        }
        json_decref(fields);
    }
    free(doc);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- license install and show ---- */

static int license_install_cmd(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/licenses"};
    json_t *ans = NULL;
    char *doc = NULL;
    size_t len = 0;
    long status = 0;
    struct args a;
    int rv = parse_command(cli, "license install", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("license install", &a, 1, 1, "DOCUMENT_FILE (or - for stdin)");
    }
    if (rv == 0) {
        rv = read_document(a.pos[0], &doc, &len);
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        /* The bytes as signed: the node checks the signature over them. */
        rv = cli_http_send(cli->http, &req, doc, len, &status, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        put_text(jstr(ans, "tenant"));
        fputs(": license ", stdout);
        put_text(jstr(ans, "license_id"));
        printf(" %s (index %lld)\n",
               status == 200 ? "is in force already, nothing changed" : "installed",
               jint(ans, "index"));
        print_license(ans);
    }
    json_decref(ans);
    free(doc);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* Every license the tenant has had, one line each: ID ISSUED EXPIRES QUOTA MODES. */
static void print_history(const json_t *history)
{
    const json_t *l;
    size_t i;
    if (json_array_size(history) == 0) {
        return;
    }
    printf("\n%-24s  %-24s  %-24s  %10s  %s\n", "HISTORY", "ISSUED", "EXPIRES", "QUOTA",
           "MODES");
    json_array_foreach(history, i, l)
    {
        const json_t *m;
        size_t k;
        char quota[32];
        human_bytes((uint64_t)(jint(l, "quota_bytes") > 0 ? jint(l, "quota_bytes") : 0), quota,
                    sizeof quota);
        put_cell(jstr(l, "license_id"), 24);
        put_cell(jstr(l, "issued"), 24);
        put_cell(jstr(l, "expires"), 24);
        printf("%10s  ", quota);
        json_array_foreach(json_object_get(l, "modes"), k, m)
        {
            printf("%s", k > 0 ? "," : "");
            put_text(json_string_value(m) != NULL ? json_string_value(m) : "?");
        }
        putchar('\n');
    }
}

static void print_license_answer(const json_t *ans)
{
    const json_t *lic = json_object_get(ans, "license");
    if (json_is_object(lic)) {
        print_license(lic);
    } else {
        fputs("no license installed for tenant ", stdout);
        put_text(jstr(ans, "tenant"));
        putchar('\n');
    }
    print_history(json_object_get(ans, "history"));
}

static int license_show_cmd(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "license show", "/api/v1/licenses", argc, argv, print_license_answer);
}

int cmd_license(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"keygen", license_keygen_cmd}, {"sign", license_sign_cmd},
        {"verify", license_verify_cmd}, {"install", license_install_cmd},
        {"show", license_show_cmd},
    };
    return run_action(cli, "license", actions, ARRAY_SIZE(actions), argc, argv);
}
