#include "http/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[] = {"OTHER", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

const char *http_method_name(enum http_method m)
{
    return method_names[m];
}

enum http_method http_method_parse(const char *s, size_t n)
{
    for (int i = 1; i < 8; i++)
        if (strlen(method_names[i]) == n && memcmp(method_names[i], s, n) == 0)
            return (enum http_method)i;
    return HTTP_M_OTHER;
}

void router_init(struct router *r)
{
    memset(r, 0, sizeof(*r));
}

void router_free(struct router *r)
{
    for (unsigned i = 0; i < r->n; i++)
        free(r->routes[i].storage);
    free(r->routes);
    memset(r, 0, sizeof(*r));
}

struct http_route *router_add(struct router *r, enum http_method m, const char *pattern, http_handler h, unsigned roles)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 32;
        r->routes = xrealloc(r->routes, r->cap * sizeof(*r->routes));
    }
    struct http_route *rt = &r->routes[r->n++];
    memset(rt, 0, sizeof(*rt));
    rt->method = m;
    rt->pattern = pattern;
    rt->handler = h;
    rt->roles = roles;
    rt->body_max = -1;
    rt->body = (m == HTTP_M_POST || m == HTTP_M_PUT || m == HTTP_M_PATCH) ? ROUTE_BODY_JSON : ROUTE_BODY_NONE;
    rt->storage = xstrdup(pattern);
    char *p = rt->storage;
    while (*p == '/') {
        if (rt->nsegs == ROUTER_MAX_SEGS) {
            /* A programming error in routes.c: fail loudly at start-up. */
            fprintf(stderr, "router: pattern %s has more than %d segments\n", pattern, ROUTER_MAX_SEGS);
            abort();
        }
        p++;
        char  *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}')
            rt->segs[rt->nsegs] = NULL;
        else
            rt->segs[rt->nsegs] = p;
        rt->seglen[rt->nsegs] = len;
        rt->nsegs++;
        p += len;
    }
    /* Pointers into routes[] move on realloc; callers hold them only during setup. */
    return rt;
}

/* Splits path into segments; returns count or -1 if too many / empty inner segment. */
static int split(const char *path, size_t len, struct http_str *segs)
{
    int    n = 0;
    size_t i = 0;
    if (len == 0 || path[0] != '/')
        return -1;
    while (i < len) {
        if (path[i] != '/')
            return -1;
        i++;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        if (n == ROUTER_MAX_SEGS)
            return -1;
        segs[n].p = path + start;
        segs[n].n = i - start;
        n++;
    }
    return n;
}

/* Score: one bit per literal segment, the leftmost the highest, so at the
 * first segment where two matching patterns differ the literal one wins
 * (/a/b/{y} beats /a/{x}/c for /a/b/c). -1 = no match. */
static int match_route(const struct http_route *rt, const struct http_str *segs, int n)
{
    if ((int)rt->nsegs != n)
        return -1;
    int score = 0;
    for (int i = 0; i < n; i++) {
        if (rt->segs[i]) {
            if (rt->seglen[i] != segs[i].n || memcmp(rt->segs[i], segs[i].p, segs[i].n) != 0)
                return -1;
            score |= 1 << (ROUTER_MAX_SEGS - 1 - i);
        } else if (segs[i].n == 0) {
            return -1;
        }
    }
    return score;
}

enum router_result router_match(const struct router *r, enum http_method m, const char *path, size_t len,
                                const struct http_route **out, struct http_str *params, unsigned *nparams, char *allow,
                                size_t cap)
{
    struct http_str segs[ROUTER_MAX_SEGS];
    int             n = split(path, len, segs);
    *out = NULL;
    *nparams = 0;
    if (n < 0)
        return ROUTER_NOT_FOUND;
    const struct http_route *best = NULL;
    int                      best_score = -1;
    bool                     other_method = false;
    unsigned                 allowed = 0;
    for (unsigned i = 0; i < r->n; i++) {
        const struct http_route *rt = &r->routes[i];
        int                      s = match_route(rt, segs, n);
        if (s < 0)
            continue;
        /* HEAD is served by GET routes. */
        if (rt->method == m || (m == HTTP_M_HEAD && rt->method == HTTP_M_GET)) {
            if (s > best_score) {
                best = rt;
                best_score = s;
            }
        } else {
            other_method = true;
            allowed |= 1u << rt->method;
        }
    }
    if (best) {
        *out = best;
        for (unsigned i = 0; i < best->nsegs; i++)
            if (!best->segs[i] && *nparams < HTTP_MAX_PARAMS)
                params[(*nparams)++] = segs[i];
        return ROUTER_FOUND;
    }
    if (!other_method)
        return ROUTER_NOT_FOUND;
    size_t used = 0;
    if (cap)
        allow[0] = '\0';
    if (allowed & (1u << HTTP_M_GET))
        allowed |= 1u << HTTP_M_HEAD;
    for (int i = 1; i < 8; i++) {
        if (!(allowed & (1u << i)))
            continue;
        size_t need = strlen(method_names[i]) + (used ? 2 : 0);
        if (used + need >= cap)
            break; /* only whole method names */
        snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", method_names[i]);
        used += need;
    }
    return ROUTER_BAD_METHOD;
}

void router_count(struct http_route *route, enum http_method method, int status)
{
    if (route->method)
        method = route->method; /* a real route has one method (HEAD counts as its GET) */
    for (int i = 0; i < ROUTER_STATUS_SLOTS; i++) {
        if (route->counts[i].status == status && route->counts[i].method == method) {
            route->counts[i].count++;
            return;
        }
        if (route->counts[i].status == 0) {
            route->counts[i].status = (uint16_t)status;
            route->counts[i].method = (uint8_t)method;
            route->counts[i].count = 1;
            return;
        }
    }
    /* More distinct codes than slots: fold into the last slot's code rather than lose the count. */
    route->counts[ROUTER_STATUS_SLOTS - 1].count++;
}
