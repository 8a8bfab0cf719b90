/*
 * WebSocket routes. The handshake, the framing and the hub are ws.c's; these
 * handlers only say which kind of socket a path opens.
 */
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "http/ws.h"

/* GET /api/v1/ws: the live board feed. The route has roles, so the auth
 * step already resolved req->session (cookie or Authorization header). */
void h_ws(struct http_req *req)
{
    ws_hub_accept(req->svc->hub, req, false);
}

/* GET /api/v1/ws/echo (GSS_WS_ECHO=1 only, no session): every message comes
 * back unchanged, for conformance suites that test the framing. */
void h_ws_echo(struct http_req *req)
{
    ws_hub_accept(req->svc->hub, req, true);
}
