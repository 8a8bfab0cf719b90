/*
 * auth: sessions in Redis, their in-process cache, resolving a token hash to
 * a session, invalidation, and the failed-login throttle. docs/auth.md is the
 * long version.
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
 * Resolving. auth_session_resolve() turns a token hash into a session:
 * from the cache when fresh, else from Redis (HGETALL, sliding the expiry).
 * The HTTP auth step (src/http/auth_step.c) is its caller: it finds the
 * token in the request, checks roles and CSRF, and answers 401/403/503.
 * This module knows no HTTP types.
 *
 * Events. What the layers above must hear of (a live WebSocket board of an
 * ended session must close) is reported through struct auth_events, set by
 * the composition root: on_session_ended(token hash) when an invalidation
 * message names one session, on_user_killed(uid) when it names a user.
 *
 * Callbacks: every function taking a callback returns 0 when the work was
 * queued (the callback then runs exactly once, later, on the loop thread)
 * or -1 when Redis is down right now, or the module is not started (st
 * NULL): the callback will not run. Callback status is 0 on success, -1 if
 * Redis failed midway. auth_session_resolve adds 1: answered from the cache.
 *
 * Threads: loop thread only.
 */
#ifndef GSS_AUTH_AUTH_H
#define GSS_AUTH_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "auth/session.h"
#include "core/buf.h"

struct auth_state;
struct gss_config;
struct rds;
struct sub_state;

#define AUTH_COOKIE_NAME "gss_session"
#define AUTH_CSRF_HEADER "X-CSRF-Token"

/* Module life: start (before the Redis clients connect; registers the
 * invalidation channel on sub and starts the sweep timer) returns the state,
 * or NULL (logged) if the channel cannot be registered. loop, cfg, redis and
 * sub are not owned and must outlive the state. stop closes the sweep timer
 * (Redis closes after); free after the loop has ended. NULL is fine for
 * stop, free and metrics. */
struct auth_state *auth_start(uv_loop_t *loop, const struct gss_config *cfg, struct rds *redis, struct sub_state *sub);
void               auth_stop(struct auth_state *st);
void               auth_free(struct auth_state *st);
/* Prometheus lines: cached sessions, cache hits/misses, invalidations, logins. */
void auth_metrics(const struct auth_state *st, struct buf *b);

/* Callbacks to the layers above (see the top). Either may be NULL; they run
 * on the loop thread from the subscriber's message callback. */
struct auth_events {
    void (*on_session_ended)(void *ud, const char *token_hash); /* 64 hex digits, NUL-terminated */
    void (*on_user_killed)(void *ud, int64_t uid);
    void *ud;
};
/* Copies *ev into st. */
void auth_set_events(struct auth_state *st, const struct auth_events *ev);

/* Looking a session up by its token hash (hex sha256 of the token, as
 * crypto_token_hash makes it; 64 digits):
 *   returns 1: a fresh cache entry; *hit is a new reference the caller
 *              releases; cb will not run.
 *   returns 0: asked Redis; *hit is NULL; cb runs exactly once, later, never
 *              from inside this call, with AUTH_RESOLVED and a new reference
 *              to the session (the callee releases it), or with another
 *              status and s NULL.
 *   returns -1: Redis is down right now, or st is NULL; cb will not run.
 * A session read from Redis is cached unless an invalidation happened
 * while the read was in flight. */
enum auth_resolve_status {
    AUTH_RESOLVED = 0,
    AUTH_RESOLVE_UNKNOWN,   /* no such session: expired, ended, never was */
    AUTH_RESOLVE_MALFORMED, /* the stored session is not one we wrote: refused */
    AUTH_RESOLVE_FAILED,    /* Redis failed while answering */
};
typedef void (*auth_resolve_cb)(void *ud, enum auth_resolve_status status, struct auth_session *s);
int auth_session_resolve(struct auth_state *st, const char *token_hash, struct auth_session **hit, auth_resolve_cb cb,
                         void *ud);

/* A Set-Cookie value carrying token for GSS_SESSION_TTL_S (token NULL: one
 * that deletes the cookie). HttpOnly, SameSite=Lax, Path=/, and Secure when
 * GSS_COOKIE_SECURE=1. */
void auth_cookie_value(const struct gss_config *cfg, const char *token, struct buf *out);

/* Creating a session: cb gets the new session (a reference the callee must
 * release) and the token to hand to the client, or status -1 with NULL s and
 * token. The new session is also put in this process's cache. */
typedef void (*auth_create_cb)(void *ud, int status, struct auth_session *s, const char *token);
int auth_session_create(struct auth_state *st, int64_t uid, unsigned role, const char *name, const char *username,
                        auth_create_cb cb, void *ud);

typedef void (*auth_done_cb)(void *ud, int status);
/* Ends one session everywhere (logout): deletes it from Redis and this
 * cache, publishes its hash; cb runs after the publish was accepted, so
 * every subscribed process has been sent the invalidation by then. */
int auth_session_end(struct auth_state *st, const struct auth_session *s, auth_done_cb cb, void *ud);
/* Ends every session of a user everywhere (deactivation, role change,
 * password reset); cb as above. */
int auth_kill_user(struct auth_state *st, int64_t uid, auth_done_cb cb, void *ud);

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
int auth_throttle_check(struct auth_state *st, const char *account, const char *addr, auth_throttle_cb cb, void *ud);
/* Counts one failure against both counters (fire and forget: later commands
 * on the same connection see it, so the next attempt through this process
 * does). */
/* Counts a failed login against the account and the address; done(ud) runs
 * once both counters are recorded (or could not be). */
void auth_throttle_fail(struct auth_state *st, const char *account, const char *addr, void (*done)(void *ud), void *ud);
/* A successful login clears the account's counter (not the address's: one
 * valid account must not reset an address that is guessing others). */
void auth_throttle_reset(struct auth_state *st, const char *account);
/* Login outcomes for /metrics. */
enum auth_login_result { AUTH_LOGIN_OK, AUTH_LOGIN_FAILED, AUTH_LOGIN_THROTTLED };
void auth_count_login(struct auth_state *st, enum auth_login_result r);

/* 3 to 32 of a-z 0-9 _ . - (as the users table's CHECK). */
bool auth_username_valid(const char *s, size_t n);

#endif
