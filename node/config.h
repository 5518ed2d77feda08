/* The node's configuration: one table drives defaults, the config file, flags,
 * validation and --help. Flags win over the file. */
#ifndef IMGARC_NODE_CONFIG_H
#define IMGARC_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A key that may be given many times (flags and file lines add to it). */
struct config_list {
    char **items;
    size_t n;
};

struct node_config {
    char *listen;      /* HTTP HOST:PORT */
    char *advertise;   /* HTTP HOST:PORT other nodes use; NULL: listen */
    char *raft_listen; /* raft HOST:PORT (IPv4 literal) */
    char *data;
    uint64_t node_id; /* 0 until node/main.c settles it (flag, DATA/node-id or random) */
    char *bootstrap_token;
    char *join;
    char *zone;
    char *cluster_secret_file;
    char *cluster_secret_previous_file; /* during a rotation: the secret being replaced */
    char *tls_cert;      /* TLS on the HTTP port (docs/tls.md): certificate chain (PEM) */
    char *tls_key;       /* ...its private key */
    char *tls_client_ca; /* mutual TLS: clients (and peers) must present a certificate
                            signed by one of these CAs */
    char *tls_ca;        /* the CAs this node trusts for other members' certificates
                            (NULL: the system's store) */
    uint64_t voters;
    uint64_t failover_after_ms;
    uint64_t replicas;
    uint64_t write_quorum;
    uint64_t repair_after_ms;
    uint64_t feature_level;
    uint64_t repair_bytes_per_s;
    uint64_t push_threads;
    uint64_t min_free_mb;
    uint64_t scrub_bytes_per_s;
    uint64_t scrub_pause_ms;
    uint64_t gc_grace_ms;
    bool recover;
    char *config_file;
    char *log_level;
    uint64_t body_max;
    uint64_t header_max;
    uint64_t idle_timeout_ms;
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t buffered_bytes_max;
    uint64_t connections_max;
    bool sync_blobs;
    bool verify_reads;
    uint64_t reverify_after_s;
    uint64_t group_commit_max;
    uint64_t snapshot_threshold;
    uint64_t snapshot_trailing;
    uint64_t snapshot_threshold_bytes;
    uint64_t entry_commands;
    uint64_t snapshot_trailing_bytes;
    char *snapshot_format; /* "store" or "inline" */
    uint64_t snapshot_send_bytes_per_s;
    uint64_t election_timeout_ms;
    uint64_t heartbeat_timeout_ms;
    uint64_t shutdown_grace_ms;
    uint64_t token_ttl_s;
    uint64_t collect_keep_s;
    uint64_t vendor_token_ttl_s;
    uint64_t link_ttl_s;
    uint64_t upload_expiry_s;
    uint64_t uploads_max;
    uint64_t login_failures_max;
    uint64_t login_lock_minutes;
    uint64_t webhook_retry_ms;
    uint64_t webhook_retry_max_ms;
    uint64_t webhook_attempts;
    uint64_t webhook_timeout_ms;
    uint64_t webhook_concurrency;
    struct config_list license_pubkeys; /* files of trusted license signing keys */
    uint64_t login_source_failures;
    char *metrics_token_file;
    struct config_list outbound_allow;  /* receivers tenants' requests may reach */
    char *recognition_url;              /* the recognition service; NULL: none */
    char *recognition_secret_file;
    uint64_t recognition_timeout_ms;
    uint64_t recognition_attempts;
    uint64_t recognition_retry_ms;
    uint64_t recognition_retry_max_ms;
    uint64_t recognition_concurrency;
    uint64_t migrate_lanes;
    uint64_t migrate_bytes_per_s;
    uint64_t sync_tick_ms;
    uint64_t recognition_max_bytes;
    uint64_t pdf_child_memory_mb;       /* the PDF page counter's child process: */
    uint64_t pdf_child_cpu_s;
    uint64_t pdf_child_timeout_ms;
    uint64_t pdf_children_max;
};

/* Fills @c from defaults, then the config file (--config), then the flags. On a bad
 * flag or file line, prints what is wrong to stderr and returns -1; returns 1 when
 * --help or --version was printed (exit 0). */
int node_config_load(struct node_config *c, int argc, char **argv);
void node_config_free(struct node_config *c);
/* The keys whose values differ between @a and @b, by name, into @names (at most @max);
 * returns how many differ. */
size_t node_config_diff(const struct node_config *a, const struct node_config *b,
                        const char **names, size_t max);
/* Logs the effective configuration (secrets masked). */
void node_config_log(const struct node_config *c);

#endif
