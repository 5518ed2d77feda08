/* Fuzz target: what a tenant or an operator gives the outbound guard
 * (replication/outbound.c, net/http_client.c): a webhook URL, an
 * --outbound-allow value, and the address a connection would go to.
 *
 * The input is an allow rule, a URL and 19 bytes of address (family, 16 address bytes,
 * port). The rule is parsed (a good one becomes the guard's only allow); the URL's
 * host is parsed the way requests parse it and given to the early check; the address
 * is classified and checked as the connect-time hook would. Properties: with no allow
 * rule nothing but a public address is ever permitted, nor this node's own address;
 * an IPv4-mapped IPv6 address is classed like its IPv4 address. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "net/http_client.h"
#include "replication/outbound.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const own[] = {"127.0.0.1:8080", "203.0.113.9:9080"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

/* The address the input describes, IPv4 or IPv6. */
static const struct sockaddr *address(struct fuzz_in *in, struct sockaddr_storage *ss)
{
    uint8_t family = fuzz_u8(in);
    uint8_t bytes[16];
    uint16_t port;
    for (int i = 0; i < 16; i++) {
        bytes[i] = fuzz_u8(in);
    }
    port = (uint16_t)(fuzz_u8(in) << 8 | fuzz_u8(in));
    memset(ss, 0, sizeof *ss);
    if (family & 1) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, bytes, 16);
        a->sin6_port = htons(port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, bytes, 4);
        a->sin_port = htons(port);
    }
    return (const struct sockaddr *)ss;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *spec = fuzz_str(&in, 300);
    char *url = fuzz_str(&in, 600);
    struct sockaddr_storage ss;
    const struct sockaddr *sa = address(&in, &ss);
    struct outbound_rule rule;
    struct base_err err = {{0}};
    const char *allow[1] = {spec};
    struct outbound_config c = {.own = own, .n_own = 2};
    struct outbound *g;
    char host[256], why[256];
    unsigned port = 0;
    bool ruled = outbound_rule_parse(spec, &rule, &err) == 0;
    enum outbound_class cls = outbound_classify(sa);
    if (ruled) {
        c.allow = allow;
        c.n_allow = 1;
    } else {
        ASSERT(err.msg[0] != '\0'); /* a refused value says why */
    }
    ASSERT(outbound_new(&g, NULL, &c, NULL, &err) == 0);
    if (http_client_url_host(url, host, sizeof host, &port, &err) == 0) {
        ASSERT(port > 0 && port <= 65535);
        if (outbound_literal_refused(g, host, port, why, sizeof why)) {
            ASSERT(strstr(why, "--outbound-allow") != NULL);
        }
    } else {
        snprintf(host, sizeof host, "example.org");
    }
    if (!outbound_permits(g, host, sa, why, sizeof why)) {
        ASSERT(strstr(why, "--outbound-allow") != NULL);
    } else if (!ruled) {
        ASSERT(cls == OUTBOUND_PUBLIC);
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
            /* 203.0.113.9 is documentation space anyway; this node's own ports too. */
            ASSERT(ntohl(a->sin_addr.s_addr) != 0x7f000001u);
        }
    }
    if (sa->sa_family == AF_INET) {
        /* The same address in IPv4-mapped IPv6 form is classed the same. */
        struct sockaddr_in6 m;
        memset(&m, 0, sizeof m);
        m.sin6_family = AF_INET6;
        m.sin6_addr.s6_addr[10] = 0xff;
        m.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&m.sin6_addr.s6_addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
        ASSERT(outbound_classify((const struct sockaddr *)&m) == cls);
    }
    outbound_close(g);
    outbound_free(g);
    free(spec);
    free(url);
    return 0;
}
