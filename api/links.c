/* Signed, expiring texts and the signed file links built on them.
 *
 * A sealed text is "<prefix><payload>.<mac>": payload is base64url JSON holding at least
 * "e" (expiry, Unix ms), mac the base64url HMAC-SHA-256 of everything before the last
 * dot under the cluster's token key (replicated by InitCluster, so every node opens what
 * any node sealed, with no session state). The prefix is part of what is signed and
 * names the kind, so one kind is never taken for another: "imglnk1." a file link,
 * "imgevt1." an event code, "imgapp1." a vendor app token; access tokens ("imgarc1.",
 * api/auth.c) are checked by their own code and never open as any of these.
 *
 * A signed link, POST /api/v1/files/{file_id}/link, opens one file of one tenant until
 * it expires (--link-ttl-s), without a header: GET /api/v1/links/{link}. Its payload is
 * {"t": tenant, "f": file id, "e": expiry} and who asked for it: "u" the user, "g" its
 * token generation, "k" its token's id and "vc"/"vg" the business system it logged in
 * through, or "c"/"g" a client. No token of anyone rides in the URL. A link opens only
 * while who asked for it still may act and still sees the file: disabling, locking,
 * deleting, logging out or revoking the user (or rotating or deleting the client), or
 * taking away the grant, ends its links at once, on every node. Links made for the
 * operator or for an event code's page carry no one. The bytes are the normal
 * download's (api/content.c): ranges, ETag, verification, reads from another node.
 * Loop thread only. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/mem.h"

#define LINK_PREFIX "imglnk1."

static char *b64url(const uint8_t *bin, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = xmalloc(n);
    sodium_bin2base64(out, n, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

char *api_seal_key(const uint8_t key[32], const char *prefix, json_t *payload)
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char *json = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    char *body = b64url((const uint8_t *)json, strlen(json));
    char *signed_part = xasprintf("%s%s", prefix, body);
    char *mac64, *out;
    crypto_auth_hmacsha256(mac, (const uint8_t *)signed_part, strlen(signed_part), key);
    mac64 = b64url(mac, sizeof mac);
    out = xasprintf("%s.%s", signed_part, mac64);
    free(json);
    free(body);
    free(signed_part);
    free(mac64);
    return out;
}

json_t *api_unseal_key(const uint8_t key[32], const char *prefix, const char *text)
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES], json[API_SEALED_MAX];
    size_t n = strlen(text), plen = strlen(prefix), mac_len = 0, json_len = 0;
    const char *dot = strrchr(text, '.');
    json_t *o;
    if (n > API_SEALED_MAX || strncmp(text, prefix, plen) != 0 || dot == NULL ||
        dot < text + plen) {
        return NULL;
    }
    if (sodium_base642bin(mac, sizeof mac, dot + 1, strlen(dot + 1), NULL, &mac_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        mac_len != sizeof mac ||
        crypto_auth_hmacsha256_verify(mac, (const uint8_t *)text, (size_t)(dot - text), key) !=
            0 ||
        sodium_base642bin(json, sizeof json, text + plen, (size_t)(dot - text) - plen, NULL,
                          &json_len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        return NULL;
    }
    o = json_loadb((const char *)json, json_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o) || !json_is_integer(json_object_get(o, "e"))) {
        json_decref(o); /* only a bug of ours could sign such a payload */
        return NULL;
    }
    return o;
}

char *api_seal(struct api *api, const char *prefix, json_t *payload)
{
    uint8_t key[32];
    char *out;
    ASSERT(archive_token_key(api->archive, key)); /* requests are served once it is set */
    out = api_seal_key(key, prefix, payload);
    sodium_memzero(key, sizeof key);
    return out;
}

enum api_seal_status api_unseal(struct api *api, const char *prefix, const char *text,
                                json_t **payload)
{
    uint8_t key[32];
    json_t *o = NULL;
    *payload = NULL;
    if (archive_token_key(api->archive, key)) {
        o = api_unseal_key(key, prefix, text);
        sodium_memzero(key, sizeof key);
    }
    if (o == NULL) {
        return API_SEAL_FORGED;
    }
    if ((uint64_t)json_integer_value(json_object_get(o, "e")) <= clock_wall_ms()) {
        json_decref(o);
        return API_SEAL_EXPIRED;
    }
    *payload = o;
    return API_SEAL_OK;
}

/* The Host header when it is a plain host[:port] (what a client put there decides only
 * the URL its own answer carries); NULL otherwise. A proxy that ends TLS says so with
 * X-Forwarded-Proto: https. */
static const char *plain_host(struct http_request *req)
{
    const char *h = http_request_header(req, "host");
    if (h == NULL || h[0] == '\0' || strlen(h) > 255 ||
        strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
            strlen(h)) {
        return NULL;
    }
    return h;
}

char *api_link_url(struct api_call *call, const char *file_id, uint64_t *expires_ms)
{
    uint64_t exp = clock_wall_ms() + call->api->config.link_ttl_s * 1000;
    json_t *p = json_pack("{s:s, s:s, s:I}", "t", call->tenant, "f", file_id, "e",
                          (json_int_t)exp);
    if (call->principal == API_USER) {
        json_object_set_new(p, "u", json_string(call->username));
        json_object_set_new(p, "g", json_integer((json_int_t)call->token_generation));
        json_object_set_new(p, "k", json_string(call->token_id));
        if (call->via_client[0] != '\0') {
            json_object_set_new(p, "vc", json_string(call->via_client));
            json_object_set_new(p, "vg", json_integer((json_int_t)call->via_generation));
        }
    } else if (call->principal == API_CLIENT) {
        json_object_set_new(p, "c", json_string(call->client_id));
        json_object_set_new(p, "g", json_integer((json_int_t)call->token_generation));
    }
    char *link = api_seal(call->api, LINK_PREFIX, p);
    const char *host = plain_host(call->req);
    const char *proto = http_request_header(call->req, "x-forwarded-proto");
    char *url = host != NULL ? xasprintf("%s://%s/api/v1/links/%s",
                                         proto != NULL && strcmp(proto, "https") == 0 ? "https"
                                                                                      : "http",
                                         host, link)
                             : xasprintf("/api/v1/links/%s", link);
    json_decref(p);
    free(link);
    *expires_ms = exp;
    return url;
}

/* ---- POST /api/v1/files/{file_id}/link ---- */

void api_handle_file_link(struct api_call *call)
{
    struct base_err err = {{0}};
    FileRecord *f = NULL;
    uint64_t exp;
    char *url;
    int rv = archive_get_file_as(call->api->archive, &call->access, call->param, &f, &err);
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_FILE_NOT_FOUND,
                          "no file %.64s in tenant %s that you may see; take file ids from "
                          "GET /api/v1/bills/{image_no}",
                          call->param, call->tenant);
        return;
    }
    if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "file: %s", err.msg);
        return;
    }
    url = api_link_url(call, f->file_id, &exp);
    http_request_add_header(call->req, "Cache-Control", "no-store");
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:s, s:o, s:s, s:I}", "url", url, "expires", api_time_json(exp),
                               "file_id", f->file_id, "expires_in",
                               (json_int_t)call->api->config.link_ttl_s));
    free(url);
    archive_free_file(f);
}

/* ---- GET /api/v1/links/{link} ---- */

/* Copies a string field of @p into @out (@size bytes); false when absent or too long. */
static bool field(json_t *p, const char *key, char *out, size_t size)
{
    const char *v = json_string_value(json_object_get(p, key));
    if (v == NULL || strlen(v) >= size) {
        return false;
    }
    memcpy(out, v, strlen(v) + 1);
    return true;
}

/* Who the link @p was made for, into @call; API_OPERATOR for a link that names no one
 * (the operator's, an event code's), API_ANONYMOUS when the payload is not one we
 * sign. */
static enum api_principal link_principal(struct api_call *call, json_t *p)
{
    json_t *g = json_object_get(p, "g");
    call->token_generation = (uint64_t)json_integer_value(g);
    if (json_object_get(p, "u") != NULL) {
        if (!field(p, "u", call->username, sizeof call->username) ||
            !field(p, "k", call->token_id, sizeof call->token_id) || !json_is_integer(g)) {
            return API_ANONYMOUS;
        }
        call->via_client[0] = '\0';
        if (json_object_get(p, "vc") != NULL &&
            !field(p, "vc", call->via_client, sizeof call->via_client)) {
            return API_ANONYMOUS;
        }
        call->via_generation = (uint64_t)json_integer_value(json_object_get(p, "vg"));
        return API_USER;
    }
    if (json_object_get(p, "c") != NULL) {
        return field(p, "c", call->client_id, sizeof call->client_id) && json_is_integer(g)
                   ? API_CLIENT
                   : API_ANONYMOUS;
    }
    return API_OPERATOR;
}

void api_handle_link_content(struct api_call *call)
{
    json_t *p;
    const char *tenant, *file;
    switch (api_unseal(call->api, LINK_PREFIX, call->param, &p)) {
    case API_SEAL_FORGED:
        api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                          "this link is not one this cluster signed (altered or cut short); "
                          "ask for a new one with POST /api/v1/files/{file_id}/link");
        return;
    case API_SEAL_EXPIRED:
        api_respond_error(call->api, call->req, 410, API_E_GONE,
                          "this link has expired (links live %llu s); ask for a new one with "
                          "POST /api/v1/files/{file_id}/link",
                          (unsigned long long)call->api->config.link_ttl_s);
        return;
    case API_SEAL_OK:
        break;
    }
    tenant = json_string_value(json_object_get(p, "t"));
    file = json_string_value(json_object_get(p, "f"));
    if (tenant == NULL || file == NULL || !archive_valid_tenant(tenant)) {
        api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                          "this signed text is not a file link");
    } else {
        enum api_principal who;
        const char *why = "";
        snprintf(call->tenant, sizeof call->tenant, "%s", tenant);
        who = link_principal(call, p);
        if (who == API_ANONYMOUS) {
            api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                              "this signed text is not a file link");
        } else if (who != API_OPERATOR &&
                   api_principal_current(call, who, &why) == API_ANONYMOUS) {
            api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                              "this link no longer opens, as the access it was made for no "
                              "longer acts (%s); ask for a new link",
                              why);
        } else {
            /* A user's link shows only what that user still sees (grants read now). */
            call->principal = who;
            api_content_serve(call, file, true);
        }
    }
    json_decref(p);
}
