/*
 * auth_telegram: logging in from a Telegram Mini App (issue 10, item 4;
 * docs/telegram.md "Mini App login"; the check in ../shared/INTEGRATIONS.md
 * "Telegram: newer facts").
 *
 *   POST /api/v1/auth/telegram  {"init_data": "<the raw initData query string>"}
 *     200 {"token","csrf_token","user":{…},"start_param"} + the session cookie,
 *         exactly as POST /api/v1/auth/login answers, plus the launch
 *         parameter (null when there is none)
 *     401 init_data_invalid    not signed by our bot, malformed, or dated in the future
 *     401 init_data_expired    auth_date older than GSS_TELEGRAM_AUTH_MAX_AGE_S
 *     401 telegram_not_linked  a genuine Telegram user bound to no active account
 *     429 too_many_attempts    the login throttle (auth.h) says wait
 *     503 telegram_off         GSS_TELEGRAM_TOKEN is unset
 *
 * The check. The query string is split on '&' and '=' and its values
 * URL-decoded ('+' is a space, as URLSearchParams reads it). Every field but
 * hash, `signature` included (the real clients sign it with the rest; the
 * fake builds both variants and the test pins this), sorted by key, joined
 * as key=value lines with "\n"; valid when HMAC_SHA256(key =
 * HMAC_SHA256(key="WebAppData", msg=bot token), msg=lines) equals the hex
 * hash (compared as bytes with crypto_eq). A repeated key, an empty key or
 * more than TGA_FIELDS_MAX fields is malformed: nothing ambiguous is signed.
 *
 * Throttle. The same counters as password login (auth_throttle_*): the
 * address always; the account key is "tg:<user id>" (':' never occurs in a
 * username, so it cannot clash with one) only for failures whose data was
 * genuinely signed (expired, not linked), so nobody can lock a technician
 * out by posting forged data with their id. Forged or malformed data counts
 * under "h:<digest of the data>", a key that blocks nothing but the address
 * counter still grows.
 *
 * The session is made as login makes it (auth_session_create) and the
 * account is read again after it exists, so a deactivation or unlink that
 * committed meanwhile ends it (the race auth.c's on_recheck explains).
 *
 * Memory: one context per request, freed when it is answered. The init data
 * is a bearer credential for a few minutes: it is never logged, and the
 * copies are wiped. Threads: loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yyjson.h>

#include "auth/auth.h"
#include "auth/roles.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "store/pg.h"

#define TGA_INIT_MAX    8192 /* a real initData is well under 1 KB */
#define TGA_FIELDS_MAX  32
#define TGA_FUTURE_SKEW 60 /* seconds an auth_date may lie ahead of our clock */
#define TGA_START_MAX   64 /* a startapp parameter: up to 64 of A-Za-z0-9_- */

struct tga_field {
    char  *key, *val; /* into tga_ctx.buf, decoded, NUL-terminated */
    size_t vlen;
};

struct tga_ctx {
    struct http_req     *req;
    char                *buf; /* owned: the decoded fields; wiped before free */
    size_t               buflen;
    struct tga_field     f[TGA_FIELDS_MAX];
    size_t               n;
    int64_t              tg_id;    /* user.id, 0 if none could be read */
    int64_t              auth_date;
    char                 start[TGA_START_MAX + 1]; /* "" when absent or not of its alphabet */
    char                 account[72];              /* throttle key */
    char                 addr[64];
    int64_t              uid;
    unsigned             role;
    char                 name[AUTH_NAME_MAX];
    char                 username[AUTH_USERNAME_MAX];
    struct auth_session *session; /* a reference, once made */
    char                 token[CRYPTO_TOKEN_SIZE];
    bool                 recheck_failed;
};

static void tga_free(struct tga_ctx *c)
{
    if (c->buf) {
        explicit_bzero(c->buf, c->buflen);
        free(c->buf);
    }
    auth_session_release(c->session);
    explicit_bzero(c->token, sizeof(c->token));
    free(c);
}

/* ---- parsing and the signature ------------------------------------------ */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* URL-decodes s[0..n) in place into out (out <= s is fine); returns the
 * decoded length, or -1 on a bad %-escape or a decoded NUL. */
static long url_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (ch == '\0')
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return (long)o;
}

/* Splits and decodes the query string into c->f (c->buf holds it). 0, or -1
 * when it is malformed. */
static int tga_parse(struct tga_ctx *c, const char *s, size_t n)
{
    c->buf = xmalloc(n + 1);
    c->buflen = n + 1;
    memcpy(c->buf, s, n);
    c->buf[n] = '\0';
    char  *p = c->buf, *end = c->buf + n;
    while (p < end) {
        char *amp = memchr(p, '&', (size_t)(end - p));
        char *stop = amp ? amp : end;
        char *eq = memchr(p, '=', (size_t)(stop - p));
        if (!eq || eq == p || c->n == TGA_FIELDS_MAX)
            return -1;
        long kl = url_decode(p, (size_t)(eq - p), p);
        long vl = url_decode(eq + 1, (size_t)(stop - eq - 1), eq + 1);
        if (kl <= 0 || vl < 0)
            return -1;
        for (size_t i = 0; i < c->n; i++)
            if (!strcmp(c->f[i].key, p))
                return -1; /* which of two values was signed? neither */
        c->f[c->n].key = p;
        c->f[c->n].val = eq + 1;
        c->f[c->n].vlen = (size_t)vl;
        c->n++;
        p = stop + 1;
    }
    return 0;
}

static const struct tga_field *tga_get(const struct tga_ctx *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->f[i].key, key))
            return &c->f[i];
    return NULL;
}

static int field_cmp(const void *a, const void *b)
{
    const struct tga_field *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

/* true when the data is signed with token. */
static bool tga_signed(const struct tga_ctx *c, const char *token)
{
    const struct tga_field *h = tga_get(c, "hash");
    uint8_t                 want[CRYPTO_SHA256_LEN];
    if (!h || h->vlen != 2 * CRYPTO_SHA256_LEN || crypto_unhex(h->val, h->vlen, want) != CRYPTO_SHA256_LEN)
        return false;
    const struct tga_field *sorted[TGA_FIELDS_MAX];
    size_t                  m = 0;
    for (size_t i = 0; i < c->n; i++)
        if (&c->f[i] != h)
            sorted[m++] = &c->f[i];
    qsort(sorted, m, sizeof(sorted[0]), field_cmp);
    struct buf lines = {0};
    for (size_t i = 0; i < m; i++) {
        if (i)
            buf_putc(&lines, '\n');
        buf_puts(&lines, sorted[i]->key);
        buf_putc(&lines, '=');
        buf_append(&lines, sorted[i]->val, sorted[i]->vlen);
    }
    uint8_t secret[CRYPTO_SHA256_LEN], got[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256("WebAppData", 10, token, strlen(token), secret);
    crypto_hmac_sha256(secret, sizeof(secret), lines.data ? lines.data : "", lines.len, got);
    bool ok = crypto_eq(got, want, sizeof(got));
    if (lines.data)
        explicit_bzero(lines.data, lines.len);
    buf_free(&lines);
    explicit_bzero(secret, sizeof(secret));
    return ok;
}

/* Reads a decimal int64 >= 1 from the whole of s; 0 when it is not one. */
static int64_t pos_int(const char *s)
{
    if (!s || !*s || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
        return 0;
    return strtoll(s, NULL, 10);
}

/* user.id, auth_date and start_param, read before the signature is checked
 * (the throttle key needs the id): trusted only after tga_signed. */
static void tga_read(struct tga_ctx *c)
{
    const struct tga_field *u = tga_get(c, "user"), *d = tga_get(c, "auth_date"), *s = tga_get(c, "start_param");
    if (u) {
        yyjson_doc *doc = yyjson_read(u->val, u->vlen, 0);
        yyjson_val *id = doc ? yyjson_obj_get(yyjson_doc_get_root(doc), "id") : NULL;
        if (id && yyjson_is_int(id) && yyjson_get_sint(id) > 0)
            c->tg_id = yyjson_get_sint(id);
        yyjson_doc_free(doc);
    }
    c->auth_date = d ? pos_int(d->val) : 0;
    if (s && s->vlen >= 1 && s->vlen <= TGA_START_MAX &&
        strspn(s->val, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == s->vlen)
        memcpy(c->start, s->val, s->vlen + 1);
}

/* ---- answers -------------------------------------------------------------- */

static void on_fail_counted(void *ud);

/* A refusal: counted against the throttle, then 401 with its code (code and
 * message are string literals). */
struct tga_refusal {
    struct tga_ctx *c;
    const char     *code, *msg;
};

static void refuse(struct tga_ctx *c, bool genuine, const char *code, const char *msg)
{
    if (genuine)
        snprintf(c->account, sizeof(c->account), "tg:%lld", (long long)c->tg_id);
    auth_count_login(c->req->svc->auth, AUTH_LOGIN_FAILED);
    log_info("login", "telegram login refused (%s) from %s", code, c->addr);
    struct tga_refusal *r = xmalloc(sizeof(*r));
    r->c = c;
    r->code = code;
    r->msg = msg;
    auth_throttle_fail(c->req->svc->auth, c->account, c->addr, on_fail_counted, r);
}

static void on_fail_counted(void *ud)
{
    struct tga_refusal *r = ud;
    http_error(r->c->req, 401, r->code, r->msg);
    tga_free(r->c);
    free(r);
}

static void tga_answer(struct tga_ctx *c)
{
    /* login's answer (auth.c), with the Mini App's start parameter */
    char extra[96];
    if (c->start[0])
        snprintf(extra, sizeof(extra), "\"start_param\":\"%s\"", c->start); /* its alphabet needs no escaping */
    else
        snprintf(extra, sizeof(extra), "\"start_param\":null");
    h_login_answer(c->req, c->session, c->token, c->addr, "telegram", extra);
    tga_free(c);
}

static void on_stale_ended(void *ud, int status)
{
    struct tga_ctx *c = ud;
    (void)status;
    if (c->recheck_failed) {
        h_login_unavailable(c->req);
        tga_free(c);
        return;
    }
    refuse(c, true, "telegram_not_linked", "this Telegram account is not linked to an active GSS account");
}

/* The account as it is now, after the session exists (see the top). */
static void on_recheck(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct tga_ctx *c = ud;
    bool            same = false;
    if (err != PG_OK)
        log_warn("login", "re-check of user %lld failed: %s %s", (long long)c->uid, state ? state : "",
                 msg ? msg : "");
    else if (PQntuples(res) == 1)
        same = PQgetvalue(res, 0, 0)[0] == 't' && auth_role_parse(PQgetvalue(res, 0, 1)) == c->role &&
               pos_int(PQgetvalue(res, 0, 2)) == c->tg_id;
    if (same) {
        tga_answer(c);
        return;
    }
    c->recheck_failed = err != PG_OK;
    if (auth_session_end(c->req->svc->auth, c->session, on_stale_ended, c) < 0)
        on_stale_ended(c, -1);
}

static void on_session(void *ud, int status, struct auth_session *s, const char *token)
{
    struct tga_ctx *c = ud;
    if (status < 0) {
        h_login_unavailable(c->req);
        tga_free(c);
        return;
    }
    c->session = s;
    snprintf(c->token, sizeof(c->token), "%s", token);
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)c->uid);
    const char *params[1] = {idb};
    if (pg_query(c->req->svc->pg, "SELECT active, role, coalesce(telegram_id, 0) FROM users WHERE id = $1", 1,
                 params, on_recheck, c) < 0)
        on_recheck(c, NULL, PG_ERR_DOWN, "", "postgres unavailable");
}

static void on_user(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct tga_ctx *c = ud;
    if (err != PG_OK) {
        if (err == PG_ERR_SQL)
            log_error("login", "telegram user lookup failed: %s %s", state ? state : "", msg ? msg : "");
        h_login_unavailable(c->req);
        tga_free(c);
        return;
    }
    unsigned role = PQntuples(res) == 1 ? auth_role_parse(PQgetvalue(res, 0, 1)) : 0;
    if (!role || PQgetvalue(res, 0, 4)[0] != 't') {
        refuse(c, true, "telegram_not_linked", "this Telegram account is not linked to an active GSS account");
        return;
    }
    c->uid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    c->role = role;
    snprintf(c->name, sizeof(c->name), "%s", PQgetvalue(res, 0, 2));
    snprintf(c->username, sizeof(c->username), "%s", PQgetvalue(res, 0, 3));
    auth_throttle_reset(c->req->svc->auth, c->account);
    if (auth_session_create(c->req->svc->auth, c->uid, c->role, c->name, c->username, on_session, c) < 0) {
        h_login_unavailable(c->req);
        tga_free(c);
    }
}

static void on_throttle(void *ud, int status, int64_t retry_after_s)
{
    struct tga_ctx  *c = ud;
    struct http_req *req = c->req;
    if (status < 0) {
        h_login_unavailable(req);
        tga_free(c);
        return;
    }
    if (status == 1) {
        h_login_throttled(req, retry_after_s);
        tga_free(c);
        return;
    }
    if (!tga_signed(c, req->svc->cfg->telegram_token) || c->tg_id <= 0 || c->auth_date <= 0) {
        refuse(c, false, "init_data_invalid", "the Telegram launch data is not valid");
        return;
    }
    int64_t now = (int64_t)time(NULL);
    if (c->auth_date > now + TGA_FUTURE_SKEW) {
        refuse(c, false, "init_data_invalid", "the Telegram launch data is dated in the future");
        return;
    }
    if (now - c->auth_date > req->svc->cfg->telegram_auth_max_age_s) {
        refuse(c, true, "init_data_expired", "the Telegram launch data is too old; open the app again");
        return;
    }
    /* genuine from here on: the id's own counter (reset on success) */
    snprintf(c->account, sizeof(c->account), "tg:%lld", (long long)c->tg_id);
    char tg[24];
    snprintf(tg, sizeof(tg), "%lld", (long long)c->tg_id);
    const char *params[1] = {tg};
    if (pg_query(req->svc->pg, "SELECT id, role, name, username, active FROM users WHERE telegram_id = $1::bigint", 1,
                 params, on_user, c) < 0) {
        h_login_unavailable(req);
        tga_free(c);
    }
}

void h_auth_telegram(struct http_req *req)
{
    const char *token = req->svc->cfg->telegram_token;
    if (!token || !*token) {
        http_error(req, 503, "telegram_off", "Telegram login is not configured on this server");
        return;
    }
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return;
    yyjson_val *v = yyjson_obj_get(yyjson_doc_get_root(doc), "init_data");
    if (!yyjson_is_str(v) || yyjson_get_len(v) == 0 || yyjson_get_len(v) > TGA_INIT_MAX) {
        yyjson_doc_free(doc);
        http_error(req, 422, "validation_failed", "init_data is required (the Mini App's initData string)");
        return;
    }
    struct tga_ctx *c = xcalloc(1, sizeof(*c));
    c->req = req;
    if (!http_req_peer(req, c->addr, sizeof(c->addr)))
        snprintf(c->addr, sizeof(c->addr), "unknown");
    const char *s = yyjson_get_str(v);
    size_t      n = yyjson_get_len(v);
    char        th[CRYPTO_TOKEN_HASH_SIZE];
    crypto_token_hash(s, n, th);
    /* forged or malformed data is counted under a key of its own (the top) */
    snprintf(c->account, sizeof(c->account), "h:%.32s", th);
    int parsed = tga_parse(c, s, n);
    explicit_bzero((char *)s, n);
    yyjson_doc_free(doc);
    if (req->body.data)
        explicit_bzero(req->body.data, req->body.len);
    if (parsed == 0)
        tga_read(c);
    else
        c->n = 0; /* malformed: tga_signed finds no hash and refuses */
    /* the check reads the genuine id's counter; only signed failures add to it */
    char check_key[72];
    if (c->tg_id > 0)
        snprintf(check_key, sizeof(check_key), "tg:%lld", (long long)c->tg_id);
    else
        snprintf(check_key, sizeof(check_key), "%s", c->account);
    if (auth_throttle_check(req->svc->auth, check_key, c->addr, on_throttle, c) < 0) {
        h_login_unavailable(req);
        tga_free(c);
    }
}
