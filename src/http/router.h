/*
 * router: maps (method, path) to a route, with path parameters.
 *
 * Patterns are literal segments and `{name}` parameters, e.g.
 * "/api/v1/pool/{id}/claim". A parameter matches one non-empty segment.
 * Literal segments win over parameters when both would match, whatever the
 * order of registration. Matching never allocates: parameters point into
 * the path being matched.
 *
 * A route also carries what the server checks before its handler runs: the
 * roles it admits (0 = public) and its body cap. Per-route request counters
 * for /metrics live here too, so counting costs no lookup.
 */
#ifndef GSS_ROUTER_H
#define GSS_ROUTER_H

#include <stdint.h>

#include "http/http.h"

#define ROUTER_MAX_SEGS     8
#define ROUTER_STATUS_SLOTS 12

/* Role bits. */
#define ROLE_ADMIN 0x1u
#define ROLE_CS    0x2u
#define ROLE_TS    0x4u
#define ROLE_SALES 0x8u
#define ROLE_ANY   0xfu

struct route_status_count {
    uint16_t status;
    uint8_t  method; /* enum http_method; matters for the catch-all buckets */
    uint64_t count;
};

struct http_route {
    enum http_method method;
    const char      *pattern;
    http_handler     handler;
    unsigned         roles;    /* 0: public; else a session with one of these roles */
    int64_t          body_max; /* -1: server default */
    unsigned         flags;
    /* compiled pattern */
    unsigned    nsegs;
    const char *segs[ROUTER_MAX_SEGS]; /* NULL = parameter */
    size_t      seglen[ROUTER_MAX_SEGS];
    char       *storage; /* owned copy of the pattern the segs point into */
    /* metrics, by status (a handful of distinct codes per route) */
    struct route_status_count counts[ROUTER_STATUS_SLOTS];
};

#define ROUTE_F_UPGRADE 0x1u /* WebSocket: the handler takes the connection over */
#define ROUTE_F_NO_CSRF 0x2u /* state-changing but exempt from CSRF (login) */

struct router {
    struct http_route *routes; /* owned */
    unsigned           n, cap;
};

void               router_init(struct router *r);
void               router_free(struct router *r);
struct http_route *router_add(struct router *r, enum http_method m, const char *pattern, http_handler h,
                              unsigned roles);

enum router_result { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_BAD_METHOD };

/* On ROUTER_BAD_METHOD, allow gets "GET, POST" style text (cap bytes). */
enum router_result router_match(const struct router *r, enum http_method m, const char *path, size_t len,
                                const struct http_route **out, struct http_str *params, unsigned *nparams, char *allow,
                                size_t cap);

void             router_count(struct http_route *route, enum http_method method, int status);
const char      *http_method_name(enum http_method m);
enum http_method http_method_parse(const char *s, size_t n);

#endif
