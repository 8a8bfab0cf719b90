/*
 * "Cari Pengganti": POST /api/v1/tickets/{id}/replace and replace_auto.
 * The contract is in replace.h; the API in docs/monitor.md and
 * docs/openapi.yaml.
 *
 * One transaction on a pinned connection, with the pool's release inside
 * it, so that PostgreSQL records a replacement only when Redis made it:
 *   BEGIN
 *   SELECT the ticket, then the technician's assignment, FOR NO KEY UPDATE
 *   (C: the state table, domain/states.c)
 *   release.lua (Redis): the slot is free, the technician barred, the job
 *   urgent on every board
 *   one statement: the assignment replaced, the ticket open, the audit rows
 *   COMMIT, then monitor.replaced and the answer.
 * Locks are taken ticket first, then assignment, as field.c does, so the
 * two queue instead of deadlocking. While the locks are held nobody else
 * can check this technician in or replace them, so what the table allowed
 * is still true when Redis is asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "auth/roles.h"
#include "auth/session.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/jw.h"
#include "core/log.h"
#include "domain/states.h"
#include "http/handlers/handlers.h"
#include "http/handlers/replace.h"
#include "http/services.h"
#include "pool/monitor.h"
#include "pool/pool.h"
#include "store/pg.h"

enum rp_step { RS_BEGIN, RS_LOCK_TICKET, RS_LOCK_ASG, RS_ADOPT, RS_WRITE, RS_COMMIT };

struct rp_ctx;
/* The end of the core: status 200 (committed) or the refusal / failure. */
typedef void (*rp_done_cb)(struct rp_ctx *rx, int status, const char *code, const char *msg);

struct rp_ctx {
    struct gss_services *svc;
    struct http_req     *req; /* NULL for replace_auto */
    struct pg_tx        *tx;
    enum rp_step         step;
    rp_done_cb           done;
    int64_t              ticket_id, tech_id;
    int64_t              actor_id; /* 0: gssd itself (audit actor_id NULL) */
    unsigned             actor;    /* DOM_ACTOR_* */
    bool                 force;
    bool                 adopted;  /* the slot was read from Redis and written here */
    bool                 released; /* Redis has made the release: no way back */
    char                 reason[512];
    char                 code[40];     /* the ticket's code, for monitor.replaced */
    char                 tech_name[128];
    int                  ticket_from, ticket_to, asg_from, asg_event;
    int                  slot;
    int64_t              seq;
};

static void rp_free(struct rp_ctx *rx)
{
    free(rx);
}

static void rp_end(struct rp_ctx *rx, int status, const char *code, const char *msg)
{
    if (rx->tx) {
        pg_tx_rollback(rx->tx);
        rx->tx = NULL;
    }
    rx->done(rx, status, code, msg);
}

static void rp_pg_fail(struct rp_ctx *rx, enum pg_err err, const char *state, const char *msg)
{
    int status = pg_http_status(err, state);
    if (status >= 500 && status != 503)
        log_error("replace", "query failed: %s %s", state ? state : "", msg ? msg : "");
    rp_end(rx, status, status == 503 ? "unavailable" : "internal",
           status == 503 ? "the database is unavailable; try again" : "the request failed");
}

static void on_step(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg);

static void rp_query(struct rp_ctx *rx, enum rp_step next, const char *sql, int n, const char *const *params)
{
    rx->step = next;
    if (pg_tx_query(rx->tx, sql, n, params, on_step, rx) < 0)
        rp_end(rx, 503, "unavailable", "the database is unavailable; try again");
}

/* NO KEY UPDATE: keys never change, and it leaves the persister's
 * foreign-key checks on the ticket (KEY SHARE) free (see field.c). */
static const char lock_ticket_sql[] = "SELECT status, code FROM tickets WHERE id = $1 FOR NO KEY UPDATE";

/* The technician's live slot (released_at IS NULL): a replaced one is
 * released already, so a second replacement finds nothing (404). */
static const char lock_asg_sql[] = "SELECT a.state, a.slot, u.name FROM assignments a JOIN users u ON u.id = a.tech_id"
                                   " WHERE a.ticket_id = $1 AND a.tech_id = $2 AND a.released_at IS NULL"
                                   " FOR NO KEY UPDATE OF a";

/* A claim answered from Redis a moment ago that the persister has not
 * written yet: the persister's own idempotent upsert (field_access does the
 * same for a technician), so the lock step can read it. */
static const char adopt_sql[] = "INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at)"
                                " SELECT $1, $2, $3, now() FROM tickets t WHERE t.id = $1"
                                " ON CONFLICT (ticket_id, tech_id) DO NOTHING";

/* After the release: the slot's record, the ticket, and the audit rows
 * (entity 'ticket', so the ticket's timeline shows them). pool_seq moves up
 * to the release's seq so that an older pool event the persister applies
 * later cannot move the ticket back to assigned. $3 actor ('' = NULL). */
static const char write_sql[] =
    "WITH a AS ("
    "  UPDATE assignments SET state = 'replaced', released_at = now(), replaced_reason = $4,"
    "         replaced_by = nullif($3, '')::bigint, replaced_at = now()"
    "  WHERE ticket_id = $1 AND tech_id = $2 AND released_at IS NULL RETURNING slot),"
    " t AS ("
    "  UPDATE tickets SET status = $7, urgent = true, pool_seq = greatest(pool_seq, $9::bigint), updated_at = now()"
    "  WHERE id = $1 RETURNING id),"
    " au AS ("
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
    "  SELECT nullif($3, '')::bigint, 'ticket', $1, 'assignment.replace', $5, 'replaced',"
    "         jsonb_build_object('tech_id', $2::bigint, 'reason', $4::text, 'force', $8::bool, 'slot', $10::int,"
    "                            'auto', nullif($3, '') IS NULL)"
    "  UNION ALL SELECT nullif($3, '')::bigint, 'ticket', $1, 'ticket.status', $6, $7, '{}'::jsonb WHERE $6 <> $7)"
    "SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM t)";

static void rp_write(struct rp_ctx *rx)
{
    char tid[24], uid[24], aid[24], seq[24], slot[16];
    snprintf(tid, sizeof(tid), "%lld", (long long)rx->ticket_id);
    snprintf(uid, sizeof(uid), "%lld", (long long)rx->tech_id);
    if (rx->actor_id > 0)
        snprintf(aid, sizeof(aid), "%lld", (long long)rx->actor_id);
    else
        aid[0] = '\0';
    snprintf(seq, sizeof(seq), "%lld", (long long)rx->seq);
    snprintf(slot, sizeof(slot), "%d", rx->slot);
    const char *p[10] = {tid,
                         uid,
                         aid,
                         rx->reason,
                         dom_state_name(DOM_ASSIGNMENT, rx->asg_from),
                         dom_state_name(DOM_TICKET, rx->ticket_from),
                         dom_state_name(DOM_TICKET, rx->ticket_to),
                         rx->force ? "t" : "f",
                         seq,
                         slot};
    rp_query(rx, RS_WRITE, write_sql, 10, p);
}

/* ---- the release, in Redis, with the rows locked ------------------------- */

static void on_released(void *ud, enum pool_claim_result r, int slot, int64_t seq)
{
    struct rp_ctx *rx = ud;
    switch (r) {
    case POOL_OK:
        rx->released = true;
        rx->slot = slot;
        rx->seq = seq;
        rp_write(rx);
        return;
    case POOL_NOT_ASSIGNED:
        rp_end(rx, 409, "not_assigned", "the pool does not show this technician on the job");
        return;
    case POOL_NOT_OPEN:
        rp_end(rx, 409, "not_open", "the job is not in the pool (closed)");
        return;
    case POOL_INCONSISTENT:
        log_warn("replace", "ticket %lld: Redis's techs and slots disagree about technician %lld (gssd check)",
                 (long long)rx->ticket_id, (long long)rx->tech_id);
        rp_end(rx, 409, "inconsistent",
               "the pool's record of this job is damaged; run gssd check and gssd rebuild-pool --repair");
        return;
    default:
        rp_end(rx, 503, "unavailable", "the job pool is unavailable; try again");
        return;
    }
}

/* ---- the decision -------------------------------------------------------- */

static void rp_decide(struct rp_ctx *rx, PGresult *res)
{
    rx->asg_from = dom_state_parse(DOM_ASSIGNMENT, PQgetvalue(res, 0, 0));
    rx->slot = atoi(PQgetvalue(res, 0, 1));
    snprintf(rx->tech_name, sizeof(rx->tech_name), "%s", PQgetvalue(res, 0, 2));
    char msg[256];
    int  to;
    /* Before the check-in: replace. After it: a separate, deliberate event
     * that only the API's force fires (and the table denies gssd). */
    rx->asg_event = DOM_ASG_EV_REPLACE;
    enum dom_verdict v = dom_transition(DOM_ASSIGNMENT, rx->asg_from, rx->asg_event, rx->actor, &to);
    if (v == DOM_WRONG_STATE && (rx->asg_from == DOM_ASG_CHECKED_IN || rx->asg_from == DOM_ASG_CHECKED_OUT)) {
        if (!rx->force) {
            snprintf(msg, sizeof(msg),
                     "the technician has checked in (%s); replacing them needs \"force\": true and a reason",
                     dom_state_name(DOM_ASSIGNMENT, rx->asg_from));
            rp_end(rx, 409, "checked_in", msg);
            return;
        }
        rx->asg_event = DOM_ASG_EV_FORCE_REPLACE;
        v = dom_transition(DOM_ASSIGNMENT, rx->asg_from, rx->asg_event, rx->actor, &to);
    }
    if (v == DOM_NOT_ALLOWED) {
        rp_end(rx, 403, "forbidden", "you may not replace this technician");
        return;
    }
    if (v != DOM_OK) {
        dom_explain(DOM_ASSIGNMENT, rx->asg_from, rx->asg_event, msg, sizeof(msg));
        rp_end(rx, 409, "invalid_transition", msg);
        return;
    }
    /* The ticket gets its slot back: open, from open, assigned or in
     * progress; after the work is done there is nothing to replace. */
    if (dom_transition(DOM_TICKET, rx->ticket_from, DOM_TICKET_EV_RELEASE, rx->actor, &to) != DOM_OK) {
        dom_explain(DOM_TICKET, rx->ticket_from, DOM_TICKET_EV_RELEASE, msg, sizeof(msg));
        rp_end(rx, 409, "invalid_transition", msg);
        return;
    }
    rx->ticket_to = to;
    if (pool_release(rx->svc->pool, rx->ticket_id, rx->tech_id, on_released, rx) < 0)
        rp_end(rx, 503, "unavailable", "the job pool is unavailable; try again");
}

/* No slot in PostgreSQL: perhaps one only Redis knows yet. */
static void on_redis_slot(void *ud, int slot)
{
    struct rp_ctx *rx = ud;
    if (slot < 0) {
        rp_end(rx, 503, "unavailable", "the job pool is unavailable; try again");
        return;
    }
    if (slot == 0) {
        rp_end(rx, 404, "not_assigned", "this technician holds no slot of this ticket");
        return;
    }
    char tid[24], uid[24], sl[16];
    snprintf(tid, sizeof(tid), "%lld", (long long)rx->ticket_id);
    snprintf(uid, sizeof(uid), "%lld", (long long)rx->tech_id);
    snprintf(sl, sizeof(sl), "%d", slot);
    const char *p[3] = {tid, uid, sl};
    rx->adopted = true;
    rp_query(rx, RS_ADOPT, adopt_sql, 3, p);
}

/* ---- after the commit ----------------------------------------------------- */

/* monitor.replaced for CS's screens (docs/monitor.md, Events). */
static void rp_announce(struct rp_ctx *rx)
{
    struct buf b = {0};
    jw_obj(&b);
    jw_key_int(&b, "ticket_id", rx->ticket_id);
    jw_key_str(&b, "code", rx->code);
    jw_key_int(&b, "tech_id", rx->tech_id);
    jw_key_str(&b, "tech_name", rx->tech_name);
    jw_key_str(&b, "state", "replaced");
    jw_key_str(&b, "from", dom_state_name(DOM_ASSIGNMENT, rx->asg_from));
    jw_key_str(&b, "reason", rx->reason);
    jw_key_bool(&b, "force", rx->force);
    jw_key_bool(&b, "auto", rx->actor_id <= 0);
    jw_key(&b, "actor_id");
    if (rx->actor_id > 0)
        jw_int(&b, rx->actor_id);
    else
        jw_null(&b);
    jw_key_int(&b, "pool_seq", rx->seq);
    jw_end_obj(&b);
    /* fire and forget: a lost event is still in GET /api/v1/monitor */
    if (rx->svc->monitor && monitor_publish(rx->svc->monitor, "monitor.replaced", b.data) < 0)
        log_warn("replace", "ticket %lld: monitor.replaced was not published", (long long)rx->ticket_id);
    buf_free(&b);
}

static void rp_committed(struct rp_ctx *rx)
{
    log_info("replace", "ticket %lld: technician %lld released from slot %d (%s, %s%s)", (long long)rx->ticket_id,
             (long long)rx->tech_id, rx->slot, rx->actor_id > 0 ? "by CS" : "by gssd",
             rx->asg_event == DOM_ASG_EV_FORCE_REPLACE ? "forced, " : "", rx->reason);
    rp_announce(rx);
    rx->done(rx, 200, NULL, NULL);
}

static void on_step(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct rp_ctx *rx = ud;
    if (rx->step == RS_BEGIN)
        rx->tx = tx;
    if (err != PG_OK) {
        if (rx->step == RS_COMMIT || rx->step == RS_BEGIN)
            rx->tx = NULL; /* a failed commit or begin leaves no transaction to roll back */
        if (rx->released) {
            /* Redis has released the slot; PostgreSQL will follow through
             * the persister (state replaced, released_at), but without the
             * reason, the actor and the audit rows. */
            log_error("replace",
                      "ticket %lld: technician %lld was released in the pool (seq %lld) but PostgreSQL did not "
                      "record the replacement (%s %s %s); the persister applies the release without its reason",
                      (long long)rx->ticket_id, (long long)rx->tech_id, (long long)rx->seq, pg_err_name(err),
                      state ? state : "", msg ? msg : "");
            rp_end(rx, 503, "partially_applied",
                   "the technician was released from the job, but the record of the replacement was not saved");
            return;
        }
        rp_pg_fail(rx, err, state, msg);
        return;
    }
    if (rx->req && http_req_gone(rx->req) && !rx->released) {
        /* nobody to answer: change nothing on their behalf */
        rp_end(rx, 499, "client_gone", "the client went away");
        return;
    }
    char tid[24], uid[24];
    snprintf(tid, sizeof(tid), "%lld", (long long)rx->ticket_id);
    snprintf(uid, sizeof(uid), "%lld", (long long)rx->tech_id);
    switch (rx->step) {
    case RS_BEGIN: {
        const char *p[1] = {tid};
        rp_query(rx, RS_LOCK_TICKET, lock_ticket_sql, 1, p);
        return;
    }
    case RS_LOCK_TICKET: {
        if (PQntuples(res) == 0) {
            rp_end(rx, 404, "not_found", "no such ticket");
            return;
        }
        rx->ticket_from = dom_state_parse(DOM_TICKET, PQgetvalue(res, 0, 0));
        snprintf(rx->code, sizeof(rx->code), "%s", PQgetvalue(res, 0, 1));
        const char *p[2] = {tid, uid};
        rp_query(rx, RS_LOCK_ASG, lock_asg_sql, 2, p);
        return;
    }
    case RS_LOCK_ASG:
        if (PQntuples(res) > 0) {
            rp_decide(rx, res);
            return;
        }
        if (rx->adopted) {
            /* written a moment ago and gone again: released meanwhile */
            rp_end(rx, 404, "not_assigned", "this technician holds no slot of this ticket");
            return;
        }
        if (pool_slot_of(rx->svc->pool, rx->ticket_id, rx->tech_id, on_redis_slot, rx) < 0)
            rp_end(rx, 503, "unavailable", "the job pool is unavailable; try again");
        return;
    case RS_ADOPT: {
        const char *p[2] = {tid, uid};
        rp_query(rx, RS_LOCK_ASG, lock_asg_sql, 2, p);
        return;
    }
    case RS_WRITE:
        if (atoll(PQgetvalue(res, 0, 0)) != 1)
            log_error("replace", "ticket %lld: the locked assignment of technician %lld was not updated",
                      (long long)rx->ticket_id, (long long)rx->tech_id);
        rx->step = RS_COMMIT;
        if (pg_tx_commit(rx->tx, on_step, rx) < 0) {
            rx->tx = NULL;
            on_step(rx, NULL, NULL, PG_ERR_DOWN, "", "the commit could not be sent");
        }
        return;
    case RS_COMMIT:
        rx->tx = NULL;
        rp_committed(rx);
        return;
    }
}

/* Starts the core; rx->done runs exactly once (also when this fails). */
static void rp_start(struct rp_ctx *rx)
{
    rx->step = RS_BEGIN;
    if (!rx->svc->pg || !rx->svc->pool || pg_tx_begin(rx->svc->pg, on_step, rx) < 0)
        rx->done(rx, 503, "unavailable", "the database is unavailable; try again");
}

/* ---- the route --------------------------------------------------------------- */

static void http_done(struct rp_ctx *rx, int status, const char *code, const char *msg)
{
    struct http_req *req = rx->req;
    rp_free(rx);
    if (status == 200)
        h_tickets_get(req); /* the ticket as GET shows it, now with the slot free */
    else
        http_error(req, status, code, msg);
}

void h_tickets_replace(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return;
    }
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return;
    yyjson_val *root = yyjson_doc_get_root(doc);
    yyjson_val *tech = yyjson_obj_get(root, "tech_id"), *reason = yyjson_obj_get(root, "reason");
    yyjson_val *force = yyjson_obj_get(root, "force");
    const char *bad = NULL;
    if (!yyjson_is_obj(root))
        bad = "the body must be a JSON object";
    else if (!yyjson_is_int(tech) || yyjson_get_sint(tech) <= 0)
        bad = "tech_id: a positive integer is required";
    else if (!yyjson_is_str(reason) || yyjson_get_len(reason) < 1 || yyjson_get_len(reason) > 500)
        bad = "reason: text of 1 to 500 bytes is required";
    else if (force && !yyjson_is_null(force) && !yyjson_is_bool(force))
        bad = "force: true or false";
    if (!bad) {
        /* a reason of blanks says nothing */
        const char *s = yyjson_get_str(reason);
        size_t      n = yyjson_get_len(reason), i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
            i++;
        if (i == n)
            bad = "reason: text of 1 to 500 bytes is required";
    }
    if (bad) {
        yyjson_doc_free(doc);
        http_error(req, 422, "validation_failed", bad);
        return;
    }
    struct rp_ctx *rx = xcalloc(1, sizeof(*rx));
    rx->svc = req->svc;
    rx->req = req;
    rx->done = http_done;
    rx->ticket_id = id;
    rx->tech_id = yyjson_get_sint(tech);
    rx->actor_id = req->session->user_id;
    rx->actor = h_actor(req->session);
    rx->force = yyjson_is_true(force);
    snprintf(rx->reason, sizeof(rx->reason), "%s", yyjson_get_str(reason));
    yyjson_doc_free(doc);
    rp_start(rx);
}

/* ---- gssd on its own ------------------------------------------------------------ */

static void auto_done(struct rp_ctx *rx, int status, const char *code, const char *msg)
{
    if (status == 200)
        ; /* logged and announced by rp_committed */
    else if (status == 404 || status == 409)
        log_info("replace", "auto-replace of technician %lld on ticket %lld not done: %s (%s)",
                 (long long)rx->tech_id, (long long)rx->ticket_id, code, msg);
    else
        log_warn("replace", "auto-replace of technician %lld on ticket %lld failed: %d %s (%s)",
                 (long long)rx->tech_id, (long long)rx->ticket_id, status, code, msg);
    rp_free(rx);
}

int replace_auto(struct gss_services *svc, int64_t ticket_id, int64_t tech_id)
{
    if (!svc || ticket_id <= 0 || tech_id <= 0 || !svc->pg || !svc->pool)
        return -1;
    struct rp_ctx *rx = xcalloc(1, sizeof(*rx));
    rx->svc = svc;
    rx->done = auto_done;
    rx->ticket_id = ticket_id;
    rx->tech_id = tech_id;
    rx->actor = DOM_ACTOR_SYSTEM;
    snprintf(rx->reason, sizeof(rx->reason), "no-show after %lld s", (long long)svc->cfg->auto_replace_after_s);
    rx->step = RS_BEGIN;
    if (pg_tx_begin(svc->pg, on_step, rx) < 0) {
        rp_free(rx);
        return -1;
    }
    return 0;
}
