/*
 * Unit tests for core/timerq on a real libuv loop: one uv_timer for many
 * nodes, per-kind durations, arm / disarm / re-arm, expiry order, callbacks
 * that re-arm, disarm, arm or free nodes, a shorter kind armed while the
 * timer waits for a longer one, and timerq_close. Durations are 10-50 ms;
 * every test ends with uv_loop_close() == 0, so a leaked handle fails it.
 *
 * Times are the loop's (uv_now), which is what timerq uses; lower bounds
 * are exact, upper bounds leave slack for a loaded machine but stay below
 * the time a wrong schedule would fire at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/timerq.h"

#define MAX_FIRES 512

struct item {
    struct timerq_node node;
    int                id;
    int                fires;
    uint64_t           fired_at;    /* uv_now() of the last expiry */
    bool               armed_in_cb; /* timerq_armed() seen inside the callback */
};

/* What a test's callback does when an item expires. */
typedef void (*item_action)(struct timerq *tq, struct item *it);

struct ctx {
    uv_loop_t     loop;
    struct timerq tq;
    int           order[MAX_FIRES]; /* item ids in expiry order */
    int           nfired;
    item_action   action;
    int           closes;
};

static void on_expire(struct timerq *tq, struct timerq_node *n)
{
    struct ctx  *c = tq->data;
    struct item *it = container_of(n, struct item, node);
    assert_ptr_equal(tq, &c->tq);
    it->fires++;
    it->fired_at = uv_now(&c->loop);
    it->armed_in_cb = timerq_armed(n);
    assert_true(c->nfired < MAX_FIRES);
    c->order[c->nfired++] = it->id;
    if (c->action)
        c->action(tq, it);
}

static void ctx_init(struct ctx *c, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(uv_loop_init(&c->loop), 0);
    assert_int_equal(timerq_init(&c->tq, &c->loop, on_expire), 0);
    c->tq.data = c;
    timerq_set_duration(&c->tq, 0, d0);
    timerq_set_duration(&c->tq, 1, d1);
    timerq_set_duration(&c->tq, 2, d2);
    timerq_set_duration(&c->tq, 3, d3);
}

static void on_closed(uv_handle_t *h)
{
    struct timerq *tq = h->data;
    struct ctx    *c = tq->data;
    c->closes++;
}

/* Closes the queue, lets the close run and checks nothing is left. */
static void ctx_done(struct ctx *c)
{
    timerq_close(&c->tq, on_closed);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(c->closes, 1);
    assert_int_equal(uv_loop_close(&c->loop), 0);
}

static void count_handle(uv_handle_t *h, void *arg)
{
    (void)h;
    (*(int *)arg)++;
}

static int handles(uv_loop_t *loop)
{
    int n = 0;
    uv_walk(loop, count_handle, &n);
    return n;
}

/* Sleeps for real and moves the loop's clock on, as time spent between
 * two loop iterations would. */
static void pass(struct ctx *c, unsigned ms)
{
    uv_sleep(ms);
    uv_update_time(&c->loop);
}

/* ---- basics ------------------------------------------------------------- */

static void test_single(void **state)
{
    (void)state;
    struct ctx  c;
    struct item a = {.id = 1};
    ctx_init(&c, 20, 0, 0, 0);

    assert_false(timerq_armed(&a.node));
    uint64_t t0 = uv_now(&c.loop);
    timerq_arm(&c.tq, &a.node, 0);
    assert_true(timerq_armed(&a.node));
    assert_int_equal(a.node.kind, 0);
    assert_int_equal(a.node.deadline, t0 + 20);
    assert_int_equal(a.fires, 0); /* never synchronously */

    uv_run(&c.loop, UV_RUN_DEFAULT); /* returns once the timer is idle */
    assert_int_equal(a.fires, 1);
    assert_true(a.fired_at >= t0 + 20);
    assert_true(a.fired_at < t0 + 20 + 500);
    assert_false(a.armed_in_cb); /* disarmed before its callback */
    assert_false(timerq_armed(&a.node));
    ctx_done(&c);
}

/* A zero duration expires on the next loop iteration, not inside arm. */
static void test_zero_duration(void **state)
{
    (void)state;
    struct ctx  c;
    struct item a = {.id = 1};
    ctx_init(&c, 0, 0, 0, 0);

    timerq_arm(&c.tq, &a.node, 3);
    assert_int_equal(a.fires, 0);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    assert_int_equal(a.fires, 1);
    ctx_done(&c);
}

static void test_one_timer_many_nodes(void **state)
{
    (void)state;
    struct ctx         c;
    static struct item items[400];
    ctx_init(&c, 10, 15, 20, 25);

    int before = handles(&c.loop);
    assert_int_equal(before, 1);
    memset(items, 0, sizeof(items));
    for (int i = 0; i < 400; i++) {
        items[i].id = i;
        timerq_arm(&c.tq, &items[i].node, i % 4); /* the four kinds ctx_init timed */
    }
    /* Four hundred timeouts, still one libuv handle. */
    assert_int_equal(handles(&c.loop), 1);

    uv_run(&c.loop, UV_RUN_DEFAULT);
    assert_int_equal(c.nfired, 400);
    for (int i = 0; i < 400; i++)
        assert_int_equal(items[i].fires, 1);
    /* Within a kind, nodes armed at the same time expire in arm order, and
     * shorter kinds go first. */
    int last_kind = 0, last_id[TIMERQ_KINDS];
    for (int k = 0; k < TIMERQ_KINDS; k++)
        last_id[k] = -1;
    for (int i = 0; i < 400; i++) {
        int id = c.order[i], k = id % 4;
        assert_true(k >= last_kind);
        assert_true(id > last_id[k]);
        last_kind = k;
        last_id[k] = id;
    }
    ctx_done(&c);
}

/* ---- durations and scheduling --------------------------------------------- */

/* Arming a shorter kind while the timer waits for a longer one moves the
 * timer earlier: the short node fires on time, not with the long one. */
static void test_shorter_kind_fires_on_time(void **state)
{
    (void)state;
    struct ctx  c;
    struct item lng = {.id = 1}, shrt = {.id = 2}, mid = {.id = 3};
    ctx_init(&c, 50, 10, 30, 0);

    uint64_t t0 = uv_now(&c.loop);
    timerq_arm(&c.tq, &lng.node, 0);
    timerq_arm(&c.tq, &shrt.node, 1);
    timerq_arm(&c.tq, &mid.node, 2);
    uv_run(&c.loop, UV_RUN_DEFAULT);

    assert_int_equal(c.nfired, 3);
    assert_int_equal(c.order[0], 2);
    assert_int_equal(c.order[1], 3);
    assert_int_equal(c.order[2], 1);
    assert_true(shrt.fired_at >= t0 + 10);
    assert_true(shrt.fired_at < t0 + 50); /* not held back to the long deadline */
    assert_true(mid.fired_at >= t0 + 30);
    assert_true(lng.fired_at >= t0 + 50);
    ctx_done(&c);
}

/* Deadlines across kinds, armed at different times: the earliest deadline
 * fires first even when it is the head of the longer kind. */
static void test_cross_kind_deadlines(void **state)
{
    (void)state;
    struct ctx  c;
    struct item x = {.id = 1}, y = {.id = 2};
    ctx_init(&c, 10, 30, 0, 0);

    uint64_t t0 = uv_now(&c.loop);
    timerq_arm(&c.tq, &x.node, 1); /* t0 + 30 */
    pass(&c, 25);
    uint64_t t1 = uv_now(&c.loop);
    timerq_arm(&c.tq, &y.node, 0); /* t1 + 10 >= t0 + 35 */
    uv_run(&c.loop, UV_RUN_DEFAULT);

    assert_int_equal(c.nfired, 2);
    assert_int_equal(c.order[0], 1);
    assert_int_equal(c.order[1], 2);
    assert_true(x.fired_at >= t0 + 30);
    assert_true(y.fired_at >= t1 + 10);
    ctx_done(&c);
}

static void test_expiry_order(void **state)
{
    (void)state;
    struct ctx  c;
    struct item it[6];
    ctx_init(&c, 20, 0, 0, 0);

    for (int i = 0; i < 6; i++) {
        memset(&it[i], 0, sizeof(it[i]));
        it[i].id = i;
    }
    /* Armed one after the other, 2 ms apart, then 0 re-armed last. */
    for (int i = 0; i < 5; i++) {
        timerq_arm(&c.tq, &it[i].node, 0);
        pass(&c, 2);
    }
    timerq_arm(&c.tq, &it[0].node, 0);
    timerq_arm(&c.tq, &it[5].node, 0);
    uv_run(&c.loop, UV_RUN_DEFAULT);

    static const int want[] = {1, 2, 3, 4, 0, 5};
    assert_int_equal(c.nfired, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(c.order[i], want[i]);
    for (int i = 1; i < 6; i++) /* deadlines are kept: never earlier than armed for */
        assert_true(it[want[i]].fired_at >= it[want[i - 1]].fired_at);
    assert_int_equal(it[0].fires, 1);
    ctx_done(&c);
}

/* ---- arm / disarm / re-arm ------------------------------------------------ */

static void test_disarm(void **state)
{
    (void)state;
    struct ctx  c;
    struct item a = {.id = 1}, b = {.id = 2}, d = {.id = 3}, never = {.id = 4};
    ctx_init(&c, 15, 10, 0, 0);

    timerq_disarm(&never.node); /* never armed: harmless */
    timerq_arm(&c.tq, &a.node, 0);
    timerq_arm(&c.tq, &b.node, 0);
    timerq_arm(&c.tq, &d.node, 1);
    timerq_disarm(&a.node);
    assert_false(timerq_armed(&a.node));
    timerq_disarm(&a.node); /* twice: harmless */
    timerq_disarm(&d.node); /* the one the timer is set for */
    uv_run(&c.loop, UV_RUN_DEFAULT);
    assert_int_equal(c.nfired, 1);
    assert_int_equal(c.order[0], 2);
    assert_int_equal(a.fires, 0);
    assert_int_equal(d.fires, 0);
    assert_int_equal(never.fires, 0);

    /* Everything disarmed: nothing fires and the loop still ends. */
    timerq_arm(&c.tq, &a.node, 0);
    timerq_arm(&c.tq, &b.node, 1);
    timerq_disarm(&b.node);
    timerq_disarm(&a.node);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    assert_int_equal(c.nfired, 1);
    ctx_done(&c);
}

/* Re-arming moves the deadline later (the activity pattern of a keep-alive
 * connection), and a node once armed fires once. */
static void test_rearm_pushes_deadline(void **state)
{
    (void)state;
    struct ctx  c;
    struct item a = {.id = 1}, b = {.id = 2};
    ctx_init(&c, 30, 10, 0, 0);

    uint64_t t0 = uv_now(&c.loop);
    timerq_arm(&c.tq, &a.node, 0);
    timerq_arm(&c.tq, &b.node, 0);
    pass(&c, 15);
    uint64_t t1 = uv_now(&c.loop);
    timerq_arm(&c.tq, &a.node, 0); /* activity on a */
    assert_int_equal(a.node.deadline, t1 + 30);
    uv_run(&c.loop, UV_RUN_DEFAULT);

    assert_int_equal(c.nfired, 2);
    assert_int_equal(c.order[0], 2);
    assert_int_equal(c.order[1], 1);
    assert_true(b.fired_at >= t0 + 30);
    assert_true(a.fired_at >= t1 + 30);
    assert_int_equal(a.fires, 1);

    /* Re-arming into another kind moves the node there. */
    c.nfired = 0;
    t0 = uv_now(&c.loop);
    timerq_arm(&c.tq, &a.node, 0);
    timerq_arm(&c.tq, &a.node, 1);
    assert_int_equal(a.node.kind, 1);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    assert_int_equal(c.nfired, 1);
    assert_int_equal(a.fires, 2);
    assert_true(a.fired_at >= t0 + 10);
    assert_true(a.fired_at < t0 + 30);
    ctx_done(&c);
}

/* ---- callbacks that change the queue ---------------------------------------- */

static struct item *g_victim, *g_spawn;

/* Item 1 re-arms itself twice (a periodic timer); on its first expiry it
 * disarms g_victim, due at the same moment, and arms g_spawn in a shorter
 * kind. */
static void act_rearm_disarm_arm(struct timerq *tq, struct item *it)
{
    if (it->id != 1)
        return;
    if (it->fires == 1) {
        timerq_disarm(&g_victim->node);
        timerq_arm(tq, &g_spawn->node, 1);
    }
    if (it->fires < 3)
        timerq_arm(tq, &it->node, 0);
}

static void test_callback_changes_queue(void **state)
{
    (void)state;
    struct ctx  c;
    struct item p = {.id = 1}, victim = {.id = 2}, spawn = {.id = 3};
    ctx_init(&c, 20, 5, 0, 0);
    c.action = act_rearm_disarm_arm;
    g_victim = &victim;
    g_spawn = &spawn;

    uint64_t t0 = uv_now(&c.loop);
    timerq_arm(&c.tq, &p.node, 0);
    timerq_arm(&c.tq, &victim.node, 0); /* same deadline, after p */
    uv_run(&c.loop, UV_RUN_DEFAULT);

    assert_int_equal(p.fires, 3);
    assert_int_equal(victim.fires, 0);
    assert_int_equal(spawn.fires, 1);
    assert_int_equal(c.nfired, 4);
    assert_int_equal(c.order[0], 1);
    assert_int_equal(c.order[1], 3); /* +5 ms after p's first expiry, before p's second */
    assert_int_equal(c.order[2], 1);
    assert_int_equal(c.order[3], 1);
    assert_true(p.fired_at >= t0 + 60);
    assert_true(spawn.fired_at >= t0 + 25);
    ctx_done(&c);
}

/* The callback frees the node's owner (a connection closing on timeout)
 * and disarms the next one's owner before freeing it too. */
struct conn {
    int                id;
    struct timerq_node node;
    struct conn       *peer; /* freed along with this one */
};

static int freed;

static void on_conn_expire(struct timerq *tq, struct timerq_node *n)
{
    (void)tq;
    struct conn *cn = container_of(n, struct conn, node);
    if (cn->peer) {
        timerq_disarm(&cn->peer->node);
        free(cn->peer);
        freed++;
    }
    free(cn);
    freed++;
}

static void test_callback_frees_owner(void **state)
{
    (void)state;
    uv_loop_t     loop;
    struct timerq tq;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(timerq_init(&tq, &loop, on_conn_expire), 0);
    timerq_set_duration(&tq, 0, 10);
    freed = 0;

    struct conn *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *d = calloc(1, sizeof(*d));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(d);
    a->peer = b;
    timerq_arm(&tq, &a->node, 0);
    timerq_arm(&tq, &b->node, 0);
    timerq_arm(&tq, &d->node, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(freed, 3);

    timerq_close(&tq, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- close ------------------------------------------------------------------ */

/* Closing with nodes armed: none of them fires afterwards, the close
 * callback runs once, and the loop closes clean. */
static void test_close_with_armed_nodes(void **state)
{
    (void)state;
    struct ctx  c;
    struct item a = {.id = 1}, b = {.id = 2};
    ctx_init(&c, 10, 20, 0, 0);

    timerq_arm(&c.tq, &a.node, 0);
    timerq_arm(&c.tq, &b.node, 1);
    timerq_close(&c.tq, on_closed);
    pass(&c, 25); /* both deadlines are past */
    uv_run(&c.loop, UV_RUN_DEFAULT);
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.nfired, 0);
    assert_int_equal(uv_loop_close(&c.loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_zero_duration),
        cmocka_unit_test(test_one_timer_many_nodes),
        cmocka_unit_test(test_shorter_kind_fires_on_time),
        cmocka_unit_test(test_cross_kind_deadlines),
        cmocka_unit_test(test_expiry_order),
        cmocka_unit_test(test_disarm),
        cmocka_unit_test(test_rearm_pushes_deadline),
        cmocka_unit_test(test_callback_changes_queue),
        cmocka_unit_test(test_callback_frees_owner),
        cmocka_unit_test(test_close_with_armed_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
