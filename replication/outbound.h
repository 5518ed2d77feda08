/* The outbound guard: which addresses a request the node makes for a tenant may reach.
 *
 * Webhook deliveries and ERP submissions (and any URL the node fetches on a tenant's
 * behalf later) go to addresses a tenant admin chose. Left alone, such a request could
 * reach services that trust the network they sit on: the node's own API and raft port,
 * the other members, a cloud metadata endpoint, a database on the private network. By
 * default the guard refuses:
 *   - loopback, unspecified, link-local, private (RFC 1918, fc00::/7, site-local),
 *     carrier-grade NAT (100.64/10), multicast, broadcast and reserved addresses, in
 *     IPv4 and IPv6, IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64,
 *     6to4) classified by the IPv4 address they carry;
 *   - every HTTP and raft address of the cluster (this node's flags and every member of
 *     the node registry, read at each check; host names resolved every 2 s in the
 *     background, and matched by name too).
 * An operator allows a receiver with --outbound-allow HOST[:PORT] or CIDR. A cluster
 * address stays refused unless a rule names its port too (HOST:PORT or IP:PORT): a CIDR
 * allowing the ERP's network does not open the members sitting in it.
 *
 * The check runs on the resolved address each time a connection is opened
 * (net/http_client.c calls outbound_check() from libcurl's open-socket hook), so DNS
 * rebinding cannot slip past it; outbound_literal_refused() is the early check an API
 * can give at once. Loop thread only. */
#ifndef IMGARC_REPLICATION_OUTBOUND_H
#define IMGARC_REPLICATION_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "archive/archive.h"
#include "base/err.h"

enum outbound_class {
    OUTBOUND_PUBLIC = 0,
    OUTBOUND_LOOPBACK,    /* 127/8, ::1 */
    OUTBOUND_UNSPECIFIED, /* 0/8, :: */
    OUTBOUND_LINK_LOCAL,  /* 169.254/16, fe80::/10 */
    OUTBOUND_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10 */
    OUTBOUND_SHARED,      /* 100.64/10, carrier-grade NAT */
    OUTBOUND_MULTICAST,   /* 224/4, ff00::/8 */
    OUTBOUND_BROADCAST,   /* 255.255.255.255 */
    OUTBOUND_RESERVED,    /* documentation, benchmarking, 240/4, IPv6 outside 2000::/3 */
};

/* The class of @sa (AF_INET or AF_INET6; any other family is RESERVED). */
enum outbound_class outbound_classify(const struct sockaddr *sa);
/* "a loopback address", "a private address"... */
const char *outbound_class_text(enum outbound_class c);

/* One --outbound-allow value. */
struct outbound_rule {
    bool is_host;      /* a host name; else an address range */
    char host[256];    /* the host name, lowercased */
    uint8_t net[16];   /* the range, IPv4 in IPv4-mapped form (::ffff:a.b.c.d) */
    unsigned prefix;   /* 0-128, on the 16-byte form */
    unsigned port;     /* 0: any port */
};

/* Parses HOST, HOST:PORT, IPv4, IPv4:PORT, IPv6, [IPv6]:PORT, IPv4/N or IPv6/N. On a
 * bad value, @err says what is wrong and what the forms are. */
int outbound_rule_parse(const char *spec, struct outbound_rule *out,
                        struct base_err *err) WARN_UNUSED;

struct outbound_config {
    const char *const *allow; /* --outbound-allow values (copied) */
    size_t n_allow;
    const char *const *own;   /* this node's HOST:PORT addresses: listen, advertise, raft */
    size_t n_own;
};

struct outbound;

/* Parses the rules (BASE_EINVAL with @err naming the bad one) and starts resolving the
 * host names of the cluster's addresses (@archive's node registry; NULL: none) every
 * few seconds. @loop NULL: no background resolution (tests). */
int outbound_new(struct outbound **out, uv_loop_t *loop, const struct outbound_config *config,
                 struct archive *archive, struct base_err *err) WARN_UNUSED;
/* Whether a request whose URL names @host may connect to @sa. When not, @why (at least
 * 256 bytes) says "refused: <address> is <what>; an operator can allow it with
 * --outbound-allow". */
bool outbound_permits(struct outbound *g, const char *host, const struct sockaddr *sa,
                      char *why, size_t why_size);
/* outbound_permits() in the shape net/http_client.h asks for: a tenant's request sets
 * req.permits = outbound_check and req.guard = its struct outbound. */
bool outbound_check(void *guard, const char *host, const struct sockaddr *sa, char *why,
                    size_t why_size);
/* The early check of a URL's host (a literal address): its refusal, or NULL when the
 * host is a name (resolve it and ask outbound_permits() per address) or is allowed.
 * @host is bracket-free; @port the URL's port. @why as above. */
bool outbound_literal_refused(struct outbound *g, const char *host, unsigned port, char *why,
                              size_t why_size);
/* Replaces the --outbound-allow rules (a configuration reload, on the loop thread like
 * every check): all or nothing, BASE_EINVAL with @err naming a bad one. */
int outbound_set_allow(struct outbound *g, const char *const *allow, size_t n_allow,
                       struct base_err *err) WARN_UNUSED;
/* Stops the refresh timer (the loop can then end); outbound_free() once it has. */
void outbound_close(struct outbound *g);
void outbound_free(struct outbound *g);

#endif
