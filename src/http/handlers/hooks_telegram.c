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
 *     Every other update is recorded and ignored (callback queries
 *     included, until their handler exists).
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
#include "http/services.h"
#include "store/pg.h"

#define TG_CODE_MAX 64 /* a start parameter: 1-64 of A-Za-z0-9_- */

/* ---- the webhook ------------------------------------------------------------------ */

struct tg_hook {
    struct pg_chain  ch;
    struct http_req *req;
    char             update_id[24];
    bool             link; /* "/start <code>" in a private chat */
    char             code_hash[CRYPTO_TOKEN_HASH_SIZE];
    char             from_id[24]; /* the Telegram user, which is also the private chat */
    bool             repeat;      /* the update_id was recorded before */
    bool             no_code;     /* the code is unknown, used or expired */
    char             user_id[24]; /* the code's account */
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

static const pg_step hook_steps[] = {s_record, s_use_code, s_unlink_other, s_bind, s_bound, NULL};

static void hook_done(struct pg_chain *ch, int stop, enum pg_err err, const char *state, const char *msg)
{
    struct tg_hook *h = ch->ud;
    (void)stop;
    if (err != PG_OK) {
        /* rolled back, the record too: Telegram resends and it runs again */
        h_pg_error(h->req, "telegram", err, state, msg);
    } else {
        if (h->repeat)
            log_debug("telegram", "update %s: a repeat, dropped", h->update_id);
        else if (h->link && h->no_code)
            log_info("telegram", "update %s: /start with a code that is unknown, used or expired", h->update_id);
        else if (h->link)
            log_info("telegram", "update %s: Telegram user %s linked to user %s", h->update_id, h->from_id, h->user_id);
        http_respond_json(h->req, 200, "{\"ok\":true}", 11);
    }
    explicit_bzero(h->code_hash, sizeof(h->code_hash));
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
    yyjson_doc_free(doc);
    if (!req->svc->pg || pg_chain_start(&h->ch, req->svc->pg, 0, hook_steps, hook_done, h) < 0) {
        explicit_bzero(h->code_hash, sizeof(h->code_hash));
        free(h);
        h_pg_error(req, "telegram", PG_ERR_DOWN, NULL, NULL);
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
