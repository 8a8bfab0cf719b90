/*
 * persister: the events stream → PostgreSQL (see persister.c for the
 * delivery guarantees). One per gssd process, on its own Redis connection.
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

struct persister {
    uv_loop_t               *loop;
    const struct gss_config *cfg;           /* not owned */
    struct pg_pool          *pg;            /* where batches go; not owned */
    struct pool_service     *pool;          /* its key prefix names the stream; not owned */
    struct rds               conn;          /* owned: blocking reads live here */
    uv_timer_t               timer;         /* retries and backoff */
    char                     consumer[160]; /* host-listen-worker: stable across restarts */
    bool                     group_ready;
    bool                     from_pending; /* next read is of our own pending entries (ID 0) */
    bool                     busy;         /* a read, write or ack is in flight */
    bool                     stopping;
    bool                     pg_warned;
    uint64_t                 backoff_ms;
    uint64_t                 next_autoclaim;
    struct buf               batch; /* JSON array of the batch being applied */
    char                   **ids;   /* stream ids of that batch, owned */
    size_t                   nids, cap_ids;
    uint64_t                 batches, acked, applied_claims;
};

/* Opens the persister's own Redis connection (cfg->redis_url) and starts
 * following the events stream of pool. worker_id tells processes sharing a
 * listen address apart in the consumer name. 0 or -1 (bad Redis URL). */
int  persister_start(struct persister *ps, uv_loop_t *loop, const struct gss_config *cfg, struct pg_pool *pg,
                     struct pool_service *pool, int worker_id);
void persister_stop(struct persister *ps);
void persister_free(struct persister *ps);
void persister_metrics(struct persister *ps, struct buf *b);

#endif
