/*
 * auth_step.c: from a request's headers to req->session (contract in
 * auth_step.h). The session cache, Redis and invalidation are the auth
 * module's (src/auth/auth.c); this file knows the HTTP side only: where the
 * token is, what a refusal looks like, and CSRF.
 */
#include "http/auth_step.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "http/router.h"
#include "http/services.h"

static bool is_b64url(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* Copies p[0..n) into out if it is shaped like one of our tokens. */
static bool take_token(const char *p, size_t n, char out[CRYPTO_TOKEN_SIZE])
{
    if (n != CRYPTO_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_b64url(p[i]))
            return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

bool http_auth_request_token(const struct http_req *req, char out[CRYPTO_TOKEN_SIZE], bool *via_cookie)
{
    size_t      n;
    const char *a = http_header(req, "Authorization", &n);
    if (a) {
        /* An Authorization header decides alone: a bad one is not rescued by
         * a cookie, so a client never runs as someone it did not name. */
        *via_cookie = false;
        if (n < 7 || strncasecmp(a, "Bearer ", 7) != 0)
            return false;
        const char *p = a + 7, *end = a + n;
        while (p < end && is_space(*p))
            p++;
        while (end > p && is_space(end[-1]))
            end--;
        return take_token(p, (size_t)(end - p), out);
    }
    const char *c = http_header(req, "Cookie", &n);
    if (!c)
        return false;
    *via_cookie = true;
    static const char name[] = AUTH_COOKIE_NAME;
    const size_t      nl = sizeof(name) - 1;
    const char       *p = c, *end = c + n;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end;
        while (p < stop && is_space(*p))
            p++;
        const char *vend = stop;
        while (vend > p && is_space(vend[-1]))
            vend--;
        if ((size_t)(vend - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=' &&
            take_token(p + nl + 1, (size_t)(vend - p - nl - 1), out))
            return true;
        p = semi ? semi + 1 : end;
    }
    return false;
}

static bool changes_state(enum http_method m)
{
    return m != HTTP_M_GET && m != HTTP_M_HEAD && m != HTTP_M_OPTIONS;
}

/* s is a reference that becomes the request's. */
static void admit(struct http_req *req, struct auth_session *s, bool via_cookie, void (*next)(struct http_req *))
{
    /* Set before the checks so that even a refusal is logged with its user. */
    req->session = s;
    if (!(s->role & req->route->roles)) {
        http_error(req, 403, "forbidden", "your role may not do this");
        return;
    }
    /* A cookie is sent by the browser on its own, whoever made the page that
     * triggers the request; the CSRF token only our page knows. Bearer
     * tokens are never sent implicitly, so they need no second proof. */
    if (via_cookie && changes_state(req->method) && !(req->route->flags & ROUTE_F_NO_CSRF)) {
        size_t      n;
        const char *h = http_header(req, AUTH_CSRF_HEADER, &n);
        size_t      want = strlen(s->csrf);
        if (!h || n != want || want == 0 || !crypto_eq(h, s->csrf, n)) {
            http_error(req, 403, "csrf_failed", "the X-CSRF-Token header is missing or wrong");
            return;
        }
    }
    next(req);
}

/* A request waiting for Redis to say who it is. */
struct pending {
    struct http_req *req;
    void (*next)(struct http_req *);
    bool via_cookie;
};

static void on_resolved(void *ud, enum auth_resolve_status status, struct auth_session *s)
{
    struct pending  *p = ud;
    struct http_req *req = p->req;
    void (*next)(struct http_req *) = p->next;
    bool via_cookie = p->via_cookie;
    free(p);
    switch (status) {
    case AUTH_RESOLVED: admit(req, s, via_cookie, next); return;
    case AUTH_RESOLVE_UNKNOWN:
        http_error(req, 401, "unauthorized", "the session has expired or ended; log in again");
        return;
    case AUTH_RESOLVE_MALFORMED: http_error(req, 401, "unauthorized", "the session is not valid; log in again"); return;
    case AUTH_RESOLVE_FAILED: break;
    }
    http_error(req, 503, "unavailable", "sessions are unavailable; try again");
}

void http_auth_step(struct http_req *req, void (*next)(struct http_req *req))
{
    struct auth_state *st = req->svc ? req->svc->auth : NULL;
    char               token[CRYPTO_TOKEN_SIZE];
    bool               via_cookie = false;
    if (!st || !http_auth_request_token(req, token, &via_cookie)) {
        http_error(req, 401, "unauthorized", "log in first");
        return;
    }
    char th[CRYPTO_TOKEN_HASH_SIZE];
    crypto_token_hash(token, CRYPTO_TOKEN_LEN, th);
    explicit_bzero(token, sizeof(token));
    /* Allocated on a cache hit too (freed at once): one call decides hit or
     * miss, so the callback's state must exist before it. */
    struct pending *p = xmalloc(sizeof(*p));
    p->req = req;
    p->next = next;
    p->via_cookie = via_cookie;
    struct auth_session *hit;
    int                  rc = auth_session_resolve(st, th, &hit, on_resolved, p);
    if (rc == 0)
        return; /* on_resolved answers, and frees p */
    free(p);
    if (rc > 0) {
        admit(req, hit, via_cookie, next);
        return;
    }
    http_error(req, 503, "unavailable", "sessions are unavailable; try again");
}
