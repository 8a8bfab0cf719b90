/*
 * invoice: what the money handlers share (invoices.c implements it;
 * invoice_send.c, payments.c, public.c and tickets.c use it). The contract
 * is docs/money.md.
 *
 * The invoice JSON is built by PostgreSQL in one statement
 * (invoice_json_sql), so that every action answers the invoice exactly as
 * GET shows it, read inside the action's own transaction, before COMMIT:
 * the answer is what was committed, never a later or earlier state.
 *
 * Every action on an invoice (edit, submit, approve, revise, send, a
 * payment, a void) is one transaction in the same frame, struct
 * invoice_tx: the locks in the one order money is written in (the ticket,
 * then the invoice), the state table's verdicts as refusals, nothing
 * written for a client that is gone, the answer read before COMMIT, a run
 * again after a deadlock, and the failures answered the same way. Once
 * it has committed, the action is announced to the live screens
 * (invoice_tx_publish), never before.
 *
 * Threads: loop thread only.
 */
#ifndef GSS_HANDLERS_INVOICE_H
#define GSS_HANDLERS_INVOICE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/states.h"
#include "http/http.h"
#include "store/pg.h"

struct yyjson_val;

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

/* The two locking statements, $1 = the invoice id, FOR NO KEY UPDATE: the
 * ticket (one column, its id; no row: no such invoice), then the invoice
 * with its ticket's state (the INVOICE_LOCK_* columns; no row: no such
 * invoice). The ticket first, everywhere money is written (the field
 * handlers lock the ticket first too), so that two writers queue instead
 * of deadlocking. Two statements, not one: the second reads the ticket's
 * status after the first holds its lock, so both states are current.
 * invoice_step_lock_ticket and invoice_step_lock_invoice issue them. */
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

/* ---- the money transaction ---------------------------------------------- */

/*
 * One action as one pg_chain. Embed the frame as the FIRST member of the
 * handler's context: ch->ud is that context, and so also the frame, which
 * is how the shared steps below find it. Then:
 *
 *   invoice_tx_init(&cx->tx, req, "payments", id);     ... the request's own fields
 *   if (!invoice_tx_start(&cx->tx, steps, on_done))    answered 503: free cx
 *
 *   steps: invoice_step_lock_ticket, invoice_step_lock_invoice, then the
 *   handler's own (invoice_locked on the row; invoice_check for each move;
 *   invoice_gone right before the write; invoice_refuse for anything else
 *   that says no), then invoice_step_read, invoice_step_keep;
 *
 *   on_done(ch, stop, err, state, msg):
 *       if (invoice_tx_again(tx, err, state)) return;   run again: on_done comes back
 *       if (!invoice_tx_failed(tx, stop, err, state, msg))
 *           answer the committed action (tx->answer);
 *       free cx (invoice_tx_clear first).
 *
 * A refusal changes nothing: the chain rolls back and invoice_tx_failed
 * answers {"error":{code, msg}} with the refusal's status.
 *
 * Memory: the frame lives in the handler's context, which the handler
 * frees once done has answered (or invoice_tx_start said false); the frame
 * owns only tx->answer (invoice_tx_clear). Strings passed in are copied.
 */

#define INVOICE_TX_RUNS 3 /* a deadlock or serialization failure runs the transaction again, twice at most */

struct invoice_tx {
    struct pg_chain  ch;
    struct http_req *req;
    const char      *who;   /* the log's module: "invoices", "send", "payments" */
    const pg_step   *steps; /* for a run again */
    pg_chain_done    done;
    int              runs;  /* starts so far */
    unsigned         actor; /* DOM_ACTOR_* of the session */
    char             actor_id[24];
    char             id[24]; /* $1 of the shared steps: the invoice (close: the ticket; create: "" until written) */
    /* what invoice_locked read; each *_to starts as its *_from */
    char    ticket_id[24];
    char    number[40];
    int     inv_from, inv_to, tk_from, tk_to;
    int64_t total, paid, version;
    /* a refusal (a step's stop > 0) */
    const char *code; /* static */
    char        msg[320];
    char       *answer; /* the invoice JSON, copied out before COMMIT (invoice_step_keep); owned */
};

/* The session's actor and user id, id (> 0) as text; the rest zeroed. */
void invoice_tx_init(struct invoice_tx *tx, struct http_req *req, const char *who, int64_t id);
/* The same with the actor given (DOM_ACTOR_*, and the user id), for a
 * caller with no session (the Telegram webhook: the account linked to the
 * Telegram user who pressed the button). The fields may also be set later,
 * before the step that checks (invoice_check reads tx->actor). */
void invoice_tx_init_as(struct invoice_tx *tx, struct http_req *req, const char *who, int64_t id, unsigned actor,
                        int64_t actor_id);
/* Frees what the frame owns (not the frame). */
void invoice_tx_clear(struct invoice_tx *tx);
/* Runs steps (NULL-terminated, static). true: done runs exactly once,
 * later. false: the database is unavailable, 503 is answered, done will
 * not run; the caller frees its context. */
bool invoice_tx_start(struct invoice_tx *tx, const pg_step *steps, pg_chain_done done);

/* A step's refusal: keeps code (static) and the message, and returns
 * status, the step's stop value. */
int invoice_refuse(struct invoice_tx *tx, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The state table on `event` from `from`: 0 with *to set (to may be NULL),
 * or a refusal: 409 invalid_transition with dom_explain's sentence, 403
 * forbidden, 500 for a state the table does not know (logged). */
int invoice_check(struct invoice_tx *tx, enum dom_entity e, int from, int event, int *to);
/* 499 client_gone when the client went away (a reset: http_req_gone), so
 * that nothing is written for nobody; else 0. Call right before a write. */
int invoice_gone(struct invoice_tx *tx);
/* The row of invoice_lock_sql into the frame: 0, or 404 not_found (no
 * row), or 500 (a state the table does not know). */
int invoice_locked(struct invoice_tx *tx, PGresult *res);

/* The shared steps (pg_step): invoice_lock_ticket_sql; 404 without a
 * ticket row, else invoice_lock_sql; invoice_json_sql of tx->id; keep its
 * row as tx->answer (500 when none) and issue nothing, so COMMIT follows. */
int invoice_step_lock_ticket(struct pg_chain *ch, PGresult *prev);
int invoice_step_lock_invoice(struct pg_chain *ch, PGresult *prev);
int invoice_step_read(struct pg_chain *ch, PGresult *prev);
int invoice_step_keep(struct pg_chain *ch, PGresult *prev);

/* The approve of POST /api/v1/invoices/{id}/approve, as a step's body once
 * invoice_locked has read the row into tx: the state table (approve by
 * tx->actor from tx->inv_from, tx->inv_to set), invoice_gone, then the one
 * statement that approves (approved_by = tx->actor_id) and writes its
 * invoice_history and audit_log rows; note NULL for none. Returns like a
 * step: 0 with the statement issued (its result: one row, id and number),
 * or a refusal's status. */
int invoice_approve_write(struct invoice_tx *tx, const char *note);

/* First thing in done: true when the chain has been started again (a
 * deadlock 40P01 or serialization failure 40001, runs left, the client
 * still there); done must return at once, it runs again later. */
bool invoice_tx_again(struct invoice_tx *tx, enum pg_err err, const char *sqlstate);
/* Answers a chain that did not commit: a failure (503 or 500, h_pg_error)
 * or a refusal (its status, code and message). false when it committed:
 * nothing answered, the caller answers. */
bool invoice_tx_failed(struct invoice_tx *tx, int stop, enum pg_err err, const char *sqlstate, const char *msg);

/* ---- the live event --------------------------------------------------------- */

/* Tells the cs, sales and admin screens that an invoice changed: one
 * invoice.updated on <GSS_REDIS_PREFIX>:invoice (store/invoice_events.h).
 * Call only once the action has COMMITTED (in done, after
 * invoice_tx_failed said false): a screen that refetches on the event
 * must see the change. Fire and forget: nothing is answered or waited
 * for, a failure is counted and logged. The ids are decimal text (as the
 * frame holds them); status is the invoice's state after the action,
 * action the invoice_history action, or "rating" / "close". */
void invoice_publish(struct http_req *req, const char *id, const char *ticket_id, const char *number,
                     const char *status, const char *action);
/* The same for a committed frame: its invoice, ticket and number, and
 * tx->inv_to as the status. */
void invoice_tx_publish(const struct invoice_tx *tx, const char *action);

/* ---- the request bodies ----------------------------------------------------- */

/* Characters (code points) of valid UTF-8 (yyjson has checked it). */
size_t invoice_text_chars(const char *s, size_t n);
/* Only blanks (space, \t, \n, \v, \f, \r), or nothing. */
bool invoice_text_blank(const char *s, size_t n);
/* A JSON string of min..max characters with no NUL in it (PostgreSQL text
 * holds none, and libpq would cut the parameter there: docs/money.md
 * refuses it), and not only blanks when min > 0. */
bool invoice_text_ok(struct yyjson_val *v, size_t min, size_t max);
/* A JSON integer as int64: true with *out set (one above INT64_MAX reads
 * as INT64_MAX, which every limit refuses), false for anything else (a
 * fraction, 2.0, a string, null). */
bool invoice_json_int(struct yyjson_val *v, int64_t *out);

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
