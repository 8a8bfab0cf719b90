/*
 * gssd check / gssd rebuild-pool: PostgreSQL (the record) against Redis
 * (the live pool).
 *
 * check prints one line per difference and exits 1 if there is any (2 when
 * a store cannot be reached): a ticket open or assigned in PostgreSQL
 * without its job in Redis; a job whose state, slot count, holders, slot
 * numbers or pool membership disagree; a job whose techs and slots records
 * disagree with each other; a job in the pool that PostgreSQL does not have
 * open; a technician whose active count differs; stream entries the
 * persister has not acknowledged yet (with the age of the oldest); and
 * every unresolved row of pool_dead_letters.
 *
 * rebuild-pool puts back what Redis lost, and is safe while gssd serves
 * claims. Redis is ahead of PostgreSQL by the persister's backlog, so a job
 * Redis still has is never overwritten from PostgreSQL by default (that is
 * how the old rebuild handed a slot out twice: it rewrote holders from a
 * PostgreSQL that did not have the newest claims yet). It:
 *   1. lists the open/assigned tickets whose job hash is missing in Redis
 *      (and, with --repair, the jobs that differ from PostgreSQL);
 *   2. waits (up to --wait seconds, default 30) until the persister has
 *      acknowledged every stream entry about those jobs, so PostgreSQL has
 *      all that Redis ever did with them; a job whose entries are still
 *      unacknowledged at the deadline is skipped;
 *   3. skips a job that has an unresolved dead letter (Redis did something
 *      with it that PostgreSQL never recorded: rebuilding would undo it);
 *   4. reads PostgreSQL again, then writes each job with rebuild_job.lua,
 *      atomically and only if Redis has not moved meanwhile: a missing job
 *      only if its hash is still missing (no claim can touch a job that
 *      does not exist, so nothing can have been lost in between), a repaired
 *      one only if its version is still the one step 1 saw;
 *   5. restores a technician's active count from PostgreSQL only where the
 *      technician's key is missing, closes stray jobs whose tickets are over
 *      (close.lua, as a cancel would), keeps seq rising and tells boards to
 *      resync.
 * It writes no stream entries for rebuilt jobs (PostgreSQL already has
 * them). Exit 0 when nothing was skipped, 1 otherwise (the reasons are
 * printed), 2 when a store cannot be reached.
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
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/embedded.h"
#include "store/pg.h"

struct ctx {
    PGconn       *pg;
    redisContext *rd;
    char          kp[160]; /* "P:{R}:" */
    char          stream[200];
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
    /* Every command below is answered within seconds or the tool fails. */
    redisSetTimeout(c->rd, tv);
    if (db)
        freeReplyObject(redisCommand(c->rd, "SELECT %d", db));
    snprintf(c->kp, sizeof(c->kp), "%s:{%s}:", cfg->redis_prefix, cfg->region);
    snprintf(c->stream, sizeof(c->stream), "%sevents", c->kp);
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

/* Tickets the pool should hold, with their board fields and holders:
 * 0 id, 1 code, 2 title, 3 area, 4 scheduled_at, 5 sched_ms, 6 urgent,
 * 7 techs_needed, 8 status, 9 holders "tech:slot,..." (by tech id),
 * 10 released "tech,..." (by tech id). */
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

static const char dead_sql[] =
    "SELECT stream_id, to_char(failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), coalesce(sqlstate, ''),"
    " error, payload::text FROM pool_dead_letters WHERE stream = $1 AND resolved_at IS NULL"
    " ORDER BY failed_at, stream_id";

static const char dead_jobs_sql[] = "SELECT DISTINCT (payload->>'job')::bigint FROM pool_dead_letters"
                                    " WHERE stream = $1 AND resolved_at IS NULL AND payload->>'job' ~ '^[0-9]{1,18}$'";

/* ---- small helpers ---------------------------------------------------------- */

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* A sorted set of ids. */
struct idset {
    long long *v;
    size_t     n, cap;
};

static void ids_add(struct idset *s, long long id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = id;
}

static void ids_sort(struct idset *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), cmp_ll);
}

static bool ids_has(const struct idset *s, long long id)
{
    return s->n && bsearch(&id, s->v, s->n, sizeof(*s->v), cmp_ll) != NULL;
}

static void ids_free(struct idset *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static const char *hget(redisReply *h, const char *f)
{
    if (!h || h->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && !strcmp(h->element[i]->str, f))
            return h->element[i + 1]->type == REDIS_REPLY_STRING ? h->element[i + 1]->str : NULL;
    return NULL;
}

static long long hget_int(redisReply *h, const char *f, long long dflt)
{
    if (!h || h->type != REDIS_REPLY_ARRAY)
        return dflt;
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && !strcmp(h->element[i]->str, f))
            return h->element[i + 1]->type == REDIS_REPLY_INTEGER  ? h->element[i + 1]->integer
                   : h->element[i + 1]->type == REDIS_REPLY_STRING ? atoll(h->element[i + 1]->str)
                                                                   : dflt;
    return dflt;
}

/* A pair of a set member or hash field and its value, sorted by id. */
struct pair {
    long long   tech;
    const char *slot;
};

static int cmp_pair(const void *a, const void *b)
{
    return cmp_ll(&((const struct pair *)a)->tech, &((const struct pair *)b)->tech);
}

/* Sorted, comma-joined members of a Redis set (numeric order, as PG sorts ids). */
static void set_joined(struct ctx *c, const char *key, struct buf *out)
{
    buf_reset(out);
    buf_puts(out, "");
    redisReply *r = redisCommand(c->rd, "SMEMBERS %s", key);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements) {
        long long *v = xcalloc(r->elements, sizeof(*v));
        for (size_t i = 0; i < r->elements; i++)
            v[i] = strtoll(r->element[i]->str, NULL, 10);
        qsort(v, r->elements, sizeof(*v), cmp_ll);
        for (size_t i = 0; i < r->elements; i++)
            buf_printf(out, "%s%lld", i ? "," : "", v[i]);
        free(v);
    }
    freeReplyObject(r);
}

/* The job's slots hash as "tech:slot,..." by tech id; *bad gets a
 * description of what makes it unsound against its techs set and
 * slots_total ("" when sound). */
static void slots_joined(struct ctx *c, const char *id, int total, struct buf *out, char *bad, size_t badlen)
{
    buf_reset(out);
    buf_puts(out, "");
    bad[0] = '\0';
    redisReply  *h = redisCommand(c->rd, "HGETALL %sjob:%s:slots", c->kp, id);
    redisReply  *t = redisCommand(c->rd, "SMEMBERS %sjob:%s:techs", c->kp, id);
    size_t       n = h && h->type == REDIS_REPLY_ARRAY ? h->elements / 2 : 0;
    struct pair *p = xcalloc(n ? n : 1, sizeof(*p));
    bool         used[11] = {false};
    for (size_t i = 0; i < n; i++) {
        p[i].tech = strtoll(h->element[2 * i]->str, NULL, 10);
        p[i].slot = h->element[2 * i + 1]->str;
        int s = atoi(p[i].slot);
        if (!bad[0] && (s < 1 || s > total || s > 10))
            snprintf(bad, badlen, "technician %lld has slot %s, outside 1..%d", p[i].tech, p[i].slot, total);
        else if (!bad[0] && used[s])
            snprintf(bad, badlen, "slot %d is held twice", s);
        if (s >= 1 && s <= 10)
            used[s] = true;
    }
    if (n)
        qsort(p, n, sizeof(*p), cmp_pair);
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "%s%lld:%s", i ? "," : "", p[i].tech, p[i].slot);
    /* techs and slots must name the same technicians */
    size_t nt = t && t->type == REDIS_REPLY_ARRAY ? t->elements : 0;
    for (size_t i = 0; i < nt && !bad[0]; i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = p[k].tech == strtoll(t->element[i]->str, NULL, 10);
        if (!found)
            snprintf(bad, badlen, "technician %s is in techs but has no slot", t->element[i]->str);
    }
    if (!bad[0] && nt != n)
        snprintf(bad, badlen, "%zu technician(s) have a slot but only %zu are in techs", n, nt);
    free(p);
    freeReplyObject(h);
    freeReplyObject(t);
}

static int count_pairs(const char *pairs)
{
    int n = 0;
    for (const char *p = pairs; *p; p++)
        n += *p == ':';
    return n;
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

static const struct gss_embedded *lua(const char *name)
{
    for (const struct gss_embedded *e = gss_lua_files; e->name; e++)
        if (!strcmp(e->name, name))
            return e;
    return NULL;
}

/* EVAL of an embedded script (prelude included); NULL if it is missing or
 * Redis failed. The caller frees the reply. */
static redisReply *eval(struct ctx *c, const char *name, int nkeys, int argc, const char **args)
{
    const struct gss_embedded *s = lua(name);
    if (!s)
        return NULL;
    char         nk[16];
    const char **argv = xcalloc((size_t)argc + 3, sizeof(char *));
    size_t      *lens = xcalloc((size_t)argc + 3, sizeof(size_t));
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = "EVAL";
    argv[1] = s->data;
    lens[1] = s->len;
    argv[2] = nk;
    for (int i = 0; i < argc; i++)
        argv[3 + i] = args[i];
    for (int i = 0; i < argc + 3; i++)
        if (i != 1)
            lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(c->rd, argc + 3, argv, lens);
    free(argv);
    free(lens);
    return r;
}

/* ---- the persister's lag ------------------------------------------------------ */

struct lag {
    long long pending, undelivered, now_ms, len;
    char      oldest[64]; /* "" none */
};

/* trim.lua without trimming. 0, or -1 (printed). */
static int read_lag(struct ctx *c, struct lag *l)
{
    memset(l, 0, sizeof(*l));
    const char *args[] = {c->stream, "persist", "0"};
    redisReply *r = eval(c, "trim", 1, 3, args);
    int         rc = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 6) {
        l->pending = r->element[0]->integer;
        l->undelivered = r->element[1]->integer;
        snprintf(l->oldest, sizeof(l->oldest), "%s", r->element[2]->str ? r->element[2]->str : "");
        l->now_ms = r->element[3]->integer;
        l->len = r->element[5]->integer;
        rc = 0;
    } else {
        fprintf(stderr, "gssd: reading the events stream: %s\n", r && r->type == REDIS_REPLY_ERROR ? r->str : "failed");
    }
    freeReplyObject(r);
    return rc;
}

/* Stream ids compared as numbers (ms, then seq). */
static int cmp_id(const char *a, const char *b)
{
    unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
    const char        *ad = strchr(a, '-'), *bd = strchr(b, '-');
    unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0, bs = bd ? strtoull(bd + 1, NULL, 10) : 0;
    if (am != bm)
        return am < bm ? -1 : 1;
    return as < bs ? -1 : as > bs;
}

/* The persist group's last-delivered id into ld (false: no such group). */
static bool group_last(struct ctx *c, char *ld, size_t n, long long *pending)
{
    bool        found = false;
    redisReply *g = redisCommand(c->rd, "XINFO GROUPS %s", c->stream);
    if (g && g->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < g->elements && !found; i++) {
            const char *name = hget(g->element[i], "name");
            if (!name || strcmp(name, "persist") != 0)
                continue;
            const char *l = hget(g->element[i], "last-delivered-id");
            snprintf(ld, n, "%s", l ? l : "0-0");
            *pending = hget_int(g->element[i], "pending", 0);
            found = true;
        }
    freeReplyObject(g);
    return found;
}

/* Whether the persist group has acknowledged stream entry id: delivered
 * (at or below last-delivered-id) and no longer pending. */
static bool acked(struct ctx *c, const char *id)
{
    char      ld[64];
    long long pending = 0;
    if (!group_last(c, ld, sizeof(ld), &pending)) {
        /* No group: every entry is still to be applied, unless the stream itself is gone. */
        redisReply *e = redisCommand(c->rd, "EXISTS %s", c->stream);
        bool        gone = e && e->type == REDIS_REPLY_INTEGER && e->integer == 0;
        freeReplyObject(e);
        return gone;
    }
    if (cmp_id(id, ld) > 0)
        return false;
    if (pending == 0)
        return true;
    redisReply *p = redisCommand(c->rd, "XPENDING %s persist %s %s 1", c->stream, id, id);
    bool        is_pending = p && p->type == REDIS_REPLY_ARRAY && p->elements > 0;
    bool        failed = !p || p->type == REDIS_REPLY_ERROR;
    freeReplyObject(p);
    return !is_pending && !failed;
}

/* A list of stream ids (owned strings) with the job each is about. */
struct waitlist {
    char     **id;
    long long *job;
    size_t     n, cap;
};

static void wl_free(struct waitlist *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->id[i]);
    free(w->id);
    free(w->job);
    memset(w, 0, sizeof(*w));
}

/* Every stream entry not yet acknowledged by the persist group whose job is
 * in jobs, into w. Scans from the oldest entry the group still needs. */
static int unacked_for(struct ctx *c, const struct idset *jobs, struct waitlist *w)
{
    struct lag l;
    if (read_lag(c, &l) < 0)
        return -1;
    if (!l.oldest[0] || jobs->n == 0)
        return 0;
    char start[72];
    snprintf(start, sizeof(start), "%s", l.oldest);
    for (;;) {
        redisReply *r = redisCommand(c->rd, "XRANGE %s %s + COUNT 1000", c->stream, start);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return -1;
        }
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
                continue;
            const char *job = hget(e->element[1], "job");
            if (!job || !ids_has(jobs, strtoll(job, NULL, 10)))
                continue;
            if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 64;
                w->id = xrealloc(w->id, w->cap * sizeof(*w->id));
                w->job = xrealloc(w->job, w->cap * sizeof(*w->job));
            }
            w->id[w->n] = xstrdup(e->element[0]->str);
            w->job[w->n++] = strtoll(job, NULL, 10);
        }
        size_t got = r->elements;
        if (got)
            snprintf(start, sizeof(start), "(%s", r->element[got - 1]->element[0]->str);
        freeReplyObject(r);
        if (got < 1000)
            return 0;
    }
}

/* Waits until every entry of w is acknowledged, for at most wait_s
 * seconds; afterwards w holds those that still are not. */
static void wait_acked(struct ctx *c, struct waitlist *w, int wait_s)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool said = false;
    for (;;) {
        size_t k = 0;
        for (size_t i = 0; i < w->n; i++) {
            if (acked(c, w->id[i])) {
                free(w->id[i]);
                continue;
            }
            w->id[k] = w->id[i];
            w->job[k++] = w->job[i];
        }
        w->n = k;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (w->n == 0 || now.tv_sec - t0.tv_sec >= wait_s)
            return;
        if (!said) {
            printf("waiting for the persister: %zu stream entr%s about those jobs not yet in PostgreSQL\n", w->n,
                   w->n == 1 ? "y" : "ies");
            fflush(stdout);
            said = true;
        }
        usleep(200 * 1000);
    }
}

/* ---- comparing one job ------------------------------------------------------ */

/* Compares ticket row i of t with its job in Redis. Prints each difference
 * when report (counting it in c->diffs); returns how many there are.
 * *version: the job's version, or -1 when Redis has no job hash. */
static int compare_job(struct ctx *c, PGresult *t, int i, bool report, long long *version)
{
    const char *id = PQgetvalue(t, i, 0), *code = PQgetvalue(t, i, 1), *status = PQgetvalue(t, i, 8);
    const char *pairs = PQgetvalue(t, i, 9);
    int         total = atoi(PQgetvalue(t, i, 7)), held = count_pairs(pairs), n = 0;
    struct buf  key = {0}, got = {0}, want = {0};
    char        bad[160];
#define NOTE(...)                                                                                                      \
    do {                                                                                                               \
        n++;                                                                                                           \
        if (report)                                                                                                    \
            diff(c, __VA_ARGS__);                                                                                      \
    } while (0)
    buf_printf(&key, "%sjob:%s", c->kp, id);
    redisReply *h = redisCommand(c->rd, "HGETALL %s", key.data);
    *version = -1;
    if (!h || h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
        NOTE("ticket %s (%s, %s): no job in Redis", id, code, status);
        goto done;
    }
    *version = hget_int(h, "version", 0);
    const char *state = hget(h, "state"), *rt = hget(h, "slots_total"), *rtaken = hget(h, "slots_taken");
    const char *want_state = held >= total ? "full" : "open";
    if (!state || strcmp(state, want_state) != 0)
        NOTE("ticket %s (%s): Redis state %s, PostgreSQL has %d of %d slots taken (%s)", id, code, state ? state : "-",
             held, total, want_state);
    if (!rt || atoi(rt) != total)
        NOTE("ticket %s (%s): Redis slots_total %s, PostgreSQL techs_needed %d", id, code, rt ? rt : "-", total);
    if (!rtaken || atoi(rtaken) != held)
        NOTE("ticket %s (%s): Redis slots_taken %s, PostgreSQL %d", id, code, rtaken ? rtaken : "-", held);
    buf_printf(&key, ":techs");
    set_joined(c, key.data, &got);
    tech_ids(pairs, &want);
    if (strcmp(got.data, want.data) != 0)
        NOTE("ticket %s (%s): technicians in Redis {%s}, in PostgreSQL {%s}", id, code, got.data, want.data);
    slots_joined(c, id, total, &got, bad, sizeof(bad));
    if (bad[0])
        NOTE("ticket %s (%s): Redis techs and slots disagree: %s", id, code, bad);
    if (strcmp(got.data, pairs) != 0)
        NOTE("ticket %s (%s): slots in Redis {%s}, in PostgreSQL {%s}", id, code, got.data, pairs);
    redisReply *z = redisCommand(c->rd, "ZSCORE %spool %s", c->kp, id);
    bool        in_pool = z && z->type == REDIS_REPLY_STRING;
    freeReplyObject(z);
    if (in_pool != (held < total))
        NOTE("ticket %s (%s): %s the pool but has %d of %d slots taken", id, code, in_pool ? "in" : "not in", held,
             total);
done:
#undef NOTE
    freeReplyObject(h);
    buf_free(&key);
    buf_free(&got);
    buf_free(&want);
    return n;
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

static bool ticket_listed(PGresult *t, const char *id)
{
    for (int k = 0; k < PQntuples(t); k++)
        if (!strcmp(PQgetvalue(t, k, 0), id))
            return true;
    return false;
}

/* ---- check ---------------------------------------------------------------- */

static void check_dead_letters(struct ctx *c)
{
    const char *p[1] = {c->stream};
    PGresult   *d = PQexecParams(c->pg, dead_sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(d) != PGRES_TUPLES_OK) {
        diff(c, "persister: cannot read pool_dead_letters (%s)", PQresultErrorMessage(d));
        PQclear(d);
        return;
    }
    int n = PQntuples(d);
    for (int i = 0; i < n && i < 20; i++) {
        /* the first line of the error (PostgreSQL's DETAIL follows on the next) */
        const char *err = PQgetvalue(d, i, 3);
        int         len = (int)strcspn(err, "\n");
        diff(c, "dead letter %s (%s UTC%s%s): %.*s; entry %s", PQgetvalue(d, i, 0), PQgetvalue(d, i, 1),
             *PQgetvalue(d, i, 2) ? ", sqlstate " : "", PQgetvalue(d, i, 2), len, err, PQgetvalue(d, i, 4));
    }
    if (n > 20) {
        printf("... and %d more dead letter(s)\n", n - 20);
        c->diffs += n - 20;
    }
    PQclear(d);
}

static int run_check(struct gss_config *cfg)
{
    struct ctx  c;
    const char *region = cfg->region;
    PGresult   *t = start(cfg, &c, "check");
    if (!t)
        return 2;
    long long version;
    for (int i = 0; i < PQntuples(t); i++) {
        compare_job(&c, t, i, true, &version);
        /* PostgreSQL against itself: the persister moves status with the slots. */
        int         total = atoi(PQgetvalue(t, i, 7)), held = count_pairs(PQgetvalue(t, i, 9));
        const char *status = PQgetvalue(t, i, 8);
        if ((!strcmp(status, "open")) != (held < total))
            diff(&c, "ticket %s (%s): status %s but %d of %d slots taken", PQgetvalue(t, i, 0), PQgetvalue(t, i, 1),
                 status, held, total);
    }
    redisReply *pool = redisCommand(c.rd, "ZRANGE %spool 0 -1", c.kp);
    if (pool && pool->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < pool->elements; i++)
            if (!ticket_listed(t, pool->element[i]->str))
                diff(&c, "job %s is in the Redis pool but its ticket is not open or assigned in PostgreSQL",
                     pool->element[i]->str);
    freeReplyObject(pool);
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
    /* The persister's backlog: not yet in PostgreSQL. */
    struct lag l;
    if (read_lag(&c, &l) < 0)
        c.diffs++;
    else if (l.pending || l.undelivered)
        diff(&c,
             "persister: %lld entries pending and %lld not yet delivered from the events stream; the oldest is "
             "%.1f s old",
             l.pending, l.undelivered, l.oldest[0] ? (double)(l.now_ms - atoll(l.oldest)) / 1000.0 : 0.0);
    check_dead_letters(&c);
    disconnect_all(&c);
    if (c.diffs) {
        printf("%d difference(s)\n", c.diffs);
        return 1;
    }
    printf("Redis and PostgreSQL agree\n");
    return 0;
}

/* ---- rebuild-pool ----------------------------------------------------------- */

static int find_row(PGresult *t, long long id)
{
    for (int k = 0; k < PQntuples(t); k++)
        if (strtoll(PQgetvalue(t, k, 0), NULL, 10) == id)
            return k;
    return -1;
}

/* Writes job row i of t with rebuild_job.lua. expect: "" (must be missing)
 * or the version it must still have. 1 written, 0 changed meanwhile, -1
 * refused (printed). */
static int write_job(struct ctx *c, PGresult *t, int i, const char *expect)
{
    const char *id = PQgetvalue(t, i, 0);
    char        k[5][220];
    snprintf(k[0], sizeof(k[0]), "%spool", c->kp);
    snprintf(k[1], sizeof(k[1]), "%sjob:%s", c->kp, id);
    snprintf(k[2], sizeof(k[2]), "%sjob:%s:techs", c->kp, id);
    snprintf(k[3], sizeof(k[3]), "%sjob:%s:banned", c->kp, id);
    snprintf(k[4], sizeof(k[4]), "%sjob:%s:slots", c->kp, id);
    char tech_prefix[200];
    snprintf(tech_prefix, sizeof(tech_prefix), "%stech:", c->kp);
    const char *args[] = {k[0],
                          k[1],
                          k[2],
                          k[3],
                          k[4],
                          id,
                          expect,
                          PQgetvalue(t, i, 1),
                          PQgetvalue(t, i, 2),
                          PQgetvalue(t, i, 3),
                          PQgetvalue(t, i, 4),
                          PQgetvalue(t, i, 5),
                          PQgetvalue(t, i, 6)[0] == 't' ? "1" : "0",
                          PQgetvalue(t, i, 7),
                          PQgetvalue(t, i, 9),
                          PQgetvalue(t, i, 10),
                          tech_prefix};
    redisReply *r = eval(c, "rebuild_job", 5, 17, args);
    int         rc = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING) {
        if (!strcmp(r->element[0]->str, "ok"))
            rc = 1;
        else if (r->element[1]->type == REDIS_REPLY_STRING && !strcmp(r->element[1]->str, "changed"))
            rc = 0;
        else
            printf("skipped ticket %s: PostgreSQL's record of it is not a valid job (%s)\n", id,
                   r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "?");
    } else {
        printf("skipped ticket %s: Redis said %s\n", id, r && r->type == REDIS_REPLY_ERROR ? r->str : "nothing");
    }
    freeReplyObject(r);
    return rc;
}

/* Closes a stray job (on the board, its ticket no longer open or assigned)
 * as a cancel would (close.lua: holders' counts, stream entry, live
 * message). A ticket in progress keeps it: its holders are still at work. */
static int close_stray(struct ctx *c, const char *id)
{
    const char *p[1] = {id};
    PGresult   *s = PQexecParams(c->pg, "SELECT status FROM tickets WHERE id = $1::bigint", 1, NULL, p, NULL, NULL, 0);
    const char *status = PQresultStatus(s) == PGRES_TUPLES_OK && PQntuples(s) ? PQgetvalue(s, 0, 0) : "";
    const char *reason = !*status || !strcmp(status, "cancelled") ? "cancelled" : "done";
    bool        in_progress = !strcmp(status, "in_progress");
    PQclear(s);
    if (in_progress) {
        printf("left job %s on the board: its ticket is in progress\n", id);
        return 0;
    }
    char k[6][220], now[24], tech_prefix[200];
    snprintf(k[0], sizeof(k[0]), "%spool", c->kp);
    snprintf(k[1], sizeof(k[1]), "%sjob:%s", c->kp, id);
    snprintf(k[2], sizeof(k[2]), "%sjob:%s:techs", c->kp, id);
    snprintf(k[3], sizeof(k[3]), "%sseq", c->kp);
    snprintf(k[4], sizeof(k[4]), "%s", c->stream);
    snprintf(k[5], sizeof(k[5]), "%sjob:%s:slots", c->kp, id);
    snprintf(tech_prefix, sizeof(tech_prefix), "%stech:", c->kp);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(now, sizeof(now), "%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    const char *args[] = {k[0], k[1], k[2], k[3], k[4], k[5], id, reason, c->channel, now, tech_prefix};
    redisReply *r = eval(c, "close", 6, 11, args);
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING &&
              !strcmp(r->element[0]->str, "ok");
    freeReplyObject(r);
    return ok ? 1 : 0;
}

static int run_rebuild(struct gss_config *cfg, bool repair, int wait_s)
{
    struct ctx  c;
    const char *region = cfg->region;
    if (connect_all(cfg, &c) < 0) {
        disconnect_all(&c);
        return 2;
    }
    /* The board before PostgreSQL: a job opened after this listing had its
     * ticket committed before it, so the reads below see that ticket. */
    redisReply *board = redisCommand(c.rd, "ZRANGE %spool 0 -1", c.kp);
    PGresult   *t = PQexecParams(c.pg, tickets_sql, 1, NULL, &region, NULL, NULL, 0);
    if (PQresultStatus(t) != PGRES_TUPLES_OK) {
        fprintf(stderr, "gssd rebuild-pool: %s", PQresultErrorMessage(t));
        PQclear(t);
        freeReplyObject(board);
        disconnect_all(&c);
        return 2;
    }
    int             skipped = 0, created = 0, repaired = 0, kept = 0, strays = 0, techs = 0;
    struct idset    missing = {0}, differ = {0}, targets = {0}, dead = {0}, blocked = {0};
    long long      *versions = xcalloc((size_t)PQntuples(t) + 1, sizeof(long long));
    struct waitlist w = {0};
    const char     *sp[1] = {c.stream};

    /* 1. What Redis lacks, and (--repair) where it differs. */
    for (int i = 0; i < PQntuples(t); i++) {
        long long id = strtoll(PQgetvalue(t, i, 0), NULL, 10);
        int       n = compare_job(&c, t, i, false, &versions[i]);
        if (versions[i] < 0)
            ids_add(&missing, id);
        else if (n && repair)
            ids_add(&differ, id);
        else
            kept++;
        if (versions[i] < 0 || (n && repair))
            ids_add(&targets, id);
    }
    ids_sort(&missing);
    ids_sort(&differ);
    ids_sort(&targets);

    /* 2. Everything Redis did with those jobs must be in PostgreSQL first. */
    if (unacked_for(&c, &targets, &w) < 0) {
        fprintf(stderr, "gssd rebuild-pool: cannot read the events stream\n");
        skipped = -1;
        goto out;
    }
    if (w.n)
        wait_acked(&c, &w, wait_s);
    for (size_t i = 0; i < w.n; i++)
        ids_add(&blocked, w.job[i]);
    ids_sort(&blocked);

    /* 3. And PostgreSQL must have recorded all of it. */
    PGresult *d = PQexecParams(c.pg, dead_jobs_sql, 1, NULL, sp, NULL, NULL, 0);
    if (PQresultStatus(d) != PGRES_TUPLES_OK) {
        fprintf(stderr, "gssd rebuild-pool: reading pool_dead_letters: %s(run gssd migrate?)\n",
                PQresultErrorMessage(d));
        PQclear(d);
        skipped = -1;
        goto out;
    }
    for (int i = 0; i < PQntuples(d); i++)
        ids_add(&dead, strtoll(PQgetvalue(d, i, 0), NULL, 10));
    ids_sort(&dead);
    PQclear(d);

    /* 4. PostgreSQL again, now that it has caught up. */
    PGresult *t1 = PQexecParams(c.pg, tickets_sql, 1, NULL, &region, NULL, NULL, 0);
    PGresult *a1 = PQexecParams(c.pg, active_sql, 1, NULL, &region, NULL, NULL, 0);
    if (PQresultStatus(t1) != PGRES_TUPLES_OK || PQresultStatus(a1) != PGRES_TUPLES_OK) {
        fprintf(stderr, "gssd rebuild-pool: %s", PQresultErrorMessage(PQresultStatus(t1) != PGRES_TUPLES_OK ? t1 : a1));
        PQclear(t1);
        PQclear(a1);
        skipped = -1;
        goto out;
    }

    /* 5a. Technicians whose key was lost, before their jobs come back (a
     * claim on a job that does not exist yet cannot race this). */
    for (int i = 0; i < PQntuples(a1); i++) {
        char key[220];
        snprintf(key, sizeof(key), "%stech:%s", c.kp, PQgetvalue(a1, i, 0));
        redisReply *r = redisCommand(c.rd, "EVAL %s 1 %s %s",
                                     "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
                                     "redis.call('HSET', KEYS[1], 'active', ARGV[1]) return 1",
                                     key, PQgetvalue(a1, i, 1));
        techs += r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
    }
    PQclear(a1);

    /* 5b. The jobs. */
    for (size_t pass = 0; pass < 2; pass++) {
        struct idset *set = pass == 0 ? &missing : &differ;
        for (size_t k = 0; k < set->n; k++) {
            long long id = set->v[k];
            int       row = find_row(t1, id);
            if (ids_has(&blocked, id)) {
                printf("skipped ticket %lld: the persister has not applied its latest stream entries within %d s"
                       " (is a gssd running? is PostgreSQL up?)\n",
                       id, wait_s);
                skipped++;
                continue;
            }
            if (ids_has(&dead, id)) {
                printf("skipped ticket %lld: it has an unresolved dead letter (gssd check lists it); PostgreSQL may "
                       "lack a claim Redis made\n",
                       id);
                skipped++;
                continue;
            }
            if (row < 0) {
                kept++; /* no longer open or assigned: nothing to put back */
                continue;
            }
            char expect[24] = "";
            if (pass == 1) {
                /* It may only have lagged: PostgreSQL has caught up since. */
                long long now_version;
                if (compare_job(&c, t1, row, false, &now_version) == 0) {
                    kept++;
                    continue;
                }
                /* The guard is the version seen BEFORE the wait: every change
                 * up to it is in PostgreSQL now. */
                snprintf(expect, sizeof(expect), "%lld", versions[find_row(t, id)]);
            }
            int rc = write_job(&c, t1, row, expect);
            if (rc > 0) {
                created += pass == 0;
                repaired += pass == 1;
            } else if (rc == 0 && pass == 0) {
                kept++; /* it appeared meanwhile (a new ticket's open): Redis has it now */
            } else {
                if (rc == 0)
                    printf("skipped ticket %lld: its job changed while rebuilding; run again\n", id);
                skipped++;
            }
        }
    }

    /* 5c. Strays: on the board, ticket over. */
    if (board && board->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < board->elements; i++)
            if (!ticket_listed(t1, board->element[i]->str))
                strays += close_stray(&c, board->element[i]->str);
    PQclear(t1);

    /* 5d. seq must keep rising for boards that saw the old one: restart a
     * lost counter from the clock (never backwards). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    freeReplyObject(redisCommand(c.rd, "EVAL %s 1 %sseq %lld",
                                 "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0 "
                                 "if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 1",
                                 c.kp, now_ms));
    freeReplyObject(redisCommand(c.rd, "PUBLISH %s {\"type\":\"resync\"}", c.channel));
    printf("pool rebuilt: %d job(s) recreated from PostgreSQL, %d repaired, %d kept as Redis has them, %d stray "
           "job(s) closed, %d technician count(s) restored, %d skipped\n",
           created, repaired, kept, strays, techs, skipped);
out:
    wl_free(&w);
    ids_free(&missing);
    ids_free(&differ);
    ids_free(&targets);
    ids_free(&dead);
    ids_free(&blocked);
    free(versions);
    freeReplyObject(board);
    PQclear(t);
    disconnect_all(&c);
    return skipped < 0 ? 2 : skipped > 0 ? 1 : 0;
}

const char *cli_extra_usage(void)
{
    return "  gssd check                   compare Redis with PostgreSQL; exit 1 on any difference\n"
           "  gssd rebuild-pool [--repair] [--wait S]\n"
           "                               put back the jobs Redis lost, from PostgreSQL, safely while gssd\n"
           "                               serves (waits up to S s, default 30, for the persister);\n"
           "                               --repair also rewrites jobs that differ from PostgreSQL\n"
           "  gssd telegram set-webhook [--url URL] [--drop-pending] | webhook-info | delete-webhook\n"
           "                               the bot's webhook: GSS_PUBLIC_URL/hooks/telegram with\n"
           "                               GSS_TELEGRAM_WEBHOOK_SECRET\n";
}

int cli_dispatch(struct gss_config *cfg, int argc, char **argv, int *handled)
{
    *handled = 1;
    if (!strcmp(argv[0], "check"))
        return run_check(cfg);
    if (!strcmp(argv[0], "rebuild-pool")) {
        bool repair = false;
        int  wait_s = 30;
        for (int i = 1; i < argc; i++) {
            if (!strcmp(argv[i], "--repair")) {
                repair = true;
            } else if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
                char *end;
                long  v = strtol(argv[++i], &end, 10);
                if (*end || v < 0 || v > 3600) {
                    fprintf(stderr, "gssd rebuild-pool: --wait takes seconds (0..3600)\n");
                    return 2;
                }
                wait_s = (int)v;
            } else {
                fprintf(stderr, "gssd rebuild-pool: unknown argument %s\n", argv[i]);
                return 2;
            }
        }
        return run_rebuild(cfg, repair, wait_s);
    }
    if (!strcmp(argv[0], "telegram"))
        return cli_telegram(cfg, argc, argv);
    *handled = 0;
    return 2;
}
