/*
 * auth_step: the server's auth step, run for every route with roles before
 * its handler (installed as srv->auth by the composition root).
 *
 * The token comes from `Authorization: Bearer` first, else the gss_session
 * cookie; its hash is resolved by the auth module (auth_session_resolve:
 * cache, else Redis). Answers, and the handler does not run:
 *   401 unauthorized  no token, an unknown, expired or malformed session,
 *                     or no session module (req->svc->auth NULL)
 *   503 unavailable   Redis down (or failing) and the session not cached
 *   403 forbidden     the session's role is not in the route's mask
 *   403 csrf_failed   a cookie-authenticated POST/PUT/PATCH/DELETE without
 *                     the session's X-CSRF-Token (unless ROUTE_F_NO_CSRF)
 * Otherwise req->session is set (a reference, released with the request)
 * and next(req) runs: at once on a cache hit, else from Redis's answer. On
 * a refusal after the session was found, req->session is set too, so the
 * request's log line names its user.
 */
#ifndef GSS_HTTP_AUTH_STEP_H
#define GSS_HTTP_AUTH_STEP_H

#include <stdbool.h>

#include "core/crypto.h"
#include "http/http.h"

void http_auth_step(struct http_req *req, void (*next)(struct http_req *req));

/* The request's session token: the Bearer token if an Authorization header
 * is present (and *via_cookie = false), else the gss_session cookie
 * (*via_cookie = true). false if there is none or it is not shaped like one
 * of our tokens (43 base64url characters). */
bool http_auth_request_token(const struct http_req *req, char out[CRYPTO_TOKEN_SIZE], bool *via_cookie);

#endif
