/*
 * workers.c — see workers.h for the contract.
 *
 * Shape: a fixed array of job slots; a mutex-protected FIFO of waiting jobs
 * that the threads sleep on (condition variable, no polling); a
 * mutex-protected list of finished jobs that the loop drains when the
 * uv_async_t fires. uv_async_send coalesces, so the drain takes whole lists
 * and a thread only sends when it makes the list non-empty.
 *
 * The free list and every counter but n_waiting/n_running/live_threads are
 * loop-thread-only, so submit and delivery take the mutex once each.
 *
 * Teardown order matters (a thread may still be inside uv_async_send when
 * the loop sees it has finished): each thread's last use of w is under the
 * mutex; the loop joins the threads only after seeing live_threads == 0
 * under that mutex, and closes the async handle only after the joins.
 */
#include "core/workers.h"

#include <sys/resource.h>

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS__CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#ifndef NDEBUG
static bool on_loop_thread(const struct workers *w)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &w->loop_thread) != 0;
}
#endif

/* Append job to the done list and wake the loop if the list was empty (if
 * it was not, a wake-up is already on its way and the drain that follows
 * takes this job too). Under mu. */
static void done_push_locked(struct workers *w, struct workers__job *job)
{
    bool was_empty = w->done_head == NULL;

    job->next = NULL;
    if (w->done_tail != NULL)
        w->done_tail->next = job;
    else
        w->done_head = job;
    w->done_tail = job;
    if (was_empty)
        uv_async_send(&w->async);
}

void workers_lower_priority(void)
{
#ifdef __linux__
    /* On Linux nice is per thread: setpriority(PRIO_PROCESS, 0) names the
     * calling thread only. */
    static __thread bool done;
    if (!done) {
        done = true;
        (void)setpriority(PRIO_PROCESS, 0, WORKERS_NICE);
    }
#endif
}

static void thread_main(void *arg)
{
    struct workers *w = arg;

#ifdef __linux__
    /* Shows in top -H and gdb; at most 15 bytes, longer names are refused. */
    char tname[16];
    snprintf(tname, sizeof tname, "gss-%s", w->name);
    (void)pthread_setname_np(pthread_self(), tname);
#endif
    workers_lower_priority();
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && w->wait_head == NULL)
            uv_cond_wait(&w->cv, &w->mu);
        /* workers_close empties the waiting list when it sets stop, so
         * there is never a job left behind here. */
        if (w->stop)
            break;
        struct workers__job *job = w->wait_head;
        w->wait_head = job->next;
        if (w->wait_head == NULL)
            w->wait_tail = NULL;
        w->n_waiting--;
        w->n_running++;
        uv_mutex_unlock(&w->mu);

        job->work(job->arg);

        uv_mutex_lock(&w->mu);
        w->n_running--;
        job->status = 0;
        done_push_locked(w, job);
    }
    /* Last use of w, under mu: see the teardown note at the top. */
    w->live_threads--;
    if (w->async_ready)
        uv_async_send(&w->async);
    uv_mutex_unlock(&w->mu);
}

/* Keep the loop alive while jobs are in flight, and all through a close. */
static void update_ref(struct workers *w)
{
    bool want = w->state != WORKERS__OPEN || w->in_flight > 0;

    if (want == w->referenced)
        return;
    if (want)
        uv_ref((uv_handle_t *)&w->async);
    else
        uv_unref((uv_handle_t *)&w->async);
    w->referenced = want;
}

static void on_async(uv_async_t *a);

/* Stop and join the threads started so far; used only by a failing init,
 * when no job was ever queued and async is not in use. */
static void stop_and_join(struct workers *w, unsigned started)
{
    uv_mutex_lock(&w->mu);
    w->stop = true;
    uv_cond_broadcast(&w->cv);
    uv_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < started; i++)
        uv_thread_join(&w->threads[i]);
}

int workers_init(struct workers *w, uv_loop_t *loop, const char *name, unsigned threads, unsigned max_queue)
{
    sigset_t all, old;
    unsigned started = 0;
    size_t   nlen;
    int      rc;

    memset(w, 0, sizeof *w);
    if (loop == NULL || name == NULL)
        return UV_EINVAL;
    nlen = strlen(name);
    if (nlen == 0 || nlen >= sizeof w->name || threads == 0 || threads > WORKERS_THREADS_MAX || max_queue < threads ||
        max_queue > WORKERS_QUEUE_MAX)
        return UV_EINVAL;
    memcpy(w->name, name, nlen + 1);
    w->loop = loop;
    w->loop_thread = uv_thread_self();
    w->max_queue = max_queue;

    w->slots = calloc(max_queue, sizeof *w->slots);
    w->threads = calloc(threads, sizeof *w->threads);
    if (w->slots == NULL || w->threads == NULL) {
        rc = UV_ENOMEM;
        goto fail_mem;
    }
    for (unsigned i = max_queue; i-- > 0;) {
        w->slots[i].next = w->free_list;
        w->free_list = &w->slots[i];
    }
    if ((rc = uv_mutex_init(&w->mu)) != 0)
        goto fail_mem;
    if ((rc = uv_cond_init(&w->cv)) != 0)
        goto fail_mutex;

    /* Threads inherit the creator's signal mask: start them with every
     * signal blocked, so SIGINT, SIGTERM, SIGPIPE and the like are always
     * delivered to the loop thread, where libuv's handlers expect them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* No thread reads live_threads until stop is set, so counting them
     * before they exist is safe, and a failing init can stop them. */
    w->live_threads = threads;
    for (; started < threads; started++) {
        if ((rc = uv_thread_create(&w->threads[started], thread_main, w)) != 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail_threads;
    w->nthreads = threads;

    if ((rc = uv_async_init(loop, &w->async, on_async)) != 0)
        goto fail_threads;
    /* Idle pools must not keep uv_run going (update_ref re-references). */
    uv_unref((uv_handle_t *)&w->async);
    uv_mutex_lock(&w->mu);
    w->async_ready = true;
    uv_mutex_unlock(&w->mu);
    w->state = WORKERS__OPEN;
    return 0;

fail_threads:
    stop_and_join(w, started);
    uv_cond_destroy(&w->cv);
fail_mutex:
    uv_mutex_destroy(&w->mu);
fail_mem:
    free(w->slots);
    free(w->threads);
    memset(w, 0, sizeof *w);
    return rc;
}

/* Run the done callbacks of every finished or cancelled job, including
 * those that finish or are cancelled while we are at it. Each slot goes back
 * to the free list before its callback runs, so the callback may submit. */
static void deliver(struct workers *w)
{
    for (;;) {
        uv_mutex_lock(&w->mu);
        struct workers__job *batch = w->done_head;
        w->done_head = w->done_tail = NULL;
        uv_mutex_unlock(&w->mu);
        if (batch == NULL)
            return;
        while (batch != NULL) {
            struct workers__job *job = batch;
            workers_done_fn      done = job->done;
            void                *arg = job->arg;
            int                  status = job->status;

            batch = job->next;
            memset(job, 0, sizeof *job);
            job->next = w->free_list;
            w->free_list = job;
            w->in_flight--;
            if (status == 0)
                w->completed_total++;
            else
                w->cancelled_total++;
            update_ref(w);
            done(arg, status);
        }
    }
}

static void on_async_closed(uv_handle_t *h)
{
    struct workers   *w = WORKERS__CONTAINER_OF(h, struct workers, async);
    workers_closed_fn cb = w->on_closed;

    uv_cond_destroy(&w->cv);
    uv_mutex_destroy(&w->mu);
    free(w->slots);
    free(w->threads);
    w->slots = w->free_list = NULL;
    w->threads = NULL;
    w->state = WORKERS__CLOSED;
    if (cb != NULL)
        cb(w);
}

/* Closing, and nothing left in flight: once the threads are gone too, join
 * them (each has already made its last use of w, so this does not block
 * the loop) and close the handle. */
static void maybe_finish(struct workers *w)
{
    unsigned live;

    if (w->state != WORKERS__CLOSING || w->in_flight != 0)
        return;
    uv_mutex_lock(&w->mu);
    live = w->live_threads;
    uv_mutex_unlock(&w->mu);
    if (live != 0)
        return; /* the last thread to exit sends async again */
    for (unsigned i = 0; i < w->nthreads; i++)
        uv_thread_join(&w->threads[i]);
    w->state = WORKERS__JOINED;
    uv_close((uv_handle_t *)&w->async, on_async_closed);
}

static void on_async(uv_async_t *a)
{
    struct workers *w = WORKERS__CONTAINER_OF(a, struct workers, async);

    deliver(w);
    maybe_finish(w);
}

int workers_submit(struct workers *w, workers_work_fn work, workers_done_fn done, void *arg)
{
    struct workers__job *job;

    if (work == NULL || done == NULL)
        return UV_EINVAL;
    if (w->state == WORKERS__CLOSING || w->state == WORKERS__JOINED || w->state == WORKERS__CLOSED)
        return UV_ECANCELED;
    if (w->state != WORKERS__OPEN)
        return UV_EINVAL;
    assert(on_loop_thread(w));
    if ((job = w->free_list) == NULL) {
        w->rejected_total++;
        return WORKERS_EFULL;
    }
    w->free_list = job->next;
    job->next = NULL;
    job->work = work;
    job->done = done;
    job->arg = arg;
    job->status = 0;
    w->in_flight++;
    update_ref(w);

    uv_mutex_lock(&w->mu);
    if (w->wait_tail != NULL)
        w->wait_tail->next = job;
    else
        w->wait_head = job;
    w->wait_tail = job;
    w->n_waiting++;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    return 0;
}

void workers_close(struct workers *w, workers_closed_fn on_closed)
{
    if (w->state != WORKERS__OPEN)
        return; /* never opened, or already closing/closed */
    assert(on_loop_thread(w));
    w->state = WORKERS__CLOSING;
    w->on_closed = on_closed;
    update_ref(w);

    uv_mutex_lock(&w->mu);
    /* Cancel every job not started: move the waiting FIFO, in order, to the
     * end of the done list. Their status says they never ran. */
    for (struct workers__job *j = w->wait_head; j != NULL; j = j->next)
        j->status = UV_ECANCELED;
    if (w->wait_head != NULL) {
        if (w->done_tail != NULL)
            w->done_tail->next = w->wait_head;
        else
            w->done_head = w->wait_head;
        w->done_tail = w->wait_tail;
    }
    w->wait_head = w->wait_tail = NULL;
    w->n_waiting = 0;
    w->stop = true;
    uv_cond_broadcast(&w->cv);
    uv_mutex_unlock(&w->mu);
    /* Deliver the cancellations from the loop rather than from inside this
     * call, and now: not only once a running job ends and its thread exits. */
    uv_async_send(&w->async);
}

unsigned workers_queued(const struct workers *w)
{
    return w->in_flight;
}

void workers_metrics(const struct workers *w, struct buf *b, const char *prefix)
{
    unsigned waiting = 0, running = 0;

    if (w->state == WORKERS__OPEN || w->state == WORKERS__CLOSING || w->state == WORKERS__JOINED) {
        /* Locking does not change what a reader can observe of w: casting
         * const away is how we get at the mutex of a const pool. */
        uv_mutex_t *mu = (uv_mutex_t *)&w->mu;
        uv_mutex_lock(mu);
        waiting = w->n_waiting;
        running = w->n_running;
        uv_mutex_unlock(mu);
    }
    buf_printf(b,
               "# TYPE %s_threads gauge\n%s_threads %u\n"
               "# TYPE %s_queue_limit gauge\n%s_queue_limit %u\n"
               "# TYPE %s_waiting gauge\n%s_waiting %u\n"
               "# TYPE %s_running gauge\n%s_running %u\n"
               "# TYPE %s_completed_total counter\n%s_completed_total %llu\n"
               "# TYPE %s_cancelled_total counter\n%s_cancelled_total %llu\n"
               "# TYPE %s_rejected_total counter\n%s_rejected_total %llu\n",
               prefix, prefix, w->nthreads, prefix, prefix, w->max_queue, prefix, prefix, waiting, prefix, prefix,
               running, prefix, prefix, (unsigned long long)w->completed_total, prefix, prefix,
               (unsigned long long)w->cancelled_total, prefix, prefix, (unsigned long long)w->rejected_total);
}
