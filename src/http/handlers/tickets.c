/*
 * Tickets: CS opens a ticket (which opens its job in the pool), lists and
 * reads tickets; a technician sees only tickets they hold a slot of.
 *
 * Creating a ticket is one PostgreSQL statement (code counter, ticket row
 * and audit entry together) followed by the pool's `open` script. If Redis
 * fails between the two, the ticket exists without its job: `gssd check`
 * reports it and `gssd rebuild-pool` puts it in the pool.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "auth/session.h"
#include "core/config.h"
#include "core/jw.h"
#include "core/log.h"
#include "http/handlers/field.h"
#include "http/handlers/handlers.h"
#include "http/handlers/invoice.h"
#include "http/services.h"
#include "integrations/outbox.h"
#include "pool/pool.h"
#include "store/pg.h"
#include "store/redis.h"

/* A timestamptz as the API writes times: UTC, "2026-12-02T02:00:00Z". */
#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define TICKET_COLS                                                                                                    \
    "t.id, t.code, t.customer_id, t.problem, t.address, t.area, t.lat, t.lng,"                                         \
    " to_char(t.scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), t.techs_needed, t.status,"         \
    " t.urgent, to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), c.name, c.phone,"          \
    " (SELECT coalesce(json_agg(json_build_object('tech_id', a.tech_id, 'slot', a.slot, 'name', u.name,"              \
    "     'phone', u.phone, 'state', a.state, 'checked_in_at', " ISO("a.checked_in_at") ","                              \
    "     'checked_out_at', " ISO("a.checked_out_at") ", 'done_at', " ISO("a.done_at") ")"                               \
    "   ORDER BY a.slot), '[]') FROM assignments a JOIN users u ON u.id = a.tech_id"                                   \
    "   WHERE a.ticket_id = t.id AND a.released_at IS NULL), t.geofence_m"

/* What GET /tickets/{id} adds to a ticket: its check-ins, attachments and
 * timeline (audit rows), the technicians replaced, its invoice in brief
 * and its rating (docs/money.md), each one JSON column. */
#define TICKET_DETAIL_COLS                                                                                             \
    ", (SELECT coalesce(json_agg(json_build_object('id', k.id, 'tech_id', k.tech_id, 'tech_name', ku.name,"            \
    "     'kind', k.kind, 'lat', k.lat, 'lng', k.lng, 'accuracy_m', k.accuracy_m, 'distance_m', round(k.distance_m::numeric, 1),"   \
    "     'radius_m', k.radius_m, 'geofence', k.geofence, 'late', k.late, 'flags', k.flags,"                            \
    "     'fix_at', " ISO("k.fix_at") ", 'received_at', " ISO("k.received_at") ") ORDER BY k.received_at, k.id), '[]')"     \
    "   FROM checkins k JOIN users ku ON ku.id = k.tech_id WHERE k.ticket_id = t.id)"                                  \
    ", (SELECT coalesce(json_agg(json_build_object('id', f.id, 'kind', f.kind, 'content_type', f.content_type,"       \
    "     'size', f.size, 'sha256', f.sha256, 'uploaded_by', f.uploaded_by, 'uploader_name', fu.name,"                   \
    "     'created_at', " ISO("f.created_at") ", 'url', '/api/v1/attachments/' || f.id) ORDER BY f.created_at, f.id), '[]')" \
    "   FROM attachments f JOIN users fu ON fu.id = f.uploaded_by WHERE f.ticket_id = t.id)"                           \
    ", (SELECT coalesce(json_agg(json_build_object('at', " ISO("l.at") ", 'actor_id', l.actor_id, 'actor_name', lu.name," \
    "     'action', l.action, 'before', l.before, 'after', l.after, 'data', l.data, 'tech_name', tu.name)"               \
    "     ORDER BY l.at, l.id), '[]')"                                                                                 \
    "   FROM audit_log l LEFT JOIN users lu ON lu.id = l.actor_id"                                                     \
    "   LEFT JOIN users tu ON l.data ? 'tech_id' AND jsonb_typeof(l.data->'tech_id') = 'number'"                       \
    "        AND tu.id = (l.data->>'tech_id')::bigint"                                                                 \
    "   WHERE l.entity = 'ticket' AND l.entity_id = t.id)"                                                              \
    ", (SELECT coalesce(json_agg(json_build_object('tech_id', r.tech_id, 'slot', r.slot, 'name', ru.name,"          \
    "     'state', r.state, 'reason', r.replaced_reason, 'replaced_by', r.replaced_by, 'replaced_by_name', rb.name,"    \
    "     'replaced_at', " ISO("coalesce(r.replaced_at, r.released_at)") ") ORDER BY r.released_at), '[]')"              \
    "   FROM assignments r JOIN users ru ON ru.id = r.tech_id LEFT JOIN users rb ON rb.id = r.replaced_by"            \
    "   WHERE r.ticket_id = t.id AND r.released_at IS NOT NULL)"                                                     \
    ", " INVOICE_SUMMARY_JSON("t.id") ", " INVOICE_RATING_JSON("t.id")

static void ticket_fields(struct buf *b, PGresult *r, int row)
{
    jw_obj(b);
    jw_key_int(b, "id", strtoll(PQgetvalue(r, row, 0), NULL, 10));
    jw_key_str(b, "code", PQgetvalue(r, row, 1));
    jw_key_int(b, "customer_id", strtoll(PQgetvalue(r, row, 2), NULL, 10));
    jw_key_str(b, "customer_name", PQgetvalue(r, row, 13));
    jw_key_str(b, "customer_phone", PQgetvalue(r, row, 14));
    jw_key_str(b, "problem", PQgetvalue(r, row, 3));
    jw_key_str(b, "address", PQgetvalue(r, row, 4));
    jw_key_str(b, "area", PQgetvalue(r, row, 5));
    jw_key(b, "lat");
    if (PQgetisnull(r, row, 6))
        jw_null(b);
    else
        jw_dbl(b, strtod(PQgetvalue(r, row, 6), NULL));
    jw_key(b, "lng");
    if (PQgetisnull(r, row, 7))
        jw_null(b);
    else
        jw_dbl(b, strtod(PQgetvalue(r, row, 7), NULL));
    jw_key_str(b, "scheduled_at", PQgetvalue(r, row, 8));
    jw_key_int(b, "techs_needed", atoi(PQgetvalue(r, row, 9)));
    jw_key_str(b, "status", PQgetvalue(r, row, 10));
    jw_key_bool(b, "urgent", PQgetvalue(r, row, 11)[0] == 't');
    jw_key_str(b, "created_at", PQgetvalue(r, row, 12));
    jw_key(b, "technicians");
    jw_raw(b, PQgetvalue(r, row, 15));
    jw_key(b, "geofence_m");
    if (PQgetisnull(r, row, 16))
        jw_null(b);
    else
        jw_int(b, atoi(PQgetvalue(r, row, 16)));
}

static void ticket_json(struct buf *b, PGresult *r, int row)
{
    ticket_fields(b, r, row);
    jw_end_obj(b);
}

static void answer_pg_error(struct http_req *req, enum pg_err err, const char *state, const char *msg)
{
    h_pg_error(req, "tickets", err, state, msg);
}

/* ---- create ------------------------------------------------------------- */

struct create_ctx {
    struct http_req *req;
    struct buf       body; /* the 201 answer, built before the pool call */
    int64_t          id;
};

static void create_free(struct create_ctx *cx)
{
    buf_free(&cx->body);
    free(cx);
}

static void on_withdrawn(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct create_ctx *cx = ud;
    if (err != PG_OK || PQntuples(res) == 0)
        /* Left in PostgreSQL without its job: gssd check reports it and
         * rebuild-pool opens it; the caller was told it failed. */
        log_error("tickets", "ticket %lld has no job and could not be withdrawn: %s %s", (long long)cx->id,
                  state ? state : "", msg ? msg : "");
    http_add_header(cx->req, "Retry-After", "1");
    http_error(cx->req, 503, "unavailable", "the job pool is unavailable; the ticket was not created, try again");
    create_free(cx);
}

static void on_released(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct gss_services *svc = ud;
    if (err != PG_OK) {
        /* The announcement goes when its grace ends instead (0017). */
        log_warn("tickets", "releasing a new job's announcement failed (%s %s): %s; it goes in 30 s",
                 pg_err_name(err), state ? state : "", msg ? msg : "");
        return;
    }
    if (PQcmdTuples(res)[0] && strcmp(PQcmdTuples(res), "0") != 0)
        outbox_kick(svc->outbox); /* committed: the job message leaves now, not at the next poll */
}

/*
 * The ticket is committed first (a claim on its job must find the row), then
 * its job opens in the pool. If the pool refuses, the ticket is withdrawn
 * and the caller gets 503: CS never holds a ticket that no technician can
 * see. Withdrawing deletes the row only while nothing refers to it (no slot
 * can exist: the job never opened).
 *
 * The ticket's Telegram announcement (the job.post row the insert trigger
 * queues, db/migrations/0017_job_fixes.sql) is held back for a grace of
 * 30 s; once the pool has the job it is released here, after the answer,
 * fire and forget. So a withdrawn ticket is never announced, and the job
 * fan-out never holds its row while the DELETE needs it.
 */
static void on_opened(void *ud, enum pool_claim_result r, int slot, int64_t seq)
{
    struct create_ctx *cx = ud;
    (void)slot;
    (void)seq;
    if (r == POOL_OK) {
        struct gss_services *svc = cx->req->svc;
        char                 idb[24];
        snprintf(idb, sizeof(idb), "%lld", (long long)cx->id);
        http_respond_json(cx->req, 201, cx->body.data, cx->body.len);
        create_free(cx);
        const char *p[1] = {idb};
        if (pg_query(svc->pg,
                     "UPDATE outbox SET next_attempt_at = now() WHERE ticket_id = $1 AND kind = 'job.post'"
                     " AND target = 'role:technicians' AND status = 'queued' AND next_attempt_at > now()",
                     1, p, on_released, svc) < 0)
            log_warn("tickets", "releasing the announcement of ticket %s: postgres unavailable; it goes in 30 s",
                     idb);
        return;
    }
    log_warn("tickets", "the job of new ticket %lld did not open in the pool (%s): withdrawing the ticket",
             (long long)cx->id, pool_result_code(r));
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)cx->id);
    const char *p[1] = {idb};
    if (pg_query(cx->req->svc->pg,
                 "WITH a AS (DELETE FROM audit_log WHERE entity = 'ticket' AND entity_id = $1),"
                 " t AS (DELETE FROM tickets WHERE id = $1 AND NOT EXISTS"
                 "   (SELECT 1 FROM assignments WHERE ticket_id = $1) RETURNING id)"
                 " SELECT id FROM t",
                 1, p, on_withdrawn, cx) < 0)
        on_withdrawn(cx, NULL, PG_ERR_DOWN, "", "postgres unavailable");
}

static void on_inserted(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct create_ctx *cx = ud;
    struct http_req   *req = cx->req;
    if (err != PG_OK) {
        if (err == PG_ERR_SQL && state && !strcmp(state, "23503"))
            http_error(req, 422, "validation_failed", "customer_id: no such customer");
        else if (err == PG_ERR_SQL && state && (!strncmp(state, "22", 2) || !strcmp(state, "23514")) &&
                 strcmp(state, "57014") != 0)
            http_error(req, 422, "validation_failed", "scheduled_at: not a valid date and time");
        else
            answer_pg_error(req, err, state, msg);
        free(cx);
        return;
    }
    ticket_json(&cx->body, res, 0);
    cx->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    struct pool_job job = {
        .id = strtoll(PQgetvalue(res, 0, 0), NULL, 10),
        .code = PQgetvalue(res, 0, 1),
        .title = PQgetvalue(res, 0, 17),
        .area = PQgetvalue(res, 0, 5),
        .scheduled_at = PQgetvalue(res, 0, 8),
        .sched_ms = strtoll(PQgetvalue(res, 0, 18), NULL, 10),
        .slots_total = atoi(PQgetvalue(res, 0, 9)),
        .urgent = PQgetvalue(res, 0, 11)[0] == 't',
    };
    if (pool_open(req->svc->pool, &job, on_opened, cx) < 0)
        on_opened(cx, POOL_UNAVAILABLE, 0, 0);
}

static const char *str_field(yyjson_val *root, const char *name, size_t min, size_t max, bool required,
                             const char **bad)
{
    yyjson_val *v = yyjson_obj_get(root, name);
    if (!v || yyjson_is_null(v)) {
        if (required)
            *bad = name;
        return NULL;
    }
    size_t n = yyjson_get_len(v);
    if (!yyjson_is_str(v) || n < min || n > max) {
        *bad = name;
        return NULL;
    }
    return yyjson_get_str(v);
}

void h_tickets_create(struct http_req *req)
{
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return;
    yyjson_val *root = yyjson_doc_get_root(doc);
    const char *bad = NULL;
    yyjson_val *cust = yyjson_obj_get(root, "customer_id");
    yyjson_val *needed = yyjson_obj_get(root, "techs_needed");
    yyjson_val *lat = yyjson_obj_get(root, "lat"), *lng = yyjson_obj_get(root, "lng");
    yyjson_val *urgent = yyjson_obj_get(root, "urgent");
    const char *problem = str_field(root, "problem", 1, 2000, true, &bad);
    const char *address = bad ? NULL : str_field(root, "address", 1, 500, true, &bad);
    const char *sched = bad ? NULL : str_field(root, "scheduled_at", 10, 40, true, &bad);
    const char *area = bad ? NULL : str_field(root, "area", 0, 100, false, &bad);
    if (!bad && (!yyjson_is_int(cust) || yyjson_get_sint(cust) <= 0))
        bad = "customer_id";
    if (!bad && (!yyjson_is_int(needed) || yyjson_get_sint(needed) < 1 || yyjson_get_sint(needed) > 10))
        bad = "techs_needed";
    if (!bad && lat && !yyjson_is_null(lat) && (!yyjson_is_num(lat) || fabs(yyjson_get_num(lat)) > 90))
        bad = "lat";
    if (!bad && lng && !yyjson_is_null(lng) && (!yyjson_is_num(lng) || fabs(yyjson_get_num(lng)) > 180))
        bad = "lng";
    if (!bad && urgent && !yyjson_is_bool(urgent))
        bad = "urgent";
    if (bad) {
        char msg[160];
        snprintf(msg, sizeof(msg), "%s: missing or invalid", bad);
        yyjson_doc_free(doc);
        http_error(req, 422, "validation_failed", msg);
        return;
    }
    if (!req->svc->redis->up) {
        yyjson_doc_free(doc);
        http_error(req, 503, "unavailable", "the job pool is unavailable; try again");
        return;
    }
    char cbuf[24], nbuf[8], latb[32], lngb[32], actor[24];
    snprintf(cbuf, sizeof(cbuf), "%lld", (long long)yyjson_get_sint(cust));
    snprintf(nbuf, sizeof(nbuf), "%d", (int)yyjson_get_sint(needed));
    bool has_lat = lat && yyjson_is_num(lat), has_lng = lng && yyjson_is_num(lng);
    if (has_lat)
        snprintf(latb, sizeof(latb), "%.8f", yyjson_get_num(lat));
    if (has_lng)
        snprintf(lngb, sizeof(lngb), "%.8f", yyjson_get_num(lng));
    snprintf(actor, sizeof(actor), "%lld", (long long)req->session->user_id);
    const char       *params[11] = {cbuf,
                                    problem,
                                    address,
                              area ? area : "",
                              has_lat ? latb : NULL,
                              has_lng ? lngb : NULL,
                                    sched,
                                    nbuf,
                                    actor,
                              urgent && yyjson_get_bool(urgent) ? "t" : "f",
                                    req->svc->cfg->region};
    static const char sql[] =
        "WITH code AS ("
        "  INSERT INTO ticket_code_counters (yymm, last)"
        "  VALUES (to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYMM'), 1)"
        "  ON CONFLICT (yymm) DO UPDATE SET last = ticket_code_counters.last + 1"
        "  RETURNING yymm, last),"
        " t AS ("
        "  INSERT INTO tickets (code, customer_id, problem, address, area, lat, lng, scheduled_at, techs_needed,"
        "                       created_by, urgent, region)"
        "  SELECT 'GSS-' || code.yymm || '-' || CASE WHEN code.last < 10000 THEN lpad(code.last::text, 4, '0')"
        "         ELSE code.last::text END, $1, $2, $3, $4, $5, $6,"
        /* The pool holds the time as 0 to 13 digits of epoch milliseconds
         * (open.lua refuses anything else), so any other time would make a
         * ticket whose job never reaches the board. The ELSE text fails its
         * cast (22007, answered 422 below) only when it is taken. */
        "         CASE WHEN (extract(epoch FROM $7::timestamptz) * 1000)::bigint BETWEEN 0 AND 9999999999999"
        "              THEN $7::timestamptz ELSE ('out of range: ' || $7)::timestamptz END,"
        "         $8, $9, $10, $11 FROM code"
        "  RETURNING *),"
        " audit AS ("
        "  INSERT INTO audit_log (actor_id, entity, entity_id, action, data)"
        "  SELECT $9, 'ticket', t.id, 'create', json_build_object('code', t.code, 'techs_needed', t.techs_needed)"
        "  FROM t)"
        "SELECT " TICKET_COLS ", left(regexp_replace(t.problem, '\\s+', ' ', 'g'), 80),"
        " (extract(epoch FROM t.scheduled_at) * 1000)::bigint"
        " FROM t JOIN customers c ON c.id = t.customer_id";
    struct create_ctx *cx = xcalloc(1, sizeof(*cx));
    cx->req = req;
    int rc = pg_query(req->svc->pg, sql, 11, params, on_inserted, cx);
    yyjson_doc_free(doc);
    if (rc < 0) {
        free(cx);
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}

/* ---- read --------------------------------------------------------------- */

static void on_list(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
        return;
    }
    struct buf b = {0};
    jw_obj(&b);
    jw_key(&b, "tickets");
    jw_arr(&b);
    for (int i = 0; i < PQntuples(res); i++)
        ticket_json(&b, res, i);
    jw_end_arr(&b);
    jw_end_obj(&b);
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
}

void h_tickets_list(struct http_req *req)
{
    char status[32] = "", uid[24], limit[16] = "100";
    bool has_status = http_query(req, "status", status, sizeof(status));
    if (!has_status && http_query_present(req, "status")) {
        http_error(req, 422, "validation_failed", "status: not a ticket status");
        return;
    }
    char lim[16];
    if (http_query(req, "limit", lim, sizeof(lim))) {
        int l = atoi(lim);
        if (l < 1 || l > 500) {
            http_error(req, 422, "validation_failed", "limit: 1..500");
            return;
        }
        snprintf(limit, sizeof(limit), "%d", l);
    }
    snprintf(uid, sizeof(uid), "%lld", (long long)req->session->user_id);
    bool              ts = req->session->role == ROLE_TS;
    const char       *params[4] = {status[0] ? status : NULL, ts ? uid : NULL, limit, NULL};
    static const char sql[] =
        "SELECT " TICKET_COLS " FROM tickets t JOIN customers c ON c.id = t.customer_id"
        " WHERE ($1::text IS NULL OR t.status = $1)"
        "   AND ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM assignments a WHERE a.ticket_id = t.id"
        "        AND a.tech_id = $2 AND a.released_at IS NULL))"
        " ORDER BY t.scheduled_at DESC, t.id DESC LIMIT $3";
    if (pg_query(req->svc->pg, sql, 3, params, on_list, req) < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}

static void on_get(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
        return;
    }
    if (PQntuples(res) == 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return;
    }
    struct buf b = {0};
    ticket_fields(&b, res, 0);
    jw_key(&b, "checkins");
    jw_raw(&b, PQgetvalue(res, 0, 17));
    jw_key(&b, "attachments");
    jw_raw(&b, PQgetvalue(res, 0, 18));
    jw_key(&b, "timeline");
    jw_raw(&b, PQgetvalue(res, 0, 19));
    /* technicians released from the ticket (Cari Pengganti), kept for the record */
    jw_key(&b, "replaced");
    jw_raw(&b, PQgetvalue(res, 0, 20));
    /* the money (docs/money.md): null until there is an invoice, a rating */
    jw_key(&b, "invoice");
    if (PQgetisnull(res, 0, 21))
        jw_null(&b);
    else
        jw_raw(&b, PQgetvalue(res, 0, 21));
    jw_key(&b, "rating");
    if (PQgetisnull(res, 0, 22))
        jw_null(&b);
    else
        jw_raw(&b, PQgetvalue(res, 0, 22));
    jw_end_obj(&b);
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
}

static void on_get_access(struct http_req *req, enum field_verdict v, void *ud)
{
    (void)ud;
    if (field_refused(req, v))
        return;
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)http_param_id(req, 0));
    const char       *params[1] = {idb};
    static const char sql[] = "SELECT " TICKET_COLS TICKET_DETAIL_COLS
                              " FROM tickets t JOIN customers c ON c.id = t.customer_id WHERE t.id = $1";
    if (pg_query(req->svc->pg, sql, 1, params, on_get, req) < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}

void h_tickets_get(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return;
    }
    /* A technician sees a ticket only while holding a slot of it (404
     * otherwise: no probing), including one claimed a moment ago. */
    field_access(req, id, on_get_access, NULL);
}
