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

struct route_status_count {
    uint16_t status;
    uint8_t  method; /* enum http_method; matters for the catch-all buckets */
    uint64_t count;
};

/* How a route takes a request body (http.h, "Request bodies"). */
enum route_body {
    ROUTE_BODY_NONE = 0, /* any body: 413 before it is read (the default of GET, HEAD, DELETE, OPTIONS) */
    ROUTE_BODY_JSON,     /* buffered whole, up to body_max (the default of POST, PUT, PATCH) */
    ROUTE_BODY_STREAM,   /* pieces to the handler as they arrive, up to body_max */
};

struct http_route {
    enum http_method method;
    enum route_body  body;
    const char      *pattern;
    http_handler     handler;
    unsigned         roles;    /* 0: public; else a session with a role bit in this mask (auth/roles.h) */
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
