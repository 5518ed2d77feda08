/* Fuzz target: the HTTP server's TLS layer (net/http_tls.c and its use in
 * net/http_server.c and net/http_request.c), on a real server with a certificate made
 * at start, running its loop on a thread of its own; the fuzzer is the client.
 *
 * The first input byte is for the harness. With its top bit set, the rest is sent as
 * raw bytes (handshake records, garbage, plain HTTP): the server must close or answer,
 * never crash or hang. Otherwise a real TLS client completes the handshake and sends
 * the rest as plaintext HTTP, in records of (byte & 63) * 97 + 1 bytes, so requests
 * span records and records hold several requests; the client reads until the server
 * closes or goes quiet, and whatever it decrypts must be HTTP/1.1 answers. Bodies are
 * streamed to a handler that answers with their length, so the server's reading and
 * backpressure run under TLS too. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include "base/mem.h"
#include "net/http_server.h"
#include "net/http_tls.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static struct http_server *server;
static struct http_tls *tls;
static int port;
static SSL_CTX *client_ctx;

struct counted {
    uint64_t bytes;
};

static void on_body(struct http_request *req, const char *data, size_t len)
{
    (void)data;
    ((struct counted *)req->data)->bytes += len;
}

static void on_body_done(struct http_request *req, int status)
{
    struct counted *c = req->data;
    char text[64];
    int n = snprintf(text, sizeof text, "%llu bytes%s\n", (unsigned long long)c->bytes,
                     status != 0 ? " (cut)" : "");
    free(c);
    req->data = NULL;
    http_respond(req, 200, "text/plain", text, (size_t)n);
}

static void on_request(struct http_request *req)
{
    req->data = xcalloc(1, sizeof(struct counted));
    http_request_read_body(req, on_body, on_body_done);
}

static void *run_loop(void *arg)
{
    (void)arg;
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

/* A self-signed P-256 certificate and its key, as PEM files at the two paths. */
static void make_certificate(const char *cert_path, const char *key_path)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    FILE *f;
    ASSERT(key != NULL && x != NULL);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    ASSERT(X509_sign(x, key, EVP_sha256()) > 0);
    ASSERT((f = fopen(cert_path, "w")) != NULL);
    PEM_write_X509(f, x);
    fclose(f);
    ASSERT((f = fopen(key_path, "w")) != NULL);
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char cert[4200], key[4200], err[600];
    struct http_tls_files files = {.cert = cert, .key = key};
    struct http_server_config hc = {
        .host = "127.0.0.1",
        .header_bytes_max = 16384,
        .body_bytes_max = 1 << 20,
        .idle_timeout_ms = 2000,
        .header_timeout_ms = 2000,
        .body_timeout_ms = 2000,
        .buffered_bytes_max = 8 << 20,
        .connections_max = 64,
        .request_cb = on_request,
    };
    pthread_t t;
    (void)argc;
    (void)argv;
    fuzz_init();
    /* The harness's own directory (fuzz_common.c): removed at exit. */
    snprintf(cert, sizeof cert, "%s/tls-cert.pem", fuzz_tmpdir());
    snprintf(key, sizeof key, "%s/tls-key.pem", fuzz_tmpdir());
    make_certificate(cert, key);
    if ((tls = http_tls_new(&files, err, sizeof err)) == NULL) {
        fprintf(stderr, "fuzz_tls_accept: %s\n", err);
        abort();
    }
    unlink(cert);
    unlink(key);
    hc.tls = tls;
    uv_loop_init(&loop);
    ASSERT(http_server_start(&server, &loop, &hc, err, sizeof err) == 0);
    port = http_server_port(server);
    client_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL); /* the certificate is not tested */
    ASSERT(pthread_create(&t, NULL, run_loop, NULL) == 0);
    pthread_detach(t);
    return 0;
}

static int connect_server(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 3};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ASSERT(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_raw(const uint8_t *data, size_t size)
{
    char buf[4096];
    int fd = connect_server();
    if (size > 0 && send(fd, data, size, MSG_NOSIGNAL) < 0) {
        close(fd);
        return;
    }
    shutdown(fd, SHUT_WR);
    while (recv(fd, buf, sizeof buf, 0) > 0) {
    }
    close(fd);
}

static void send_tls(const uint8_t *data, size_t size, size_t record)
{
    static char answer[1 << 16];
    size_t got = 0;
    int fd = connect_server();
    SSL *ssl = SSL_new(client_ctx);
    ASSERT(ssl != NULL);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
        size_t off = 0;
        while (off < size) {
            size_t n = size - off < record ? size - off : record;
            if (SSL_write(ssl, data + off, (int)n) <= 0) {
                break;
            }
            off += n;
        }
        /* close_notify and FIN: the server answers what it has and closes. */
        SSL_shutdown(ssl);
        shutdown(fd, SHUT_WR);
        for (;;) {
            int n = SSL_read(ssl, answer + got, (int)(sizeof answer - got));
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
            if (got == sizeof answer) {
                got = 0; /* only the first answer's start is checked */
            }
        }
        if (got >= 9 && strncmp(answer, "HTTP/1.1 ", 9) != 0) {
            fprintf(stderr, "the server answered something else than HTTP/1.1: %.40s\n", answer);
            abort();
        }
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    if (data[0] & 0x80) {
        send_raw(data + 1, size - 1);
    } else {
        send_tls(data + 1, size - 1, (size_t)(data[0] & 63) * 97 + 1);
    }
    return 0;
}
