/*
 * A ticket's outgoing messages (contract in messages.h).
 *
 * One statement builds the whole answer in PostgreSQL: the rows, their
 * order and the recipient's name are a join away from the tables, and the
 * JSON it makes is what the client gets.
 */
#include "http/handlers/messages.h"

#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "store/pg.h"

#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define STR_(x)  #x
#define STR(x)   STR_(x)

static void on_messages(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        h_pg_error(req, "messages", err, state, msg);
        return;
    }
    if (PQntuples(res) == 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return;
    }
    http_respond_json(req, 200, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
}

void h_tickets_messages(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return;
    }
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    const char *ts = req->svc->cfg->telegram_ts_chat;
    const char *params[2] = {idb, ts && ts[0] ? ts : NULL};
    /* $1 the ticket, $2 the technicians' group chat id (or NULL).
     * The recipient: a Telegram chat id is a linked user's (private chats
     * have the user's id) or a group (negative, or a @channel); WhatsApp
     * rows all go to the ticket's customer. */
    /* clang-format off */
    static const char sql[] =
        "WITH tk AS (SELECT t.id, c.name AS customer FROM tickets t JOIN customers c ON c.id = t.customer_id"
        "            WHERE t.id = $1::bigint),"
        " m AS ("
        "  SELECT o.*, u.name AS uname, u.role AS urole"
        "  FROM outbox o"
        /* compared as text: a cast of the target would fail on a group's '@name' */
        "  LEFT JOIN users u ON o.channel = 'telegram' AND u.telegram_chat_id IS NOT NULL"
        "                   AND o.target = 'tg:' || u.telegram_chat_id::text"
        "  WHERE (o.ticket_id = $1::bigint"
        "         OR o.invoice_id IN (SELECT i.id FROM invoices i WHERE i.ticket_id = $1::bigint))"
        /* Bookkeeping CS has no use for: a role:* source row once the
         * sender has fanned it out into the rows listed beside it, and
         * edits dropped because a later one replaced them. A source row
         * still queued (nobody linked, channel off) stays: it says why. */
        "    AND NOT (o.target LIKE 'role:%' AND o.status IN ('sent', 'cancelled'))"
        "    AND NOT (o.kind = 'job.edit' AND o.status = 'cancelled')"
        "  ORDER BY (o.status IN ('failed', 'unreachable')) DESC, o.created_at DESC, o.id DESC"
        "  LIMIT " STR(MESSAGES_MAX) ")"
        "SELECT json_build_object('ticket_id', tk.id, 'messages', coalesce((SELECT json_agg(json_build_object("
        "    'id', m.id, 'channel', m.channel, 'kind', m.kind,"
        "    'recipient', CASE"
        "        WHEN m.channel = 'whatsapp' THEN tk.customer"
        "        WHEN m.uname IS NOT NULL THEN m.uname"
        "        WHEN m.target = 'tg:' || $2::text THEN 'Grup teknisi'"
        "        WHEN m.target = 'role:sales' THEN 'Sales'"
        "        WHEN m.target = 'role:technicians' THEN 'Teknisi'"
        "        WHEN m.target ~ '^tg:(-|@)' THEN 'Grup Telegram'"
        "        ELSE m.target END,"
        "    'recipient_kind', CASE"
        "        WHEN m.channel = 'whatsapp' THEN 'customer'"
        "        WHEN m.uname IS NOT NULL AND m.urole = 'ts' THEN 'technician'"
        "        WHEN m.uname IS NOT NULL AND m.urole = 'sales' THEN 'sales'"
        "        WHEN m.uname IS NOT NULL THEN 'user'"
        "        WHEN m.target = 'role:sales' THEN 'sales'"
        "        WHEN m.target = 'tg:' || $2::text OR m.target ~ '^tg:(-|@)' OR m.target = 'role:technicians'"
        "             THEN 'group'"
        "        ELSE 'other' END,"
        "    'status', m.status, 'delivery_status', m.delivery_status, 'attempts', m.attempts,"
        "    'last_error', m.last_error,"
        "    'created_at', " ISO("m.created_at") ", 'sent_at', " ISO("m.sent_at") ")"
        "    ORDER BY (m.status IN ('failed', 'unreachable')) DESC, m.created_at DESC, m.id DESC) FROM m),"
        "  '[]'::json))::text"
        " FROM tk";
    /* clang-format on */
    if (pg_query(req->svc->pg, sql, 2, params, on_messages, req) < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}
