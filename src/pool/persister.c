/*
 * persister: makes PostgreSQL follow the pool's events stream.
 *
 * Every gssd runs one consumer of the group `persist` on P:{R}:events, on a
 * Redis connection of its own (XREADGROUP BLOCK would hold up every other
 * command queued behind it on a shared connection). A batch of entries is
 * written in ONE SQL statement, so it commits whole or not at all, and the
 * entries are XACKed only after that commit. Writes are idempotent
 * (ON CONFLICT, guarded UPDATEs), so an entry applied twice (a crash between
 * commit and XACK, a takeover) changes nothing the second time.
 *
 * The consumer name is stable per host, listen address and worker, so a gssd restarted
 * after a crash first re-reads its own pending entries (ID 0) before asking
 * for new ones (ID >). Entries left pending by a consumer that never comes
 * back are taken over with XAUTOCLAIM once idle for 30 s.
 *
 * PostgreSQL down: the batch is not acknowledged, the persister waits
 * (backoff up to 5 s) and re-reads its pending entries. Claims never wait
 * for any of this; Redis (AOF) holds them meanwhile.
 */
#include "pool/persister.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "pool/pool.h"
#include "store/pg.h"

#define BATCH_MAX     "500"
#define CLAIM_IDLE_MS "30000"

static void persister_next(struct persister *ps);
static void on_tick(uv_timer_t *t);

/* One statement applies a whole batch. $1 is a JSON array of events.
 *
 * Batches may commit out of order (several gssd processes, or entries taken
 * over from a dead consumer), so nothing here may depend on the order of
 * batches:
 * - assignments: one upsert per (ticket, technician) in the batch, folding
 *   the claim and a release in whatever order they arrive across batches
 *   (earliest claim time, first release time wins);
 * - ticket status: moved only by an event newer than tickets.pool_seq, the
 *   seq of the last event applied to that ticket. An UPDATE that waited on
 *   a concurrent batch's row lock re-checks that condition on the newer row.
 * Unknown tickets or users (a job opened in Redis only) are skipped, never
 * poison the batch. */
static const char apply_sql[] =
    "WITH ev AS ("
    "  SELECT * FROM json_to_recordset($1::json) AS e(seq bigint, type text, job bigint, tech bigint,"
    "         slot int, state text, at bigint)),"
    " pairs AS ("
    "  SELECT job, tech, max(slot) AS slot,"
    "         min(at) FILTER (WHERE type = 'claimed') AS claimed,"
    "         min(at) FILTER (WHERE type = 'released') AS released"
    "  FROM ev WHERE type IN ('claimed', 'released') AND tech IS NOT NULL GROUP BY job, tech),"
    " upserted AS ("
    "  INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at, released_at)"
    "  SELECT p.job, p.tech, p.slot, to_timestamp(coalesce(p.claimed, p.released) / 1000.0),"
    "         to_timestamp(p.released / 1000.0)"
    "  FROM pairs p JOIN tickets t ON t.id = p.job JOIN users u ON u.id = p.tech"
    "  ON CONFLICT (ticket_id, tech_id) DO UPDATE"
    "    SET claimed_at = least(assignments.claimed_at, EXCLUDED.claimed_at),"
    "        released_at = coalesce(assignments.released_at, EXCLUDED.released_at)"
    "  RETURNING (xmax = 0) AS inserted),"
    " last AS ("
    "  SELECT DISTINCT ON (job) job, state, seq FROM ev WHERE type IN ('claimed', 'released', 'opened')"
    "  ORDER BY job, seq DESC),"
    " status AS ("
    "  UPDATE tickets t SET status = CASE WHEN l.state = 'full' THEN 'assigned' ELSE 'open' END,"
    "         pool_seq = l.seq, updated_at = now()"
    "  FROM last l WHERE t.id = l.job AND l.seq > t.pool_seq AND t.status IN ('open', 'assigned')"
    "  RETURNING 1)"
    "SELECT (SELECT count(*) FROM upserted WHERE inserted), (SELECT count(*) FROM status)";

static void stream_key(struct persister *ps, char *out, size_t n)
{
    snprintf(out, n, "%sevents", ps->pool->kp);
}

static void schedule(struct persister *ps, uint64_t ms)
{
    if (ps->stopping)
        return;
    uv_timer_start(&ps->timer, on_tick, ms, 0);
}

static const char *field(redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    return NULL;
}

static bool digits(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Builds the JSON batch and the id list to acknowledge from an XREADGROUP /
 * XAUTOCLAIM entry array. */
static size_t collect(struct persister *ps, redisReply *entries)
{
    buf_reset(&ps->batch);
    ps->nids = 0;
    buf_putc(&ps->batch, '[');
    size_t n = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        if (ps->nids == ps->cap_ids) {
            ps->cap_ids = ps->cap_ids ? ps->cap_ids * 2 : 512;
            ps->ids = xrealloc(ps->ids, ps->cap_ids * sizeof(char *));
        }
        ps->ids[ps->nids++] = xstrdup(e->element[0]->str);
        redisReply *f = e->element[1];
        if (f->type != REDIS_REPLY_ARRAY)
            continue; /* deleted entry (trimmed): nothing to apply, still ack */
        const char *seq = field(f, "seq"), *type = field(f, "type"), *job = field(f, "job");
        const char *tech = field(f, "tech"), *slot = field(f, "slot"), *state = field(f, "state");
        const char *at = field(f, "at");
        if (!digits(seq) || !type || !digits(job) || !digits(at))
            continue;
        if (n++)
            buf_putc(&ps->batch, ',');
        buf_printf(&ps->batch, "{\"seq\":%s,\"type\":\"", seq);
        buf_json_escape(&ps->batch, type, strlen(type));
        buf_printf(&ps->batch, "\",\"job\":%s,\"tech\":%s,\"slot\":%s,\"state\":\"", job, digits(tech) ? tech : "null",
                   digits(slot) ? slot : "null");
        buf_json_escape(&ps->batch, state ? state : "", state ? strlen(state) : 0);
        buf_printf(&ps->batch, "\",\"at\":%s}", at);
    }
    buf_putc(&ps->batch, ']');
    return ps->nids;
}

static void free_ids(struct persister *ps)
{
    for (size_t i = 0; i < ps->nids; i++)
        free(ps->ids[i]);
    ps->nids = 0;
}

static void on_acked(redisAsyncContext *ac, void *reply, void *priv)
{
    struct persister *ps = priv;
    (void)ac;
    ps->busy = false;
    if (!reply) {
        schedule(ps, 500);
        return;
    }
    persister_next(ps);
}

static void ack(struct persister *ps)
{
    char key[200];
    stream_key(ps, key, sizeof(key));
    size_t       argc = 3 + ps->nids;
    const char **argv = xmalloc(argc * sizeof(char *));
    argv[0] = "XACK";
    argv[1] = key;
    argv[2] = "persist";
    for (size_t i = 0; i < ps->nids; i++)
        argv[3 + i] = ps->ids[i];
    int rc = rds_cmd(&ps->conn, on_acked, ps, (int)argc, argv, NULL);
    free(argv);
    ps->acked += ps->nids;
    free_ids(ps);
    if (rc < 0) {
        ps->busy = false;
        schedule(ps, 500);
    }
}

static void on_applied(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct persister *ps = ud;
    if (ps->stopping) {
        free_ids(ps);
        ps->busy = false;
        return;
    }
    if (err != PG_OK) {
        /* Not acknowledged: the entries stay pending and are read again. */
        if (!ps->pg_warned)
            log_warn("persister", "batch of %zu not applied (%s%s%s); will retry", ps->nids, state ? state : "",
                     state && *state ? " " : "", msg ? msg : "postgres unavailable");
        ps->pg_warned = true;
        free_ids(ps);
        ps->busy = false;
        ps->from_pending = true;
        ps->backoff_ms = ps->backoff_ms ? ps->backoff_ms * 2 : 200;
        if (ps->backoff_ms > 5000)
            ps->backoff_ms = 5000;
        schedule(ps, ps->backoff_ms);
        return;
    }
    if (ps->pg_warned)
        log_info("persister", "postgres back; applying pending entries");
    ps->pg_warned = false;
    ps->backoff_ms = 0;
    ps->applied_claims += (uint64_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    ps->batches++;
    ack(ps);
}

static void apply(struct persister *ps)
{
    const char *params[1] = {ps->batch.data};
    if (pg_query(ps->pg, apply_sql, 1, params, on_applied, ps) < 0)
        on_applied(ps, NULL, PG_ERR_DOWN, "", "postgres unavailable");
}

static void on_read(redisAsyncContext *ac, void *reply, void *priv)
{
    struct persister *ps = priv;
    redisReply       *r = reply;
    (void)ac;
    if (ps->stopping) {
        ps->busy = false;
        return;
    }
    if (!r) {
        ps->busy = false;
        schedule(ps, 500); /* connection lost; it reconnects by itself */
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        ps->busy = false;
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            ps->group_ready = false; /* the stream was lost (Redis flushed): make the group again */
            persister_next(ps);
            return;
        }
        log_warn("persister", "read: %s", r->str);
        schedule(ps, 1000);
        return;
    }
    redisReply *entries = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements >= 2)
        entries = r->element[0]->element[1]; /* [[stream, [entries]]] */
    if (!entries || entries->elements == 0) {
        ps->busy = false;
        if (ps->from_pending) {
            ps->from_pending = false; /* own backlog done: now new entries */
            persister_next(ps);
        } else {
            persister_next(ps); /* BLOCK timed out: ask again */
        }
        return;
    }
    collect(ps, entries);
    apply(ps);
}

static void on_autoclaim(redisAsyncContext *ac, void *reply, void *priv)
{
    struct persister *ps = priv;
    redisReply       *r = reply;
    (void)ac;
    if (ps->stopping || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        ps->busy = false;
        if (!ps->stopping)
            schedule(ps, 500);
        return;
    }
    redisReply *entries = r->element[1];
    if (entries->type == REDIS_REPLY_ARRAY && entries->elements > 0) {
        log_info("persister", "took over %zu entries from a dead consumer", entries->elements);
        collect(ps, entries);
        apply(ps);
        return;
    }
    ps->busy = false;
    persister_next(ps);
}

static void on_group(redisAsyncContext *ac, void *reply, void *priv)
{
    struct persister *ps = priv;
    redisReply       *r = reply;
    (void)ac;
    ps->busy = false;
    if (ps->stopping)
        return;
    if (!r) {
        schedule(ps, 500);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        log_warn("persister", "XGROUP CREATE: %s", r->str);
        schedule(ps, 1000);
        return;
    }
    ps->group_ready = true;
    ps->from_pending = true;
    persister_next(ps);
}

static void persister_next(struct persister *ps)
{
    if (ps->busy || ps->stopping)
        return;
    if (!ps->conn.up) {
        schedule(ps, 200);
        return;
    }
    char key[200];
    stream_key(ps, key, sizeof(key));
    ps->busy = true;
    int rc;
    if (!ps->group_ready) {
        /* From the start of the stream: entries written before any gssd ran still count. */
        const char *argv[] = {"XGROUP", "CREATE", key, "persist", "0", "MKSTREAM"};
        rc = rds_cmd(&ps->conn, on_group, ps, 6, argv, NULL);
    } else if (ps->from_pending) {
        const char *argv[] = {"XREADGROUP", "GROUP", "persist", ps->consumer, "COUNT", BATCH_MAX, "STREAMS", key, "0"};
        rc = rds_cmd(&ps->conn, on_read, ps, 9, argv, NULL);
    } else if (uv_now(ps->loop) >= ps->next_autoclaim) {
        ps->next_autoclaim = uv_now(ps->loop) + 10000;
        const char *argv[] = {"XAUTOCLAIM", key, "persist", ps->consumer, CLAIM_IDLE_MS, "0-0", "COUNT", BATCH_MAX};
        rc = rds_cmd(&ps->conn, on_autoclaim, ps, 8, argv, NULL);
    } else {
        const char *argv[] = {"XREADGROUP", "GROUP", "persist", ps->consumer, "COUNT", BATCH_MAX,
                              "BLOCK",      "1000",  "STREAMS", key,          ">"};
        rc = rds_cmd(&ps->conn, on_read, ps, 11, argv, NULL);
    }
    if (rc < 0) {
        ps->busy = false;
        schedule(ps, 200);
    }
}

static void on_tick(uv_timer_t *t)
{
    persister_next(t->data);
}

static void on_conn_up(struct rds *r)
{
    struct persister *ps = r->data;
    ps->from_pending = true; /* anything read but not acknowledged before the drop */
    persister_next(ps);
}

int persister_start(struct persister *ps, uv_loop_t *loop, const struct gss_config *cfg, struct pg_pool *pg,
                    struct pool_service *pool, int worker_id)
{
    memset(ps, 0, sizeof(*ps));
    ps->loop = loop;
    ps->cfg = cfg;
    ps->pg = pg;
    ps->pool = pool;
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    /* Stable across restarts of the same process (so it re-reads its own
     * pending entries), distinct between processes on one host (the listen
     * address tells them apart; workers sharing a port by their number). */
    snprintf(ps->consumer, sizeof(ps->consumer), "%s-%s-%d", host, cfg->listen, worker_id);
    if (rds_init(&ps->conn, loop, cfg->redis_url, "persist") < 0)
        return -1;
    ps->conn.data = ps;
    ps->conn.on_up = on_conn_up;
    uv_timer_init(loop, &ps->timer);
    ps->timer.data = ps;
    rds_start(&ps->conn);
    return 0;
}

void persister_stop(struct persister *ps)
{
    ps->stopping = true;
    uv_timer_stop(&ps->timer);
    uv_close((uv_handle_t *)&ps->timer, NULL);
    rds_close(&ps->conn);
}

void persister_free(struct persister *ps)
{
    free_ids(ps);
    free(ps->ids);
    buf_free(&ps->batch);
}

void persister_metrics(struct persister *ps, struct buf *b)
{
    buf_printf(b,
               "# TYPE gss_persister_batches_total counter\ngss_persister_batches_total %llu\n"
               "# TYPE gss_persister_entries_acked_total counter\ngss_persister_entries_acked_total %llu\n"
               "# TYPE gss_persister_claims_applied_total counter\ngss_persister_claims_applied_total %llu\n",
               (unsigned long long)ps->batches, (unsigned long long)ps->acked, (unsigned long long)ps->applied_claims);
}
