#include "archive/nodes.h"

#include <stdlib.h>
#include <string.h>

#include "archive/keys.h"

bool archive_valid_address(const char *s)
{
    const char *colon = strrchr(s, ':');
    size_t host_len;
    unsigned long port = 0;
    if (colon == NULL || strlen(s) > ARCHIVE_ADDRESS_MAX) {
        return false;
    }
    host_len = (size_t)(colon - s);
    if (host_len == 0 || host_len > 253 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                     "abcdefghijklmnopqrstuvwxyz0123456789.-") !=
                                               host_len) {
        return false;
    }
    /* Digits only, no sign or leading zero, so that one port has one spelling. */
    if (colon[1] == '\0' || colon[1] == '0' || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
        return false;
    }
    port = strtoul(colon + 1, NULL, 10);
    return port >= 1 && port <= 65535;
}

bool archive_valid_storage_state(const char *s)
{
    return strcmp(s, ARCHIVE_STORAGE_ACTIVE) == 0 || strcmp(s, ARCHIVE_STORAGE_DRAINING) == 0 ||
           strcmp(s, ARCHIVE_STORAGE_OUT) == 0;
}

const char *archive_storage_name(const char *s)
{
    return s == NULL || s[0] == '\0' ? "active" : s;
}

unsigned archive_node_weight_pct(const NodeRecord *n)
{
    return n->weight_pct >= ARCHIVE_WEIGHT_PCT_MIN && n->weight_pct <= ARCHIVE_WEIGHT_PCT_MAX
               ? n->weight_pct
               : ARCHIVE_WEIGHT_PCT_DEFAULT;
}

bool archive_valid_zone(const char *s)
{
    return archive_valid_tenant(s); /* the id alphabet, 1-64 characters */
}

static void key_node(struct key *k, uint64_t id)
{
    rocks_put_be64((uint8_t *)k->buf, id);
    k->len = 8;
}

int archive_get_node(struct archive *a, uint64_t id, NodeRecord **out, struct base_err *err)
{
    struct key k;
    key_node(&k, id);
    return archive_load_record(a, ARCHIVE_CF_NODES, &k, &node_record__descriptor,
                               (ProtobufCMessage **)out, err);
}

void archive_free_node(NodeRecord *node)
{
    if (node != NULL) {
        node_record__free_unpacked(node, NULL);
    }
}

int archive_list_nodes(struct archive *a, archive_node_cb cb, void *arg, struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_NODES, "", 0);
    int rv = 0;
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        NodeRecord *n = node_record__unpack(NULL, vlen, (const uint8_t *)v);
        if (n == NULL) {
            base_err_set(err, "nodes record is corrupt");
            rv = BASE_ECORRUPT;
            break;
        }
        cb(n, arg);
        node_record__free_unpacked(n, NULL);
    }
    if (rv == 0) {
        rv = rocks_iter_status(it, err);
    }
    rocks_iter_free(it);
    return rv;
}
