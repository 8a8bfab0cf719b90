/*
 * timerq: one uv_timer_t for many timeouts.
 *
 * Each queue kind has one fixed duration (say, header timeout 10 s, idle
 * timeout 60 s). A node armed for a kind goes to the tail of that kind's
 * list, so every list is sorted by deadline for free: arming and disarming
 * are O(1) and the timer only ever looks at list heads. This is how a
 * server with ten thousand sockets keeps one timer instead of ten thousand
 * (lwan's timeout queue works the same way).
 *
 * Nodes are embedded in their owner; the expire callback gets the node and
 * finds its owner with container_of. A node is disarmed before the callback
 * runs, so the callback may re-arm it or free its owner.
 */
#ifndef GSS_TIMERQ_H
#define GSS_TIMERQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define TIMERQ_KINDS 7

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct timerq_node {
    struct timerq_node *prev, *next; /* NULL when not armed */
    uint64_t            deadline;    /* uv_now() ms */
    int                 kind;
};

struct timerq;
typedef void (*timerq_cb)(struct timerq *tq, struct timerq_node *node);

struct timerq {
    uv_timer_t         timer;               /* owned; closed by timerq_close */
    struct timerq_node heads[TIMERQ_KINDS]; /* circular sentinels */
    uint64_t           duration[TIMERQ_KINDS];
    uint64_t           armed_for; /* deadline the timer is set for, 0 = not set */
    timerq_cb          on_expire;
    void              *data;
};

int                timerq_init(struct timerq *tq, uv_loop_t *loop, timerq_cb on_expire);
void               timerq_set_duration(struct timerq *tq, int kind, uint64_t ms);
void               timerq_arm(struct timerq *tq, struct timerq_node *n, int kind);
void               timerq_disarm(struct timerq_node *n);
static inline bool timerq_armed(const struct timerq_node *n)
{
    return n->next != NULL;
}
/* Stops the timer and closes its handle; close_cb as for uv_close. */
void timerq_close(struct timerq *tq, uv_close_cb close_cb);

#endif
