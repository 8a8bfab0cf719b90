/*
 * session: who is calling.
 *
 * A struct auth_session is shared and reference counted: the process-wide
 * cache (auth.c) holds one reference, each request that resolved it holds
 * another (req->session, released when the request is freed), so an
 * invalidation that drops a cache entry never frees a session a handler is
 * still reading. The struct is immutable once published (the cache and
 * every request see the same bytes), so nothing per-request lives in it:
 * whether a request came with the cookie or a Bearer token is known only to
 * the auth step, which is also where CSRF is checked.
 *
 * The fields are what login stored in Redis (`<prefix>:sess:<token-hash>`):
 * they are as of login. A change of role, deactivation or password reset
 * ends every session of the user (auth_kill_user), so a session's role is
 * never stale beyond the invalidation delay documented in docs/auth.md; a
 * change of display name shows after the next login.
 */
#ifndef GSS_AUTH_SESSION_H
#define GSS_AUTH_SESSION_H

#include <stdint.h>

#include "auth/roles.h"

/* Display names are 1..100 characters of UTF-8: up to 400 bytes. */
#define AUTH_NAME_MAX     404
#define AUTH_USERNAME_MAX 40

struct auth_session {
    int      refs;
    int64_t  user_id;
    unsigned role; /* one ROLE_* bit */
    char     role_name[8];
    char     name[AUTH_NAME_MAX]; /* display name, UTF-8 */
    char     username[AUTH_USERNAME_MAX];
    char     token_hash[65]; /* hex sha256 of the token: the Redis key suffix */
    char     csrf[44];       /* the CSRF token given at login (base64url, 43 chars) */
    uint64_t cached_at_ms;   /* uv_now() when fetched from (or stored into) Redis */
};

/* A new session with refs = 1 (all fields zero). */
struct auth_session *auth_session_new(void);
struct auth_session *auth_session_ref(struct auth_session *s);
/* Drops one reference; frees at zero. NULL is fine. */
void    auth_session_release(struct auth_session *s);
int64_t auth_session_user_id(const struct auth_session *s);

#endif
