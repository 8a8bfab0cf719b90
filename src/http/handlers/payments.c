/*
 * Payments, voids and closing the ticket (docs/money.md "Payments"):
 *   POST /api/v1/invoices/{id}/payments              h_payments_create
 *   POST /api/v1/invoices/{id}/payments/{pid}/void   h_payments_void
 *   POST /api/v1/tickets/{id}/close                  h_tickets_close
 *
 * Each is one transaction in the money frame (invoice.h, struct invoice_tx):
 *   lock the ticket, then the invoice (invoice.h: the order every money
 *   writer uses, so two of them queue instead of deadlocking);
 *   (C: the state table, the balance, the proof's owner);
 *   one statement that writes the payment or the void, the invoice, the
 *   ticket, the invoice_history row and the audit rows;
 *   the invoice JSON, read before COMMIT, so the answer is exactly what was
 *   committed.
 * Close locks only the ticket (a void locks it first too, so the two
 * queue) and answers the ticket as GET shows it, read after the commit.
 * After COMMIT each announces itself to the live screens (invoice.updated
 * with the history action, or "close" with the invoice's id and number,
 * which the close statement reads).
 *
 * Money never overshoots: the balance is computed from the invoice row
 * while it is locked, so of two payments racing for the last balance the
 * second waits, then sees the first one's paid_amount and is refused
 * (422 overpayment). The CHECK (paid_amount <= total) of the schema is
 * the last line behind that, answered the same way.
 *
 * The history of an invoice gets a row for every payment and every void,
 * so the revisions list shows the money as it came in: action `payment`
 * for one that leaves a balance, `pay` for the one that covers the total
 * (sent -> paid), `void_payment` for a void; `before` and `after` are the
 * totals with `paid_amount` added. The version does not move (a payment
 * edits nothing CS could be stale about).
 *
 * A record with an Idempotency-Key (docs/money.md "Retrying a payment or a send")
 * stores the key and the request it answered on the payment, in the same
 * statement; once the invoice is locked the key is looked up first, so a
 * retry (a 503 after a COMMIT the client could not see, two taps) answers
 * the invoice as it is now with 200 and records nothing, and the same key
 * with another request is 422 idempotency_key_reused. Two requests with
 * one key on one invoice queue on its lock; on two invoices the unique
 * index (recorded_by, idempotency_key) refuses the second (23505 -> 422).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yyjson.h>

#include "core/buf.h"
#include "core/civil.h"
#include "core/log.h"
#include "domain/money.h"
#include "domain/states.h"
#include "http/handlers/handlers.h"
#include "http/handlers/invoice.h"
#include "http/services.h"
#include "store/pg.h"

/* paid_at bounds (docs/money.md): a phone's clock a little ahead is fine,
 * a payment from the future is not; older than a year is a typo. */
#define PAY_FUTURE_MS  (5LL * 60 * 1000)
#define PAY_PAST_MS    (366LL * 24 * 3600 * 1000)
#define PAY_REF_MAX    200  /* characters */
#define PAY_REASON_MAX 500  /* characters */
#define CLOSE_NOTE_MAX 1000 /* characters */

enum pay_op { OP_RECORD, OP_VOID, OP_CLOSE };

struct pay_ctx {
    struct invoice_tx tx; /* first (invoice.h); tx.id: the invoice (record, void) or the ticket (close) */
    enum pay_op       op;
    char              pid[24]; /* void: the payment */
    /* the request */
    int64_t amount; /* record */
    char    method[12];
    char   *paid_at;   /* record: the client's RFC 3339 text, or NULL (now); owned */
    char   *reference; /* record: NULL for none; owned */
    int64_t proof_id;  /* record: 0 for none */
    char   *text;      /* void: the reason; close: the note, NULL for none; owned */
    /* close: the ticket's invoice, as the write read it ("" when the ticket has none) */
    char close_inv[24], close_inv_status[24];
    /* record: the Idempotency-Key ("" none) and the request it stands for */
    char  idem[72];
    char *idem_req; /* owned; NULL without a key */
    bool  replay;   /* the key's payment exists: answer it, write nothing */
};
_Static_assert(offsetof(struct pay_ctx, tx) == 0, "the frame comes first (invoice.h)");

static void px_free(struct pay_ctx *px)
{
    invoice_tx_clear(&px->tx);
    free(px->paid_at);
    free(px->reference);
    free(px->text);
    free(px->idem_req);
    free(px);
}

/* ---- input ----------------------------------------------------------------- */

/* paid_at (a JSON string) as Unix ms into *ms: an RFC 3339 date-time
 * (civil.h) from 1970 on. PostgreSQL parses the same text again. */
static bool paid_at_ok(yyjson_val *at, int64_t *ms)
{
    int64_t t;
    if (civil_parse_rfc3339_ms(yyjson_get_str(at), yyjson_get_len(at), &t) < 0 || t < 0)
        return false;
    *ms = t;
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Optional text member: NULL (absent, null or only blanks) into *out, or a
 * copy. false (and *bad set) for anything else than text of at most max
 * characters (a NUL is refused, not cut off: invoice_text_ok). */
static bool opt_text(yyjson_val *v, size_t max, char **out, const char **bad, const char *msg)
{
    *out = NULL;
    if (!v || yyjson_is_null(v))
        return true;
    if (!invoice_text_ok(v, 0, max)) {
        *bad = msg;
        return false;
    }
    if (!invoice_text_blank(yyjson_get_str(v), yyjson_get_len(v)))
        *out = xstrndup(yyjson_get_str(v), yyjson_get_len(v));
    return true;
}

/* ---- record ------------------------------------------------------------------ */

/* The totals of invoice_history, with the money received (see the top). */
#define PAY_SNAPSHOT(alias) INVOICE_TOTALS_JSON(alias) " || jsonb_build_object('paid_amount', " alias ".paid_amount)"

/*
 * $1 invoice, $2 amount, $3 method, $4 paid_at (NULL: now), $5 reference,
 * $6 proof, $7 actor, $8 invoice status after, $9 ticket, $10 ticket status
 * before, $11 after, $12 history action, $13 Idempotency-Key (NULL:
 * none), $14 the request it stands for. The snapshot `o` is the invoice
 * before this statement (a CTE's writes are not visible to its siblings).
 * paid_at of a paid invoice: the latest payment that counts, this one
 * included (a payment recorded late may be backdated).
 */
/* clang-format off */
static const char record_sql[] =
    "WITH p AS ("
    "  INSERT INTO payments (invoice_id, amount, method, paid_at, reference, proof_attachment_id, recorded_by,"
    "                        idempotency_key, idempotency_request)"
    "  VALUES ($1::bigint, $2::bigint, $3::text, coalesce($4::timestamptz, now()), $5::text, $6::bigint, $7::bigint,"
    "          $13::text, $14::text)"
    "  RETURNING id, paid_at),"
    " o AS (SELECT * FROM invoices WHERE id = $1::bigint),"
    " i AS ("
    "  UPDATE invoices SET paid_amount = paid_amount + $2::bigint, status = $8::text, updated_at = now(),"
    "         paid_at = CASE WHEN $8::text = 'paid' THEN greatest((SELECT paid_at FROM p),"
    "                          (SELECT max(x.paid_at) FROM payments x WHERE x.invoice_id = $1::bigint"
    "                           AND x.voided_at IS NULL)) ELSE paid_at END"
    "  WHERE id = $1::bigint RETURNING *),"
    " t AS ("
    "  UPDATE tickets SET status = $11::text, updated_at = now()"
    "  WHERE id = $9::bigint AND $10::text <> $11::text RETURNING id),"
    " h AS ("
    "  INSERT INTO invoice_history (invoice_id, version, action, actor_id, status_before, status_after, before, after)"
    "  SELECT i.id, i.version, $12::text, $7::bigint, o.status, i.status,"
    PAY_SNAPSHOT("o") ","
    PAY_SNAPSHOT("i")
    "  FROM i, o),"
    " a AS ("
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
    "  SELECT $7::bigint, 'ticket', $9::bigint, 'payment.record', o.status, i.status,"
    "         jsonb_build_object('invoice_id', i.id, 'number', i.number, 'payment_id', p.id,"
    "                            'amount', $2::bigint, 'method', $3::text,"
    "                            'paid_at', " INVOICE_ISO("p.paid_at") ","
    "                            'reference', $5::text, 'proof_attachment_id', $6::bigint,"
    "                            'paid_amount', i.paid_amount, 'balance', i.total - i.paid_amount, 'total', i.total)"
    "  FROM i, o, p"
    "  UNION ALL"
    "  SELECT $7::bigint, 'ticket', $9::bigint, 'ticket.status', $10::text, $11::text,"
    "         jsonb_build_object('invoice_id', i.id, 'number', i.number)"
    "  FROM i WHERE $10::text <> $11::text)"
    "SELECT (SELECT id FROM p), (SELECT paid_amount FROM i), (SELECT count(*) FROM t)";
/* clang-format on */

/* $1 the CS, $2 the key: the request its payment stands for. */
static const char idem_sql[] = "SELECT idempotency_request FROM payments"
                               " WHERE recorded_by = $1::bigint AND idempotency_key = $2::text";

/* The invoice is locked: a key is looked up before anything is checked
 * (its payment may have moved the invoice on: a retry must not be
 * refused by what it did itself). */
static int s_record_idem(struct pg_chain *ch, PGresult *prev)
{
    struct pay_ctx *px = ch->ud;
    int             rc = invoice_locked(&px->tx, prev);
    px->replay = false; /* a run again after a deadlock looks again */
    if (rc || !px->idem[0])
        return rc; /* no key: s_record_check runs at once */
    const char *p[2] = {px->tx.actor_id, px->idem};
    return pg_chain_query(ch, idem_sql, 2, p);
}

static const char proof_sql[] = "SELECT ticket_id, kind FROM attachments WHERE id = $1::bigint";

static int s_record_check(struct pg_chain *ch, PGresult *prev)
{
    struct pay_ctx    *px = ch->ud;
    struct invoice_tx *tx = &px->tx;
    int                rc = 0;
    if (px->idem[0] && PQntuples(prev) > 0) {
        if (PQgetisnull(prev, 0, 0) || strcmp(PQgetvalue(prev, 0, 0), px->idem_req))
            return invoice_refuse(tx, 422, "idempotency_key_reused",
                                  "this Idempotency-Key was used for another payment");
        px->replay = true;
        return 0; /* s_record_write writes nothing; the invoice is read as it is */
    }
    /* Only a sent invoice takes money: the `pay` row of the table (sent ->
     * paid) says who may and from where, for a partial payment too, which
     * moves nothing (its *_to stay *_from). */
    if (!rc)
        rc = invoice_check(tx, DOM_INVOICE, tx->inv_from, DOM_INV_EV_PAY, NULL);
    if (rc)
        return rc;
    int64_t balance = tx->total - tx->paid;
    if (px->amount > balance) {
        char a[MONEY_IDR_MAX], b[MONEY_IDR_MAX];
        money_format_idr(px->amount, a, sizeof(a));
        money_format_idr(balance, b, sizeof(b));
        return invoice_refuse(tx, 422, "overpayment", "amount: %s is more than the balance of %s", a, b);
    }
    if (px->amount == balance) {
        /* It covers the total: the invoice and the ticket are paid. */
        rc = invoice_check(tx, DOM_INVOICE, tx->inv_from, DOM_INV_EV_PAY, &tx->inv_to);
        if (!rc)
            rc = invoice_check(tx, DOM_TICKET, tx->tk_from, DOM_TICKET_EV_PAY, &tx->tk_to);
        if (rc)
            return rc;
    }
    if (!px->proof_id)
        return 0; /* nothing issued: s_record_write runs at once */
    char        pr[24];
    const char *p[1] = {pr};
    snprintf(pr, sizeof(pr), "%lld", (long long)px->proof_id);
    return pg_chain_query(ch, proof_sql, 1, p);
}

static int s_record_write(struct pg_chain *ch, PGresult *prev)
{
    struct pay_ctx    *px = ch->ud;
    struct invoice_tx *tx = &px->tx;
    if (px->replay)
        return 0; /* invoice_step_read follows at once */
    if (px->proof_id && (PQntuples(prev) == 0 || strcmp(PQgetvalue(prev, 0, 0), tx->ticket_id) ||
                         strcmp(PQgetvalue(prev, 0, 1), "payment_proof")))
        return invoice_refuse(tx, 422, "validation_failed",
                              "proof_attachment_id: not a payment proof of this invoice's ticket (upload it with "
                              "kind=payment_proof)");
    int rc = invoice_gone(tx); /* record nothing on their behalf */
    if (rc)
        return rc;
    char amount[24], proof[24];
    snprintf(amount, sizeof(amount), "%lld", (long long)px->amount);
    snprintf(proof, sizeof(proof), "%lld", (long long)px->proof_id);
    const char *p[14] = {tx->id,
                         amount,
                         px->method,
                         px->paid_at,
                         px->reference,
                         px->proof_id ? proof : NULL,
                         tx->actor_id,
                         dom_state_name(DOM_INVOICE, tx->inv_to),
                         tx->ticket_id,
                         dom_state_name(DOM_TICKET, tx->tk_from),
                         dom_state_name(DOM_TICKET, tx->tk_to),
                         tx->inv_to == DOM_INV_PAID ? "pay" : "payment",
                         px->idem[0] ? px->idem : NULL,
                         px->idem_req};
    return pg_chain_query(ch, record_sql, 14, p);
}

static const pg_step record_steps[] = {
    invoice_step_lock_ticket, invoice_step_lock_invoice, s_record_idem,     s_record_check,
    s_record_write,           invoice_step_read,         invoice_step_keep, NULL};

/* ---- void ------------------------------------------------------------------------ */

static const char lock_payment_sql[] = "SELECT amount, voided_at IS NOT NULL FROM payments"
                                       " WHERE id = $2::bigint AND invoice_id = $1::bigint FOR NO KEY UPDATE";

/* $1 invoice, $2 payment, $3 actor, $4 reason, $5 invoice status after,
 * $6 ticket, $7 ticket status before, $8 after. */
/* clang-format off */
static const char void_sql[] =
    "WITH v AS ("
    "  UPDATE payments SET voided_at = now(), voided_by = $3::bigint, void_reason = $4::text"
    "  WHERE id = $2::bigint AND invoice_id = $1::bigint AND voided_at IS NULL RETURNING id, amount, method),"
    " o AS (SELECT * FROM invoices WHERE id = $1::bigint),"
    " i AS ("
    "  UPDATE invoices SET paid_amount = paid_amount - (SELECT amount FROM v), status = $5::text, updated_at = now(),"
    "         paid_at = CASE WHEN $5::text = 'paid' THEN paid_at END"
    "  WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM v) RETURNING *),"
    " t AS ("
    "  UPDATE tickets SET status = $8::text, updated_at = now()"
    "  WHERE id = $6::bigint AND $7::text <> $8::text RETURNING id),"
    " h AS ("
    "  INSERT INTO invoice_history (invoice_id, version, action, actor_id, note, status_before, status_after,"
    "                               before, after)"
    "  SELECT i.id, i.version, 'void_payment', $3::bigint, $4::text, o.status, i.status,"
    PAY_SNAPSHOT("o") ","
    PAY_SNAPSHOT("i")
    "  FROM i, o),"
    " a AS ("
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
    "  SELECT $3::bigint, 'ticket', $6::bigint, 'payment.void', o.status, i.status,"
    "         jsonb_build_object('invoice_id', i.id, 'number', i.number, 'payment_id', v.id, 'amount', v.amount,"
    "                            'method', v.method, 'reason', $4::text, 'paid_amount', i.paid_amount,"
    "                            'balance', i.total - i.paid_amount, 'total', i.total)"
    "  FROM i, o, v"
    "  UNION ALL"
    "  SELECT $3::bigint, 'ticket', $6::bigint, 'ticket.status', $7::text, $8::text,"
    "         jsonb_build_object('invoice_id', i.id, 'number', i.number)"
    "  FROM i WHERE $7::text <> $8::text)"
    "SELECT (SELECT count(*) FROM v), (SELECT paid_amount FROM i)";
/* clang-format on */

static int s_void_lock_payment(struct pg_chain *ch, PGresult *prev)
{
    struct pay_ctx *px = ch->ud;
    int             rc = invoice_locked(&px->tx, prev);
    if (rc)
        return rc;
    const char *p[2] = {px->tx.id, px->pid};
    return pg_chain_query(ch, lock_payment_sql, 2, p);
}

static int s_void_write(struct pg_chain *ch, PGresult *prev)
{
    struct pay_ctx    *px = ch->ud;
    struct invoice_tx *tx = &px->tx;
    if (PQntuples(prev) == 0)
        return invoice_refuse(tx, 404, "not_found", "no such payment of this invoice");
    if (PQgetvalue(prev, 0, 1)[0] == 't')
        return invoice_refuse(tx, 409, "already_voided", "this payment is already voided");
    int64_t amount = strtoll(PQgetvalue(prev, 0, 0), NULL, 10);
    int     rc = 0;
    if (tx->inv_from == DOM_INV_PAID && tx->paid - amount < tx->total) {
        /* The total is uncovered again: the ticket first, whose table
         * refuses what is closed (a closed ticket keeps its money), then
         * the invoice (docs/states.md). */
        rc = invoice_check(tx, DOM_TICKET, tx->tk_from, DOM_TICKET_EV_VOID_PAYMENT, &tx->tk_to);
        if (!rc)
            rc = invoice_check(tx, DOM_INVOICE, tx->inv_from, DOM_INV_EV_VOID_PAYMENT, &tx->inv_to);
    } else if (tx->inv_from != DOM_INV_SENT) {
        /* A payment stands only on a sent or paid invoice: for any other
         * state the table's void_payment row says why not. (A partial void,
         * sent -> sent, moves no state and has no row, like a partial
         * payment: a guard on data, which states.h leaves to the handler.) */
        rc = invoice_check(tx, DOM_INVOICE, tx->inv_from, DOM_INV_EV_VOID_PAYMENT, NULL);
    }
    if (!rc)
        rc = invoice_gone(tx);
    if (rc)
        return rc;
    const char *p[8] = {tx->id,
                        px->pid,
                        tx->actor_id,
                        px->text,
                        dom_state_name(DOM_INVOICE, tx->inv_to),
                        tx->ticket_id,
                        dom_state_name(DOM_TICKET, tx->tk_from),
                        dom_state_name(DOM_TICKET, tx->tk_to)};
    return pg_chain_query(ch, void_sql, 8, p);
}

static const pg_step void_steps[] = {invoice_step_lock_ticket,
                                     invoice_step_lock_invoice,
                                     s_void_lock_payment,
                                     s_void_write,
                                     invoice_step_read,
                                     invoice_step_keep,
                                     NULL};

/* ---- close --------------------------------------------------------------------- */

static const char close_lock_sql[] = "SELECT status FROM tickets WHERE id = $1::bigint FOR NO KEY UPDATE";

/* $1 ticket, $2 actor, $3 status before, $4 after, $5 note (NULL: none).
 * One row: the ticket's invoice (id, number, status; NULLs for none), for
 * the live event. */
static const char close_sql[] =
    "WITH t AS (UPDATE tickets SET status = $4::text, updated_at = now() WHERE id = $1::bigint RETURNING id),"
    " iv AS (SELECT id, number, status FROM invoices WHERE ticket_id = $1::bigint),"
    " a AS ("
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
    "  SELECT $2::bigint, 'ticket', t.id, 'ticket.close', $3::text, $4::text,"
    "         jsonb_build_object('note', $5::text, 'invoice_id', (SELECT id FROM iv),"
    "                            'number', (SELECT number FROM iv))"
    "  FROM t"
    "  UNION ALL"
    "  SELECT $2::bigint, 'ticket', t.id, 'ticket.status', $3::text, $4::text,"
    "         jsonb_build_object('invoice_id', (SELECT id FROM iv), 'number', (SELECT number FROM iv))"
    "  FROM t)"
    "SELECT (SELECT id FROM iv), (SELECT number FROM iv), (SELECT status FROM iv)";

/* There is no invoice to lock: the ticket alone (a void locks it first
 * too, so the two queue). tx.id is the ticket here. */
static int s_close_lock(struct pg_chain *ch, PGresult *prev)
{
    struct pay_ctx *px = ch->ud;
    (void)prev;
    const char *p[1] = {px->tx.id};
    return pg_chain_query(ch, close_lock_sql, 1, p);
}

static int s_close_write(struct pg_chain *ch, PGresult *prev)
{
    struct pay_ctx    *px = ch->ud;
    struct invoice_tx *tx = &px->tx;
    if (PQntuples(prev) == 0)
        return invoice_refuse(tx, 404, "not_found", "no such ticket");
    tx->tk_from = dom_state_parse(DOM_TICKET, PQgetvalue(prev, 0, 0));
    int rc = invoice_check(tx, DOM_TICKET, tx->tk_from, DOM_TICKET_EV_CLOSE, &tx->tk_to);
    if (!rc)
        rc = invoice_gone(tx);
    if (rc)
        return rc;
    const char *p[5] = {tx->id, tx->actor_id, dom_state_name(DOM_TICKET, tx->tk_from),
                        dom_state_name(DOM_TICKET, tx->tk_to), px->text};
    return pg_chain_query(ch, close_sql, 5, p);
}

/* What the event needs once committed; issues nothing, so COMMIT follows. */
static int s_close_keep(struct pg_chain *ch, PGresult *prev)
{
    struct pay_ctx    *px = ch->ud;
    struct invoice_tx *tx = &px->tx;
    if (PQntuples(prev) != 1 || PQgetisnull(prev, 0, 0))
        return 0; /* no invoice (not reachable: only a paid ticket closes) */
    snprintf(px->close_inv, sizeof(px->close_inv), "%s", PQgetvalue(prev, 0, 0));
    snprintf(tx->number, sizeof(tx->number), "%s", PQgetvalue(prev, 0, 1));
    snprintf(px->close_inv_status, sizeof(px->close_inv_status), "%s", PQgetvalue(prev, 0, 2));
    return 0;
}

static const pg_step close_steps[] = {s_close_lock, s_close_write, s_close_keep, NULL};

/* ---- the end of a chain ------------------------------------------------------------ */

static void px_log(const struct pay_ctx *px)
{
    const struct invoice_tx *tx = &px->tx;
    char                     a[MONEY_IDR_MAX];
    switch (px->op) {
    case OP_RECORD:
        money_format_idr(px->amount, a, sizeof(a));
        log_info("payments", "invoice %s (%s): %s recorded (%s) by user %s%s", tx->id, tx->number, a, px->method,
                 tx->actor_id, tx->inv_to == DOM_INV_PAID ? "; paid in full" : "");
        return;
    case OP_VOID:
        log_info("payments", "invoice %s (%s): payment %s voided by user %s%s", tx->id, tx->number, px->pid,
                 tx->actor_id, tx->inv_to != tx->inv_from ? "; the invoice is open again" : "");
        return;
    case OP_CLOSE: log_info("payments", "ticket %s closed by user %s", tx->id, tx->actor_id); return;
    }
}

/* The live event of a committed action: the history row's action, or
 * "close" for the close of an invoiced ticket. */
static void px_publish(const struct pay_ctx *px)
{
    const struct invoice_tx *tx = &px->tx;
    switch (px->op) {
    case OP_RECORD: invoice_tx_publish(tx, tx->inv_to == DOM_INV_PAID ? "pay" : "payment"); return;
    case OP_VOID: invoice_tx_publish(tx, "void_payment"); return;
    case OP_CLOSE:
        if (px->close_inv[0])
            invoice_publish(tx->req, px->close_inv, tx->id, tx->number, px->close_inv_status, "close");
        return;
    }
}

static void on_done(struct pg_chain *ch, int stop, enum pg_err err, const char *state, const char *msg)
{
    struct pay_ctx    *px = ch->ud;
    struct invoice_tx *tx = &px->tx;
    struct http_req   *req = tx->req;
    if (invoice_tx_again(tx, err, state))
        return;
    if (err == PG_ERR_SQL && state && !strcmp(state, "23514") && px->op == OP_RECORD) {
        /* paid_amount <= total: only if the lock above did not hold */
        log_error("payments", "invoice %s: the paid_amount check refused a payment the lock had allowed", tx->id);
        http_error(req, 422, "overpayment", "amount: more than the balance");
    } else if (err == PG_ERR_SQL && state && !strcmp(state, "23505") && px->op == OP_RECORD && px->idem[0] && msg &&
               strstr(msg, "payments_idempotency_idx")) {
        /* the same key raced in on another invoice (one invoice: its lock queues them) */
        http_error(req, 422, "idempotency_key_reused", "this Idempotency-Key was used for another payment");
    } else if (px->replay && !invoice_tx_failed(tx, stop, err, state, msg)) {
        log_info("payments", "invoice %s (%s): Idempotency-Key of user %s replayed, nothing recorded", tx->id,
                 tx->number, tx->actor_id);
        invoice_answer_text(req, 200, tx->answer, NULL);
    } else if (!invoice_tx_failed(tx, stop, err, state, msg)) {
        px_log(px);
        px_publish(px); /* committed */
        if (px->op == OP_CLOSE)
            h_tickets_get(req); /* the ticket as GET shows it, now closed (tickets.c builds it) */
        else
            invoice_answer_text(req, px->op == OP_RECORD ? 201 : 200, tx->answer, NULL);
    }
    px_free(px);
}

/* A context for the path's id, filled by the caller, then started. */
static struct pay_ctx *px_new(struct http_req *req, enum pay_op op, int64_t id)
{
    struct pay_ctx *px = xcalloc(1, sizeof(*px));
    invoice_tx_init(&px->tx, req, "payments", id);
    px->op = op;
    return px;
}

/* Starts px; on failure (503 answered) frees it. */
static void px_go(struct pay_ctx *px)
{
    const pg_step *steps = px->op == OP_RECORD ? record_steps : px->op == OP_VOID ? void_steps : close_steps;
    if (!invoice_tx_start(&px->tx, steps, on_done))
        px_free(px);
}

/* ---- the routes ---------------------------------------------------------------------- */

void h_payments_create(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such invoice");
        return;
    }
    char idem[72];
    if (http_idempotency_key(req, idem) < 0) {
        http_error(req, 400, "bad_idempotency_key", "Idempotency-Key: 1 to 64 of A-Z a-z 0-9 - _");
        return;
    }
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return;
    yyjson_val *root = yyjson_doc_get_root(doc);
    yyjson_val *amount = yyjson_obj_get(root, "amount"), *method = yyjson_obj_get(root, "method");
    yyjson_val *at = yyjson_obj_get(root, "paid_at"), *ref = yyjson_obj_get(root, "reference");
    yyjson_val *proof = yyjson_obj_get(root, "proof_attachment_id");
    const char *bad = NULL, *m = NULL;
    char       *reference = NULL;
    int64_t     amt = 0, proof_id = 0, at_ms = -1, now = now_ms();
    if (!yyjson_is_obj(root))
        bad = "the body must be a JSON object";
    else if (!invoice_json_int(amount, &amt) || amt < 1)
        bad = "amount: an integer number of Rupiah, at least 1";
    else if (!yyjson_is_str(method) ||
             (strcmp(m = yyjson_get_str(method), "transfer") && strcmp(m, "cash") && strcmp(m, "qris")))
        bad = "method: transfer, cash or qris";
    else if (at && !yyjson_is_null(at) && (!yyjson_is_str(at) || !paid_at_ok(at, &at_ms)))
        bad = "paid_at: an RFC 3339 time with a zone (2026-12-02T09:30:00+07:00)";
    else if (at_ms >= 0 && at_ms > now + PAY_FUTURE_MS)
        bad = "paid_at: may not be in the future";
    else if (at_ms >= 0 && at_ms < now - PAY_PAST_MS)
        bad = "paid_at: may not be more than 366 days ago";
    else if (proof && !yyjson_is_null(proof) &&
             (!invoice_json_int(proof, &proof_id) || proof_id < 1 || proof_id == INT64_MAX))
        bad = "proof_attachment_id: the id of an attachment";
    if (!bad)
        opt_text(ref, PAY_REF_MAX, &reference, &bad, "reference: text of at most 200 characters");
    if (bad) {
        free(reference);
        yyjson_doc_free(doc);
        http_error(req, 422, "validation_failed", bad);
        return;
    }
    struct pay_ctx *px = px_new(req, OP_RECORD, id);
    px->amount = amt;
    snprintf(px->method, sizeof(px->method), "%s", m);
    px->paid_at = at_ms >= 0 ? xstrdup(yyjson_get_str(at)) : NULL;
    px->reference = reference;
    px->proof_id = proof_id;
    if (idem[0]) {
        /* what a retry must repeat; the reference last (it is free text) */
        struct buf b = {0};
        buf_printf(&b, "%lld|%lld|%s|%s|%lld|%s", (long long)id, (long long)amt, px->method,
                   px->paid_at ? px->paid_at : "", (long long)proof_id, reference ? reference : "");
        snprintf(px->idem, sizeof(px->idem), "%s", idem);
        px->idem_req = buf_steal(&b);
    }
    yyjson_doc_free(doc);
    px_go(px);
}

void h_payments_void(struct http_req *req)
{
    int64_t id = http_param_id(req, 0), pid = http_param_id(req, 1);
    if (id <= 0 || pid <= 0) {
        http_error(req, 404, "not_found", id <= 0 ? "no such invoice" : "no such payment of this invoice");
        return;
    }
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return;
    yyjson_val *root = yyjson_doc_get_root(doc);
    yyjson_val *reason = yyjson_obj_get(root, "reason");
    const char *bad = NULL;
    if (!yyjson_is_obj(root))
        bad = "the body must be a JSON object";
    else if (!invoice_text_ok(reason, 1, PAY_REASON_MAX))
        bad = "reason: text of 1 to 500 characters is required";
    if (bad) {
        yyjson_doc_free(doc);
        http_error(req, 422, "validation_failed", bad);
        return;
    }
    struct pay_ctx *px = px_new(req, OP_VOID, id);
    snprintf(px->pid, sizeof(px->pid), "%lld", (long long)pid);
    px->text = xstrndup(yyjson_get_str(reason), yyjson_get_len(reason));
    yyjson_doc_free(doc);
    px_go(px);
}

void h_tickets_close(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return;
    }
    char *note = NULL;
    if (req->body.len) {
        /* "Tutup Tiket" may send nothing at all */
        yyjson_doc *doc = http_json_body(req);
        if (!doc)
            return;
        yyjson_val *root = yyjson_doc_get_root(doc);
        const char *bad = NULL;
        if (!yyjson_is_obj(root))
            bad = "the body must be a JSON object";
        else
            opt_text(yyjson_obj_get(root, "note"), CLOSE_NOTE_MAX, &note, &bad,
                     "note: text of at most 1000 characters");
        yyjson_doc_free(doc);
        if (bad) {
            free(note);
            http_error(req, 422, "validation_failed", bad);
            return;
        }
    }
    struct pay_ctx *px = px_new(req, OP_CLOSE, id);
    px->text = note;
    px_go(px);
}
