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

    /* accounts (auth.c, users.c) */
    {
        struct http_route *login = router_add(r, HTTP_M_POST, "/api/v1/auth/login", h_auth_login, 0);
        login->flags |= ROUTE_F_NO_CSRF; /* it has no session yet */
        login->body_max = 8192;
    }
    router_add(r, HTTP_M_POST, "/api/v1/auth/logout", h_auth_logout, ROLE_ANY)->body_max = 1024;
    router_add(r, HTTP_M_GET, "/api/v1/me", h_me, ROLE_ANY);
    router_add(r, HTTP_M_GET, "/api/v1/users", h_users_list, ROLE_ADMIN);
    router_add(r, HTTP_M_POST, "/api/v1/users", h_users_create, ROLE_ADMIN)->body_max = 8192;
    router_add(r, HTTP_M_GET, "/api/v1/users/{id}", h_users_get, ROLE_ADMIN);
    router_add(r, HTTP_M_PATCH, "/api/v1/users/{id}", h_users_update, ROLE_ADMIN)->body_max = 8192;

    /* customers (customers.c) */
    router_add(r, HTTP_M_GET, "/api/v1/customers", h_customers_list, ROLE_CS | ROLE_ADMIN);
    router_add(r, HTTP_M_POST, "/api/v1/customers", h_customers_create, ROLE_CS | ROLE_ADMIN)->body_max = 8192;
    router_add(r, HTTP_M_GET, "/api/v1/customers/{id}", h_customers_get, ROLE_CS | ROLE_ADMIN);
    router_add(r, HTTP_M_PATCH, "/api/v1/customers/{id}", h_customers_update, ROLE_CS | ROLE_ADMIN)->body_max = 8192;

    /* the job pool (pool.c) and tickets (tickets.c) */
    router_add(r, HTTP_M_GET, "/api/v1/pool", h_pool_list, ROLE_TS | ROLE_CS | ROLE_ADMIN);
    router_add(r, HTTP_M_POST, "/api/v1/pool/{id}/claim", h_pool_claim, ROLE_TS)->body_max = 1024;
    router_add(r, HTTP_M_POST, "/api/v1/tickets", h_tickets_create, ROLE_CS | ROLE_ADMIN)->body_max = 16384;
    router_add(r, HTTP_M_GET, "/api/v1/tickets", h_tickets_list, ROLE_CS | ROLE_ADMIN | ROLE_TS | ROLE_SALES);
    router_add(r, HTTP_M_GET, "/api/v1/tickets/{id}", h_tickets_get, ROLE_CS | ROLE_ADMIN | ROLE_TS | ROLE_SALES);

    /* websocket (ws.c) */
    router_add(r, HTTP_M_GET, "/api/v1/ws", h_ws, ROLE_ANY)->flags |= ROUTE_F_UPGRADE;
    if (app->cfg.ws_echo)
        router_add(r, HTTP_M_GET, "/api/v1/ws/echo", h_ws_echo, 0)->flags |= ROUTE_F_UPGRADE;

    if (app->cfg.debug_routes) {
        router_add(r, HTTP_M_GET, "/api/v1/debug/sleep", h_debug_sleep, 0);
        router_add(r, HTTP_M_POST, "/api/v1/debug/echo", h_debug_echo, 0);
    }
}
