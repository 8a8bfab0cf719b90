/*
 * The job board: GET /api/v1/pool (snapshot + seq) and
 * POST /api/v1/pool/{id}/claim (first come, first served).
 * Both are one Redis round trip; neither waits for PostgreSQL.
 */
#include <stdio.h>
#include <string.h>

#include "auth/session.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "pool/pool.h"

static void on_snapshot(redisAsyncContext *ac, void *reply, void *priv)
{
    struct http_req *req = priv;
    redisReply      *r = reply;
    (void)ac;
    if (!r || r->type != REDIS_REPLY_STRING) {
        http_error(req, 503, "unavailable", "the job pool is unavailable; try again");
        return;
    }
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, r->str, r->len);
}

void h_pool_list(struct http_req *req)
{
    struct pool_service *p = req->svc->pool;
    char                 kpool[200], kseq[200], kjob[200];
    snprintf(kpool, sizeof(kpool), "%spool", p->kp);
    snprintf(kseq, sizeof(kseq), "%sseq", p->kp);
    snprintf(kjob, sizeof(kjob), "%sjob:", p->kp);
    const char *argv[3] = {kpool, kseq, kjob};
    if (rds_evalsha(req->svc->redis, &p->s_snapshot, 2, 3, argv, NULL, on_snapshot, req) < 0)
        http_error(req, 503, "unavailable", "the job pool is unavailable; try again");
}

static void on_claimed(void *ud, enum pool_claim_result r, int slot, int64_t seq)
{
    struct http_req *req = ud;
    (void)seq;
    switch (r) {
    case POOL_OK: {
        char body[96];
        int  n =
            snprintf(body, sizeof(body), "{\"ticket_id\":%lld,\"slot\":%d}", (long long)http_param_id(req, 0), slot);
        http_respond_json(req, 200, body, (size_t)n);
        return;
    }
    case POOL_JOB_FULL: http_error(req, 409, "job_full", "every slot of this job is taken"); return;
    case POOL_ALREADY_CLAIMED: http_error(req, 409, "already_claimed", "you already hold a slot of this job"); return;
    case POOL_NOT_OPEN: http_error(req, 409, "not_open", "this job is not open"); return;
    case POOL_TECH_BUSY: http_error(req, 409, "tech_busy", "you hold as many active jobs as allowed"); return;
    case POOL_BANNED:
        http_error(req, 409, "released_from_job", "you were released from this job and cannot claim it again");
        return;
    default: http_error(req, 503, "unavailable", "the job pool is unavailable; try again"); return;
    }
}

void h_pool_claim(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0 || id > 99999999999999LL) {
        http_error(req, 404, "not_found", "no such job");
        return;
    }
    if (pool_claim(req->svc->pool, id, req->session->user_id, on_claimed, req) < 0)
        http_error(req, 503, "unavailable", "the job pool is unavailable; try again");
}
