/* Folder-private to the membership files: what members_roles.c, members_self.c,
 * members_view.c and members_change.c call in each other. Only these include it.
 *
 * Who writes which part of struct repl (repl_int.h): members_roles.c "roles" (the
 * leader's peers, the one raft change in flight, a join's raft_add included, and the
 * storage proposal); members_self.c "self" and "join". members_change.c and
 * members_view.c write none: they go through the functions below. */
#ifndef IMGARC_REPLICATION_MEMBERS_INT_H
#define IMGARC_REPLICATION_MEMBERS_INT_H

#include "replication/repl_int.h"

/* members_self.c */
/* Runs the membership tick at once (after a change, to take the next step). */
void repl_members_tick_now(struct repl *r);
/* Proposes RegisterNode for @c (locally as leader when @local). */
int repl_members_propose_register(struct repl *r, struct repl_propose *p,
                                  const struct repl_change *c, bool local, repl_propose_cb cb);

/* members_roles.c: the leader's side of the tick */
void repl_members_poll_peers(struct repl *r);
/* The leader: raises the cluster's feature level once every member runs it. */
void repl_members_raise_level(struct repl *r);
void repl_members_reconcile(struct repl *r);
void repl_members_step_storage(struct repl *r);
/* The leader's record of member @id, or NULL; whether it answered recently. */
struct peer *repl_members_peer_find(struct repl *r, uint64_t id);
bool repl_members_peer_up(struct repl *r, const struct peer *p);
/* Forgets every peer (polls in flight end on their own). */
void repl_members_forget_peers(struct repl *r);
/* Whether @id's registry record says it was removed. */
bool repl_members_is_removed(struct repl *r, uint64_t id);
/* Voters of the configuration, in @zone (NULL: all). */
unsigned repl_members_count_voters(struct repl *r, const char *zone);
/* Adds node c->id (c->raft) as a spare: the one raft change, owned by @c until
 * @added_cb runs with raft's outcome (0), or raft's error (@added_cb never runs). */
int repl_members_add(struct repl *r, struct repl_change *c,
                     void (*added_cb)(struct repl_change *c, int status));

#endif
