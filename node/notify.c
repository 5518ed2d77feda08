#include "node/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "archive/archive.h"
#include "base/log.h"
#include "replication/repl.h"

#define STATUS_EVERY_MS 1000

/* What /readyz would say, in one line. */
static void status_line(struct node_notify *nt, char *buf, size_t size)
{
    struct repl_status st;
    repl_get_status(nt->repl, &st);
    if (st.removed) {
        snprintf(buf, size, "removed from the cluster");
    } else if (st.catching_up) {
        snprintf(buf, size, "catching up: fetching the metadata store at index %llu",
                 (unsigned long long)st.catchup_target);
    } else if (st.leader_id == 0) {
        snprintf(buf, size, "waiting for a raft leader (raft state %s)", st.state);
    } else if (!archive_cluster_initialized(nt->archive)) {
        snprintf(buf, size, "the cluster is being initialised");
    } else {
        snprintf(buf, size, "serving: raft %s, leader node %llu", st.state,
                 (unsigned long long)st.leader_id);
    }
}

/* STATUS= when it changed (or with @prefix, always). */
static void send_status(struct node_notify *nt, const char *prefix)
{
    char line[sizeof nt->last];
    char msg[sizeof nt->last + 64];
    int rv;
    status_line(nt, line, sizeof line);
    if (prefix == NULL && strcmp(line, nt->last) == 0) {
        return;
    }
    memcpy(nt->last, line, sizeof line);
    snprintf(msg, sizeof msg, "%sSTATUS=%s", prefix != NULL ? prefix : "", line);
    rv = sd_notify(0, msg);
    if (rv < 0) {
        LOG_WARN("node", "systemd notification failed: %s", strerror(-rv));
    }
}

static void status_cb(uv_timer_t *t)
{
    send_status(t->data, NULL);
}

void node_notify_init(struct node_notify *nt, uv_loop_t *loop, struct repl *repl,
                      struct archive *archive)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    memset(nt, 0, sizeof *nt);
    nt->on = sock != NULL && sock[0] != '\0';
    nt->repl = repl;
    nt->archive = archive;
    if (nt->on) {
        uv_timer_init(loop, &nt->timer);
        nt->timer.data = nt;
        nt->timer_open = true;
    }
}

void node_notify_ready(struct node_notify *nt)
{
    if (!nt->on) {
        return;
    }
    send_status(nt, "READY=1\n");
    uv_timer_start(&nt->timer, status_cb, STATUS_EVERY_MS, STATUS_EVERY_MS);
}

void node_notify_reloading(struct node_notify *nt)
{
    if (nt->on) {
        (void)sd_notify(0, "RELOADING=1\nSTATUS=reading the configuration again");
    }
}

void node_notify_reloaded(struct node_notify *nt)
{
    if (nt->on) {
        send_status(nt, "READY=1\n");
    }
}

void node_notify_stopping(struct node_notify *nt)
{
    if (!nt->on) {
        return;
    }
    (void)sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
    if (nt->timer_open) {
        uv_close((uv_handle_t *)&nt->timer, NULL);
        nt->timer_open = false;
    }
}
