/*
 * routes: the one table of every endpoint (routes.c).
 */
#ifndef GSS_HTTP_ROUTES_H
#define GSS_HTTP_ROUTES_H

struct gss_config;
struct router;

/* Registers every route into r (after router_init). cfg decides the
 * optional ones (GSS_WS_ECHO, GSS_DEBUG_ROUTES); it is read only here. */
void http_routes(struct router *r, const struct gss_config *cfg);

#endif
