/*
 * Unit tests for core/workers: bounded worker pools on a real libuv loop.
 *
 * Jobs that must stay "running" block on a semaphore the test posts, and
 * say they have started through another, so every count below is checked
 * at a moment when it cannot change under us. Every test ends with
 * uv_loop_close() == 0: a handle left open fails it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/workers.h"

/* What one job saw. Written by work on a pool thread and read on the loop
 * after done: the pool's hand-over orders the two. */
struct job {
    int          worked;       /* times work ran */
    pthread_t    worker;       /* the thread work ran on */
    int          done_calls;   /* times done ran */
    int          status;       /* done's status */
    bool         done_on_loop; /* done ran on the loop thread */
    uv_sem_t    *started;      /* posted when work starts (blocking jobs) */
    uv_sem_t    *go;           /* work waits on it (blocking jobs) */
    struct test *t;
};

/* Per-test state reachable from callbacks. */
struct test {
    uv_loop_t      loop;
    struct workers w;
    pthread_t      loop_thread;
    int            closed_calls;
    int            done_total;
    /* for test_done_reentry */
    struct job chain[3];
    int        chain_rc[2];
};

static void on_work(void *arg)
{
    struct job *j = arg;

    j->worked++;
    j->worker = pthread_self();
    if (j->started != NULL)
        uv_sem_post(j->started);
    if (j->go != NULL)
        uv_sem_wait(j->go);
}

static void on_done(void *arg, int status)
{
    struct job *j = arg;

    j->done_calls++;
    j->status = status;
    j->done_on_loop = pthread_equal(pthread_self(), j->t->loop_thread) != 0;
    j->t->done_total++;
}

static void on_closed(struct workers *w)
{
    struct test *t = (struct test *)(void *)((char *)w - offsetof(struct test, w));

    assert_true(pthread_equal(pthread_self(), t->loop_thread));
    t->closed_calls++;
}

static void test_setup(struct test *t)
{
    memset(t, 0, sizeof *t);
    t->loop_thread = pthread_self();
    assert_int_equal(uv_loop_init(&t->loop), 0);
}

/* Close the pool, run the loop until it has let go, close the loop. */
static void test_teardown(struct test *t)
{
    workers_close(&t->w, on_closed);
    assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(t->closed_calls, 1);
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

static void test_init_args(void **state)
{
    (void)state;
    struct test t;

    test_setup(&t);
    assert_int_equal(workers_init(&t.w, NULL, "x", 1, 1), UV_EINVAL);
    assert_int_equal(workers_init(&t.w, &t.loop, NULL, 1, 1), UV_EINVAL);
    assert_int_equal(workers_init(&t.w, &t.loop, "", 1, 1), UV_EINVAL);
    assert_int_equal(workers_init(&t.w, &t.loop, "twelve-bytes", 1, 1), UV_EINVAL);
    assert_int_equal(workers_init(&t.w, &t.loop, "x", 0, 4), UV_EINVAL);
    assert_int_equal(workers_init(&t.w, &t.loop, "x", 4, 3), UV_EINVAL);
    assert_int_equal(workers_init(&t.w, &t.loop, "x", WORKERS_THREADS_MAX + 1, WORKERS_THREADS_MAX + 1), UV_EINVAL);
    assert_int_equal(workers_init(&t.w, &t.loop, "x", 1, WORKERS_QUEUE_MAX + 1), UV_EINVAL);
    /* A failed init leaves nothing to close; closing it anyway is ignored. */
    workers_close(&t.w, on_closed);
    assert_int_equal(workers_submit(&t.w, on_work, on_done, NULL), UV_EINVAL);
    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(t.closed_calls, 0);
    assert_int_equal(uv_loop_close(&t.loop), 0);
}

/* Open and close at once, no job ever: the threads go and the loop closes. */
static void test_close_idle(void **state)
{
    (void)state;
    struct test t;

    test_setup(&t);
    assert_int_equal(workers_init(&t.w, &t.loop, "idle", 3, 3), 0);
    /* An idle pool does not keep the loop running. */
    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(workers_submit(&t.w, NULL, on_done, NULL), UV_EINVAL);
    assert_int_equal(workers_submit(&t.w, on_work, NULL, NULL), UV_EINVAL);
    test_teardown(&t);
    /* Closed: later calls are refused or ignored. */
    workers_close(&t.w, on_closed);
    assert_int_equal(t.closed_calls, 1);
}

/* Many jobs through three threads: each works once off the loop and is
 * done once on it, none before uv_run. */
static void test_many(void **state)
{
    (void)state;
    enum { N = 200 };
    struct test t;
    struct job *jobs = calloc(N, sizeof *jobs);
    bool        off_loop = true;

    assert_non_null(jobs);
    test_setup(&t);
    assert_int_equal(workers_init(&t.w, &t.loop, "many", 3, N), 0);
    for (int i = 0; i < N; i++) {
        jobs[i].t = &t;
        assert_int_equal(workers_submit(&t.w, on_work, on_done, &jobs[i]), 0);
    }
    assert_int_equal(workers_queued(&t.w), N);
    assert_int_equal(t.done_total, 0);
    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);

    assert_int_equal(t.done_total, N);
    assert_int_equal(workers_queued(&t.w), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].worked, 1);
        assert_int_equal(jobs[i].done_calls, 1);
        assert_int_equal(jobs[i].status, 0);
        assert_true(jobs[i].done_on_loop);
        if (pthread_equal(jobs[i].worker, t.loop_thread))
            off_loop = false;
    }
    assert_true(off_loop);

    /* A second round reuses the slots. */
    for (int i = 0; i < N; i++)
        assert_int_equal(workers_submit(&t.w, on_work, on_done, &jobs[i]), 0);
    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(t.done_total, 2 * N);
    for (int i = 0; i < N; i++)
        assert_int_equal(jobs[i].done_calls, 2);

    test_teardown(&t);
    free(jobs);
}

/* A job that finished long ago still has done run only from the loop. */
static void test_no_sync_done(void **state)
{
    (void)state;
    struct test t;
    struct job  j = {0};
    uv_sem_t    started;

    test_setup(&t);
    assert_int_equal(uv_sem_init(&started, 0), 0);
    j.t = &t;
    j.started = &started;
    assert_int_equal(workers_init(&t.w, &t.loop, "sync", 1, 1), 0);
    assert_int_equal(workers_submit(&t.w, on_work, on_done, &j), 0);
    uv_sem_wait(&started);
    uv_sleep(50); /* work has surely returned by now */
    /* Full until done has run, even though the work is over. */
    assert_int_equal(workers_submit(&t.w, on_work, on_done, &j), WORKERS_EFULL);
    assert_int_equal(j.done_calls, 0);
    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(j.done_calls, 1);
    assert_int_equal(j.status, 0);
    assert_true(j.done_on_loop);
    test_teardown(&t);
    uv_sem_destroy(&started);
}

static bool has_line(const struct buf *b, const char *line)
{
    char  *copy = strndup(b->data, b->len);
    bool   found = false;
    size_t n = strlen(line);

    assert_non_null(copy);
    for (char *p = copy; p != NULL && *p != '\0';) {
        char  *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            found = true;
        p = nl != NULL ? nl + 1 : NULL;
    }
    free(copy);
    return found;
}

/* Two threads held inside their jobs, two jobs waiting: the fifth submit is
 * refused, and metrics say so. */
static void test_bound(void **state)
{
    (void)state;
    enum { THREADS = 2, MAXQ = 4 };
    struct test t;
    struct job  jobs[MAXQ + 1];
    uv_sem_t    started, go;
    struct buf  b = {0};

    memset(jobs, 0, sizeof jobs);
    test_setup(&t);
    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(uv_sem_init(&go, 0), 0);
    assert_int_equal(workers_init(&t.w, &t.loop, "bound", THREADS, MAXQ), 0);
    for (int i = 0; i < MAXQ + 1; i++) {
        jobs[i].t = &t;
        jobs[i].started = &started;
        jobs[i].go = &go;
    }
    for (int i = 0; i < MAXQ; i++)
        assert_int_equal(workers_submit(&t.w, on_work, on_done, &jobs[i]), 0);
    for (int i = 0; i < THREADS; i++)
        uv_sem_wait(&started);
    assert_int_equal(workers_submit(&t.w, on_work, on_done, &jobs[MAXQ]), WORKERS_EFULL);
    assert_int_equal(workers_submit(&t.w, on_work, on_done, &jobs[MAXQ]), WORKERS_EFULL);
    assert_int_equal(workers_queued(&t.w), MAXQ);

    workers_metrics(&t.w, &b, "gss_test");
    assert_true(has_line(&b, "# TYPE gss_test_waiting gauge"));
    assert_true(has_line(&b, "gss_test_threads 2"));
    assert_true(has_line(&b, "gss_test_queue_limit 4"));
    assert_true(has_line(&b, "gss_test_waiting 2"));
    assert_true(has_line(&b, "gss_test_running 2"));
    assert_true(has_line(&b, "gss_test_completed_total 0"));
    assert_true(has_line(&b, "gss_test_rejected_total 2"));
    assert_true(has_line(&b, "# TYPE gss_test_rejected_total counter"));
    buf_free(&b);

    for (int i = 0; i < MAXQ; i++)
        uv_sem_post(&go);
    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < MAXQ; i++) {
        assert_int_equal(jobs[i].worked, 1);
        assert_int_equal(jobs[i].done_calls, 1);
        assert_int_equal(jobs[i].status, 0);
    }
    assert_int_equal(jobs[MAXQ].worked, 0);
    assert_int_equal(jobs[MAXQ].done_calls, 0);

    /* Room again once the dones have run. */
    jobs[MAXQ].started = NULL;
    jobs[MAXQ].go = NULL;
    assert_int_equal(workers_submit(&t.w, on_work, on_done, &jobs[MAXQ]), 0);
    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(jobs[MAXQ].done_calls, 1);

    workers_metrics(&t.w, &b, "gss_test");
    assert_true(has_line(&b, "gss_test_waiting 0"));
    assert_true(has_line(&b, "gss_test_running 0"));
    assert_true(has_line(&b, "gss_test_completed_total 5"));
    assert_true(has_line(&b, "gss_test_cancelled_total 0"));
    assert_true(has_line(&b, "gss_test_rejected_total 2"));
    buf_free(&b);

    test_teardown(&t);
    uv_sem_destroy(&started);
    uv_sem_destroy(&go);
}

/* Close while one job runs and four wait: the four are cancelled without
 * ever working, the running one finishes, and the loop closes clean. */
static void test_close_cancels(void **state)
{
    (void)state;
    enum { N = 5 };
    struct test t;
    struct job  jobs[N];
    uv_sem_t    started, go;

    memset(jobs, 0, sizeof jobs);
    test_setup(&t);
    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(uv_sem_init(&go, 0), 0);
    assert_int_equal(workers_init(&t.w, &t.loop, "cancel", 1, N), 0);
    for (int i = 0; i < N; i++) {
        jobs[i].t = &t;
        jobs[i].started = &started;
        jobs[i].go = &go;
        assert_int_equal(workers_submit(&t.w, on_work, on_done, &jobs[i]), 0);
    }
    uv_sem_wait(&started); /* job 0 is on the only thread */

    workers_close(&t.w, on_closed);
    workers_close(&t.w, NULL);         /* idempotent: the first on_closed stands */
    assert_int_equal(t.done_total, 0); /* cancellations are not synchronous either */
    assert_int_equal(workers_submit(&t.w, on_work, on_done, &jobs[0]), UV_ECANCELED);
    /* The cancellations arrive while job 0 still holds the thread. */
    uv_run(&t.loop, UV_RUN_ONCE);
    assert_int_equal(t.done_total, N - 1);
    assert_int_equal(jobs[0].done_calls, 0);
    assert_int_equal(t.closed_calls, 0);
    uv_sem_post(&go);

    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(t.closed_calls, 1);
    assert_int_equal(jobs[0].worked, 1);
    assert_int_equal(jobs[0].done_calls, 1);
    assert_int_equal(jobs[0].status, 0);
    for (int i = 1; i < N; i++) {
        assert_int_equal(jobs[i].worked, 0);
        assert_int_equal(jobs[i].done_calls, 1);
        assert_int_equal(jobs[i].status, UV_ECANCELED);
        assert_true(jobs[i].done_on_loop);
    }
    assert_int_equal(workers_submit(&t.w, on_work, on_done, &jobs[0]), UV_ECANCELED);
    assert_int_equal(uv_loop_close(&t.loop), 0);
    uv_sem_destroy(&started);
    uv_sem_destroy(&go);
}

/* done may submit (its slot is free already, so a one-slot pool takes it)
 * and may close the pool; a submit after that close is refused. */
static void on_done_chain(void *arg, int status)
{
    struct job  *j = arg;
    struct test *t = j->t;

    on_done(arg, status);
    if (j == &t->chain[0]) {
        t->chain_rc[0] = workers_submit(&t->w, on_work, on_done_chain, &t->chain[1]);
    } else if (j == &t->chain[1]) {
        workers_close(&t->w, on_closed);
        t->chain_rc[1] = workers_submit(&t->w, on_work, on_done_chain, &t->chain[2]);
    }
}

static void test_done_reentry(void **state)
{
    (void)state;
    struct test t;

    test_setup(&t);
    for (int i = 0; i < 3; i++)
        t.chain[i].t = &t;
    assert_int_equal(workers_init(&t.w, &t.loop, "chain", 1, 1), 0);
    assert_int_equal(workers_submit(&t.w, on_work, on_done_chain, &t.chain[0]), 0);
    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(t.chain_rc[0], 0);
    assert_int_equal(t.chain_rc[1], UV_ECANCELED);
    assert_int_equal(t.chain[0].done_calls, 1);
    assert_int_equal(t.chain[1].done_calls, 1);
    assert_int_equal(t.chain[1].status, 0);
    assert_int_equal(t.chain[2].done_calls, 0);
    assert_int_equal(t.closed_calls, 1);
    assert_int_equal(uv_loop_close(&t.loop), 0);
}

/* Two pools on one loop: a pool held busy does not delay the other. */
static void test_pools_independent(void **state)
{
    (void)state;
    struct test    t;
    struct workers other;
    struct job     slow = {0}, fast = {0};
    uv_sem_t       started, go;

    test_setup(&t);
    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(uv_sem_init(&go, 0), 0);
    assert_int_equal(workers_init(&t.w, &t.loop, "slow", 1, 1), 0);
    assert_int_equal(workers_init(&other, &t.loop, "fast", 1, 1), 0);
    slow.t = fast.t = &t;
    slow.started = &started;
    slow.go = &go;
    assert_int_equal(workers_submit(&t.w, on_work, on_done, &slow), 0);
    uv_sem_wait(&started);
    assert_int_equal(workers_submit(&other, on_work, on_done, &fast), 0);
    /* Run the loop until the fast job is done, while the slow one holds. */
    while (fast.done_calls == 0)
        uv_run(&t.loop, UV_RUN_ONCE);
    assert_int_equal(slow.done_calls, 0);
    uv_sem_post(&go);
    workers_close(&other, NULL);
    test_teardown(&t);
    assert_int_equal(slow.done_calls, 1);
    uv_sem_destroy(&started);
    uv_sem_destroy(&go);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_args),    cmocka_unit_test(test_close_idle),
        cmocka_unit_test(test_many),         cmocka_unit_test(test_no_sync_done),
        cmocka_unit_test(test_bound),        cmocka_unit_test(test_close_cancels),
        cmocka_unit_test(test_done_reentry), cmocka_unit_test(test_pools_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
