/*
 * session: who is calling. A struct auth_session is shared and reference
 * counted: the process-wide cache holds one reference, each request that
 * resolved it holds another (req->session), so an invalidation that drops a
 * cache entry never frees a session a handler is still reading.
 */
#ifndef GSS_AUTH_SESSION_H
#define GSS_AUTH_SESSION_H

#include <stdint.h>

#include "http/router.h"

struct auth_session {
    int      refs;
    int64_t  user_id;
    unsigned role;          /* one ROLE_* bit */
    char     role_name[8];
    char     name[128];
    char     username[40];
    char     token_hash[65]; /* hex sha256 of the token: the Redis key suffix */
    char     csrf[44];
    uint64_t cached_at_ms;  /* uv_now() when fetched from Redis */
    int      via_cookie;    /* this request authenticated with the cookie (CSRF applies) */
};

struct auth_session *auth_session_ref(struct auth_session *s);
void    auth_session_release(struct auth_session *s);
int64_t auth_session_user_id(const struct auth_session *s);
const char *auth_role_name(unsigned role);
unsigned    auth_role_parse(const char *s);

#endif
