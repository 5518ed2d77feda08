/* The outbound guard: the address classes, --outbound-allow rules and the cluster's
 * own addresses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "replication/outbound.h"
#include "tests/lib/testlib.h"

/* @ip (IPv4 or IPv6 literal) and @port as a socket address in @ss. */
static const struct sockaddr *addr(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
    } else {
        assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
    }
    return (const struct sockaddr *)ss;
}

static enum outbound_class class_of(const char *ip)
{
    struct sockaddr_storage ss;
    return outbound_classify(addr(&ss, ip, 80));
}

struct case_ {
    const char *ip;
    enum outbound_class c;
};

static void check_cases(const struct case_ *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (class_of(cases[i].ip) != cases[i].c) {
            fail_msg("%s: class %d, expected %d", cases[i].ip, class_of(cases[i].ip),
                     cases[i].c);
        }
    }
}

static void every_ipv4_range_is_classified(void **state)
{
    static const struct case_ cases[] = {
        {"0.0.0.0", OUTBOUND_UNSPECIFIED},     {"0.255.1.2", OUTBOUND_UNSPECIFIED},
        {"127.0.0.1", OUTBOUND_LOOPBACK},      {"127.255.255.254", OUTBOUND_LOOPBACK},
        {"169.254.169.254", OUTBOUND_LINK_LOCAL}, {"169.254.0.1", OUTBOUND_LINK_LOCAL},
        {"10.0.0.1", OUTBOUND_PRIVATE},        {"10.255.255.255", OUTBOUND_PRIVATE},
        {"172.16.0.1", OUTBOUND_PRIVATE},      {"172.31.255.255", OUTBOUND_PRIVATE},
        {"172.15.255.255", OUTBOUND_PUBLIC},   {"172.32.0.1", OUTBOUND_PUBLIC},
        {"192.168.0.1", OUTBOUND_PRIVATE},     {"192.169.0.1", OUTBOUND_PUBLIC},
        {"100.64.0.1", OUTBOUND_SHARED},       {"100.127.255.255", OUTBOUND_SHARED},
        {"100.63.255.255", OUTBOUND_PUBLIC},   {"100.128.0.1", OUTBOUND_PUBLIC},
        {"224.0.0.1", OUTBOUND_MULTICAST},     {"239.255.255.250", OUTBOUND_MULTICAST},
        {"255.255.255.255", OUTBOUND_BROADCAST}, {"240.0.0.1", OUTBOUND_RESERVED},
        {"255.255.255.254", OUTBOUND_RESERVED}, {"192.0.0.8", OUTBOUND_RESERVED},
        {"192.0.2.10", OUTBOUND_RESERVED},     {"198.51.100.7", OUTBOUND_RESERVED},
        {"203.0.113.9", OUTBOUND_RESERVED},    {"198.18.0.1", OUTBOUND_RESERVED},
        {"198.19.255.255", OUTBOUND_RESERVED}, {"192.88.99.1", OUTBOUND_RESERVED},
        {"8.8.8.8", OUTBOUND_PUBLIC},          {"93.184.216.34", OUTBOUND_PUBLIC},
        {"126.255.255.255", OUTBOUND_PUBLIC},  {"128.0.0.1", OUTBOUND_PUBLIC},
    };
    (void)state;
    check_cases(cases, ARRAY_SIZE(cases));
}

static void every_ipv6_range_is_classified(void **state)
{
    static const struct case_ cases[] = {
        {"::", OUTBOUND_UNSPECIFIED},        {"::1", OUTBOUND_LOOPBACK},
        {"fe80::1", OUTBOUND_LINK_LOCAL},    {"febf::1", OUTBOUND_LINK_LOCAL},
        {"fc00::1", OUTBOUND_PRIVATE},       {"fd12:3456::1", OUTBOUND_PRIVATE},
        {"fec0::1", OUTBOUND_PRIVATE},       {"ff02::1", OUTBOUND_MULTICAST},
        {"ff05::2", OUTBOUND_MULTICAST},     {"2001:db8::1", OUTBOUND_RESERVED},
        {"2001::1", OUTBOUND_RESERVED},      {"100::1", OUTBOUND_RESERVED},
        {"64:ff9b:1::1", OUTBOUND_PRIVATE},  {"4000::1", OUTBOUND_RESERVED},
        {"2606:4700::1111", OUTBOUND_PUBLIC}, {"2a00:1450:4001::1", OUTBOUND_PUBLIC},
    };
    (void)state;
    check_cases(cases, ARRAY_SIZE(cases));
}

static void ipv4_in_ipv6_forms_are_classified_by_their_ipv4_address(void **state)
{
    static const struct case_ cases[] = {
        {"::ffff:127.0.0.1", OUTBOUND_LOOPBACK},   {"::ffff:10.1.2.3", OUTBOUND_PRIVATE},
        {"::ffff:169.254.169.254", OUTBOUND_LINK_LOCAL},
        {"::ffff:0.0.0.0", OUTBOUND_UNSPECIFIED},  {"::ffff:100.64.1.1", OUTBOUND_SHARED},
        {"::ffff:224.0.0.1", OUTBOUND_MULTICAST},  {"::ffff:255.255.255.255", OUTBOUND_BROADCAST},
        {"::ffff:8.8.8.8", OUTBOUND_PUBLIC},
        {"::127.0.0.1", OUTBOUND_LOOPBACK},        {"::10.0.0.1", OUTBOUND_PRIVATE},
        {"::192.168.1.1", OUTBOUND_PRIVATE},       {"::8.8.8.8", OUTBOUND_PUBLIC},
        {"64:ff9b::127.0.0.1", OUTBOUND_LOOPBACK}, {"64:ff9b::10.0.0.1", OUTBOUND_PRIVATE},
        {"64:ff9b::8.8.8.8", OUTBOUND_PUBLIC},
        {"2002:7f00:1::", OUTBOUND_LOOPBACK},      {"2002:a00:1::1", OUTBOUND_PRIVATE},
        {"2002:a9fe:a9fe::", OUTBOUND_LINK_LOCAL}, {"2002:808:808::1", OUTBOUND_PUBLIC},
    };
    (void)state;
    check_cases(cases, ARRAY_SIZE(cases));
}

static void allow_rules_parse_hosts_addresses_ports_and_ranges(void **state)
{
    struct outbound_rule r;
    struct base_err err = {{0}};
    (void)state;
    assert_int_equal(outbound_rule_parse("ERP.Internal", &r, &err), 0);
    assert_true(r.is_host);
    assert_string_equal(r.host, "erp.internal");
    assert_int_equal(r.port, 0);
    assert_int_equal(outbound_rule_parse("erp.internal:8443", &r, &err), 0);
    assert_int_equal(r.port, 8443);
    assert_int_equal(outbound_rule_parse("10.1.2.3", &r, &err), 0);
    assert_false(r.is_host);
    assert_int_equal(r.prefix, 128);
    assert_int_equal(outbound_rule_parse("10.1.2.3:80", &r, &err), 0);
    assert_int_equal(r.port, 80);
    assert_int_equal(outbound_rule_parse("10.1.0.0/16", &r, &err), 0);
    assert_int_equal(r.prefix, 96 + 16);
    assert_int_equal(outbound_rule_parse("0.0.0.0/0", &r, &err), 0);
    assert_int_equal(r.prefix, 96);
    assert_int_equal(outbound_rule_parse("fd00::/8", &r, &err), 0);
    assert_int_equal(r.prefix, 8);
    assert_int_equal(outbound_rule_parse("fd00::1", &r, &err), 0);
    assert_int_equal(r.port, 0);
    assert_int_equal(outbound_rule_parse("[fd00::1]:9000", &r, &err), 0);
    assert_int_equal(r.port, 9000);
    assert_int_equal(outbound_rule_parse("[::1]", &r, &err), 0);
}

static void bad_allow_rules_are_refused_with_a_reason(void **state)
{
    static const struct {
        const char *spec;
        const char *why;
    } cases[] = {
        {"", "the value is empty"},
        {"10.0.0.0/33", "the prefix length must be 0-32"},
        {"fd00::/129", "the prefix length must be 0-128"},
        {"10.0.0.0/", "the prefix length must be 0-32"},
        {"10.0.0.0/x", "the prefix length must be 0-32"},
        {"10.0.0.1/8", "bits set beyond the prefix length"},
        {"erp/8", "not an IPv4 or IPv6 address"},
        {"host:0", "the port must be a number from 1 to 65535"},
        {"host:65536", "the port must be a number from 1 to 65535"},
        {"host:", "the port must be a number from 1 to 65535"},
        {"host:-1", "the port must be a number from 1 to 65535"},
        {"[::1", "'[' without ']'"},
        {"[::1]80", "after ']' comes nothing or :PORT"},
        {"[erp]:80", "not an IPv6 address"},
        {"bad_host", "not a host name"},
        {"-lead", "not a host name"},
        {"a b", "not a host name"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct outbound_rule r;
        struct base_err err = {{0}};
        assert_int_equal(outbound_rule_parse(cases[i].spec, &r, &err), BASE_EINVAL);
        if (strstr(err.msg, cases[i].why) == NULL || strstr(err.msg, "--outbound-allow") ==
                                                         NULL) {
            fail_msg("'%s': %s", cases[i].spec, err.msg);
        }
    }
}

static struct outbound *guard(const char *const *allow, size_t n_allow, const char *const *own,
                              size_t n_own)
{
    struct outbound *g;
    struct base_err err = {{0}};
    struct outbound_config c = {.allow = allow, .n_allow = n_allow, .own = own, .n_own = n_own};
    assert_int_equal(outbound_new(&g, NULL, &c, NULL, &err), 0);
    return g;
}

static bool permits(struct outbound *g, const char *host, const char *ip, unsigned port,
                    char *why)
{
    struct sockaddr_storage ss;
    return outbound_permits(g, host, addr(&ss, ip, port), why, 256);
}

static void internal_addresses_are_refused_by_default(void **state)
{
    struct outbound *g = guard(NULL, 0, NULL, 0);
    char why[256];
    (void)state;
    assert_true(permits(g, "example.com", "93.184.216.34", 443, why));
    assert_false(permits(g, "127.0.0.1", "127.0.0.1", 80, why));
    assert_string_equal(why, "refused: 127.0.0.1 is a loopback address; an operator can allow "
                             "it with --outbound-allow");
    assert_false(permits(g, "x", "::ffff:169.254.169.254", 80, why));
    assert_string_equal(why, "refused: ::ffff:169.254.169.254 is a link-local address; an "
                             "operator can allow it with --outbound-allow");
    assert_false(permits(g, "x", "fd00::5", 80, why));
    assert_non_null(strstr(why, "a private address"));
    assert_true(outbound_literal_refused(g, "10.0.0.1", 80, why, sizeof why));
    assert_false(outbound_literal_refused(g, "8.8.8.8", 80, why, sizeof why));
    assert_false(outbound_literal_refused(g, "erp.example", 80, why, sizeof why));
    outbound_free(g);
}

static void rules_allow_their_range_host_and_port_only(void **state)
{
    static const char *const allow[] = {"10.1.0.0/16", "erp.internal", "192.168.7.7:8443",
                                        "fd00:1::/32"};
    struct outbound *g = guard(allow, ARRAY_SIZE(allow), NULL, 0);
    char why[256];
    (void)state;
    assert_true(permits(g, "x", "10.1.200.3", 80, why));
    assert_true(permits(g, "x", "::ffff:10.1.200.3", 80, why)); /* the same address */
    assert_false(permits(g, "x", "10.2.0.1", 80, why));
    assert_true(permits(g, "ERP.internal", "10.9.9.9", 80, why)); /* any address of it */
    assert_false(permits(g, "other.internal", "10.9.9.9", 80, why));
    assert_true(permits(g, "x", "192.168.7.7", 8443, why));
    assert_false(permits(g, "x", "192.168.7.7", 8080, why));
    assert_true(permits(g, "x", "fd00:1:2::3", 80, why));
    assert_false(permits(g, "x", "fd00:2::3", 80, why));
    assert_false(permits(g, "x", "127.0.0.1", 80, why));
    outbound_free(g);
}

static void cluster_addresses_need_a_rule_naming_their_port(void **state)
{
    static const char *const own[] = {"127.0.0.1:8080", "0.0.0.0:9080", "node2.example:7000",
                                      "[::1]:6000"};
    static const char *const wide[] = {"127.0.0.0/8", "::1", "node2.example", "10.0.0.0/8"};
    static const char *const exact[] = {"127.0.0.1:8080"};
    struct outbound *g = guard(wide, ARRAY_SIZE(wide), own, ARRAY_SIZE(own));
    char why[256];
    (void)state;
    assert_false(permits(g, "127.0.0.1", "127.0.0.1", 8080, why));
    assert_string_equal(why, "refused: 127.0.0.1:8080 is an address of this node; an operator "
                             "can allow it only by naming that HOST:PORT with --outbound-allow");
    assert_true(permits(g, "127.0.0.1", "127.0.0.1", 8081, why));
    assert_false(permits(g, "x", "::ffff:127.0.0.1", 8080, why));
    assert_false(permits(g, "x", "0.0.0.0", 8080, why)); /* 0.0.0.0 reaches this host */
    /* A node listening on every address is reached through any local one. */
    assert_false(permits(g, "x", "127.0.0.9", 9080, why));
    assert_false(permits(g, "x", "::1", 9080, why));
    assert_true(permits(g, "x", "8.8.4.4", 9080, why)); /* not an address of this host */
    /* A member named by host name, whatever address the URL gives for it. */
    assert_false(permits(g, "NODE2.example", "10.3.3.3", 7000, why));
    assert_true(permits(g, "node2.example", "10.3.3.3", 7001, why));
    assert_false(permits(g, "x", "::1", 6000, why));
    assert_non_null(strstr(why, "[::1]:6000 is an address of this node"));
    outbound_free(g);
    g = guard(exact, ARRAY_SIZE(exact), own, ARRAY_SIZE(own));
    assert_true(permits(g, "127.0.0.1", "127.0.0.1", 8080, why));
    assert_false(permits(g, "127.0.0.1", "127.0.0.1", 8081, why)); /* loopback, not allowed */
    outbound_free(g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_ipv4_range_is_classified),
    cmocka_unit_test(every_ipv6_range_is_classified),
    cmocka_unit_test(ipv4_in_ipv6_forms_are_classified_by_their_ipv4_address),
    cmocka_unit_test(allow_rules_parse_hosts_addresses_ports_and_ranges),
    cmocka_unit_test(bad_allow_rules_are_refused_with_a_reason),
    cmocka_unit_test(internal_addresses_are_refused_by_default),
    cmocka_unit_test(rules_allow_their_range_host_and_port_only),
    cmocka_unit_test(cluster_addresses_need_a_rule_naming_their_port),
};

TESTLIB_MAIN("replication/outbound", tests)
