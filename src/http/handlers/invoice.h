/*
 * invoice: what the money handlers share (invoices.c implements it;
 * invoice_send.c, payments.c and invoice_pdf.c use it). The contract is
 * docs/money.md.
 *
 * The invoice JSON is built by PostgreSQL in one statement
 * (invoice_json_sql), so that every action answers the invoice exactly as
 * GET shows it, read inside the action's own transaction, before COMMIT:
 * the answer is what was committed, never a later or earlier state.
 *
 * Threads: loop thread only.
 */
#ifndef GSS_HANDLERS_INVOICE_H
#define GSS_HANDLERS_INVOICE_H

#include <libpq-fe.h>
#include <stdint.h>

#include "http/http.h"
#include "store/pg.h"

/* $1 = the invoice id. One row, one column: the invoice JSON text (the
 * object of docs/money.md "The invoice JSON"); no row when there is none. */
extern const char invoice_json_sql[];

/* Answers `status` with the JSON of res (row 0, column 0, as
 * invoice_json_sql returns it). `extra`, when not NULL, is already-encoded
 * members (`"invoice_url":"…","rating_url":"…"`) spliced in before the
 * object's closing brace. No row: 404 not_found. */
void invoice_answer(struct http_req *req, int status, const PGresult *res, const char *extra);

/* The same from the JSON text itself (copied out of the transaction before
 * COMMIT, when the PGresult is gone by the time of the answer). NULL: 404
 * not_found. The text is copied; the caller keeps it. */
void invoice_answer_text(struct http_req *req, int status, const char *json, const char *extra);

/* Locks the invoice's ticket, then the invoice, FOR NO KEY UPDATE (this
 * order everywhere money is written: the field handlers lock the ticket
 * first too). $1 = the invoice id. Columns of invoice_lock_sql: invoice
 * status, ticket status, ticket id, invoice number, total, paid_amount,
 * version, customer phone, ticket code (the INVOICE_LOCK_* below). No row:
 * no such invoice. invoice_lock_ticket_sql answers the ticket's id (no row:
 * no such invoice). Issue the two statements in turn from a pg_chain:
 * lock_ticket first, then lock_invoice; the second reads the ticket's
 * status after the first holds its lock, so both states are current. */
extern const char invoice_lock_ticket_sql[];
extern const char invoice_lock_sql[];

enum {
    INVOICE_LOCK_STATUS,
    INVOICE_LOCK_TICKET_STATUS,
    INVOICE_LOCK_TICKET_ID,
    INVOICE_LOCK_NUMBER,
    INVOICE_LOCK_TOTAL,
    INVOICE_LOCK_PAID,
    INVOICE_LOCK_VERSION,
    INVOICE_LOCK_PHONE,
    INVOICE_LOCK_TICKET_CODE,
};

/* clang-format off */
/* The snapshot {subtotal, discount, tax, total} of the invoice $1 as a
 * jsonb expression, for invoice_history's before/after columns. */
#define INVOICE_TOTALS_JSON(alias)                                                                                     \
    "jsonb_build_object('subtotal', " alias ".subtotal, 'discount', " alias ".discount, 'tax', " alias                  \
    ".tax, 'total', " alias ".total)"

/* A timestamptz as the API writes times (RFC 3339, UTC, whole seconds):
 * "2026-12-02T02:00:00Z"; NULL stays NULL. */
#define INVOICE_ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The ticket's rating as staff see it (docs/money.md: `rating`), a json
 * expression: NULL when there is none, else {score, comment, created_at,
 * techs: [{id, name, score}]} (technicians by user id, in slot order).
 * `ticket` is an SQL expression for the ticket's id. */
#define INVOICE_RATING_JSON(ticket)                                                                                    \
    "(SELECT json_build_object('score', r.score, 'comment', r.comment, 'created_at', " INVOICE_ISO("r.created_at") ","  \
    "   'techs', (SELECT coalesce(json_agg(json_build_object('id', rt.tech_id, 'name', ru.name, 'score', rt.score)"     \
    "       ORDER BY ra.slot NULLS LAST, rt.tech_id), '[]')"                                                            \
    "     FROM rating_techs rt JOIN users ru ON ru.id = rt.tech_id"                                                    \
    "     LEFT JOIN assignments ra ON ra.ticket_id = r.ticket_id AND ra.tech_id = rt.tech_id"                          \
    "     WHERE rt.rating_id = r.id))"                                                                                 \
    " FROM ratings r WHERE r.ticket_id = " ticket ")"

/* The ticket's invoice in brief (GET /api/v1/tickets/{id}: `invoice`), a
 * json expression: NULL when there is none, else {id, number, status,
 * total, paid_amount}. */
#define INVOICE_SUMMARY_JSON(ticket)                                                                                   \
    "(SELECT json_build_object('id', si.id, 'number', si.number, 'status', si.status, 'total', si.total,"              \
    "   'paid_amount', si.paid_amount) FROM invoices si WHERE si.ticket_id = " ticket ")"
/* clang-format on */

#endif
