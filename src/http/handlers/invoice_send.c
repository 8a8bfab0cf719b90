/*
 * Send and resend: POST /api/v1/invoices/{id}/send (docs/money.md).
 *
 * One transaction in the money frame (invoice.h, struct invoice_tx):
 *   lock the ticket, then the invoice (FOR NO KEY UPDATE, invoice.h)
 *   (C: the state table: approved -> sent with the ticket invoicing ->
 *    awaiting_payment, the first send; sent -> sent or paid -> paid, a resend)
 *   read the invoice's links (nonce, token hash), locked
 *   (C: derive each link's token from its nonce under GSS_LINK_KEY; a
 *    stored hash that no longer matches, because the key changed, or a
 *    link that does not exist yet, gets a fresh nonce)
 *   one statement: the links upserted with their expiry renewed, the
 *   invoice (and on the first send the ticket) moved, the history row, the
 *   outbox row for the customer's WhatsApp (idem_key invoice:<id>:send:<n>),
 *   the audit rows
 *   the invoice JSON, then COMMIT, and the answer with invoice_url and
 *   rating_url added.
 *
 * The tokens exist only in this request's memory and in its answer: the
 * database gets their SHA-256 and the nonce, the outbox the link ids, the
 * log nothing. Sending again therefore sends the same URLs (the same nonce
 * under the same key gives the same token), while a copy of the database
 * or the outbox opens nothing.
 *
 * Resend from paid is allowed (states.c: paid -> paid): the rating link
 * stays useful after payment, until it is used or expires.
 *
 * GET /api/v1/invoices/{id}/links (h_invoices_links) answers the same two
 * URLs again for CS after a reload, derived from the stored nonces exactly
 * as a send does, and writes nothing: no outbox row, no history, no
 * renewed expiry. A stored hash that the current key no longer gives (the
 * key changed) is 409 links_stale: only a send mints new links, and it
 * tells the customer.
 *
 * With an Idempotency-Key (docs/money.md "Retrying a payment or a send")
 * the key is stored on the send's invoice_history row, per actor. Once the
 * invoice is locked the key is looked up first: found, the request is a
 * retry (or the second of two presses, which queued on the lock) and is
 * answered 200 as a send answers (the invoice, the links derived from the
 * stored nonces, as GET .../links does) with nothing written, queued or
 * announced; found on another invoice, 422 idempotency_key_reused. The
 * unique index (actor_id, idempotency_key) refuses a race of one key on two
 * invoices (23505, answered the same way).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "auth/links.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "domain/states.h"
#include "http/handlers/handlers.h"
#include "http/handlers/invoice.h"
#include "http/services.h"
#include "integrations/outbox.h"
#include "store/pg.h"

struct send_link {
    bool    stored; /* a row exists */
    bool    fresh;  /* a new nonce: the stored one does not give its hash */
    uint8_t nonce[LINKS_NONCE_LEN];
    char    token[LINKS_TOKEN_SIZE]; /* the derived token: secret, wiped at the end */
};

struct send_ctx {
    struct invoice_tx tx;                /* first (invoice.h) */
    bool              first;             /* approved -> sent */
    bool              zero;              /* first send of a total of 0: nothing is owed, so it is paid at once */
    int               inv_paid, tk_paid; /* the states `pay` takes them to (zero only) */
    struct send_link  link[LINKS_KIND_COUNT];
    char              idem[72]; /* the Idempotency-Key, "" for none */
    bool              replay;   /* the key's send exists: answer it again, write nothing */
};
_Static_assert(offsetof(struct send_ctx, tx) == 0, "the frame comes first (invoice.h)");

static void send_free(struct send_ctx *sx)
{
    invoice_tx_clear(&sx->tx);
    mbedtls_platform_zeroize(sx->link, sizeof(sx->link));
    free(sx);
}

/* ---- the steps ------------------------------------------------------------------ */

static const char links_lock_sql[] = "SELECT kind, encode(nonce, 'hex'), encode(token_hash, 'hex') FROM public_links"
                                     " WHERE invoice_id = $1::bigint FOR NO KEY UPDATE";

/* The invoice is locked: the key's send, if there is one, before the
 * state table (the send it names has moved the invoice on). */
static int s_idem(struct pg_chain *ch, PGresult *prev)
{
    struct send_ctx   *sx = ch->ud;
    struct invoice_tx *tx = &sx->tx;
    /* what an earlier run (a deadlock's) made of it counts for nothing */
    sx->first = sx->zero = sx->replay = false;
    mbedtls_platform_zeroize(sx->link, sizeof(sx->link));
    int rc = invoice_locked(tx, prev);
    if (rc || !sx->idem[0])
        return rc; /* no key: s_decide runs at once */
    const char *p[2] = {tx->actor_id, sx->idem};
    return pg_chain_query(ch,
                          "SELECT invoice_id FROM invoice_history WHERE actor_id = $1::bigint"
                          " AND idempotency_key = $2::text",
                          2, p);
}

/* The state table decides; then the links are read. */
static int s_decide(struct pg_chain *ch, PGresult *prev)
{
    struct send_ctx   *sx = ch->ud;
    struct invoice_tx *tx = &sx->tx;
    int                rc = 0;
    if (sx->idem[0] && PQntuples(prev) > 0) {
        if (strcmp(PQgetvalue(prev, 0, 0), tx->id))
            return invoice_refuse(tx, 422, "idempotency_key_reused",
                                  "this Idempotency-Key was used for another invoice's send");
        sx->replay = true;
        const char *p[1] = {tx->id};
        return pg_chain_query(ch, links_lock_sql, 1, p);
    }
    /* Sent or paid already: a resend. Anything else is asked as the first
     * send, so a refusal names what send needs ("allowed from approved"). */
    int ev = tx->inv_from == DOM_INV_SENT || tx->inv_from == DOM_INV_PAID ? DOM_INV_EV_RESEND : DOM_INV_EV_SEND;
    if ((rc = invoice_check(tx, DOM_INVOICE, tx->inv_from, ev, &tx->inv_to)) != 0)
        return rc;
    sx->first = ev == DOM_INV_EV_SEND;
    if (sx->first) {
        rc = invoice_check(tx, DOM_TICKET, tx->tk_from, DOM_TICKET_EV_SEND_INVOICE, &tx->tk_to);
        /* A discount equal to the subtotal leaves nothing to pay, and no
         * payment (amount >= 1) could ever pay it: the send that tells the
         * customer so also fires pay, through the table like a payment. */
        if (!rc && tx->total == 0) {
            sx->zero = true;
            rc = invoice_check(tx, DOM_INVOICE, tx->inv_to, DOM_INV_EV_PAY, &sx->inv_paid);
            if (!rc)
                rc = invoice_check(tx, DOM_TICKET, tx->tk_to, DOM_TICKET_EV_PAY, &sx->tk_paid);
        }
    }
    /* a customer messaged for a CS who never sees it would be sent twice */
    if (!rc)
        rc = invoice_gone(tx);
    if (rc)
        return rc;
    const char *p[1] = {tx->id};
    return pg_chain_query(ch, links_lock_sql, 1, p);
}

/* The stored row of a link, its nonce and hash in hex (columns col and
 * col + 1 of row r): l->stored, the nonce into l->nonce, and l->fresh
 * unless the nonce under the current key gives the stored hash. */
static void link_stored(const struct links *keys, enum links_kind k, PGresult *res, int r, int col, struct send_link *l)
{
    uint8_t     stored[LINKS_HASH_LEN], want[LINKS_HASH_LEN];
    const char *nh = PQgetvalue(res, r, col), *hh = PQgetvalue(res, r, col + 1);
    l->stored = true;
    l->fresh = true;
    if (strlen(nh) == 2 * LINKS_NONCE_LEN && crypto_unhex(nh, strlen(nh), l->nonce) == LINKS_NONCE_LEN &&
        strlen(hh) == 2 * LINKS_HASH_LEN && crypto_unhex(hh, strlen(hh), stored) == LINKS_HASH_LEN &&
        links_expected_hash(keys, k, l->nonce, want) == 0 && links_hash_eq(stored, want))
        l->fresh = false;
}

/* Same links when the stored nonce still gives the stored hash; a fresh
 * nonce otherwise (GSS_LINK_KEY changed, or a process key that died). */
static int s_links(struct pg_chain *ch, PGresult *prev)
{
    struct send_ctx    *sx = ch->ud;
    struct invoice_tx  *tx = &sx->tx;
    const struct links *keys = tx->req->svc->links;
    for (int r = 0; r < PQntuples(prev); r++) {
        int k = links_kind_parse(PQgetvalue(prev, r, 0));
        if (k >= 0)
            link_stored(keys, (enum links_kind)k, prev, r, 1, &sx->link[k]);
    }
    if (sx->replay) {
        /* the links of the send replayed, as they are stored: none is minted */
        for (int k = 0; k < LINKS_KIND_COUNT; k++) {
            struct send_link *l = &sx->link[k];
            if (!l->stored || l->fresh)
                return invoice_refuse(tx, 409, "links_stale",
                                      "the stored links no longer match the link key (GSS_LINK_KEY changed): press "
                                      "Kirim Ulang to send the customer new links");
            if (links_token(keys, (enum links_kind)k, l->nonce, l->token) < 0)
                return invoice_refuse(tx, 500, "internal", "the request failed");
        }
        return 0; /* s_check passes; the invoice is read as it is */
    }
    char nonce_hex[LINKS_KIND_COUNT][2 * LINKS_NONCE_LEN + 1], hash_hex[LINKS_KIND_COUNT][2 * LINKS_HASH_LEN + 1];
    for (int k = 0; k < LINKS_KIND_COUNT; k++) {
        struct send_link *l = &sx->link[k];
        if (!l->stored)
            l->fresh = true;
        if (l->fresh && links_nonce(l->nonce) < 0)
            return invoice_refuse(tx, 503, "unavailable", "no randomness for a link; try again");
        if (links_token(keys, (enum links_kind)k, l->nonce, l->token) < 0)
            return invoice_refuse(tx, 500, "internal", "the request failed");
        uint8_t h[LINKS_HASH_LEN];
        links_token_hash(l->token, LINKS_TOKEN_LEN, h);
        crypto_hex(l->nonce, LINKS_NONCE_LEN, nonce_hex[k]);
        crypto_hex(h, LINKS_HASH_LEN, hash_hex[k]);
    }
    if (sx->link[LINKS_INVOICE].stored && sx->link[LINKS_INVOICE].fresh)
        log_warn("send", "invoice %s: its links no longer match GSS_LINK_KEY (the key changed); new links are sent",
                 tx->id);

    const struct gss_config *cfg = tx->req->svc->cfg;
    char                     ttl[24], due[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)cfg->public_link_ttl_s);
    snprintf(due, sizeof(due), "%lld", (long long)cfg->invoice_due_days);
    const char *p[16] = {tx->id,
                         tx->actor_id,
                         sx->first ? "t" : "f",
                         nonce_hex[LINKS_INVOICE],
                         hash_hex[LINKS_INVOICE],
                         nonce_hex[LINKS_RATING],
                         hash_hex[LINKS_RATING],
                         ttl,
                         due,
                         tx->ticket_id,
                         dom_state_name(DOM_INVOICE, tx->inv_from),
                         dom_state_name(DOM_INVOICE, tx->inv_to),
                         dom_state_name(DOM_TICKET, tx->tk_from),
                         dom_state_name(DOM_TICKET, tx->tk_to),
                         sx->first ? "send" : "resend",
                         sx->idem[0] ? sx->idem : NULL};
    /*
     * $1 invoice, $2 actor, $3 first send, $4..$7 the links' nonces and
     * hashes (hex), $8 TTL s, $9 due days, $10 ticket, $11/$12 invoice
     * status before/after, $13/$14 ticket's, $15 the history action, $16
     * the Idempotency-Key (NULL: none).
     * Every CTE sees the rows as they were before this statement, so `n`
     * counts the earlier sends only. A used rating link keeps used_at.
     */
    /* clang-format off */
    static const char sql[] =
        "WITH l AS ("
        "  INSERT INTO public_links (kind, invoice_id, ticket_id, nonce, token_hash, expires_at)"
        "  VALUES ('invoice', $1::bigint, $10::bigint, decode($4::text, 'hex'), decode($5::text, 'hex'),"
        "          now() + make_interval(secs => $8::double precision)),"
        "         ('rating', $1::bigint, $10::bigint, decode($6::text, 'hex'), decode($7::text, 'hex'),"
        "          now() + make_interval(secs => $8::double precision))"
        "  ON CONFLICT (invoice_id, kind) DO UPDATE SET nonce = EXCLUDED.nonce, token_hash = EXCLUDED.token_hash,"
        "     expires_at = EXCLUDED.expires_at"
        "  RETURNING id, kind, expires_at),"
        " n AS (SELECT count(*) + 1 AS n FROM invoice_history"
        "       WHERE invoice_id = $1::bigint AND action IN ('send', 'resend')),"
        " i AS ("
        "  UPDATE invoices SET status = $12::text, updated_at = now(),"
        "         sent_at = CASE WHEN $3::bool THEN now() ELSE sent_at END,"
        "         due_at = CASE WHEN $3::bool THEN now() + make_interval(days => $9::int) ELSE due_at END"
        "  WHERE id = $1::bigint RETURNING *),"
        " t AS ("
        "  UPDATE tickets SET status = $14::text, updated_at = now() WHERE id = $10::bigint AND $3::bool RETURNING id),"
        " h AS ("
        "  INSERT INTO invoice_history (invoice_id, version, action, actor_id, status_before, status_after, before, after,"
        "                               idempotency_key)"
        "  SELECT i.id, i.version, $15::text, $2::bigint, $11::text, $12::text, " INVOICE_TOTALS_JSON("i") ","
        "         " INVOICE_TOTALS_JSON("i") ", $16::text FROM i),"
        " o AS ("
        "  INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, invoice_id)"
        /* a customer who hides their number (docs/whatsapp.md) is reached
         * by the business-scoped user id */
        "  SELECT 'whatsapp', 'invoice.sent', coalesce('wa:' || c.phone, 'wa-user:' || c.wa_user_id),"
        "         jsonb_build_object('invoice_id', i.id, 'invoice_link_id', (SELECT id FROM l WHERE kind = 'invoice'),"
        "                            'rating_link_id', (SELECT id FROM l WHERE kind = 'rating'),"
        "                            'number', i.number, 'total', i.total),"
        "         'invoice:' || i.id || ':send:' || n.n, $10::bigint, i.id"
        "  FROM i, n, tickets tk JOIN customers c ON c.id = tk.customer_id WHERE tk.id = $10::bigint"
        "  RETURNING id),"
        " a AS ("
        "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
        "  SELECT $2::bigint, 'ticket', $10::bigint, 'invoice.' || $15::text, $11::text, $12::text,"
        "         jsonb_build_object('invoice_id', i.id, 'number', i.number, 'total', i.total, 'send', n.n,"
        "                            'expires_at', (SELECT max(expires_at) FROM l))"
        "  FROM i, n"
        "  UNION ALL"
        "  SELECT $2::bigint, 'ticket', $10::bigint, 'ticket.status', $13::text, $14::text,"
        "         jsonb_build_object('invoice_id', $1::bigint) WHERE $3::bool)"
        "SELECT (SELECT count(*) FROM i), (SELECT count(*) FROM l), (SELECT count(*) FROM o), (SELECT n FROM n)";
    /* clang-format on */
    return pg_chain_query(ch, sql, 16, p);
}

static int s_check(struct pg_chain *ch, PGresult *prev)
{
    struct send_ctx   *sx = ch->ud;
    struct invoice_tx *tx = &sx->tx;
    if (sx->replay)
        return 0; /* nothing was written */
    if (PQntuples(prev) != 1 || atoi(PQgetvalue(prev, 0, 0)) != 1 || atoi(PQgetvalue(prev, 0, 1)) != 2 ||
        atoi(PQgetvalue(prev, 0, 2)) != 1) {
        log_error("send", "invoice %s: the send wrote %s invoice, %s links, %s outbox rows", tx->id,
                  PQntuples(prev) ? PQgetvalue(prev, 0, 0) : "?", PQntuples(prev) ? PQgetvalue(prev, 0, 1) : "?",
                  PQntuples(prev) ? PQgetvalue(prev, 0, 2) : "?");
        return invoice_refuse(tx, 500, "internal", "the request failed");
    }
    log_info("send", "invoice %s: %s (send %s)%s", tx->id, sx->first ? "sent" : "sent again", PQgetvalue(prev, 0, 3),
             sx->zero ? ", total 0: paid" : "");
    if (!sx->zero)
        return 0;
    /* $1 invoice, $2 actor, $3 ticket, $4/$5 invoice before/after, $6/$7 the ticket's. */
    const char *p[7] = {tx->id,
                        tx->actor_id,
                        tx->ticket_id,
                        dom_state_name(DOM_INVOICE, tx->inv_to),
                        dom_state_name(DOM_INVOICE, sx->inv_paid),
                        dom_state_name(DOM_TICKET, tx->tk_to),
                        dom_state_name(DOM_TICKET, sx->tk_paid)};
    /* clang-format off */
    static const char sql[] =
        "WITH i AS ("
        "  UPDATE invoices SET status = $5::text, paid_at = now(), updated_at = now()"
        "  WHERE id = $1::bigint RETURNING *),"
        " t AS (UPDATE tickets SET status = $7::text, updated_at = now() WHERE id = $3::bigint RETURNING id),"
        " h AS ("
        "  INSERT INTO invoice_history (invoice_id, version, action, actor_id, note, status_before, status_after,"
        "                               before, after)"
        "  SELECT i.id, i.version, 'pay', $2::bigint, 'total 0: nothing to pay', $4::text, $5::text, "
        INVOICE_TOTALS_JSON("i") ", " INVOICE_TOTALS_JSON("i") " FROM i)"
        "INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"
        " SELECT $2::bigint, 'ticket', $3::bigint, 'ticket.status', $6::text, $7::text,"
        "        jsonb_build_object('invoice_id', i.id, 'total', 0) FROM i";
    /* clang-format on */
    return pg_chain_query(ch, sql, 7, p);
}

static const pg_step send_steps[] = {
    invoice_step_lock_ticket, invoice_step_lock_invoice, s_idem, s_decide, s_links, s_check,
    invoice_step_read,        invoice_step_keep,         NULL};

/* ---- the answer ------------------------------------------------------------------- */

/* `"invoice_url":"…","rating_url":"…"` for invoice_answer_text (and,
 * braced, the answer of GET .../links: the same text, so the same URLs).
 * GSS_PUBLIC_URL is written without its trailing slashes. */
static void urls(struct buf *b, const struct http_req *req, const struct send_link link[LINKS_KIND_COUNT])
{
    const char *base = req->svc->cfg->public_url;
    size_t      n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    static const char *const keys[LINKS_KIND_COUNT] = {"invoice_url", "rating_url"};
    static const char *const paths[LINKS_KIND_COUNT] = {"/i/", "/r/"};
    for (int k = 0; k < LINKS_KIND_COUNT; k++) {
        buf_printf(b, "%s\"%s\":\"", k ? "," : "", keys[k]);
        buf_json_escape(b, base, n);
        buf_puts(b, paths[k]);
        buf_puts(b, link[k].token); /* base64url: nothing to escape */
        buf_puts(b, "\"");
    }
}

static void send_done(struct pg_chain *ch, int stop, enum pg_err err, const char *sqlstate, const char *msg)
{
    struct send_ctx   *sx = ch->ud;
    struct invoice_tx *tx = &sx->tx;
    if (invoice_tx_again(tx, err, sqlstate))
        return;
    if (err == PG_ERR_SQL && sqlstate && !strcmp(sqlstate, "23505") && sx->idem[0] && msg &&
        strstr(msg, "invoice_history_idempotency_idx")) {
        /* the same key raced in on another invoice (one invoice: its lock queues them) */
        http_error(tx->req, 422, "idempotency_key_reused", "this Idempotency-Key was used for another invoice's send");
    } else if (!invoice_tx_failed(tx, stop, err, sqlstate, msg)) {
        if (sx->replay) {
            log_info("send", "invoice %s: Idempotency-Key of user %s replayed, nothing sent", tx->id, tx->actor_id);
        } else {
            /* committed; a first send of a total of 0 also paid it */
            invoice_publish(tx->req, tx->id, tx->ticket_id, tx->number,
                            dom_state_name(DOM_INVOICE, sx->zero ? sx->inv_paid : tx->inv_to),
                            sx->first ? "send" : "resend");
            outbox_kick(tx->req->svc->outbox); /* the customer's message leaves now, not at the next poll */
        }
        struct buf extra = {0};
        urls(&extra, tx->req, sx->link);
        invoice_answer_text(tx->req, 200, tx->answer, extra.data);
        mbedtls_platform_zeroize(extra.data, extra.len);
        buf_free(&extra);
    }
    send_free(sx);
}

void h_invoices_send(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such invoice");
        return;
    }
    if (!req->svc->links) {
        http_add_header(req, "Retry-After", "1");
        http_error(req, 503, "unavailable", "public links are not set up; try again");
        return;
    }
    char idem[72];
    if (http_idempotency_key(req, idem) < 0) {
        http_error(req, 400, "bad_idempotency_key", "Idempotency-Key: 1 to 64 of A-Z a-z 0-9 - _");
        return;
    }
    struct send_ctx *sx = xcalloc(1, sizeof(*sx));
    snprintf(sx->idem, sizeof(sx->idem), "%s", idem);
    invoice_tx_init(&sx->tx, req, "send", id);
    if (!invoice_tx_start(&sx->tx, send_steps, send_done))
        send_free(sx);
}

/* ---- GET /api/v1/invoices/{id}/links ------------------------------------------------ */

/* The invoice (no row: none) with each of its links (kind NULL: none yet).
 * Not locked: nothing is written. A send racing with this renews the same
 * nonces (the same URLs), or after a key change replaces them, and then
 * this answer was already true of the links it read. */
static const char links_sql[] =
    "SELECT i.sent_at IS NOT NULL, l.kind, encode(l.nonce, 'hex'), encode(l.token_hash, 'hex')"
    " FROM invoices i LEFT JOIN public_links l ON l.invoice_id = i.id WHERE i.id = $1::bigint";

static void on_links(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req    *req = ud;
    const struct links *keys = req->svc->links;
    struct send_link    link[LINKS_KIND_COUNT];
    struct buf          b = {0};
    memset(link, 0, sizeof(link));
    if (err != PG_OK) {
        h_pg_error(req, "send", err, state, msg);
        return;
    }
    if (PQntuples(res) == 0) {
        http_error(req, 404, "not_found", "no such invoice");
        return;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        http_error(req, 409, "not_sent", "the invoice has not been sent yet: its links exist from the first send on");
        return;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        int k = PQgetisnull(res, r, 1) ? -1 : links_kind_parse(PQgetvalue(res, r, 1));
        if (k >= 0)
            link_stored(keys, (enum links_kind)k, res, r, 2, &link[k]);
    }
    /* The check and the derivation of a send (s_links), minus the fresh
     * nonce: a link that is missing, or whose stored hash the current key
     * does not give, can only be replaced by a send, which tells the
     * customer the new one. */
    for (int k = 0; k < LINKS_KIND_COUNT; k++) {
        if (!link[k].stored || link[k].fresh) {
            log_warn(
                "send",
                "invoice %lld: its links no longer match GSS_LINK_KEY (the key changed); Kirim Ulang makes new ones",
                (long long)http_param_id(req, 0));
            http_error(req, 409, "links_stale",
                       "the stored links no longer match the link key (GSS_LINK_KEY changed): press Kirim Ulang to "
                       "send the customer new links");
            goto out;
        }
        if (links_token(keys, (enum links_kind)k, link[k].nonce, link[k].token) < 0) {
            http_error(req, 500, "internal", "the request failed");
            goto out;
        }
    }
    buf_putc(&b, '{');
    urls(&b, req, link);
    buf_putc(&b, '}');
    /* bearer credentials: no cache may keep them */
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, b.data, b.len);
    mbedtls_platform_zeroize(b.data, b.len);
    buf_free(&b);
out:
    mbedtls_platform_zeroize(link, sizeof(link));
}

void h_invoices_links(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such invoice");
        return;
    }
    if (!req->svc->links || !req->svc->pg) {
        http_add_header(req, "Retry-After", "1");
        http_error(req, 503, "unavailable",
                   !req->svc->links ? "public links are not set up; try again"
                                    : "the database is unavailable; try again");
        return;
    }
    char        idb[24];
    const char *p[1] = {idb};
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    if (pg_query(req->svc->pg, links_sql, 1, p, on_links, req) < 0) {
        http_add_header(req, "Retry-After", "1");
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}
