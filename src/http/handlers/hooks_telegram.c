/*
 * hooks_telegram: Telegram's webhook and the account link (issue 10,
 * item 4; docs/telegram.md; the API facts in ../shared/INTEGRATIONS.md §1).
 *
 *   POST /hooks/telegram            h_hooks_telegram     200 {"ok":true}
 *   POST /api/v1/me/telegram-link   h_telegram_link      201 {code, url, expires_at}
 *
 * The webhook
 *   - GSS_TELEGRAM_WEBHOOK_SECRET unset: 503, nothing read. Else the
 *     X-Telegram-Bot-Api-Secret-Token header must equal it (compared as
 *     SHA-256 digests with crypto_eq, so neither the bytes nor the length
 *     of the secret leak through timing): else 401, before the body is
 *     parsed or the database touched.
 *   - Each update is one short transaction: its update_id is recorded with
 *     INSERT ... ON CONFLICT DO NOTHING (telegram_updates); a repeat stops
 *     there (committed, nothing else done, 200). A new one does its work in
 *     the same transaction, and 200 goes out at COMMIT. The work is a few
 *     indexed statements (a millisecond or two), and whatever must reach
 *     Telegram (a reply) is an outbox row, sent after: the answer never
 *     waits on Telegram. A failure rolls the record back too and answers
 *     503, so Telegram's own resend is the retry and nothing is lost or
 *     done twice.
 *   - What an update does: a message "/start <code>" in a private chat
 *     (from.id == chat.id, not a bot) uses the one-time code: binds from.id
 *     to the code's user (users.telegram_id, and telegram_chat_id, the
 *     private chat) and queues the reply "Akun GSS terhubung: <name>". A
 *     code that is unknown, used or expired does nothing (no reply either:
 *     it tells a guesser nothing). The Telegram user's earlier link to
 *     another account, if any, is undone first: one person, one account.
 *     A callback_query (a button press) is always answered
 *     (answerCallbackQuery, an outbox row of the same transaction); the
 *     Approve button (ap:<invoice id>:<version>) approves the invoice as
 *     the Sales or admin account linked to from.id, through invoice_tx and
 *     invoice_approve_write, the statement of POST .../approve; it then
 *     queues the edit of the message and publishes invoice.updated after
 *     COMMIT. Anything that says no (no linked Sales, approved already,
 *     another version) stops the chain, which rolls back, and a second
 *     statement records the update and queues the answer that says why.
 *     Every other update is recorded and ignored.
 *
 * The link code: crypto_token (32 random bytes, 43 characters of
 * base64url, so A-Za-z0-9_-, what a t.me start parameter allows), kept
 * only as its SHA-256 (telegram_link_codes.code_hash), valid 15 minutes
 * and once; a new code replaces the user's earlier ones. The code is a
 * credential: it is in the 201 body only, never logged.
 *
 * Memory: one context per request, freed when it is answered.
 * Threads: loop thread only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "auth/session.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "http/handlers/handlers.h"
#include "http/handlers/invoice.h"
#include "http/services.h"
#include "integrations/telegram.h"
#include "store/pg.h"

#define TG_CODE_MAX 64 /* a start parameter: 1-64 of A-Za-z0-9_- */

/* ---- the webhook ------------------------------------------------------------------ */

/* The answers to a press (answerCallbackQuery's text: 200 characters at
 * most, plain text). */
#define TG_NOT_LINKED  "Akun Telegram Anda belum terhubung ke akun Sales"
#define TG_NOT_SALES   "Hanya akun Sales yang dapat menyetujui invoice"
#define TG_STALE       "Invoice sudah berubah, buka di web"
#define TG_NO_INVOICE  "Invoice tidak ditemukan"
#define TG_STOP_ANSWER 1 /* a step's stop: nothing changes; done records the update and queues the answer */

struct tg_hook {
    struct invoice_tx tx; /* first: the invoice steps find it at ch->ud (invoice.h) */
    struct http_req  *req;
    char              update_id[24];
    /* a callback_query (a button press) */
    bool    cb;          /* the update is one */
    bool    cb_approve;  /* its data is ap:<invoice id>:<version> */
    char    cb_id[72];   /* callback_query.id, answered always */
    char    cb_chat[24]; /* the pressed message's chat and id ("" when absent): for the edit */
    char    cb_msg[24];
    char    cb_url[600];     /* the message's first URL button (Lihat / Revisi), kept by the edit */
    int64_t cb_version;      /* the version the button was made for */
    char    cb_answer[240];  /* what the press is answered */
    char    actor_name[404]; /* the linked account's name: 100 characters, 4 bytes each at most, never cut */
    bool    approved;        /* committed an approve */
    bool    link;            /* "/start <code>" in a private chat */
    char    code_hash[CRYPTO_TOKEN_HASH_SIZE];
    char    from_id[24]; /* the Telegram user, which is also the private chat */
    bool    repeat;      /* the update_id was recorded before */
    bool    no_code;     /* the code is unknown, used or expired */
    char    user_id[24]; /* the code's account */
};

/* The secret header against the configured secret, in constant time. */
static bool secret_ok(const struct http_req *req, const char *want)
{
    size_t      n = 0;
    const char *got = http_header(req, "X-Telegram-Bot-Api-Secret-Token", &n);
    if (!got)
        return false;
    uint8_t a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];
    crypto_sha256(got, n, a);
    crypto_sha256(want, strlen(want), b);
    return crypto_eq(a, b, sizeof(a));
}

static bool code_chars_ok(const char *s, size_t n)
{
    if (n < 1 || n > TG_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool json_id(yyjson_val *v, char *out, size_t n)
{
    if (yyjson_is_sint(v) || yyjson_is_uint(v)) {
        long long x = yyjson_is_sint(v) ? (long long)yyjson_get_sint(v) : (long long)yyjson_get_uint(v);
        if (yyjson_is_uint(v) && yyjson_get_uint(v) > (uint64_t)INT64_MAX)
            return false;
        snprintf(out, n, "%lld", x);
        return true;
    }
    return false;
}

/* A "/start <code>" message from a person in their private chat: fills
 * h->link, from_id and code_hash. Anything else leaves h->link false. */
static void read_start(struct tg_hook *h, yyjson_val *msg)
{
    yyjson_val *text = yyjson_obj_get(msg, "text"), *from = yyjson_obj_get(msg, "from");
    yyjson_val *chat = yyjson_obj_get(msg, "chat");
    if (!yyjson_is_str(text) || !yyjson_is_obj(from) || !yyjson_is_obj(chat))
        return;
    if (yyjson_is_true(yyjson_obj_get(from, "is_bot")))
        return;
    yyjson_val *type = yyjson_obj_get(chat, "type");
    if (!yyjson_is_str(type) || strcmp(yyjson_get_str(type), "private") != 0)
        return;
    char chat_id[24];
    if (!json_id(yyjson_obj_get(from, "id"), h->from_id, sizeof(h->from_id)) ||
        !json_id(yyjson_obj_get(chat, "id"), chat_id, sizeof(chat_id)) || strcmp(chat_id, h->from_id) != 0 ||
        h->from_id[0] == '-')
        return;
    const char *t = yyjson_get_str(text);
    size_t      n = yyjson_get_len(text);
    if (n < 8 || memcmp(t, "/start ", 7) != 0)
        return;
    /* the deep link's payload, as Telegram sends it: one space, the code */
    if (!code_chars_ok(t + 7, n - 7))
        return;
    crypto_token_hash(t + 7, n - 7, h->code_hash);
    h->link = true;
}

/* A callback_query (a button press): its id (always answered), the data
 * (ap:<invoice id>:<version> is Approve; anything else is answered with
 * nothing said), and the pressed message's chat, id and first URL button,
 * for the edit after an approve. */
static void read_callback(struct tg_hook *h, yyjson_val *cq)
{
    yyjson_val *id = yyjson_obj_get(cq, "id"), *from = yyjson_obj_get(cq, "from");
    yyjson_val *data = yyjson_obj_get(cq, "data"), *msg = yyjson_obj_get(cq, "message");
    if (!yyjson_is_str(id) || yyjson_get_len(id) < 1 || yyjson_get_len(id) >= sizeof(h->cb_id) ||
        !yyjson_is_obj(from) || !json_id(yyjson_obj_get(from, "id"), h->from_id, sizeof(h->from_id)) ||
        h->from_id[0] == '-')
        return;
    /* the id goes into a JSON string via jsonb, but keep it to what Telegram sends */
    const char *ids = yyjson_get_str(id);
    if (strspn(ids, "0123456789") != yyjson_get_len(id))
        return;
    snprintf(h->cb_id, sizeof(h->cb_id), "%s", ids);
    h->cb = true;
    int64_t inv = 0, ver = 0;
    if (yyjson_is_str(data) && tg_parse_approve_data(yyjson_get_str(data), yyjson_get_len(data), &inv, &ver)) {
        h->cb_approve = true;
        h->cb_version = ver;
        snprintf(h->tx.id, sizeof(h->tx.id), "%lld", (long long)inv);
    }
    if (!yyjson_is_obj(msg))
        return;
    yyjson_val *chat = yyjson_obj_get(msg, "chat");
    if (!yyjson_is_obj(chat) || !json_id(yyjson_obj_get(chat, "id"), h->cb_chat, sizeof(h->cb_chat)) ||
        !json_id(yyjson_obj_get(msg, "message_id"), h->cb_msg, sizeof(h->cb_msg))) {
        h->cb_chat[0] = h->cb_msg[0] = '\0';
        return;
    }
    yyjson_val *kb = yyjson_obj_get(yyjson_obj_get(msg, "reply_markup"), "inline_keyboard");
    size_t      i, imax, j, jmax;
    yyjson_val *row, *btn;
    yyjson_arr_foreach(kb, i, imax, row)
    {
        yyjson_arr_foreach(row, j, jmax, btn)
        {
            yyjson_val *url = yyjson_obj_get(btn, "url");
            if (yyjson_is_str(url) && yyjson_get_len(url) < sizeof(h->cb_url) && !h->cb_url[0])
                snprintf(h->cb_url, sizeof(h->cb_url), "%s", yyjson_get_str(url));
        }
    }
}

/* The record, and now and then the trim (update ids rise by one per update:
 * one in 64 also deletes what is older than Telegram's 24 hours of resends,
 * with room to spare, and the codes dead for a day). */
static const char record_sql[] =
    "WITH t AS (DELETE FROM telegram_updates WHERE $1::bigint % 64 = 0 AND received_at < now() - interval '3 days'),"
    " c AS (DELETE FROM telegram_link_codes WHERE $1::bigint % 64 = 0 AND expires_at < now() - interval '1 day')"
    " INSERT INTO telegram_updates (update_id) VALUES ($1::bigint) ON CONFLICT (update_id) DO NOTHING"
    " RETURNING update_id";

static int s_record(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook *h = ch->ud;
    (void)prev;
    /* a run again (invoice_tx_again after a deadlock) starts clean */
    h->repeat = h->no_code = h->approved = false;
    h->cb_answer[0] = '\0';
    const char *p[1] = {h->update_id};
    return pg_chain_query(ch, record_sql, 1, p);
}

static int s_use_code(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook *h = ch->ud;
    if (PQntuples(prev) == 0) {
        h->repeat = true;
        return 0;
    }
    if (!h->link)
        return 0;
    const char *p[1] = {h->code_hash};
    return pg_chain_query(ch,
                          "UPDATE telegram_link_codes SET used_at = now()"
                          " WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id",
                          1, p);
}

static int s_unlink_other(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook *h = ch->ud;
    if (h->repeat || !h->link)
        return 0;
    if (PQntuples(prev) == 0) {
        h->no_code = true;
        return 0;
    }
    snprintf(h->user_id, sizeof(h->user_id), "%s", PQgetvalue(prev, 0, 0));
    /* Its own statement, before the bind: a UNIQUE column is checked row by
     * row, so unlinking and linking in one statement could collide. */
    const char *p[2] = {h->user_id, h->from_id};
    return pg_chain_query(ch,
                          "UPDATE users SET telegram_id = NULL, telegram_chat_id = NULL, updated_at = now()"
                          " WHERE id <> $1::bigint AND (telegram_id = $2::bigint OR telegram_chat_id = $2::bigint)",
                          2, p);
}

/* The bind and its reply (plain text: the name needs no escaping), keyed
 * by the update so a row is never queued twice. */
static const char bind_sql[] =
    "WITH u AS (UPDATE users SET telegram_id = $2::bigint, telegram_chat_id = $2::bigint, updated_at = now()"
    "           WHERE id = $1::bigint AND active RETURNING id, name)"
    " INSERT INTO outbox (channel, kind, target, payload, idem_key)"
    " SELECT 'telegram', 'telegram.linked', 'tg:' || $2,"
    "        jsonb_build_object('method', 'sendMessage', 'params',"
    "          jsonb_build_object('chat_id', $2::bigint, 'text', 'Akun GSS terhubung: ' || u.name)),"
    "        'telegram:update:' || $3 || ':linked'"
    " FROM u RETURNING id";

static int s_bind(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook *h = ch->ud;
    (void)prev;
    if (h->repeat || !h->link || h->no_code)
        return 0;
    const char *p[3] = {h->user_id, h->from_id, h->update_id};
    return pg_chain_query(ch, bind_sql, 3, p);
}

static int s_bound(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook *h = ch->ud;
    if (h->repeat || !h->link || h->no_code)
        return 0;
    if (PQntuples(prev) == 0)
        h->no_code = true; /* the account is inactive: nothing bound */
    return 0;
}

/* ---- the Approve button ------------------------------------------------------------ */

static int cb_stop(struct tg_hook *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cb_stop(struct tg_hook *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->cb_answer, sizeof(h->cb_answer), fmt, ap);
    va_end(ap);
    return TG_STOP_ANSWER;
}

/* The account linked to the Telegram user who pressed. */
static int s_cb_account(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook *h = ch->ud;
    (void)prev;
    if (h->repeat || !h->cb)
        return 0;
    if (!h->cb_approve)
        return cb_stop(h, "%s", ""); /* not our button: answered, nothing said */
    const char *p[1] = {h->from_id};
    return pg_chain_query(ch, "SELECT id, role, name FROM users WHERE telegram_id = $1::bigint AND active", 1, p);
}

/* Only a Sales or admin account approves (the state table says so too);
 * then the locks of every money write, in their order. */
static int s_cb_lock(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook *h = ch->ud;
    if (h->repeat || !h->cb)
        return 0;
    if (PQntuples(prev) != 1)
        return cb_stop(h, "%s", TG_NOT_LINKED);
    const char *role = PQgetvalue(prev, 0, 1);
    if (strcmp(role, "sales") != 0 && strcmp(role, "admin") != 0)
        return cb_stop(h, "%s", TG_NOT_SALES);
    h->tx.actor = strcmp(role, "admin") == 0 ? DOM_ACTOR_ADMIN : DOM_ACTOR_SALES;
    snprintf(h->tx.actor_id, sizeof(h->tx.actor_id), "%s", PQgetvalue(prev, 0, 0));
    snprintf(h->actor_name, sizeof(h->actor_name), "%s", PQgetvalue(prev, 0, 2));
    return invoice_step_lock_ticket(ch, prev);
}

static int s_cb_lock_invoice(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook *h = ch->ud;
    if (h->repeat || !h->cb)
        return 0;
    if (PQntuples(prev) == 0)
        return cb_stop(h, "%s", TG_NO_INVOICE);
    return invoice_step_lock_invoice(ch, prev);
}

/* The invoice as locked: approved already (or past it), another version
 * than the button's, or the approve of the API. */
static int s_cb_approve(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook    *h = ch->ud;
    struct invoice_tx *tx = &h->tx;
    if (h->repeat || !h->cb)
        return 0;
    int rc = invoice_locked(tx, prev);
    if (rc == 404)
        return cb_stop(h, "%s", TG_NO_INVOICE);
    if (rc)
        return rc;
    if (tx->inv_from == DOM_INV_APPROVED || tx->inv_from == DOM_INV_SENT || tx->inv_from == DOM_INV_PAID)
        return cb_stop(h, "Invoice %s sudah disetujui", tx->number);
    if (tx->version != h->cb_version || tx->inv_from != DOM_INV_PENDING_APPROVAL)
        return cb_stop(h, "%s", TG_STALE);
    rc = invoice_approve_write(tx, NULL);
    if (rc == 409 || rc == 403)
        return cb_stop(h, "%s", TG_STALE);
    return rc;
}

/* The answer, and the message without its Approve button (plain text: no
 * escaping; the URL button stays), keyed by the update: queued once. */
static const char cb_done_sql[] =
    "WITH a AS (INSERT INTO outbox (channel, kind, target, payload, idem_key)"
    "  VALUES ('telegram', 'telegram.callback_answer', 'tg:' || $1,"
    "          jsonb_build_object('method', 'answerCallbackQuery', 'params',"
    "            jsonb_build_object('callback_query_id', $2::text, 'text', $3::text)),"
    "          'telegram:update:' || $4 || ':answer') ON CONFLICT (idem_key) DO NOTHING RETURNING id)"
    " INSERT INTO outbox (channel, kind, target, payload, idem_key)"
    " SELECT 'telegram', 'telegram.approved_edit', 'tg:' || $5,"
    "        jsonb_build_object('method', 'editMessageText', 'params',"
    "          jsonb_build_object('chat_id', nullif($5, '')::bigint, 'message_id', nullif($6, '')::bigint,"
    "            'text', $7::text)"
    "          || CASE WHEN $8::text = '' THEN '{}'::jsonb ELSE jsonb_build_object('reply_markup',"
    "               jsonb_build_object('inline_keyboard', jsonb_build_array(jsonb_build_array("
    "                 jsonb_build_object('text', 'Lihat / Revisi', 'url', $8::text))))) END),"
    "        'telegram:update:' || $4 || ':edit'"
    " FROM a WHERE $5 <> '' AND $6 <> '' ON CONFLICT (idem_key) DO NOTHING";

static int s_cb_done(struct pg_chain *ch, PGresult *prev)
{
    struct tg_hook    *h = ch->ud;
    struct invoice_tx *tx = &h->tx;
    if (h->repeat || !h->cb)
        return 0;
    if (PQntuples(prev) != 1) {
        log_error("telegram", "approve %s: the write changed %d rows", tx->id, PQntuples(prev));
        return invoice_refuse(tx, 500, "internal", "the request failed");
    }
    snprintf(tx->number, sizeof(tx->number), "%s", PQgetvalue(prev, 0, 1));
    h->approved = true;
    snprintf(h->cb_answer, sizeof(h->cb_answer), "Invoice %s disetujui", tx->number);
    char text[sizeof(h->actor_name) + sizeof(tx->number) + 40];
    snprintf(text, sizeof(text), "Invoice %s\n\u2705 Disetujui oleh %s", tx->number, h->actor_name);
    const char *p[8] = {h->from_id, h->cb_id, h->cb_answer, h->update_id, h->cb_chat, h->cb_msg, text, h->cb_url};
    return pg_chain_query(ch, cb_done_sql, 8, p);
}

/* After a stop (rolled back: nothing changed): the update recorded and
 * the press answered, in one statement; a repeat queues nothing. */
static const char cb_answer_sql[] =
    "WITH r AS (INSERT INTO telegram_updates (update_id) VALUES ($1::bigint) ON CONFLICT (update_id) DO NOTHING"
    "           RETURNING update_id)"
    " INSERT INTO outbox (channel, kind, target, payload, idem_key)"
    " SELECT 'telegram', 'telegram.callback_answer', 'tg:' || $2,"
    "        jsonb_build_object('method', 'answerCallbackQuery', 'params',"
    "          jsonb_build_object('callback_query_id', $3::text)"
    "          || CASE WHEN $4 = '' THEN '{}'::jsonb ELSE jsonb_build_object('text', $4::text) END),"
    "        'telegram:update:' || $1 || ':answer'"
    " FROM r ON CONFLICT (idem_key) DO NOTHING";

static void on_cb_answered(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct tg_hook *h = ud;
    (void)res;
    if (err != PG_OK)
        h_pg_error(h->req, "telegram", err, state, msg); /* Telegram resends; it runs again */
    else
        http_respond_json(h->req, 200, "{\"ok\":true}", 11);
    invoice_tx_clear(&h->tx);
    free(h);
}

static const pg_step hook_steps[] = {s_record,  s_use_code,        s_unlink_other, s_bind,    s_bound, s_cb_account,
                                     s_cb_lock, s_cb_lock_invoice, s_cb_approve,   s_cb_done, NULL};

static void hook_done(struct pg_chain *ch, int stop, enum pg_err err, const char *state, const char *msg)
{
    struct tg_hook *h = ch->ud;
    if (invoice_tx_again(&h->tx, err, state))
        return; /* a deadlock: the whole update runs again */
    if (err == PG_OK && stop == TG_STOP_ANSWER) {
        log_info("telegram", "update %s: a press by Telegram user %s, nothing changed: %s", h->update_id, h->from_id,
                 h->cb_answer[0] ? h->cb_answer : "(not an Approve button)");
        const char *p[4] = {h->update_id, h->from_id, h->cb_id, h->cb_answer};
        if (!h->req->svc->pg || pg_query(h->req->svc->pg, cb_answer_sql, 4, p, on_cb_answered, h) < 0) {
            h_pg_error(h->req, "telegram", PG_ERR_DOWN, NULL, NULL);
            invoice_tx_clear(&h->tx);
            free(h);
        }
        return;
    }
    if (err == PG_OK && stop) {
        /* a refusal with no answer of its own (500, or the client gone): Telegram resends */
        h_pg_error(h->req, "telegram", PG_ERR_ABORTED, NULL, NULL);
    } else if (err != PG_OK) {
        /* rolled back, the record too: Telegram resends and it runs again */
        h_pg_error(h->req, "telegram", err, state, msg);
    } else {
        if (h->repeat)
            log_debug("telegram", "update %s: a repeat, dropped", h->update_id);
        else if (h->link && h->no_code)
            log_info("telegram", "update %s: /start with a code that is unknown, used or expired", h->update_id);
        else if (h->link)
            log_info("telegram", "update %s: Telegram user %s linked to user %s", h->update_id, h->from_id, h->user_id);
        if (h->approved) {
            log_info("telegram", "update %s: invoice %s (%s) approved by user %s from Telegram", h->update_id, h->tx.id,
                     h->tx.number, h->tx.actor_id);
            invoice_tx_publish(&h->tx, "approve"); /* committed: the screens may look */
        }
        http_respond_json(h->req, 200, "{\"ok\":true}", 11);
    }
    explicit_bzero(h->code_hash, sizeof(h->code_hash));
    invoice_tx_clear(&h->tx);
    free(h);
}

void h_hooks_telegram(struct http_req *req)
{
    const char *secret = req->svc->cfg->telegram_webhook_secret;
    if (!secret || !secret[0]) {
        http_error(req, 503, "telegram_off", "GSS_TELEGRAM_WEBHOOK_SECRET is not set");
        return;
    }
    if (!secret_ok(req, secret)) {
        http_error(req, 401, "bad_secret", "wrong or missing X-Telegram-Bot-Api-Secret-Token");
        return;
    }
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return; /* answered 400/415 */
    yyjson_val     *root = yyjson_doc_get_root(doc);
    struct tg_hook *h = xcalloc(1, sizeof(*h));
    h->req = req;
    /* no actor until the press's account is read (s_cb_lock) */
    invoice_tx_init_as(&h->tx, req, "telegram", 0, 0, 0);
    yyjson_val *uid = yyjson_obj_get(root, "update_id");
    if (!json_id(uid, h->update_id, sizeof(h->update_id)) || h->update_id[0] == '-') {
        yyjson_doc_free(doc);
        free(h);
        http_error(req, 422, "validation_failed", "update_id: a non-negative integer is required");
        return;
    }
    yyjson_val *msg = yyjson_obj_get(root, "message");
    if (yyjson_is_obj(msg))
        read_start(h, msg);
    yyjson_val *cq = yyjson_obj_get(root, "callback_query");
    if (yyjson_is_obj(cq))
        read_callback(h, cq);
    yyjson_doc_free(doc);
    if (!invoice_tx_start(&h->tx, hook_steps, hook_done)) { /* answered 503 */
        explicit_bzero(h->code_hash, sizeof(h->code_hash));
        free(h);
    }
}

/* ---- the link code ------------------------------------------------------------------ */

struct tg_link {
    struct http_req *req;
    char             code[CRYPTO_TOKEN_SIZE];
};

static void link_free(struct tg_link *l)
{
    explicit_bzero(l->code, sizeof(l->code));
    free(l);
}

static void on_link(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct tg_link  *l = ud;
    struct http_req *req = l->req;
    if (err != PG_OK || PQntuples(res) != 1) {
        h_pg_error(req, "telegram", err != PG_OK ? err : PG_ERR_ABORTED, state, msg);
        link_free(l);
        return;
    }
    struct buf b = {0};
    buf_printf(&b, "{\"code\":\"%s\",\"url\":\"https://t.me/%s?start=%s\",\"expires_at\":\"%s\"}", l->code,
               req->svc->cfg->telegram_bot_username, l->code, PQgetvalue(res, 0, 0));
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 201, b.data, b.len);
    explicit_bzero(b.data, b.len);
    buf_free(&b);
    link_free(l);
}

/* A bot username is 5-32 of A-Za-z0-9_ (it goes into the URL unescaped). */
static bool bot_username_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 5 && n <= 32 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

void h_telegram_link(struct http_req *req)
{
    if (!bot_username_ok(req->svc->cfg->telegram_bot_username)) {
        http_error(req, 503, "telegram_off", "GSS_TELEGRAM_BOT_USERNAME is not set: accounts cannot be linked");
        return;
    }
    struct tg_link *l = xcalloc(1, sizeof(*l));
    l->req = req;
    if (crypto_token(l->code) != 0) {
        link_free(l);
        http_error(req, 500, "internal", "the request failed");
        return;
    }
    char hash[CRYPTO_TOKEN_HASH_SIZE], uid[24];
    crypto_token_hash(l->code, strlen(l->code), hash);
    snprintf(uid, sizeof(uid), "%lld", (long long)req->session->user_id);
    const char *p[2] = {uid, hash};
    int         rc = req->svc->pg
                         ? pg_query(req->svc->pg,
                                    "WITH d AS (DELETE FROM telegram_link_codes WHERE user_id = $1::bigint)"
                                            " INSERT INTO telegram_link_codes (code_hash, user_id, expires_at)"
                                            " VALUES ($2, $1::bigint, now() + interval '15 minutes')"
                                            " RETURNING to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                                    2, p, on_link, l)
                         : -1;
    explicit_bzero(hash, sizeof(hash));
    if (rc < 0) {
        link_free(l);
        h_pg_error(req, "telegram", PG_ERR_DOWN, NULL, NULL);
    }
}
