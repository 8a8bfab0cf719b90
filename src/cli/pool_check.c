/*
 * gssd check / gssd rebuild-pool: PostgreSQL (the record) against Redis
 * (the live pool).
 *
 * check prints one line per difference and exits 1 if there is any:
 * a ticket open or assigned in PostgreSQL without its job in Redis, a job
 * whose state, slot count, technicians or pool membership disagree, a job in
 * the pool that PostgreSQL does not have open, a technician whose active
 * count differs, and stream entries the persister has not applied yet.
 *
 * rebuild-pool makes Redis match PostgreSQL for every open or assigned
 * ticket (after Redis lost its data, or to repair what check found). It
 * writes no stream entries (PostgreSQL already has it all) and tells live
 * boards to resync.
 *
 * Both are blocking command-line tools (libpq and hiredis synchronous).
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "store/pg.h"

struct ctx {
    PGconn       *pg;
    redisContext *rd;
    char          kp[160]; /* "P:{R}:" */
    char          channel[96];
    int           diffs;
};

static int connect_all(struct gss_config *cfg, struct ctx *c)
{
    char err[512];
    memset(c, 0, sizeof(*c));
    c->pg = pg_connect_blocking(cfg->database_url, err, sizeof(err));
    if (!c->pg) {
        fprintf(stderr, "gssd: postgres: %s\n", err);
        return -1;
    }
    char        host[64] = "127.0.0.1";
    int         port = 6379, db = 0;
    const char *h = cfg->redis_url + 8;
    const char *colon = strchr(h, ':'), *slash = strchr(h, '/');
    size_t      hl = colon ? (size_t)(colon - h) : slash ? (size_t)(slash - h) : strlen(h);
    if (hl && hl < sizeof(host)) {
        memcpy(host, h, hl);
        host[hl] = '\0';
    }
    if (colon)
        port = atoi(colon + 1);
    if (slash)
        db = atoi(slash + 1);
    struct timeval tv = {5, 0};
    c->rd = redisConnectWithTimeout(host, port, tv);
    if (!c->rd || c->rd->err) {
        fprintf(stderr, "gssd: redis %s:%d: %s\n", host, port, c->rd ? c->rd->errstr : "out of memory");
        return -1;
    }
    if (db)
        freeReplyObject(redisCommand(c->rd, "SELECT %d", db));
    snprintf(c->kp, sizeof(c->kp), "%s:{%s}:", cfg->redis_prefix, cfg->region);
    snprintf(c->channel, sizeof(c->channel), "%s:live", cfg->redis_prefix);
    return 0;
}

static void disconnect_all(struct ctx *c)
{
    if (c->pg)
        PQfinish(c->pg);
    if (c->rd)
        redisFree(c->rd);
}

static void diff(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    c->diffs++;
}

/* Tickets the pool should hold, with their board fields and holders. */
static const char tickets_sql[] =
    "SELECT t.id, t.code, left(regexp_replace(t.problem, '\\s+', ' ', 'g'), 80), t.area,"
    " to_char(t.scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " (extract(epoch FROM t.scheduled_at) * 1000)::bigint, t.urgent, t.techs_needed, t.status,"
    " coalesce((SELECT string_agg(a.tech_id || ':' || a.slot, ',' ORDER BY a.tech_id) FROM assignments a"
    "   WHERE a.ticket_id = t.id AND a.released_at IS NULL), ''),"
    " coalesce((SELECT string_agg(a.tech_id::text, ',' ORDER BY a.tech_id) FROM assignments a"
    "   WHERE a.ticket_id = t.id AND a.released_at IS NOT NULL), '')"
    " FROM tickets t WHERE t.status IN ('open', 'assigned') AND t.region = $1 ORDER BY t.id";

static const char active_sql[] =
    "SELECT a.tech_id, count(*) FROM assignments a JOIN tickets t ON t.id = a.ticket_id"
    " WHERE a.released_at IS NULL AND t.status IN ('open', 'assigned', 'in_progress') AND t.region = $1"
    " GROUP BY a.tech_id ORDER BY a.tech_id";

/* Sorted, comma-joined members of a Redis set (for comparison with PG's list). */
static void set_joined(struct ctx *c, const char *key, struct buf *out)
{
    buf_reset(out);
    redisReply *r = redisCommand(c->rd, "SMEMBERS %s", key);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements) {
        const char **v = calloc(r->elements, sizeof(char *));
        for (size_t i = 0; i < r->elements; i++)
            v[i] = r->element[i]->str;
        /* numeric order, as PG sorts ids */
        for (size_t i = 1; i < r->elements; i++)
            for (size_t j = i; j > 0 && (strtoll(v[j - 1], NULL, 10) > strtoll(v[j], NULL, 10)); j--) {
                const char *t = v[j];
                v[j] = v[j - 1];
                v[j - 1] = t;
            }
        for (size_t i = 0; i < r->elements; i++) {
            if (i)
                buf_putc(out, ',');
            buf_puts(out, v[i]);
        }
        free(v);
    }
    freeReplyObject(r);
    if (!out->data)
        buf_puts(out, "");
}

static const char *hget(redisReply *h, const char *f)
{
    if (!h || h->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (!strcmp(h->element[i]->str, f))
            return h->element[i + 1]->str;
    return NULL;
}

/* "12:1,15:2" → "12,15" (tech ids only). */
static void tech_ids(const char *pairs, struct buf *out)
{
    buf_reset(out);
    buf_puts(out, "");
    const char *p = pairs;
    while (*p) {
        const char *colon = strchr(p, ':');
        const char *comma = strchr(p, ',');
        if (!colon)
            break;
        if (out->len)
            buf_putc(out, ',');
        buf_append(out, p, (size_t)(colon - p));
        if (!comma)
            break;
        p = comma + 1;
    }
}

/* Calls fn for every job on the Redis board whose ticket is not among the
 * open or assigned tickets t (tickets_sql's result). */
static void for_each_stray_job(struct ctx *c, PGresult *t, void (*fn)(struct ctx *c, const char *id))
{
    redisReply *pool = redisCommand(c->rd, "ZRANGE %spool 0 -1", c->kp);
    if (pool && pool->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < pool->elements; i++) {
            bool found = false;
            for (int k = 0; k < PQntuples(t) && !found; k++)
                found = !strcmp(PQgetvalue(t, k, 0), pool->element[i]->str);
            if (!found)
                fn(c, pool->element[i]->str);
        }
    freeReplyObject(pool);
}

static void report_stray(struct ctx *c, const char *id)
{
    diff(c, "job %s is in the Redis pool but its ticket is not open or assigned in PostgreSQL", id);
}

static void remove_stray(struct ctx *c, const char *id)
{
    freeReplyObject(redisCommand(c->rd, "ZREM %spool %s", c->kp, id));
    freeReplyObject(redisCommand(c->rd, "HSET %sjob:%s state closed", c->kp, id));
}

/* Connects to both stores and reads the tickets the pool should hold;
 * NULL (everything closed, the error printed) when either fails. */
static PGresult *start(struct gss_config *cfg, struct ctx *c, const char *cmd)
{
    if (connect_all(cfg, c) < 0) {
        disconnect_all(c);
        return NULL;
    }
    const char *region = cfg->region;
    PGresult   *t = PQexecParams(c->pg, tickets_sql, 1, NULL, &region, NULL, NULL, 0);
    if (PQresultStatus(t) != PGRES_TUPLES_OK) {
        fprintf(stderr, "gssd %s: %s", cmd, PQresultErrorMessage(t));
        PQclear(t);
        disconnect_all(c);
        return NULL;
    }
    return t;
}

static int run_check(struct gss_config *cfg)
{
    struct ctx  c;
    const char *region = cfg->region;
    PGresult   *t = start(cfg, &c, "check");
    if (!t)
        return 2;
    struct buf key = {0}, got = {0}, want = {0};
    int        n = PQntuples(t);
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(t, i, 0), *code = PQgetvalue(t, i, 1);
        int         total = atoi(PQgetvalue(t, i, 7));
        const char *status = PQgetvalue(t, i, 8);
        tech_ids(PQgetvalue(t, i, 9), &want);
        int held = 0;
        for (const char *p = PQgetvalue(t, i, 9); *p; p++)
            held += *p == ':';
        buf_reset(&key);
        buf_printf(&key, "%sjob:%s", c.kp, id);
        redisReply *h = redisCommand(c.rd, "HGETALL %s", key.data);
        if (!h || h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
            diff(&c, "ticket %s (%s, %s): no job in Redis", id, code, status);
            freeReplyObject(h);
            continue;
        }
        const char *state = hget(h, "state"), *rt = hget(h, "slots_total"), *rtaken = hget(h, "slots_taken");
        const char *want_state = held >= total ? "full" : "open";
        if (!state || strcmp(state, want_state) != 0)
            diff(&c, "ticket %s (%s): Redis state %s, PostgreSQL has %d of %d slots taken (%s)", id, code,
                 state ? state : "-", held, total, want_state);
        if (!rt || atoi(rt) != total)
            diff(&c, "ticket %s (%s): Redis slots_total %s, PostgreSQL techs_needed %d", id, code, rt ? rt : "-",
                 total);
        if (!rtaken || atoi(rtaken) != held)
            diff(&c, "ticket %s (%s): Redis slots_taken %s, PostgreSQL %d", id, code, rtaken ? rtaken : "-", held);
        bool ticket_open = held < total;
        if ((!strcmp(status, "open")) != ticket_open)
            diff(&c, "ticket %s (%s): status %s but %d of %d slots taken", id, code, status, held, total);
        buf_printf(&key, ":techs");
        set_joined(&c, key.data, &got);
        if (strcmp(got.data, want.data) != 0)
            diff(&c, "ticket %s (%s): technicians in Redis {%s}, in PostgreSQL {%s}", id, code, got.data, want.data);
        redisReply *z = redisCommand(c.rd, "ZSCORE %spool %s", c.kp, id);
        bool        in_pool = z && z->type == REDIS_REPLY_STRING;
        freeReplyObject(z);
        if (in_pool != ticket_open)
            diff(&c, "ticket %s (%s): %s the pool but has %d of %d slots taken", id, code, in_pool ? "in" : "not in",
                 held, total);
        freeReplyObject(h);
    }
    for_each_stray_job(&c, t, report_stray);
    PQclear(t);
    /* Technicians' active counts. */
    PGresult *a = PQexecParams(c.pg, active_sql, 1, NULL, &region, NULL, NULL, 0);
    if (PQresultStatus(a) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(a); i++) {
            redisReply *r = redisCommand(c.rd, "HGET %stech:%s active", c.kp, PQgetvalue(a, i, 0));
            long        have = r && r->type == REDIS_REPLY_STRING ? atol(r->str) : 0;
            freeReplyObject(r);
            if (have != atol(PQgetvalue(a, i, 1)))
                diff(&c, "technician %s: Redis active %ld, PostgreSQL %s", PQgetvalue(a, i, 0), have,
                     PQgetvalue(a, i, 1));
        }
    }
    PQclear(a);
    /* The persister's backlog. */
    redisReply *g = redisCommand(c.rd, "XINFO GROUPS %sevents", c.kp);
    if (g && g->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < g->elements; i++) {
            redisReply *e = g->element[i];
            const char *name = hget(e, "name");
            if (!name || strcmp(name, "persist") != 0)
                continue;
            long long pending = 0, lag = 0;
            for (size_t k = 0; k + 1 < e->elements; k += 2) {
                if (!strcmp(e->element[k]->str, "pending"))
                    pending = e->element[k + 1]->integer;
                if (!strcmp(e->element[k]->str, "lag"))
                    lag = e->element[k + 1]->type == REDIS_REPLY_INTEGER ? e->element[k + 1]->integer : 0;
            }
            if (pending || lag)
                diff(&c, "persister: %lld entries pending and %lld not yet read from the events stream", pending, lag);
        }
    freeReplyObject(g);
    buf_free(&key);
    buf_free(&got);
    buf_free(&want);
    disconnect_all(&c);
    if (c.diffs) {
        printf("%d difference(s)\n", c.diffs);
        return 1;
    }
    printf("Redis and PostgreSQL agree\n");
    return 0;
}

static int run_rebuild(struct gss_config *cfg)
{
    struct ctx  c;
    const char *region = cfg->region;
    PGresult   *t = start(cfg, &c, "rebuild-pool");
    if (!t)
        return 2;
    int n = PQntuples(t), opened = 0;
    for_each_stray_job(&c, t, remove_stray);
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(t, i, 0);
        int         total = atoi(PQgetvalue(t, i, 7));
        const char *pairs = PQgetvalue(t, i, 9), *banned = PQgetvalue(t, i, 10);
        int         held = 0;
        for (const char *p = pairs; *p; p++)
            held += *p == ':';
        bool        open = held < total;
        redisReply *v = redisCommand(c.rd, "HGET %sjob:%s version", c.kp, id);
        long        version = (v && v->type == REDIS_REPLY_STRING ? atol(v->str) : 0) + 1;
        freeReplyObject(v);
        char total_s[16], held_s[16], version_s[24];
        snprintf(total_s, sizeof(total_s), "%d", total);
        snprintf(held_s, sizeof(held_s), "%d", held);
        snprintf(version_s, sizeof(version_s), "%ld", version);
        freeReplyObject(redisCommand(c.rd, "MULTI"));
        freeReplyObject(redisCommand(c.rd, "DEL %sjob:%s %sjob:%s:techs %sjob:%s:slots %sjob:%s:banned", c.kp, id, c.kp,
                                     id, c.kp, id, c.kp, id));
        freeReplyObject(redisCommand(
            c.rd,
            "HSET %sjob:%s id %s code %s title %s area %s scheduled_at %s sched_ms %s urgent %s slots_total %s "
            "slots_taken %s state %s version %s",
            c.kp, id, id, PQgetvalue(t, i, 1), PQgetvalue(t, i, 2), PQgetvalue(t, i, 3), PQgetvalue(t, i, 4),
            PQgetvalue(t, i, 5), PQgetvalue(t, i, 6)[0] == 't' ? "1" : "0", total_s, held_s, open ? "open" : "full",
            version_s));
        /* holders and their slots */
        const char *p = pairs;
        while (*p) {
            char        tech[24] = "", slot[8] = "";
            const char *colon = strchr(p, ':');
            const char *comma = strchr(p, ',');
            if (!colon)
                break;
            snprintf(tech, sizeof(tech), "%.*s", (int)(colon - p), p);
            snprintf(slot, sizeof(slot), "%.*s", (int)((comma ? comma : colon + strlen(colon)) - colon - 1), colon + 1);
            freeReplyObject(redisCommand(c.rd, "SADD %sjob:%s:techs %s", c.kp, id, tech));
            freeReplyObject(redisCommand(c.rd, "HSET %sjob:%s:slots %s %s", c.kp, id, tech, slot));
            if (!comma)
                break;
            p = comma + 1;
        }
        p = banned;
        while (*p) {
            const char *comma = strchr(p, ',');
            char        tech[24];
            snprintf(tech, sizeof(tech), "%.*s", (int)(comma ? (size_t)(comma - p) : strlen(p)), p);
            freeReplyObject(redisCommand(c.rd, "SADD %sjob:%s:banned %s", c.kp, id, tech));
            if (!comma)
                break;
            p = comma + 1;
        }
        double score = (PQgetvalue(t, i, 6)[0] == 't' ? 0 : 1e13) + strtod(PQgetvalue(t, i, 5), NULL);
        if (open)
            freeReplyObject(redisCommand(c.rd, "ZADD %spool %.0f %s", c.kp, score, id));
        else
            freeReplyObject(redisCommand(c.rd, "ZREM %spool %s", c.kp, id));
        freeReplyObject(redisCommand(c.rd, "EXEC"));
        opened += open;
    }
    PQclear(t);
    /* Technicians' active counts: reset every one we know of, then set from PG. */
    redisReply *keys = redisCommand(c.rd, "KEYS %stech:*", c.kp);
    if (keys && keys->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < keys->elements; i++)
            freeReplyObject(redisCommand(c.rd, "HSET %s active 0", keys->element[i]->str));
    freeReplyObject(keys);
    PGresult *a = PQexecParams(c.pg, active_sql, 1, NULL, &region, NULL, NULL, 0);
    if (PQresultStatus(a) == PGRES_TUPLES_OK)
        for (int i = 0; i < PQntuples(a); i++)
            freeReplyObject(
                redisCommand(c.rd, "HSET %stech:%s active %s", c.kp, PQgetvalue(a, i, 0), PQgetvalue(a, i, 1)));
    PQclear(a);
    /* seq must keep rising for boards that saw the old one: restart it from the clock. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    /* Never backwards: the counter may have survived, or restarted low after a loss. */
    freeReplyObject(redisCommand(c.rd, "EVAL %s 1 %sseq %lld",
                                 "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0 "
                                 "if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 1",
                                 c.kp, now_ms));
    freeReplyObject(redisCommand(c.rd, "PUBLISH %s {\"type\":\"resync\"}", c.channel));
    printf("pool rebuilt: %d ticket(s), %d open on the board\n", n, opened);
    disconnect_all(&c);
    return 0;
}

const char *cli_extra_usage(void)
{
    return "  gssd check                   compare Redis with PostgreSQL; exit 1 on any difference\n"
           "  gssd rebuild-pool            rebuild the Redis pool from PostgreSQL\n";
}

int cli_dispatch(struct gss_config *cfg, int argc, char **argv, int *handled)
{
    (void)argc;
    *handled = 1;
    if (!strcmp(argv[0], "check"))
        return run_check(cfg);
    if (!strcmp(argv[0], "rebuild-pool"))
        return run_rebuild(cfg);
    *handled = 0;
    return 2;
}
