#include "outbound.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "archive/nodes.h"
#include "base/log.h"
#include "base/mem.h"

#define RESOLVE_MS 2000 /* how often the members' host names are resolved again */
#define RESOLVED_MAX 16 /* addresses kept per cluster host name */

/* One HOST:PORT of the cluster. */
struct target {
    char host[256]; /* lowercased */
    unsigned port;
    bool literal;
    uint8_t ip[16]; /* when literal */
    uint8_t resolved[RESOLVED_MAX][16]; /* host names: the last resolution */
    size_t n_resolved;
    char what[80]; /* "the HTTP address of node 3" */
};

struct resolve {
    uv_getaddrinfo_t req;
    struct outbound *g;
    char host[256];
};

struct outbound {
    uv_loop_t *loop;
    struct archive *archive;
    struct outbound_rule *rules;
    size_t n_rules;
    char **own;
    size_t n_own;
    struct target *targets;
    size_t n_targets;
    uv_timer_t timer;
    unsigned resolving; /* getaddrinfo requests in flight */
    bool closing;
};

/* ---- Classes ---- */

static const uint8_t MAPPED_PREFIX[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const uint8_t NAT64_PREFIX[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

static void map_v4(const uint8_t v4[4], uint8_t out[16])
{
    memcpy(out, MAPPED_PREFIX, 12);
    memcpy(out + 12, v4, 4);
}

/* The IPv4 address an IPv6 one carries (mapped, compatible, NAT64 or 6to4), written
 * into @v4; false when it carries none. :: and ::1 are IPv6's own. */
static bool embedded_v4(const uint8_t a[16], uint8_t v4[4])
{
    static const uint8_t zero[12] = {0};
    if (memcmp(a, MAPPED_PREFIX, 12) == 0 || memcmp(a, NAT64_PREFIX, 12) == 0) {
        memcpy(v4, a + 12, 4);
        return true;
    }
    if (memcmp(a, zero, 12) == 0 && (a[12] | a[13] | a[14]) != 0) {
        memcpy(v4, a + 12, 4); /* IPv4-compatible ::a.b.c.d (deprecated) */
        return true;
    }
    if (memcmp(a, zero, 12) == 0 && a[15] > 1) {
        memcpy(v4, a + 12, 4); /* ::0.0.0.N */
        return true;
    }
    if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4: 2002:AABB:CCDD::/48 */
        memcpy(v4, a + 2, 4);
        return true;
    }
    return false;
}

static enum outbound_class classify_v4(const uint8_t b[4])
{
    uint32_t a = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    static const struct {
        uint32_t net;
        unsigned bits;
        enum outbound_class c;
    } ranges[] = {
        {0x00000000, 8, OUTBOUND_UNSPECIFIED}, /* 0/8 "this network" */
        {0x0a000000, 8, OUTBOUND_PRIVATE},     /* 10/8 */
        {0x64400000, 10, OUTBOUND_SHARED},     /* 100.64/10 */
        {0x7f000000, 8, OUTBOUND_LOOPBACK},    /* 127/8 */
        {0xa9fe0000, 16, OUTBOUND_LINK_LOCAL}, /* 169.254/16 */
        {0xac100000, 12, OUTBOUND_PRIVATE},    /* 172.16/12 */
        {0xc0000000, 24, OUTBOUND_RESERVED},   /* 192.0.0/24 protocol assignments */
        {0xc0000200, 24, OUTBOUND_RESERVED},   /* 192.0.2/24 documentation */
        {0xc0586300, 24, OUTBOUND_RESERVED},   /* 192.88.99/24 6to4 relay */
        {0xc0a80000, 16, OUTBOUND_PRIVATE},    /* 192.168/16 */
        {0xc6120000, 15, OUTBOUND_RESERVED},   /* 198.18/15 benchmarking */
        {0xc6336400, 24, OUTBOUND_RESERVED},   /* 198.51.100/24 documentation */
        {0xcb007100, 24, OUTBOUND_RESERVED},   /* 203.0.113/24 documentation */
        {0xe0000000, 4, OUTBOUND_MULTICAST},   /* 224/4 */
        {0xffffffff, 32, OUTBOUND_BROADCAST},  /* before 240/4, which holds it */
        {0xf0000000, 4, OUTBOUND_RESERVED},    /* 240/4 */
    };
    for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
        uint32_t mask = ranges[i].bits == 32 ? 0xffffffffu : ~(0xffffffffu >> ranges[i].bits);
        if ((a & mask) == ranges[i].net) {
            return ranges[i].c;
        }
    }
    return OUTBOUND_PUBLIC;
}

static enum outbound_class classify_v6(const uint8_t a[16])
{
    static const uint8_t zero[16] = {0};
    uint8_t v4[4];
    if (memcmp(a, zero, 16) == 0) {
        return OUTBOUND_UNSPECIFIED;
    }
    if (memcmp(a, zero, 15) == 0 && a[15] == 1) {
        return OUTBOUND_LOOPBACK;
    }
    if (embedded_v4(a, v4)) {
        return classify_v4(v4);
    }
    if (a[0] == 0xff) {
        return OUTBOUND_MULTICAST;
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
        return OUTBOUND_LINK_LOCAL; /* fe80::/10 */
    }
    if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)) {
        return OUTBOUND_PRIVATE; /* fc00::/7 unique local, fec0::/10 site-local */
    }
    if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 &&
        a[5] == 1) {
        return OUTBOUND_PRIVATE; /* 64:ff9b:1::/48 local-use NAT64 */
    }
    if ((a[0] & 0xe0) != 0x20) {
        return OUTBOUND_RESERVED; /* outside 2000::/3 global unicast (100::/64 too) */
    }
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) {
        return OUTBOUND_RESERVED; /* 2001:db8::/32 documentation */
    }
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02) {
        return OUTBOUND_RESERVED; /* 2001::/23 protocol assignments, Teredo among them */
    }
    return OUTBOUND_PUBLIC;
}

/* @sa as 16 bytes (IPv4 mapped) and its port; false for another family. */
static bool sockaddr_bytes(const struct sockaddr *sa, uint8_t out[16], unsigned *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        map_v4((const uint8_t *)&in->sin_addr, out);
        *port = ntohs(in->sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(out, &in6->sin6_addr, 16);
        *port = ntohs(in6->sin6_port);
        return true;
    }
    return false;
}

static enum outbound_class classify_bytes(const uint8_t a[16])
{
    return memcmp(a, MAPPED_PREFIX, 12) == 0 ? classify_v4(a + 12) : classify_v6(a);
}

enum outbound_class outbound_classify(const struct sockaddr *sa)
{
    uint8_t a[16];
    unsigned port;
    if (!sockaddr_bytes(sa, a, &port)) {
        return OUTBOUND_RESERVED;
    }
    return classify_bytes(a);
}

const char *outbound_class_text(enum outbound_class c)
{
    switch (c) {
    case OUTBOUND_PUBLIC:
        return "a public address";
    case OUTBOUND_LOOPBACK:
        return "a loopback address";
    case OUTBOUND_UNSPECIFIED:
        return "an unspecified address";
    case OUTBOUND_LINK_LOCAL:
        return "a link-local address";
    case OUTBOUND_PRIVATE:
        return "a private address";
    case OUTBOUND_SHARED:
        return "a carrier-grade NAT address";
    case OUTBOUND_MULTICAST:
        return "a multicast address";
    case OUTBOUND_BROADCAST:
        return "the broadcast address";
    case OUTBOUND_RESERVED:
        return "a reserved address";
    }
    return "a reserved address";
}

/* The address the bytes stand for when compared: an IPv6 form carrying an IPv4 address
 * compares as that IPv4 address. */
static void canonical(const uint8_t a[16], uint8_t out[16])
{
    uint8_t v4[4];
    if (memcmp(a, MAPPED_PREFIX, 12) != 0 && embedded_v4(a, v4)) {
        map_v4(v4, out);
    } else {
        memcpy(out, a, 16);
    }
}

/* ---- Rules ---- */

/* Parses a literal address (no brackets) into 16 bytes; false when it is none. */
static bool parse_ip(const char *s, uint8_t out[16], bool *v4)
{
    struct in_addr in;
    struct in6_addr in6;
    if (inet_pton(AF_INET, s, &in) == 1) {
        map_v4((const uint8_t *)&in, out);
        *v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, s, &in6) == 1) {
        memcpy(out, &in6, 16);
        *v4 = false;
        return true;
    }
    return false;
}

static bool parse_number(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;
    if (*s < '0' || *s > '9') {
        return false;
    }
    v = strtoul(s, &end, 10);
    if (*end != '\0' || v < min || v > max) {
        return false;
    }
    *out = (unsigned)v;
    return true;
}

static bool valid_host_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.') {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') {
            return false;
        }
    }
    return true;
}

static int rule_bad(struct base_err *err, const char *spec, const char *why)
{
    base_err_set(err, "--outbound-allow '%.64s': %s; write HOST[:PORT], IP[:PORT] "
                      "([IPv6]:PORT) or a CIDR such as 10.1.0.0/16", spec, why);
    return BASE_EINVAL;
}

/* CIDR: ADDRESS/BITS. */
static int parse_cidr(const char *spec, const char *slash, struct outbound_rule *r,
                      struct base_err *err)
{
    char addr[64];
    bool v4;
    unsigned bits;
    if ((size_t)(slash - spec) >= sizeof addr) {
        return rule_bad(err, spec, "the address is too long");
    }
    memcpy(addr, spec, (size_t)(slash - spec));
    addr[slash - spec] = '\0';
    if (!parse_ip(addr, r->net, &v4)) {
        return rule_bad(err, spec, "the part before '/' is not an IPv4 or IPv6 address");
    }
    if (!parse_number(slash + 1, 0, v4 ? 32 : 128, &bits)) {
        return rule_bad(err, spec, v4 ? "the prefix length must be 0-32"
                                      : "the prefix length must be 0-128");
    }
    r->prefix = v4 ? 96 + bits : bits;
    for (unsigned i = r->prefix; i < 128; i++) {
        if ((r->net[i / 8] & (0x80 >> (i % 8))) != 0) {
            return rule_bad(err, spec, "the address has bits set beyond the prefix length "
                                       "(name the network)");
        }
    }
    return 0;
}

/* Splits HOST[:PORT] and [IPv6][:PORT] into @host and r->port. */
static int split_port(const char *spec, char *host, size_t size, struct outbound_rule *r,
                      struct base_err *err)
{
    const char *colon;
    size_t n;
    r->port = 0;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL) {
            return rule_bad(err, spec, "'[' without ']'");
        }
        n = (size_t)(close - spec - 1);
        if (n >= size) {
            return rule_bad(err, spec, "the address is too long");
        }
        memcpy(host, spec + 1, n);
        host[n] = '\0';
        if (close[1] == '\0') {
            return 0;
        }
        if (close[1] != ':' || !parse_number(close + 2, 1, 65535, &r->port)) {
            return rule_bad(err, spec, "after ']' comes nothing or :PORT (1-65535)");
        }
        return 0;
    }
    colon = strchr(spec, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL) {
        n = strlen(spec); /* a bare IPv6 address: no port */
    } else {
        n = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
        if (colon != NULL && !parse_number(colon + 1, 1, 65535, &r->port)) {
            return rule_bad(err, spec, "the port must be a number from 1 to 65535");
        }
    }
    if (n >= size) {
        return rule_bad(err, spec, "the host is too long");
    }
    memcpy(host, spec, n);
    host[n] = '\0';
    return 0;
}

int outbound_rule_parse(const char *spec, struct outbound_rule *out, struct base_err *err)
{
    struct outbound_rule r;
    const char *slash = strchr(spec, '/');
    char host[256];
    bool v4;
    int rv;
    memset(&r, 0, sizeof r);
    if (spec[0] == '\0') {
        return rule_bad(err, spec, "the value is empty");
    }
    if (slash != NULL) {
        if ((rv = parse_cidr(spec, slash, &r, err)) != 0) {
            return rv;
        }
        *out = r;
        return 0;
    }
    if ((rv = split_port(spec, host, sizeof host, &r, err)) != 0) {
        return rv;
    }
    if (parse_ip(host, r.net, &v4)) {
        canonical(r.net, r.net);
        r.prefix = 128;
    } else if (spec[0] == '[' || strchr(host, ':') != NULL) {
        return rule_bad(err, spec, "not an IPv6 address");
    } else if (!valid_host_name(host)) {
        return rule_bad(err, spec, "not a host name (letters, digits, '-' and '.')");
    } else {
        r.is_host = true;
        for (size_t i = 0; host[i] != '\0'; i++) {
            r.host[i] = (char)tolower((unsigned char)host[i]);
        }
    }
    *out = r;
    return 0;
}

static bool in_range(const uint8_t net[16], unsigned prefix, const uint8_t a[16])
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(net, a, whole) != 0) {
        return false;
    }
    return rest == 0 || ((net[whole] ^ a[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Whether a rule allows @host/@a/@port; with @port_named, only rules naming the port. */
static bool allowed(const struct outbound *g, const char *host, const uint8_t a[16],
                    unsigned port, bool port_named)
{
    for (size_t i = 0; i < g->n_rules; i++) {
        const struct outbound_rule *r = &g->rules[i];
        if ((r->port != 0 && r->port != port) || (port_named && r->port == 0)) {
            continue;
        }
        if (r->is_host ? strcasecmp(r->host, host) == 0 : in_range(r->net, r->prefix, a)) {
            return true;
        }
    }
    return false;
}

/* ---- The cluster's addresses ---- */

/* Whether @a is an address of this machine: loopback, unspecified, or an interface's. */
static bool is_local(const uint8_t a[16])
{
    enum outbound_class c = classify_bytes(a);
    uv_interface_address_t *ifs;
    int n;
    bool local = false;
    if (c == OUTBOUND_LOOPBACK || c == OUTBOUND_UNSPECIFIED) {
        return true;
    }
    if (uv_interface_addresses(&ifs, &n) != 0) {
        return false;
    }
    for (int i = 0; i < n && !local; i++) {
        uint8_t b[16];
        unsigned port;
        if (sockaddr_bytes((const struct sockaddr *)&ifs[i].address, b, &port)) {
            canonical(b, b);
            local = memcmp(a, b, 16) == 0;
        }
    }
    uv_free_interface_addresses(ifs, n);
    return local;
}

/* Whether a connection to @a:@port (URL host @host) reaches target @t. */
static bool reaches(const struct target *t, const char *host, const uint8_t a[16],
                    unsigned port)
{
    if (t->port != port) {
        return false;
    }
    if (t->literal) {
        enum outbound_class c = classify_bytes(t->ip);
        return memcmp(t->ip, a, 16) == 0 || (c == OUTBOUND_UNSPECIFIED && is_local(a)) ||
               (c == OUTBOUND_LOOPBACK && classify_bytes(a) == OUTBOUND_UNSPECIFIED);
    }
    if (strcasecmp(t->host, host) == 0) {
        return true;
    }
    for (size_t i = 0; i < t->n_resolved; i++) {
        if (memcmp(t->resolved[i], a, 16) == 0) {
            return true;
        }
    }
    return false;
}

static void add_target(struct outbound *g, struct target *list, size_t *n, const char *address,
                       const char *what)
{
    const char *colon = strrchr(address, ':');
    struct target *t = &list[*n];
    bool v4;
    size_t hn;
    memset(t, 0, sizeof *t);
    if (colon == NULL || !parse_number(colon + 1, 0, 65535, &t->port)) {
        return;
    }
    hn = (size_t)(colon - address);
    if (address[0] == '[' && hn >= 2 && address[hn - 1] == ']') {
        address++;
        hn -= 2;
    }
    if (hn >= sizeof t->host) {
        return;
    }
    for (size_t i = 0; i < hn; i++) {
        t->host[i] = (char)tolower((unsigned char)address[i]);
    }
    t->literal = parse_ip(t->host, t->ip, &v4);
    if (t->literal) {
        canonical(t->ip, t->ip);
    }
    snprintf(t->what, sizeof t->what, "%s", what);
    /* Keep what the last resolution of this name found until the next one answers. */
    for (size_t i = 0; i < g->n_targets && !t->literal; i++) {
        if (strcmp(g->targets[i].host, t->host) == 0 && g->targets[i].n_resolved > 0) {
            memcpy(t->resolved, g->targets[i].resolved, sizeof t->resolved);
            t->n_resolved = g->targets[i].n_resolved;
            break;
        }
    }
    (*n)++;
}

struct collect {
    struct outbound *g;
    struct target *list;
    size_t n, cap;
};

static void collect_node(const NodeRecord *node, void *arg)
{
    struct collect *c = arg;
    char what[80];
    if (c->n + 2 > c->cap) {
        c->cap = c->cap * 2 + 8;
        c->list = xrealloc(c->list, c->cap * sizeof *c->list);
    }
    snprintf(what, sizeof what, "the HTTP address of cluster node %llu",
             (unsigned long long)node->id);
    add_target(c->g, c->list, &c->n, node->http, what);
    snprintf(what, sizeof what, "the raft address of cluster node %llu",
             (unsigned long long)node->id);
    add_target(c->g, c->list, &c->n, node->raft, what);
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct resolve *r = container_of(req, struct resolve, req);
    struct outbound *g = r->g;
    g->resolving--;
    for (size_t i = 0; i < g->n_targets && status == 0 && !g->closing; i++) {
        struct target *t = &g->targets[i];
        if (t->literal || strcmp(t->host, r->host) != 0) {
            continue;
        }
        t->n_resolved = 0;
        for (struct addrinfo *ai = res; ai != NULL && t->n_resolved < RESOLVED_MAX;
             ai = ai->ai_next) {
            unsigned port;
            if (sockaddr_bytes(ai->ai_addr, t->resolved[t->n_resolved], &port)) {
                canonical(t->resolved[t->n_resolved], t->resolved[t->n_resolved]);
                t->n_resolved++;
            }
        }
    }
    uv_freeaddrinfo(res);
    free(r);
}

/* Resolves the host names among the targets in the background. */
static void resolve_names(struct outbound *g)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    for (size_t i = 0; i < g->n_targets; i++) {
        const struct target *t = &g->targets[i];
        bool seen = false;
        struct resolve *r;
        for (size_t k = 0; k < i && !seen; k++) {
            seen = strcmp(g->targets[k].host, t->host) == 0;
        }
        if (t->literal || seen || t->host[0] == '\0') {
            continue;
        }
        r = xcalloc(1, sizeof *r);
        r->g = g;
        snprintf(r->host, sizeof r->host, "%s", t->host);
        if (uv_getaddrinfo(g->loop, &r->req, resolved_cb, r->host, NULL, &hints) != 0) {
            free(r);
            continue;
        }
        g->resolving++;
    }
}

/* Rebuilds the list of the cluster's addresses from the flags and the registry (a
 * few records: each check reads it, so a member is known from its registration on);
 * with @resolve, starts resolving the host names among them. */
static void refresh(struct outbound *g, bool resolve)
{
    struct base_err err = {{0}};
    struct collect c = {g, NULL, 0, 0};
    c.cap = g->n_own + 8;
    c.list = xcalloc(c.cap, sizeof *c.list);
    for (size_t i = 0; i < g->n_own; i++) {
        add_target(g, c.list, &c.n, g->own[i], "an address of this node");
    }
    if (g->archive != NULL && archive_list_nodes(g->archive, collect_node, &c, &err) != 0) {
        LOG_WARN("outbound", "node registry: %s (keeping the last list)", err.msg);
        free(c.list);
        return;
    }
    free(g->targets);
    g->targets = c.list;
    g->n_targets = c.n;
    if (resolve && g->loop != NULL && g->resolving == 0) {
        resolve_names(g);
    }
}

static void refresh_cb(uv_timer_t *t)
{
    refresh(t->data, true);
}

/* ---- The check ---- */

static void address_text(const struct sockaddr *sa, char *out, size_t size)
{
    const void *addr = sa->sa_family == AF_INET
                           ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                           : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (inet_ntop(sa->sa_family, addr, out, (socklen_t)size) == NULL) {
        snprintf(out, size, "(an address)");
    }
}

bool outbound_check(void *guard, const char *host, const struct sockaddr *sa, char *why,
                    size_t why_size)
{
    return outbound_permits(guard, host, sa, why, why_size);
}

bool outbound_permits(struct outbound *g, const char *host, const struct sockaddr *sa,
                      char *why, size_t why_size)
{
    uint8_t raw[16], a[16];
    unsigned port;
    char text[INET6_ADDRSTRLEN];
    enum outbound_class c;
    if (!sockaddr_bytes(sa, raw, &port)) {
        snprintf(why, why_size, "refused: only IPv4 and IPv6 addresses are reached");
        return false;
    }
    canonical(raw, a);
    address_text(sa, text, sizeof text);
    refresh(g, false);
    for (size_t i = 0; i < g->n_targets; i++) {
        if (reaches(&g->targets[i], host, a, port) && !allowed(g, host, a, port, true)) {
            snprintf(why, why_size, "refused: %s%s%s:%u is %s; an operator can allow it only "
                     "by naming that HOST:PORT with --outbound-allow",
                     sa->sa_family == AF_INET6 ? "[" : "", text,
                     sa->sa_family == AF_INET6 ? "]" : "", port, g->targets[i].what);
            return false;
        }
    }
    c = classify_bytes(raw);
    if (c != OUTBOUND_PUBLIC && !allowed(g, host, a, port, false)) {
        snprintf(why, why_size, "refused: %s is %s; an operator can allow it with "
                 "--outbound-allow", text, outbound_class_text(c));
        return false;
    }
    return true;
}

bool outbound_literal_refused(struct outbound *g, const char *host, unsigned port, char *why,
                              size_t why_size)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &in.sin_addr) == 1) {
        return !outbound_permits(g, host, (const struct sockaddr *)&in, why, why_size);
    }
    if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1) {
        return !outbound_permits(g, host, (const struct sockaddr *)&in6, why, why_size);
    }
    return false;
}

/* ---- Life ---- */

int outbound_new(struct outbound **out, uv_loop_t *loop, const struct outbound_config *config,
                 struct archive *archive, struct base_err *err)
{
    struct outbound *g = xcalloc(1, sizeof *g);
    g->loop = loop;
    g->archive = archive;
    g->rules = xcalloc(config->n_allow + 1, sizeof *g->rules);
    for (size_t i = 0; i < config->n_allow; i++) {
        int rv = outbound_rule_parse(config->allow[i], &g->rules[i], err);
        if (rv != 0) {
            free(g->rules);
            free(g);
            return rv;
        }
    }
    g->n_rules = config->n_allow;
    g->own = xcalloc(config->n_own + 1, sizeof *g->own);
    for (size_t i = 0; i < config->n_own; i++) {
        g->own[i] = xstrdup(config->own[i]);
    }
    g->n_own = config->n_own;
    refresh(g, true);
    if (loop != NULL) {
        uv_timer_init(loop, &g->timer);
        g->timer.data = g;
        uv_timer_start(&g->timer, refresh_cb, RESOLVE_MS, RESOLVE_MS);
    }
    *out = g;
    return 0;
}

int outbound_set_allow(struct outbound *g, const char *const *allow, size_t n_allow,
                       struct base_err *err)
{
    struct outbound_rule *rules = xcalloc(n_allow + 1, sizeof *rules);
    for (size_t i = 0; i < n_allow; i++) {
        int rv = outbound_rule_parse(allow[i], &rules[i], err);
        if (rv != 0) {
            free(rules);
            return rv;
        }
    }
    free(g->rules);
    g->rules = rules;
    g->n_rules = n_allow;
    return 0;
}

void outbound_close(struct outbound *g)
{
    if (g->loop != NULL && !g->closing) {
        uv_close((uv_handle_t *)&g->timer, NULL);
    }
    g->closing = true;
}

void outbound_free(struct outbound *g)
{
    if (g == NULL) {
        return;
    }
    for (size_t i = 0; i < g->n_own; i++) {
        free(g->own[i]);
    }
    free(g->own);
    free(g->rules);
    free(g->targets);
    free(g);
}
