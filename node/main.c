/* imgarcd: wires the store, the archive, raft, the blob store and the API together,
 * runs the loop, and shuts down cleanly on SIGTERM or SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "api/api.h"
#include "archive/archive.h"
#include "archive/document.h"
#include "archive/license.h"
#include "archive/nodes.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "migrate/runner.h"
#include "migrate/sync.h"
#include "node/config.h"
#include "node/identity.h"
#include "node/notify.h"
#include "node/restored.h"
#include "net/http_client.h"
#include "net/http_tls.h"
#include "replication/repl.h"
#include "storage/blobstore.h"
#include "storage/rocks.h"
#include "storage/store_swap.h"
#include "version.h"

struct node {
    struct node_config config;
    uv_loop_t loop;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_signal_t sighup;
    struct node_notify notify; /* systemd's Type=notify */
    int argc; /* the command line, read again on SIGHUP */
    char **argv;
    bool reloading;    /* a SIGHUP's reload is on a worker */
    bool reload_again; /* and another SIGHUP came meanwhile */
    struct rocks *db;
    struct archive archive;
    struct blob_store blobs;
    struct repl *repl;
    struct http_client *http;
    struct outbound *outbound;
    struct outbox *outbox;
    struct recognizer *recognizer;
    struct migrate_runner *migrator;
    struct sync_runner *syncer;
    char *recognition_secret;
    struct collect_gc *collect_gc;
    struct keeper *keeper;
    struct api *api;
    struct http_tls *tls; /* --tls-cert: TLS on the HTTP port; NULL: plain */
    char *token;
    bool token_generated; /* made on this start: the banner shows it, once */
    char *metrics_token;
    struct peer_auth auth;
    struct peer_clock peer_clock; /* other nodes' clock offsets, attached to auth */
    bool has_auth;
    bool bootstrap;     /* may start a new cluster (a new data dir without --join) */
    bool joining;       /* asks --join to be added (a new data dir, or one still joining) */
    char *joining_marker;
    uint64_t restored_index; /* DATA/restored: a store from a backup to adopt (0: none) */
    uint8_t (*license_keys)[LICENSE_PUBLIC_KEY_BYTES];
    bool stopping;
};

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Bearer tokens shorter than this are refused: a guessable operator token is the whole
 * archive. */
#define TOKEN_BYTES_MIN 16

/* The data dir holds the token key, password hashes, webhook secrets and the operator
 * token: only this user may enter it. A wider mode left by an older version or by hand
 * is narrowed (with a warning) rather than refused: the directory is imgarcd's alone, so
 * narrowing takes nothing from anyone, and refusing would stop every upgraded node. */
static int secure_data_dir(const char *data, struct base_err *err)
{
    struct stat st;
    if (stat(data, &st) != 0) {
        base_err_set(err, "data dir %s: %s", data, strerror(errno));
        return BASE_EIO;
    }
    if (!S_ISDIR(st.st_mode)) {
        base_err_set(err, "data dir %s is not a directory", data);
        return BASE_EINVAL;
    }
    if ((st.st_mode & 077) != 0) {
        if (chmod(data, 0700) != 0) {
            base_err_set(err, "data dir %s has mode %o (other users may read its secrets) and "
                              "chmod 0700 failed: %s; fix its mode or owner",
                         data, (unsigned)(st.st_mode & 0777), strerror(errno));
            return BASE_EIO;
        }
        LOG_WARN("node", "data dir %s had mode %o: other users could read its secrets; set it "
                         "to 0700", data, (unsigned)(st.st_mode & 0777));
    }
    return 0;
}

/* A file holding a secret must be readable by this user only (as ssh wants of keys). */
static int check_private_file(const char *path, const char *flag, struct base_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        base_err_set(err, "%s %s: %s", flag, path, strerror(errno));
        return BASE_EINVAL;
    }
    if ((st.st_mode & 077) != 0) {
        base_err_set(err, "%s %s can be read or written by other users (mode %o): it holds a "
                          "secret; chmod 600 it and start again",
                     flag, path, (unsigned)(st.st_mode & 0777));
        return BASE_EINVAL;
    }
    return 0;
}

/* The first line of @path, without its end of line (at most @size - 1 bytes); "" when
 * the file does not exist. */
static int read_line(const char *path, char *buf, size_t size, struct base_err *err)
{
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        base_err_set(err, "open %s: %s", path, strerror(errno));
        return BASE_EIO;
    }
    if (fgets(buf, (int)size, f) == NULL) {
        buf[0] = '\0';
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* The operator token: --bootstrap-token, else DATA/bootstrap-token, made on first start
 * (the only start whose banner shows it). Short tokens are refused. */
static int bootstrap_token(struct node *n, struct base_err *err)
{
    const struct node_config *c = &n->config;
    char *path = xasprintf("%s/bootstrap-token", c->data);
    char buf[256];
    int rv = 0;
    if (c->bootstrap_token != NULL) {
        if (strlen(c->bootstrap_token) < TOKEN_BYTES_MIN) {
            base_err_set(err, "--bootstrap-token has %zu bytes: an operator token needs at "
                              "least %d (e.g. openssl rand -hex 24), or leave it unset to have "
                              "one generated into %s",
                         strlen(c->bootstrap_token), TOKEN_BYTES_MIN, path);
            rv = BASE_EINVAL;
        } else {
            n->token = xstrdup(c->bootstrap_token);
        }
    } else if ((rv = read_line(path, buf, sizeof buf, err)) == 0 && buf[0] != '\0') {
        if (strlen(buf) < TOKEN_BYTES_MIN) {
            base_err_set(err, "%s holds a token of %zu bytes: an operator token needs at least "
                              "%d; delete the file to have a new one generated, or set "
                              "--bootstrap-token", path, strlen(buf), TOKEN_BYTES_MIN);
            rv = BASE_EINVAL;
        } else {
            n->token = xstrdup(buf);
        }
    } else if (rv == 0) {
        uint8_t raw[24];
        int fd;
        randombytes_buf(raw, sizeof raw);
        hex_encode(raw, sizeof raw, buf);
        sodium_memzero(raw, sizeof raw);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, buf, strlen(buf)) < 0 || fsync(fd) != 0) {
            LOG_WARN("node", "cannot save the operator token to %s: %s", path, strerror(errno));
        }
        if (fd >= 0) {
            close(fd);
        }
        n->token = xstrdup(buf);
        n->token_generated = true;
    }
    sodium_memzero(buf, sizeof buf);
    free(path);
    return rv;
}

/* --metrics-token-file: a token that reads the tenant series of /metrics only. */
static int metrics_token(struct node *n, struct base_err *err)
{
    const char *path = n->config.metrics_token_file;
    char buf[256];
    int rv;
    if (path == NULL) {
        return 0;
    }
    if ((rv = check_private_file(path, "--metrics-token-file", err)) != 0 ||
        (rv = read_line(path, buf, sizeof buf, err)) != 0) {
        return rv;
    }
    if (strlen(buf) < TOKEN_BYTES_MIN) {
        base_err_set(err, "--metrics-token-file %s holds %zu bytes: a token needs at least %d "
                          "(e.g. openssl rand -hex 24)", path, strlen(buf), TOKEN_BYTES_MIN);
        sodium_memzero(buf, sizeof buf);
        return BASE_EINVAL;
    }
    n->metrics_token = xstrdup(buf);
    sodium_memzero(buf, sizeof buf);
    return 0;
}

/* --recognition-secret-file: signs the requests to the recognition service. */
static int recognition_secret(struct node *n, struct base_err *err)
{
    const char *path = n->config.recognition_secret_file;
    char buf[512];
    int rv;
    if (path == NULL) {
        return 0;
    }
    if ((rv = check_private_file(path, "--recognition-secret-file", err)) != 0 ||
        (rv = read_line(path, buf, sizeof buf, err)) != 0) {
        return rv;
    }
    if (strlen(buf) < TOKEN_BYTES_MIN) {
        base_err_set(err, "--recognition-secret-file %s holds %zu bytes: a secret needs at "
                          "least %d (e.g. openssl rand -hex 24)", path, strlen(buf),
                     TOKEN_BYTES_MIN);
        sodium_memzero(buf, sizeof buf);
        return BASE_EINVAL;
    }
    n->recognition_secret = xstrdup(buf);
    sodium_memzero(buf, sizeof buf);
    return 0;
}

static int split_host_port(const char *addr, char *host, size_t size, int *port)
{
    const char *colon = strrchr(addr, ':');
    char *end;
    long p;
    if (colon == NULL || (size_t)(colon - addr) >= size || colon == addr) {
        return -1;
    }
    p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || p < 0 || p > 65535) {
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    *port = (int)p;
    return 0;
}

static void stopped_repl(void *arg)
{
    struct node *n = arg;
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sighup, NULL);
}

static void handed_over(void *arg)
{
    struct node *n = arg;
    LOG_INFO("node", "stopping raft");
    repl_stop(n->repl, stopped_repl, n);
}

static void stopped_http_client(void *arg)
{
    struct node *n = arg;
    n->http = NULL;
    repl_handover(n->repl, handed_over, n);
}

static void stopped_api(void *arg)
{
    struct node *n = arg;
    n->api = NULL;
    LOG_INFO("node", "HTTP server stopped; stopping the outbox and the blob keeper");
    outbox_stop(n->outbox);
    recognizer_stop(n->recognizer);
    collect_gc_stop(n->collect_gc);
    outbound_close(n->outbound);
    keeper_stop(n->keeper);
    http_client_close(n->http, stopped_http_client, n);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct node *n = sig->data;
    if (n->stopping) {
        LOG_WARN("node", "second signal %d: exiting at once", signum);
        _exit(1);
    }
    n->stopping = true;
    node_notify_stopping(&n->notify);
    LOG_INFO("node", "signal %d: shutting down (grace %llu ms)", signum,
             (unsigned long long)n->config.shutdown_grace_ms);
    repl_set_draining(n->repl);
    migrate_runner_stop(n->migrator);
    sync_runner_stop(n->syncer);
    api_stop(n->api, n->config.shutdown_grace_ms, stopped_api, n);
}

/* A SIGHUP's reload: the configuration is read on a worker (a file on disk), applied on
 * the loop. */
struct reload {
    uv_work_t work;
    struct node *node;
    struct node_config fresh;
    int rv;
    struct http_tls *tls; /* the certificate files read again (NULL: not, or failed) */
    char tls_err[600];
};

/* What --tls-cert, --tls-key and --tls-client-ca name. */
static struct http_tls_files tls_files(const struct node_config *c)
{
    struct http_tls_files f = {
        .cert = c->tls_cert, .key = c->tls_key, .client_ca = c->tls_client_ca};
    return f;
}

static void start_reload(struct node *n);

static void reload_work(uv_work_t *w)
{
    struct reload *r = w->data;
    r->rv = node_config_load(&r->fresh, r->node->argc, r->node->argv);
    /* A renewed certificate keeps its path: the files are read again on every SIGHUP. */
    if (r->rv == 0 && r->node->tls != NULL && r->fresh.tls_cert != NULL) {
        struct http_tls_files f = tls_files(&r->fresh);
        r->tls = http_tls_new(&f, r->tls_err, sizeof r->tls_err);
    }
}

/* Puts the certificate read again in use for new connections, or says why not. */
static void apply_tls_reload(struct node *n, struct reload *r)
{
    char desc[300];
    if (n->tls == NULL) {
        return; /* TLS is turned on (or off) at a start, not by SIGHUP */
    }
    if (r->fresh.tls_cert == NULL) {
        LOG_WARN("node", "SIGHUP: TLS cannot be turned off while the node runs: still using "
                 "the certificate loaded before until the next start");
        return;
    }
    if (r->tls == NULL) {
        LOG_ERROR("node", "SIGHUP: TLS certificate not reloaded, still using the one loaded "
                  "before: %s", r->tls_err);
        return;
    }
    http_tls_swap(n->tls, r->tls);
    r->tls = NULL;
    http_tls_describe(n->tls, desc, sizeof desc);
    LOG_INFO("node", "SIGHUP: TLS certificate reloaded for new connections: %s", desc);
}

/* Applies what can change while the node runs: log-level and outbound-allow. Every other
 * key that changed is named as waiting for the next start. */
static void apply_reload(struct node *n, struct node_config *fresh)
{
    struct base_err err = {{0}};
    const char *changed[64];
    char later[512];
    size_t n_changed, used = 0;
    n_changed = node_config_diff(&n->config, fresh, changed, ARRAY_SIZE(changed));
    if (n_changed > ARRAY_SIZE(changed)) {
        n_changed = ARRAY_SIZE(changed);
    }
    later[0] = '\0';
    for (size_t i = 0; i < n_changed; i++) {
        const char *key = changed[i];
        if (strcmp(key, "log-level") == 0) {
            char *old = n->config.log_level;
            LOG_INFO("node", "SIGHUP: log-level %s -> %s", n->config.log_level, fresh->log_level);
            log_set_level((enum log_level)log_level_parse(fresh->log_level));
            n->config.log_level = fresh->log_level;
            fresh->log_level = old; /* freed with fresh */
        } else if (strcmp(key, "outbound-allow") == 0) {
            struct config_list old = n->config.outbound_allow;
            if (outbound_set_allow(n->outbound, (const char *const *)fresh->outbound_allow.items,
                                   fresh->outbound_allow.n, &err) != 0) {
                LOG_ERROR("node", "SIGHUP: outbound-allow not changed: %s", err.msg);
                continue;
            }
            LOG_INFO("node", "SIGHUP: outbound-allow now has %zu rule%s (had %zu)",
                     fresh->outbound_allow.n, fresh->outbound_allow.n == 1 ? "" : "s", old.n);
            n->config.outbound_allow = fresh->outbound_allow;
            fresh->outbound_allow = old;
        } else if (strcmp(key, "node-id") == 0 && fresh->node_id == 0) {
            continue; /* not given: the id drawn at the first start stays */
        } else if (n->tls != NULL && fresh->tls_cert != NULL &&
                   (strcmp(key, "tls-cert") == 0 || strcmp(key, "tls-key") == 0 ||
                    strcmp(key, "tls-client-ca") == 0)) {
            continue; /* read again below whether the paths changed or not */
        } else if (used < sizeof later) {
            used += (size_t)snprintf(later + used, sizeof later - used, "%s%s",
                                     used > 0 ? ", " : "", key);
        }
    }
    if (n->config.config_file == NULL) {
        return; /* flags only: the certificate files are what SIGHUP reads again */
    }
    if (later[0] != '\0') {
        LOG_WARN("node", "SIGHUP: changed in %s, taking effect at the next start: %s",
                 n->config.config_file, later);
    }
    LOG_INFO("node", "SIGHUP: %s read again%s", n->config.config_file,
             n_changed == 0 ? "; nothing changed" : "");
}

static void reload_done(uv_work_t *w, int status)
{
    struct reload *r = w->data;
    struct node *n = r->node;
    (void)status;
    n->reloading = false;
    if (!n->stopping && r->rv != 0) {
        LOG_ERROR("node", "SIGHUP: %s does not load (the line above says why); still running "
                  "with the configuration loaded before",
                  n->config.config_file != NULL ? n->config.config_file : "the command line");
    } else if (!n->stopping) {
        apply_reload(n, &r->fresh);
        apply_tls_reload(n, r);
    }
    http_tls_free(r->tls);
    node_config_free(&r->fresh);
    free(r);
    if (!n->stopping) {
        node_notify_reloaded(&n->notify);
        if (n->reload_again) {
            n->reload_again = false;
            start_reload(n);
        }
    }
}

static void start_reload(struct node *n)
{
    struct reload *r = xcalloc(1, sizeof *r);
    r->node = n;
    r->work.data = r;
    n->reloading = true;
    node_notify_reloading(&n->notify);
    ASSERT(uv_queue_work(&n->loop, &r->work, reload_work, reload_done) == 0);
}

/* SIGHUP: reads the configuration again (defaults, --config file, flags, as at start)
 * and applies what can change while the node runs; a configuration that does not load
 * leaves everything as it was. Says what it did in the log. A SIGHUP during a reload
 * makes one more after it. */
static void on_hup(uv_signal_t *sig, int signum)
{
    struct node *n = sig->data;
    (void)signum;
    if (n->stopping) {
        return;
    }
    if (n->config.config_file == NULL && n->tls == NULL) {
        LOG_INFO("node", "SIGHUP: no --config file: nothing to reload (flags change only at "
                 "a restart)");
        return;
    }
    if (n->reloading) {
        n->reload_again = true;
        return;
    }
    start_reload(n);
}

/* The operator token is shown on the start that generated it, and never again: later
 * banners say where it is. */
static void print_banner(const struct node *n, const char *host, int port)
{
    const char *scheme = n->tls != NULL ? "https" : "http";
    char *tok;
    printf("imgarcd %s (git %s) node %llu is serving\n", IMGARC_VERSION, IMGARC_GIT_COMMIT,
           (unsigned long long)n->config.node_id);
    printf("  URL:       %s://%s:%d\n", scheme, host, port);
    if (n->tls != NULL) {
        char desc[300];
        http_tls_describe(n->tls, desc, sizeof desc);
        printf("  TLS:       %s%s\n", desc,
               n->config.tls_client_ca != NULL ? " (clients present certificates)" : "");
    }
    printf("  data:      %s\n", n->config.data);
    if (n->token_generated) {
        printf("  token:     %s (generated now and shown only this once; kept in "
               "%s/bootstrap-token)\n", n->token, n->config.data);
        tok = xstrdup(n->token);
    } else if (n->config.bootstrap_token != NULL) {
        printf("  token:     the operator token given by --bootstrap-token\n");
        tok = xstrdup("<your --bootstrap-token>");
    } else {
        printf("  token:     the operator token is in %s/bootstrap-token\n", n->config.data);
        tok = xasprintf("$(cat %s/bootstrap-token)", n->config.data);
    }
    printf("Try it:\n");
    printf("  export IMGARC_SERVER=%s://%s:%d IMGARC_TOKEN=%s\n", scheme, host, port, tok);
    if (n->tls != NULL) {
        printf("  export IMGARC_CACERT=<the CA file that signed --tls-cert>\n");
    }
    printf("  imgarc pool push BX-0001 --bill-no ER-1 --amount 12.50\n");
    printf("  imgarc upload BX-0001 scan.pdf invoice.xml\n");
    printf("  imgarc submit BX-0001 && imgarc status BX-0001\n");
    printf("or with curl:\n");
    printf("  curl -H \"Authorization: Bearer $IMGARC_TOKEN\" "
           "%s%s://%s:%d/api/v1/bills/BX-0001/status\n",
           n->tls != NULL ? "--cacert \"$IMGARC_CACERT\" " : "", scheme, host, port);
    fflush(stdout);
    free(tok);
}

static int open_stores(struct node *n, struct base_err *err)
{
    char *meta = xasprintf("%s/meta", n->config.data);
    uint64_t swapped = 0;
    /* A store fetched from another member and marked READY before a crash goes in now,
     * and whatever a crash left half done is settled (storage/store_swap.h). */
    int rv = storage_staged_recover(n->config.data, &swapped, err);
    if (rv == 0) {
        rv = blob_store_open(&n->blobs, n->config.data, err);
    }
    if (rv == 0) {
        rv = archive_store_open(&n->db, meta, err);
    }
    free(meta);
    if (rv == 0 && n->restored_index != 0) {
        rv = node_restored_adopt(n->db, n->config.node_id, &n->blobs, err);
    }
    if (rv == 0) {
        rv = archive_open(&n->archive, n->db, err);
    }
    if (rv == 0 && n->restored_index != 0) {
        rv = node_restored_seed(&n->config, &n->archive, n->restored_index, err);
    }
    return rv;
}

/* The public keys of --license-pubkey: a node that cannot read one does not start,
 * rather than refuse valid licenses later. */
static int load_license_keys(struct node *n, struct base_err *err)
{
    const struct config_list *l = &n->config.license_pubkeys;
    n->license_keys = xcalloc(l->n > 0 ? l->n : 1, sizeof *n->license_keys);
    for (size_t i = 0; i < l->n; i++) {
        int rv = license_read_key(l->items[i], n->license_keys[i], LICENSE_PUBLIC_KEY_BYTES,
                                  err);
        if (rv != 0) {
            base_err_wrap(err, "--license-pubkey");
            return rv;
        }
    }
    if (l->n == 0) {
        LOG_WARN("node", "no --license-pubkey: this node accepts no license documents (the "
                         "default tenant's evaluation license still works)");
    }
    return 0;
}

static int start_services(struct node *n, struct base_err *err)
{
    char host[256];
    int port;
    char *raft_dir = xasprintf("%s/raft", n->config.data);
    struct repl_config rc = {
        .node_id = n->config.node_id,
        .raft_address = n->config.raft_listen,
        .http_address = n->config.advertise != NULL ? n->config.advertise : n->config.listen,
        .zone = n->config.zone,
        .raft_dir = raft_dir,
        .data_dir = n->config.data,
        .bootstrap = n->bootstrap,
        .recover = n->config.recover,
        .join = n->joining ? n->config.join : NULL,
        .joining_marker = n->joining_marker,
        .auth = n->has_auth ? &n->auth : NULL,
        .blobs = &n->blobs,
        .voters = (unsigned)n->config.voters,
        .failover_after_ms = (unsigned)n->config.failover_after_ms,
        .repair_after_ms = n->config.repair_after_ms,
        .feature_level = (uint32_t)n->config.feature_level,
        .snapshot_threshold = (unsigned)n->config.snapshot_threshold,
        .snapshot_trailing = (unsigned)n->config.snapshot_trailing,
        .snapshot_threshold_bytes = n->config.snapshot_threshold_bytes,
        .entry_commands = (unsigned)n->config.entry_commands,
        .snapshot_trailing_bytes = n->config.snapshot_trailing_bytes,
        .snapshot_store = strcmp(n->config.snapshot_format, "store") == 0,
        .snapshot_send_bytes_per_s = n->config.snapshot_send_bytes_per_s,
        .election_timeout_ms = (unsigned)n->config.election_timeout_ms,
        .heartbeat_timeout_ms = (unsigned)n->config.heartbeat_timeout_ms,
    };
    struct outbox_config oc = {
        .retry_ms = (unsigned)n->config.webhook_retry_ms,
        .retry_max_ms = (unsigned)n->config.webhook_retry_max_ms,
        .attempts = (unsigned)n->config.webhook_attempts,
        .timeout_ms = (unsigned)n->config.webhook_timeout_ms,
        .concurrency = (unsigned)n->config.webhook_concurrency,
    };
    struct recognizer_config rcc = {
        .url = n->config.recognition_url,
        .secret = n->recognition_secret,
        .timeout_ms = (unsigned)n->config.recognition_timeout_ms,
        .attempts = (unsigned)n->config.recognition_attempts,
        .retry_ms = (unsigned)n->config.recognition_retry_ms,
        .retry_max_ms = (unsigned)n->config.recognition_retry_max_ms,
        .concurrency = (unsigned)n->config.recognition_concurrency,
        .file_bytes_max = n->config.recognition_max_bytes,
        .blobs = &n->blobs,
    };
    struct keeper_config kc = {
        .node_id = n->config.node_id,
        .replicas = (unsigned)n->config.replicas,
        .write_quorum = (unsigned)n->config.write_quorum,
        .push_threads = (unsigned)n->config.push_threads,
        .push_timeout_ms = 30000,
        .push_stall_ms = 5000,
        .repair_bytes_per_s = n->config.repair_bytes_per_s,
        .scrub_bytes_per_s = n->config.scrub_bytes_per_s,
        .scrub_pause_ms = n->config.scrub_pause_ms,
        .gc_grace_ms = n->config.gc_grace_ms,
    };
    const char *own[] = {n->config.listen, n->config.raft_listen,
                         n->config.advertise != NULL ? n->config.advertise : n->config.listen};
    struct outbound_config obc = {
        .allow = (const char *const *)n->config.outbound_allow.items,
        .n_allow = n->config.outbound_allow.n,
        .own = own,
        .n_own = ARRAY_SIZE(own),
    };
    struct api_config ac;
    int rv;
    if (mkdir_p(raft_dir) != 0) {
        base_err_set(err, "mkdir %s: %s", raft_dir, strerror(errno));
        free(raft_dir);
        return BASE_EIO;
    }
    rv = repl_start(&n->repl, &n->loop, &rc, &n->archive, err);
    free(raft_dir);
    if (rv != 0) {
        return rv;
    }
    if ((rv = load_license_keys(n, err)) != 0 ||
        (rv = outbound_new(&n->outbound, &n->loop, &obc, &n->archive, err)) != 0) {
        return rv;
    }
    oc.guard = n->outbound;
    rcc.guard = n->outbound;
    if ((rv = http_client_init(&n->http, &n->loop, err)) != 0 ||
        (rv = outbox_start(&n->outbox, &n->loop, &oc, &n->archive, n->repl, n->http, err)) !=
            0 ||
        (rv = recognizer_start(&n->recognizer, &n->loop, &rcc, &n->archive, n->repl, n->http,
                               err)) != 0 ||
        (rv = collect_gc_start(&n->collect_gc, &n->loop, n->config.collect_keep_s * 1000,
                               &n->archive, n->repl, err)) != 0 ||
        (rv = keeper_start(&n->keeper, &n->loop, &kc, &n->archive, n->repl, &n->blobs,
                           n->has_auth ? &n->auth : NULL, err)) != 0) {
        return rv;
    }
    if (split_host_port(n->config.listen, host, sizeof host, &port) != 0) {
        base_err_set(err, "listen address '%s' is not HOST:PORT", n->config.listen);
        return BASE_EINVAL;
    }
    ac = (struct api_config){
        .listen_host = host,
        .listen_port = port,
        .node_id = n->config.node_id,
        .bootstrap_token = n->token,
        .header_bytes_max = (size_t)n->config.header_max,
        .body_bytes_max = n->config.body_max,
        .idle_timeout_ms = n->config.idle_timeout_ms,
        .header_timeout_ms = n->config.header_timeout_ms,
        .body_timeout_ms = n->config.body_timeout_ms,
        .buffered_bytes_max = n->config.buffered_bytes_max,
        .connections_max = (unsigned)n->config.connections_max,
        .sync_blobs = n->config.sync_blobs,
        .verify_reads = n->config.verify_reads,
        .reverify_after_ms = n->config.reverify_after_s * 1000,
        .group_commit_max = n->config.group_commit_max,
        .min_free_bytes = n->config.min_free_mb << 20,
        .token_ttl_s = n->config.token_ttl_s,
        .vendor_token_ttl_s = n->config.vendor_token_ttl_s,
        .link_ttl_s = n->config.link_ttl_s,
        .login_failures_max = n->config.login_failures_max,
        .login_lock_ms = n->config.login_lock_minutes * 60 * 1000,
        .login_source_failures = n->config.login_source_failures,
        .metrics_token = n->metrics_token,
        .license_keys = (const uint8_t(*)[32])n->license_keys,
        .n_license_keys = n->config.license_pubkeys.n,
        .outbox = n->outbox,
        .recognizer = n->recognizer,
        .outbound = n->outbound,
        .http = n->http,
        .keeper = n->keeper,
        .replicas = (unsigned)n->config.replicas,
        .write_quorum = (unsigned)n->config.write_quorum,
        .auth = n->has_auth ? &n->auth : NULL,
        /* This very binary counts PDF pages (document_pdf_child_main()): no helper to
         * install, and the same version as the node even after its file is replaced. */
        .pdf_exe = "/proc/self/exe",
        .pdf_limits = {.address_space_bytes = n->config.pdf_child_memory_mb << 20,
                       .cpu_s = n->config.pdf_child_cpu_s,
                       .wall_ms = n->config.pdf_child_timeout_ms},
        .pdf_children_max = (unsigned)n->config.pdf_children_max,
        .tls = n->tls,
        .data_dir = n->config.data,
        .upload_expiry_s = n->config.upload_expiry_s,
        .uploads_max = (unsigned)n->config.uploads_max,
    };
    rv = api_start(&n->api, &n->loop, &ac, &n->archive, n->repl, &n->blobs, err);
    if (rv == 0) {
        struct migrate_config mc = {
            .node_id = n->config.node_id,
            .lanes = (unsigned)n->config.migrate_lanes,
            .bytes_per_s = n->config.migrate_bytes_per_s,
            .file_bytes_max = n->config.body_max,
            .http = n->http,
            .guard = n->outbound,
            .blobs = api_blob_path(n->api),
            .keeper = n->keeper,
        };
        rv = migrate_runner_start(&n->migrator, &n->loop, &mc, &n->archive, n->repl, err);
    }
    if (rv == 0) {
        api_set_migrator(n->api, n->migrator);
        struct sync_config sc = {
            .tick_ms = n->config.sync_tick_ms,
            .http = n->http,
            .guard = n->outbound,
        };
        rv = sync_runner_start(&n->syncer, &n->loop, &sc, &n->archive, n->repl, err);
    }
    if (rv == 0) {
        print_banner(n, host, api_port(n->api));
        node_notify_init(&n->notify, &n->loop, n->repl, &n->archive);
        node_notify_ready(&n->notify);
    }
    return rv;
}

/* The cluster settings: the secret, and whether this node starts a cluster, asks to
 * join one, or just restarts. A data dir that asked to join and is not a member yet
 * (DATA/joining) must never bootstrap a cluster of its own. */
static int cluster_setup(struct node *n, struct base_err *err)
{
    const struct node_config *c = &n->config;
    const char *http = c->advertise != NULL ? c->advertise : c->listen;
    bool fresh = node_identity_raft_empty(c->data);
    bool was_joining = node_identity_joining(c->data);
    int rv;
    if (!archive_valid_zone(c->zone)) {
        base_err_set(err, "--zone must be 1-64 characters of A-Z a-z 0-9 . _ -");
        return BASE_EINVAL;
    }
    if (c->join != NULL && !archive_valid_address(c->join)) {
        base_err_set(err, "--join must be the HTTP HOST:PORT of a cluster member");
        return BASE_EINVAL;
    }
    if (c->cluster_secret_previous_file != NULL && c->cluster_secret_file == NULL) {
        base_err_set(err, "--cluster-secret-previous-file is for a rotation: give the new "
                          "secret with --cluster-secret-file too");
        return BASE_EINVAL;
    }
    if (c->cluster_secret_file != NULL) {
        if ((rv = check_private_file(c->cluster_secret_file, "--cluster-secret-file", err)) !=
                0 ||
            (c->cluster_secret_previous_file != NULL &&
             (rv = check_private_file(c->cluster_secret_previous_file,
                                      "--cluster-secret-previous-file", err)) != 0) ||
            (rv = peer_auth_load(&n->auth, c->cluster_secret_file,
                                 c->cluster_secret_previous_file, err)) != 0) {
            return rv;
        }
        n->has_auth = true;
        peer_clock_init(&n->peer_clock);
        n->auth.clock = &n->peer_clock;
        if (!archive_valid_address(http) || strncmp(http, "0.0.0.0:", 8) == 0) {
            base_err_set(err, "other nodes cannot reach this node at '%s': set --advertise "
                              "HOST:PORT", http);
            return BASE_EINVAL;
        }
    }
    if (c->recover && (fresh || was_joining)) {
        base_err_set(err, "--recover needs the data dir of a node that was a member of a "
                          "cluster (this one has no raft state)");
        return BASE_EINVAL;
    }
    if ((rv = node_restored_check(c, &n->restored_index, err)) != 0) {
        return rv;
    }
    if (was_joining && c->join == NULL) {
        base_err_set(err, "this data dir belongs to a node that asked to join a cluster and "
                          "is not a member yet (%s/joining): start it with --join", c->data);
        return BASE_EINVAL;
    }
    n->joining = c->join != NULL && (fresh || was_joining);
    n->bootstrap = c->join == NULL;
    if (n->joining && !n->has_auth) {
        base_err_set(err, "--join needs --cluster-secret-file: the members check every "
                          "node-to-node call against the secret they share");
        return BASE_EINVAL;
    }
    n->joining_marker = xasprintf("%s/joining", c->data);
    if (n->joining && !was_joining) {
        return node_identity_set_joining(c->data, err);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct node n;
    struct base_err err = {{0}};
    int rv;
    /* The PDF page counter this node runs as its own child (archive/document.h): no
     * node, no config, no log. */
    if (argc > 1 && strcmp(argv[1], DOCUMENT_PDF_CHILD_FLAG) == 0) {
        return document_pdf_child_main(argc, argv);
    }
    rv = node_config_load(&n.config, argc, argv);
    if (rv != 0) {
        return rv > 0 ? 0 : 2;
    }
    /* A SIGHUP during the start (stores opening, a long replay) must not end the node:
     * ignored until the loop's handler (on_hup) takes it. */
    signal(SIGHUP, SIG_IGN);
    /* Everything this node creates (RocksDB, raft, blobs, tokens) is its own: 0600 and
     * 0700, whatever the umask it was started with. */
    umask(077);
    /* One malloc arena for every thread. glibc gives each thread that contends for one
     * an arena of its own (up to 8 per core), and memory freed in one is never reused
     * by another: request buffers freed by the workers stayed resident beside the
     * loop's. With one, the 3-node leader's peak RSS through the mixed load fell from
     * 112 to 100 MiB with reads and captures at least as fast (docs/performance.md,
     * "Memory"). Before any thread exists. */
    mallopt(M_ARENA_MAX, 1);
    log_set_level((enum log_level)log_level_parse(n.config.log_level));
    if (sodium_init() < 0) {
        LOG_ERROR("node", "libsodium failed to initialise");
        return 1;
    }
    /* Blob writes, hashing and reads share the pool with raft's disk work. */
    setenv("UV_THREADPOOL_SIZE", "8", 0);
    if (n.config.tls_cert != NULL) {
        /* Checked before the data dir is made, like every other value. */
        struct http_tls_files f = tls_files(&n.config);
        char why[600];
        struct http_client_tls peers = {
            .ca_file = n.config.tls_ca, .cert_file = n.config.tls_cert,
            .key_file = n.config.tls_key};
        if ((n.tls = http_tls_new(&f, why, sizeof why)) == NULL) {
            LOG_ERROR("node", "TLS: %s", why);
            return 2;
        }
        peer_tls_set(&peers); /* members reach each other over https (docs/tls.md) */
    }
    if (mkdir_p(n.config.data) != 0) {
        LOG_ERROR("node", "cannot create data dir %s: %s", n.config.data, strerror(errno));
        return 1;
    }
    if ((rv = secure_data_dir(n.config.data, &err)) != 0) {
        LOG_ERROR("node", "%s", err.msg);
        return 1;
    }
    if ((rv = node_identity_load(n.config.data, n.config.node_id, &n.config.node_id, &err)) !=
        0) {
        LOG_ERROR("node", "node id: %s", err.msg);
        return rv == BASE_EINVAL ? 2 : 1;
    }
    if ((rv = cluster_setup(&n, &err)) != 0) {
        LOG_ERROR("node", "%s", err.msg);
        return rv == BASE_EINVAL ? 2 : 1;
    }
    node_config_log(&n.config);
    if ((rv = bootstrap_token(&n, &err)) != 0 || (rv = metrics_token(&n, &err)) != 0 ||
        (rv = recognition_secret(&n, &err)) != 0) {
        LOG_ERROR("node", "%s", err.msg);
        return rv == BASE_EINVAL ? 2 : 1;
    }
    uv_loop_init(&n.loop);
    if ((rv = open_stores(&n, &err)) != 0 || (rv = start_services(&n, &err)) != 0) {
        LOG_ERROR("node", "start failed: %s", err.msg);
        return 1;
    }
    /* A client that goes away mid-answer must cost a failed write, not the process. */
    signal(SIGPIPE, SIG_IGN);
    uv_signal_init(&n.loop, &n.sigterm);
    uv_signal_init(&n.loop, &n.sigint);
    uv_signal_init(&n.loop, &n.sighup);
    n.sigterm.data = n.sigint.data = n.sighup.data = &n;
    n.argc = argc;
    n.argv = argv;
    uv_signal_start(&n.sigterm, on_signal, SIGTERM);
    uv_signal_start(&n.sigint, on_signal, SIGINT);
    uv_signal_start(&n.sighup, on_hup, SIGHUP);
    LOG_INFO("node", "node %llu started: applied_index=%llu",
             (unsigned long long)n.config.node_id, (unsigned long long)n.archive.applied_index);
    uv_run(&n.loop, UV_RUN_DEFAULT);
    uv_loop_close(&n.loop);
    outbox_free(n.outbox);
    if (n.recognizer != NULL) {
        recognizer_free(n.recognizer);
    }
    if (n.recognition_secret != NULL) {
        sodium_memzero(n.recognition_secret, strlen(n.recognition_secret));
        free(n.recognition_secret);
    }
    if (n.collect_gc != NULL) {
        collect_gc_free(n.collect_gc);
    }
    migrate_runner_free(n.migrator);
    sync_runner_free(n.syncer);
    outbound_free(n.outbound);
    keeper_free(n.keeper);
    rocks_close(n.db);
    blob_store_close(&n.blobs);
    sodium_memzero(n.token, strlen(n.token));
    free(n.token);
    if (n.metrics_token != NULL) {
        sodium_memzero(n.metrics_token, strlen(n.metrics_token));
        free(n.metrics_token);
    }
    free(n.license_keys);
    free(n.joining_marker);
    peer_auth_wipe(&n.auth);
    if (n.has_auth) {
        peer_clock_close(&n.peer_clock);
    }
    http_tls_free(n.tls);
    node_config_free(&n.config);
    LOG_INFO("node", "stopped");
    return 0;
}
