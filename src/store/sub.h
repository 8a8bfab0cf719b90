/*
 * sub: the one SUBSCRIBE connection of a process, shared by every module
 * that listens to a channel (the live pool channel, session invalidation).
 *
 * Modules register (channel, callback) pairs before or after the connection
 * is up; on every (re)connect all registered channels are subscribed again
 * and each registration's on_resync runs, because messages published while
 * we were disconnected are lost: a cache must be flushed, a board must be
 * told to fetch a fresh snapshot.
 */
#ifndef GSS_STORE_SUB_H
#define GSS_STORE_SUB_H

#include <stddef.h>

struct rds;

typedef void (*sub_message_cb)(void *ud, const char *msg, size_t len);
typedef void (*sub_resync_cb)(void *ud);

#define SUB_MAX 8

struct sub_entry {
    char          *channel; /* owned */
    sub_message_cb on_message;
    sub_resync_cb  on_resync;
    void          *ud;
};

struct sub_state {
    struct rds      *redis; /* the SUBSCRIBE-only connection; not owned */
    struct sub_entry entries[SUB_MAX];
    int              n;
    unsigned         connects; /* how many times the subscriber has (re)connected */
};

/* Takes over redis_sub's on_up/on_down and data (data = s) and makes it
 * quiet (a subscribed connection carries pushes only). redis_sub must
 * outlive s; call before rds_start(redis_sub). */
void sub_init(struct sub_state *s, struct rds *redis_sub);
int  sub_register(struct sub_state *s, const char *channel, sub_message_cb on_message, sub_resync_cb on_resync,
                  void *ud);
void sub_free(struct sub_state *s);

#endif
