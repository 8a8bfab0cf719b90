/*
 * routes: every path gssd answers, who may call it, and its body cap.
 * This table is the place to start when looking for where a request goes:
 * the handler names lead to src/http/handlers/<resource>.c.
 */
#include "core/app.h"
#include "http/handlers/handlers.h"
#include "http/router.h"

void app_routes(struct gss_app *app)
{
    struct router *r = &app->router;
    router_add(r, HTTP_M_GET, "/healthz", h_healthz, 0);
    router_add(r, HTTP_M_GET, "/readyz", h_readyz, 0);
    router_add(r, HTTP_M_GET, "/metrics", h_metrics, 0);

    if (app->cfg.debug_routes) {
        router_add(r, HTTP_M_GET, "/api/v1/debug/sleep", h_debug_sleep, 0);
        router_add(r, HTTP_M_POST, "/api/v1/debug/echo", h_debug_echo, 0);
    }
}
