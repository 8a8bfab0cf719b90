/*
 * Field work on a ticket: check-in, check-out, "Selesai" (complete), and
 * CS's cancel. docs/fieldwork.md is the contract.
 *
 * Every one of them is the same shape, one transaction on a pinned
 * connection:
 *   BEGIN
 *   SELECT the ticket and the caller's assignment ... FOR NO KEY UPDATE
 *   (C: the state table in domain/states.c says whether the move is legal;
 *    domain/geo.c measures the fix)
 *   one statement that writes the change and its audit rows (CTEs)
 *   COMMIT, then answer.
 * A refused move rolls back and answers 409 with the reason; nothing is
 * written. Locks are always taken ticket first, then assignment, so two
 * handlers on one ticket queue instead of deadlocking.
 *
 * The steps run from one callback (on_step) driven by fx->step, so the
 * sequence reads top to bottom instead of as nested callbacks.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yyjson.h>

#include "auth/access.h"
#include "auth/roles.h"
#include "auth/session.h"
#include "core/config.h"
#include "core/jw.h"
#include "core/log.h"
#include "domain/geo.h"
#include "domain/states.h"
#include "http/handlers/field.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "pool/monitor.h"
#include "pool/pool.h"
#include "store/pg.h"

enum field_op { OP_CHECKIN, OP_CHECKOUT, OP_COMPLETE, OP_CANCEL };

/* Deadlocks with the persister are retried this many times before 503. */
#define FIELD_TX_ATTEMPTS 3
enum field_step { ST_BEGIN, ST_REPLAY, ST_LOCK, ST_RECHECK, ST_WRITE, ST_COMMIT };

struct field_ctx {
    struct http_req *req;
    struct pg_tx    *tx;
    enum field_op    op;
    enum field_step  step;
    int64_t          ticket_id, user_id;
    unsigned         actor; /* DOM_ACTOR_* */
    /* the fix (check-in/out) */
    struct geo_fix fix;
    bool           has_fix_at;
    char           idem[72]; /* Idempotency-Key, "" if none */
    char           reason[512];
    /* what the write step computed, for the answer */
    double         distance_m;
    bool           has_distance;
    int            radius_m;
    enum geo_fence fence;
    bool           late;
    unsigned       flags;
    int            asg_to, ticket_from, ticket_to;
    bool           ticket_changes;
    bool           pool_done; /* complete: the job's close in the pool was asked for */
    int            attempts;  /* transactions run again after a deadlock */
    /* ST_RECHECK: the refusal the lock step found, answered unless a twin stored the key */
    const char *conflict_code;
    char        conflict_msg[256];
    struct buf  answer;
};

static void fx_free(struct field_ctx *fx)
{
    buf_free(&fx->answer);
    free(fx);
}

/* Ends the request with an error; rolls the transaction back if one is open. */
static void fx_fail(struct field_ctx *fx, int status, const char *code, const char *msg)
{
    if (fx->tx) {
        pg_tx_rollback(fx->tx);
        fx->tx = NULL;
    }
    http_error(fx->req, status, code, msg);
    fx_free(fx);
}

static void fx_pg_fail(struct field_ctx *fx, enum pg_err err, const char *state, const char *msg)
{
    int status = pg_http_status(err, state);
    if (status >= 500 && status != 503)
        log_error("field", "query failed: %s %s", state ? state : "", msg ? msg : "");
    else if (status == 503)
        log_warn("field", "transaction not completed (%s, step %d, attempt %d): %s %s", pg_err_name(err), (int)fx->step,
                 fx->attempts + 1, state ? state : "", msg ? msg : "");
    fx_fail(fx, status, status == 503 ? "unavailable" : "internal",
            status == 503 ? "the database is unavailable; try again" : "the request failed");
}

static void iso_utc(int64_t ms, char out[32])
{
    time_t    t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2026-12-02T02:01:00Z" (or with an offset / fraction) as Unix ms; -1 if not one. */
static int64_t parse_iso_ms(const char *s)
{
    struct tm tm = {0};
    int       n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &n) != 6)
        return -1;
    if (tm.tm_year < 2000 || tm.tm_year > 2200 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = s + n;
    int64_t     frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (digits++ < 3)
                frac = frac * 10 + (*p - '0');
        while (digits < 3 && digits > 0) {
            frac *= 10;
            digits++;
        }
    }
    int64_t off_s = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || oh > 14 || om > 59)
            return -1;
        off_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t t = (int64_t)timegm(&tm);
    return (t - off_s) * 1000 + frac;
}

static void on_step(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg);

static void fx_query(struct field_ctx *fx, enum field_step next, const char *sql, int n, const char *const *params)
{
    fx->step = next;
    if (pg_tx_query(fx->tx, sql, n, params, on_step, fx) < 0)
        fx_fail(fx, 503, "unavailable", "the database is unavailable; try again");
}

/* ---- the lock step: what the ticket and the caller's slot are now ------ */

/* A retry with a key already stored answers what was stored. */
static const char replay_sql[] =
    "SELECT c.distance_m, c.radius_m, c.geofence, c.late, array_to_string(c.flags, ','),"
    "       (extract(epoch FROM c.fix_at) * 1000)::bigint,"
    "       to_char(c.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), a.state, t.status,"
    "       c.accuracy_m, c.kind, c.ticket_id"
    " FROM checkins c JOIN tickets t ON t.id = c.ticket_id"
    " JOIN assignments a ON a.ticket_id = c.ticket_id AND a.tech_id = c.tech_id"
    " WHERE c.tech_id = $1 AND c.idempotency_key = $2";

/* Columns: 0 status, 1 lat, 2 lng, 3 radius, 4 sched_ms, 5 asg state, 6 prev
 * lat, 7 prev lng, 8 prev acc, 9 prev fix ms, 10 identical earlier fix
 * exists, 11 bast exists, 12 other active assignments not done. No row: no
 * such ticket, or the caller holds no slot of it (both 404). */
static const char lock_sql[] =
    "SELECT t.status, t.lat, t.lng, coalesce(t.geofence_m, $3::int),"
    "       (extract(epoch FROM t.scheduled_at) * 1000)::bigint, a.state,"
    "       p.lat, p.lng, p.accuracy_m, (extract(epoch FROM p.fix_at) * 1000)::bigint,"
    "       EXISTS (SELECT 1 FROM checkins d WHERE d.tech_id = $2 AND d.lat = $4::float8 AND d.lng = $5::float8"
    "               AND d.accuracy_m = $6::float8),"
    "       EXISTS (SELECT 1 FROM attachments b WHERE b.ticket_id = t.id AND b.kind = 'bast'),"
    "       (SELECT count(*) FROM assignments o WHERE o.ticket_id = t.id AND o.tech_id <> $2"
    "          AND o.released_at IS NULL AND o.state NOT IN ('done', 'replaced', 'cancelled')),"
    "       (SELECT count(*) FROM assignments f WHERE f.ticket_id = t.id AND f.released_at IS NULL) >= t.techs_needed"
    " FROM tickets t"
    " JOIN assignments a ON a.ticket_id = t.id AND a.tech_id = $2 AND a.released_at IS NULL"
    " LEFT JOIN LATERAL (SELECT lat, lng, accuracy_m, fix_at FROM checkins c WHERE c.tech_id = $2"
    "                    ORDER BY c.fix_at DESC LIMIT 1) p ON true"
    " WHERE t.id = $1"
    /* NO KEY UPDATE, not UPDATE: we never change a key, and FOR UPDATE
     * would also block the foreign-key checks (KEY SHARE) of the
     * persister inserting this ticket's slots, which deadlocked with it
     * when a check-in followed its claim within milliseconds. */
    " FOR NO KEY UPDATE OF t, a";

static const char lock_cancel_sql[] = "SELECT status FROM tickets WHERE id = $1 FOR NO KEY UPDATE";

static const char *asg_conflict_code(int from, int event)
{
    if (event == DOM_ASG_EV_CHECKIN && (from == DOM_ASG_CHECKED_IN || from == DOM_ASG_CHECKED_OUT))
        return "already_checked_in";
    if (event == DOM_ASG_EV_CHECKIN && from == DOM_ASG_DONE)
        return "already_done";
    if (event == DOM_ASG_EV_CHECKOUT && (from == DOM_ASG_CLAIMED || from == DOM_ASG_LATE || from == DOM_ASG_NO_SHOW))
        return "not_checked_in";
    if (event == DOM_ASG_EV_CHECKOUT && (from == DOM_ASG_CHECKED_OUT || from == DOM_ASG_DONE))
        return "already_checked_out";
    if (event == DOM_ASG_EV_COMPLETE && from == DOM_ASG_DONE)
        return "already_done";
    if (event == DOM_ASG_EV_COMPLETE && from != DOM_ASG_CHECKED_OUT)
        return "not_checked_out";
    return "invalid_transition";
}

static void conflict(struct field_ctx *fx, enum dom_entity e, int from, int event, const char *code)
{
    char msg[256];
    dom_explain(e, from, event, msg, sizeof(msg));
    fx_fail(fx, 409, code, msg);
}

static void field_write(struct field_ctx *fx, PGresult *res);

static void field_locked(struct field_ctx *fx, PGresult *res)
{
    if (PQntuples(res) == 0) {
        fx_fail(fx, 404, "not_found", "no such ticket");
        return;
    }
    int ticket = dom_state_parse(DOM_TICKET, PQgetvalue(res, 0, 0));
    fx->ticket_from = fx->ticket_to = ticket;
    if (fx->op == OP_CANCEL) {
        int              to;
        enum dom_verdict v = dom_transition(DOM_TICKET, ticket, DOM_TICKET_EV_CANCEL, fx->actor, &to);
        if (v != DOM_OK) {
            conflict(fx, DOM_TICKET, ticket, DOM_TICKET_EV_CANCEL, "invalid_transition");
            return;
        }
        fx->ticket_to = to;
        fx->ticket_changes = true;
        field_write(fx, res);
        return;
    }
    if (ticket == DOM_TICKET_CANCELLED || ticket == DOM_TICKET_CLOSED) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the ticket is %s", PQgetvalue(res, 0, 0));
        fx_fail(fx, 409, "ticket_not_active", msg);
        return;
    }
    /* The ticket as it is now. The persister writes open -> assigned a few
     * milliseconds after the claim that took the last slot, and a
     * technician may check in inside that window (read your own claim): the
     * slots in PostgreSQL are the truth of "every slot taken", so a full
     * ticket counts as assigned here; and a ticket whose technician is
     * finishing has been in progress whatever the persister wrote since. */
    int effective = ticket;
    if (effective == DOM_TICKET_OPEN && PQgetvalue(res, 0, 13)[0] == 't')
        effective = DOM_TICKET_ASSIGNED;
    if (fx->op == OP_COMPLETE && effective == DOM_TICKET_ASSIGNED)
        effective = DOM_TICKET_IN_PROGRESS;
    int              asg = dom_state_parse(DOM_ASSIGNMENT, PQgetvalue(res, 0, 5));
    int              event = fx->op == OP_CHECKIN    ? DOM_ASG_EV_CHECKIN
                             : fx->op == OP_CHECKOUT ? DOM_ASG_EV_CHECKOUT
                                                     : DOM_ASG_EV_COMPLETE;
    int              to;
    enum dom_verdict v = dom_transition(DOM_ASSIGNMENT, asg, event, fx->actor, &to);
    if (v != DOM_OK) {
        if (fx->idem[0] && (fx->op == OP_CHECKIN || fx->op == OP_CHECKOUT)) {
            /* A twin sent with the same key may have stored it while this
             * one waited for the lock: the replay before the lock could not
             * see it yet, its commit is visible now (READ COMMITTED). Ask
             * again before refusing, so a retry gets the stored result and
             * not "already_checked_in". */
            char uid[24];
            snprintf(uid, sizeof(uid), "%lld", (long long)fx->user_id);
            fx->conflict_code = asg_conflict_code(asg, event);
            dom_explain(DOM_ASSIGNMENT, asg, event, fx->conflict_msg, sizeof(fx->conflict_msg));
            const char *p[2] = {uid, fx->idem};
            fx_query(fx, ST_RECHECK, replay_sql, 2, p);
            return;
        }
        conflict(fx, DOM_ASSIGNMENT, asg, event, asg_conflict_code(asg, event));
        return;
    }
    fx->asg_to = to;
    if (fx->op == OP_COMPLETE) {
        if (PQgetvalue(res, 0, 11)[0] != 't') {
            fx_fail(fx, 409, "bast_missing", "upload the signed BAST before finishing the job");
            return;
        }
        /* the last technician to finish finishes the ticket */
        if (atoll(PQgetvalue(res, 0, 12)) == 0 &&
            dom_transition(DOM_TICKET, effective, DOM_TICKET_EV_ALL_DONE, DOM_ACTOR_SYSTEM, &to) == DOM_OK) {
            fx->ticket_to = to;
            fx->ticket_changes = true;
        }
    } else if (fx->op == OP_CHECKIN) {
        if (dom_transition(DOM_TICKET, effective, DOM_TICKET_EV_FIRST_CHECKIN, DOM_ACTOR_SYSTEM, &to) == DOM_OK) {
            fx->ticket_to = to;
            fx->ticket_changes = true;
        }
    }
    if (fx->op == OP_CHECKIN || fx->op == OP_CHECKOUT) {
        int64_t server = now_ms();
        if (!fx->has_fix_at)
            fx->fix.at_ms = server;
        struct geo_rules rules;
        geo_rules_default(&rules);
        rules.offline_max_ms = fx->req->svc->cfg->offline_max_s * 1000;
        struct geo_fix prev, *pp = NULL;
        if (!PQgetisnull(res, 0, 6)) {
            prev.lat = strtod(PQgetvalue(res, 0, 6), NULL);
            prev.lng = strtod(PQgetvalue(res, 0, 7), NULL);
            prev.accuracy_m = strtod(PQgetvalue(res, 0, 8), NULL);
            prev.at_ms = atoll(PQgetvalue(res, 0, 9));
            pp = &prev;
        }
        fx->flags = geo_evidence(&fx->fix, pp, server, &rules);
        if (PQgetvalue(res, 0, 10)[0] == 't')
            fx->flags |= GEO_FLAG_DUPLICATE_FIX;
        if (fx->flags & GEO_FLAG_STALE) {
            char msg[128];
            snprintf(msg, sizeof(msg), "fix_at: a fix older than %lld s is not accepted",
                     (long long)fx->req->svc->cfg->offline_max_s);
            fx_fail(fx, 422, "fix_too_old", msg);
            return;
        }
        fx->radius_m = atoi(PQgetvalue(res, 0, 3));
        fx->has_distance = !PQgetisnull(res, 0, 1) && !PQgetisnull(res, 0, 2);
        if (fx->has_distance) {
            fx->distance_m = geo_haversine_m(fx->fix.lat, fx->fix.lng, strtod(PQgetvalue(res, 0, 1), NULL),
                                             strtod(PQgetvalue(res, 0, 2), NULL));
            fx->fence = geo_fence_verdict(fx->distance_m, fx->fix.accuracy_m, fx->radius_m);
        } else {
            fx->fence = GEO_UNCERTAIN;
        }
        fx->late = fx->op == OP_CHECKIN &&
                   geo_is_late(fx->fix.at_ms, atoll(PQgetvalue(res, 0, 4)), fx->req->svc->cfg->late_grace_s);
    }
    field_write(fx, res);
}

/* ---- the write step ------------------------------------------------------ */

/* Check-in/out: the fix row, the slot's new state, the ticket's (when it
 * moves), and the audit rows, in one statement. */
static const char write_fix_sql[] =
    "WITH c AS ("
    "  INSERT INTO checkins (ticket_id, tech_id, kind, lat, lng, accuracy_m, distance_m, radius_m, geofence, late,"
    "                        flags, fix_at, idempotency_key)"
    "  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text[], to_timestamp($12::bigint / 1000.0), $13)"
    "  RETURNING id, received_at),"
    " a AS ("
    "  UPDATE assignments SET state = $14,"
    "         checked_in_at = CASE WHEN $3 = 'in' THEN to_timestamp($12::bigint / 1000.0) ELSE checked_in_at END,"
    "         checked_out_at = CASE WHEN $3 = 'out' THEN to_timestamp($12::bigint / 1000.0) ELSE checked_out_at END"
    "  WHERE ticket_id = $1 AND tech_id = $2 AND released_at IS NULL RETURNING state),"
    " t AS ("
    "  UPDATE tickets SET status = $16, updated_at = now() WHERE id = $1 AND $16 <> $15 RETURNING status),"
    " au AS ("
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
    "  SELECT $2, 'ticket', $1, CASE WHEN $3 = 'in' THEN 'assignment.checkin' ELSE 'assignment.checkout' END,"
    "         $17, $14, jsonb_build_object('tech_id', $2::bigint, 'checkin_id', c.id, 'geofence', $9::text,"
    "                                     'distance_m', $7::float8, 'late', $10::bool, 'flags', $11::text[])"
    "  FROM c"
    "  UNION ALL SELECT $2, 'ticket', $1, 'ticket.status', $15, $16, '{}'::jsonb WHERE $16 <> $15)"
    "SELECT to_char(c.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM c";

static const char write_complete_sql[] =
    "WITH a AS ("
    "  UPDATE assignments SET state = 'done', done_at = now()"
    "  WHERE ticket_id = $1 AND tech_id = $2 AND released_at IS NULL RETURNING 1),"
    " t AS (UPDATE tickets SET status = $4, updated_at = now() WHERE id = $1 AND $4 <> $3 RETURNING 1),"
    " au AS ("
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
    "  SELECT $2, 'ticket', $1, 'assignment.complete', $5, 'done', jsonb_build_object('tech_id', $2::bigint)"
    "  UNION ALL SELECT $2, 'ticket', $1, 'ticket.status', $3, $4, '{}'::jsonb WHERE $4 <> $3)"
    "SELECT (SELECT count(*) FROM a)";

static const char write_cancel_sql[] =
    "WITH t AS ("
    "  UPDATE tickets SET status = 'cancelled', cancel_reason = nullif($3, ''), updated_at = now()"
    "  WHERE id = $1 RETURNING id),"
    " a AS ("
    "  UPDATE assignments SET state = 'cancelled'"
    "  WHERE ticket_id = $1 AND released_at IS NULL AND state NOT IN ('done', 'replaced', 'cancelled') RETURNING 1),"
    " au AS ("
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
    "  VALUES ($2, 'ticket', $1, 'ticket.cancel', $4, 'cancelled', jsonb_build_object('reason', $3::text)))"
    "SELECT (SELECT count(*) FROM a)";

static void field_write(struct field_ctx *fx, PGresult *res)
{
    struct gss_services *svc = fx->req->svc;
    char                 tid[24], uid[24];
    snprintf(tid, sizeof(tid), "%lld", (long long)fx->ticket_id);
    snprintf(uid, sizeof(uid), "%lld", (long long)fx->user_id);
    const char *from_t = dom_state_name(DOM_TICKET, fx->ticket_from);
    const char *to_t = dom_state_name(DOM_TICKET, fx->ticket_to);
    (void)svc;
    if (fx->op == OP_CANCEL) {
        const char *p[4] = {tid, uid, fx->reason, from_t};
        fx_query(fx, ST_WRITE, write_cancel_sql, 4, p);
        return;
    }
    const char *asg_from = PQgetvalue(res, 0, 5);
    char        from_a[24];
    snprintf(from_a, sizeof(from_a), "%s", asg_from);
    if (fx->op == OP_COMPLETE) {
        const char *p[5] = {tid, uid, from_t, to_t, from_a};
        fx_query(fx, ST_WRITE, write_complete_sql, 5, p);
        return;
    }
    char lat[32], lng[32], acc[32], dist[32], rad[16], fixms[24];
    snprintf(lat, sizeof(lat), "%.8f", fx->fix.lat);
    snprintf(lng, sizeof(lng), "%.8f", fx->fix.lng);
    snprintf(acc, sizeof(acc), "%.3f", fx->fix.accuracy_m);
    snprintf(dist, sizeof(dist), "%.2f", fx->distance_m);
    snprintf(rad, sizeof(rad), "%d", fx->radius_m);
    snprintf(fixms, sizeof(fixms), "%lld", (long long)fx->fix.at_ms);
    /* flags as a PostgreSQL text[] literal: names are [a-z_] only */
    char flags[256] = "{";
    for (unsigned bit = 1; bit <= GEO_FLAG_ALL; bit <<= 1)
        if ((fx->flags & bit) && geo_flag_name(bit)) {
            if (flags[1])
                strcat(flags, ",");
            strcat(flags, geo_flag_name(bit));
        }
    strcat(flags, "}");
    const char *p[17] = {tid,
                         uid,
                         fx->op == OP_CHECKIN ? "in" : "out",
                         lat,
                         lng,
                         acc,
                         fx->has_distance ? dist : NULL,
                         rad,
                         geo_fence_name(fx->fence),
                         fx->late ? "t" : "f",
                         flags,
                         fixms,
                         fx->idem[0] ? fx->idem : NULL,
                         dom_state_name(DOM_ASSIGNMENT, fx->asg_to),
                         from_t,
                         to_t,
                         from_a};
    fx_query(fx, ST_WRITE, write_fix_sql, 17, p);
}

/* ---- answers ------------------------------------------------------------- */

static void fix_answer(struct field_ctx *fx, const char *received_at, bool replayed)
{
    struct buf *b = &fx->answer;
    char        when[32];
    buf_reset(b);
    jw_obj(b);
    jw_key(b, "distance_m");
    if (fx->has_distance)
        jw_dbl(b, round(fx->distance_m * 10) / 10);
    else
        jw_null(b);
    jw_key(b, "within_geofence");
    if (fx->fence == GEO_UNCERTAIN)
        jw_null(b);
    else
        jw_bool(b, fx->fence == GEO_INSIDE);
    jw_key_str(b, "geofence", geo_fence_name(fx->fence));
    jw_key_int(b, "radius_m", fx->radius_m);
    jw_key(b, "accuracy_m");
    jw_dbl(b, fx->fix.accuracy_m);
    jw_key_bool(b, "late", fx->late);
    jw_key(b, "flags");
    geo_flags_json(fx->flags, b);
    jw_key_bool(b, "offline", (fx->flags & GEO_FLAG_OFFLINE) != 0);
    iso_utc(fx->fix.at_ms, when);
    jw_key_str(b, "fix_at", when);
    jw_key_str(b, "received_at", received_at);
    jw_key_str(b, "state", dom_state_name(DOM_ASSIGNMENT, fx->asg_to));
    jw_key_str(b, "ticket_status", dom_state_name(DOM_TICKET, fx->ticket_to));
    jw_key_bool(b, "replayed", replayed);
    jw_end_obj(b);
}

static void on_pool_closed(void *ud, enum pool_claim_result r, int slot, int64_t seq)
{
    struct field_ctx *fx = ud;
    (void)slot;
    (void)seq;
    if (r != POOL_OK && r != POOL_NOT_OPEN)
        log_warn("field", "ticket %lld cancelled but its job did not close in the pool: %s (gssd check finds it)",
                 (long long)fx->ticket_id, pool_result_code(r));
    /* The ticket as GET shows it, now cancelled. */
    struct http_req *req = fx->req;
    fx_free(fx);
    h_tickets_get(req);
}

static void field_committed(struct field_ctx *fx);

static void on_pool_done(void *ud, enum pool_claim_result r, int slot, int64_t seq)
{
    struct field_ctx *fx = ud;
    (void)slot;
    (void)seq;
    if (r != POOL_OK && r != POOL_NOT_OPEN)
        log_warn("field", "ticket %lld is work_done but its job did not close in the pool: %s (gssd check finds it)",
                 (long long)fx->ticket_id, pool_result_code(r));
    field_committed(fx);
}

/* monitor.checkin / monitor.work_done / monitor.cancelled for CS's
 * screens (docs/monitor.md), once the change is committed. */
static void field_monitor(struct field_ctx *fx, const char *type)
{
    struct http_req *req = fx->req;
    struct buf       b = {0};
    char             when[32];
    jw_obj(&b);
    jw_key_int(&b, "ticket_id", fx->ticket_id);
    if (fx->op != OP_CANCEL) {
        jw_key_int(&b, "tech_id", fx->user_id);
        jw_key_str(&b, "tech_name", req->session->name);
    }
    jw_key_str(&b, "state", fx->op == OP_CHECKIN ? (fx->late ? "checked_in" : "on_time")
                            : fx->op == OP_CANCEL ? "cancelled"
                                                  : "done");
    iso_utc(fx->op == OP_CHECKIN ? fx->fix.at_ms : now_ms(), when);
    jw_key_str(&b, "at", when);
    jw_key_str(&b, "ticket_status", dom_state_name(DOM_TICKET, fx->ticket_to));
    if (fx->op == OP_CHECKIN) {
        jw_key_bool(&b, "late", fx->late);
        jw_key_str(&b, "geofence", geo_fence_name(fx->fence));
        jw_key(&b, "distance_m");
        if (fx->has_distance)
            jw_dbl(&b, round(fx->distance_m * 10) / 10);
        else
            jw_null(&b);
        jw_key(&b, "flags");
        geo_flags_json(fx->flags, &b);
    }
    jw_end_obj(&b);
    monitor_publish(req->svc->monitor, type, b.data);
    buf_free(&b);
}

static void field_committed(struct field_ctx *fx)
{
    struct http_req *req = fx->req;
    if (fx->op == OP_CHECKIN)
        field_monitor(fx, "monitor.checkin");
    else if (fx->op == OP_CANCEL)
        field_monitor(fx, "monitor.cancelled");
    else if (fx->op == OP_COMPLETE && (fx->pool_done || fx->ticket_to != DOM_TICKET_WORK_DONE))
        field_monitor(fx, "monitor.work_done"); /* once, after the pool's close when there is one */
    if (fx->op == OP_CANCEL) {
        if (pool_close(req->svc->pool, fx->ticket_id, "cancelled", on_pool_closed, fx) < 0)
            on_pool_closed(fx, POOL_UNAVAILABLE, 0, 0);
        return;
    }
    if (fx->op == OP_COMPLETE && fx->ticket_to == DOM_TICKET_WORK_DONE && !fx->pool_done) {
        /* The work is done: the job leaves the pool for good, and each
         * technician gets the job back on their allowance (tech_busy). */
        fx->pool_done = true;
        if (pool_close(req->svc->pool, fx->ticket_id, "done", on_pool_done, fx) < 0)
            on_pool_done(fx, POOL_UNAVAILABLE, 0, 0);
        return;
    }
    if (fx->op == OP_COMPLETE) {
        struct buf b = {0};
        jw_obj(&b);
        jw_key_str(&b, "state", "done");
        jw_key_str(&b, "ticket_status", dom_state_name(DOM_TICKET, fx->ticket_to));
        jw_end_obj(&b);
        http_respond_json(req, 200, b.data, b.len);
        buf_free(&b);
        fx_free(fx);
        return;
    }
    http_respond_json(req, 200, fx->answer.data, fx->answer.len);
    fx_free(fx);
}

static void field_replay(struct field_ctx *fx, PGresult *res)
{
    /* The key is the technician's, not the ticket's: a check-in stored for
     * another ticket (or the other kind) is not this request's result. */
    if (strcmp(PQgetvalue(res, 0, 10), fx->op == OP_CHECKIN ? "in" : "out") != 0 ||
        atoll(PQgetvalue(res, 0, 11)) != fx->ticket_id) {
        fx_fail(fx, 422, "idempotency_key_reused", "this Idempotency-Key was used for another request");
        return;
    }
    fx->has_distance = !PQgetisnull(res, 0, 0);
    fx->distance_m = fx->has_distance ? strtod(PQgetvalue(res, 0, 0), NULL) : 0;
    fx->radius_m = atoi(PQgetvalue(res, 0, 1));
    fx->fence = !strcmp(PQgetvalue(res, 0, 2), "inside")    ? GEO_INSIDE
                : !strcmp(PQgetvalue(res, 0, 2), "outside") ? GEO_OUTSIDE
                                                            : GEO_UNCERTAIN;
    fx->late = PQgetvalue(res, 0, 3)[0] == 't';
    fx->flags = 0;
    const char *f = PQgetvalue(res, 0, 4);
    for (unsigned bit = 1; bit <= GEO_FLAG_ALL; bit <<= 1) {
        const char *name = geo_flag_name(bit);
        size_t      nl = name ? strlen(name) : 0;
        for (const char *p = f; name && (p = strstr(p, name)); p += nl)
            if ((p == f || p[-1] == ',') && (p[nl] == ',' || p[nl] == '\0'))
                fx->flags |= bit;
    }
    fx->fix.at_ms = atoll(PQgetvalue(res, 0, 5));
    fx->fix.accuracy_m = strtod(PQgetvalue(res, 0, 9), NULL);
    fx->asg_to = dom_state_parse(DOM_ASSIGNMENT, PQgetvalue(res, 0, 7));
    fx->ticket_to = dom_state_parse(DOM_TICKET, PQgetvalue(res, 0, 8));
    fix_answer(fx, PQgetvalue(res, 0, 6), true);
    pg_tx_rollback(fx->tx);
    fx->tx = NULL;
    http_respond_json(fx->req, 200, fx->answer.data, fx->answer.len);
    fx_free(fx);
}

static void on_step(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct field_ctx *fx = ud;
    if (fx->step == ST_BEGIN)
        fx->tx = tx;
    if (err != PG_OK) {
        if (fx->step == ST_COMMIT || fx->step == ST_BEGIN)
            fx->tx = NULL; /* a failed commit or begin leaves no transaction to roll back */
        if (err == PG_ERR_SQL && state && (!strcmp(state, "40P01") || !strcmp(state, "40001")) &&
            fx->attempts < FIELD_TX_ATTEMPTS && !http_req_gone(fx->req)) {
            /* A deadlock or serialization failure rolled everything back:
             * the persister's batch locks a slot, then its ticket, while
             * this transaction locks the ticket, then the slot, when a
             * check-in follows its claim within milliseconds. Nothing was
             * written: run the whole transaction again. */
            fx->attempts++;
            if (fx->tx) {
                pg_tx_rollback(fx->tx);
                fx->tx = NULL;
            }
            fx->ticket_changes = false;
            fx->conflict_code = NULL;
            fx->flags = 0;
            buf_reset(&fx->answer);
            fx->step = ST_BEGIN;
            if (pg_tx_begin(fx->req->svc->pg, on_step, fx) < 0)
                fx_fail(fx, 503, "unavailable", "the database is unavailable; try again");
            return;
        }
        if (err == PG_ERR_SQL && state && !strcmp(state, "23505") && fx->step == ST_WRITE) {
            /* the same Idempotency-Key raced in on another request */
            fx_fail(fx, 409, "duplicate_request", "the same request is being stored; retry to read its result");
            return;
        }
        fx_pg_fail(fx, err, state, msg);
        return;
    }
    if (http_req_gone(fx->req) && fx->step != ST_COMMIT) {
        /* nobody to answer: do not change anything on their behalf */
        fx_fail(fx, 499, "client_gone", "the client went away");
        return;
    }
    char tid[24], uid[24], rad[16], lat[32], lng[32], acc[32];
    snprintf(tid, sizeof(tid), "%lld", (long long)fx->ticket_id);
    snprintf(uid, sizeof(uid), "%lld", (long long)fx->user_id);
    switch (fx->step) {
    case ST_BEGIN:
        if (fx->idem[0] && (fx->op == OP_CHECKIN || fx->op == OP_CHECKOUT)) {
            const char *p[2] = {uid, fx->idem};
            fx_query(fx, ST_REPLAY, replay_sql, 2, p);
            return;
        }
        /* fall through */
    case ST_REPLAY:
        if (fx->step == ST_REPLAY && PQntuples(res) > 0) {
            field_replay(fx, res);
            return;
        }
        snprintf(rad, sizeof(rad), "%lld", (long long)fx->req->svc->cfg->geofence_m);
        snprintf(lat, sizeof(lat), "%.8f", fx->fix.lat);
        snprintf(lng, sizeof(lng), "%.8f", fx->fix.lng);
        snprintf(acc, sizeof(acc), "%.3f", fx->fix.accuracy_m);
        if (fx->op == OP_CANCEL) {
            const char *p[1] = {tid};
            fx_query(fx, ST_LOCK, lock_cancel_sql, 1, p);
        } else {
            const char *p[6] = {tid, uid, rad, lat, lng, acc};
            fx_query(fx, ST_LOCK, lock_sql, 6, p);
        }
        return;
    case ST_LOCK: field_locked(fx, res); return;
    case ST_RECHECK:
        if (PQntuples(res) > 0)
            field_replay(fx, res);
        else
            fx_fail(fx, 409, fx->conflict_code, fx->conflict_msg);
        return;
    case ST_WRITE:
        if (fx->op == OP_CHECKIN || fx->op == OP_CHECKOUT)
            fix_answer(fx, PQntuples(res) ? PQgetvalue(res, 0, 0) : "", false);
        fx->step = ST_COMMIT;
        if (pg_tx_commit(fx->tx, on_step, fx) < 0)
            fx_fail(fx, 503, "unavailable", "the database is unavailable; try again");
        return;
    case ST_COMMIT:
        fx->tx = NULL;
        field_committed(fx);
        return;
    }
}

/* ---- reading your own claim ------------------------------------------------ */

struct access_ctx {
    struct http_req *req;
    int64_t          ticket_id;
    field_access_cb  cb;
    void            *ud;
};

static void access_done(struct access_ctx *ax, int verdict)
{
    field_access_cb  cb = ax->cb;
    void            *ud = ax->ud;
    struct http_req *req = ax->req;
    free(ax);
    cb(req,
       verdict == AUTH_ACCESS_ALLOWED  ? FIELD_ALLOWED
       : verdict == AUTH_ACCESS_DENIED ? FIELD_DENIED
                                       : FIELD_UNAVAILABLE,
       ud);
}

static void on_asg_written(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct access_ctx *ax = ud;
    (void)res;
    if (err != PG_OK) {
        log_warn("field", "writing a claimed slot ahead of the persister failed: %s %s", state ? state : "",
                 msg ? msg : "");
        access_done(ax, AUTH_ACCESS_UNAVAILABLE);
        return;
    }
    access_done(ax, AUTH_ACCESS_ALLOWED);
}

/* Redis holds the truth of a fresh claim: a slot there is the caller's even
 * before the persister has written it. Writing the row now (the persister's
 * own idempotent upsert, which it later folds into) lets every handler after
 * this one read it from PostgreSQL. */
static void on_slot(void *ud, int slot)
{
    struct access_ctx *ax = ud;
    if (slot < 0) {
        access_done(ax, AUTH_ACCESS_UNAVAILABLE);
        return;
    }
    if (slot == 0) {
        access_done(ax, AUTH_ACCESS_DENIED);
        return;
    }
    char tid[24], uid[24], sl[16];
    snprintf(tid, sizeof(tid), "%lld", (long long)ax->ticket_id);
    snprintf(uid, sizeof(uid), "%lld", (long long)ax->req->session->user_id);
    snprintf(sl, sizeof(sl), "%d", slot);
    const char *p[3] = {tid, uid, sl};
    if (pg_query(ax->req->svc->pg,
                 "INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at)"
                 " SELECT $1, $2, $3, now() FROM tickets t WHERE t.id = $1"
                 " ON CONFLICT (ticket_id, tech_id) DO NOTHING",
                 3, p, on_asg_written, ax) < 0)
        access_done(ax, AUTH_ACCESS_UNAVAILABLE);
}

static void on_pg_access(void *ud, int verdict)
{
    struct access_ctx *ax = ud;
    if (verdict == AUTH_ACCESS_DENIED && ax->req->session->role == ROLE_TS) {
        if (pool_slot_of(ax->req->svc->pool, ax->ticket_id, ax->req->session->user_id, on_slot, ax) < 0)
            access_done(ax, AUTH_ACCESS_UNAVAILABLE);
        return;
    }
    access_done(ax, verdict);
}

bool field_refused(struct http_req *req, enum field_verdict v)
{
    if (v == FIELD_ALLOWED)
        return false;
    if (v == FIELD_UNAVAILABLE)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    else
        http_error(req, 404, "not_found", "no such ticket");
    return true;
}

void field_access(struct http_req *req, int64_t ticket_id, field_access_cb cb, void *ud)
{
    struct access_ctx *ax = xcalloc(1, sizeof(*ax));
    ax->req = req;
    ax->ticket_id = ticket_id;
    ax->cb = cb;
    ax->ud = ud;
    auth_ticket_access(req->svc->pg, req->session, ticket_id, on_pg_access, ax);
}

/* ---- entry points ------------------------------------------------------------ */

static void fx_start(struct http_req *req, enum field_verdict v, void *ud)
{
    struct field_ctx *fx = ud;
    (void)req;
    if (v == FIELD_UNAVAILABLE) {
        fx_fail(fx, 503, "unavailable", "the database is unavailable; try again");
        return;
    }
    if (v == FIELD_DENIED) {
        fx_fail(fx, 404, "not_found", "no such ticket");
        return;
    }
    fx->step = ST_BEGIN;
    if (pg_tx_begin(fx->req->svc->pg, on_step, fx) < 0)
        fx_fail(fx, 503, "unavailable", "the database is unavailable; try again");
}

static struct field_ctx *fx_new(struct http_req *req, enum field_op op)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return NULL;
    }
    struct field_ctx *fx = xcalloc(1, sizeof(*fx));
    fx->req = req;
    fx->op = op;
    fx->ticket_id = id;
    fx->user_id = req->session->user_id;
    fx->actor = h_actor(req->session);
    return fx;
}

static void fix_request(struct http_req *req, enum field_op op)
{
    char idem[72];
    if (http_idempotency_key(req, idem) < 0) {
        http_error(req, 400, "bad_idempotency_key", "Idempotency-Key: 1 to 64 of A-Z a-z 0-9 - _");
        return;
    }
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return;
    yyjson_val *root = yyjson_doc_get_root(doc);
    yyjson_val *lat = yyjson_obj_get(root, "lat"), *lng = yyjson_obj_get(root, "lng");
    yyjson_val *acc = yyjson_obj_get(root, "accuracy_m"), *at = yyjson_obj_get(root, "fix_at");
    const char *bad = NULL;
    if (!yyjson_is_num(lat) || !yyjson_is_num(lng))
        bad = "lat, lng: numbers (degrees) are required";
    else if (!yyjson_is_num(acc))
        bad = "accuracy_m: a number (metres) is required";
    else if (!geo_valid(yyjson_get_num(lat), yyjson_get_num(lng), yyjson_get_num(acc)))
        bad = "lat, lng, accuracy_m: out of range";
    int64_t fix_ms = -1;
    if (!bad && at && !yyjson_is_null(at)) {
        if (!yyjson_is_str(at) || (fix_ms = parse_iso_ms(yyjson_get_str(at))) < 0)
            bad = "fix_at: an ISO 8601 time with a zone (2026-12-02T02:01:00Z)";
    }
    if (bad) {
        yyjson_doc_free(doc);
        http_error(req, 422, "validation_failed", bad);
        return;
    }
    struct field_ctx *fx = fx_new(req, op);
    if (!fx) {
        yyjson_doc_free(doc);
        return;
    }
    fx->fix.lat = yyjson_get_num(lat);
    fx->fix.lng = yyjson_get_num(lng);
    fx->fix.accuracy_m = yyjson_get_num(acc);
    fx->has_fix_at = fix_ms >= 0;
    fx->fix.at_ms = fix_ms;
    memcpy(fx->idem, idem, sizeof(idem));
    yyjson_doc_free(doc);
    field_access(req, fx->ticket_id, fx_start, fx);
}

void h_field_checkin(struct http_req *req)
{
    fix_request(req, OP_CHECKIN);
}

void h_field_checkout(struct http_req *req)
{
    fix_request(req, OP_CHECKOUT);
}

void h_field_complete(struct http_req *req)
{
    struct field_ctx *fx = fx_new(req, OP_COMPLETE);
    if (fx)
        field_access(req, fx->ticket_id, fx_start, fx);
}

void h_tickets_cancel(struct http_req *req)
{
    char reason[512] = "";
    if (req->body.len) {
        yyjson_doc *doc = http_json_body(req);
        if (!doc)
            return;
        yyjson_val *r = yyjson_obj_get(yyjson_doc_get_root(doc), "reason");
        if (r && !yyjson_is_null(r)) {
            if (!yyjson_is_str(r) || yyjson_get_len(r) > 500) {
                yyjson_doc_free(doc);
                http_error(req, 422, "validation_failed", "reason: text of at most 500 bytes");
                return;
            }
            snprintf(reason, sizeof(reason), "%s", yyjson_get_str(r));
        }
        yyjson_doc_free(doc);
    }
    struct field_ctx *fx = fx_new(req, OP_CANCEL);
    if (!fx)
        return;
    memcpy(fx->reason, reason, sizeof(reason));
    fx_start(req, FIELD_ALLOWED, fx);
}
