/*
 * persister: makes PostgreSQL follow the pool's events stream.
 *
 * Every gssd runs one consumer of the group `persist` on P:{R}:events, on a
 * Redis connection of its own (XREADGROUP BLOCK would hold up every other
 * command queued behind it on a shared connection). A batch of entries is
 * written in ONE SQL statement, so it commits whole or not at all, and the
 * entries are XACKed only after that commit. Writes are idempotent
 * (ON CONFLICT, guarded UPDATEs), so an entry applied twice (a crash between
 * commit and XACK, a takeover, a batch retried after one half committed)
 * changes nothing the second time.
 *
 * The consumer name is stable per host, listen address and worker, so a gssd
 * restarted after a crash first re-reads its own pending entries (ID 0)
 * before asking for new ones (ID >). Entries left pending by a consumer that
 * never comes back are taken over with XAUTOCLAIM once idle for 30 s.
 *
 * When a statement fails, what happens depends on why (classify()):
 * - PostgreSQL unavailable or busy (pg_http_status() == 503: down, queue
 *   full, connection lost, timeouts, serialization failures, shutdown):
 *   nothing is acknowledged; the persister waits (backoff up to 5 s) and
 *   re-reads its pending entries. After a statement timeout the next batches
 *   are smaller (halved, down to 1; doubled back after each success), so a
 *   batch too big for the timeout does not fail forever.
 * - The data of some entry (SQLSTATE classes 21 cardinality, 22 data
 *   exception and 23 integrity constraint: a ticket or technician
 *   PostgreSQL does not have, a value out of range): the failing range is split in halves, each
 *   applied on its own, recursively, until the entry that fails alone is
 *   found. It goes to pool_dead_letters with its error and is acknowledged
 *   with the rest; the rest commits. Entries the persister cannot even read
 *   (a missing or non-numeric field, an unknown type, a claim with no slot)
 *   go there directly, without a statement.
 * - Anything else (an undefined table or column, permissions, an internal
 *   error: the schema or the server, not an entry) is retried like an
 *   outage and logged as an error each time: splitting would only send
 *   every entry to the dead letters.
 * Claims never wait for any of this; Redis (AOF) holds them meanwhile.
 *
 * Trimming. The scripts append with no MAXLEN (a length bound drops the
 * oldest entries whether or not they were applied). About once a second,
 * between reads, lua/trim.lua measures the group's lag for /metrics and
 * trims the stream below the oldest entry any group still needs. So the
 * stream holds at least every entry not yet acknowledged, and grows while
 * PostgreSQL is away: alert on gss_persister_oldest_unacked_age_seconds.
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

#define BATCH_MAX     500u
#define CLAIM_IDLE_MS "30000"
#define TRIM_EVERY_MS 1000

static void persister_next(struct persister *ps);
static void apply_next(struct persister *ps);
static void on_tick(uv_timer_t *t);

/* One statement applies a whole batch (or a range of it). $1 is a JSON
 * array of events.
 *
 * Batches may commit out of order (several gssd processes, entries taken
 * over from a dead consumer, the halves of a split batch), so nothing here
 * may depend on the order of batches:
 * - assignments: one upsert per (ticket, technician) in the batch, folding
 *   the claim and a release in whatever order they arrive across batches
 *   (earliest claim time, first release time wins; a release makes the row
 *   `replaced`, as migration 0003 describes);
 * - ticket status: moved only by an event newer than tickets.pool_seq, the
 *   seq of the last event applied to that ticket. An UPDATE that waited on
 *   a concurrent batch's row lock re-checks that condition on the newer row.
 * A claim or release of a ticket or technician PostgreSQL does not have
 * fails the statement (the foreign keys of assignments): that entry is a
 * dead letter, never silently dropped. */
static const char apply_sql[] =
    "WITH ev AS ("
    "  SELECT * FROM json_to_recordset($1::json) AS e(seq bigint, type text, job bigint, tech bigint,"
    "         slot int, state text, at bigint)),"
    " pairs AS ("
    "  SELECT job, tech, max(slot) AS slot,"
    "         min(at) FILTER (WHERE type = 'claimed') AS claimed,"
    "         min(at) FILTER (WHERE type = 'released') AS released"
    "  FROM ev WHERE type IN ('claimed', 'released') GROUP BY job, tech),"
    " upserted AS ("
    "  INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at, released_at, state)"
    "  SELECT p.job, p.tech, p.slot, to_timestamp(coalesce(p.claimed, p.released) / 1000.0),"
    "         to_timestamp(p.released / 1000.0), CASE WHEN p.released IS NULL THEN 'claimed' ELSE 'replaced' END"
    "  FROM pairs p"
    "  ON CONFLICT (ticket_id, tech_id) DO UPDATE"
    "    SET claimed_at = least(assignments.claimed_at, EXCLUDED.claimed_at),"
    "        released_at = coalesce(assignments.released_at, EXCLUDED.released_at),"
    "        state = CASE WHEN assignments.released_at IS NULL AND EXCLUDED.released_at IS NOT NULL"
    "                     THEN 'replaced' ELSE assignments.state END"
    "  RETURNING (xmax = 0) AS inserted),"
    " last AS ("
    "  SELECT DISTINCT ON (job) job, state, seq FROM ev WHERE type IN ('claimed', 'released', 'opened')"
    "  ORDER BY job, seq DESC),"
    " status AS ("
    /* A slot may have been checked in before the event that filled the
     * ticket reached PostgreSQL (a claim is answered from Redis): then the
     * ticket is already under way, not merely assigned. */
    "  UPDATE tickets t SET status = CASE WHEN l.state <> 'full' THEN 'open'"
    "         WHEN EXISTS (SELECT 1 FROM assignments ci WHERE ci.ticket_id = t.id AND ci.released_at IS NULL"
    "                      AND ci.state IN ('checked_in', 'checked_out', 'done')) THEN 'in_progress'"
    "         ELSE 'assigned' END,"
    "         pool_seq = l.seq, updated_at = now()"
    "  FROM last l WHERE t.id = l.job AND l.seq > t.pool_seq AND t.status IN ('open', 'assigned')"
    "  RETURNING 1)"
    "SELECT (SELECT count(*) FROM upserted WHERE inserted), (SELECT count(*) FROM status)";

/* $1 the stream key, $2 a JSON array of {id, payload, error, sqlstate}. An
 * entry read again after a crash finds its row already there. */
static const char dead_sql[] =
    "INSERT INTO pool_dead_letters (stream, stream_id, payload, error, sqlstate)"
    " SELECT $1, d.id, d.payload, d.error, nullif(d.sqlstate, '')"
    " FROM json_to_recordset($2::json) AS d(id text, payload jsonb, error text, sqlstate text)"
    " ON CONFLICT (stream, stream_id) DO NOTHING";

static void schedule(struct persister *ps, uint64_t ms)
{
    if (ps->stopping)
        return;
    uv_timer_start(&ps->timer, on_tick, ms, 0);
}

/* ---- reading entries ------------------------------------------------------ */

/* A JSON string of any bytes: valid UTF-8 is kept, every other byte and NUL
 * become U+FFFD (jsonb refuses \u0000 and invalid UTF-8, and a dead letter
 * must always be writable). */
static void json_str(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
            i++;
        } else if (c == 0) {
            buf_puts(b, "\\ufffd");
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 6);
            i++;
        } else if (c < 0x80) {
            buf_putc(b, (char)c);
            i++;
        } else {
            /* Length and lowest code point of the sequence c starts. */
            size_t   len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
            uint32_t cp = len == 4 ? (c & 0x07u) : len == 3 ? (c & 0x0fu) : (c & 0x1fu);
            bool     ok = len && i + len <= n;
            for (size_t k = 1; ok && k < len; k++) {
                unsigned char cc = (unsigned char)s[i + k];
                ok = (cc & 0xc0) == 0x80;
                cp = (cp << 6) | (cc & 0x3fu);
            }
            /* no overlong forms, no surrogates, nothing past U+10FFFF */
            if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                       (len == 4 && (cp < 0x10000 || cp > 0x10ffff))))
                ok = false;
            if (ok) {
                buf_append(b, s + i, len);
                i += len;
            } else {
                buf_puts(b, "\\ufffd");
                i++;
            }
        }
    }
    buf_putc(b, '"');
}

/* Decimal digits only, 1..max of them. */
static bool digits(const char *s, size_t max)
{
    if (!s || !*s || strlen(s) > max)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static const char *field(redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && fields->element[i + 1]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    return NULL;
}

static bool one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

/* Checks one entry's fields; NULL when it can be applied, else what is
 * wrong with it (a static string). The scripts' format is in
 * lua/README.md, "Events stream entry". */
static const char *validate(redisReply *f)
{
    static const char *const types[] = {"opened", "claimed", "released", "closed", NULL};
    static const char *const states[] = {"open", "full", "closed", NULL};
    const char              *type = field(f, "type"), *state = field(f, "state");
    /* bigint holds 18 digits whatever they are; at is epoch ms. */
    if (!digits(field(f, "seq"), 18))
        return "malformed entry: seq missing or not a number";
    if (!one_of(type, types))
        return "malformed entry: type missing or unknown";
    if (!digits(field(f, "job"), 18) || strspn(field(f, "job"), "0") == strlen(field(f, "job")))
        return "malformed entry: job missing or not a positive number";
    if (!digits(field(f, "at"), 15))
        return "malformed entry: at missing or not a number";
    if (!one_of(state, states))
        return "malformed entry: state missing or unknown";
    if (!strcmp(type, "claimed") || !strcmp(type, "released")) {
        const char *tech = field(f, "tech"), *slot = field(f, "slot");
        if (!digits(tech, 18) || strspn(tech, "0") == strlen(tech))
            return "malformed entry: a claim or release without a technician";
        if (!digits(slot, 2) || atoi(slot) < 1)
            return "malformed entry: a claim or release without a slot (slot must be 1 or more)";
    }
    return NULL;
}

static void entry_clear(struct persister_entry *e)
{
    free(e->id);
    free(e->event);
    free(e->payload);
    free(e->error);
    memset(e, 0, sizeof(*e));
}

static void batch_clear(struct persister *ps)
{
    for (size_t i = 0; i < ps->nents; i++)
        entry_clear(&ps->ents[i]);
    ps->nents = ps->nlive = ps->nranges = 0;
    ps->split_logged = false;
}

static void push_range(struct persister *ps, size_t lo, size_t hi)
{
    if (ps->nranges == ps->cap_ranges) {
        ps->cap_ranges = ps->cap_ranges ? ps->cap_ranges * 2 : 32;
        ps->ranges = xrealloc(ps->ranges, ps->cap_ranges * sizeof(*ps->ranges));
    }
    ps->ranges[ps->nranges++] = (struct persister_range){lo, hi};
}

/* Takes an XREADGROUP / XAUTOCLAIM entry array as the batch in hand: every
 * entry gets an id to acknowledge; those that can be applied an event,
 * those that cannot an error (they are dead letters already). */
static void collect(struct persister *ps, redisReply *entries)
{
    batch_clear(ps);
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *r = entries->element[i];
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING)
            continue;
        if (ps->nents == ps->cap_ents) {
            ps->cap_ents = ps->cap_ents ? ps->cap_ents * 2 : 64;
            ps->ents = xrealloc(ps->ents, ps->cap_ents * sizeof(*ps->ents));
        }
        struct persister_entry *e = &ps->ents[ps->nents++];
        memset(e, 0, sizeof(*e));
        e->id = xstrdup(r->element[0]->str);
        redisReply *f = r->element[1];
        if (f->type != REDIS_REPLY_ARRAY)
            continue; /* deleted before it was read: nothing to apply, still acknowledged */

        struct buf b = {0};
        buf_putc(&b, '{');
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            redisReply *name = f->element[k], *val = f->element[k + 1];
            if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
                continue;
            if (b.len > 1)
                buf_putc(&b, ',');
            json_str(&b, name->str, name->len);
            buf_putc(&b, ':');
            json_str(&b, val->str, val->len);
        }
        buf_putc(&b, '}');
        e->payload = buf_steal(&b);

        const char *bad = validate(f);
        if (bad) {
            e->error = xstrdup(bad);
            continue;
        }
        const char *type = field(f, "type");
        bool        pair = !strcmp(type, "claimed") || !strcmp(type, "released");
        buf_printf(&b, "{\"seq\":%s,\"type\":\"%s\",\"job\":%s,\"tech\":%s,\"slot\":%s,\"state\":\"%s\",\"at\":%s}",
                   field(f, "seq"), type, field(f, "job"), pair ? field(f, "tech") : "null",
                   pair ? field(f, "slot") : "null", field(f, "state"), field(f, "at"));
        e->event = buf_steal(&b);
        if (ps->nlive == ps->cap_live) {
            ps->cap_live = ps->cap_live ? ps->cap_live * 2 : 64;
            ps->live = xrealloc(ps->live, ps->cap_live * sizeof(*ps->live));
        }
        ps->live[ps->nlive++] = ps->nents - 1;
    }
    if (ps->nlive)
        push_range(ps, 0, ps->nlive);
}

/* ---- acknowledging -------------------------------------------------------- */

static void on_acked(redisAsyncContext *ac, void *reply, void *priv)
{
    struct persister *ps = priv;
    (void)ac;
    ps->busy = false;
    if (ps->stopping)
        return;
    if (!reply) {
        schedule(ps, 500);
        return;
    }
    persister_next(ps);
}

static void ack(struct persister *ps)
{
    if (ps->nents == 0) {
        ps->busy = false;
        persister_next(ps);
        return;
    }
    size_t       argc = 3 + ps->nents;
    const char **argv = xmalloc(argc * sizeof(char *));
    argv[0] = "XACK";
    argv[1] = ps->stream;
    argv[2] = "persist";
    for (size_t i = 0; i < ps->nents; i++)
        argv[3 + i] = ps->ents[i].id;
    int rc = rds_cmd(&ps->conn, on_acked, ps, (int)argc, argv, NULL);
    free(argv);
    if (rc < 0) {
        /* Not acknowledged: read again (and applied again, idempotently)
         * once the connection is back. */
        batch_clear(ps);
        ps->busy = false;
        ps->from_pending = true;
        schedule(ps, 500);
        return;
    }
    ps->acked += ps->nents;
    batch_clear(ps);
}

/* ---- failures ------------------------------------------------------------- */

enum failure {
    FAIL_RETRY,    /* PostgreSQL unavailable or busy: the whole batch later */
    FAIL_SYSTEMIC, /* the schema or the server: the whole batch later, loudly */
    FAIL_DATA,     /* some entry's data: split */
};

static enum failure classify(enum pg_err err, const char *state)
{
    if (pg_http_status(err, state) == 503)
        return FAIL_RETRY;
    /* 21 cardinality (two entries of a batch colliding), 22 data exception,
     * 23 integrity constraint: about the entries, so splitting finds them. */
    if (err == PG_ERR_SQL && state &&
        (!strncmp(state, "21", 2) || !strncmp(state, "22", 2) || !strncmp(state, "23", 2)))
        return FAIL_DATA;
    return FAIL_SYSTEMIC;
}

/* Gives the batch up for now: nothing more of it is acknowledged; its
 * entries stay pending and are read again after the backoff. */
static void retry_later(struct persister *ps, enum failure why, enum pg_err err, const char *state, const char *msg)
{
    if (why == FAIL_SYSTEMIC) {
        log_error("persister", "batch of %zu not applied, and not the entries' fault (%s%s%s); will retry", ps->nents,
                  state ? state : "", state && *state ? " " : "", msg ? msg : pg_err_name(err));
    } else if (!ps->pg_warned) {
        log_warn("persister", "batch of %zu not applied (%s%s%s); will retry", ps->nents, state ? state : "",
                 state && *state ? " " : "", msg ? msg : "postgres unavailable");
        ps->pg_warned = true;
    }
    if ((err == PG_ERR_TIMEOUT || (state && !strcmp(state, "57014"))) && ps->batch_max > 1) {
        ps->batch_max /= 2;
        log_warn("persister", "statement timed out: reading batches of %u from now on", ps->batch_max);
    }
    ps->retries++;
    batch_clear(ps);
    ps->busy = false;
    ps->from_pending = true;
    ps->backoff_ms = ps->backoff_ms ? ps->backoff_ms * 2 : 200;
    if (ps->backoff_ms > 5000)
        ps->backoff_ms = 5000;
    schedule(ps, ps->backoff_ms);
}

/* ---- dead letters --------------------------------------------------------- */

static void on_dead_written(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct persister *ps = ud;
    (void)res;
    if (ps->stopping) {
        batch_clear(ps);
        ps->busy = false;
        return;
    }
    if (err != PG_OK) {
        enum failure why = classify(err, state);
        retry_later(ps, why == FAIL_DATA ? FAIL_SYSTEMIC : why, err, state, msg);
        return;
    }
    for (size_t i = 0; i < ps->nents; i++) {
        struct persister_entry *e = &ps->ents[i];
        if (!e->error)
            continue;
        ps->dead_letters++;
        struct log_rec r;
        if (log_begin(&r, LOG_ERROR, "persister.dead_letter")) {
            log_str(&r, "stream", ps->stream);
            log_str(&r, "id", e->id);
            log_str(&r, "error", e->error);
            if (e->sqlstate[0])
                log_str(&r, "sqlstate", e->sqlstate);
            log_end(&r);
        }
    }
    ack(ps);
}

static void write_dead(struct persister *ps)
{
    struct buf *b = &ps->sql_arg;
    buf_reset(b);
    buf_putc(b, '[');
    size_t n = 0;
    for (size_t i = 0; i < ps->nents; i++) {
        struct persister_entry *e = &ps->ents[i];
        if (!e->error)
            continue;
        if (n++)
            buf_putc(b, ',');
        buf_puts(b, "{\"id\":");
        json_str(b, e->id, strlen(e->id));
        buf_printf(b, ",\"payload\":%s,\"error\":", e->payload ? e->payload : "{}");
        json_str(b, e->error, strlen(e->error));
        buf_puts(b, ",\"sqlstate\":");
        json_str(b, e->sqlstate, strlen(e->sqlstate));
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
    if (n == 0) {
        ack(ps);
        return;
    }
    const char *params[2] = {ps->stream, b->data};
    if (pg_query(ps->pg, dead_sql, 2, params, on_dead_written, ps) < 0)
        retry_later(ps, FAIL_RETRY, PG_ERR_DOWN, "", "postgres unavailable");
}

/* ---- applying ------------------------------------------------------------- */

static void on_applied(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct persister *ps = ud;
    if (ps->stopping) {
        batch_clear(ps);
        ps->busy = false;
        return;
    }
    if (err == PG_OK) {
        if (ps->pg_warned)
            log_info("persister", "postgres back; applying pending entries");
        ps->pg_warned = false;
        ps->backoff_ms = 0;
        ps->applied_claims += (uint64_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        apply_next(ps);
        return;
    }
    enum failure why = classify(err, state);
    if (why != FAIL_DATA) {
        retry_later(ps, why, err, state, msg);
        return;
    }
    struct persister_range r = ps->inflight;
    if (r.hi - r.lo == 1) {
        /* Isolated: this entry fails on its own. */
        struct persister_entry *e = &ps->ents[ps->live[r.lo]];
        free(e->error);
        e->error = xstrdup(msg && *msg ? msg : "rejected by PostgreSQL");
        for (size_t n = strlen(e->error); n > 0 && (e->error[n - 1] == '\n' || e->error[n - 1] == ' '); n--)
            e->error[n - 1] = '\0'; /* libpq ends its message (and DETAIL) with a newline */
        snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", state ? state : "");
    } else {
        ps->splits++;
        if (!ps->split_logged) {
            struct log_rec lr;
            if (log_begin(&lr, LOG_WARN, "persister.split")) {
                log_int(&lr, "entries", (int64_t)(r.hi - r.lo));
                log_str(&lr, "sqlstate", state ? state : "");
                log_str(&lr, "error", msg ? msg : "");
                log_end(&lr);
            }
            ps->split_logged = true;
        }
        size_t mid = r.lo + (r.hi - r.lo) / 2;
        push_range(ps, mid, r.hi); /* the lower half first: a stack */
        push_range(ps, r.lo, mid);
    }
    apply_next(ps);
}

/* Applies the next range of the batch, or, when none is left, records the
 * dead letters and acknowledges the batch. */
static void apply_next(struct persister *ps)
{
    if (ps->nranges == 0) {
        ps->batches++;
        if (ps->batch_max < BATCH_MAX) {
            ps->batch_max *= 2;
            if (ps->batch_max > BATCH_MAX)
                ps->batch_max = BATCH_MAX;
        }
        write_dead(ps);
        return;
    }
    struct persister_range r = ps->ranges[--ps->nranges];
    ps->inflight = r;
    struct buf *b = &ps->sql_arg;
    buf_reset(b);
    buf_putc(b, '[');
    for (size_t i = r.lo; i < r.hi; i++) {
        if (i > r.lo)
            buf_putc(b, ',');
        buf_puts(b, ps->ents[ps->live[i]].event);
    }
    buf_putc(b, ']');
    const char *params[1] = {b->data};
    if (pg_query(ps->pg, apply_sql, 1, params, on_applied, ps) < 0)
        retry_later(ps, FAIL_RETRY, PG_ERR_DOWN, "", "postgres unavailable");
}

static void start_batch(struct persister *ps, redisReply *entries)
{
    collect(ps, entries);
    apply_next(ps);
}

/* ---- lag and trimming ----------------------------------------------------- */

/* The ms part of a stream id ("1732500000000-0"). */
static int64_t id_ms(const char *id)
{
    return strtoll(id, NULL, 10);
}

static void on_trim(redisAsyncContext *ac, void *reply, void *priv)
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
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 6 && r->element[0]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->type == REDIS_REPLY_INTEGER && r->element[2]->type == REDIS_REPLY_STRING &&
        r->element[3]->type == REDIS_REPLY_INTEGER && r->element[4]->type == REDIS_REPLY_INTEGER &&
        r->element[5]->type == REDIS_REPLY_INTEGER) {
        ps->lag_pending = r->element[0]->integer;
        ps->lag_undelivered = r->element[1]->integer;
        /* Both clocks are Redis's: the id's and TIME's. */
        ps->lag_oldest_ms = r->element[2]->len ? r->element[3]->integer - id_ms(r->element[2]->str) : -1;
        if (ps->lag_oldest_ms < -1)
            ps->lag_oldest_ms = 0;
        ps->trimmed += (uint64_t)r->element[4]->integer;
        ps->stream_len = r->element[5]->integer;
        ps->lag_at = uv_now(ps->loop);
    } else if (r->type == REDIS_REPLY_ERROR) {
        log_warn("persister", "trim: %s", r->str);
    }
    persister_next(ps);
}

/* ---- the loop ------------------------------------------------------------- */

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
    if (!entries || entries->type != REDIS_REPLY_ARRAY || entries->elements == 0) {
        ps->busy = false;
        ps->from_pending = false; /* own backlog done, or BLOCK timed out: new entries next */
        persister_next(ps);
        return;
    }
    start_batch(ps, entries);
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
        start_batch(ps, entries);
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
    const char *key = ps->stream;
    char        count[16];
    snprintf(count, sizeof(count), "%u", ps->batch_max);
    ps->busy = true;
    int      rc;
    uint64_t now = uv_now(ps->loop);
    if (!ps->group_ready) {
        /* From the start of the stream: entries written before any gssd ran still count. */
        const char *argv[] = {"XGROUP", "CREATE", key, "persist", "0", "MKSTREAM"};
        rc = rds_cmd(&ps->conn, on_group, ps, 6, argv, NULL);
    } else if (now >= ps->next_trim) {
        ps->next_trim = now + TRIM_EVERY_MS;
        const char *argv[] = {key, "persist", "1"};
        rc = rds_evalsha(&ps->conn, &ps->s_trim, 1, 3, argv, NULL, on_trim, ps);
    } else if (ps->from_pending) {
        const char *argv[] = {"XREADGROUP", "GROUP", "persist", ps->consumer, "COUNT", count, "STREAMS", key, "0"};
        rc = rds_cmd(&ps->conn, on_read, ps, 9, argv, NULL);
    } else if (now >= ps->next_autoclaim) {
        ps->next_autoclaim = now + 10000;
        const char *argv[] = {"XAUTOCLAIM", key, "persist", ps->consumer, CLAIM_IDLE_MS, "0-0", "COUNT", count};
        rc = rds_cmd(&ps->conn, on_autoclaim, ps, 8, argv, NULL);
    } else {
        const char *argv[] = {"XREADGROUP", "GROUP", "persist", ps->consumer, "COUNT", count,
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
    ps->batch_max = BATCH_MAX;
    ps->lag_oldest_ms = -1;
    snprintf(ps->stream, sizeof(ps->stream), "%sevents", pool->kp);
    if (rds_script_init(&ps->s_trim, "trim") < 0) {
        log_error("persister", "the embedded trim script is missing");
        return -1;
    }
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
    batch_clear(ps);
    free(ps->ents);
    free(ps->live);
    free(ps->ranges);
    ps->ents = NULL;
    ps->live = NULL;
    ps->ranges = NULL;
    buf_free(&ps->sql_arg);
}

void persister_metrics(struct persister *ps, struct buf *b)
{
    buf_printf(b,
               "# TYPE gss_persister_batches_total counter\ngss_persister_batches_total %llu\n"
               "# TYPE gss_persister_entries_acked_total counter\ngss_persister_entries_acked_total %llu\n"
               "# TYPE gss_persister_claims_applied_total counter\ngss_persister_claims_applied_total %llu\n"
               "# HELP gss_persister_dead_letters_total Stream entries this process wrote to pool_dead_letters.\n"
               "# TYPE gss_persister_dead_letters_total counter\ngss_persister_dead_letters_total %llu\n"
               "# HELP gss_persister_batch_splits_total Failing ranges split in two to isolate a bad entry.\n"
               "# TYPE gss_persister_batch_splits_total counter\ngss_persister_batch_splits_total %llu\n"
               "# HELP gss_persister_retries_total Batches put back because PostgreSQL could not take them.\n"
               "# TYPE gss_persister_retries_total counter\ngss_persister_retries_total %llu\n"
               "# TYPE gss_persister_stream_trimmed_total counter\ngss_persister_stream_trimmed_total %llu\n",
               (unsigned long long)ps->batches, (unsigned long long)ps->acked, (unsigned long long)ps->applied_claims,
               (unsigned long long)ps->dead_letters, (unsigned long long)ps->splits, (unsigned long long)ps->retries,
               (unsigned long long)ps->trimmed);
    buf_puts(b, "# HELP gss_persister_backlog Stream entries the persister group has not acknowledged"
                " (pending + undelivered).\n# TYPE gss_persister_backlog gauge\n"
                "# TYPE gss_persister_pending gauge\n# TYPE gss_persister_undelivered gauge\n"
                "# HELP gss_persister_oldest_unacked_age_seconds Age of the oldest entry not yet acknowledged"
                " (0: none).\n# TYPE gss_persister_oldest_unacked_age_seconds gauge\n"
                "# TYPE gss_persister_stream_length gauge\n"
                "# HELP gss_persister_lag_sample_age_seconds How old the figures above are.\n"
                "# TYPE gss_persister_lag_sample_age_seconds gauge\n");
    if (!ps->lag_at) {
        buf_puts(b, "gss_persister_backlog NaN\ngss_persister_pending NaN\ngss_persister_undelivered NaN\n"
                    "gss_persister_oldest_unacked_age_seconds NaN\ngss_persister_stream_length NaN\n"
                    "gss_persister_lag_sample_age_seconds NaN\n");
        return;
    }
    uint64_t since = uv_now(ps->loop) - ps->lag_at;
    /* The oldest entry has aged since the sample, unless it was acknowledged
     * meanwhile: never understate how far behind the persister may be. */
    double age = ps->lag_oldest_ms < 0 ? 0.0 : (double)((uint64_t)ps->lag_oldest_ms + since) / 1000.0;
    buf_printf(b,
               "gss_persister_backlog %lld\ngss_persister_pending %lld\ngss_persister_undelivered %lld\n"
               "gss_persister_oldest_unacked_age_seconds %.3f\ngss_persister_stream_length %lld\n"
               "gss_persister_lag_sample_age_seconds %.3f\n",
               (long long)(ps->lag_pending + ps->lag_undelivered), (long long)ps->lag_pending,
               (long long)ps->lag_undelivered, age, (long long)ps->stream_len, (double)since / 1000.0);
}
