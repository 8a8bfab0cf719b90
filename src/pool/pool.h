/*
 * pool: the open job pool, held in Redis and changed only by the atomic Lua
 * scripts in lua/ (see lua/README.md for keys and contracts).
 *
 * This module builds the keys of one region, calls the scripts by EVALSHA,
 * and maps their replies to the API's answers. The persister (persister.c)
 * makes PostgreSQL follow the events stream; live.c forwards the live
 * channel to WebSocket boards.
 */
#ifndef GSS_POOL_POOL_H
#define GSS_POOL_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "pool/redis.h"

struct gss_app;

enum pool_claim_result {
    POOL_OK = 0,
    POOL_NOT_OPEN,
    POOL_ALREADY_CLAIMED,
    POOL_BANNED,
    POOL_JOB_FULL,
    POOL_TECH_BUSY,
    POOL_NOT_ASSIGNED,
    POOL_EXISTS,
    POOL_BAD_ARGS,
    POOL_UNAVAILABLE, /* Redis down or an unexpected reply */
    POOL_RESULT_COUNT
};

struct pool_service {
    struct gss_app   *app;
    struct rds_script s_open, s_claim, s_release, s_close, s_snapshot;
    char              kp[160]; /* key prefix "P:{R}:" */
    size_t            kplen;
    char              channel[96];                /* "P:live" */
    uint64_t          results[POOL_RESULT_COUNT]; /* claims by outcome, for /metrics */
    uint64_t          broadcasts;
};

/* What a new job shows on the board. */
struct pool_job {
    int64_t     id;
    int         slots_total;
    const char *code, *title, *area;
    const char *scheduled_at; /* ISO 8601 */
    int64_t     sched_ms;
    bool        urgent;
};

typedef void (*pool_cb)(void *ud, enum pool_claim_result r, int slot, int64_t seq);

int pool_init(struct pool_service *p, struct gss_app *app);
/* Each returns 0 (cb will run once) or -1 (Redis down; cb will not run). */
int pool_open(struct pool_service *p, const struct pool_job *job, pool_cb cb, void *ud);
int pool_claim(struct pool_service *p, int64_t job_id, int64_t tech_id, pool_cb cb, void *ud);
int pool_release(struct pool_service *p, int64_t job_id, int64_t tech_id, pool_cb cb, void *ud);
int pool_close(struct pool_service *p, int64_t job_id, const char *reason, pool_cb cb, void *ud);

const char *pool_result_code(enum pool_claim_result r);
void        pool_metrics(struct pool_service *p, struct buf *b);

#endif
