/* The scheme and TLS options of node-to-node calls (replication/peer_tls.h). */
#include "replication/peer_tls.h"

#include <stdbool.h>

static struct http_client_tls tls;
static bool on;

void peer_tls_set(const struct http_client_tls *t)
{
    on = t != NULL;
    if (t != NULL) {
        tls = *t;
    }
}

const char *peer_scheme(void)
{
    return on ? "https" : "http";
}

const struct http_client_tls *peer_tls(void)
{
    return on ? &tls : NULL;
}
