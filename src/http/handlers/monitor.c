/*
 * GET /api/v1/monitor?date=YYYY-MM-DD (cs, admin): the day's visits for
 * CS's monitoring screen, with each technician's monitor state and the
 * current monitor seq (docs/monitor.md, API).
 *
 * The seq is read from Redis before PostgreSQL is asked, so every event
 * with a seq up to it was committed before the snapshot's query started
 * (the scanner and handlers publish after COMMIT): a client that drops
 * events with seq <= the snapshot's misses nothing. Events above it may
 * already be in the snapshot; applying them again changes nothing.
 *
 * The day is Jakarta's (WIB, UTC+7), today's when no date is given; a date
 * that is not a calendar day is 422.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jw.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "pool/monitor.h"
#include "store/pg.h"
#include "store/redis.h"

struct monitor_req {
    struct http_req *req;
    char             date[11];
    int64_t          seq;
};

/* One row per (ticket, technician), tickets without one as a single row
 * with NULL technician columns. Columns:
 *  0 id, 1 code, 2 customer, 3 area, 4 scheduled_at, 5 status, 6 urgent,
 *  7 techs_needed, 8 tech_id, 9 name, 10 phone, 11 slot state, 12 released,
 * 13 checked_in_at, 14 distance_m, 15 geofence, 16 flags (JSON), 17 check-in
 *    late, 18 minutes_late, 19 replaced_reason */
static const char day_sql[] =
    "SELECT t.id, t.code, c.name, t.area,"
    "       to_char(t.scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), t.status, t.urgent,"
    "       t.techs_needed, a.tech_id, u.name, u.phone, a.state, a.released_at IS NOT NULL,"
    "       to_char(a.checked_in_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    "       round(ci.distance_m::numeric, 1), ci.geofence, coalesce(array_to_json(ci.flags)::text, '[]'),"
    "       coalesce(ci.late, false),"
    "       CASE WHEN a.state IN ('late', 'no_show') AND a.released_at IS NULL"
    "              THEN greatest(0, floor(extract(epoch FROM now() - t.scheduled_at) / 60))::int"
    "            WHEN a.checked_in_at IS NOT NULL AND ci.late"
    "              THEN greatest(0, floor(extract(epoch FROM a.checked_in_at - t.scheduled_at) / 60))::int"
    "            ELSE 0 END,"
    "       a.replaced_reason"
    " FROM tickets t JOIN customers c ON c.id = t.customer_id"
    " LEFT JOIN assignments a ON a.ticket_id = t.id"
    " LEFT JOIN users u ON u.id = a.tech_id"
    " LEFT JOIN LATERAL (SELECT k.distance_m, k.geofence, k.flags, k.late FROM checkins k"
    "                    WHERE k.ticket_id = t.id AND k.tech_id = a.tech_id AND k.kind = 'in'"
    "                    ORDER BY k.received_at DESC LIMIT 1) ci ON true"
    " WHERE t.scheduled_at >= ($1::date::timestamp AT TIME ZONE 'Asia/Jakarta')"
    "   AND t.scheduled_at < (($1::date + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')"
    " ORDER BY t.scheduled_at, t.id, a.slot, a.claimed_at";

static const char *const states[] = {"waiting",    "on_time", "late",     "no_show",  "checked_in",
                                     "done",       "replaced", "cancelled"};
#define NSTATES (sizeof(states) / sizeof(states[0]))

static const char *row_state(PGresult *res, int i)
{
    return monitor_tech_state(PQgetvalue(res, i, 11), PQgetvalue(res, i, 12)[0] == 't',
                              PQgetvalue(res, i, 17)[0] == 't');
}

static void str_or_null(struct buf *b, const char *key, PGresult *res, int i, int col)
{
    jw_key(b, key);
    if (PQgetisnull(res, i, col))
        jw_null(b);
    else
        jw_str(b, PQgetvalue(res, i, col));
}

static void on_day(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct monitor_req *mr = ud;
    struct http_req    *req = mr->req;
    if (err != PG_OK) {
        h_pg_error(req, "monitor", err, state, msg);
        free(mr);
        return;
    }
    int      n = PQntuples(res);
    uint64_t counts[NSTATES] = {0};
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(res, i, 8))
            continue;
        const char *s = row_state(res, i);
        for (size_t k = 0; k < NSTATES; k++)
            if (!strcmp(states[k], s))
                counts[k]++;
    }
    struct buf b = {0};
    jw_obj(&b);
    jw_key_str(&b, "date", mr->date);
    jw_key_int(&b, "seq", mr->seq);
    jw_key(&b, "counts");
    jw_obj(&b);
    for (size_t k = 0; k < NSTATES; k++)
        jw_key_int(&b, states[k], (int64_t)counts[k]);
    jw_end_obj(&b);
    jw_key(&b, "visits");
    jw_arr(&b);
    for (int i = 0; i < n; i++) {
        bool first = i == 0 || strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, i - 1, 0)) != 0;
        if (first) {
            if (i > 0) {
                jw_end_arr(&b);
                jw_end_obj(&b);
            }
            jw_obj(&b);
            jw_key_int(&b, "ticket_id", atoll(PQgetvalue(res, i, 0)));
            jw_key_str(&b, "code", PQgetvalue(res, i, 1));
            jw_key_str(&b, "customer_name", PQgetvalue(res, i, 2));
            jw_key_str(&b, "area", PQgetvalue(res, i, 3));
            jw_key_str(&b, "scheduled_at", PQgetvalue(res, i, 4));
            jw_key_str(&b, "status", PQgetvalue(res, i, 5));
            jw_key_bool(&b, "urgent", PQgetvalue(res, i, 6)[0] == 't');
            jw_key_int(&b, "techs_needed", atoll(PQgetvalue(res, i, 7)));
            jw_key(&b, "technicians");
            jw_arr(&b);
        }
        if (PQgetisnull(res, i, 8))
            continue;
        jw_obj(&b);
        jw_key_int(&b, "tech_id", atoll(PQgetvalue(res, i, 8)));
        jw_key_str(&b, "name", PQgetvalue(res, i, 9));
        str_or_null(&b, "phone", res, i, 10);
        jw_key_str(&b, "state", row_state(res, i));
        jw_key_str(&b, "slot_state", PQgetvalue(res, i, 11));
        jw_key_int(&b, "minutes_late", atoll(PQgetvalue(res, i, 18)));
        str_or_null(&b, "checked_in_at", res, i, 13);
        jw_key(&b, "distance_m");
        if (PQgetisnull(res, i, 14))
            jw_null(&b);
        else
            jw_dbl(&b, strtod(PQgetvalue(res, i, 14), NULL));
        str_or_null(&b, "geofence", res, i, 15);
        jw_key(&b, "flags");
        jw_raw(&b, PQgetvalue(res, i, 16));
        str_or_null(&b, "replaced_reason", res, i, 19);
        jw_end_obj(&b);
    }
    if (n > 0) {
        jw_end_arr(&b);
        jw_end_obj(&b);
    }
    jw_end_arr(&b);
    jw_end_obj(&b);
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
    free(mr);
}

static void on_seq(redisAsyncContext *ac, void *reply, void *priv)
{
    struct monitor_req *mr = priv;
    redisReply         *r = reply;
    (void)ac;
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        http_error(mr->req, 503, "unavailable", "the monitor is unavailable; try again");
        free(mr);
        return;
    }
    mr->seq = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    const char *p[1] = {mr->date};
    if (pg_query(mr->req->svc->pg, day_sql, 1, p, on_day, mr) < 0) {
        http_error(mr->req, 503, "unavailable", "the database is unavailable; try again");
        free(mr);
    }
}

void h_monitor(struct http_req *req)
{
    struct monitor *m = req->svc->monitor;
    char            date[16] = "";
    int             y, mo, d;
    if (http_query(req, "date", date, sizeof(date)) || http_query_present(req, "date")) {
        if (monitor_parse_date(date, &y, &mo, &d) < 0) {
            http_error(req, 422, "validation_failed", "date: a day as YYYY-MM-DD");
            return;
        }
    } else {
        monitor_jakarta_date((int64_t)time(NULL), date);
    }
    if (!m) {
        http_error(req, 503, "unavailable", "the monitor is not running");
        return;
    }
    struct monitor_req *mr = xcalloc(1, sizeof(*mr));
    mr->req = req;
    memcpy(mr->date, date, sizeof(mr->date) - 1);
    const char *argv[2] = {"GET", m->seq_key};
    if (rds_cmd(req->svc->redis, on_seq, mr, 2, argv, NULL) < 0) {
        free(mr);
        http_error(req, 503, "unavailable", "the monitor is unavailable; try again");
    }
}
