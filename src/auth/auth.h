/*
 * auth: sessions in Redis, their in-process cache, the server's auth step,
 * and the failed-login throttle. docs/auth.md is the long version.
 *
 * Sessions. A login makes a 256-bit random token (crypto_token) and a CSRF
 * token; Redis keeps only the token's hash:
 *   <prefix>:sess:<token-hash>   hash {uid, role, name, username, csrf}, TTL
 *                                GSS_SESSION_TTL_S, slid forward (EXPIRE)
 *                                whenever a process re-reads it
 *   <prefix>:usess:<uid>         set of that user's token hashes, so that all
 *                                of a user's sessions can be ended at once
 * where <prefix> is GSS_REDIS_PREFIX.
 *
 * Cache. Each process keeps the sessions it resolved in a hash map
 * (token hash -> struct auth_session, one reference held by the map) and
 * trusts an entry for GSS_SESSION_CACHE_MS, so the hot path pays no Redis
 * round trip. Ending a session publishes on <prefix>:sessinv (the token
 * hash, or "u:<uid>" for all of a user's); every process drops what matches
 * as soon as the message arrives. While the subscriber connection is down
 * nothing is cached, and the cache is flushed whenever it drops or comes
 * back (messages may have been missed).
 *
 * The auth step (auth_hook, installed as app->http->auth) runs for every
 * route with roles: token from `Authorization: Bearer` first, else the
 * gss_session cookie; 401 unauthorized (none, unknown, expired), 503
 * unavailable (Redis down and not cached), 403 forbidden (role not
 * admitted), 403 csrf_failed (cookie-authenticated POST/PUT/PATCH/DELETE
 * without the session's X-CSRF-Token, unless the route has ROUTE_F_NO_CSRF);
 * else it sets req->session (a reference) and calls next(req).
 *
 * Callbacks: every function taking a callback returns 0 when the work was
 * queued (the callback then runs exactly once, later, on the loop thread)
 * or -1 when Redis is down right now (the callback will not run). Callback
 * status is 0 on success, -1 if Redis failed midway.
 *
 * Threads: loop thread only.
 */
#ifndef GSS_AUTH_AUTH_H
#define GSS_AUTH_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/session.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "http/http.h"

struct gss_app;

#define AUTH_COOKIE_NAME "gss_session"
#define AUTH_CSRF_HEADER "X-CSRF-Token"

/* Module life: start (before the Redis clients connect; registers the
 * invalidation channel and installs the auth step), stop (closes the sweep
 * timer; Redis closes after), free (after the loop has ended). */
int  auth_start(struct gss_app *app);
void auth_stop(struct gss_app *app);
void auth_free(struct gss_app *app);
/* Prometheus lines: cached sessions, cache hits/misses, invalidations, logins. */
void auth_metrics(struct gss_app *app, struct buf *b);

/* The server's auth step (see above). */
void auth_hook(struct http_req *req, void (*next)(struct http_req *req));

/* The request's session token: the Bearer token if an Authorization header
 * is present (and *via_cookie = false), else the gss_session cookie
 * (*via_cookie = true). false if there is none or it is not shaped like one
 * of our tokens (43 base64url characters). */
bool auth_request_token(const struct http_req *req, char out[CRYPTO_TOKEN_SIZE], bool *via_cookie);

/* A Set-Cookie value carrying token for GSS_SESSION_TTL_S (token NULL: one
 * that deletes the cookie). HttpOnly, SameSite=Lax, Path=/, and Secure when
 * GSS_COOKIE_SECURE=1. */
void auth_cookie_value(struct gss_app *app, const char *token, struct buf *out);

/* Creating a session: cb gets the new session (a reference the callee must
 * release) and the token to hand to the client, or status -1 with NULL s and
 * token. The new session is also put in this process's cache. */
typedef void (*auth_create_cb)(void *ud, int status, struct auth_session *s, const char *token);
int auth_session_create(struct gss_app *app, int64_t uid, unsigned role, const char *name, const char *username,
                        auth_create_cb cb, void *ud);

typedef void (*auth_done_cb)(void *ud, int status);
/* Ends one session everywhere (logout): deletes it from Redis and this
 * cache, publishes its hash; cb runs after the publish was accepted, so
 * every subscribed process has been sent the invalidation by then. */
int auth_session_end(struct gss_app *app, const struct auth_session *s, auth_done_cb cb, void *ud);
/* Ends every session of a user everywhere (deactivation, role change,
 * password reset); cb as above. */
int auth_kill_user(struct gss_app *app, int64_t uid, auth_done_cb cb, void *ud);

/*
 * Failed-login throttle: counters <prefix>:lf:u:<account> and
 * <prefix>:lf:ip:<address> that expire GSS_LOGIN_WINDOW_S after the first
 * failure. auth_throttle_check's cb gets status 0 (may try), 1 (throttled:
 * the account has GSS_LOGIN_MAX_FAILURES failures or the address 4x that;
 * retry_after_s is the seconds until the counter that blocks expires, >= 1)
 * or -1 (Redis failed). account should be normalised (lowercase) by the
 * caller; any bytes are fine.
 */
typedef void (*auth_throttle_cb)(void *ud, int status, int64_t retry_after_s);
int auth_throttle_check(struct gss_app *app, const char *account, const char *addr, auth_throttle_cb cb, void *ud);
/* Counts one failure against both counters (fire and forget: later commands
 * on the same connection see it, so the next attempt through this process
 * does). */
/* Counts a failed login against the account and the address; done(ud) runs
 * once both counters are recorded (or could not be). */
void auth_throttle_fail(struct gss_app *app, const char *account, const char *addr, void (*done)(void *ud), void *ud);
/* A successful login clears the account's counter (not the address's: one
 * valid account must not reset an address that is guessing others). */
void auth_throttle_reset(struct gss_app *app, const char *account);
/* Login outcomes for /metrics. */
enum auth_login_result { AUTH_LOGIN_OK, AUTH_LOGIN_FAILED, AUTH_LOGIN_THROTTLED };
void auth_count_login(struct gss_app *app, enum auth_login_result r);

/* 3 to 32 of a-z 0-9 _ . - (as the users table's CHECK). */
bool auth_username_valid(const char *s, size_t n);

#endif
