/* Telling systemd how the node is doing (Type=notify, sd_notify(3)): READY=1 once the
 * stores are open and the HTTP port answers, a STATUS= line that follows raft (no leader
 * yet, catching up, serving), RELOADING=1 around a SIGHUP and STOPPING=1 at shutdown.
 * READY means "started", not "ready for traffic": a node that catches up a large store
 * may take hours, longer than any start timeout; /readyz says when it serves. Does
 * nothing unless systemd set $NOTIFY_SOCKET. Loop thread only. */
#ifndef IMGARC_NODE_NOTIFY_H
#define IMGARC_NODE_NOTIFY_H

#include <stdbool.h>

#include <uv.h>

struct archive;
struct repl;

struct node_notify {
    bool on;  /* $NOTIFY_SOCKET is set */
    bool timer_open;
    uv_timer_t timer; /* STATUS= updates while running */
    struct repl *repl;
    struct archive *archive;
    char last[256]; /* the STATUS= last sent */
};

void node_notify_init(struct node_notify *nt, uv_loop_t *loop, struct repl *repl,
                      struct archive *archive);
/* READY=1 with the first STATUS=, then STATUS= again whenever it changes. */
void node_notify_ready(struct node_notify *nt);
void node_notify_reloading(struct node_notify *nt);
void node_notify_reloaded(struct node_notify *nt);
/* STOPPING=1; closes the timer (the loop can end). */
void node_notify_stopping(struct node_notify *nt);

#endif
