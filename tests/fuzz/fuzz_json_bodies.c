/* Fuzz target: the JSON bodies of every endpoint family, through the real handlers of
 * a whole in-process node (fuzz_node.h): each input is one authenticated request whose
 * body the handler parses, validates, turns into a Command, proposes through raft and
 * applies to the node's RocksDB archive.
 *
 * Why the whole node rather than the body-to-Command builders alone: the handlers do
 * their validation inline with the HTTP request (no separate builder to call), and the
 * refusals that matter (a file of another bill, an unknown organisation) need the
 * archive's state, so the real path is also the simplest one to drive.
 *
 * Input: byte 0 picks the endpoint (ENDPOINTS), byte 1 the path parameters (an image
 * number among CB-A, CB-B, CB-C, a missing one; a file id among the files the harness
 * uploaded to CB-A and CB-B at start, an unknown id, garbage), the rest is the body.
 * In the body, $FA1 $FA2 $FA3 $FB1 $FB2 are replaced by the ids of those files, so the
 * fuzzer can name real files of either bill, and $FC1 by a file collected at start
 * (fileCollect) that no bill has yet. The node's state carries over between
 * inputs, as on a real node; after each one its archive must be consistent
 * (fuzz_check_archive()). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_node.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct endpoint {
    const char *method;
    const char *path; /* {I}: an image number, {F}: a file id, {N}: a name */
};

static const struct endpoint ENDPOINTS[] = {
    {"POST", "/api/v1/pool"},
    {"POST", "/api/v1/bills/{I}/submit"},
    {"POST", "/api/v1/bills/{I}/categorize"},
    {"POST", "/api/v1/bills/{I}/delete"},
    {"DELETE", "/api/v1/bills/{I}/files/{F}"},
    {"POST", "/api/v1/bills/{I}/rotate"},
    {"POST", "/api/v1/bills/{I}/files/{F}/move"},
    {"POST", "/api/v1/bills/{I}/merge"},
    {"POST", "/api/v1/bills/{I}/files/{F}/split"},
    {"PATCH", "/api/v1/bills/{I}/files/{F}"},
    {"POST", "/api/v1/bills/{I}/match"},
    {"POST", "/api/v1/bills/{I}/files/{F}/match"},
    {"DELETE", "/api/v1/bills/{I}/files/{F}/match"},
    {"POST", "/api/v1/bills/{I}/erp-submit"},
    {"POST", "/api/v1/bills/{I}/return"},
    {"POST", "/api/v1/tenants"},
    {"POST", "/api/v1/licenses"},
    {"POST", "/api/v1/clients"},
    {"POST", "/api/v1/auth/token"},
    {"POST", "/api/v1/auth/login"},
    {"POST", "/api/v1/users"},
    {"POST", "/api/v1/users/{N}/unlock"},
    {"PUT", "/api/v1/users/{N}/grants"},
    {"POST", "/api/v1/roles"},
    {"POST", "/api/v1/orgs"},
    {"PATCH", "/api/v1/orgs/{N}"},
    {"POST", "/api/v1/webhooks"},
    {"DELETE", "/api/v1/webhooks/{N}"},
    {"POST", "/api/v1/deliveries/{N}/retry"},
    {"POST", "/api/v1/bill-types"},
    {"POST", "/api/v1/schemes"},
    {"POST", "/api/v1/categories"},
    {"POST", "/api/v1/cluster/nodes/{N}/drain"},
    {"DELETE", "/api/v1/cluster/nodes/{N}/drain"},
    {"DELETE", "/api/v1/cluster/nodes/{N}"},
    {"POST", "/api/v1/cluster/join"},
    {"POST", "/api/v1/bills/{I}/files?name=scan.pdf&category=invoice&after={F}"},
    {"GET", "/api/v1/bills/{I}"},
    /* The vendor surface (api/vendor_auth.c, api/vendor_bills.c) and signed links. */
    {"POST", "/api/getAppToken.do"},
    {"POST", "/api/login.do"},
    {"POST", "/kapi/app/bds/erpBillPush"},
    {"POST", "/kapi/app/bds/operate"},
    {"POST", "/kapi/app/bds/getEventCode"},
    {"POST", "/kapi/app/rim/queryCover"},
    {"POST", "/api/v1/files/{F}/link"},
    /* scanBillSubmit names collected files ($FC1: one the harness collected at start)
     * or files of bills; logout.do takes the token in its body. */
    {"POST", "/kapi/app/bds/scanBillSubmit"},
    {"POST", "/api/logout.do"},
    /* Administration of users, roles and clients (api/users.c, api/clients.c). */
    {"PATCH", "/api/v1/users/{N}"},
    {"POST", "/api/v1/users/{N}/password"},
    {"POST", "/api/v1/auth/password"},
    {"PATCH", "/api/v1/roles/{N}"},
    {"DELETE", "/api/v1/roles/{N}"},
    {"POST", "/api/v1/clients/{N}/secret"},
    {"DELETE", "/api/v1/clients/{N}"},
    {"DELETE", "/api/v1/users/{N}"},
    /* The operator token exchanged for a short one (api/auth.c). */
    {"POST", "/api/v1/auth/operator"},
    /* Migration batches (api/migrations.c); batch "1" is created at start when the
     * data source API is there to make its data source. */
    {"POST", "/api/v1/migrations"},
    {"POST", "/api/v1/migrations/{N}/start"},
    {"POST", "/api/v1/migrations/{N}/pause"},
    {"POST", "/api/v1/migrations/{N}/resume"},
    {"POST", "/api/v1/migrations/{N}/retry"},
    {"POST", "/api/v1/migrations/{N}/cancel"},
    {"POST", "/api/v1/migrations/{N}/bills/skip"},
    /* Data sources (api/datasources.c); the harness made "o1" (kind vendor) at start.
     * The fuzz node makes no outbound calls: a test answers 503. */
    {"POST", "/api/v1/datasources"},
    {"PATCH", "/api/v1/datasources/{N}"},
    {"DELETE", "/api/v1/datasources/{N}"},
    {"POST", "/api/v1/datasources/{N}/test"},
    {"GET", "/api/v1/datasources/{N}"},
    /* The invoice-data sync (api/sync.c). */
    {"PUT", "/api/v1/sync/settings"},
    {"POST", "/api/v1/sync/runs"},
    {"POST", "/api/v1/sync/failures/retry"},
    {"GET", "/api/v1/sync/runs/{N}"},
    /* The operator's placement weight of a node (api/cluster.c). */
    {"PUT", "/api/v1/cluster/nodes/{N}/weight"},
    /* Legal holds (api/holds.c): placed, and lifted by a well-formed id (none of the
     * holds placed has it: ids are drawn at random, so the lift reaches apply and is
     * refused there). */
    {"POST", "/api/v1/bills/{I}/holds"},
    {"DELETE", "/api/v1/bills/{I}/holds/h0123456789abcdef"},
    /* Retention periods and deleting bills (api/retention.c). */
    {"DELETE", "/api/v1/bills/{I}"},
    {"GET", "/api/v1/retention"},
    {"PUT", "/api/v1/retention"},
    /* Deleting an organisation (api/orgs.c); the harness made "o1". */
    {"DELETE", "/api/v1/orgs/{N}"},
    /* Deleting a tenant (api/tenants.c): names the harness may have created with
     * POST /api/v1/tenants, and others. */
    {"DELETE", "/api/v1/tenants/{N}"},
};

static const char *const IMAGES[] = {"CB-A", "CB-B", "CB-C", "CB-Z"};
static const char *const NAMES[] = {"u1", "o1", "W1", "1", "2", "99", "admin", "%2e%2e"};
static char files[6][64]; /* FA1 FA2 FA3 FB1 FB2, and FC1: collected, in no bill */
static const char *const FILE_KEYS[] = {"$FA1", "$FA2", "$FA3", "$FB1", "$FB2", "$FC1"};

static void request(const char *method, const char *path, const char *body, size_t len)
{
    char *head = xasprintf("%s %s HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer %s\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                           "Connection: close\r\n\r\n",
                           method, path, FUZZ_NODE_TOKEN, len);
    size_t hlen = strlen(head);
    char *msg = xmalloc(hlen + len + 1);
    memcpy(msg, head, hlen);
    memcpy(msg + hlen, body, len);
    fuzz_node_send(msg, hlen + len, 0);
    free(msg);
    free(head);
}

/* Uploads a file to @image_no and keeps its id in @out. */
static void upload(const char *image_no, const char *category, char out[64])
{
    char *path = xasprintf("/api/v1/bills/%s/files?name=%s.pdf&category=%s", image_no,
                           category, category);
    const char *id;
    request("POST", path, "%PDF-1.4 fuzz", 13);
    id = strstr(fuzz_node_answer(), "\"file_id\":\"");
    if (id == NULL) {
        fprintf(stderr, "fuzz: upload to %s failed: %s\n", image_no, fuzz_node_answer());
        abort();
    }
    id += strlen("\"file_id\":\"");
    snprintf(out, 64, "%.*s", (int)strcspn(id, "\""), id);
    free(path);
}

/* Collects a file with the vendor's fileCollect (in no bill yet) and keeps its fileNo. */
static void collect(char out[64])
{
    static const char body[] = "{\"base64\":\"JVBERi0xLjQgZnV6eg==\",\"fileType\":\"invoice\"}";
    const char *id;
    request("POST", "/kapi/app/bds/fileCollect", body, strlen(body));
    id = strstr(fuzz_node_answer(), "\"fileNo\":\"");
    if (id == NULL) {
        fprintf(stderr, "fuzz: fileCollect failed: %s\n", fuzz_node_answer());
        abort();
    }
    id += strlen("\"fileNo\":\"");
    snprintf(out, 64, "%.*s", (int)strcspn(id, "\""), id);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char org[] = "{\"id\":\"o1\",\"name\":\"Org one\"}";
    static const char user[] = "{\"username\":\"u1\",\"password\":\"fuzz-password-1\","
                               "\"roles\":[\"capturer\"]}";
    static const char hook[] = "{\"url\":\"http://192.0.2.1/hook\",\"events\":[\"*\"]}";
    static const char source[] = "{\"name\":\"ds1\",\"kind\":\"imgarc\",\"url\":"
                                 "\"http://192.0.2.1\",\"tenant\":\"old\",\"client_id\":"
                                 "\"c\",\"client_secret\":\"fuzz-source-secret\"}";
    static const char batch[] = "{\"batch_no\":\"1\",\"datasource\":\"ds1\"}";
    static const char vendor_source[] = "{\"name\":\"o1\",\"kind\":\"vendor\",\"url\":"
                                        "\"http://192.0.2.1/ierp\",\"app_id\":\"a1\","
                                        "\"app_secret\":\"s1\",\"tenant_id\":\"t1\","
                                        "\"user\":\"u1\"}";
    (void)argc;
    (void)argv;
    fuzz_init();
    fuzz_node_start();
    request("POST", "/api/v1/orgs", org, strlen(org));
    request("POST", "/api/v1/users", user, strlen(user));
    request("POST", "/api/v1/webhooks", hook, strlen(hook));
    request("POST", "/api/v1/datasources", vendor_source, strlen(vendor_source));
    if (strstr(fuzz_node_answer(), "\"secret_set\":true") == NULL) {
        fprintf(stderr, "fuzz: creating data source o1 failed: %s\n", fuzz_node_answer());
        abort();
    }
    request("POST", "/api/v1/datasources", source, strlen(source));
    if (strstr(fuzz_node_answer(), "\"secret_set\":true") == NULL) {
        fprintf(stderr, "fuzz: creating data source ds1 failed: %s\n", fuzz_node_answer());
        abort();
    }
    request("POST", "/api/v1/migrations", batch, strlen(batch));
    upload("CB-A", "cover", files[0]);
    upload("CB-A", "invoice", files[1]);
    upload("CB-A", "attachment", files[2]);
    upload("CB-B", "cover", files[3]);
    upload("CB-B", "attachment", files[4]);
    collect(files[5]);
    return 0;
}

/* @s with every $FA1... replaced by its file id (a fresh allocation). */
static char *substitute(const char *s, size_t len, size_t *out_len)
{
    size_t cap = len * 8 + 1, n = 0;
    char *out = xmalloc(cap);
    for (size_t i = 0; i < len;) {
        size_t k;
        for (k = 0; k < ARRAY_SIZE(FILE_KEYS); k++) {
            if (len - i >= 4 && memcmp(s + i, FILE_KEYS[k], 4) == 0) {
                break;
            }
        }
        if (k < ARRAY_SIZE(FILE_KEYS)) {
            size_t m = strlen(files[k]);
            memcpy(out + n, files[k], m);
            n += m;
            i += 4;
        } else {
            out[n++] = s[i++];
        }
    }
    *out_len = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct endpoint *e;
    char path[512];
    const char *image, *file, *name;
    size_t n = 0, body_len;
    char *body;
    if (size < 2) {
        return 0;
    }
    e = &ENDPOINTS[data[0] % ARRAY_SIZE(ENDPOINTS)];
    image = IMAGES[data[1] & 3];
    file = (data[1] >> 2 & 7) < 5 ? files[data[1] >> 2 & 7]
           : (data[1] >> 2 & 7) == 5 ? "f0123456789abcdef0123456789abcde"
                                      : "x";
    name = NAMES[(data[1] >> 5) & 7];
    for (const char *p = e->path; *p != '\0' && n < sizeof path - 80;) {
        if (strncmp(p, "{I}", 3) == 0 || strncmp(p, "{F}", 3) == 0 || strncmp(p, "{N}", 3) == 0) {
            const char *v = p[1] == 'I' ? image : p[1] == 'F' ? file : name;
            n += (size_t)snprintf(path + n, sizeof path - n, "%s", v);
            p += 3;
        } else {
            path[n++] = *p++;
        }
    }
    path[n] = '\0';
    body = substitute((const char *)data + 2, size - 2, &body_len);
    request(e->method, path, body, body_len);
    free(body);
    /* Whatever the handlers let through, the archive stays consistent. */
    fuzz_check_archive(fuzz_node_archive(), "default");
    return 0;
}
