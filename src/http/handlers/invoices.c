/*
 * Invoices (docs/money.md): CS drafts and edits the ticket's one invoice,
 * submits it to Sales, Sales approves it or asks for a revision; anyone of
 * cs, sales, admin reads it and lists them.
 *   POST  /api/v1/tickets/{id}/invoice      h_invoices_create   201
 *   PATCH /api/v1/invoices/{id}             h_invoices_update   200
 *   POST  /api/v1/invoices/{id}/submit      h_invoices_submit   200
 *   POST  /api/v1/invoices/{id}/approve     h_invoices_approve  200
 *   POST  /api/v1/invoices/{id}/revise      h_invoices_revise   200
 *   GET   /api/v1/invoices/{id}             h_invoices_get
 *   GET   /api/v1/invoices?status=&limit=   h_invoices_list
 * and what the other money handlers share (invoice.h): the invoice JSON,
 * the lock statements, the answer, the transaction's frame (struct
 * invoice_tx) and the checks of text and integers in a body.
 *
 * The body is validated here, in C, before any database work: shapes,
 * limits and the totals themselves (domain/money.c). Only what depends on
 * the stored invoice (an edit's discount against the stored lines, or the
 * other way round) is checked again once the row is locked.
 *
 * Every action is one transaction, a pg_chain:
 *   lock the ticket, then the invoice, FOR NO KEY UPDATE (create: the
 *   ticket only; there is no invoice yet);
 *   (C: the state table, dom_transition, for the invoice and the ticket;
 *    the version; the totals at the CURRENT GSS_TAX_RATE_BP);
 *   one statement that writes the change, its invoice_history row and its
 *   audit_log rows (and, for submit, Sales' outbox row);
 *   invoice_json_sql, read before COMMIT, so that the answer is exactly
 *   what was committed; then COMMIT, the live event (invoice.updated,
 *   invoice_tx_publish: after COMMIT, never before) and the answer.
 * A refusal stops the chain, which rolls back: nothing is written. Two
 * Sales approving at once: the second waits for the ticket's lock, then
 * reads `approved` and gets 409 naming it. A deadlock or serialization
 * failure (not expected: every money writer locks in the same order) runs
 * the transaction again (INVOICE_TX_RUNS in all), then answers 503.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "auth/session.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/jw.h"
#include "core/log.h"
#include "domain/money.h"
#include "domain/states.h"
#include "http/handlers/handlers.h"
#include "http/handlers/invoice.h"
#include "http/services.h"
#include "store/invoice_events.h"
#include "store/pg.h"

#define INV_DESC_MAX     200  /* characters of an item's description */
#define INV_NOTE_MAX     1000 /* characters of the invoice's note, and of Sales' notes */
#define INV_LIST_DEFAULT 100
#define INV_LIST_MAX     500

/* ---- the invoice JSON (invoice.h) ------------------------------------------ */

/* clang-format off */
#define ISO INVOICE_ISO

/* {id, name} of the user row `u`, or null when the reference is empty. */
#define STAFF(u) "CASE WHEN " u ".id IS NULL THEN NULL ELSE json_build_object('id', " u ".id, 'name', " u ".name) END"

/* A history snapshot (jsonb) in the documented order, with only the
 * documented members: {subtotal, discount, tax, total}, and paid_amount
 * after them on the payment rows that carry it (payments.c); null stays
 * null. (jsonb alone would print its keys shortest first.) */
#define SNAPSHOT_4(col)                                                                                                \
    "'subtotal', " col "->'subtotal', 'discount', " col "->'discount', 'tax', " col "->'tax', 'total', " col "->'total'"
#define SNAPSHOT(col)                                                                                                  \
    "CASE WHEN " col " IS NULL THEN NULL WHEN " col " ? 'paid_amount' THEN json_build_object(" SNAPSHOT_4(col)         \
    ", 'paid_amount', " col "->'paid_amount') ELSE json_build_object(" SNAPSHOT_4(col) ") END"

const char invoice_json_sql[] =
    "SELECT json_build_object("
    " 'id', i.id, 'number', i.number, 'status', i.status, 'version', i.version,"
    " 'ticket', json_build_object('id', t.id, 'code', t.code, 'status', t.status, 'problem', t.problem),"
    /* the customer's own address; the job's when the registry has none */
    " 'customer', json_build_object('id', c.id, 'name', c.name, 'phone', c.phone,"
    "   'address', coalesce(nullif(c.address, ''), t.address)),"
    " 'items', (SELECT coalesce(json_agg(json_build_object('description', it.description, 'qty', it.qty,"
    "     'unit_price', it.unit_price, 'line_total', it.line_total) ORDER BY it.pos), '[]')"
    "   FROM invoice_items it WHERE it.invoice_id = i.id),"
    " 'subtotal', i.subtotal, 'discount', i.discount, 'tax_rate_bp', i.tax_rate_bp, 'tax', i.tax, 'total', i.total,"
    " 'paid_amount', i.paid_amount, 'balance', i.total - i.paid_amount,"
    " 'note', i.note, 'revision_note', i.revision_note,"
    " 'created_by', " STAFF("cu") ", 'created_at', " ISO("i.created_at") ", 'updated_at', " ISO("i.updated_at") ","
    " 'submitted_at', " ISO("i.submitted_at") ", 'approved_by', " STAFF("au") ", 'approved_at', " ISO("i.approved_at") ","
    " 'sent_at', " ISO("i.sent_at") ", 'due_at', " ISO("i.due_at") ", 'paid_at', " ISO("i.paid_at") ","
    " 'revisions', (SELECT coalesce(json_agg(json_build_object('version', h.version, 'action', h.action,"
    "     'actor', " STAFF("hu") ", 'at', " ISO("h.at") ", 'note', h.note,"
    "     'status_before', h.status_before, 'status_after', h.status_after,"
    "     'before', " SNAPSHOT("h.before") ", 'after', " SNAPSHOT("h.after") ","
    "     'items', CASE WHEN h.items IS NULL THEN NULL ELSE"
    "       (SELECT coalesce(json_agg(json_build_object('description', e.v->'description', 'qty', e.v->'qty',"
    "          'unit_price', e.v->'unit_price', 'line_total', e.v->'line_total') ORDER BY e.n), '[]')"
    "        FROM jsonb_array_elements(h.items) WITH ORDINALITY AS e(v, n)) END)"
    "     ORDER BY h.id), '[]')"
    "   FROM invoice_history h LEFT JOIN users hu ON hu.id = h.actor_id WHERE h.invoice_id = i.id),"
    " 'payments', (SELECT coalesce(json_agg(json_build_object('id', p.id, 'amount', p.amount, 'method', p.method,"
    "     'paid_at', " ISO("p.paid_at") ", 'reference', p.reference, 'proof_attachment_id', p.proof_attachment_id,"
    "     'recorded_by', " STAFF("pr") ", 'created_at', " ISO("p.created_at") ","
    "     'voided_at', " ISO("p.voided_at") ", 'voided_by', " STAFF("pv") ", 'void_reason', p.void_reason)"
    "     ORDER BY p.created_at, p.id), '[]')"
    "   FROM payments p LEFT JOIN users pr ON pr.id = p.recorded_by LEFT JOIN users pv ON pv.id = p.voided_by"
    "   WHERE p.invoice_id = i.id),"
    " 'messages', (SELECT coalesce(json_agg(json_build_object('id', o.id, 'channel', o.channel, 'kind', o.kind,"
    "     'status', o.status, 'attempts', o.attempts, 'last_error', o.last_error,"
    "     'created_at', " ISO("o.created_at") ", 'sent_at', " ISO("o.sent_at") ")"
    "     ORDER BY o.created_at DESC, o.id DESC), '[]')"
    "   FROM outbox o WHERE o.invoice_id = i.id),"
    /* never the tokens: only their expiry, and whether the rating link was used */
    " 'links', (SELECT json_build_object('expires_at', " ISO("max(l.expires_at)") ","
    "     'rated', EXISTS (SELECT 1 FROM ratings rr WHERE rr.ticket_id = i.ticket_id))"
    "   FROM public_links l WHERE l.invoice_id = i.id HAVING count(*) > 0),"
    " 'rating', " INVOICE_RATING_JSON("i.ticket_id") ")::text"
    " FROM invoices i JOIN tickets t ON t.id = i.ticket_id JOIN customers c ON c.id = t.customer_id"
    " LEFT JOIN users cu ON cu.id = i.created_by LEFT JOIN users au ON au.id = i.approved_by"
    " WHERE i.id = $1::bigint";

/* NO KEY UPDATE, not UPDATE: no key ever changes, and FOR UPDATE would
 * also block the foreign-key checks (KEY SHARE) of rows that point at the
 * ticket (see field.c). */
const char invoice_lock_ticket_sql[] = "SELECT t.id FROM tickets t"
                                       " WHERE t.id = (SELECT ticket_id FROM invoices WHERE id = $1::bigint)"
                                       " FOR NO KEY UPDATE";

const char invoice_lock_sql[] = "SELECT i.status, t.status, t.id, i.number, i.total, i.paid_amount, i.version,"
                                "       c.phone, t.code"
                                " FROM invoices i JOIN tickets t ON t.id = i.ticket_id"
                                " JOIN customers c ON c.id = t.customer_id"
                                " WHERE i.id = $1::bigint FOR NO KEY UPDATE OF i";
/* clang-format on */

/* PostgreSQL's json text puts blanks around every ':' and ','; the answer
 * goes out compact (yyjson keeps the members' order). NULL if json is not
 * JSON (then it goes out as it is). Free with free(). */
static char *compact(const char *json, size_t n, size_t *out_len)
{
    yyjson_doc *doc = yyjson_read(json, n, 0);
    if (!doc)
        return NULL;
    char *out = yyjson_write(doc, 0, out_len);
    yyjson_doc_free(doc);
    return out;
}

void invoice_answer_text(struct http_req *req, int status, const char *json, const char *extra)
{
    if (!json) {
        http_error(req, 404, "not_found", "no such invoice");
        return;
    }
    size_t      n = strlen(json), cn = 0;
    char       *small = compact(json, n, &cn);
    const char *text = small ? small : json;
    if (small)
        n = cn;
    const char *close = n ? strrchr(text, '}') : NULL;
    if (!extra || !extra[0] || !close) {
        http_respond_json(req, status, text, n);
        free(small);
        return;
    }
    /* {…} becomes {…,extra}: the object is never empty, so a comma fits */
    struct buf b = {0};
    buf_append(&b, text, (size_t)(close - text));
    buf_putc(&b, ',');
    buf_puts(&b, extra);
    buf_puts(&b, close);
    http_respond_json(req, status, b.data, b.len);
    buf_free(&b);
    free(small);
}

void invoice_answer(struct http_req *req, int status, const PGresult *res, const char *extra)
{
    if (!res || PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        http_error(req, 404, "not_found", "no such invoice");
        return;
    }
    invoice_answer_text(req, status, PQgetvalue(res, 0, 0), extra);
}

/* ---- the money transaction (invoice.h) --------------------------------------- */

void invoice_tx_init(struct invoice_tx *tx, struct http_req *req, const char *who, int64_t id)
{
    invoice_tx_init_as(tx, req, who, id, h_actor(req->session), req->session->user_id);
}

void invoice_tx_init_as(struct invoice_tx *tx, struct http_req *req, const char *who, int64_t id, unsigned actor,
                        int64_t actor_id)
{
    memset(tx, 0, sizeof(*tx));
    tx->req = req;
    tx->who = who;
    tx->actor = actor;
    snprintf(tx->actor_id, sizeof(tx->actor_id), "%lld", (long long)actor_id);
    snprintf(tx->id, sizeof(tx->id), "%lld", (long long)id);
}

void invoice_tx_clear(struct invoice_tx *tx)
{
    free(tx->answer);
    tx->answer = NULL;
}

/* ch.ud is the frame, which is also the handler's context (invoice.h:
 * embedded first), so the shared steps and the handler's see one pointer. */
static int tx_run(struct invoice_tx *tx)
{
    if (!tx->req->svc->pg)
        return -1;
    tx->runs++;
    return pg_chain_start(&tx->ch, tx->req->svc->pg, 0, tx->steps, tx->done, tx);
}

bool invoice_tx_start(struct invoice_tx *tx, const pg_step *steps, pg_chain_done done)
{
    tx->steps = steps;
    tx->done = done;
    if (tx_run(tx) == 0)
        return true;
    h_pg_error(tx->req, tx->who, PG_ERR_DOWN, NULL, NULL);
    return false;
}

int invoice_refuse(struct invoice_tx *tx, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    tx->code = code;
    va_start(ap, fmt);
    vsnprintf(tx->msg, sizeof(tx->msg), fmt, ap);
    va_end(ap);
    return status;
}

int invoice_check(struct invoice_tx *tx, enum dom_entity e, int from, int event, int *to)
{
    int              next = from;
    enum dom_verdict v = dom_transition(e, from, event, tx->actor, &next);
    switch (v) {
    case DOM_OK:
        if (to)
            *to = next;
        return 0;
    case DOM_WRONG_STATE:
        tx->code = "invalid_transition";
        dom_explain(e, from, event, tx->msg, sizeof(tx->msg));
        return 409;
    case DOM_NOT_ALLOWED:
        /* the routes admit only roles the table allows; this is the net */
        return invoice_refuse(tx, 403, "forbidden", "you may not %s this %s", dom_event_name(e, event),
                              dom_entity_name(e));
    case DOM_UNKNOWN: break;
    }
    /* a status the table does not know: the database and the code disagree */
    log_error(tx->who, "%s: state %d of %s, event %d: not in the state table", tx->id, from, dom_entity_name(e), event);
    return invoice_refuse(tx, 500, "internal", "the request failed");
}

int invoice_gone(struct invoice_tx *tx)
{
    if (!http_req_gone(tx->req))
        return 0;
    return invoice_refuse(tx, 499, "client_gone", "the client went away");
}

int invoice_locked(struct invoice_tx *tx, PGresult *res)
{
    if (PQntuples(res) == 0)
        return invoice_refuse(tx, 404, "not_found", "no such invoice");
    const char *inv = PQgetvalue(res, 0, INVOICE_LOCK_STATUS), *tk = PQgetvalue(res, 0, INVOICE_LOCK_TICKET_STATUS);
    tx->inv_from = tx->inv_to = dom_state_parse(DOM_INVOICE, inv);
    tx->tk_from = tx->tk_to = dom_state_parse(DOM_TICKET, tk);
    snprintf(tx->ticket_id, sizeof(tx->ticket_id), "%s", PQgetvalue(res, 0, INVOICE_LOCK_TICKET_ID));
    snprintf(tx->number, sizeof(tx->number), "%s", PQgetvalue(res, 0, INVOICE_LOCK_NUMBER));
    tx->total = strtoll(PQgetvalue(res, 0, INVOICE_LOCK_TOTAL), NULL, 10);
    tx->paid = strtoll(PQgetvalue(res, 0, INVOICE_LOCK_PAID), NULL, 10);
    tx->version = strtoll(PQgetvalue(res, 0, INVOICE_LOCK_VERSION), NULL, 10);
    if (tx->inv_from < 0 || tx->tk_from < 0) {
        log_error(tx->who, "invoice %s: unknown status %s / ticket %s", tx->id, inv, tk);
        return invoice_refuse(tx, 500, "internal", "the request failed");
    }
    return 0;
}

int invoice_step_lock_ticket(struct pg_chain *ch, PGresult *prev)
{
    struct invoice_tx *tx = ch->ud;
    (void)prev;
    const char *p[1] = {tx->id};
    return pg_chain_query(ch, invoice_lock_ticket_sql, 1, p);
}

int invoice_step_lock_invoice(struct pg_chain *ch, PGresult *prev)
{
    struct invoice_tx *tx = ch->ud;
    if (PQntuples(prev) == 0)
        return invoice_refuse(tx, 404, "not_found", "no such invoice");
    const char *p[1] = {tx->id};
    return pg_chain_query(ch, invoice_lock_sql, 1, p);
}

int invoice_step_read(struct pg_chain *ch, PGresult *prev)
{
    struct invoice_tx *tx = ch->ud;
    (void)prev;
    const char *p[1] = {tx->id};
    return pg_chain_query(ch, invoice_json_sql, 1, p);
}

/* The result dies with its step; the answer goes out after COMMIT. */
int invoice_step_keep(struct pg_chain *ch, PGresult *prev)
{
    struct invoice_tx *tx = ch->ud;
    if (PQntuples(prev) != 1 || PQgetisnull(prev, 0, 0)) {
        /* never committed without its answer: a 404 after a payment would lie */
        log_error(tx->who, "invoice %s: no JSON to answer with", tx->id);
        return invoice_refuse(tx, 500, "internal", "the request failed");
    }
    free(tx->answer);
    tx->answer = xstrdup(PQgetvalue(prev, 0, 0));
    return 0;
}

bool invoice_tx_again(struct invoice_tx *tx, enum pg_err err, const char *sqlstate)
{
    if (err != PG_ERR_SQL || !sqlstate || (strcmp(sqlstate, "40P01") != 0 && strcmp(sqlstate, "40001") != 0))
        return false;
    if (tx->runs >= INVOICE_TX_RUNS || http_req_gone(tx->req))
        return false;
    /* rolled back whole, nothing written: run it again from the locks */
    log_warn(tx->who, "%s: %s, running the transaction again", tx->id, sqlstate);
    invoice_tx_clear(tx);
    tx->code = NULL;
    tx->msg[0] = '\0';
    return tx_run(tx) == 0; /* not started: done answers the failure it has */
}

bool invoice_tx_failed(struct invoice_tx *tx, int stop, enum pg_err err, const char *sqlstate, const char *msg)
{
    if (err != PG_OK) {
        h_pg_error(tx->req, tx->who, err, sqlstate, msg);
        return true;
    }
    if (!stop)
        return false;
    if (stop == 503)
        http_add_header(tx->req, "Retry-After", "1");
    http_error(tx->req, stop, tx->code ? tx->code : "internal", tx->msg[0] ? tx->msg : "the request failed");
    return true;
}

/* ---- the live event (invoice.h) -------------------------------------------------- */

void invoice_publish(struct http_req *req, const char *id, const char *ticket_id, const char *number,
                     const char *status, const char *action)
{
    struct invoice_event ev = {.id = strtoll(id, NULL, 10),
                               .ticket_id = strtoll(ticket_id, NULL, 10),
                               .number = number,
                               .status = status,
                               .action = action};
    invoice_events_publish(req->svc->redis, req->svc->cfg->redis_prefix, &ev);
}

void invoice_tx_publish(const struct invoice_tx *tx, const char *action)
{
    invoice_publish(tx->req, tx->id, tx->ticket_id, tx->number, dom_state_name(DOM_INVOICE, tx->inv_to), action);
}

/* ---- the request bodies (invoice.h) ------------------------------------------- */

/* Every byte that does not continue a sequence starts a character. */
size_t invoice_text_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

bool invoice_text_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && (s[i] < '\t' || s[i] > '\r')) /* \t \n \v \f \r */
            return false;
    return true;
}

bool invoice_text_ok(yyjson_val *v, size_t min, size_t max)
{
    if (!yyjson_is_str(v))
        return false;
    const char *s = yyjson_get_str(v);
    size_t      n = yyjson_get_len(v), c = invoice_text_chars(s, n);
    if (memchr(s, '\0', n) || c < min || c > max)
        return false;
    return min == 0 || !invoice_text_blank(s, n);
}

bool invoice_json_int(yyjson_val *v, int64_t *out)
{
    if (yyjson_is_sint(v)) {
        *out = yyjson_get_sint(v);
        return true;
    }
    if (yyjson_is_uint(v)) {
        uint64_t u = yyjson_get_uint(v);
        *out = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
        return true;
    }
    return false;
}

/* ---- the request ------------------------------------------------------------ */

enum inv_op { OP_CREATE, OP_EDIT, OP_SUBMIT, OP_APPROVE, OP_REVISE };

static const char *const op_names[] = {"create", "edit", "submit", "approve", "revise"};

struct inv_ctx {
    struct invoice_tx tx; /* first: the shared steps find it at ch->ud (invoice.h) */
    enum inv_op       op;
    /* the request, validated */
    bool              has_items, has_discount, has_note, has_version;
    struct money_item lines[MONEY_ITEMS_MAX];
    char             *desc[MONEY_ITEMS_MAX]; /* owned copies of the descriptions */
    size_t            nlines;
    int64_t           discount;
    int64_t           seen_version; /* edit: the version the client edited */
    char             *note;         /* owned: the invoice's note (create, edit) or Sales' note; NULL for none */
    /* what the action makes of the stored invoice */
    struct money_totals totals;
    int64_t             rate_bp;
    struct buf          items_json; /* the version's lines, for invoice_items and the history */
};
_Static_assert(offsetof(struct inv_ctx, tx) == 0, "the frame comes first (invoice.h)");

static void ix_free(struct inv_ctx *ix)
{
    for (size_t i = 0; i < MONEY_ITEMS_MAX; i++)
        free(ix->desc[i]);
    free(ix->note);
    buf_free(&ix->items_json);
    invoice_tx_clear(&ix->tx);
    free(ix);
}

static bool present(yyjson_val *v)
{
    return v && !yyjson_is_null(v);
}

/* The amounts' refusal, its message starting with the field's path. */
static void money_message(int rc, size_t bad, int64_t subtotal, char *msg, size_t len)
{
    char idr[MONEY_IDR_MAX];
    switch (rc) {
    case MONEY_EITEMS: snprintf(msg, len, "items: an array of 1 to %d items", MONEY_ITEMS_MAX); return;
    case MONEY_EQTY: snprintf(msg, len, "items[%zu].qty: an integer from 1 to %d", bad, MONEY_QTY_MAX); return;
    case MONEY_EPRICE:
        snprintf(msg, len, "items[%zu].unit_price: an integer from 0 to %lld", bad, (long long)MONEY_PRICE_MAX);
        return;
    case MONEY_ESUBTOTAL:
        money_format_idr(MONEY_SUBTOTAL_MAX, idr, sizeof(idr));
        snprintf(msg, len, "items: the subtotal may not exceed %s", idr);
        return;
    case MONEY_EDISCOUNT:
        money_format_idr(subtotal, idr, sizeof(idr));
        snprintf(msg, len, "discount: may not exceed the subtotal (%s)", idr);
        return;
    default: snprintf(msg, len, "items: the amounts are out of range (%s)", money_err_code(rc)); return;
    }
}

/* The subtotal of lines the domain has already accepted (for a message). */
static int64_t lines_subtotal(const struct inv_ctx *ix)
{
    int64_t s = 0;
    for (size_t i = 0; i < ix->nlines; i++)
        s += ix->lines[i].qty * ix->lines[i].unit_price;
    return s;
}

/* items: shapes, then the domain's limits (with discount 0, the discount is
 * checked by the caller once it is known). 0, or -1 with msg set. */
static int parse_items(struct inv_ctx *ix, yyjson_val *arr, char *msg, size_t len)
{
    size_t n = yyjson_is_arr(arr) ? yyjson_arr_size(arr) : 0;
    if (!yyjson_is_arr(arr) || n < 1 || n > MONEY_ITEMS_MAX) {
        snprintf(msg, len, "items: an array of 1 to %d items", MONEY_ITEMS_MAX);
        return -1;
    }
    size_t      i = 0, max_i;
    yyjson_val *it;
    yyjson_arr_foreach(arr, i, max_i, it)
    {
        if (!yyjson_is_obj(it)) {
            snprintf(msg, len, "items[%zu]: an object with description, qty and unit_price", i);
            return -1;
        }
        yyjson_val *d = yyjson_obj_get(it, "description");
        if (!invoice_text_ok(d, 1, INV_DESC_MAX)) {
            snprintf(msg, len, "items[%zu].description: text of 1 to %d characters, not only blanks", i, INV_DESC_MAX);
            return -1;
        }
        if (!invoice_json_int(yyjson_obj_get(it, "qty"), &ix->lines[i].qty)) {
            snprintf(msg, len, "items[%zu].qty: an integer from 1 to %d", i, MONEY_QTY_MAX);
            return -1;
        }
        if (!invoice_json_int(yyjson_obj_get(it, "unit_price"), &ix->lines[i].unit_price)) {
            snprintf(msg, len, "items[%zu].unit_price: an integer from 0 to %lld", i, (long long)MONEY_PRICE_MAX);
            return -1;
        }
        ix->desc[i] = xstrndup(yyjson_get_str(d), yyjson_get_len(d));
    }
    ix->nlines = n;
    struct money_totals t;
    size_t              bad = 0;
    int                 rc = money_invoice_compute(ix->lines, n, 0, 0, &t, &bad);
    if (rc != MONEY_OK) {
        money_message(rc, bad, 0, msg, len);
        return -1;
    }
    ix->has_items = true;
    return 0;
}

/* The body of create and edit. 0, or -1 with msg set. */
static int parse_invoice_body(struct inv_ctx *ix, yyjson_val *root, char *msg, size_t len)
{
    yyjson_val *items = yyjson_obj_get(root, "items"), *disc = yyjson_obj_get(root, "discount");
    yyjson_val *note = yyjson_obj_get(root, "note"), *ver = yyjson_obj_get(root, "version");

    if (ix->op == OP_CREATE && !present(items)) {
        snprintf(msg, len, "items: an array of 1 to %d items is required", MONEY_ITEMS_MAX);
        return -1;
    }
    if (present(items) && parse_items(ix, items, msg, len) < 0)
        return -1;
    if (present(disc)) {
        if (!invoice_json_int(disc, &ix->discount) || ix->discount < 0 || ix->discount > MONEY_SUBTOTAL_MAX) {
            snprintf(msg, len, "discount: an integer from 0 to %lld", (long long)MONEY_SUBTOTAL_MAX);
            return -1;
        }
        ix->has_discount = true;
    }
    if (present(note)) {
        if (!invoice_text_ok(note, 0, INV_NOTE_MAX)) {
            snprintf(msg, len, "note: text of at most %d characters", INV_NOTE_MAX);
            return -1;
        }
        ix->note = xstrndup(yyjson_get_str(note), yyjson_get_len(note));
        ix->has_note = true;
    }
    if (ix->op == OP_EDIT && present(ver)) {
        if (!invoice_json_int(ver, &ix->seen_version) || ix->seen_version < 1) {
            snprintf(msg, len, "version: a positive integer");
            return -1;
        }
        ix->has_version = true;
    }
    /* With both known, the discount against the lines now (create: the
     * discount defaults to 0). */
    if (ix->has_items && (ix->has_discount || ix->op == OP_CREATE)) {
        struct money_totals t;
        int                 rc = money_invoice_compute(ix->lines, ix->nlines, ix->discount, 0, &t, NULL);
        if (rc != MONEY_OK) {
            money_message(rc, 0, lines_subtotal(ix), msg, len);
            return -1;
        }
    }
    return 0;
}

/* The version's lines as the statements take them (jsonb). */
static void build_items_json(struct inv_ctx *ix)
{
    struct buf *b = &ix->items_json;
    buf_reset(b);
    jw_arr(b);
    for (size_t i = 0; i < ix->nlines; i++) {
        jw_obj(b);
        jw_key_str(b, "description", ix->desc[i]);
        jw_key_int(b, "qty", ix->lines[i].qty);
        jw_key_int(b, "unit_price", ix->lines[i].unit_price);
        jw_key_int(b, "line_total", ix->lines[i].line_total);
        jw_end_obj(b);
    }
    jw_end_arr(b);
}

/* The totals at the current tax rate; a refusal when the discount (given
 * or stored) exceeds the lines (given or stored). */
static int compute_totals(struct inv_ctx *ix)
{
    ix->rate_bp = ix->tx.req->svc->cfg->tax_rate_bp;
    int rc = money_invoice_compute(ix->lines, ix->nlines, ix->discount, ix->rate_bp, &ix->totals, NULL);
    if (rc != MONEY_OK) {
        ix->tx.code = "validation_failed";
        money_message(rc, 0, lines_subtotal(ix), ix->tx.msg, sizeof(ix->tx.msg));
        return 422;
    }
    ix->tx.total = ix->totals.total;
    build_items_json(ix);
    return 0;
}

/* The amounts as the statements' text parameters. */
struct amounts {
    char sub[24], disc[24], rate[16], tax[24], total[24];
};

static void amounts_text(const struct inv_ctx *ix, struct amounts *a)
{
    snprintf(a->sub, sizeof(a->sub), "%lld", (long long)ix->totals.subtotal);
    snprintf(a->disc, sizeof(a->disc), "%lld", (long long)ix->totals.discount);
    snprintf(a->rate, sizeof(a->rate), "%lld", (long long)ix->rate_bp);
    snprintf(a->tax, sizeof(a->tax), "%lld", (long long)ix->totals.tax);
    snprintf(a->total, sizeof(a->total), "%lld", (long long)ix->totals.total);
}

/* ---- the steps ---------------------------------------------------------------- */

/* After the write (RETURNING id, number): the answer, read before COMMIT. */
static int s_written(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    if (PQntuples(prev) != 1) {
        log_error("invoices", "%s %s: the write changed %d rows", op_names[ix->op], ix->tx.id, PQntuples(prev));
        return invoice_refuse(&ix->tx, 500, "internal", "the request failed");
    }
    snprintf(ix->tx.id, sizeof(ix->tx.id), "%s", PQgetvalue(prev, 0, 0));
    snprintf(ix->tx.number, sizeof(ix->tx.number), "%s", PQgetvalue(prev, 0, 1));
    return invoice_step_read(ch, prev);
}

/* ---- create ------------------------------------------------------------------- */

/* There is no invoice yet: the ticket alone is locked, by its own id. */
static int s_create_lock(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    (void)prev;
    const char *p[1] = {ix->tx.ticket_id};
    return pg_chain_query(ch, "SELECT id FROM tickets WHERE id = $1::bigint FOR NO KEY UPDATE", 1, p);
}

/* With the lock held, a statement of its own: its snapshot is taken after
 * the lock, so it sees the invoice a racing create committed meanwhile (a
 * subquery of the locking statement itself would not). */
static int s_create_state(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    if (PQntuples(prev) == 0)
        return invoice_refuse(&ix->tx, 404, "not_found", "no such ticket");
    const char *p[1] = {ix->tx.ticket_id};
    return pg_chain_query(ch,
                          "SELECT t.status, EXISTS (SELECT 1 FROM invoices i WHERE i.ticket_id = t.id)"
                          " FROM tickets t WHERE t.id = $1::bigint",
                          1, p);
}

/* The number (INV-YYMM-NNNN, per Jakarta month, like ticket codes), the
 * invoice, its lines, the ticket's move, the history row and the audit
 * rows, in one statement. $1 ticket, $2 actor, $3..$7 subtotal, discount,
 * rate, tax, total, $8 note, $9 status, $10 items, $11/$12 ticket from/to. */
/* clang-format off */
static const char create_sql[] =
    "WITH n AS ("
    "  INSERT INTO invoice_number_counters (yymm, last)"
    "  VALUES (to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYMM'), 1)"
    "  ON CONFLICT (yymm) DO UPDATE SET last = invoice_number_counters.last + 1"
    "  RETURNING yymm, last),"
    " i AS ("
    "  INSERT INTO invoices (ticket_id, number, status, version, subtotal, discount, tax_rate_bp, tax, total, note,"
    "                        created_by)"
    "  SELECT $1::bigint, 'INV-' || n.yymm || '-' || CASE WHEN n.last < 10000 THEN lpad(n.last::text, 4, '0')"
    "         ELSE n.last::text END, $9::text, 1, $3::bigint, $4::bigint, $5::int, $6::bigint, $7::bigint,"
    "         $8::text, $2::bigint FROM n"
    "  RETURNING *),"
    " it AS ("
    "  INSERT INTO invoice_items (invoice_id, pos, description, qty, unit_price, line_total)"
    "  SELECT i.id, e.n, e.v->>'description', (e.v->>'qty')::bigint, (e.v->>'unit_price')::bigint,"
    "         (e.v->>'line_total')::bigint"
    "  FROM i, jsonb_array_elements($10::jsonb) WITH ORDINALITY AS e(v, n)),"
    " t AS (UPDATE tickets SET status = $12::text, updated_at = now() WHERE id = $1::bigint RETURNING id),"
    " h AS ("
    "  INSERT INTO invoice_history (invoice_id, version, action, actor_id, note, status_before, status_after, before,"
    "                               after, items)"
    "  SELECT i.id, i.version, 'create', $2::bigint, NULL, NULL, i.status, NULL, " INVOICE_TOTALS_JSON("i") ","
    "         $10::jsonb FROM i),"
    " a AS ("
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
    "  SELECT $2::bigint, 'ticket', $1::bigint, 'invoice.create', NULL, i.status,"
    "         jsonb_build_object('invoice_id', i.id, 'number', i.number, 'version', i.version,"
    "                            'subtotal', i.subtotal, 'discount', i.discount, 'tax', i.tax, 'total', i.total,"
    "                            'note', NULL)"
    "  FROM i"
    "  UNION ALL"
    "  SELECT $2::bigint, 'ticket', $1::bigint, 'ticket.status', $11::text, $12::text,"
    "         jsonb_build_object('invoice_id', i.id, 'number', i.number)"
    "  FROM i)"
    "SELECT i.id, i.number FROM i";
/* clang-format on */

static int s_create_write(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx    *ix = ch->ud;
    struct invoice_tx *tx = &ix->tx;
    if (PQntuples(prev) == 0)
        return invoice_refuse(tx, 404, "not_found", "no such ticket");
    tx->tk_from = dom_state_parse(DOM_TICKET, PQgetvalue(prev, 0, 0));
    /* One invoice per ticket: said before the state (an invoiced ticket is
     * past work_done anyway, and this is the clearer answer). */
    if (PQgetvalue(prev, 0, 1)[0] == 't')
        return invoice_refuse(tx, 409, "invoice_exists", "this ticket already has an invoice; edit that one");
    int rc = invoice_check(tx, DOM_TICKET, tx->tk_from, DOM_TICKET_EV_START_INVOICE, &tx->tk_to);
    if (!rc)
        rc = invoice_gone(tx);
    if (!rc)
        rc = compute_totals(ix);
    if (rc)
        return rc;
    tx->inv_to = DOM_INV_DRAFT; /* the table has no row into an invoice's first state */
    struct amounts a;
    amounts_text(ix, &a);
    const char *p[12] = {tx->ticket_id,
                         tx->actor_id,
                         a.sub,
                         a.disc,
                         a.rate,
                         a.tax,
                         a.total,
                         ix->note ? ix->note : "",
                         dom_state_name(DOM_INVOICE, tx->inv_to),
                         ix->items_json.data,
                         dom_state_name(DOM_TICKET, tx->tk_from),
                         dom_state_name(DOM_TICKET, tx->tk_to)};
    return pg_chain_query(ch, create_sql, 12, p);
}

static const pg_step create_steps[] = {s_create_lock, s_create_state,    s_create_write,
                                       s_written,     invoice_step_keep, NULL};

/* ---- the writes of an action on an existing invoice ----------------------------- */

/* What every action on an invoice writes besides the invoice itself: the
 * history row (the totals before, from o, and after, from u) and the audit
 * row. Parameters: $1 invoice, $2 actor, $3 action, $4 status before,
 * $5 status after, $6 the action's note (NULL for none), $7 the version's
 * lines (jsonb; NULL for an action that changes none). */
/* clang-format off */
#define HISTORY_AUDIT_SQL                                                                                              \
    " h AS ("                                                                                                          \
    "  INSERT INTO invoice_history (invoice_id, version, action, actor_id, note, status_before, status_after, before," \
    "                               after, items)"                                                                     \
    "  SELECT u.id, u.version, $3::text, $2::bigint, $6::text, $4::text, u.status, " INVOICE_TOTALS_JSON("o") ", "      \
    INVOICE_TOTALS_JSON("u") ", $7::jsonb FROM u, o),"                                                                 \
    " a AS ("                                                                                                          \
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"                              \
    "  SELECT $2::bigint, 'ticket', u.ticket_id, 'invoice.' || $3::text, $4::text, u.status,"                         \
    "         jsonb_build_object('invoice_id', u.id, 'number', u.number, 'version', u.version,"                        \
    "                            'subtotal', u.subtotal, 'discount', u.discount, 'tax', u.tax, 'total', u.total,"      \
    "                            'note', $6::text)"                                                                    \
    "  FROM u)"                                                                                                        \
    "SELECT u.id, u.number FROM u"

#define OLD_ROW_SQL "WITH o AS (SELECT * FROM invoices WHERE id = $1::bigint),"

/* Edit: the totals at the current rate, the note when given, version + 1.
 * $8..$12 subtotal, discount, rate, tax, total; $13 note (NULL: keep). */
static const char edit_sql[] = OLD_ROW_SQL
    " u AS ("
    "  UPDATE invoices SET status = $5::text, version = version + 1, subtotal = $8::bigint, discount = $9::bigint,"
    "         tax_rate_bp = $10::int, tax = $11::bigint, total = $12::bigint, note = coalesce($13::text, note),"
    "         updated_at = now()"
    "  WHERE id = $1::bigint RETURNING *)," HISTORY_AUDIT_SQL;

/* Submit: the queue's age starts, Sales' note of the last round goes, and
 * Sales' Telegram notice is queued (docs/money.md, Outbox rows). */
static const char submit_sql[] = OLD_ROW_SQL
    " u AS ("
    "  UPDATE invoices SET status = $5::text, submitted_at = now(), revision_note = NULL, updated_at = now()"
    "  WHERE id = $1::bigint RETURNING *),"
    " ob AS ("
    "  INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, invoice_id)"
    "  SELECT 'telegram', 'invoice.pending_approval', 'role:sales',"
    "         jsonb_build_object('invoice_id', u.id, 'number', u.number, 'version', u.version),"
    "         'invoice:' || u.id || ':submit:' || u.version, u.ticket_id, u.id FROM u),"
    HISTORY_AUDIT_SQL;

static const char approve_sql[] = OLD_ROW_SQL
    " u AS ("
    "  UPDATE invoices SET status = $5::text, approved_by = $2::bigint, approved_at = now(), updated_at = now()"
    "  WHERE id = $1::bigint RETURNING *)," HISTORY_AUDIT_SQL;

static const char revise_sql[] = OLD_ROW_SQL
    " u AS ("
    "  UPDATE invoices SET status = $5::text, revision_note = $6::text, updated_at = now()"
    "  WHERE id = $1::bigint RETURNING *)," HISTORY_AUDIT_SQL;
/* clang-format on */

/* The 7 parameters of HISTORY_AUDIT_SQL, into p[0..6]. */
static void tx_history_params(const struct invoice_tx *tx, const char *op, const char **p, const char *note,
                              const char *items)
{
    p[0] = tx->id;
    p[1] = tx->actor_id;
    p[2] = op;
    p[3] = dom_state_name(DOM_INVOICE, tx->inv_from);
    p[4] = dom_state_name(DOM_INVOICE, tx->inv_to);
    p[5] = note;
    p[6] = items;
}

static void history_params(const struct inv_ctx *ix, const char **p, const char *note, const char *items)
{
    tx_history_params(&ix->tx, op_names[ix->op], p, note, items);
}

/* invoice.h: the approve of POST /api/v1/invoices/{id}/approve, for any
 * frame (the API's, or the Telegram button's). */
int invoice_approve_write(struct invoice_tx *tx, const char *note)
{
    int rc = invoice_check(tx, DOM_INVOICE, tx->inv_from, DOM_INV_EV_APPROVE, &tx->inv_to);
    if (!rc)
        rc = invoice_gone(tx);
    if (rc)
        return rc;
    const char *p[7];
    tx_history_params(tx, op_names[OP_APPROVE], p, note, NULL);
    return pg_chain_query(&tx->ch, approve_sql, 7, p);
}

/* The locked invoice and the state table for `event`; then nothing is
 * written for a client that is gone. */
static int ix_locked(struct inv_ctx *ix, PGresult *res, int event)
{
    struct invoice_tx *tx = &ix->tx;
    int                rc = invoice_locked(tx, res);
    if (!rc)
        rc = invoice_check(tx, DOM_INVOICE, tx->inv_from, event, &tx->inv_to);
    return rc;
}

/* ---- edit ----------------------------------------------------------------------- */

static int s_edit_check(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    int             rc = ix_locked(ix, prev, DOM_INV_EV_EDIT);
    if (rc)
        return rc;
    if (ix->has_version && ix->seen_version != ix->tx.version)
        return invoice_refuse(&ix->tx, 409, "stale_version",
                              "the invoice is at version %lld, not %lld: someone else saved it meanwhile; reload it",
                              (long long)ix->tx.version, (long long)ix->seen_version);
    if ((rc = invoice_gone(&ix->tx)) != 0)
        return rc;
    /* What the edit keeps: the stored lines and discount. */
    const char *p[1] = {ix->tx.id};
    return pg_chain_query(ch,
                          "SELECT i.discount, it.description, it.qty, it.unit_price"
                          " FROM invoices i LEFT JOIN invoice_items it ON it.invoice_id = i.id"
                          " WHERE i.id = $1::bigint ORDER BY it.pos",
                          1, p);
}

static int s_edit_items(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    if (PQntuples(prev) == 0)
        return invoice_refuse(&ix->tx, 404, "not_found", "no such invoice");
    if (!ix->has_discount)
        ix->discount = strtoll(PQgetvalue(prev, 0, 0), NULL, 10);
    if (!ix->has_items) {
        int n = PQgetisnull(prev, 0, 1) ? 0 : PQntuples(prev);
        if (n > MONEY_ITEMS_MAX)
            n = MONEY_ITEMS_MAX; /* the API never stores more */
        for (int i = 0; i < n; i++) {
            free(ix->desc[i]);
            ix->desc[i] = xstrdup(PQgetvalue(prev, i, 1));
            ix->lines[i].qty = strtoll(PQgetvalue(prev, i, 2), NULL, 10);
            ix->lines[i].unit_price = strtoll(PQgetvalue(prev, i, 3), NULL, 10);
        }
        ix->nlines = (size_t)n;
    }
    int rc = compute_totals(ix);
    if (rc)
        return rc;
    if (!ix->has_items)
        return 0; /* the lines stay: nothing to write here */
    /* The lines replaced wholesale: positions 1..n take the new lines, the
     * rest go (disjoint rows, so one statement is safe). */
    char n[16];
    snprintf(n, sizeof(n), "%zu", ix->nlines);
    const char *p[3] = {ix->tx.id, n, ix->items_json.data};
    return pg_chain_query(ch,
                          "WITH d AS (DELETE FROM invoice_items WHERE invoice_id = $1::bigint AND pos > $2::int)"
                          " INSERT INTO invoice_items (invoice_id, pos, description, qty, unit_price, line_total)"
                          " SELECT $1::bigint, e.n, e.v->>'description', (e.v->>'qty')::bigint,"
                          "        (e.v->>'unit_price')::bigint, (e.v->>'line_total')::bigint"
                          " FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS e(v, n)"
                          " ON CONFLICT (invoice_id, pos) DO UPDATE SET description = excluded.description,"
                          "   qty = excluded.qty, unit_price = excluded.unit_price, line_total = excluded.line_total",
                          3, p);
}

static int s_edit_write(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    (void)prev;
    struct amounts a;
    amounts_text(ix, &a);
    const char *p[13];
    history_params(ix, p, NULL, ix->items_json.data);
    p[7] = a.sub;
    p[8] = a.disc;
    p[9] = a.rate;
    p[10] = a.tax;
    p[11] = a.total;
    p[12] = ix->has_note ? ix->note : NULL;
    return pg_chain_query(ch, edit_sql, 13, p);
}

static const pg_step edit_steps[] = {invoice_step_lock_ticket,
                                     invoice_step_lock_invoice,
                                     s_edit_check,
                                     s_edit_items,
                                     s_edit_write,
                                     s_written,
                                     invoice_step_keep,
                                     NULL};

/* ---- submit, approve, revise ------------------------------------------------------ */

static int s_transition_write(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    if (ix->op == OP_APPROVE) {
        int rc = invoice_locked(&ix->tx, prev);
        return rc ? rc : invoice_approve_write(&ix->tx, ix->note);
    }
    int event = ix->op == OP_SUBMIT ? DOM_INV_EV_SUBMIT : ix->op == OP_APPROVE ? DOM_INV_EV_APPROVE : DOM_INV_EV_REVISE;
    int rc = ix_locked(ix, prev, event);
    if (!rc)
        rc = invoice_gone(&ix->tx);
    if (rc)
        return rc;
    const char *sql = ix->op == OP_SUBMIT ? submit_sql : ix->op == OP_APPROVE ? approve_sql : revise_sql;
    const char *p[7];
    history_params(ix, p, ix->op == OP_SUBMIT ? NULL : ix->note, NULL);
    return pg_chain_query(ch, sql, 7, p);
}

static const pg_step transition_steps[] = {
    invoice_step_lock_ticket, invoice_step_lock_invoice, s_transition_write, s_written, invoice_step_keep, NULL};

/* ---- the end -------------------------------------------------------------------- */

static void on_done(struct pg_chain *ch, int stop, enum pg_err err, const char *state, const char *msg)
{
    struct inv_ctx    *ix = ch->ud;
    struct invoice_tx *tx = &ix->tx;
    if (invoice_tx_again(tx, err, state))
        return;
    if (ix->op == OP_CREATE && err == PG_ERR_SQL && state && !strcmp(state, "23505") && msg &&
        strstr(msg, "invoices_ticket_id_key")) {
        http_error(tx->req, 409, "invoice_exists", "this ticket already has an invoice; edit that one");
    } else if (!invoice_tx_failed(tx, stop, err, state, msg)) {
        log_info("invoices", "invoice %s (%s): %s by user %s, now %s, total %lld", tx->id, tx->number, op_names[ix->op],
                 tx->actor_id, dom_state_name(DOM_INVOICE, tx->inv_to), (long long)tx->total);
        invoice_tx_publish(tx, op_names[ix->op]); /* committed: the screens may look */
        invoice_answer_text(tx->req, ix->op == OP_CREATE ? 201 : 200, tx->answer, NULL);
    }
    ix_free(ix);
}

/* Sales' note: optional on approve (empty or blank text is none), 1..1000
 * characters, not only blanks, on revise (no body at all is no note). */
static bool sales_note(struct inv_ctx *ix, bool required)
{
    struct http_req *req = ix->tx.req;
    yyjson_val      *note = NULL;
    yyjson_doc      *doc = NULL;
    if (req->body.len) {
        if (!(doc = http_json_body(req)))
            return false;
        note = yyjson_obj_get(yyjson_doc_get_root(doc), "note");
    }
    if (!required && yyjson_is_str(note) && invoice_text_blank(yyjson_get_str(note), yyjson_get_len(note)))
        note = NULL;
    bool ok = true;
    if (present(note) || required) {
        ok = invoice_text_ok(note, 1, INV_NOTE_MAX);
        if (ok)
            ix->note = xstrndup(yyjson_get_str(note), yyjson_get_len(note));
    }
    yyjson_doc_free(doc);
    if (!ok) {
        char msg[96];
        snprintf(msg, sizeof(msg),
                 required ? "note: text of 1 to %d characters is required"
                          : "note: text of 1 to %d characters, or none",
                 INV_NOTE_MAX);
        http_error(req, 422, "validation_failed", msg);
    }
    return ok;
}

/* The body of create and edit, validated; false when answered (422 or the
 * body's own 400/415). */
static bool ix_body(struct inv_ctx *ix)
{
    yyjson_doc *doc = http_json_body(ix->tx.req);
    if (!doc)
        return false;
    char msg[256];
    int  rc = parse_invoice_body(ix, yyjson_doc_get_root(doc), msg, sizeof(msg));
    yyjson_doc_free(doc);
    if (rc < 0) {
        http_error(ix->tx.req, 422, "validation_failed", msg);
        return false;
    }
    return true;
}

/* Every action: the path's id, the body (checked before any database
 * work), then the transaction; answered exactly once on every path. */
static void ix_run(struct http_req *req, enum inv_op op, const pg_step *steps)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", op == OP_CREATE ? "no such ticket" : "no such invoice");
        return;
    }
    struct inv_ctx *ix = xcalloc(1, sizeof(*ix));
    invoice_tx_init(&ix->tx, req, "invoices", id);
    ix->op = op;
    if (op == OP_CREATE) {
        /* the path names the ticket; the invoice's id comes with the write */
        memcpy(ix->tx.ticket_id, ix->tx.id, sizeof(ix->tx.ticket_id));
        ix->tx.id[0] = '\0';
    }
    bool ok = op == OP_CREATE || op == OP_EDIT ? ix_body(ix)
              : op == OP_SUBMIT                ? true /* no body to read: anything sent is ignored */
                                               : sales_note(ix, op == OP_REVISE);
    if (!ok || !invoice_tx_start(&ix->tx, steps, on_done))
        ix_free(ix);
}

void h_invoices_create(struct http_req *req)
{
    ix_run(req, OP_CREATE, create_steps);
}

void h_invoices_update(struct http_req *req)
{
    ix_run(req, OP_EDIT, edit_steps);
}

void h_invoices_submit(struct http_req *req)
{
    ix_run(req, OP_SUBMIT, transition_steps);
}

void h_invoices_approve(struct http_req *req)
{
    ix_run(req, OP_APPROVE, transition_steps);
}

void h_invoices_revise(struct http_req *req)
{
    ix_run(req, OP_REVISE, transition_steps);
}

/* ---- read ------------------------------------------------------------------------ */

static void on_get(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        h_pg_error(req, "invoices", err, state, msg);
        return;
    }
    invoice_answer(req, 200, res, NULL);
}

void h_invoices_get(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such invoice");
        return;
    }
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    const char *p[1] = {idb};
    if (!req->svc->pg || pg_query(req->svc->pg, invoice_json_sql, 1, p, on_get, req) < 0) {
        http_add_header(req, "Retry-After", "1");
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}

/* The approval queue first (pending_approval, oldest submission first),
 * then the rest, last changed first. $1 the states (text[], NULL: all),
 * $2 the limit.
 *
 * Two index-ordered reads, each stopping at the limit, instead of reading,
 * sorting and numbering every invoice to keep the first few (that grew
 * with the table: 95 ms at 50 000 invoices, against 0.8 ms; the figures
 * are in docs/money.md):
 *   the queue by invoices_status_idx (status, submitted_at);
 *   the rest by invoices_updated_idx (updated_at DESC, id DESC, 0008).
 * The union of the two (at most 2 x limit rows) is sorted in the list's
 * order (the queue, submitted_at, then updated_at DESC, id DESC on both
 * sides: the tie-breaks of the one-sort version) and cut to the limit; only
 * then are the tickets and customers looked up, one by key for each row
 * (LATERAL with LIMIT 1, so that the planner cannot turn it into a hash
 * join over every ticket). A filter that names only rare states (draft)
 * lets the planner take the status index instead; either way no step reads
 * more than the rows it keeps plus the ones its filter skips. Statements
 * are unnamed (pg.c), so each is planned with its parameters: `$1 IS NULL`
 * and a queue the filter leaves out fold away. */
/* clang-format off */
static const char list_sql[] =
    "SELECT coalesce(json_agg(json_build_object('id', x.id, 'number', x.number, 'status', x.status,"
    "   'ticket_id', x.ticket_id, 'ticket_code', tc.code, 'customer_name', tc.name, 'total', x.total,"
    "   'submitted_at', " ISO("x.submitted_at") ", 'updated_at', " ISO("x.updated_at") ","
    "   'age_s', CASE WHEN x.submitted_at IS NULL THEN NULL"
    "            ELSE greatest(0, floor(extract(epoch FROM now() - x.submitted_at)))::bigint END)"
    "   ORDER BY x.part, x.queued, x.updated_at DESC, x.id DESC), '[]')::text"
    " FROM ("
    "  (SELECT 0 AS part, i.submitted_at AS queued, i.id, i.number, i.status, i.ticket_id, i.total,"
    "          i.submitted_at, i.updated_at"
    "   FROM invoices i"
    "   WHERE i.status = 'pending_approval' AND ($1::text[] IS NULL OR 'pending_approval' = ANY ($1::text[]))"
    "   ORDER BY i.submitted_at, i.updated_at DESC, i.id DESC LIMIT $2::int)"
    "  UNION ALL"
    "  (SELECT 1, NULL, i.id, i.number, i.status, i.ticket_id, i.total, i.submitted_at, i.updated_at"
    "   FROM invoices i"
    "   WHERE i.status <> 'pending_approval' AND ($1::text[] IS NULL OR i.status = ANY ($1::text[]))"
    "   ORDER BY i.updated_at DESC, i.id DESC LIMIT $2::int)"
    "  ORDER BY part, queued, updated_at DESC, id DESC LIMIT $2::int) x"
    " CROSS JOIN LATERAL (SELECT t.code, c.name FROM tickets t JOIN customers c ON c.id = t.customer_id"
    "   WHERE t.id = x.ticket_id LIMIT 1) tc";
/* clang-format on */

static void on_list(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        h_pg_error(req, "invoices", err, state, msg);
        return;
    }
    const char *list = PQntuples(res) ? PQgetvalue(res, 0, 0) : "[]";
    size_t      n = strlen(list), cn = 0;
    char       *small = compact(list, n, &cn);
    struct buf  b = {0};
    buf_puts(&b, "{\"invoices\":");
    buf_append(&b, small ? small : list, small ? cn : n);
    buf_putc(&b, '}');
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
    free(small);
}

/* An unknown name, as a refusal quotes it: printable ASCII only ('?' for
 * anything else), at most n - 1 bytes. The query is percent-decoded, so it
 * may hold any byte, and a cut could split a character: quoted raw, either
 * would make the answer something other than UTF-8 JSON. */
static void quote_name(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
}

void h_invoices_list(struct http_req *req)
{
    char status[256], lim[16], states[sizeof(status) + 2] = "{"; /* the names, braced */
    bool filter = false;
    if (http_query(req, "status", status, sizeof(status))) {
        /* a comma-separated list of invoice states, none of them empty;
         * names are [a-z_], so the array literal needs no quoting */
        for (char *s = status, *next; s; s = next) {
            next = strchr(s, ',');
            if (next)
                *next++ = '\0';
            if (dom_state_parse(DOM_INVOICE, s) < 0) {
                char name[48], msg[128];
                quote_name(s, name, sizeof(name));
                snprintf(msg, sizeof(msg), "status: \"%s\" is not an invoice state", name);
                http_error(req, 400, "bad_request", msg);
                return;
            }
            if (filter)
                strcat(states, ",");
            strcat(states, s);
            filter = true;
        }
    } else if (http_query_present(req, "status")) {
        http_error(req, 400, "bad_request", "status: a comma-separated list of invoice states");
        return;
    }
    strcat(states, "}");
    long limit = INV_LIST_DEFAULT;
    if (http_query_present(req, "limit")) {
        char *end = NULL;
        bool  ok = http_query(req, "limit", lim, sizeof(lim));
        limit = ok ? strtol(lim, &end, 10) : 0;
        if (!ok || !lim[0] || *end || limit < 1 || limit > INV_LIST_MAX) {
            char msg[64];
            snprintf(msg, sizeof(msg), "limit: an integer from 1 to %d", INV_LIST_MAX);
            http_error(req, 400, "bad_request", msg);
            return;
        }
    }
    char limb[16];
    snprintf(limb, sizeof(limb), "%ld", limit);
    const char *p[2] = {filter ? states : NULL, limb};
    if (!req->svc->pg || pg_query(req->svc->pg, list_sql, 2, p, on_list, req) < 0) {
        http_add_header(req, "Retry-After", "1");
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}
