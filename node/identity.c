#include "node/identity.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/log.h"
#include "base/mem.h"

/* The id nodes had before ids were stored: a data dir with raft state and no
 * DATA/node-id was made by a node running with the old default. */
#define LEGACY_NODE_ID 1

static int write_file(const char *path, const char *text, struct base_err *err)
{
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rv = 0;
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) != 0 ||
        rename(tmp, path) != 0) {
        base_err_set(err, "write %s: %s", path, strerror(errno));
        rv = BASE_EIO;
    }
    if (fd >= 0) {
        close(fd);
    }
    free(tmp);
    return rv;
}

/* The stored id: 0 when there is none; BASE_ECORRUPT when the file is not an id. */
static int read_id(const char *path, uint64_t *out, struct base_err *err)
{
    FILE *f = fopen(path, "r");
    char buf[32] = "";
    char *end;
    unsigned long long v;
    *out = 0;
    if (f == NULL) {
        return errno == ENOENT ? 0 : (base_err_set(err, "open %s: %s", path, strerror(errno)),
                                      BASE_EIO);
    }
    if (fgets(buf, sizeof buf, f) == NULL) {
        buf[0] = '\0';
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    errno = 0;
    v = strtoull(buf, &end, 10);
    if (buf[0] < '1' || buf[0] > '9' || *end != '\0' || errno != 0) {
        base_err_set(err, "%s does not hold a node id ('%s'); restore it or use an empty "
                          "data dir", path, buf);
        return BASE_ECORRUPT;
    }
    *out = v;
    return 0;
}

bool node_identity_raft_empty(const char *data)
{
    char *dir = xasprintf("%s/raft", data);
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true;
    free(dir);
    if (d == NULL) {
        return true;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    }
    closedir(d);
    return empty;
}

static uint64_t random_id(void)
{
    uint64_t id = 0;
    while (id == 0) {
        randombytes_buf(&id, sizeof id);
        id &= INT64_MAX; /* 63 bits: a signed 64-bit integer in every JSON library */
    }
    return id;
}

int node_identity_load(const char *data, uint64_t flag_id, uint64_t *out, struct base_err *err)
{
    char *path = xasprintf("%s/node-id", data);
    char text[32];
    uint64_t stored;
    int rv = read_id(path, &stored, err);
    if (rv == 0 && stored != 0 && flag_id != 0 && flag_id != stored) {
        base_err_set(err, "--node-id %" PRIu64 " but the data dir %s belongs to node %" PRIu64
                          "; a node keeps its id for the life of its data dir",
                     flag_id, data, stored);
        rv = BASE_EINVAL;
    }
    if (rv == 0 && stored == 0) {
        stored = flag_id != 0                       ? flag_id
                 : !node_identity_raft_empty(data) ? LEGACY_NODE_ID
                                                   : random_id();
        snprintf(text, sizeof text, "%" PRIu64 "\n", stored);
        rv = write_file(path, text, err);
    }
    free(path);
    if (rv == 0) {
        *out = stored;
    }
    return rv;
}

bool node_identity_joining(const char *data)
{
    char *path = xasprintf("%s/joining", data);
    bool yes = access(path, F_OK) == 0;
    free(path);
    return yes;
}

int node_identity_set_joining(const char *data, struct base_err *err)
{
    char *path = xasprintf("%s/joining", data);
    int rv = write_file(path, "this node asked to join a cluster and is not a member yet\n",
                        err);
    free(path);
    return rv;
}
