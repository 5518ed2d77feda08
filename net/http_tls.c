/* TLS for the HTTP server: the server's context (net/http_tls.h) and each connection's
 * record layer (net/http_int.h, "TLS"). OpenSSL reads ciphertext from a memory BIO the
 * connection fills from the socket and writes ciphertext to another the connection
 * drains to the socket, so every byte still moves through libuv on the loop thread and
 * nothing here blocks. Written by hand around OpenSSL (no libuv TLS library is in
 * Debian 12). */
#include "net/http_int.h"
#include "net/http_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/log.h"
#include "base/mem.h"

/* Ciphertext read from the socket at once: one record and a bit. */
#define TLS_IN_BYTES (17u << 10)

struct http_tls {
    SSL_CTX *ctx;
    char described[256];
    int64_t not_after; /* the certificate's end, Unix seconds; 0: unknown */
};

struct tls_conn {
    SSL *ssl;
    BIO *rbio; /* ciphertext received, for OpenSSL to read */
    BIO *wbio; /* ciphertext OpenSSL wrote, for the socket */
    char in[TLS_IN_BYTES];
    bool need_more; /* OpenSSL wants bytes not received yet */
    bool closed;    /* the client's close_notify arrived: nothing more is read */
    bool failed;
};

/* OpenSSL's queued errors as one line ("file: reason"), and the queue cleared. */
static void openssl_reason(char *out, size_t size)
{
    unsigned long e;
    size_t used = 0;
    out[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (used + 3 < size) {
            used += (size_t)snprintf(out + used, size - used, "%s%s", used > 0 ? "; " : "", buf);
        }
    }
    if (out[0] == '\0') {
        snprintf(out, size, "no reason given");
    }
}

static void describe(SSL_CTX *ctx, char *out, size_t size, int64_t *not_after)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    char subject[160] = "?";
    char until[32] = "?";
    struct tm tm;
    *not_after = 0;
    if (cert != NULL) {
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
        if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
            strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
            *not_after = (int64_t)timegm(&tm);
        }
    }
    snprintf(out, size, "%s, valid until %s", subject, until);
}

static SSL_CTX *load(const struct http_tls_files *f, char *err, size_t err_size)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    char why[512];
    const char *step = "";
    ERR_clear_error();
    if (ctx == NULL) {
        step = "creating a TLS context";
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_security_level(ctx, 2);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* Sessions resumed under client certificates need a context to be resumed in. */
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"imgarcd", 7);
    if (f->cert == NULL || SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
        step = "--tls-cert (a PEM certificate, then its chain)";
        goto fail;
    }
    if (f->key == NULL || SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1) {
        step = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH
                   ? "--tls-key (it is not the key of --tls-cert)"
                   : "--tls-key (an unencrypted PEM private key)";
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        step = "--tls-key (it is not the key of --tls-cert)";
        goto fail;
    }
    if (f->client_ca != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->client_ca);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, f->client_ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            step = "--tls-client-ca (a PEM bundle of the CAs clients' certificates chain to)";
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    openssl_reason(why, sizeof why);
    snprintf(err, err_size, "%s: %s", step, why);
    SSL_CTX_free(ctx);
    return NULL;
}

struct http_tls *http_tls_new(const struct http_tls_files *files, char *err, size_t err_size)
{
    SSL_CTX *ctx = load(files, err, err_size);
    struct http_tls *tls;
    if (ctx == NULL) {
        return NULL;
    }
    tls = xcalloc(1, sizeof *tls);
    tls->ctx = ctx;
    describe(ctx, tls->described, sizeof tls->described, &tls->not_after);
    return tls;
}

void http_tls_swap(struct http_tls *tls, struct http_tls *fresh)
{
    SSL_CTX_free(tls->ctx); /* open connections hold their own reference */
    tls->ctx = fresh->ctx;
    memcpy(tls->described, fresh->described, sizeof tls->described);
    tls->not_after = fresh->not_after;
    free(fresh);
}

void http_tls_describe(const struct http_tls *tls, char *out, size_t size)
{
    snprintf(out, size, "%s", tls->described);
}

int64_t http_tls_not_after(const struct http_tls *tls)
{
    return tls->not_after;
}

void http_tls_free(struct http_tls *tls)
{
    if (tls != NULL) {
        SSL_CTX_free(tls->ctx);
        free(tls);
    }
}

/* ---- One connection ---- */

struct tls_conn *tls_conn_new(struct http_tls *tls)
{
    struct tls_conn *t = xcalloc(1, sizeof *t);
    t->ssl = SSL_new(tls->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        LOG_ERROR("http", "TLS: no memory for a connection");
        abort();
    }
    /* A read of an empty memory BIO is "retry later", not end of stream. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both from here */
    SSL_set_accept_state(t->ssl);
    return t;
}

void tls_conn_free(struct tls_conn *t)
{
    if (t != NULL) {
        SSL_free(t->ssl);
        free(t);
    }
}

char *tls_conn_in_buf(struct tls_conn *t, size_t *size)
{
    *size = sizeof t->in;
    return t->in;
}

void tls_conn_received(struct tls_conn *t, size_t n)
{
    if (t->failed || t->closed) {
        return; /* nothing more is read: the bytes are dropped */
    }
    if (n > 0 && BIO_write(t->rbio, t->in, (int)n) != (int)n) {
        t->failed = true; /* memory BIOs fail only without memory */
    }
    t->need_more = false;
}

bool tls_conn_pending(struct tls_conn *t)
{
    return !t->failed && !t->closed &&
           (SSL_pending(t->ssl) > 0 || (BIO_ctrl_pending(t->rbio) > 0 && !t->need_more));
}

int tls_conn_ended(const struct tls_conn *t)
{
    return t->failed ? TLS_FAILED : t->closed ? TLS_CLOSED : 0;
}

int tls_conn_read(struct tls_conn *t, char *out, size_t size, const char *peer,
                  bool *plain_http)
{
    int n, e;
    char why[512];
    *plain_http = false;
    if (t->failed) {
        return TLS_FAILED;
    }
    if (t->closed) {
        return TLS_CLOSED;
    }
    ERR_clear_error();
    n = SSL_read(t->ssl, out, (int)(size > INT32_MAX ? INT32_MAX : size));
    if (n > 0) {
        return n;
    }
    e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ) {
        t->need_more = true;
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        t->closed = true; /* the client's close_notify */
        return TLS_CLOSED;
    }
    t->failed = true;
    *plain_http = ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTP_REQUEST;
    openssl_reason(why, sizeof why);
    LOG_DEBUG("http", "peer=%s TLS %s failed: %s", peer,
              SSL_is_init_finished(t->ssl) ? "connection" : "handshake", why);
    return TLS_FAILED;
}

bool tls_conn_established(const struct tls_conn *t)
{
    return SSL_is_init_finished(t->ssl);
}

bool tls_conn_failed(const struct tls_conn *t)
{
    return t->failed;
}

int tls_conn_write(struct tls_conn *t, const char *buf, size_t n)
{
    while (n > 0 && !t->failed) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        int w;
        ERR_clear_error();
        w = SSL_write(t->ssl, buf, chunk);
        if (w <= 0) {
            t->failed = true; /* before the handshake ended, or out of memory */
            ERR_clear_error();
            return TLS_FAILED;
        }
        buf += w;
        n -= (size_t)w;
    }
    return t->failed ? TLS_FAILED : 0;
}

void tls_conn_shutdown(struct tls_conn *t)
{
    if (!t->failed && SSL_is_init_finished(t->ssl)) {
        ERR_clear_error();
        SSL_shutdown(t->ssl); /* queues close_notify; the client's is not awaited */
        ERR_clear_error();
    }
}

char *tls_conn_take_output(struct tls_conn *t, size_t *len)
{
    size_t n = BIO_ctrl_pending(t->wbio);
    char *out;
    *len = 0;
    if (n == 0) {
        return NULL;
    }
    if (n > INT32_MAX) {
        t->failed = true; /* one answer write of 2 GiB: the connection gives up */
        return NULL;
    }
    out = xmalloc(n);
    if (BIO_read(t->wbio, out, (int)n) != (int)n) {
        free(out);
        t->failed = true;
        return NULL;
    }
    *len = n;
    return out;
}
