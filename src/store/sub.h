/*
 * sub: the one SUBSCRIBE connection of a process, shared by every module
 * that listens to a channel (the live pool channel, session invalidation).
 *
 * Modules register (channel, callback) pairs before or after the connection
 * is up; on every (re)connect all registered channels are subscribed again
 * and each registration's on_resync runs, because messages published while
 * we were disconnected are lost: a cache must be flushed, a board must be
 * told to fetch a fresh snapshot. on_resync also runs when the connection
 * drops, and the connection is dropped when Redis stops answering its
 * probe (every second, RDS_HANG_MS; see sub.c), so a connection that died
 * silently (half-open) is resynced like one that closed.
 *
 * Callbacks run on the loop thread, never inside sub_register.
 */
#ifndef GSS_STORE_SUB_H
#define GSS_STORE_SUB_H

#include <stddef.h>
#include <stdint.h>

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
    unsigned         connects;        /* how many times the subscriber has (re)connected */
    uint64_t         probes_answered; /* liveness probes Redis answered */
};

/* Takes over redis_sub's on_up/on_down, probe and data (data = s): no
 * PING once up (a subscribed connection carries pushes only), the
 * subscriber's own probe instead. redis_sub must outlive s; call before
 * rds_start(redis_sub). */
void sub_init(struct sub_state *s, struct rds *redis_sub);
int  sub_register(struct sub_state *s, const char *channel, sub_message_cb on_message, sub_resync_cb on_resync,
                  void *ud);
void sub_free(struct sub_state *s);

#endif
