/* TLS for the HTTP server (OpenSSL, driven through memory BIOs on the loop thread: the
 * socket stays libuv's, OpenSSL only transforms bytes). One struct http_tls holds the
 * server's certificate, key and (for mutual TLS) the CA its clients' certificates must
 * chain to; http_tls_reload() swaps them for new connections while those open keep
 * theirs. Connections use it through net/http_int.h; callers only create, reload and
 * free it and hand it to http_server_config.tls.
 *
 * TLS 1.2 and 1.3 only, OpenSSL's default cipher lists at security level 2, no
 * renegotiation, no compression, session tickets on (resumption is cheap and keeps
 * the keys in the server). Threads: the loop's, except http_tls_new() (any). */
#ifndef IMGARC_NET_HTTP_TLS_H
#define IMGARC_NET_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_tls;

/* What a server presents and whom it accepts. */
struct http_tls_files {
    const char *cert;      /* PEM: the certificate, then its chain */
    const char *key;       /* PEM: its private key (unencrypted) */
    const char *client_ca; /* PEM CA bundle: clients must present a certificate it
                              signed (mutual TLS); NULL: no client certificate asked */
};

/* Loads @files; NULL with @err filled (which file, and OpenSSL's reason) when a file
 * is missing, unreadable, not PEM, or the key does not match the certificate. */
struct http_tls *http_tls_new(const struct http_tls_files *files, char *err, size_t err_size);
/* Puts what @fresh loaded (http_tls_new() of a renewed certificate, made on any thread)
 * in @tls's place: new connections get it, open ones keep the old. Frees @fresh. */
void http_tls_swap(struct http_tls *tls, struct http_tls *fresh);
/* The subject and expiry ("CN=node1, until 2027-12-07T00:00:00Z") of the certificate in
 * use, for logs and status. */
void http_tls_describe(const struct http_tls *tls, char *out, size_t size);
/* When the certificate in use expires, in Unix seconds (0: unknown): what
 * imgarc_tls_certificate_expiry_timestamp_seconds shows and the alert watches. */
int64_t http_tls_not_after(const struct http_tls *tls);
void http_tls_free(struct http_tls *tls);

#endif
