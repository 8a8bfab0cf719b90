/*
 * outbox: the sender. The contract (and the in-flight trade-off) is in
 * outbox.h; operations in docs/operations.md "Outgoing messages".
 *
 * One batch at a time, one transaction per batch, on the sender's own pool:
 *
 *   the fan-outs (telegram on): role-addressed rows become per-chat rows
 *       (Sales' approval, job posts, job edits)  -- autocommit, one statement each
 *   BEGIN (deadline GSS_PG_TX_TIMEOUT_MS)
 *   for each channel that is on: lock due rows, one per target not held
 *       back by a limit, at most the channel's global budget
 *       FOR NO KEY UPDATE SKIP LOCKED, then render the locked rows in a
 *       second statement (a snapshot taken after the lock) -- with what the
 *       journal holds
 *   per row: the journal's leftovers (a crash) decide, or the channel builds
 *       the request (or says the row waits / is malformed)
 *   journal: INSERT one entry per request       -- autocommit, other connection
 *   send every request (timeouts cut to the deadline)
 *   per answer: classify, journal the outcome   -- autocommit
 *   UPDATE every row's outcome, DELETE its journal entries; COMMIT
 *
 * A failure anywhere before the sends rolls back and sends nothing; after
 * them, the journal carries the outcomes to the next batch (outbox.h).
 * Besides the batch, two autocommit statements on the same pool: the
 * "channel off" note on queued rows of an off channel, and the /metrics
 * sample every OUTBOX_STATS_MS.
 */
#include "integrations/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yyjson.h>

#include "core/jw.h"
#include "core/log.h"
#include "store/pg.h"

#define OUTBOX_CHANNELS        8
#define OUTBOX_STATS_MS        5000 /* the /metrics sample */
#define OUTBOX_OFF_MARK_MS     2000 /* an off channel's note on its queued rows, at most this often */
#define OUTBOX_OFF_GRACE_POLLS 60   /* ... on rows queued this many polls (a minute by default) */
#define OUTBOX_BACKOFF_CAP     3600000
#define OUTBOX_MIN_SEND_MS     200 /* less than this left of the deadline: the row waits for the next batch */
#define LIM_BUCKETS            256

/* ---- small helpers ----------------------------------------------------------- */

void outbox_req_clear(struct outbox_req *r)
{
    free(r->url);
    for (int i = 0; i < OUTBOX_HEADERS; i++)
        free(r->headers[i]);
    buf_free(&r->body);
    memset(r, 0, sizeof(*r));
}

void outbox_verdict_clear(struct outbox_verdict *v)
{
    free(v->new_target);
    free(v->new_payload);
    v->new_target = v->new_payload = NULL;
}

int64_t outbox_backoff_ms(int64_t base_ms, int attempt, uint64_t rnd)
{
    if (base_ms < 1)
        base_ms = 1;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < OUTBOX_BACKOFF_CAP; i++)
        d *= 2;
    if (d > OUTBOX_BACKOFF_CAP)
        d = OUTBOX_BACKOFF_CAP;
    int64_t half = d / 2;
    return half + (int64_t)(rnd % (uint64_t)(d - half + 1));
}

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64*: jitter only, nothing secret */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

/* ---- the limiter --------------------------------------------------------------- */

struct lim_log {
    uint64_t *t; /* ring of send times, oldest at head */
    int       cap, len, head;
};

struct lim_key {
    struct lim_key    *next;
    char              *key;
    struct lim_log     log;
    struct outbox_rate rates[OUTBOX_RATES];
    int                nrates;
    uint64_t           blocked_until;
};

struct outbox_limiter {
    struct outbox_rate global;
    struct lim_log     glog;
    struct lim_key    *b[LIM_BUCKETS];
};

static void log_push(struct lim_log *g, uint64_t now)
{
    if (g->cap == 0)
        return;
    if (g->len < g->cap) {
        g->t[(g->head + g->len) % g->cap] = now;
        g->len++;
    } else {
        g->t[g->head] = now;
        g->head = (g->head + 1) % g->cap;
    }
}

/* k = 1: the newest. */
static uint64_t *log_recent(const struct lim_log *g, int k)
{
    return &g->t[(g->head + g->len - k) % g->cap];
}

static uint64_t log_next(const struct lim_log *g, const struct outbox_rate *r, int n, uint64_t now)
{
    uint64_t at = now;
    for (int i = 0; i < n; i++) {
        if (r[i].n <= 0 || g->len < r[i].n)
            continue;
        uint64_t s = *log_recent(g, r[i].n) + (uint64_t)r[i].window_ms + OUTBOX_RATE_MARGIN_MS;
        if (s > at)
            at = s;
    }
    return at;
}

static void log_grow(struct lim_log *g, int cap)
{
    if (cap <= g->cap)
        return;
    uint64_t *t = xcalloc((size_t)cap, sizeof(*t));
    for (int i = 0; i < g->len; i++)
        t[i] = g->t[(g->head + i) % g->cap];
    free(g->t);
    g->t = t;
    g->cap = cap;
    g->head = 0;
}

static unsigned lim_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % LIM_BUCKETS;
}

static struct lim_key *lim_find(const struct outbox_limiter *l, const char *key)
{
    for (struct lim_key *k = l->b[lim_hash(key)]; k; k = k->next)
        if (!strcmp(k->key, key))
            return k;
    return NULL;
}

static struct lim_key *lim_get(struct outbox_limiter *l, const char *key)
{
    struct lim_key *k = lim_find(l, key);
    if (k)
        return k;
    unsigned h = lim_hash(key);
    k = xcalloc(1, sizeof(*k));
    k->key = xstrdup(key);
    k->next = l->b[h];
    l->b[h] = k;
    return k;
}

struct outbox_limiter *outbox_limiter_new(struct outbox_rate global)
{
    struct outbox_limiter *l = xcalloc(1, sizeof(*l));
    l->global = global;
    if (global.n > 0)
        log_grow(&l->glog, global.n);
    return l;
}

void outbox_limiter_free(struct outbox_limiter *l)
{
    if (!l)
        return;
    for (int i = 0; i < LIM_BUCKETS; i++)
        while (l->b[i]) {
            struct lim_key *k = l->b[i];
            l->b[i] = k->next;
            free(k->key);
            free(k->log.t);
            free(k);
        }
    free(l->glog.t);
    free(l);
}

int outbox_limiter_budget(const struct outbox_limiter *l, uint64_t now)
{
    if (l->global.n <= 0)
        return OUTBOX_BATCH;
    int inside = 0;
    for (int k = 1; k <= l->glog.len; k++) {
        if (*log_recent(&l->glog, k) + (uint64_t)l->global.window_ms + OUTBOX_RATE_MARGIN_MS <= now)
            break;
        inside++;
    }
    return l->global.n - inside;
}

uint64_t outbox_limiter_global_next(const struct outbox_limiter *l, uint64_t now)
{
    return log_next(&l->glog, &l->global, 1, now);
}

uint64_t outbox_limiter_next(const struct outbox_limiter *l, const char *key, uint64_t now)
{
    const struct lim_key *k = lim_find(l, key);
    if (!k)
        return now;
    uint64_t at = log_next(&k->log, k->rates, k->nrates, now);
    return k->blocked_until > at ? k->blocked_until : at;
}

void outbox_limiter_record(struct outbox_limiter *l, const char *key, const struct outbox_rate *rates, int n,
                           uint64_t now)
{
    log_push(&l->glog, now);
    struct lim_key *k = lim_get(l, key);
    int             cap = 1;
    if (n > OUTBOX_RATES)
        n = OUTBOX_RATES;
    for (int i = 0; i < n; i++) {
        k->rates[i] = rates[i];
        if (rates[i].n > cap)
            cap = rates[i].n;
    }
    k->nrates = n;
    log_grow(&k->log, cap);
    log_push(&k->log, now);
}

void outbox_limiter_answered(struct outbox_limiter *l, const char *key, uint64_t now)
{
    struct lim_key *k = lim_find(l, key);
    if (k && k->log.len > 0 && *log_recent(&k->log, 1) < now)
        *log_recent(&k->log, 1) = now;
}

void outbox_limiter_settle(struct outbox_limiter *l, uint64_t since, uint64_t now)
{
    /* the batch's sends are the newest entries */
    for (int k = 1; k <= l->glog.len; k++) {
        uint64_t *s = log_recent(&l->glog, k);
        if (*s < since)
            break;
        if (*s < now)
            *s = now;
    }
}

void outbox_limiter_block(struct outbox_limiter *l, const char *key, uint64_t until)
{
    struct lim_key *k = lim_get(l, key);
    if (until > k->blocked_until)
        k->blocked_until = until;
}

void outbox_limiter_blocked(struct outbox_limiter *l, uint64_t now, void (*fn)(void *ud, const char *key, uint64_t at),
                            void *ud)
{
    for (int i = 0; i < LIM_BUCKETS; i++)
        for (struct lim_key **pp = &l->b[i]; *pp;) {
            struct lim_key *k = *pp;
            uint64_t        at = log_next(&k->log, k->rates, k->nrates, now);
            if (k->blocked_until > at)
                at = k->blocked_until;
            if (at > now) {
                fn(ud, k->key, at);
                pp = &k->next;
                continue;
            }
            /* Allowed now: keep it while its newest send is inside its
             * longest window, since a second send may not be allowed. */
            int64_t longest = 0;
            for (int r = 0; r < k->nrates; r++)
                if (k->rates[r].window_ms > longest)
                    longest = k->rates[r].window_ms;
            if (k->log.len && *log_recent(&k->log, 1) + (uint64_t)longest + OUTBOX_RATE_MARGIN_MS > now) {
                pp = &k->next;
                continue;
            }
            *pp = k->next;
            free(k->key);
            free(k->log.t);
            free(k);
        }
}

/* ---- the sender's state ----------------------------------------------------------- */

struct outbox;

struct ob_chan {
    struct outbox         *ob;
    struct outbox_channel  ch;
    struct outbox_limiter *lim;
    uint64_t               paused_until;  /* loop ms: its credentials were refused */
    uint64_t               off_marked_at; /* loop ms of the last "channel off" note */
    bool                   off_busy;
    /* this batch */
    int      limit;   /* rows asked for */
    bool     filled;  /* got as many as asked: more may be due */
    uint64_t unblock; /* the earliest time a target held back is free (0: none) */
    /* counters since start */
    uint64_t sent, retries, failed, unreachable, waiting, cancelled, in_doubt, recovered, requests;
    /* the last /metrics sample */
    int64_t q_queued, q_failed, q_unreachable;
    double  oldest_s;
};

struct ob_item {
    struct outbox        *ob;
    struct ob_chan       *c;
    struct outbox_row     row; /* points into the strings below */
    char                 *kind, *target, *payload;
    int64_t              *prior; /* journal entries found on the row */
    int                   nprior;
    int                   prior_inc; /* attempts those entries used up */
    bool                  in_doubt;  /* the last one has no outcome */
    bool                  send;      /* a request goes out in this batch */
    bool                  keep_jid;  /* our entry stays: cut off after the request left */
    int64_t               jid;       /* our journal entry */
    struct ihttp_call    *call;
    struct outbox_req     req;
    struct outbox_verdict v;
    bool                  have_v; /* v is the row's outcome in this batch */
    bool                  sent_now;
    const char           *note; /* prefixed to last_error */
};

struct outbox {
    uv_loop_t            *loop;
    struct ihttp         *http;
    struct outbox_options opt;
    struct pg_pool        pool;
    struct ob_chan        chans[OUTBOX_CHANNELS];
    int                   nchans;
    uv_timer_t            poll, stats;
    bool                  started, stopping, pool_closed;
    char                  worker[160]; /* pid@host, in the journal */
    char                  ts_chat[64]; /* opt.tg_ts_chat, copied ("" none) */
    uint64_t              rnd;
    /* the batch in hand */
    bool            busy, again;
    int             fan_step; /* the fan-out running before the batch (FAN_*) */
    struct pg_tx   *tx;
    struct ob_item *items;
    int             nitems, chan_i, pending_http, pending_journal;
    uint64_t        deadline; /* loop ms */
    uint64_t        sent_at;  /* loop ms the batch's requests left */
    /* /metrics */
    bool     stats_busy;
    uint64_t stats_at; /* loop ms of the last sample; 0: none yet */
    uint64_t batches, batch_errors, journal_errors, skipped_deadline;
};

static void tick(struct outbox *ob);
static void end_batch(struct outbox *ob, bool ok);
static void write_outcomes(struct outbox *ob);
static void prepare(struct outbox *ob);

static void on_poll(uv_timer_t *t)
{
    tick(t->data);
}

static void schedule(struct outbox *ob, uint64_t delay_ms)
{
    if (!ob->stopping)
        uv_timer_start(&ob->poll, on_poll, delay_ms, 0);
}

/* ---- SQL ------------------------------------------------------------------------ */

/* Two statements, lock then render (the transaction is READ COMMITTED, so
 * each has a snapshot of its own).
 *
 * lock_sql: $1 channel, $2 targets held back (text[]), $3 limit. The inner
 * query picks the oldest due row of each target; the outer one locks them,
 * skipping rows another sender holds, and re-checks status and due time on
 * the row's latest version (a row another sender just committed as sent is
 * not returned).
 *
 * render_sql: $1 the ids locked. The payload is what gss_outbox_render
 * (0011_outbox_render.sql) makes of the row: rows written with ids only are
 * rendered from the tables as they are now, so a message says what is true
 * when it leaves. "Now" is this statement's snapshot, taken after the lock:
 * everything committed before the row was locked is in it. Rendering in the
 * locking statement (its snapshot older than the lock) let a change commit
 * in between, and the job edit fan-out, which decides by a post's lock
 * whether the post still shows it (docs/telegram.md "Job broadcasts"), then
 * dropped the edit while the post went out stale. The journal's entries of
 * each row come along. */
static const char lock_sql[] =
    "SELECT o.id FROM outbox o"
    " WHERE o.status = 'queued' AND o.channel = $1 AND o.next_attempt_at <= now()"
    "   AND o.id IN (SELECT DISTINCT ON (q.target) q.id FROM outbox q"
    "     WHERE q.status = 'queued' AND q.channel = $1 AND q.next_attempt_at <= now()"
    "       AND q.target <> ALL ($2::text[])"
    "     ORDER BY q.target, q.next_attempt_at, q.id)"
    " ORDER BY o.next_attempt_at, o.id LIMIT $3::int"
    " FOR NO KEY UPDATE OF o SKIP LOCKED";

static const char render_sql[] =
    "SELECT o.id, o.kind, o.target, gss_outbox_render(o.id, o.kind, o.channel, o.payload)::text, o.attempts,"
    " (SELECT json_agg(json_build_object('id', a.id, 'outcome', a.outcome, 'counts', a.counts,"
    "   'delay_ms', a.delay_ms, 'provider_id', a.provider_id, 'detail', a.detail,"
    "   'age_ms', (extract(epoch FROM clock_timestamp() - coalesce(a.finished_at, a.started_at)) * 1000)::bigint)"
    "   ORDER BY a.id)::text FROM outbox_attempts a WHERE a.outbox_id = o.id)"
    " FROM outbox o WHERE o.id = ANY ($1::bigint[])"
    " ORDER BY o.next_attempt_at, o.id";

static const char journal_sql[] =
    "INSERT INTO outbox_attempts (outbox_id, worker) SELECT unnest($1::bigint[]), $2 RETURNING id, outbox_id";

static const char journal_done_sql[] =
    "UPDATE outbox_attempts SET outcome = $2, counts = $3::boolean, delay_ms = $4::bigint, provider_id = $5,"
    " detail = $6, finished_at = clock_timestamp() WHERE id = $1::bigint";

/* $1 the outcomes as a JSON array, $2 the journal entries they settle. */
static const char final_sql[] =
    "WITH v AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(id bigint, status text, inc int, delay_ms bigint,"
    "   err text, pid text, target text, payload jsonb)),"
    " j AS (DELETE FROM outbox_attempts WHERE id = ANY ($2::bigint[]))"
    " UPDATE outbox o SET status = v.status, attempts = o.attempts + v.inc,"
    "  next_attempt_at = CASE WHEN v.delay_ms IS NULL THEN o.next_attempt_at"
    "                    ELSE clock_timestamp() + v.delay_ms * interval '1 millisecond' END,"
    "  last_error = v.err, provider_id = coalesce(v.pid, o.provider_id),"
    "  sent_at = CASE WHEN v.status = 'sent' THEN clock_timestamp() ELSE o.sent_at END,"
    "  target = coalesce(v.target, o.target), payload = coalesce(v.payload, o.payload)"
    " FROM v WHERE o.id = v.id";

/* A channel that is off: its queued rows say so, once they have waited
 * $3 ms (OUTBOX_OFF_GRACE_POLLS polls: what a sender with the channel on
 * would have sent by then; a fresh row is not written to at once, so a
 * page that shows it does not change under the reader's eyes for
 * nothing). SKIP LOCKED: never wait for a sender elsewhere that has the
 * channel on. */
static const char off_sql[] = "UPDATE outbox SET last_error = $2 WHERE id IN (SELECT id FROM outbox"
                              " WHERE status = 'queued' AND channel = $1 AND last_error IS DISTINCT FROM $2"
                              "   AND created_at <= now() - $3::bigint * interval '1 millisecond'"
                              " ORDER BY id LIMIT 5000 FOR UPDATE SKIP LOCKED)";

/* By the partial index outbox_unsent_idx (0007): the sent rows, the bulk
 * of the table, are not read. */
static const char stats_sql[] =
    "SELECT channel, status, count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8"
    " FROM outbox WHERE status IN ('queued', 'failed', 'unreachable') GROUP BY channel, status";

static const char *outcome_status(enum outbox_outcome o)
{
    switch (o) {
    case OUTBOX_SENT: return "sent";
    case OUTBOX_FAILED: return "failed";
    case OUTBOX_UNREACHABLE: return "unreachable";
    case OUTBOX_CANCELLED: return "cancelled";
    case OUTBOX_RETRY:
    case OUTBOX_WAIT: return "queued";
    }
    return "queued";
}

static const char *outcome_journal(enum outbox_outcome o)
{
    switch (o) {
    case OUTBOX_SENT: return "sent";
    case OUTBOX_FAILED:
    case OUTBOX_CANCELLED: return "failed"; /* never journalled: no request is made for it */
    case OUTBOX_UNREACHABLE: return "unreachable";
    case OUTBOX_RETRY:
    case OUTBOX_WAIT: return "retry";
    }
    return "retry";
}

/* A PostgreSQL array literal of strings: {"a","b"} with " and \ escaped
 * (the caller closes it). */
static void array_add(struct buf *b, const char *s)
{
    buf_putc(b, b->len ? ',' : '{');
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(b, '\\');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

/* ---- items -------------------------------------------------------------------- */

static void item_clear(struct ob_item *it)
{
    free(it->kind);
    free(it->target);
    free(it->payload);
    free(it->prior);
    outbox_req_clear(&it->req);
    outbox_verdict_clear(&it->v);
    memset(it, 0, sizeof(*it));
}

static void items_clear(struct outbox *ob)
{
    for (int i = 0; i < ob->nitems; i++)
        item_clear(&ob->items[i]);
    ob->nitems = 0;
}

/* What earlier senders left in the journal for this row (outbox.h). */
static void recover(struct ob_item *it, const char *journal)
{
    if (!journal || !*journal)
        return;
    yyjson_doc *doc = yyjson_read(journal, strlen(journal), 0);
    yyjson_val *arr = doc ? yyjson_doc_get_root(doc) : NULL;
    if (!yyjson_is_arr(arr) || yyjson_arr_size(arr) == 0) {
        yyjson_doc_free(doc);
        return;
    }
    size_t      n = yyjson_arr_size(arr), i, max;
    yyjson_val *e, *sent = NULL, *last = NULL;
    it->prior = xcalloc(n, sizeof(*it->prior));
    yyjson_arr_foreach(arr, i, max, e)
    {
        const char *oc = yyjson_get_str(yyjson_obj_get(e, "outcome"));
        it->prior[it->nprior++] = yyjson_get_sint(yyjson_obj_get(e, "id"));
        if (!oc || strcmp(oc, "retry") != 0 || yyjson_get_bool(yyjson_obj_get(e, "counts")))
            it->prior_inc++;
        if (oc && !strcmp(oc, "sent") && !sent)
            sent = e;
        last = e;
    }
    struct outbox_verdict *v = &it->v;
    yyjson_val            *pick = sent ? sent : last;
    const char            *oc = yyjson_get_str(yyjson_obj_get(pick, "outcome"));
    const char            *pid = yyjson_get_str(yyjson_obj_get(pick, "provider_id"));
    const char            *detail = yyjson_get_str(yyjson_obj_get(pick, "detail"));
    if (!oc) {
        it->in_doubt = true;
        it->note = "the previous attempt was cut off after the request left (gssd stopped): this message may have "
                   "been delivered twice";
        yyjson_doc_free(doc);
        return;
    }
    it->have_v = true;
    snprintf(v->provider_id, sizeof(v->provider_id), "%s", pid ? pid : "");
    snprintf(v->detail, sizeof(v->detail), "%s", detail ? detail : "");
    if (!strcmp(oc, "sent"))
        v->outcome = OUTBOX_SENT;
    else if (!strcmp(oc, "failed"))
        v->outcome = OUTBOX_FAILED;
    else if (!strcmp(oc, "unreachable"))
        v->outcome = OUTBOX_UNREACHABLE;
    else {
        v->outcome = OUTBOX_RETRY;
        int64_t left =
            yyjson_get_sint(yyjson_obj_get(pick, "delay_ms")) - yyjson_get_sint(yyjson_obj_get(pick, "age_ms"));
        v->delay_ms = left > 0 ? left : 0;
    }
    it->c->recovered++;
    yyjson_doc_free(doc);
}

static void add_rows(struct outbox *ob, struct ob_chan *c, PGresult *res)
{
    int n = PQntuples(res);
    if (!ob->items)
        ob->items = xcalloc(OUTBOX_BATCH, sizeof(*ob->items));
    for (int r = 0; r < n && ob->nitems < OUTBOX_BATCH; r++) {
        struct ob_item *it = &ob->items[ob->nitems++];
        memset(it, 0, sizeof(*it));
        it->ob = ob;
        it->c = c;
        it->row.id = atoll(PQgetvalue(res, r, 0));
        it->kind = xstrdup(PQgetvalue(res, r, 1));
        it->target = xstrdup(PQgetvalue(res, r, 2));
        it->payload = xstrdup(PQgetvalue(res, r, 3));
        it->row.attempts = atoi(PQgetvalue(res, r, 4));
        it->row.kind = it->kind;
        it->row.target = it->target;
        it->row.payload = it->payload;
        it->jid = -1;
        recover(it, PQgetisnull(res, r, 5) ? NULL : PQgetvalue(res, r, 5));
    }
    c->filled = n >= c->limit;
}

/* The verdict as the row will have it: give-up, the backoff, pauses and blocks. */
static void settle(struct ob_item *it, uint64_t now)
{
    struct outbox         *ob = it->ob;
    struct outbox_verdict *v = &it->v;
    int                    done = it->row.attempts + it->prior_inc; /* attempts used before this one */
    if (v->outcome == OUTBOX_RETRY) {
        if (v->counts && done + 1 >= ob->opt.max_attempts) {
            char why[sizeof(v->detail)];
            snprintf(why, sizeof(why), "%s", v->detail);
            snprintf(v->detail, sizeof(v->detail), "gave up after %d attempts: %.440s", done + 1, why);
            v->outcome = OUTBOX_FAILED;
            return;
        }
        if (v->delay_ms < 0)
            v->delay_ms = outbox_backoff_ms(ob->opt.backoff_ms, done + 1, next_rand(&ob->rnd));
        else
            outbox_limiter_block(it->c->lim, it->target, now + (uint64_t)v->delay_ms);
        if (v->channel_down && now + (uint64_t)v->delay_ms > it->c->paused_until)
            it->c->paused_until = now + (uint64_t)v->delay_ms;
    } else if (v->outcome == OUTBOX_WAIT && v->delay_ms < 0) {
        v->delay_ms = OUTBOX_PARK_MS;
    }
}

/* ---- the batch ------------------------------------------------------------------ */

static void on_final(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg);
static void on_commit(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg);
static void on_journal_done(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg);

struct blocked_ctx {
    struct buf     *arr;
    struct ob_chan *c;
};

static void on_blocked(void *ud, const char *key, uint64_t at)
{
    struct blocked_ctx *b = ud;
    array_add(b->arr, key);
    if (!b->c->unblock || at < b->c->unblock)
        b->c->unblock = at;
}

static void on_rows(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg);
static void on_locked(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg);

static void next_select(struct outbox *ob)
{
    uint64_t now = uv_now(ob->loop);
    for (; ob->chan_i < ob->nchans; ob->chan_i++) {
        struct ob_chan *c = &ob->chans[ob->chan_i];
        if (c->ch.off_reason || c->paused_until > now)
            continue;
        int room = OUTBOX_BATCH - ob->nitems;
        int budget = outbox_limiter_budget(c->lim, now);
        c->limit = room < budget ? room : budget;
        if (c->limit <= 0) {
            c->filled = true; /* more may be due: look again when the window frees */
            continue;
        }
        struct buf         arr = {0};
        struct blocked_ctx bc = {&arr, c};
        outbox_limiter_blocked(c->lim, now, on_blocked, &bc);
        if (arr.len == 0)
            buf_putc(&arr, '{');
        buf_putc(&arr, '}');
        buf_putc(&arr, '\0');
        char lim[16];
        snprintf(lim, sizeof(lim), "%d", c->limit);
        const char *p[3] = {c->ch.name, arr.data, lim};
        int         rc = pg_tx_query(ob->tx, lock_sql, 3, p, on_locked, ob);
        buf_free(&arr);
        if (rc < 0) {
            pg_tx_rollback(ob->tx);
            ob->tx = NULL;
            end_batch(ob, false);
        }
        return;
    }
    prepare(ob); /* every channel asked: on to the rows */
}

/* The channel's due rows are locked: render them (render_sql). */
static void on_locked(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct outbox *ob = ud;
    (void)tx;
    if (err != PG_OK) {
        log_warn("outbox", "locking due rows failed (%s %s): %s", pg_err_name(err), state ? state : "",
                 msg ? msg : "");
        pg_tx_rollback(ob->tx);
        ob->tx = NULL;
        end_batch(ob, false);
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        ob->chans[ob->chan_i].filled = false;
        ob->chan_i++;
        next_select(ob);
        return;
    }
    struct buf ids = {0};
    for (int r = 0; r < n; r++) {
        buf_putc(&ids, r ? ',' : '{');
        buf_puts(&ids, PQgetvalue(res, r, 0));
    }
    buf_putc(&ids, '}');
    buf_putc(&ids, '\0');
    const char *p[1] = {ids.data};
    int         rc = pg_tx_query(ob->tx, render_sql, 1, p, on_rows, ob);
    buf_free(&ids);
    if (rc < 0) {
        pg_tx_rollback(ob->tx);
        ob->tx = NULL;
        end_batch(ob, false);
    }
}

static void on_rows(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct outbox *ob = ud;
    (void)tx;
    if (err != PG_OK) {
        log_warn("outbox", "rendering due rows failed (%s %s): %s", pg_err_name(err), state ? state : "",
                 msg ? msg : "");
        pg_tx_rollback(ob->tx);
        ob->tx = NULL;
        end_batch(ob, false);
        return;
    }
    add_rows(ob, &ob->chans[ob->chan_i], res);
    ob->chan_i++;
    next_select(ob);
}

static void on_journal(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg);

/* Every row of the batch is locked: decide what each needs. */
static void prepare(struct outbox *ob)
{
    if (ob->stopping) {
        pg_tx_rollback(ob->tx); /* nothing done yet: the rows go back as they were */
        ob->tx = NULL;
        end_batch(ob, true);
        return;
    }
    uint64_t   now = uv_now(ob->loop);
    struct buf ids = {0};
    for (int i = 0; i < ob->nitems; i++) {
        struct ob_item *it = &ob->items[i];
        if (it->have_v) { /* the journal said how it ended */
            settle(it, now);
            continue;
        }
        if (it->in_doubt && it->row.attempts + it->prior_inc >= ob->opt.max_attempts) {
            it->have_v = true;
            it->v.outcome = OUTBOX_FAILED;
            snprintf(it->v.detail, sizeof(it->v.detail),
                     "gave up after %d attempts, the last cut off after the request left (gssd stopped): it may "
                     "have been delivered",
                     it->row.attempts + it->prior_inc);
            continue;
        }
        it->v.delay_ms = -1;
        if (it->c->ch.build(it->c->ch.ctx, &it->row, &it->req, &it->v) != 0) {
            it->have_v = true;
            outbox_req_clear(&it->req);
            if (it->v.outcome != OUTBOX_WAIT && it->v.outcome != OUTBOX_FAILED && it->v.outcome != OUTBOX_CANCELLED)
                it->v.outcome = OUTBOX_FAILED;
            settle(it, now);
            continue;
        }
        it->send = true;
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)it->row.id);
        buf_putc(&ids, ids.len ? ',' : '{');
        buf_puts(&ids, id);
    }
    if (ids.len == 0) {
        write_outcomes(ob);
        return;
    }
    if (ob->pool.up < 2) {
        /* The journal needs the pool's other connection (ours is pinned):
         * with it down, the INSERT would wait for this very transaction.
         * Send nothing now; the rows go back as they were. */
        buf_free(&ids);
        pg_tx_rollback(ob->tx);
        ob->tx = NULL;
        end_batch(ob, false);
        return;
    }
    buf_putc(&ids, '}');
    buf_putc(&ids, '\0');
    const char *p[2] = {ids.data, ob->worker};
    int         rc = pg_query(&ob->pool, journal_sql, 2, p, on_journal, ob);
    buf_free(&ids);
    if (rc < 0) {
        ob->journal_errors++;
        pg_tx_rollback(ob->tx);
        ob->tx = NULL;
        end_batch(ob, false);
    }
}

static void on_answer(void *ud, struct ihttp_call *call, const struct ihttp_response *res);

static void send_all(struct outbox *ob)
{
    uint64_t now = uv_now(ob->loop);
    ob->sent_at = now;
    int64_t    left = (int64_t)(ob->deadline - now) - OUTBOX_TX_RESERVE_MS;
    int64_t    timeout = ob->opt.send_timeout_ms < left ? ob->opt.send_timeout_ms : left;
    struct buf dropped = {0};
    for (int i = 0; i < ob->nitems; i++) {
        struct ob_item *it = &ob->items[i];
        if (!it->send)
            continue;
        if (timeout < OUTBOX_MIN_SEND_MS || it->jid < 0) {
            /* Not enough of the deadline left (a slow database), or no
             * journal entry: untouched, the next batch takes it. */
            it->send = false;
            ob->skipped_deadline++;
            if (it->jid >= 0) {
                buf_putc(&dropped, dropped.len ? ',' : '{');
                buf_printf(&dropped, "%lld", (long long)it->jid);
                it->jid = -1;
            }
            continue;
        }
        struct outbox_rate   rates[OUTBOX_RATES];
        int                  nr = it->c->ch.target_rates ? it->c->ch.target_rates(it->c->ch.ctx, it->target, rates) : 0;
        struct ihttp_request rq = {
            .method = "POST",
            .url = it->req.url,
            .headers = (const char *const *)it->req.headers,
            .body = it->req.body.data,
            .body_len = it->req.body.len,
            .timeout_ms = timeout,
        };
        it->call = ihttp_send(ob->http, &rq, on_answer, it);
        if (!it->call) {
            it->send = false; /* closing (or a URL libcurl refuses): untouched */
            buf_putc(&dropped, dropped.len ? ',' : '{');
            buf_printf(&dropped, "%lld", (long long)it->jid);
            it->jid = -1;
            continue;
        }
        outbox_limiter_record(it->c->lim, it->target, rates, nr, now);
        it->c->requests++;
        if (it->in_doubt)
            it->c->in_doubt++;
        ob->pending_http++;
    }
    if (dropped.len) {
        /* Journal entries of requests that never left: drop them now,
         * outside the transaction (which may be past its deadline), or the
         * next sender would take them for cut-off attempts. */
        buf_putc(&dropped, '}');
        buf_putc(&dropped, '\0');
        const char *p[1] = {dropped.data};
        if (pg_query(&ob->pool, "DELETE FROM outbox_attempts WHERE id = ANY ($1::bigint[])", 1, p, on_journal_done,
                     ob) == 0)
            ob->pending_journal++;
        buf_free(&dropped);
    }
    if (ob->pending_http == 0)
        write_outcomes(ob);
}

static void on_journal(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct outbox *ob = ud;
    if (err != PG_OK) {
        /* Nothing was sent: without its journal entry a request is not
         * made. The rows go back as they were. */
        ob->journal_errors++;
        log_warn("outbox", "journal insert failed (%s %s): %s", pg_err_name(err), state ? state : "", msg ? msg : "");
        pg_tx_rollback(ob->tx);
        ob->tx = NULL;
        end_batch(ob, false);
        return;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t jid = atoll(PQgetvalue(res, r, 0)), oid = atoll(PQgetvalue(res, r, 1));
        for (int i = 0; i < ob->nitems; i++)
            if (ob->items[i].row.id == oid && ob->items[i].send)
                ob->items[i].jid = jid;
    }
    send_all(ob);
}

/* The batch's own UPDATE does not wait for the journal's outcome writes:
 * they are only for a batch that never commits. Waiting would also be a
 * deadlock while the pool has one connection up (ours, pinned). If the
 * commit comes first, the late journal UPDATE finds its entry deleted. */
static void maybe_write(struct outbox *ob)
{
    if (ob->pending_http == 0)
        write_outcomes(ob);
}

static void on_journal_done(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct outbox *ob = ud;
    (void)res;
    ob->pending_journal--;
    if (err != PG_OK && err != PG_ERR_DOWN) {
        ob->journal_errors++;
        log_warn("outbox", "journal outcome write failed (%s %s): %s", pg_err_name(err), state ? state : "",
                 msg ? msg : "");
    }
}

static void on_answer(void *ud, struct ihttp_call *call, const struct ihttp_response *res)
{
    struct ob_item *it = ud;
    struct outbox  *ob = it->ob;
    (void)call;
    it->call = NULL;
    ob->pending_http--;
    uint64_t now = uv_now(ob->loop);
    outbox_limiter_answered(it->c->lim, it->target, now);
    if (res->err == IHTTP_ERR_CANCELLED) {
        /* Shutdown cut it off. Sent: in doubt, the journal entry stays for
         * the next sender; not sent: nothing happened. The row is untouched. */
        it->keep_jid = res->request_sent;
        maybe_write(ob);
        return;
    }
    it->v.delay_ms = -1;
    it->c->ch.classify(it->c->ch.ctx, &it->row, res, &it->v);
    if (it->v.outcome == OUTBOX_WAIT || it->v.outcome == OUTBOX_CANCELLED) {
        /* not a thing an answer can say: a retry that costs nothing */
        it->v.outcome = OUTBOX_RETRY;
        it->v.counts = false;
    }
    if (res->err != IHTTP_OK && res->request_sent && it->v.outcome == OUTBOX_RETRY) {
        size_t l = strlen(it->v.detail);
        snprintf(it->v.detail + l, sizeof(it->v.detail) - l, "%s",
                 " (the request had left: the provider may have it, so the retry may deliver it twice)");
    }
    it->have_v = true;
    it->sent_now = true;
    settle(it, now);
    char        jid[24], delay[24];
    const char *oc = outcome_journal(it->v.outcome);
    snprintf(jid, sizeof(jid), "%lld", (long long)it->jid);
    snprintf(delay, sizeof(delay), "%lld", (long long)(it->v.outcome == OUTBOX_RETRY ? it->v.delay_ms : 0));
    const char *p[6] = {jid,
                        oc,
                        it->v.counts ? "true" : "false",
                        delay,
                        it->v.provider_id[0] ? it->v.provider_id : NULL,
                        it->v.detail[0] ? it->v.detail : NULL};
    if (pg_query(&ob->pool, journal_done_sql, 6, p, on_journal_done, ob) == 0)
        ob->pending_journal++;
    else
        ob->journal_errors++; /* the batch's own commit still records it */
    maybe_write(ob);
}

/* Every answer is in (or cut off): the rows' outcomes, their journal
 * entries settled, COMMIT. */
static void write_outcomes(struct outbox *ob)
{
    struct buf v = {0}, jids = {0};
    /* Every request of the batch has arrived by now, if it ever will: the
     * global windows count them from here (outbox.h), so arrivals at the
     * provider are never closer together than the limits, however the
     * requests were spread on the way. */
    if (ob->sent_at) {
        uint64_t now = uv_now(ob->loop);
        for (int i = 0; i < ob->nchans; i++)
            outbox_limiter_settle(ob->chans[i].lim, ob->sent_at, now);
        ob->sent_at = 0;
    }
    jw_arr(&v);
    for (int i = 0; i < ob->nitems; i++) {
        struct ob_item *it = &ob->items[i];
        bool            settle_journal = it->have_v;
        if (settle_journal) {
            for (int k = 0; k < it->nprior; k++) {
                buf_putc(&jids, jids.len ? ',' : '{');
                buf_printf(&jids, "%lld", (long long)it->prior[k]);
            }
        }
        if (it->jid >= 0 && !it->keep_jid) {
            buf_putc(&jids, jids.len ? ',' : '{');
            buf_printf(&jids, "%lld", (long long)it->jid);
        }
        if (!it->have_v)
            continue;
        struct outbox_verdict *vd = &it->v;
        int                    inc = it->prior_inc;
        if (it->sent_now && (vd->outcome != OUTBOX_RETRY || vd->counts))
            inc++;
        char err[sizeof(vd->detail) + 200];
        if (it->note && vd->detail[0])
            snprintf(err, sizeof(err), "%s; %s", it->note, vd->detail);
        else
            snprintf(err, sizeof(err), "%s", it->note ? it->note : vd->detail);
        jw_obj(&v);
        jw_key_int(&v, "id", it->row.id);
        jw_key_str(&v, "status", outcome_status(vd->outcome));
        jw_key_int(&v, "inc", inc);
        jw_key(&v, "delay_ms");
        if (vd->outcome == OUTBOX_RETRY || vd->outcome == OUTBOX_WAIT)
            jw_int(&v, vd->delay_ms < 0 ? 0 : vd->delay_ms);
        else
            jw_null(&v);
        jw_key_str(&v, "err", err[0] ? err : NULL);
        jw_key_str(&v, "pid", vd->outcome == OUTBOX_SENT && vd->provider_id[0] ? vd->provider_id : NULL);
        jw_key_str(&v, "target", vd->new_target);
        jw_key(&v, "payload");
        if (vd->new_payload)
            jw_raw(&v, vd->new_payload);
        else
            jw_null(&v);
        jw_end_obj(&v);
    }
    jw_end_arr(&v);
    buf_putc(&v, '\0');
    if (jids.len == 0 && v.len == 3) { /* "[]": nothing to write */
        buf_free(&v);
        if (pg_tx_commit(ob->tx, on_commit, ob) < 0) {
            pg_tx_rollback(ob->tx);
            ob->tx = NULL;
            end_batch(ob, false);
        }
        return;
    }
    if (jids.len == 0)
        buf_putc(&jids, '{');
    buf_putc(&jids, '}');
    buf_putc(&jids, '\0');
    const char *p[2] = {v.data, jids.data};
    int         rc = pg_tx_query(ob->tx, final_sql, 2, p, on_final, ob);
    buf_free(&v);
    buf_free(&jids);
    if (rc < 0) {
        pg_tx_rollback(ob->tx);
        ob->tx = NULL;
        end_batch(ob, false);
    }
}

static void on_commit(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct outbox *ob = ud;
    (void)tx;
    (void)res;
    ob->tx = NULL;
    if (err != PG_OK) {
        log_warn("outbox", "commit failed (%s %s): %s; the journal keeps what was sent", pg_err_name(err),
                 state ? state : "", msg ? msg : "");
        end_batch(ob, false);
        return;
    }
    for (int i = 0; i < ob->nitems; i++) {
        struct ob_item *it = &ob->items[i];
        if (!it->have_v)
            continue;
        struct ob_chan *c = it->c;
        switch (it->v.outcome) {
        case OUTBOX_SENT: c->sent++; break;
        case OUTBOX_RETRY: c->retries++; break;
        case OUTBOX_WAIT: c->waiting++; break;
        case OUTBOX_CANCELLED: c->cancelled++; break;
        case OUTBOX_FAILED:
            c->failed++;
            log_warn("outbox", "%s row %lld (%s) failed: %s", c->ch.name, (long long)it->row.id, it->kind,
                     it->v.detail);
            break;
        case OUTBOX_UNREACHABLE:
            c->unreachable++;
            log_info("outbox", "%s row %lld (%s) unreachable: %s", c->ch.name, (long long)it->row.id, it->kind,
                     it->v.detail);
            break;
        }
    }
    end_batch(ob, true);
}

static void on_final(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct outbox *ob = ud;
    (void)res;
    if (err != PG_OK) {
        log_warn("outbox", "writing outcomes failed (%s %s): %s; the journal keeps what was sent", pg_err_name(err),
                 state ? state : "", msg ? msg : "");
        pg_tx_rollback(tx);
        ob->tx = NULL;
        end_batch(ob, false);
        return;
    }
    if (pg_tx_commit(tx, on_commit, ob) < 0) {
        pg_tx_rollback(tx);
        ob->tx = NULL;
        end_batch(ob, false);
    }
}

static void close_pool(struct outbox *ob)
{
    if (!ob->pool_closed) {
        ob->pool_closed = true;
        pg_pool_close(&ob->pool);
    }
}

static void end_batch(struct outbox *ob, bool ok)
{
    uint64_t now = uv_now(ob->loop);
    uint64_t wake = now + (uint64_t)ob->opt.poll_ms;
    ob->batches++;
    if (!ok)
        ob->batch_errors++;
    if (ok) {
        for (int i = 0; i < ob->nchans; i++) {
            struct ob_chan *c = &ob->chans[i];
            if (c->filled) {
                uint64_t at = outbox_limiter_global_next(c->lim, now);
                if (at < wake)
                    wake = at;
            }
            if (c->unblock && c->unblock < wake)
                wake = c->unblock;
            if (c->paused_until > now && c->paused_until < wake)
                wake = c->paused_until;
        }
    }
    items_clear(ob);
    ob->busy = false;
    ob->pending_http = 0;
    if (ob->stopping) {
        close_pool(ob);
        return;
    }
    schedule(ob, ob->again ? 0 : (wake > now ? wake - now : 0));
}

/*
 * Sales' approval fan-out (docs/telegram.md), right before the batch's
 * transaction (fan_next), so the rows it makes go out in this very batch and
 * the SELECT never sees a source row (it is due no more). A queued
 * invoice.pending_approval row for 'role:sales' (submit writes it with the
 * invoice's id and version only) becomes one row per active sales or admin
 * account with a linked chat: target tg:<chat>, payload {"approval": the
 * invoice as it is now, in tg_approval_payload's shape}, idem_key
 * <source idem_key>:tg:<user id> (ON CONFLICT DO NOTHING: a batch rolled
 * back after this and run again adds nothing). The source row then is
 *   - sent, provider_id 'fanout:<n>' (n accounts), when the invoice is
 *     still pending_approval at the row's version;
 *   - cancelled, last_error saying so, when the invoice has moved on
 *     (approved on the web, revised, edited: the message would lie);
 *   - left queued with last_error "no linked Sales account" and looked at
 *     again after OUTBOX_PARK_MS, when nobody is linked: a Sales who links
 *     later still gets it while it is pending, CS sees why on the invoice,
 *     and the web queue shows the invoice meanwhile.
 * Only rows that name their invoice (the invoice_id column, as submit
 * writes them); another such row is left to the SELECT, which parks it
 * as having no message builder.
 * SKIP LOCKED, like the SELECT: two senders never fan one row out twice.
 * The invoice is locked too, FOR SHARE, SKIP LOCKED, and its status and
 * version are read from that lock (the statement's snapshot may be older):
 * an approve or revise (invoices.c, hooks_telegram.c) holds the invoice FOR
 * NO KEY UPDATE, which FOR SHARE conflicts with (FOR KEY SHARE would not).
 * So either the handler holds it first: the source is skipped, stays due,
 * the batch's SELECT sees it and parks it ~1.5 s (approval_wait, 0016), and
 * the next fan-out finds the invoice moved on and cancels it; or this
 * statement holds it first: the handler waits for this autocommit, and its
 * trigger (0016 gss_approval_edits_queue) then sees the per-chat rows and
 * queues their edits. Without the lock a fan-out that saw the invoice still
 * pending could commit its rows after the trigger looked for them: the
 * message went out with a live Approve button and no edit.
 * Only while the telegram channel is on (off, the rows stay as submit
 * wrote them, with the channel's "off" note).
 */
static const char fanout_sql[] =
    "WITH src AS ("
    "  SELECT o.id, o.idem_key, o.invoice_id, gss_json_bigint(o.payload->>'version') AS version,"
    "    iv.status AS inv_status, iv.version AS inv_version FROM outbox o JOIN invoices iv ON iv.id = o.invoice_id"
    "  WHERE o.status = 'queued' AND o.channel = 'telegram' AND o.kind = 'invoice.pending_approval'"
    "    AND o.target = 'role:sales' AND o.invoice_id IS NOT NULL AND o.next_attempt_at <= now()"
    "  ORDER BY o.id LIMIT 64 FOR NO KEY UPDATE OF o SKIP LOCKED FOR SHARE OF iv SKIP LOCKED),"
    " cur AS ("
    "  SELECT s.id AS src_id, s.idem_key, i.id AS invoice_id, i.ticket_id,"
    "    jsonb_build_object('invoice_id', i.id, 'version', i.version, 'number', i.number, 'customer', cu.name,"
    "      'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('description', it.description, 'qty', it.qty,"
    "                 'unit_price', it.unit_price, 'line_total', it.line_total) ORDER BY it.pos), '[]'::jsonb)"
    "               FROM invoice_items it WHERE it.invoice_id = i.id),"
    "      'subtotal', i.subtotal, 'discount', i.discount, 'tax', i.tax, 'total', i.total) AS approval"
    "  FROM src s JOIN invoices i ON i.id = s.invoice_id AND i.status = 'pending_approval' AND i.version = s.version"
    "   AND s.inv_status = 'pending_approval' AND s.inv_version = s.version"
    "  JOIN tickets t ON t.id = i.ticket_id JOIN customers cu ON cu.id = t.customer_id),"
    " who AS (SELECT u.id, u.telegram_chat_id FROM users u"
    "  WHERE u.active AND u.role IN ('sales', 'admin') AND u.telegram_chat_id IS NOT NULL),"
    " ins AS ("
    "  INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, invoice_id)"
    "  SELECT 'telegram', 'invoice.pending_approval', 'tg:' || w.telegram_chat_id,"
    "         jsonb_build_object('approval', c.approval), c.idem_key || ':tg:' || w.id, c.ticket_id, c.invoice_id"
    "  FROM cur c CROSS JOIN who w ON CONFLICT (idem_key) DO NOTHING RETURNING id),"
    " n AS (SELECT count(*) AS n FROM who)"
    " UPDATE outbox o SET"
    "   status = CASE WHEN c.src_id IS NULL THEN 'cancelled' WHEN n.n > 0 THEN 'sent' ELSE 'queued' END,"
    "   sent_at = CASE WHEN c.src_id IS NOT NULL AND n.n > 0 THEN now() ELSE o.sent_at END,"
    "   provider_id = CASE WHEN c.src_id IS NOT NULL AND n.n > 0 THEN 'fanout:' || n.n ELSE o.provider_id END,"
    "   last_error = CASE WHEN c.src_id IS NULL"
    "                  THEN 'the invoice is no longer waiting for approval at version '"
    "                       || coalesce(s.version::text, '(none)')"
    "                WHEN n.n > 0 THEN NULL"
    "                ELSE 'no linked Sales account: waiting for a Sales to link Telegram' END,"
    "   next_attempt_at = CASE WHEN c.src_id IS NOT NULL AND n.n = 0"
    "                       THEN now() + $1::bigint * interval '1 millisecond' ELSE o.next_attempt_at END"
    " FROM src s LEFT JOIN cur c ON c.src_id = s.id CROSS JOIN n"
    " WHERE o.id = s.id"; /* ins runs whether read or not (a data-modifying WITH always does) */

/*
 * The job broadcasts' fan-out (docs/telegram.md "Job broadcasts";
 * db/migrations/0012_job_posts.sql writes the source rows), right after
 * Sales' one, autocommit alike, SKIP LOCKED alike.
 *
 * A queued job.post for 'role:technicians' becomes one row per chat: the
 * technicians' group 'tg:<GSS_TELEGRAM_TS_CHAT>' (idem_key <source>:group)
 * and, with GSS_TELEGRAM_JOB_DM, each active technician with a linked chat
 * (<source>:u<user id>); the payload ({"round","urgent"}) is copied, the
 * text is rendered when each row leaves (gss_job_render). The source is then
 * sent ('fanout:<n>'), cancelled when the ticket is no longer open, or left
 * queued, parked OUTBOX_PARK_MS, with last_error saying there is no chat.
 * The source's ticket is locked FOR KEY SHARE up front, SKIP LOCKED like the
 * source: the rows inserted need that lock (their foreign key), and taking
 * it after the source's while tickets.c's withdrawal DELETE holds the ticket
 * and waits for the source (0012's BEFORE DELETE trigger) was a deadlock. A
 * new ticket's source is not due before its job opened in the pool anyway
 * (0017_job_fixes.sql: the grace).
 * $1 park ms, $2 the group's chat id ('' none), $3 the DM switch.
 */
static const char job_post_fanout_sql[] =
    "WITH src AS ("
    "  SELECT o.id, o.idem_key, o.ticket_id, o.payload FROM outbox o JOIN tickets tk ON tk.id = o.ticket_id"
    "  WHERE o.status = 'queued' AND o.channel = 'telegram' AND o.kind = 'job.post'"
    "    AND o.target = 'role:technicians' AND o.ticket_id IS NOT NULL AND o.next_attempt_at <= now()"
    "  ORDER BY o.id LIMIT 64 FOR NO KEY UPDATE OF o SKIP LOCKED FOR KEY SHARE OF tk SKIP LOCKED),"
    " live AS (SELECT s.* FROM src s JOIN tickets t ON t.id = s.ticket_id AND t.status = 'open'),"
    " chats AS ("
    "  SELECT 'tg:' || $2::text AS target, 'group' AS who WHERE $2::text <> ''"
    "  UNION ALL SELECT 'tg:' || u.telegram_chat_id, 'u' || u.id FROM users u"
    "  WHERE $3::boolean AND u.active AND u.role = 'ts' AND u.telegram_chat_id IS NOT NULL"
    "    AND u.telegram_chat_id::text <> $2::text),"
    " ins AS ("
    "  INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id)"
    "  SELECT 'telegram', 'job.post', c.target, l.payload, l.idem_key || ':' || c.who, l.ticket_id"
    "  FROM live l CROSS JOIN chats c ON CONFLICT (idem_key) DO NOTHING RETURNING id),"
    " n AS (SELECT count(*) AS n FROM chats)"
    " UPDATE outbox o SET"
    "   status = CASE WHEN l.id IS NULL THEN 'cancelled' WHEN n.n > 0 THEN 'sent' ELSE 'queued' END,"
    "   sent_at = CASE WHEN l.id IS NOT NULL AND n.n > 0 THEN now() ELSE o.sent_at END,"
    "   provider_id = CASE WHEN l.id IS NOT NULL AND n.n > 0 THEN 'fanout:' || n.n ELSE o.provider_id END,"
    "   last_error = CASE WHEN l.id IS NULL THEN 'the job is no longer open: not announced'"
    "                WHEN n.n > 0 THEN NULL"
    "                ELSE 'no chat for job broadcasts: GSS_TELEGRAM_TS_CHAT unset, and GSS_TELEGRAM_JOB_DM off"
    " or no technician linked' END,"
    "   next_attempt_at = CASE WHEN l.id IS NOT NULL AND n.n = 0"
    "                       THEN now() + $1::bigint * interval '1 millisecond' ELSE o.next_attempt_at END"
    " FROM src s LEFT JOIN live l ON l.id = s.id CROSS JOIN n"
    " WHERE o.id = s.id";

/*
 * A queued job.edit for 'role:technicians' (one per transaction that changed
 * what the message shows) becomes one row per job message of its ticket
 * that may not show the change, target that chat, payload {"post_id": <that
 * row>, "state": the job's phase as this statement sees it}, idem_key
 * <source>:<post row>. Of several sources of one ticket only the newest is
 * fanned out (the render reads the tables, so they would all say the same);
 * the others are cancelled. Older edits of the same message still queued,
 * and not locked by a sender that is sending them now, are cancelled too,
 * "superseded by a later edit": the last state wins and the group's 20 a
 * minute go to states, not to steps. An older edit with journal entries is
 * not cancelled (a sender sent it and crashed or failed to commit): the next
 * sender settles it from the journal (read after the lock, as for idle).
 * (The rows this statement inserts are not in its snapshot, so only older
 * ones are cancelled.) A ticket with no
 * job message to edit: the source is cancelled.
 *
 * Which job messages: each per-chat job.post row sent, and each still
 * queued but not "idle". Idle is a post row this statement locks (no sender
 * holds it) and whose journal is empty, read after the lock
 * (gss_outbox_journaled, a fresh snapshot): no request of it has left, so
 * the sender that takes it later renders it after the lock is released,
 * after this statement, after the change (render_sql). Anything else gets
 * an edit: a post a sender holds (rendered, maybe before the change), and a
 * post with journal entries (a sender sent it and then crashed or failed to
 * commit: the next sender takes the journal's word that it was sent and
 * renders nothing). The edit waits (job_wait) until the post is sent.
 *
 * So after the last change to a job commits, every job message gets an edit
 * rendered after that commit, or is itself rendered after it: the change's
 * source row is fanned out by a statement that starts after the commit;
 * an edit it inserts is rendered after the statement commits (render_sql
 * after the lock); an edit cancelled as superseded has a later one; and a
 * post it leaves alone is idle, as above.
 *
 * The technicians' private copies (GSS_TELEGRAM_JOB_DM; post rows whose
 * idem_key does not end ":group") are edited only when the job is not open
 * (PENUH, DIBATALKAN, SELESAI: the button goes) or when the copy may show
 * such a state (the newest edit of it was for one: the button comes back).
 * The k/N of an open job is the group's: N technicians linked would make
 * every claim cost N+1 edits of the 30 a second. That decision holds too:
 * a copy's newest edit stamped "open" can only be rendered as not open if a
 * later change made the job not open, and that change's fan-out, seeing it
 * so or later, inserts a newer edit.
 *
 * The source's ticket is locked FOR KEY SHARE up front (see the post
 * fan-out).
 */
static const char job_edit_fanout_sql[] =
    "WITH src AS ("
    "  SELECT o.id, o.idem_key, o.ticket_id FROM outbox o JOIN tickets tk ON tk.id = o.ticket_id"
    "  WHERE o.status = 'queued' AND o.channel = 'telegram' AND o.kind = 'job.edit'"
    "    AND o.target = 'role:technicians' AND o.ticket_id IS NOT NULL AND o.next_attempt_at <= now()"
    "  ORDER BY o.id LIMIT 256 FOR NO KEY UPDATE OF o SKIP LOCKED FOR KEY SHARE OF tk SKIP LOCKED),"
    " last AS (SELECT DISTINCT ON (s.ticket_id) s.id, s.idem_key, s.ticket_id FROM src s"
    "  ORDER BY s.ticket_id, s.id DESC),"
    " phase AS ("
    "  SELECT l.ticket_id, CASE WHEN gss_job_phase(t.status) = 'open' AND (SELECT count(*) FROM assignments a"
    "     WHERE a.ticket_id = t.id AND a.released_at IS NULL) >= t.techs_needed THEN 'full'"
    "    ELSE gss_job_phase(t.status) END AS state"
    "  FROM last l JOIN tickets t ON t.id = l.ticket_id),"
    " free AS MATERIALIZED ("
    "  SELECT q.id FROM outbox q WHERE q.ticket_id IN (SELECT ticket_id FROM last) AND q.kind = 'job.post'"
    "   AND q.channel = 'telegram' AND q.target LIKE 'tg:%' AND q.status = 'queued'"
    "  FOR NO KEY UPDATE OF q SKIP LOCKED),"
    " idle AS (SELECT f.id FROM free f WHERE NOT gss_outbox_journaled(f.id)),"
    " posts AS ("
    "  SELECT l.id AS src_id, l.idem_key, l.ticket_id, p.id AS post_id, p.target, ph.state FROM last l"
    "  JOIN phase ph ON ph.ticket_id = l.ticket_id"
    "  JOIN outbox p ON p.ticket_id = l.ticket_id AND p.kind = 'job.post' AND p.channel = 'telegram'"
    "   AND p.target LIKE 'tg:%' AND (p.status = 'sent' OR (p.status = 'queued'"
    "   AND p.id NOT IN (SELECT id FROM idle)))"
    "  WHERE p.idem_key LIKE '%:group' OR ph.state <> 'open'"
    "   OR coalesce((SELECT e.payload->>'state' FROM outbox e WHERE e.ticket_id = p.ticket_id"
    "      AND e.kind = 'job.edit' AND e.target LIKE 'tg:%' AND e.payload->>'post_id' = p.id::text"
    "      ORDER BY e.id DESC LIMIT 1), 'open') <> 'open'),"
    " ins AS ("
    "  INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id)"
    "  SELECT 'telegram', 'job.edit', x.target, jsonb_build_object('post_id', x.post_id, 'state', x.state),"
    "         x.idem_key || ':' || x.post_id, x.ticket_id"
    "  FROM posts x ON CONFLICT (idem_key) DO NOTHING RETURNING id),"
    " lk AS MATERIALIZED ("
    "  SELECT e.id FROM outbox e JOIN posts x ON e.ticket_id = x.ticket_id AND e.target = x.target"
    "   AND e.payload->>'post_id' = x.post_id::text"
    "  WHERE e.status = 'queued' AND e.channel = 'telegram' AND e.kind = 'job.edit'"
    "  FOR NO KEY UPDATE OF e SKIP LOCKED),"
    " old AS (SELECT l.id FROM lk l WHERE NOT gss_outbox_journaled(l.id)),"
    " sup AS (UPDATE outbox e SET status = 'cancelled', last_error = 'superseded by a later edit'"
    "  FROM old WHERE e.id = old.id RETURNING 1),"
    " n AS (SELECT src_id, count(*) AS n FROM posts GROUP BY src_id)"
    " UPDATE outbox o SET"
    "   status = CASE WHEN n.src_id IS NOT NULL THEN 'sent' ELSE 'cancelled' END,"
    "   sent_at = CASE WHEN n.src_id IS NOT NULL THEN now() ELSE o.sent_at END,"
    "   provider_id = CASE WHEN n.src_id IS NOT NULL THEN 'fanout:' || n.n ELSE o.provider_id END,"
    "   last_error = CASE WHEN n.src_id IS NOT NULL THEN NULL"
    "                WHEN s.id IN (SELECT id FROM last) THEN 'no job message to edit (or only private copies of"
    " an open job: the group shows its k/N)'"
    "                ELSE 'superseded by a later edit' END"
    " FROM src s LEFT JOIN n ON n.src_id = s.id"
    " WHERE o.id = s.id"; /* ins and sup run whether read or not */

/* The fan-outs' steps: Sales' approval, job posts, job edits. */
enum { FAN_APPROVAL, FAN_JOB_POSTS, FAN_JOB_EDITS, FAN_DONE };

static void fan_next(struct outbox *ob);

static void on_begin(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct outbox *ob = ud;
    (void)res;
    if (err != PG_OK) {
        log_debug("outbox", "begin failed (%s %s): %s", pg_err_name(err), state ? state : "", msg ? msg : "");
        end_batch(ob, false);
        return;
    }
    ob->tx = tx;
    ob->deadline = uv_now(ob->loop) + (uint64_t)ob->opt.tx_timeout_ms;
    next_select(ob);
}

static void begin_batch(struct outbox *ob)
{
    if (pg_tx_begin_timeout(&ob->pool, ob->opt.tx_timeout_ms, on_begin, ob) < 0) {
        /* PostgreSQL is down or the pool is full: the next tick tries again */
        ob->busy = false;
        schedule(ob, (uint64_t)ob->opt.poll_ms);
    }
}

static void on_fan(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    static const char *const names[] = {"approval", "job post", "job edit"};
    struct outbox           *ob = ud;
    const char              *what = names[ob->fan_step];
    if (err != PG_OK) {
        /* The rows stay as they were; the batch goes on (the steps are
         * independent) and the next one tries again. */
        if (err != PG_ERR_DOWN)
            log_warn("outbox", "the %s fan-out failed (%s %s): %s", what, pg_err_name(err), state ? state : "",
                     msg ? msg : "");
    } else {
        const char *n = PQcmdTuples(res);
        if (n && n[0] && strcmp(n, "0") != 0)
            log_info("outbox", "%s fan-out: %s source row(s) handled", what, n);
    }
    ob->fan_step++;
    fan_next(ob);
}

/* The fan-outs run before the batch's transaction, each one statement in
 * autocommit: the rows they make must be committed before the batch sends
 * them, because the journal entry of a send is written on the pool's other
 * connection and its foreign key must find the row. The batch's SELECT
 * (a later snapshot) sees them and sends them at once; it never sees a
 * source row that a fan-out handled (sent or cancelled by then). */
static void fan_next(struct outbox *ob)
{
    if (ob->stopping) {
        end_batch(ob, true);
        return;
    }
    if (ob->fan_step >= FAN_DONE) {
        begin_batch(ob);
        return;
    }
    char park[24];
    snprintf(park, sizeof(park), "%d", OUTBOX_PARK_MS);
    const char *p[3] = {park, ob->ts_chat, ob->opt.tg_job_dm ? "true" : "false"};
    int         rc;
    switch (ob->fan_step) {
    case FAN_APPROVAL: rc = pg_query(&ob->pool, fanout_sql, 1, p, on_fan, ob); break;
    case FAN_JOB_POSTS: rc = pg_query(&ob->pool, job_post_fanout_sql, 3, p, on_fan, ob); break;
    default: rc = pg_query(&ob->pool, job_edit_fanout_sql, 0, NULL, on_fan, ob); break;
    }
    if (rc < 0) {
        /* PostgreSQL is down or the pool is full: no batch this time */
        ob->busy = false;
        schedule(ob, (uint64_t)ob->opt.poll_ms);
    }
}

/* The telegram channel, when it is registered and on. */
static bool telegram_on(const struct outbox *ob, uint64_t now)
{
    for (int i = 0; i < ob->nchans; i++) {
        const struct ob_chan *c = &ob->chans[i];
        if (!strcmp(c->ch.name, "telegram"))
            return !c->ch.off_reason && c->paused_until <= now;
    }
    return false;
}

/* ---- side statements: "channel off" notes and the /metrics sample ----------------- */

static void on_off_marked(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct ob_chan *c = ud;
    (void)res;
    c->off_busy = false;
    if (err != PG_OK && err != PG_ERR_DOWN)
        log_warn("outbox", "marking %s rows failed (%s %s): %s", c->ch.name, pg_err_name(err), state ? state : "",
                 msg ? msg : "");
}

static void mark_off_channels(struct outbox *ob, uint64_t now)
{
    for (int i = 0; i < ob->nchans; i++) {
        struct ob_chan *c = &ob->chans[i];
        if (!c->ch.off_reason || c->off_busy || (c->off_marked_at && now - c->off_marked_at < OUTBOX_OFF_MARK_MS))
            continue;
        char grace[24];
        snprintf(grace, sizeof(grace), "%lld", (long long)(ob->opt.poll_ms * OUTBOX_OFF_GRACE_POLLS));
        const char *p[3] = {c->ch.name, c->ch.off_reason, grace};
        if (pg_query(&ob->pool, off_sql, 3, p, on_off_marked, c) == 0) {
            c->off_busy = true;
            c->off_marked_at = now;
        }
    }
}

static void on_stats(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct outbox *ob = ud;
    ob->stats_busy = false;
    if (err != PG_OK) {
        if (err != PG_ERR_DOWN)
            log_warn("outbox", "metrics query failed (%s %s): %s", pg_err_name(err), state ? state : "",
                     msg ? msg : "");
        return;
    }
    for (int i = 0; i < ob->nchans; i++) {
        struct ob_chan *c = &ob->chans[i];
        c->q_queued = c->q_failed = c->q_unreachable = 0;
        c->oldest_s = 0;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *name = PQgetvalue(res, r, 0), *status = PQgetvalue(res, r, 1);
        for (int i = 0; i < ob->nchans; i++) {
            struct ob_chan *c = &ob->chans[i];
            if (strcmp(c->ch.name, name) != 0)
                continue;
            int64_t n = atoll(PQgetvalue(res, r, 2));
            if (!strcmp(status, "queued")) {
                c->q_queued = n;
                c->oldest_s = atof(PQgetvalue(res, r, 3));
            } else if (!strcmp(status, "failed"))
                c->q_failed = n;
            else if (!strcmp(status, "unreachable"))
                c->q_unreachable = n;
        }
    }
    ob->stats_at = uv_now(ob->loop);
}

static void on_stats_timer(uv_timer_t *t)
{
    struct outbox *ob = t->data;
    if (ob->stopping || ob->stats_busy)
        return;
    if (pg_query(&ob->pool, stats_sql, 0, NULL, on_stats, ob) == 0)
        ob->stats_busy = true;
}

static void on_pool_state(struct pg_pool *p, bool up)
{
    struct outbox *ob = p->data;
    if (up && !ob->stopping) {
        outbox_kick(ob);
        on_stats_timer(&ob->stats);
    }
}

/* ---- one tick --------------------------------------------------------------------- */

static void tick(struct outbox *ob)
{
    if (ob->stopping)
        return;
    if (ob->busy) {
        ob->again = true;
        return;
    }
    uint64_t now = uv_now(ob->loop);
    mark_off_channels(ob, now);
    bool     any = false;
    uint64_t wake = now + (uint64_t)ob->opt.poll_ms;
    for (int i = 0; i < ob->nchans; i++) {
        struct ob_chan *c = &ob->chans[i];
        c->filled = false;
        c->unblock = 0;
        c->limit = 0;
        if (c->ch.off_reason)
            continue;
        if (c->paused_until > now) {
            if (c->paused_until < wake)
                wake = c->paused_until;
            continue;
        }
        any = true;
    }
    if (!any) {
        schedule(ob, wake - now);
        return;
    }
    ob->busy = true;
    ob->again = false;
    ob->chan_i = 0;
    ob->nitems = 0;
    /* Sales' and the job broadcasts' fan-outs first, while the telegram
     * channel is on (off, the rows stay as written, with the "off" note). */
    ob->fan_step = telegram_on(ob, now) ? FAN_APPROVAL : FAN_DONE;
    fan_next(ob);
}

/* ---- the API --------------------------------------------------------------------- */

struct outbox *outbox_new(uv_loop_t *loop, struct ihttp *http, const struct outbox_options *opt, char *err,
                          size_t errlen)
{
    struct outbox *ob = xcalloc(1, sizeof(*ob));
    ob->loop = loop;
    ob->http = http;
    ob->opt = *opt;
    ob->opt.database_url = NULL; /* not kept */
    snprintf(ob->ts_chat, sizeof(ob->ts_chat), "%s", opt->tg_ts_chat ? opt->tg_ts_chat : "");
    ob->opt.tg_ts_chat = ob->ts_chat;
    if (ob->opt.poll_ms <= 0)
        ob->opt.poll_ms = 1000;
    if (ob->opt.max_attempts <= 0)
        ob->opt.max_attempts = 10;
    if (ob->opt.backoff_ms <= 0)
        ob->opt.backoff_ms = 2000;
    if (ob->opt.tx_timeout_ms <= 0)
        ob->opt.tx_timeout_ms = 10000;
    if (ob->opt.send_timeout_ms <= 0 || ob->opt.send_timeout_ms > ob->opt.tx_timeout_ms / 2) {
        if (ob->opt.send_timeout_ms > 0)
            log_warn("outbox",
                     "GSS_HTTP_TIMEOUT_MS %lld is above half of GSS_PG_TX_TIMEOUT_MS: the sender uses %lld ms",
                     (long long)ob->opt.send_timeout_ms, (long long)(ob->opt.tx_timeout_ms / 2));
        ob->opt.send_timeout_ms = ob->opt.tx_timeout_ms / 2;
    }
    if (pg_pool_init(&ob->pool, loop, opt->database_url, 2, err, errlen) < 0) {
        free(ob);
        return NULL;
    }
    pg_pool_set_statement_timeout(&ob->pool, opt->statement_timeout_ms);
    pg_pool_set_tx_timeout(&ob->pool, ob->opt.tx_timeout_ms);
    ob->pool.on_state = on_pool_state;
    ob->pool.data = ob;
    char host[128] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(ob->worker, sizeof(ob->worker), "%d@%s", (int)getpid(), host);
    ob->rnd = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ UINT64_C(0x9e3779b97f4a7c15);
    if (!ob->rnd)
        ob->rnd = 1;
    uv_timer_init(loop, &ob->poll);
    uv_timer_init(loop, &ob->stats);
    ob->poll.data = ob->stats.data = ob;
    return ob;
}

int outbox_add_channel(struct outbox *ob, const struct outbox_channel *ch)
{
    if (!ob || ob->started || ob->nchans >= OUTBOX_CHANNELS || !ch->name || !ch->build || !ch->classify ||
        ch->global.n > 256)
        return -1;
    struct ob_chan *c = &ob->chans[ob->nchans++];
    memset(c, 0, sizeof(*c));
    c->ob = ob;
    c->ch = *ch;
    c->lim = outbox_limiter_new(ch->global);
    return 0;
}

void outbox_start(struct outbox *ob)
{
    if (!ob || ob->started || ob->stopping)
        return;
    ob->started = true;
    pg_pool_start(&ob->pool);
    for (int i = 0; i < ob->nchans; i++)
        if (ob->chans[i].ch.off_reason)
            log_warn("outbox", "%s: %s (its messages stay queued)", ob->chans[i].ch.name, ob->chans[i].ch.off_reason);
    schedule(ob, (uint64_t)ob->opt.poll_ms);
    uv_timer_start(&ob->stats, on_stats_timer, OUTBOX_STATS_MS, OUTBOX_STATS_MS);
}

void outbox_kick(struct outbox *ob)
{
    if (!ob || !ob->started || ob->stopping)
        return;
    if (ob->busy)
        ob->again = true;
    else
        schedule(ob, 0);
}

void outbox_stop(struct outbox *ob)
{
    if (!ob || ob->stopping)
        return;
    ob->stopping = true;
    uv_close((uv_handle_t *)&ob->poll, NULL);
    uv_close((uv_handle_t *)&ob->stats, NULL);
    if (!ob->busy)
        close_pool(ob);
    /* else end_batch closes it once the batch in flight is over */
}

void outbox_free(struct outbox *ob)
{
    if (!ob)
        return;
    items_clear(ob);
    free(ob->items);
    for (int i = 0; i < ob->nchans; i++)
        outbox_limiter_free(ob->chans[i].lim);
    free(ob);
}

void outbox_metrics(const struct outbox *ob, struct buf *b)
{
    if (!ob)
        return;
    static const struct {
        const char *name, *type, *help;
        size_t      off;
    } per[] = {
        {"gss_outbox_sent_total", "counter", "Messages this process saw accepted (committed as sent).",
         offsetof(struct ob_chan, sent)},
        {"gss_outbox_retries_total", "counter",
         "Attempts answered with a 5xx, a 429 or a network error (queued again).", offsetof(struct ob_chan, retries)},
        {"gss_outbox_failed_total", "counter", "Messages this process gave up on.", offsetof(struct ob_chan, failed)},
        {"gss_outbox_unreachable_total", "counter", "Messages to people who cannot be reached (blocked the bot).",
         offsetof(struct ob_chan, unreachable)},
        {"gss_outbox_waiting_total", "counter", "Rows left queued: no message builder for their payload yet.",
         offsetof(struct ob_chan, waiting)},
        {"gss_outbox_cancelled_total", "counter",
         "Rows dropped unsent: a job no longer open, an edit of a message that never went.",
         offsetof(struct ob_chan, cancelled)},
        {"gss_outbox_in_doubt_total", "counter",
         "Messages sent again after an attempt cut off with the request out: possible duplicates.",
         offsetof(struct ob_chan, in_doubt)},
        {"gss_outbox_recovered_total", "counter", "Outcomes taken from the journal an earlier sender left (a crash).",
         offsetof(struct ob_chan, recovered)},
        {"gss_outbox_requests_total", "counter", "Requests sent to the channel's API.",
         offsetof(struct ob_chan, requests)},
    };
    for (size_t m = 0; m < sizeof(per) / sizeof(per[0]); m++) {
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", per[m].name, per[m].help, per[m].name, per[m].type);
        for (int i = 0; i < ob->nchans; i++)
            buf_printf(b, "%s{channel=\"%s\"} %llu\n", per[m].name, ob->chans[i].ch.name,
                       (unsigned long long)*(const uint64_t *)((const char *)&ob->chans[i] + per[m].off));
    }
    buf_puts(b, "# HELP gss_outbox_channel_up 1 when the channel can send (credentials set, not refused).\n"
                "# TYPE gss_outbox_channel_up gauge\n");
    uint64_t now = uv_now(ob->loop);
    for (int i = 0; i < ob->nchans; i++)
        buf_printf(b, "gss_outbox_channel_up{channel=\"%s\"} %d\n", ob->chans[i].ch.name,
                   !ob->chans[i].ch.off_reason && ob->chans[i].paused_until <= now);
    /* The table's state, every process alike: sampled every OUTBOX_STATS_MS. */
    buf_puts(b, "# HELP gss_outbox_queued Outbox rows queued (due or not, channels off included), last sample.\n"
                "# TYPE gss_outbox_queued gauge\n"
                "# HELP gss_outbox_failed Outbox rows failed, last sample.\n# TYPE gss_outbox_failed gauge\n"
                "# HELP gss_outbox_unreachable Outbox rows unreachable, last sample.\n"
                "# TYPE gss_outbox_unreachable gauge\n"
                "# HELP gss_outbox_oldest_queued_age_seconds Age of the oldest queued row (0: none), last sample.\n"
                "# TYPE gss_outbox_oldest_queued_age_seconds gauge\n");
    bool have = ob->stats_at != 0;
    for (int i = 0; i < ob->nchans; i++) {
        const struct ob_chan *c = &ob->chans[i];
        if (!have) {
            buf_printf(b,
                       "gss_outbox_queued{channel=\"%s\"} NaN\ngss_outbox_failed{channel=\"%s\"} NaN\n"
                       "gss_outbox_unreachable{channel=\"%s\"} NaN\n"
                       "gss_outbox_oldest_queued_age_seconds{channel=\"%s\"} NaN\n",
                       c->ch.name, c->ch.name, c->ch.name, c->ch.name);
            continue;
        }
        /* the oldest has aged since the sample unless it was sent meanwhile */
        double age = c->q_queued ? c->oldest_s + (double)(now - ob->stats_at) / 1000.0 : 0.0;
        buf_printf(b,
                   "gss_outbox_queued{channel=\"%s\"} %lld\ngss_outbox_failed{channel=\"%s\"} %lld\n"
                   "gss_outbox_unreachable{channel=\"%s\"} %lld\n"
                   "gss_outbox_oldest_queued_age_seconds{channel=\"%s\"} %.3f\n",
                   c->ch.name, (long long)c->q_queued, c->ch.name, (long long)c->q_failed, c->ch.name,
                   (long long)c->q_unreachable, c->ch.name, age);
    }
    buf_puts(b, "# HELP gss_outbox_stats_age_seconds How old the outbox table figures are.\n"
                "# TYPE gss_outbox_stats_age_seconds gauge\n");
    if (have)
        buf_printf(b, "gss_outbox_stats_age_seconds %.3f\n", (double)(now - ob->stats_at) / 1000.0);
    else
        buf_puts(b, "gss_outbox_stats_age_seconds NaN\n");
    buf_printf(b,
               "# HELP gss_outbox_batches_total Sender transactions (a batch of due rows each).\n"
               "# TYPE gss_outbox_batches_total counter\ngss_outbox_batches_total %llu\n"
               "# HELP gss_outbox_batch_errors_total Batches that ended without committing (PostgreSQL).\n"
               "# TYPE gss_outbox_batch_errors_total counter\ngss_outbox_batch_errors_total %llu\n"
               "# HELP gss_outbox_journal_errors_total Journal writes that failed.\n"
               "# TYPE gss_outbox_journal_errors_total counter\ngss_outbox_journal_errors_total %llu\n"
               "# HELP gss_outbox_deadline_skips_total Rows left for the next batch: too little of the transaction's"
               " deadline was left to send them.\n"
               "# TYPE gss_outbox_deadline_skips_total counter\ngss_outbox_deadline_skips_total %llu\n"
               "# HELP gss_outbox_inflight Requests of the batch in flight.\n"
               "# TYPE gss_outbox_inflight gauge\ngss_outbox_inflight %d\n",
               (unsigned long long)ob->batches, (unsigned long long)ob->batch_errors,
               (unsigned long long)ob->journal_errors, (unsigned long long)ob->skipped_deadline, ob->pending_http);
}
