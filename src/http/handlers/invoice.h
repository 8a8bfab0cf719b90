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

/* Locks the invoice's ticket, then the invoice, FOR NO KEY UPDATE (this
 * order everywhere money is written: the field handlers lock the ticket
 * first too). $1 = the invoice id. Columns: invoice status, ticket status,
 * ticket id, invoice number, total, paid_amount, version, customer phone,
 * ticket code. No row: no such invoice. Issue the two statements below in
 * turn from a pg_chain: lock_ticket first, then lock_invoice. */
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

/* The snapshot {subtotal, discount, tax, total} of the invoice $1 as a
 * jsonb expression, for invoice_history's before/after columns. */
#define INVOICE_TOTALS_JSON(alias)                                                                                     \
    "jsonb_build_object('subtotal', " alias ".subtotal, 'discount', " alias ".discount, 'tax', " alias                  \
    ".tax, 'total', " alias ".total)"

#endif
