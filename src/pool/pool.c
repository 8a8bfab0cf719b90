#include "pool/pool.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/log.h"

static const char *const result_codes[POOL_RESULT_COUNT] = {
    "ok",        "not_open",     "already_claimed", "banned",   "job_full",
    "tech_busy", "not_assigned", "exists",          "bad_args", "inconsistent", "unavailable",
};

const char *pool_result_code(enum pool_claim_result r)
{
    return result_codes[r];
}

static enum pool_claim_result parse_code(const char *s)
{
    for (int i = 1; i < POOL_RESULT_COUNT; i++)
        if (strcmp(s, result_codes[i]) == 0)
            return (enum pool_claim_result)i;
    return POOL_UNAVAILABLE;
}

int pool_init(struct pool_service *p, const struct gss_config *cfg, struct rds *redis)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->redis = redis;
    if (rds_script_init(&p->s_open, "open") < 0 || rds_script_init(&p->s_claim, "claim") < 0 ||
        rds_script_init(&p->s_release, "release") < 0 || rds_script_init(&p->s_close, "close") < 0 ||
        rds_script_init(&p->s_snapshot, "snapshot") < 0) {
        log_error("pool", "an embedded Lua script is missing");
        return -1;
    }
    p->kplen = (size_t)snprintf(p->kp, sizeof(p->kp), "%s:{%s}:", cfg->redis_prefix, cfg->region);
    snprintf(p->channel, sizeof(p->channel), "%s:live", cfg->redis_prefix);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Key storage for one call: every key is prefix + parts, built into one
 * array with memcpy (no printf: this is every claim's path). */
struct keyset {
    char        store[8][200];
    const char *argv[24];
    size_t      lens[24];
    int         n;
};

static void key(struct keyset *k, const struct pool_service *p, const char *a, const char *b, const char *c)
{
    char  *dst = k->store[k->n];
    size_t n = p->kplen;
    memcpy(dst, p->kp, n);
    for (const char *part[3] = {a, b, c}, **q = part; q < part + 3; q++) {
        if (!*q)
            continue;
        size_t l = strlen(*q);
        if (n + l >= sizeof(k->store[0]))
            l = sizeof(k->store[0]) - 1 - n; /* ids are short; cannot happen */
        memcpy(dst + n, *q, l);
        n += l;
    }
    dst[n] = '\0';
    k->argv[k->n] = dst;
    k->lens[k->n] = n;
    k->n++;
}

static void arg(struct keyset *k, const char *s)
{
    k->argv[k->n] = s;
    k->lens[k->n] = strlen(s);
    k->n++;
}

/* Decimal of a non-negative number into out (at least 21 bytes). */
static const char *dec(int64_t v, char *out)
{
    char     tmp[21];
    int      n = 0;
    uint64_t u = v < 0 ? 0 : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return out;
}

struct call {
    struct pool_service *p;
    pool_cb              cb;
    void                *ud;
    bool                 is_claim;
};

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct call *c = priv;
    redisReply  *r = reply;
    (void)ac;
    enum pool_claim_result res = POOL_UNAVAILABLE;
    int                    slot = 0;
    int64_t                seq = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING) {
        if (strcmp(r->element[0]->str, "ok") == 0) {
            res = POOL_OK;
            if (r->elements >= 3 && c->is_claim) {
                slot = (int)r->element[1]->integer;
                seq = r->element[2]->integer;
            } else if (r->elements >= 3) {
                slot = (int)r->element[1]->integer; /* release: the freed slot */
                seq = r->element[2]->integer;
            } else {
                seq = r->element[1]->integer;
            }
        } else if (r->element[1]->type == REDIS_REPLY_STRING) {
            res = parse_code(r->element[1]->str);
        }
    } else if (r && r->type == REDIS_REPLY_ERROR) {
        log_error("pool", "script error: %s", r->str);
    }
    if (c->is_claim)
        c->p->results[res]++;
    c->cb(c->ud, res, slot, seq);
    free(c);
}

static int call_script(struct pool_service *p, const struct rds_script *s, int nkeys, struct keyset *k, pool_cb cb,
                       void *ud, bool is_claim)
{
    struct call *c = xmalloc(sizeof(*c));
    c->p = p;
    c->cb = cb;
    c->ud = ud;
    c->is_claim = is_claim;
    if (rds_evalsha(p->redis, s, nkeys, k->n, k->argv, k->lens, on_reply, c) < 0) {
        free(c);
        if (is_claim)
            p->results[POOL_UNAVAILABLE]++;
        return -1;
    }
    return 0;
}

int pool_open(struct pool_service *p, const struct pool_job *job, pool_cb cb, void *ud)
{
    struct keyset k;
    k.n = 0;
    char id[24], total[8], sched[24], now[24];
    snprintf(id, sizeof(id), "%lld", (long long)job->id);
    snprintf(total, sizeof(total), "%d", job->slots_total);
    snprintf(sched, sizeof(sched), "%lld", (long long)job->sched_ms);
    snprintf(now, sizeof(now), "%lld", (long long)now_ms());
    key(&k, p, "pool", NULL, NULL);
    key(&k, p, "job:", id, NULL);
    key(&k, p, "job:", id, ":techs");
    key(&k, p, "job:", id, ":banned");
    key(&k, p, "seq", NULL, NULL);
    key(&k, p, "events", NULL, NULL);
    key(&k, p, "job:", id, ":slots");
    arg(&k, id);
    arg(&k, total);
    arg(&k, job->code);
    arg(&k, job->title);
    arg(&k, job->area);
    arg(&k, job->scheduled_at);
    arg(&k, sched);
    arg(&k, job->urgent ? "1" : "0");
    arg(&k, p->channel);
    arg(&k, now);
    return call_script(p, &p->s_open, 7, &k, cb, ud, false);
}

/* claim and release take the same keys. */
static void job_tech_keys(struct keyset *k, struct pool_service *p, const char *id, const char *tech)
{
    key(k, p, "pool", NULL, NULL);
    key(k, p, "job:", id, NULL);
    key(k, p, "job:", id, ":techs");
    key(k, p, "job:", id, ":banned");
    key(k, p, "tech:", tech, NULL);
    key(k, p, "seq", NULL, NULL);
    key(k, p, "events", NULL, NULL);
    key(k, p, "job:", id, ":slots");
}

int pool_claim(struct pool_service *p, int64_t job_id, int64_t tech_id, pool_cb cb, void *ud)
{
    struct keyset k;
    k.n = 0;
    char id[24], tech[24], maxa[24], now[24];
    dec(job_id, id);
    dec(tech_id, tech);
    dec(p->cfg->tech_max_active, maxa);
    dec(now_ms(), now);
    job_tech_keys(&k, p, id, tech);
    arg(&k, id);
    arg(&k, tech);
    arg(&k, maxa);
    arg(&k, p->channel);
    arg(&k, now);
    return call_script(p, &p->s_claim, 8, &k, cb, ud, true);
}

int pool_release(struct pool_service *p, int64_t job_id, int64_t tech_id, pool_cb cb, void *ud)
{
    struct keyset k;
    k.n = 0;
    char id[24], tech[24], now[24];
    snprintf(id, sizeof(id), "%lld", (long long)job_id);
    snprintf(tech, sizeof(tech), "%lld", (long long)tech_id);
    snprintf(now, sizeof(now), "%lld", (long long)now_ms());
    job_tech_keys(&k, p, id, tech);
    arg(&k, id);
    arg(&k, tech);
    arg(&k, p->channel);
    arg(&k, now);
    return call_script(p, &p->s_release, 8, &k, cb, ud, false);
}

int pool_close(struct pool_service *p, int64_t job_id, const char *reason, pool_cb cb, void *ud)
{
    struct keyset k;
    k.n = 0;
    char id[24], now[24], techp[200];
    snprintf(id, sizeof(id), "%lld", (long long)job_id);
    snprintf(now, sizeof(now), "%lld", (long long)now_ms());
    snprintf(techp, sizeof(techp), "%stech:", p->kp);
    key(&k, p, "pool", NULL, NULL);
    key(&k, p, "job:", id, NULL);
    key(&k, p, "job:", id, ":techs");
    key(&k, p, "seq", NULL, NULL);
    key(&k, p, "events", NULL, NULL);
    key(&k, p, "job:", id, ":slots");
    arg(&k, id);
    arg(&k, reason);
    arg(&k, p->channel);
    arg(&k, now);
    arg(&k, techp);
    return call_script(p, &p->s_close, 6, &k, cb, ud, false);
}

void pool_metrics(struct pool_service *p, struct buf *b)
{
    buf_puts(b, "# HELP gss_pool_claims_total Claims by outcome.\n# TYPE gss_pool_claims_total counter\n");
    for (int i = 0; i < POOL_RESULT_COUNT; i++)
        if (i == POOL_OK || i == POOL_JOB_FULL || i == POOL_ALREADY_CLAIMED || i == POOL_NOT_OPEN ||
            i == POOL_TECH_BUSY || i == POOL_BANNED || i == POOL_UNAVAILABLE)
            buf_printf(b, "gss_pool_claims_total{result=\"%s\"} %llu\n", result_codes[i],
                       (unsigned long long)p->results[i]);
    buf_printf(b, "# TYPE gss_pool_live_messages_total counter\ngss_pool_live_messages_total %llu\n",
               (unsigned long long)p->broadcasts);
}

/* ---- who holds a slot ----------------------------------------------------- */

struct slot_call {
    pool_slot_cb cb;
    void        *ud;
};

static void on_slot_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct slot_call *c = priv;
    redisReply       *r = reply;
    (void)ac;
    int slot = -1;
    if (r && r->type == REDIS_REPLY_NIL)
        slot = 0;
    else if (r && r->type == REDIS_REPLY_STRING)
        slot = atoi(r->str) > 0 ? atoi(r->str) : 0;
    c->cb(c->ud, slot);
    free(c);
}

int pool_slot_of(struct pool_service *p, int64_t job_id, int64_t tech_id, pool_slot_cb cb, void *ud)
{
    struct keyset k = {.n = 0};
    char          id[24], tid[24];
    dec(job_id, id);
    dec(tech_id, tid);
    key(&k, p, "job:", id, ":slots");
    const char       *argv[3] = {"HGET", k.argv[0], tid};
    struct slot_call *c = xmalloc(sizeof(*c));
    c->cb = cb;
    c->ud = ud;
    if (rds_cmd(p->redis, on_slot_reply, c, 3, argv, NULL) < 0) {
        free(c);
        return -1;
    }
    return 0;
}
