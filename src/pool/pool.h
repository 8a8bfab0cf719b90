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
#include "store/redis.h"

struct gss_config;

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
    POOL_INCONSISTENT, /* release: techs and slots disagree (gssd check, rebuild-pool --repair) */
    POOL_UNAVAILABLE, /* Redis down or an unexpected reply */
    POOL_RESULT_COUNT
};

struct pool_service {
    const struct gss_config *cfg;   /* not owned; outlives the service */
    struct rds              *redis; /* commands and scripts; not owned */
    struct rds_script        s_open, s_claim, s_release, s_close, s_snapshot;
    char                     kp[160]; /* key prefix "P:{R}:" */
    size_t                   kplen;
    char                     channel[96];                /* "P:live" */
    uint64_t                 results[POOL_RESULT_COUNT]; /* claims by outcome, for /metrics */
    uint64_t                 broadcasts;
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

/* Fills p (keys from cfg->redis_prefix and cfg->region); scripts go out on
 * redis. 0, or -1 if an embedded script is missing. */
int pool_init(struct pool_service *p, const struct gss_config *cfg, struct rds *redis);
/* Each returns 0 (cb will run once) or -1 (Redis down; cb will not run). */
int pool_open(struct pool_service *p, const struct pool_job *job, pool_cb cb, void *ud);
int pool_claim(struct pool_service *p, int64_t job_id, int64_t tech_id, pool_cb cb, void *ud);
int pool_release(struct pool_service *p, int64_t job_id, int64_t tech_id, pool_cb cb, void *ud);
int pool_close(struct pool_service *p, int64_t job_id, const char *reason, pool_cb cb, void *ud);

/* The slot technician tech_id holds in job job_id, as Redis has it now (the
 * truth of a claim, ahead of PostgreSQL): cb gets the slot (>= 1), 0 for
 * none, or -1 when Redis failed. 0 (cb runs once, later) or -1 (Redis down;
 * cb will not run). */
typedef void (*pool_slot_cb)(void *ud, int slot);
int pool_slot_of(struct pool_service *p, int64_t job_id, int64_t tech_id, pool_slot_cb cb, void *ud);

const char *pool_result_code(enum pool_claim_result r);
void        pool_metrics(struct pool_service *p, struct buf *b);

#endif
