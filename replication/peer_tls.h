/* How this node reaches other members' HTTP ports: plain http, or https when it runs
 * with --tls-cert (every member of a cluster runs with TLS or none does: docs/tls.md).
 * Set once by node/main.c before any call is made; read by every node-to-node caller
 * (peer calls, blob copies and fetches, store fetches) to build its URL and its TLS
 * options. Any thread. */
#ifndef IMGARC_REPLICATION_PEER_TLS_H
#define IMGARC_REPLICATION_PEER_TLS_H

#include "net/http_client.h"

/* https with @tls (copied; the strings must outlive the node), or http for NULL. */
void peer_tls_set(const struct http_client_tls *tls);
/* "http" or "https". */
const char *peer_scheme(void);
/* The options for a call to a member, or NULL over plain http. */
const struct http_client_tls *peer_tls(void);

#endif
