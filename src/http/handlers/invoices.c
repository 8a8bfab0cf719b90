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
 * the lock statements, the answer.
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
 *   what was committed; then COMMIT and the answer.
 * A refusal stops the chain, which rolls back: nothing is written. Two
 * Sales approving at once: the second waits for the ticket's lock, then
 * reads `approved` and gets 409 naming it. A deadlock or serialization
 * failure (not expected: every money writer locks in the same order) runs
 * the transaction once more, then answers 503.
 */
#include <stdarg.h>
#include <stdbool.h>
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
#include "store/pg.h"

#define INV_DESC_MAX     200  /* characters of an item's description */
#define INV_NOTE_MAX     1000 /* characters of the invoice's note, and of Sales' notes */
#define INV_LIST_DEFAULT 100
#define INV_LIST_MAX     500
#define INV_TX_ATTEMPTS  2 /* a transaction run once more after a deadlock or serialization failure */

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

/* ---- the request ------------------------------------------------------------ */

enum inv_op { OP_CREATE, OP_EDIT, OP_SUBMIT, OP_APPROVE, OP_REVISE };

static const char *const op_names[] = {"create", "edit", "submit", "approve", "revise"};

struct inv_ctx {
    struct pg_chain  ch;
    struct http_req *req;
    const pg_step   *steps;
    enum inv_op      op;
    int              attempts;
    unsigned         actor; /* DOM_ACTOR_* */
    char             actor_id[24];
    char             id[24];        /* the invoice (create: once written) */
    char             ticket_id[24]; /* create: the path's; else from the locks */
    /* the request, validated */
    bool              has_items, has_discount, has_note, has_version;
    struct money_item lines[MONEY_ITEMS_MAX];
    char             *desc[MONEY_ITEMS_MAX]; /* owned copies of the descriptions */
    size_t            nlines;
    int64_t           discount, version;
    char             *note; /* owned: the invoice's note (create, edit) or Sales' note; NULL for none */
    /* what the locks found, and what the action makes of it */
    int                 inv_from, inv_to, tk_from, tk_to;
    char                number[40];
    struct money_totals totals;
    int64_t             rate_bp;
    struct buf          items_json; /* the version's lines, for invoice_items and the history */
    /* a refusal (a step's stop > 0): its code and message */
    const char *code;
    char        msg[320];
    char       *answer; /* the invoice JSON, copied out before COMMIT; owned */
};

static void ix_free(struct inv_ctx *ix)
{
    for (size_t i = 0; i < MONEY_ITEMS_MAX; i++)
        free(ix->desc[i]);
    free(ix->note);
    free(ix->answer);
    buf_free(&ix->items_json);
    free(ix);
}

/* A step's refusal: the chain rolls back and done answers it. */
static int ix_refuse(struct inv_ctx *ix, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int ix_refuse(struct inv_ctx *ix, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    ix->code = code;
    va_start(ap, fmt);
    vsnprintf(ix->msg, sizeof(ix->msg), fmt, ap);
    va_end(ap);
    return status;
}

/* The state table's verdict as a refusal (0 when the move is allowed). */
static int ix_check(struct inv_ctx *ix, enum dom_entity e, int from, int event, int *to)
{
    enum dom_verdict v = dom_transition(e, from, event, ix->actor, to);
    if (v == DOM_OK)
        return 0;
    if (v == DOM_NOT_ALLOWED)
        return ix_refuse(ix, 403, "forbidden", "you may not %s this %s", dom_event_name(e, event), dom_entity_name(e));
    if (v == DOM_UNKNOWN) {
        /* a status the table does not know: the database and the code disagree */
        log_error("invoices", "%s %s: unknown state %d for %s", op_names[ix->op], ix->id, from, dom_entity_name(e));
        return ix_refuse(ix, 500, "internal", "the request failed");
    }
    ix->code = "invalid_transition";
    dom_explain(e, from, event, ix->msg, sizeof(ix->msg));
    return 409;
}

/* Characters of valid UTF-8 text (yyjson has checked it): every byte that
 * does not continue a sequence starts one. */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

static bool all_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n\v\f", s[i]))
            return false;
    return true;
}

/* A JSON string of min..max characters with no NUL in it (PostgreSQL text
 * cannot hold one, and libpq would cut the parameter there), not only
 * blanks when min > 0. */
static bool text_ok(yyjson_val *v, size_t min, size_t max)
{
    if (!yyjson_is_str(v))
        return false;
    const char *s = yyjson_get_str(v);
    size_t      n = yyjson_get_len(v), c = utf8_chars(s, n);
    if (memchr(s, '\0', n) || c < min || c > max)
        return false;
    return min == 0 || !all_blank(s, n);
}

/* An integer member: true with *out set (a value past int64 reads as
 * INT64_MAX, which every limit refuses), false when it is not an integer
 * (a string, a fraction, 2.0). */
static bool int_val(yyjson_val *v, int64_t *out)
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
        if (!text_ok(d, 1, INV_DESC_MAX)) {
            snprintf(msg, len, "items[%zu].description: text of 1 to %d characters, not only blanks", i, INV_DESC_MAX);
            return -1;
        }
        if (!int_val(yyjson_obj_get(it, "qty"), &ix->lines[i].qty)) {
            snprintf(msg, len, "items[%zu].qty: an integer from 1 to %d", i, MONEY_QTY_MAX);
            return -1;
        }
        if (!int_val(yyjson_obj_get(it, "unit_price"), &ix->lines[i].unit_price)) {
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
        if (!int_val(disc, &ix->discount) || ix->discount < 0 || ix->discount > MONEY_SUBTOTAL_MAX) {
            snprintf(msg, len, "discount: an integer from 0 to %lld", (long long)MONEY_SUBTOTAL_MAX);
            return -1;
        }
        ix->has_discount = true;
    }
    if (present(note)) {
        if (!text_ok(note, 0, INV_NOTE_MAX)) {
            snprintf(msg, len, "note: text of at most %d characters", INV_NOTE_MAX);
            return -1;
        }
        ix->note = xstrndup(yyjson_get_str(note), yyjson_get_len(note));
        ix->has_note = true;
    }
    if (ix->op == OP_EDIT && present(ver)) {
        if (!int_val(ver, &ix->version) || ix->version < 1) {
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
    ix->rate_bp = ix->req->svc->cfg->tax_rate_bp;
    int rc = money_invoice_compute(ix->lines, ix->nlines, ix->discount, ix->rate_bp, &ix->totals, NULL);
    if (rc != MONEY_OK) {
        ix->code = "validation_failed";
        money_message(rc, 0, lines_subtotal(ix), ix->msg, sizeof(ix->msg));
        return 422;
    }
    build_items_json(ix);
    return 0;
}

/* ---- the steps ---------------------------------------------------------------- */

static int s_lock_ticket(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    (void)prev;
    const char *p[1] = {ix->id};
    return pg_chain_query(ch, invoice_lock_ticket_sql, 1, p);
}

static int s_lock_invoice(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    if (PQntuples(prev) == 0)
        return ix_refuse(ix, 404, "not_found", "no such invoice");
    const char *p[1] = {ix->id};
    return pg_chain_query(ch, invoice_lock_sql, 1, p);
}

/* The locked rows: the state table for this action. */
static int locked(struct inv_ctx *ix, PGresult *res, int event)
{
    if (PQntuples(res) == 0)
        return ix_refuse(ix, 404, "not_found", "no such invoice");
    ix->inv_from = dom_state_parse(DOM_INVOICE, PQgetvalue(res, 0, INVOICE_LOCK_STATUS));
    ix->tk_from = ix->tk_to = dom_state_parse(DOM_TICKET, PQgetvalue(res, 0, INVOICE_LOCK_TICKET_STATUS));
    snprintf(ix->ticket_id, sizeof(ix->ticket_id), "%s", PQgetvalue(res, 0, INVOICE_LOCK_TICKET_ID));
    snprintf(ix->number, sizeof(ix->number), "%s", PQgetvalue(res, 0, INVOICE_LOCK_NUMBER));
    ix->totals.total = strtoll(PQgetvalue(res, 0, INVOICE_LOCK_TOTAL), NULL, 10); /* until an edit computes it */
    int rc = ix_check(ix, DOM_INVOICE, ix->inv_from, event, &ix->inv_to);
    if (rc)
        return rc;
    if (http_req_gone(ix->req))
        return ix_refuse(ix, 499, "client_gone", "the client went away"); /* change nothing for nobody */
    return 0;
}

static int s_read(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    if (PQntuples(prev) != 1) {
        log_error("invoices", "%s %s: the write changed %d rows", op_names[ix->op], ix->id, PQntuples(prev));
        return ix_refuse(ix, 500, "internal", "the request failed");
    }
    snprintf(ix->id, sizeof(ix->id), "%s", PQgetvalue(prev, 0, 0));
    snprintf(ix->number, sizeof(ix->number), "%s", PQgetvalue(prev, 0, 1));
    const char *p[1] = {ix->id};
    return pg_chain_query(ch, invoice_json_sql, 1, p);
}

/* The last step issues nothing: it keeps the answer, then the chain commits. */
static int s_keep(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    if (PQntuples(prev) != 1 || PQgetisnull(prev, 0, 0))
        return ix_refuse(ix, 500, "internal", "the request failed");
    ix->answer = xstrdup(PQgetvalue(prev, 0, 0));
    return 0;
}

/* ---- create ------------------------------------------------------------------- */

static int s_create_lock(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    (void)prev;
    const char *p[1] = {ix->ticket_id};
    return pg_chain_query(ch, "SELECT id FROM tickets WHERE id = $1::bigint FOR NO KEY UPDATE", 1, p);
}

/* With the lock held, a statement of its own: its snapshot is taken after
 * the lock, so it sees the invoice a racing create committed meanwhile (a
 * subquery of the locking statement itself would not). */
static int s_create_state(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    if (PQntuples(prev) == 0)
        return ix_refuse(ix, 404, "not_found", "no such ticket");
    const char *p[1] = {ix->ticket_id};
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
    struct inv_ctx *ix = ch->ud;
    if (PQntuples(prev) == 0)
        return ix_refuse(ix, 404, "not_found", "no such ticket");
    ix->tk_from = dom_state_parse(DOM_TICKET, PQgetvalue(prev, 0, 0));
    /* One invoice per ticket: said before the state (an invoiced ticket is
     * past work_done anyway, and this is the clearer answer). */
    if (PQgetvalue(prev, 0, 1)[0] == 't')
        return ix_refuse(ix, 409, "invoice_exists", "this ticket already has an invoice; edit that one");
    int rc = ix_check(ix, DOM_TICKET, ix->tk_from, DOM_TICKET_EV_START_INVOICE, &ix->tk_to);
    if (rc)
        return rc;
    if (http_req_gone(ix->req))
        return ix_refuse(ix, 499, "client_gone", "the client went away");
    ix->inv_to = DOM_INV_DRAFT;
    if ((rc = compute_totals(ix)) != 0)
        return rc;
    char sub[24], disc[24], rate[16], tax[24], total[24];
    snprintf(sub, sizeof(sub), "%lld", (long long)ix->totals.subtotal);
    snprintf(disc, sizeof(disc), "%lld", (long long)ix->totals.discount);
    snprintf(rate, sizeof(rate), "%lld", (long long)ix->rate_bp);
    snprintf(tax, sizeof(tax), "%lld", (long long)ix->totals.tax);
    snprintf(total, sizeof(total), "%lld", (long long)ix->totals.total);
    const char *p[12] = {ix->ticket_id,
                         ix->actor_id,
                         sub,
                         disc,
                         rate,
                         tax,
                         total,
                         ix->note ? ix->note : "",
                         dom_state_name(DOM_INVOICE, ix->inv_to),
                         ix->items_json.data,
                         dom_state_name(DOM_TICKET, ix->tk_from),
                         dom_state_name(DOM_TICKET, ix->tk_to)};
    return pg_chain_query(ch, create_sql, 12, p);
}

static const pg_step create_steps[] = {s_create_lock, s_create_state, s_create_write, s_read, s_keep, NULL};

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
static void history_params(struct inv_ctx *ix, const char **p, const char *note, const char *items)
{
    p[0] = ix->id;
    p[1] = ix->actor_id;
    p[2] = op_names[ix->op];
    p[3] = dom_state_name(DOM_INVOICE, ix->inv_from);
    p[4] = dom_state_name(DOM_INVOICE, ix->inv_to);
    p[5] = note;
    p[6] = items;
}

/* ---- edit ----------------------------------------------------------------------- */

static int s_edit_check(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    int             rc = locked(ix, prev, DOM_INV_EV_EDIT);
    if (rc)
        return rc;
    int64_t cur = strtoll(PQgetvalue(prev, 0, INVOICE_LOCK_VERSION), NULL, 10);
    if (ix->has_version && ix->version != cur)
        return ix_refuse(ix, 409, "stale_version",
                         "the invoice is at version %lld, not %lld: someone else saved it meanwhile; reload it",
                         (long long)cur, (long long)ix->version);
    /* What the edit keeps: the stored lines and discount. */
    const char *p[1] = {ix->id};
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
        return ix_refuse(ix, 404, "not_found", "no such invoice");
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
    const char *p[3] = {ix->id, n, ix->items_json.data};
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
    char sub[24], disc[24], rate[16], tax[24], total[24];
    snprintf(sub, sizeof(sub), "%lld", (long long)ix->totals.subtotal);
    snprintf(disc, sizeof(disc), "%lld", (long long)ix->totals.discount);
    snprintf(rate, sizeof(rate), "%lld", (long long)ix->rate_bp);
    snprintf(tax, sizeof(tax), "%lld", (long long)ix->totals.tax);
    snprintf(total, sizeof(total), "%lld", (long long)ix->totals.total);
    const char *p[13];
    history_params(ix, p, NULL, ix->items_json.data);
    p[7] = sub;
    p[8] = disc;
    p[9] = rate;
    p[10] = tax;
    p[11] = total;
    p[12] = ix->has_note ? ix->note : NULL;
    return pg_chain_query(ch, edit_sql, 13, p);
}

static const pg_step edit_steps[] = {s_lock_ticket, s_lock_invoice, s_edit_check, s_edit_items,
                                     s_edit_write,  s_read,         s_keep,       NULL};

/* ---- submit, approve, revise ------------------------------------------------------ */

static int s_transition_write(struct pg_chain *ch, PGresult *prev)
{
    struct inv_ctx *ix = ch->ud;
    int event = ix->op == OP_SUBMIT ? DOM_INV_EV_SUBMIT : ix->op == OP_APPROVE ? DOM_INV_EV_APPROVE : DOM_INV_EV_REVISE;
    int rc = locked(ix, prev, event);
    if (rc)
        return rc;
    const char *sql = ix->op == OP_SUBMIT ? submit_sql : ix->op == OP_APPROVE ? approve_sql : revise_sql;
    const char *p[7];
    history_params(ix, p, ix->op == OP_SUBMIT ? NULL : ix->note, NULL);
    return pg_chain_query(ch, sql, 7, p);
}

static const pg_step transition_steps[] = {s_lock_ticket, s_lock_invoice, s_transition_write, s_read, s_keep, NULL};

/* ---- the end -------------------------------------------------------------------- */

static void on_done(struct pg_chain *ch, int stop, enum pg_err err, const char *state, const char *msg)
{
    struct inv_ctx  *ix = ch->ud;
    struct http_req *req = ix->req;

    if (err == PG_ERR_SQL && state && (!strcmp(state, "40P01") || !strcmp(state, "40001")) &&
        ix->attempts + 1 < INV_TX_ATTEMPTS && !http_req_gone(req)) {
        /* Rolled back whole: run it again from the locks. */
        log_warn("invoices", "%s %s: %s, running the transaction again", op_names[ix->op], ix->id, state);
        ix->attempts++;
        free(ix->answer);
        ix->answer = NULL;
        if (pg_chain_start(&ix->ch, req->svc->pg, 0, ix->steps, on_done, ix) == 0)
            return;
        err = PG_ERR_DOWN;
    }
    if (err != PG_OK) {
        if (ix->op == OP_CREATE && err == PG_ERR_SQL && state && !strcmp(state, "23505") && msg &&
            strstr(msg, "invoices_ticket_id_key"))
            http_error(req, 409, "invoice_exists", "this ticket already has an invoice; edit that one");
        else
            h_pg_error(req, "invoices", err, state, msg);
    } else if (stop) {
        http_error(req, stop, ix->code ? ix->code : "internal", ix->msg);
    } else {
        log_info("invoices", "invoice %s (%s): %s by user %s, now %s, total %lld", ix->id, ix->number, op_names[ix->op],
                 ix->actor_id, dom_state_name(DOM_INVOICE, ix->inv_to), (long long)ix->totals.total);
        invoice_answer_text(req, ix->op == OP_CREATE ? 201 : 200, ix->answer, NULL);
    }
    ix_free(ix);
}

static void ix_start(struct inv_ctx *ix, const pg_step *steps)
{
    ix->steps = steps;
    if (!ix->req->svc->pg || pg_chain_start(&ix->ch, ix->req->svc->pg, 0, steps, on_done, ix) < 0) {
        http_add_header(ix->req, "Retry-After", "1");
        http_error(ix->req, 503, "unavailable", "the database is unavailable; try again");
        ix_free(ix);
    }
}

static struct inv_ctx *ix_new(struct http_req *req, enum inv_op op, const char *what)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        char m[48];
        snprintf(m, sizeof(m), "no such %s", what);
        http_error(req, 404, "not_found", m);
        return NULL;
    }
    struct inv_ctx *ix = xcalloc(1, sizeof(*ix));
    ix->req = req;
    ix->op = op;
    ix->actor = h_actor(req->session);
    snprintf(ix->actor_id, sizeof(ix->actor_id), "%lld", (long long)req->session->user_id);
    /* create: the path names the ticket; the invoice's id comes with the write */
    snprintf(op == OP_CREATE ? ix->ticket_id : ix->id, sizeof(ix->id), "%lld", (long long)id);
    return ix;
}

/* The body of create and edit, validated; false when answered (422 or the
 * body's own 400/415). */
static bool ix_body(struct inv_ctx *ix)
{
    yyjson_doc *doc = http_json_body(ix->req);
    if (!doc)
        return false;
    char msg[256];
    int  rc = parse_invoice_body(ix, yyjson_doc_get_root(doc), msg, sizeof(msg));
    yyjson_doc_free(doc);
    if (rc < 0) {
        http_error(ix->req, 422, "validation_failed", msg);
        return false;
    }
    return true;
}

void h_invoices_create(struct http_req *req)
{
    struct inv_ctx *ix = ix_new(req, OP_CREATE, "ticket");
    if (!ix)
        return;
    if (!ix_body(ix)) {
        ix_free(ix);
        return;
    }
    ix_start(ix, create_steps);
}

void h_invoices_update(struct http_req *req)
{
    struct inv_ctx *ix = ix_new(req, OP_EDIT, "invoice");
    if (!ix)
        return;
    if (!ix_body(ix)) {
        ix_free(ix);
        return;
    }
    ix_start(ix, edit_steps);
}

void h_invoices_submit(struct http_req *req)
{
    /* no body to read: anything sent is ignored */
    struct inv_ctx *ix = ix_new(req, OP_SUBMIT, "invoice");
    if (ix)
        ix_start(ix, transition_steps);
}

/* Sales' note: optional on approve (empty or blank text is none), 1..1000
 * characters, not only blanks, on revise (no body at all is no note). */
static bool sales_note(struct inv_ctx *ix, bool required)
{
    yyjson_val *note = NULL;
    yyjson_doc *doc = NULL;
    if (ix->req->body.len) {
        if (!(doc = http_json_body(ix->req)))
            return false;
        note = yyjson_obj_get(yyjson_doc_get_root(doc), "note");
    }
    if (!required && yyjson_is_str(note) && all_blank(yyjson_get_str(note), yyjson_get_len(note)))
        note = NULL;
    bool ok = true;
    if (present(note) || required) {
        ok = text_ok(note, 1, INV_NOTE_MAX);
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
        http_error(ix->req, 422, "validation_failed", msg);
    }
    return ok;
}

void h_invoices_approve(struct http_req *req)
{
    struct inv_ctx *ix = ix_new(req, OP_APPROVE, "invoice");
    if (!ix)
        return;
    if (!sales_note(ix, false)) {
        ix_free(ix);
        return;
    }
    ix_start(ix, transition_steps);
}

void h_invoices_revise(struct http_req *req)
{
    struct inv_ctx *ix = ix_new(req, OP_REVISE, "invoice");
    if (!ix)
        return;
    if (!sales_note(ix, true)) {
        ix_free(ix);
        return;
    }
    ix_start(ix, transition_steps);
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
 * $2 the limit. */
/* clang-format off */
static const char list_sql[] =
    "SELECT coalesce(json_agg(x.j ORDER BY x.rn), '[]')::text FROM ("
    " SELECT json_build_object('id', i.id, 'number', i.number, 'status', i.status, 'ticket_id', t.id,"
    "   'ticket_code', t.code, 'customer_name', c.name, 'total', i.total,"
    "   'submitted_at', " ISO("i.submitted_at") ", 'updated_at', " ISO("i.updated_at") ","
    "   'age_s', CASE WHEN i.submitted_at IS NULL THEN NULL"
    "            ELSE greatest(0, floor(extract(epoch FROM now() - i.submitted_at)))::bigint END) AS j,"
    "   row_number() OVER (ORDER BY i.status = 'pending_approval' DESC,"
    "     CASE WHEN i.status = 'pending_approval' THEN i.submitted_at END ASC, i.updated_at DESC, i.id DESC) AS rn"
    " FROM invoices i JOIN tickets t ON t.id = i.ticket_id JOIN customers c ON c.id = t.customer_id"
    " WHERE $1::text[] IS NULL OR i.status = ANY ($1::text[])"
    " ORDER BY rn LIMIT $2::int) x";
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
                char msg[128];
                snprintf(msg, sizeof(msg), "status: \"%.60s\" is not an invoice state", s);
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
