/*
 * persister: the events stream → PostgreSQL. One per gssd process, on its
 * own Redis connection; every process is a consumer of the group `persist`.
 *
 * Guarantees (details at the top of persister.c):
 * - an entry is acknowledged only after PostgreSQL committed it, or after it
 *   was recorded in pool_dead_letters because it fails on its own;
 * - a batch that fails while PostgreSQL is unavailable is retried whole,
 *   later; one that fails because of its data is split until the bad entry
 *   is isolated, and the rest commits;
 * - the stream is trimmed only below what every consumer group has
 *   acknowledged (lua/trim.lua), never by length;
 * - /metrics carries the backlog (entries not yet acknowledged) and the age
 *   of the oldest one, sampled about once a second.
 *
 * Memory: the struct is the caller's (embedded or allocated); everything it
 * points to is owned by it and freed by persister_free, which may run only
 * after persister_stop and after the loop has closed the handles.
 * Threads: the loop's thread only.
 */
#ifndef GSS_POOL_PERSISTER_H
#define GSS_POOL_PERSISTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "store/redis.h"

struct gss_config;
struct pg_pool;
struct pool_service;

/* One stream entry of the batch in hand. */
struct persister_entry {
    char *id;      /* stream id, owned */
    char *event;   /* JSON object for the apply statement, owned; NULL: nothing to apply */
    char *payload; /* the entry's fields as a JSON object, owned; NULL for an entry already deleted */
    char *error;   /* owned: why this entry goes to the dead letters; NULL while it is fine */
    char  sqlstate[6];
};

struct persister_range {
    size_t lo, hi; /* positions in `live`, half-open */
};

struct persister {
    uv_loop_t               *loop;
    const struct gss_config *cfg;           /* not owned */
    struct pg_pool          *pg;            /* where batches go; not owned */
    struct pool_service     *pool;          /* its key prefix names the stream; not owned */
    struct rds               conn;          /* owned: blocking reads live here */
    uv_timer_t               timer;         /* retries and backoff */
    struct rds_script        s_trim;        /* lua/trim.lua */
    char                     stream[200];   /* "P:{R}:events" */
    char                     consumer[160]; /* host-listen-worker: stable across restarts */
    bool                     group_ready;
    bool                     from_pending; /* next read is of our own pending entries (ID 0) */
    bool                     busy;         /* a read, write, ack or trim is in flight */
    bool                     stopping;
    bool                     pg_warned;
    bool                     split_logged; /* the batch in hand has been reported as split */
    uint64_t                 backoff_ms;
    uint64_t                 next_autoclaim; /* uv_now() ms */
    uint64_t                 next_trim;      /* uv_now() ms */
    unsigned                 batch_max;      /* entries per read: 500, halved after a statement timeout */

    /* The batch in hand: entries as read, the positions of those that have
     * an event to apply (`live`), and the ranges of `live` still to apply
     * (a stack: a failing range is replaced by its two halves). */
    struct persister_entry *ents;
    size_t                  nents, cap_ents;
    size_t                 *live;
    size_t                  nlive, cap_live;
    struct persister_range *ranges;
    size_t                  nranges, cap_ranges;
    struct persister_range  inflight; /* the range whose statement is out */
    struct buf              sql_arg;  /* the JSON parameter of that statement */

    /* Counters, this process since start. */
    uint64_t batches, acked, applied_claims, dead_letters, splits, retries, trimmed;

    /* The group's lag, as trim.lua last measured it (lag_at == 0: never). */
    uint64_t lag_at;          /* uv_now() ms of the sample */
    int64_t  lag_pending;     /* delivered, not acknowledged */
    int64_t  lag_undelivered; /* not yet delivered to the group */
    int64_t  lag_oldest_ms;   /* age of the oldest unacknowledged entry at the sample; -1: none */
    int64_t  stream_len;
};

/* Opens the persister's own Redis connection (cfg->redis_url) and starts
 * following the events stream of pool. worker_id tells processes sharing a
 * listen address apart in the consumer name. 0, or -1 (bad Redis URL, or
 * the embedded trim script is missing). */
int  persister_start(struct persister *ps, uv_loop_t *loop, const struct gss_config *cfg, struct pg_pool *pg,
                     struct pool_service *pool, int worker_id);
void persister_stop(struct persister *ps);
void persister_free(struct persister *ps);
/* Prometheus text: counters above, and the lag as gauges (NaN until the
 * first sample). */
void persister_metrics(struct persister *ps, struct buf *b);

#endif
