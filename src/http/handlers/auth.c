/*
 * Login, logout and "who am I".
 *
 * Login is deliberately uniform for the caller: an unknown username, a
 * wrong password and an inactive account all cost one argon2id verify (a
 * dummy one when there is no hash to check) and all get the same 401 body,
 * so neither the answer nor its timing tells which usernames exist. Failed
 * attempts are counted per account and per client address (auth.h); past
 * the limit the answer is 429 with Retry-After, before any password is
 * checked, whatever the password.
 *
 * The plain password lives only in the login's context (heap, wiped before
 * it is freed) and in the hashing job's own copy; it is never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/log.h"
#include "core/password.h"
#include "core/workers.h"
#include "http/auth_step.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "store/pg.h"

#define INVALID_CREDENTIALS_MSG "wrong username or password"

struct login_ctx {
    struct http_req *req;
    char             account[72]; /* throttle key: the lowercased username, or "h:<hash>" for a malformed one */
    bool             well_formed; /* the username could exist (pattern of users.username) */
    char             addr[64];    /* client address, for the per-address counter */
    char            *pw;          /* owned copy of the password; wiped before free */
    size_t           pwlen;
    bool             found, active;
    int64_t          uid;
    unsigned         role;
    char             name[AUTH_NAME_MAX];
    char             username[AUTH_USERNAME_MAX];
    char            *hash; /* owned: the stored encoded hash, if found */
    struct auth_session *session; /* the new session (a reference), once made */
    char             token[CRYPTO_TOKEN_SIZE];
    bool             recheck_failed; /* PostgreSQL could not re-read the account */
};

static void login_free(struct login_ctx *lc)
{
    if (lc->pw) {
        explicit_bzero(lc->pw, lc->pwlen);
        free(lc->pw);
    }
    free(lc->hash);
    auth_session_release(lc->session);
    explicit_bzero(lc->token, sizeof(lc->token));
    free(lc);
}

/* The body held a password: do not leave it in freed memory. */
static void wipe_body(struct http_req *req)
{
    if (req->body.data)
        explicit_bzero(req->body.data, req->body.len);
}

void h_login_unavailable(struct http_req *req)
{
    http_error(req, 503, "unavailable", "the service is temporarily unavailable; try again");
}

void h_login_throttled(struct http_req *req, int64_t retry_after_s)
{
    char ra[24];
    snprintf(ra, sizeof(ra), "%lld", (long long)retry_after_s);
    http_add_header(req, "Retry-After", ra);
    auth_count_login(req->svc->auth, AUTH_LOGIN_THROTTLED);
    http_error(req, 429, "too_many_attempts", "too many failed logins; wait and try again");
}

/* ---- rehash on login ---------------------------------------------------- */

struct rehash_ctx {
    struct gss_services *svc;
    int64_t              uid;
    char                *old; /* owned: the hash being replaced, so a concurrent change wins */
};

static void on_rehash_saved(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    int64_t *uid = ud;
    (void)res;
    if (err != PG_OK)
        log_warn("login", "could not store the new password hash of user %lld: %s %s", (long long)*uid,
                 state ? state : "", msg ? msg : "");
    free(uid);
}

static void on_rehashed(void *ud, int status, const char *encoded)
{
    struct rehash_ctx *rc = ud;
    if (status == 0) {
        char idb[24];
        snprintf(idb, sizeof(idb), "%lld", (long long)rc->uid);
        const char *params[3] = {encoded, idb, rc->old};
        int64_t    *uid = xmalloc(sizeof(*uid));
        *uid = rc->uid;
        if (pg_query(rc->svc->pg,
                     "UPDATE users SET password_hash = $1, updated_at = now()"
                     " WHERE id = $2 AND password_hash = $3",
                     3, params, on_rehash_saved, uid) < 0)
            free(uid);
    }
    free(rc->old);
    free(rc);
}

/* The hash was made with weaker parameters than we use now: replace it while
 * the plain password is at hand. Runs on its own; the login does not wait. */
static void maybe_rehash(struct login_ctx *lc)
{
    struct password_params p;
    password_params_default(&p);
    if (!password_needs_rehash(lc->hash, &p))
        return;
    struct rehash_ctx *rc = xcalloc(1, sizeof(*rc));
    rc->svc = lc->req->svc;
    rc->uid = lc->uid;
    rc->old = xstrdup(lc->hash);
    if (password_hash_async(rc->svc->argon2, lc->pw, lc->pwlen, NULL, on_rehashed, rc) < 0) {
        free(rc->old);
        free(rc);
    }
}

/* ---- login -------------------------------------------------------------- */

static void user_brief(struct buf *b, const struct auth_session *s)
{
    buf_printf(b, "{\"id\":%lld,\"role\":\"%s\",\"name\":\"", (long long)s->user_id, s->role_name);
    buf_json_escape(b, s->name, strlen(s->name));
    buf_puts(b, "\",\"username\":\"");
    buf_json_escape(b, s->username, strlen(s->username));
    buf_puts(b, "\"}");
}

static void on_audit_done(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    (void)ud;
    (void)res;
    if (err != PG_OK)
        log_warn("audit", "login entry not written: %s %s", state ? state : "", msg ? msg : "");
}

void h_login_answer(struct http_req *req, const struct auth_session *s, const char *token, const char *addr,
                    const char *via, const char *extra)
{
    auth_count_login(req->svc->auth, AUTH_LOGIN_OK);
    log_info("login", "user %lld logged in%s%s from %s", (long long)s->user_id, via ? " through " : "",
             via ? via : "", addr);
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)s->user_id);
    const char *params[3] = {idb, addr, via};
    pg_query(req->svc->pg,
             "INSERT INTO audit_log (actor_id, entity, entity_id, action, data)"
             " VALUES ($1, 'user', $1, 'login', jsonb_strip_nulls(jsonb_build_object('ip', $2::text, 'via', $3::text)))",
             3, params, on_audit_done, NULL);
    struct buf b = {0}, cookie = {0};
    buf_printf(&b, "{\"token\":\"%s\",\"csrf_token\":\"%s\",\"user\":", token, s->csrf);
    user_brief(&b, s);
    if (extra) {
        buf_putc(&b, ',');
        buf_puts(&b, extra);
    }
    buf_putc(&b, '}');
    auth_cookie_value(req->svc->cfg, token, &cookie);
    http_add_header(req, "Set-Cookie", cookie.data);
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, b.data, b.len);
    explicit_bzero(b.data, b.len);
    explicit_bzero(cookie.data, cookie.len);
    buf_free(&b);
    buf_free(&cookie);
}

/* The answer of a login whose session exists and whose account was
 * re-checked after it was made. */
static void login_answer(struct login_ctx *lc)
{
    /* only now: a rehash changes the stored hash the re-check compares */
    maybe_rehash(lc);
    h_login_answer(lc->req, lc->session, lc->token, lc->addr, NULL, NULL);
    login_free(lc);
}

static void on_stale_session_ended(void *ud, int status)
{
    struct login_ctx *lc = ud;
    (void)status;
    if (lc->recheck_failed) {
        /* the account could not be read back: fail closed, but as what it
         * is (try again), not as a wrong password */
        h_login_unavailable(lc->req);
        login_free(lc);
        return;
    }
    auth_count_login(lc->req->svc->auth, AUTH_LOGIN_FAILED);
    http_error(lc->req, 401, "invalid_credentials", INVALID_CREDENTIALS_MSG);
    login_free(lc);
}

/*
 * The account as it is now, read after the session was made. Hashing takes
 * long (tens of ms to seconds): an admin may deactivate the user, change
 * their role or reset their password meanwhile. Such a change commits
 * first and then ends all the user's sessions (auth_kill_user). Reading the
 * row after our session exists closes the gap both ways: if the change
 * committed before this read we see it and end our session ourselves; if it
 * commits after, its kill finds our session already registered.
 */
static void on_recheck(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct login_ctx *lc = ud;
    bool              same = false;
    if (err != PG_OK) {
        log_warn("login", "re-check of user %lld failed: %s %s", (long long)lc->uid, state ? state : "",
                 msg ? msg : "");
    } else if (PQntuples(res) == 1) {
        same = PQgetvalue(res, 0, 0)[0] == 't' && auth_role_parse(PQgetvalue(res, 0, 1)) == lc->role &&
               lc->hash && !strcmp(PQgetvalue(res, 0, 2), lc->hash);
    }
    if (same) {
        login_answer(lc);
        return;
    }
    if (err == PG_OK)
        log_info("login", "user %lld changed while logging in; session ended", (long long)lc->uid);
    lc->recheck_failed = err != PG_OK;
    if (auth_session_end(lc->req->svc->auth, lc->session, on_stale_session_ended, lc) < 0)
        on_stale_session_ended(lc, -1);
}

static void on_session(void *ud, int status, struct auth_session *s, const char *token)
{
    struct login_ctx *lc = ud;
    struct http_req  *req = lc->req;
    if (status < 0) {
        h_login_unavailable(req);
        login_free(lc);
        return;
    }
    lc->session = s;
    snprintf(lc->token, sizeof(lc->token), "%s", token);
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)lc->uid);
    const char *params[1] = {idb};
    if (pg_query(req->svc->pg, "SELECT active, role, password_hash FROM users WHERE id = $1", 1, params, on_recheck,
                 lc) < 0)
        on_recheck(lc, NULL, PG_ERR_DOWN, "", "postgres unavailable");
}

static void on_failure_counted(void *ud)
{
    struct login_ctx *lc = ud;
    http_error(lc->req, 401, "invalid_credentials", INVALID_CREDENTIALS_MSG);
    login_free(lc);
}

static void on_verified(void *ud, int result)
{
    struct login_ctx *lc = ud;
    struct http_req  *req = lc->req;
    if (result == UV_ECANCELED) {
        /* shutting down: not the user's failure */
        h_login_unavailable(req);
        login_free(lc);
        return;
    }
    if (result != 1 || !lc->found || !lc->active) {
        auth_count_login(req->svc->auth, AUTH_LOGIN_FAILED);
        /* The username is not logged: people type passwords into it. */
        if (lc->found)
            log_info("login", "failed for user %lld from %s%s", (long long)lc->uid, lc->addr,
                     lc->active ? "" : " (inactive)");
        else
            log_info("login", "failed for an unknown username from %s", lc->addr);
        auth_throttle_fail(req->svc->auth, lc->account, lc->addr, on_failure_counted, lc);
        return;
    }
    auth_throttle_reset(req->svc->auth, lc->account);
    if (auth_session_create(req->svc->auth, lc->uid, lc->role, lc->name, lc->username, on_session, lc) < 0) {
        h_login_unavailable(req);
        login_free(lc);
    }
}

static void verify(struct login_ctx *lc)
{
    int rc = password_verify_async(lc->req->svc->argon2, lc->found ? lc->hash : NULL, lc->pw, lc->pwlen, on_verified,
                                   lc);
    if (rc == 0)
        return;
    if (rc == WORKERS_EFULL || rc == UV_ECANCELED) {
        /* every hashing thread is busy and the queue is full: shed load */
        http_add_header(lc->req, "Retry-After", "1");
        h_login_unavailable(lc->req);
    } else {
        http_error(lc->req, 500, "internal", "the login could not be processed");
    }
    login_free(lc);
}

static void on_user(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct login_ctx *lc = ud;
    if (err != PG_OK) {
        if (err == PG_ERR_SQL)
            log_error("login", "user lookup failed: %s %s", state ? state : "", msg ? msg : "");
        h_login_unavailable(lc->req);
        login_free(lc);
        return;
    }
    if (PQntuples(res) == 1) {
        unsigned role = auth_role_parse(PQgetvalue(res, 0, 1));
        if (role) {
            lc->found = true;
            lc->uid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            lc->role = role;
            snprintf(lc->name, sizeof(lc->name), "%s", PQgetvalue(res, 0, 2));
            snprintf(lc->username, sizeof(lc->username), "%s", PQgetvalue(res, 0, 3));
            lc->active = PQgetvalue(res, 0, 4)[0] == 't';
            lc->hash = xstrdup(PQgetvalue(res, 0, 5));
        }
    }
    verify(lc);
}

static void on_throttle(void *ud, int status, int64_t retry_after_s)
{
    struct login_ctx *lc = ud;
    struct http_req  *req = lc->req;
    if (status < 0) {
        h_login_unavailable(req);
        login_free(lc);
        return;
    }
    if (status == 1) {
        log_info("login", "throttled from %s", lc->addr);
        h_login_throttled(req, retry_after_s);
        login_free(lc);
        return;
    }
    if (!lc->well_formed) {
        verify(lc); /* no such user can exist, but it still costs a verify */
        return;
    }
    const char *params[1] = {lc->account};
    if (pg_query(req->svc->pg, "SELECT id, role, name, username, active, password_hash FROM users WHERE username = $1",
                 1, params, on_user, lc) < 0) {
        h_login_unavailable(req);
        login_free(lc);
    }
}

void h_auth_login(struct http_req *req)
{
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return;
    yyjson_val *root = yyjson_doc_get_root(doc);
    yyjson_val *u = yyjson_obj_get(root, "username"), *p = yyjson_obj_get(root, "password");
    if (!yyjson_is_str(u) || !yyjson_is_str(p) || yyjson_get_len(u) == 0 || yyjson_get_len(p) == 0) {
        yyjson_doc_free(doc);
        http_error(req, 422, "validation_failed", "username and password are required (strings)");
        return;
    }
    struct login_ctx *lc = xcalloc(1, sizeof(*lc));
    lc->req = req;
    const char *us = yyjson_get_str(u);
    size_t      ul = yyjson_get_len(u);
    /* Usernames are lowercase; accept any case at login so "Budi" finds budi
     * and shares budi's failure counter. */
    if (ul <= 32) {
        char low[33];
        for (size_t i = 0; i < ul; i++)
            low[i] = (us[i] >= 'A' && us[i] <= 'Z') ? (char)(us[i] | 0x20) : us[i];
        low[ul] = '\0';
        if (auth_username_valid(low, ul)) {
            memcpy(lc->account, low, ul + 1);
            lc->well_formed = true;
        }
    }
    if (!lc->well_formed) {
        /* Still counted, under a bounded key that cannot clash with a real one. */
        char th[CRYPTO_TOKEN_HASH_SIZE];
        crypto_token_hash(us, ul, th);
        snprintf(lc->account, sizeof(lc->account), "h:%.32s", th);
    }
    lc->pwlen = yyjson_get_len(p);
    lc->pw = xmalloc(lc->pwlen + 1);
    memcpy(lc->pw, yyjson_get_str(p), lc->pwlen);
    lc->pw[lc->pwlen] = '\0';
    /* yyjson keeps the parsed strings in its own memory: wipe it too. */
    explicit_bzero((char *)yyjson_get_str(p), lc->pwlen);
    yyjson_doc_free(doc);
    wipe_body(req);
    if (!http_req_peer(req, lc->addr, sizeof(lc->addr)))
        snprintf(lc->addr, sizeof(lc->addr), "unknown");
    if (auth_throttle_check(req->svc->auth, lc->account, lc->addr, on_throttle, lc) < 0) {
        h_login_unavailable(req);
        login_free(lc);
    }
}

/* ---- logout and me ------------------------------------------------------ */

static void on_logged_out(void *ud, int status)
{
    struct http_req *req = ud;
    if (status < 0) {
        h_login_unavailable(req);
        return;
    }
    struct buf cookie = {0};
    auth_cookie_value(req->svc->cfg, NULL, &cookie);
    http_add_header(req, "Set-Cookie", cookie.data);
    http_add_header(req, "Cache-Control", "no-store");
    buf_free(&cookie);
    static const char ok[] = "{\"status\":\"logged_out\"}";
    http_respond_json(req, 200, ok, sizeof(ok) - 1);
}

void h_auth_logout(struct http_req *req)
{
    if (auth_session_end(req->svc->auth, req->session, on_logged_out, req) < 0)
        h_login_unavailable(req);
}

/* telegram: the member's JSON value ({"linked":bool}, or null when the
 * database could not say: /me answers without it rather than fail). */
static void me_answer(struct http_req *req, const char *telegram)
{
    const struct auth_session *s = req->session;
    struct buf                 b = {0};
    buf_puts(&b, "{\"user\":");
    user_brief(&b, s);
    buf_printf(&b, ",\"csrf_token\":\"%s\"", s->csrf);
    buf_printf(&b, ",\"telegram\":%s", telegram); /* docs/telegram.md: linked through /start <code> */
    /* What screens need before their first save: the invoice editor shows
     * the tax at the rate a create would store (docs/money.md). */
    buf_printf(&b, ",\"settings\":{\"tax_rate_bp\":%lld}}", (long long)req->svc->cfg->tax_rate_bp);
    /* A page reload asks who it is: renew the cookie's lifetime with it, as
     * the session itself slides in Redis. */
    char token[CRYPTO_TOKEN_SIZE];
    bool via_cookie = false;
    if (http_auth_request_token(req, token, &via_cookie) && via_cookie) {
        struct buf cookie = {0};
        auth_cookie_value(req->svc->cfg, token, &cookie);
        http_add_header(req, "Set-Cookie", cookie.data);
        explicit_bzero(cookie.data, cookie.len);
        buf_free(&cookie);
    }
    explicit_bzero(token, sizeof(token));
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
}

static void on_me_telegram(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    (void)state;
    (void)msg;
    if (err != PG_OK || PQntuples(res) != 1)
        me_answer(req, "null");
    else
        me_answer(req, PQgetvalue(res, 0, 0)[0] == 't' ? "{\"linked\":true}" : "{\"linked\":false}");
}

void h_me(struct http_req *req)
{
    char uid[24];
    snprintf(uid, sizeof(uid), "%lld", (long long)req->session->user_id);
    const char *p[1] = {uid};
    if (!req->svc->pg ||
        pg_query(req->svc->pg, "SELECT telegram_id IS NOT NULL FROM users WHERE id = $1::bigint", 1, p,
                 on_me_telegram, req) < 0)
        me_answer(req, "null");
}
