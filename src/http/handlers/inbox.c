/*
 * inbox: CS's WhatsApp inbox (issue 10, item 6; docs/inbox.md is the
 * contract, db/migrations/0015_inbox.sql the tables behind it).
 *
 *   GET  /api/v1/inbox                       the conversations, newest first,
 *                                            with unread counts and the window
 *   GET  /api/v1/customers/{id}/messages     one chat, oldest first, paged
 *                                            backwards with ?before=<message id>
 *   POST /api/v1/customers/{id}/messages     a reply: {"text"} inside the
 *                                            24-hour window, {"template":
 *                                            "followup"} at any time → 202
 *   POST /api/v1/customers/{id}/messages/read  everything received so far is
 *                                            read → 204
 *
 * A conversation is a customer with a WhatsApp message either way: their
 * incoming wa_messages, and their whatsapp outbox rows (outbox.customer_id,
 * filled by a trigger for writers that give only the target). The view
 * inbox_messages puts both in one shape; every answer is one statement whose
 * JSON PostgreSQL builds, so a handler only checks the input and passes the
 * text on.
 *
 * A reply is an outbox row (channel whatsapp, kind wa.reply) holding the
 * Cloud API message itself under "message", which the sender's WhatsApp
 * builder sends as it is, and the CS who wrote it under "sent_by". With an
 * Idempotency-Key header its idem_key is inbox:<customer>:<user>:<key>, so
 * a retry after a timeout or a double tap finds the row it queued and
 * answers it again (200, "replayed") instead of sending the customer a
 * second message, as check-ins and uploads replay theirs; without one it is
 * fresh (gen_random_uuid) and every request is a message. Whether the
 * window is open is decided in the same statement that queues the row,
 * from customers.last_inbound_at, so a text is never queued on a window
 * that closed a moment before (it can still close while the row waits for
 * the sender: Meta then refuses it, 131047, and the row fails). The row
 * leaves at once: the handler kicks the sender (outbox_kick) once the
 * statement has committed.
 *
 * After each committed write the inbox's live event goes out
 * (store/inbox_events.h): inbox.message "out" for a reply, inbox.read for a
 * read; the webhook sends the incoming ones (hooks_whatsapp.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "auth/session.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "integrations/outbox.h"
#include "store/inbox_events.h"
#include "store/pg.h"

#define INBOX_Q_MAX      200  /* characters of a search query */
#define INBOX_TEXT_MAX   4096 /* characters of a reply: the Cloud API's text.body limit */
#define INBOX_LIMIT_MAX  200
#define INBOX_PHONE_BUF  24
#define INBOX_PREVIEW    "120" /* characters of a conversation's last message */
#define INBOX_WINDOW_SQL "interval '24 hours'"
#define INBOX_IDEM_BUF   72 /* http_idempotency_key's out */

/* clang-format off */
/* ISO-8601 UTC to the second, as every other answer writes times. */
#define ISO(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define WINDOW_OPEN(c) "coalesce(" c ".last_inbound_at > now() - " INBOX_WINDOW_SQL ", false)"
#define WINDOW_CLOSES(c)                                                                                               \
    "CASE WHEN " c ".last_inbound_at > now() - " INBOX_WINDOW_SQL                                                      \
    " THEN " ISO(c ".last_inbound_at + " INBOX_WINDOW_SQL) " END"
/* One message of inbox_messages (alias m) as the contract writes it. */
#define MESSAGE_JSON(m)                                                                                                \
    "json_build_object('id', " m ".msg_id, 'direction', " m ".direction, 'type', " m ".type,"                          \
    " 'body', " m ".body,"                                                                                             \
    " 'at', " ISO(m ".at") ", 'status', " m ".status, 'error', " m ".error, 'attachment_id', " m ".attachment_id,"    \
    " 'media_status', " m ".media_status,"                                                                             \
    " 'sent_by', (SELECT json_build_object('id', u.id, 'name', u.name) FROM users u WHERE u.id = " m ".sent_by))"
/* An outbox row (alias o) as the chat shows it: the reply just queued, or
 * the one an Idempotency-Key replays (whatever its status is by now). */
#define OUT_JSON(o)                                                                                                    \
    "json_build_object("                                                                                               \
    " 'id', 'out:' || " o ".id, 'direction', 'out', 'type', gss_inbox_out_type(" o ".kind, " o ".payload),"           \
    " 'body', gss_inbox_out_body(" o ".kind, " o ".payload), 'at', " ISO(o ".created_at") ","                        \
    " 'status', gss_inbox_out_status(" o ".status, " o ".delivery_status),"                                          \
    " 'error', CASE WHEN gss_inbox_out_status(" o ".status, " o ".delivery_status) IN ('queued', 'failed')"          \
    "          THEN " o ".last_error END,"                                                                             \
    " 'attachment_id', NULL, 'media_status', NULL,"                                                                    \
    " 'sent_by', (SELECT json_build_object('id', u.id, 'name', u.name) FROM users u"                                  \
    "             WHERE u.id = (" o ".payload ->> 'sent_by')::bigint))"
/* clang-format on */

static void publish(struct http_req *req, enum inbox_event_type type, int64_t customer_id)
{
    struct inbox_event ev = {.type = type, .customer_id = customer_id, .direction = "out"};
    inbox_events_publish(req->svc->redis, req->svc->cfg->redis_prefix, &ev);
}

static void answer_pg_error(struct http_req *req, enum pg_err err, const char *state, const char *msg)
{
    /* text PostgreSQL refuses (a query that is not valid UTF-8) */
    if (err == PG_ERR_SQL && state && !strncmp(state, "22", 2)) {
        http_error(req, 422, "validation_failed", "a value is not valid text");
        return;
    }
    h_pg_error(req, "inbox", err, state, msg);
}

/* The single JSON value of a one-row answer, passed on as the body. */
static void answer_json(struct http_req *req, PGresult *res, int col)
{
    const char *json = PQgetvalue(res, 0, col);
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, json, strlen(json));
}

/* ---- input -------------------------------------------------------------- */

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            c++;
    return c;
}

/* ---- GET /api/v1/inbox --------------------------------------------------- */

static void on_inbox(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
        return;
    }
    answer_json(req, res, 0);
}

void h_inbox_list(struct http_req *req)
{
    char        q[INBOX_Q_MAX * 4 + 1], limit[H_LIMIT_BUF];
    const char *qt;
    if (!h_search_query(req, q, sizeof(q), INBOX_Q_MAX, &qt) || !h_query_limit(req, 50, INBOX_LIMIT_MAX, limit))
        return;
    char        digits[INBOX_PHONE_BUF];
    bool        by_phone = qt[0] && h_phone_digits(qt, strlen(qt), digits, sizeof(digits)) > 0;
    char       *pattern = qt[0] ? h_like_escape(qt) : NULL;
    const char *params[3] = {pattern, by_phone ? digits : NULL, limit};
    /*
     * $1 name pattern (NULL: all), $2 phone digits, $3 limit. The
     * conversations come from customers_inbox_idx in inbox_last_at order;
     * each one's last message is the newest row of inbox_messages (with
     * the view's status, the messages endpoint's words, so the list can
     * show a reply that failed), its
     * unread count the incoming rows numbered above its read mark (counted
     * only when there are some; the numbers, 0018_inbox_fixes.sql, follow
     * commit order, ids do not). unread_total is over every conversation,
     * whatever q says (the nav badge), and reads the unread ones only
     * (customers_inbox_unseen_idx).
     */
    /* clang-format off */
    static const char sql[] =
        "WITH v AS ("
        "  SELECT c.id, c.name, c.phone, c.last_inbound_at, c.inbox_last_at, c.inbox_in_seq, c.inbox_read_seq"
        "  FROM customers c"
        "  WHERE c.inbox_last_at IS NOT NULL"
        "    AND ($1::text IS NULL OR c.name ILIKE '%' || $1 || '%' ESCAPE '\\'"
        "         OR ($2::text IS NOT NULL AND strpos(c.phone, $2) > 0))"
        "  ORDER BY c.inbox_last_at DESC, c.id DESC LIMIT $3::int)"
        "SELECT json_build_object("
        " 'conversations', coalesce((SELECT json_agg(json_build_object("
        "    'customer', json_build_object('id', v.id, 'name', v.name, 'phone', v.phone),"
        "    'last', (SELECT json_build_object('direction', m.direction,"
        "                                      'preview',"
        "                                      left(coalesce(m.body, '[' || m.type || ']'), " INBOX_PREVIEW "),"
        "                                      'at', " ISO("m.at") ","
        "                                      'status', m.status)"
        "             FROM inbox_messages m WHERE m.customer_id = v.id"
        "             ORDER BY m.at DESC, m.ord DESC, m.id DESC LIMIT 1),"
        "    'unread', CASE WHEN v.inbox_in_seq > v.inbox_read_seq THEN"
        "                (SELECT count(*) FROM wa_messages w"
        "                 WHERE w.customer_id = v.id AND w.direction = 'in' AND w.inbox_seq > v.inbox_read_seq)"
        "              ELSE 0 END,"
        "    'window_open', " WINDOW_OPEN("v") ","
        "    'window_closes_at', " WINDOW_CLOSES("v") ","
        "    'open_tickets', (SELECT count(*) FROM tickets t"
        "                     WHERE t.customer_id = v.id AND t.status NOT IN ('closed', 'cancelled')))"
        "   ORDER BY v.inbox_last_at DESC, v.id DESC) FROM v), '[]'::json),"
        " 'unread_total', (SELECT coalesce(sum(x.n), 0) FROM customers c,"
        "                  LATERAL (SELECT count(*) AS n FROM wa_messages w"
        "                           WHERE w.customer_id = c.id AND w.direction = 'in' AND w.inbox_seq > c.inbox_read_seq) x"
        "                  WHERE c.inbox_in_seq > c.inbox_read_seq))";
    /* clang-format on */
    int rc = pg_query(req->svc->pg, sql, 3, params, on_inbox, req);
    free(pattern);
    if (rc < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}

/* ---- GET /api/v1/customers/{id}/messages ----------------------------------- */

static void on_messages(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
        return;
    }
    if (PQntuples(res) != 1) {
        http_error(req, 404, "not_found", "no such customer");
        return;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        http_error(req, 422, "validation_failed", "before: not a message of this conversation");
        return;
    }
    answer_json(req, res, 1);
}

/* "in:12" / "out:34" into its direction and id; false if it is not one. */
static bool parse_message_id(const char *s, const char **dir, char id[21])
{
    const char *digits;
    if (!strncmp(s, "in:", 3)) {
        *dir = "in";
        digits = s + 3;
    } else if (!strncmp(s, "out:", 4)) {
        *dir = "out";
        digits = s + 4;
    } else {
        return false;
    }
    size_t n = strlen(digits);
    if (n < 1 || n > 18 || strspn(digits, "0123456789") != n)
        return false;
    memcpy(id, digits, n + 1);
    return true;
}

void h_inbox_messages(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such customer");
        return;
    }
    char        limit[H_LIMIT_BUF], before[32], before_id[21] = "", idb[24];
    const char *before_dir = NULL;
    if (!h_query_limit(req, 50, INBOX_LIMIT_MAX, limit))
        return;
    if (http_query_present(req, "before") &&
        (!http_query(req, "before", before, sizeof(before)) || !parse_message_id(before, &before_dir, before_id))) {
        http_error(req, 422, "validation_failed", "before: a message id such as \"in:12\" or \"out:34\"");
        return;
    }
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    const char *params[4] = {idb, before_dir, before_dir ? before_id : NULL, limit};
    /*
     * $1 customer, $2/$3 the cursor's direction and id (NULL: the newest
     * page), $4 limit. The page is the $4 newest messages older than the
     * cursor in (at, ord, id) order, read newest first from the two indexes
     * and written oldest first; one more tells has_more. A cursor that is
     * not a message of this conversation: the first column is false.
     */
    /* clang-format off */
    static const char sql[] =
        "WITH cur AS ("
        "  SELECT m.at, m.ord, m.id FROM inbox_messages m"
        "  WHERE m.customer_id = $1::bigint AND m.direction = $2::text AND m.id = $3::bigint),"
        " page AS ("
        "  SELECT m.* FROM inbox_messages m"
        "  WHERE m.customer_id = $1::bigint"
        "    AND ($2::text IS NULL OR (m.at, m.ord, m.id) < (SELECT cur.at, cur.ord, cur.id FROM cur))"
        "  ORDER BY m.at DESC, m.ord DESC, m.id DESC LIMIT $4::int + 1),"
        " shown AS (SELECT * FROM page ORDER BY at DESC, ord DESC, id DESC LIMIT $4::int)"
        "SELECT $2::text IS NULL OR EXISTS (SELECT 1 FROM cur),"
        " json_build_object("
        "  'customer', json_build_object('id', c.id, 'name', c.name, 'phone', c.phone,"
        "                                'window_open', " WINDOW_OPEN("c") ","
        "                                'window_closes_at', " WINDOW_CLOSES("c") "),"
        "  'messages', coalesce((SELECT json_agg(" MESSAGE_JSON("m") " ORDER BY m.at, m.ord, m.id) FROM shown m),"
        "                       '[]'::json),"
        "  'has_more', (SELECT count(*) FROM page) > $4::int)"
        " FROM customers c WHERE c.id = $1::bigint";
    /* clang-format on */
    if (pg_query(req->svc->pg, sql, 4, params, on_messages, req) < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}

/* ---- POST /api/v1/customers/{id}/messages ----------------------------------- */

struct reply_ctx {
    struct http_req *req;
    int64_t          customer_id;
    bool template;
    bool keyed; /* an Idempotency-Key came with it */
};

static void on_replied(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct reply_ctx *rx = ud;
    struct http_req  *req = rx->req;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
    } else if (PQntuples(res) != 1) {
        http_error(req, 404, "not_found", "no such customer");
    } else if (!PQgetisnull(res, 0, 3)) {
        /* the Idempotency-Key's row: this request's own message, answered
         * again (nothing queued, no event, no audit), or another one's */
        if (PQgetvalue(res, 0, 4)[0] != 't') {
            http_error(req, 422, "idempotency_key_reused", "this Idempotency-Key was used for another message");
        } else {
            log_info("inbox", "customer %lld: reply replayed for user %lld", (long long)rx->customer_id,
                     (long long)req->session->user_id);
            const char *json = PQgetvalue(res, 0, 3);
            http_respond_json(req, 200, json, strlen(json));
        }
    } else if (rx->keyed && PQgetisnull(res, 0, 2) && PQgetvalue(res, 0, 5)[0] == 't') {
        /* the INSERT met the key of a request that committed after this
         * statement began (a double tap): its row is not in our snapshot */
        http_error(req, 409, "duplicate_request", "the same message is being sent; retry to read its result");
    } else if (PQgetvalue(res, 0, 1)[0] != 't') {
        http_error(req, 422, "no_whatsapp", "the customer has no WhatsApp number or account");
    } else if (PQgetisnull(res, 0, 2)) {
        /* the one refusal left: a text while the window is closed */
        http_error(req, 409, "window_closed",
                   "Jendela 24 jam sudah tertutup: pelanggan belum membalas dalam 24 jam terakhir. Gunakan template.");
    } else {
        log_info("inbox", "customer %lld: %s reply queued by user %lld", (long long)rx->customer_id,
                 rx->template ? "template" : "text", (long long)req->session->user_id);
        publish(req, INBOX_EV_MESSAGE, rx->customer_id);
        outbox_kick(req->svc->outbox); /* committed (one statement): the reply leaves now */
        const char *json = PQgetvalue(res, 0, 2);
        http_respond_json(req, 202, json, strlen(json));
    }
    free(rx);
}

/* The body: {"text":"..."} or {"template":"followup"}, exactly one. On
 * success *text is an owned copy (NULL for the template); false: answered. */
static bool read_reply(struct http_req *req, char **text, bool *template)
{
    *text = NULL;
    *template = false;
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return false;
    yyjson_val *root = yyjson_doc_get_root(doc);
    yyjson_val *t = yyjson_obj_get(root, "text"), *tp = yyjson_obj_get(root, "template");
    const char *why = NULL;
    if ((t != NULL) == (tp != NULL)) {
        why = "give either text (the message) or template (\"followup\")";
    } else if (tp) {
        if (!yyjson_equals_str(tp, "followup"))
            why = "template: the only template is \"followup\"";
        else
            *template = true;
    } else {
        const char *s = yyjson_get_str(t);
        size_t      n = yyjson_get_len(t), lead = 0;
        bool        ok = yyjson_is_str(t);
        while (ok && lead < n && is_space(s[lead]))
            lead++;
        for (size_t i = 0; ok && i < n; i++) {
            unsigned char ch = (unsigned char)s[i];
            ok = ch == 0x7f ? false : ch >= 0x20 || ch == '\n' || ch == '\t' || ch == '\r';
        }
        if (!ok || lead == n || utf8_chars(s, n) > INBOX_TEXT_MAX)
            why = "text: 1 to 4096 characters, not blank, no control characters other than line breaks and tabs";
        else
            *text = xstrndup(s, n);
    }
    yyjson_doc_free(doc);
    if (why) {
        http_error(req, 422, "validation_failed", why);
        return false;
    }
    return true;
}

void h_inbox_reply(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such customer");
        return;
    }
    char idem[INBOX_IDEM_BUF];
    if (http_idempotency_key(req, idem) < 0) {
        http_error(req, 400, "bad_idempotency_key", "Idempotency-Key: 1 to 64 of A-Z a-z 0-9 - _");
        return;
    }
    char *text;
    bool template;
    if (!read_reply(req, &text, &template))
        return;
    /* config.c refuses an empty GSS_WA_TEMPLATE_FOLLOWUP at start */
    const struct gss_config *cfg = req->svc->cfg;
    char                     idb[24], actor[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    snprintf(actor, sizeof(actor), "%lld", (long long)req->session->user_id);
    const char *params[6] = {idb,
                             text,
                             template ? cfg->wa_template_followup : NULL,
                             template ? cfg->wa_template_lang : NULL,
                             actor,
                             idem[0] ? idem : NULL};
    /*
     * $1 customer, $2 text (NULL: the template), $3/$4 the template's name
     * and language, $5 the CS, $6 the Idempotency-Key (NULL: none). A key
     * already stored for this customer and CS (prev) queues nothing: the
     * answer is that row, and whether it is this request's message (the
     * same text, or a template again). Otherwise the row is written only
     * for a customer that can be reached and, for a text, whose window is
     * open now; ON CONFLICT: a request with the same key committed while
     * this statement ran. The template's one body parameter is the
     * customer's name, its runs of white space made one space (Meta
     * refuses a parameter with a line break, a tab or more than four
     * spaces in a row, and an empty one: a blank name is "Pelanggan", as
     * whatsapp.c's wa_param_text writes it). The answer's columns: 0 the
     * window is open, 1 the customer can be reached, 2 the queued message
     * (NULL: nothing queued), 3 the stored message of the key (NULL: none),
     * 4 it is this request's, 5 a row was due to be written. No row: no
     * such customer.
     */
    /* clang-format off */
    static const char sql[] =
        "WITH c AS ("
        "  SELECT id, name, phone, wa_user_id, " WINDOW_OPEN("customers") " AS open"
        "  FROM customers WHERE id = $1::bigint),"
        " prev AS ("
        "  SELECT p.* FROM outbox p"
        "  WHERE $6::text IS NOT NULL AND p.idem_key = 'inbox:' || $1::bigint || ':' || $5::bigint || ':' || $6::text),"
        " due AS ("
        "  SELECT c.* FROM c WHERE (c.phone IS NOT NULL OR c.wa_user_id IS NOT NULL) AND ($3::text IS NOT NULL OR c.open)"
        "    AND NOT EXISTS (SELECT 1 FROM prev)),"
        " o AS ("
        "  INSERT INTO outbox (channel, kind, target, payload, idem_key, customer_id)"
        "  SELECT 'whatsapp', 'wa.reply', coalesce('wa:' || c.phone, 'wa-user:' || c.wa_user_id),"
        "         jsonb_build_object('message',"
        "           CASE WHEN $3::text IS NOT NULL THEN"
        "             jsonb_build_object('type', 'template', 'template', jsonb_build_object("
        "               'name', $3::text, 'language', jsonb_build_object('code', $4::text),"
        "               'components', jsonb_build_array(jsonb_build_object('type', 'body', 'parameters',"
        "                 jsonb_build_array(jsonb_build_object('type', 'text',"
        "                   'text', coalesce(nullif(btrim(regexp_replace(c.name, '[[:space:]]+', ' ', 'g')), ''),"
        "                                    'Pelanggan')))))))"
        "           ELSE jsonb_build_object('type', 'text', 'text', jsonb_build_object('body', $2::text)) END,"
        "           'sent_by', $5::bigint),"
        "         'inbox:' || c.id || ':' || coalesce($5::bigint || ':' || $6::text, gen_random_uuid()::text), c.id"
        "  FROM due c"
        "  ON CONFLICT (idem_key) DO NOTHING"
        "  RETURNING *),"
        " a AS ("
        "  INSERT INTO audit_log (actor_id, entity, entity_id, action, data)"
        "  SELECT $5::bigint, 'customer', o.customer_id, 'inbox.reply',"
        "         jsonb_build_object('outbox_id', o.id,"
        "                            'type', CASE WHEN $3::text IS NULL THEN 'text' ELSE 'template' END,"
        "                            'template', $3::text, 'chars', length($2::text), 'target', o.target)"
        "  FROM o)"
        "SELECT c.open, c.phone IS NOT NULL OR c.wa_user_id IS NOT NULL,"
        " (SELECT json_build_object('message', " OUT_JSON("o") ") FROM o),"
        " (SELECT json_build_object('message', " OUT_JSON("p") ", 'replayed', true) FROM prev p),"
        " (SELECT CASE WHEN $3::text IS NOT NULL THEN p.payload #>> '{message,type}' = 'template'"
        "              ELSE p.payload #>> '{message,type}' = 'text' AND p.payload #>> '{message,text,body}' = $2::text"
        "         END FROM prev p),"
        " EXISTS (SELECT 1 FROM due)"
        " FROM c";
    /* clang-format on */
    struct reply_ctx *rx = xcalloc(1, sizeof(*rx));
    rx->req = req;
    rx->customer_id = id;
    rx->template = template;
    rx->keyed = idem[0] != '\0';
    int rc = pg_query(req->svc->pg, sql, 6, params, on_replied, rx);
    free(text);
    if (rc < 0) {
        free(rx);
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}

/* ---- POST /api/v1/customers/{id}/messages/read ------------------------------ */

struct read_ctx {
    struct http_req *req;
    int64_t          customer_id;
};

static void on_read(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct read_ctx *rx = ud;
    struct http_req *req = rx->req;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
    } else if (PQntuples(res) != 1) {
        http_error(req, 404, "not_found", "no such customer");
    } else {
        /* an already-read conversation changes nothing and tells nobody */
        if (PQgetvalue(res, 0, 0)[0] == 't')
            publish(req, INBOX_EV_READ, rx->customer_id);
        http_respond(req, 204, NULL, NULL, 0);
    }
    free(rx);
}

void h_inbox_read(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such customer");
        return;
    }
    char idb[24], actor[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    snprintf(actor, sizeof(actor), "%lld", (long long)req->session->user_id);
    const char *params[2] = {idb, actor};
    /* The read mark moves to the newest incoming message there is, by its
     * number (0018_inbox_fixes.sql): a writer that holds a number holds
     * this row's lock, so this waits for its commit and reads it; a
     * message numbered afterwards counts as unread. The id mark is kept
     * alongside. The old mark comes from the row as it was (the FROM's
     * snapshot). */
    static const char sql[] =
        "UPDATE customers c SET inbox_read_seq = c.inbox_in_seq, inbox_read_id = c.inbox_last_in_id,"
        "       inbox_read_at = now(), inbox_read_by = $2::bigint"
        " FROM customers old WHERE c.id = $1::bigint AND old.id = c.id"
        " RETURNING old.inbox_read_seq < c.inbox_in_seq";
    struct read_ctx *rx = xcalloc(1, sizeof(*rx));
    rx->req = req;
    rx->customer_id = id;
    if (pg_query(req->svc->pg, sql, 2, params, on_read, rx) < 0) {
        free(rx);
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}
