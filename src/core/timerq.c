#include "core/timerq.h"

#include <string.h>

static void on_tick(uv_timer_t *t);

int timerq_init(struct timerq *tq, uv_loop_t *loop, timerq_cb on_expire)
{
    memset(tq, 0, sizeof(*tq));
    for (int i = 0; i < TIMERQ_KINDS; i++)
        tq->heads[i].prev = tq->heads[i].next = &tq->heads[i];
    tq->on_expire = on_expire;
    tq->timer.data = tq;
    return uv_timer_init(loop, &tq->timer);
}

void timerq_set_duration(struct timerq *tq, int kind, uint64_t ms)
{
    tq->duration[kind] = ms;
}

static void schedule(struct timerq *tq, uint64_t deadline)
{
    if (tq->armed_for && tq->armed_for <= deadline)
        return;
    uint64_t now = uv_now(tq->timer.loop);
    tq->armed_for = deadline;
    uv_timer_start(&tq->timer, on_tick, deadline > now ? deadline - now : 0, 0);
}

void timerq_arm(struct timerq *tq, struct timerq_node *n, int kind)
{
    timerq_disarm(n);
    struct timerq_node *h = &tq->heads[kind];
    n->kind = kind;
    n->deadline = uv_now(tq->timer.loop) + tq->duration[kind];
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
    schedule(tq, n->deadline);
}

void timerq_disarm(struct timerq_node *n)
{
    if (!n->next)
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

static void on_tick(uv_timer_t *t)
{
    struct timerq *tq = t->data;
    uint64_t       now = uv_now(t->loop);
    tq->armed_for = 0;
    uint64_t next = 0;
    for (int k = 0; k < TIMERQ_KINDS; k++) {
        struct timerq_node *h = &tq->heads[k];
        while (h->next != h && h->next->deadline <= now) {
            struct timerq_node *n = h->next;
            timerq_disarm(n);
            tq->on_expire(tq, n);
        }
    }
    /* The callbacks may have armed nodes (and scheduled); find the earliest head. */
    for (int k = 0; k < TIMERQ_KINDS; k++) {
        struct timerq_node *h = &tq->heads[k];
        if (h->next != h && (!next || h->next->deadline < next))
            next = h->next->deadline;
    }
    if (next)
        schedule(tq, next);
}

void timerq_close(struct timerq *tq, uv_close_cb close_cb)
{
    uv_timer_stop(&tq->timer);
    uv_close((uv_handle_t *)&tq->timer, close_cb);
}
