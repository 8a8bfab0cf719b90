/*
 * workers.h — bounded worker pools for CPU-heavy jobs (argon2, PDF rendering).
 *
 * What it provides:
 *   A pool of its own threads per kind of work, with a bounded queue, for
 *   jobs that would stall gssd's single loop (one argon2id hash: ~100 ms of
 *   CPU and 64 MiB; one PDF: tens of ms). One pool per kind, so a burst of
 *   one kind never delays the other, and neither delays libuv's shared
 *   threadpool (uv_fs_*, getaddrinfo). A full pool refuses at once
 *   (WORKERS_EFULL) instead of queueing without limit: the caller answers
 *   503 with Retry-After, and memory stays bounded under a flood of logins.
 *
 * Jobs:
 *   workers_submit(w, work, done, arg) queues a job. work(arg) later runs on
 *   one of the pool's threads; then done(arg, 0) runs on the loop thread.
 *   If the pool is closed before work started, work never runs and done
 *   runs with UV_ECANCELED instead. Either way done runs exactly once per
 *   accepted job, and never from inside workers_submit or workers_close.
 *   Jobs start in submission order; with more than one thread they may
 *   finish, and have done called, in any order.
 *
 * The bound: max_queue is the most jobs in flight at once, counting every
 *   accepted job from workers_submit until its done callback has returned
 *   (waiting for a thread, running, or finished with done still to run).
 *   The slots are allocated once by workers_init, so submitting never
 *   allocates and never fails for want of memory.
 *
 * Threads: every function here must be called on the loop thread (the one
 *   running w's loop). work runs on a pool thread with all signals blocked
 *   and must touch only what arg gives it; done runs on the loop thread and
 *   may call workers_submit (its slot is already free) or workers_close.
 *
 * Memory: the caller owns struct workers (embed it; libuv style) and must
 *   keep it until on_closed has run; the pool owns its threads, its slots
 *   and its uv_async_t. arg belongs to the caller throughout: the pool only
 *   passes it back.
 *
 * Loop lifetime: an idle pool does not keep uv_run(UV_RUN_DEFAULT) going
 *   (like libuv's threadpool, only jobs in flight do). A closing pool keeps
 *   the loop alive until on_closed has run, after which the pool holds no
 *   handle, so uv_loop_close() returns 0.
 *
 * Errors: 0 or negative libuv codes.
 */
#ifndef GSS_CORE_WORKERS_H
#define GSS_CORE_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "core/buf.h"

/* workers_submit's answer when max_queue jobs are in flight. It is a libuv
 * code, so callers can pass it on; but it means only "full, try again in a
 * moment": answer 503 with Retry-After. */
#define WORKERS_EFULL UV_EBUSY

/* Limits workers_init accepts; far above anything sane for this machine. */
#define WORKERS_THREADS_MAX 64
#define WORKERS_QUEUE_MAX   65536

/* Runs on a pool thread. Must not touch the loop, its handles, or this module
 * (libuv's thread primitives are fine). */
typedef void (*workers_work_fn)(void *arg);

/* Runs on the loop thread once work has returned (status 0), or instead of
 * work when the pool closed before work started (status UV_ECANCELED). */
typedef void (*workers_done_fn)(void *arg, int status);

struct workers;
typedef void (*workers_closed_fn)(struct workers *w);

/* One accepted job; a slot of the pool's fixed array. Internal. */
struct workers__job {
    struct workers__job *next; /* in exactly one of the free, waiting or done lists */
    workers_work_fn      work;
    workers_done_fn      done;
    void                *arg;
    int                  status; /* passed to done: 0, or UV_ECANCELED */
};

enum workers__state {
    WORKERS__IDLE,    /* all zero: never initialised, or init failed */
    WORKERS__OPEN,    /* accepting jobs */
    WORKERS__CLOSING, /* workers_close called; waiting for threads and dones */
    WORKERS__JOINED,  /* threads joined; async handle closing */
    WORKERS__CLOSED,  /* on_closed has run */
};

/* Every field is private: read it through the functions below. */
struct workers {
    /* Loop thread only. */
    uv_loop_t           *loop;
    uv_async_t           async; /* wakes the loop when jobs finish or threads exit */
    enum workers__state  state;
    char                 name[12]; /* threads are named "gss-<name>" (15 bytes at most) */
    unsigned             nthreads;
    unsigned             max_queue;
    uv_thread_t         *threads; /* nthreads; joined before async is closed */
    struct workers__job *slots;   /* max_queue, allocated by init */
    struct workers__job *free_list;
    unsigned             in_flight;       /* accepted jobs whose done has not returned */
    bool                 referenced;      /* async is uv_ref'd (jobs in flight, or closing) */
    uint64_t             completed_total; /* done called with status 0 */
    uint64_t             cancelled_total; /* done called with UV_ECANCELED */
    uint64_t             rejected_total;  /* submits refused with WORKERS_EFULL */
    workers_closed_fn    on_closed;
    uv_thread_t          loop_thread; /* the thread that called init, for asserts */

    /* Shared with the pool threads: only under mu. */
    uv_mutex_t           mu;
    uv_cond_t            cv;                    /* signalled when a job is queued or stop is set */
    struct workers__job *wait_head, *wait_tail; /* accepted, not started: FIFO */
    struct workers__job *done_head, *done_tail; /* finished or cancelled, done not yet called */
    unsigned             n_waiting;
    unsigned             n_running;
    unsigned             live_threads; /* started and not yet past their last use of w */
    bool                 stop;         /* threads exit when they see it */
    bool                 async_ready;  /* async may be sent to (set at the end of init) */
};

/* Start a pool of `threads` threads on loop, accepting up to max_queue jobs
 * in flight (threads <= max_queue: otherwise some threads could never have
 * work). name (1..11 bytes, e.g. "argon2") names the threads: "gss-<name>".
 * Returns 0, UV_EINVAL for bad arguments, or the code of a failed
 * allocation or thread creation; on failure nothing is left running or
 * open, and w needs no close. */
int workers_init(struct workers *w, uv_loop_t *loop, const char *name, unsigned threads, unsigned max_queue);

/* Queue work(arg) then done(arg, status) (see above). Returns 0 when
 * accepted: done will run exactly once, later, on the loop thread.
 * Otherwise nothing was queued and done will not run:
 *   WORKERS_EFULL  max_queue jobs are in flight (counted in rejected_total);
 *   UV_ECANCELED   workers_close has been called;
 *   UV_EINVAL      work or done is NULL, or w is not open. */
int workers_submit(struct workers *w, workers_work_fn work, workers_done_fn done, void *arg);

/* Close the pool. Jobs not yet started are cancelled: their done runs with
 * UV_ECANCELED, on the loop, after this call returns. Jobs running finish
 * (the call does not wait for them) and their done runs with status 0.
 * Once every thread has exited (joined from the loop only after each has
 * said it is done with w, so the join does not block) and every done has
 * run, the async handle is closed, the slots freed, and then
 * on_closed(w) runs (may be NULL): from then on the caller may free w.
 * Idempotent: later calls do nothing (the first on_closed stands). Safe to
 * call from a done callback. A w that was never opened is ignored. */
void workers_close(struct workers *w, workers_closed_fn on_closed);

/* Jobs in flight: the number max_queue bounds. */
unsigned workers_queued(const struct workers *w);

/* Append Prometheus text lines, each metric named prefix + suffix, e.g.
 * prefix "gss_argon2" gives gss_argon2_waiting. Suffixes: _threads and
 * _queue_limit (configuration), _waiting, _running (gauges: not started;
 * on a thread now), _completed_total, _cancelled_total, _rejected_total
 * (counters). Give each pool its own prefix: a metric name must be unique
 * in a scrape. */
void workers_metrics(const struct workers *w, struct buf *b, const char *prefix);

/* Worker threads run at nice WORKERS_NICE: on a machine with few cores the
 * loop thread (nice 0) then wins a contended core at once, so hashing and
 * rendering slow down under load instead of every socket. Called by every
 * pool thread at start; other background threads (libuv's threadpool work
 * functions) call it themselves. Idempotent per thread. */
#define WORKERS_NICE 10
void workers_lower_priority(void);

#endif /* GSS_CORE_WORKERS_H */
