/*
 * routes: every path gssd answers, who may call it, and its body cap.
 * This table is the place to start when looking for where a request goes:
 * the handler names lead to src/http/handlers/<resource>.c.
 */
#include "http/routes.h"

#include "auth/roles.h"
#include "core/config.h"
#include "http/handlers/handlers.h"
#include "http/handlers/messages.h"
#include "http/router.h"

void http_routes(struct router *r, const struct gss_config *cfg)
{
    router_add(r, HTTP_M_GET, "/healthz", h_healthz, 0);
    router_add(r, HTTP_M_GET, "/readyz", h_readyz, 0);
    router_add(r, HTTP_M_GET, "/metrics", h_metrics, 0);

    /* accounts (auth.c, users.c) */
    {
        struct http_route *login = router_add(r, HTTP_M_POST, "/api/v1/auth/login", h_auth_login, 0);
        login->flags |= ROUTE_F_NO_CSRF; /* it has no session yet */
        login->body_max = 8192;
    }
    {
        /* the Mini App login (auth_telegram.c): the signed initData is the credential */
        struct http_route *tg = router_add(r, HTTP_M_POST, "/api/v1/auth/telegram", h_auth_telegram, 0);
        tg->flags |= ROUTE_F_NO_CSRF;
        tg->body_max = 16384;
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

    /* the WhatsApp inbox (inbox.c, docs/inbox.md); a reply is at most 4096 characters */
    router_add(r, HTTP_M_GET, "/api/v1/inbox", h_inbox_list, ROLE_CS | ROLE_ADMIN);
    router_add(r, HTTP_M_GET, "/api/v1/customers/{id}/messages", h_inbox_messages, ROLE_CS | ROLE_ADMIN);
    router_add(r, HTTP_M_POST, "/api/v1/customers/{id}/messages", h_inbox_reply, ROLE_CS | ROLE_ADMIN)->body_max = 65536;
    router_add(r, HTTP_M_POST, "/api/v1/customers/{id}/messages/read", h_inbox_read, ROLE_CS | ROLE_ADMIN)->body_max = 1024;

    /* the job pool (pool.c) and tickets (tickets.c) */
    router_add(r, HTTP_M_GET, "/api/v1/pool", h_pool_list, ROLE_TS | ROLE_CS | ROLE_ADMIN);
    router_add(r, HTTP_M_POST, "/api/v1/pool/{id}/claim", h_pool_claim, ROLE_TS)->body_max = 1024;
    router_add(r, HTTP_M_POST, "/api/v1/tickets", h_tickets_create, ROLE_CS | ROLE_ADMIN)->body_max = 16384;
    router_add(r, HTTP_M_GET, "/api/v1/tickets", h_tickets_list, ROLE_CS | ROLE_ADMIN | ROLE_TS | ROLE_SALES);
    router_add(r, HTTP_M_GET, "/api/v1/tickets/{id}", h_tickets_get, ROLE_CS | ROLE_ADMIN | ROLE_TS | ROLE_SALES);
    /* its outgoing messages, failures first (messages.c) */
    router_add(r, HTTP_M_GET, "/api/v1/tickets/{id}/messages", h_tickets_messages, ROLE_CS | ROLE_ADMIN | ROLE_SALES);
    router_add(r, HTTP_M_POST, "/api/v1/tickets/{id}/cancel", h_tickets_cancel, ROLE_CS | ROLE_ADMIN)->body_max = 4096;
    router_add(r, HTTP_M_POST, "/api/v1/tickets/{id}/replace", h_tickets_replace, ROLE_CS | ROLE_ADMIN)->body_max = 4096;

    /* money (invoices.c, invoice_send.c, invoice_pdf.c, payments.c; docs/money.md) */
    router_add(r, HTTP_M_POST, "/api/v1/tickets/{id}/invoice", h_invoices_create, ROLE_CS | ROLE_ADMIN)->body_max = 65536;
    router_add(r, HTTP_M_GET, "/api/v1/invoices", h_invoices_list, ROLE_CS | ROLE_SALES | ROLE_ADMIN);
    router_add(r, HTTP_M_GET, "/api/v1/invoices/{id}", h_invoices_get, ROLE_CS | ROLE_SALES | ROLE_ADMIN);
    router_add(r, HTTP_M_PATCH, "/api/v1/invoices/{id}", h_invoices_update, ROLE_CS | ROLE_ADMIN)->body_max = 65536;
    router_add(r, HTTP_M_POST, "/api/v1/invoices/{id}/submit", h_invoices_submit, ROLE_CS | ROLE_ADMIN)->body_max = 1024;
    router_add(r, HTTP_M_POST, "/api/v1/invoices/{id}/approve", h_invoices_approve, ROLE_SALES | ROLE_ADMIN)->body_max = 8192;
    router_add(r, HTTP_M_POST, "/api/v1/invoices/{id}/revise", h_invoices_revise, ROLE_SALES | ROLE_ADMIN)->body_max = 8192;
    router_add(r, HTTP_M_POST, "/api/v1/invoices/{id}/send", h_invoices_send, ROLE_CS | ROLE_ADMIN)->body_max = 1024;
    router_add(r, HTTP_M_GET, "/api/v1/invoices/{id}/links", h_invoices_links, ROLE_CS | ROLE_ADMIN);
    router_add(r, HTTP_M_GET, "/api/v1/invoices/{id}/invoice.pdf", h_invoices_pdf, ROLE_CS | ROLE_SALES | ROLE_ADMIN);
    router_add(r, HTTP_M_POST, "/api/v1/invoices/{id}/payments", h_payments_create, ROLE_CS | ROLE_ADMIN)->body_max = 8192;
    router_add(r, HTTP_M_POST, "/api/v1/invoices/{id}/payments/{pid}/void", h_payments_void, ROLE_CS | ROLE_ADMIN)
        ->body_max = 4096;
    router_add(r, HTTP_M_POST, "/api/v1/tickets/{id}/close", h_tickets_close, ROLE_CS | ROLE_ADMIN)->body_max = 4096;

    /* the customer's pages (public.c): no login, a token in the path, rate-limited */
    router_add(r, HTTP_M_GET, "/api/v1/public/invoices/{token}", h_public_invoice, 0);
    router_add(r, HTTP_M_GET, "/api/v1/public/invoices/{token}/invoice.pdf", h_public_invoice_pdf, 0);
    router_add(r, HTTP_M_GET, "/api/v1/public/qris.png", h_public_qris, 0);
    router_add(r, HTTP_M_GET, "/api/v1/public/ratings/{token}", h_public_rating_get, 0);
    {
        struct http_route *rate = router_add(r, HTTP_M_POST, "/api/v1/public/ratings/{token}", h_public_rating_post, 0);
        rate->flags |= ROUTE_F_NO_CSRF; /* no session: the token is the credential */
        rate->body_max = 8192;
    }

    /* Telegram (hooks_telegram.c, docs/telegram.md): the webhook proves itself
     * with its secret header, not a session */
    {
        struct http_route *hook = router_add(r, HTTP_M_POST, "/hooks/telegram", h_hooks_telegram, 0);
        hook->flags |= ROUTE_F_NO_CSRF;
        hook->body_max = 262144;
    }
    router_add(r, HTTP_M_POST, "/api/v1/me/telegram-link", h_telegram_link, ROLE_ANY)->body_max = 1024;

    /* webhooks: no session; the provider's signature is the credential */
    router_add(r, HTTP_M_GET, "/hooks/whatsapp", h_hooks_whatsapp_verify, 0);
    {
        struct http_route *wa = router_add(r, HTTP_M_POST, "/hooks/whatsapp", h_hooks_whatsapp, 0);
        wa->flags |= ROUTE_F_NO_CSRF;
        wa->body_max = 1024 * 1024; /* Meta batches messages and statuses into one POST */
    }

    /* visit monitoring (monitor.c) */
    router_add(r, HTTP_M_GET, "/api/v1/monitor", h_monitor, ROLE_CS | ROLE_ADMIN);

    /* field work (field.c, letter.c, attachments.c); ticket access in field_access */
    router_add(r, HTTP_M_GET, "/api/v1/tickets/{id}/letter.pdf", h_tickets_letter, ROLE_TS | ROLE_CS | ROLE_ADMIN);
    router_add(r, HTTP_M_POST, "/api/v1/tickets/{id}/checkin", h_field_checkin, ROLE_TS)->body_max = 4096;
    router_add(r, HTTP_M_POST, "/api/v1/tickets/{id}/checkout", h_field_checkout, ROLE_TS)->body_max = 4096;
    router_add(r, HTTP_M_POST, "/api/v1/tickets/{id}/complete", h_field_complete, ROLE_TS)->body_max = 1024;
    {
        struct http_route *up = router_add(r, HTTP_M_POST, "/api/v1/tickets/{id}/attachments", h_attachments_upload,
                                           ROLE_TS | ROLE_CS | ROLE_ADMIN);
        up->body = ROUTE_BODY_STREAM;
        /* the larger of the two kinds; the handler applies its kind's cap */
        up->body_max = cfg->upload_bast_max > cfg->upload_photo_max ? cfg->upload_bast_max : cfg->upload_photo_max;
    }
    router_add(r, HTTP_M_GET, "/api/v1/attachments/{id}", h_attachments_get,
               ROLE_CS | ROLE_ADMIN | ROLE_TS | ROLE_SALES);
    router_add(r, HTTP_M_GET, "/v/{token}", h_letter_verify, 0);

    /* websocket (ws.c) */
    router_add(r, HTTP_M_GET, "/api/v1/ws", h_ws, ROLE_ANY)->flags |= ROUTE_F_UPGRADE;
    if (cfg->ws_echo)
        router_add(r, HTTP_M_GET, "/api/v1/ws/echo", h_ws_echo, 0)->flags |= ROUTE_F_UPGRADE;

    if (cfg->debug_routes) {
        router_add(r, HTTP_M_GET, "/api/v1/debug/sleep", h_debug_sleep, 0);
        router_add(r, HTTP_M_POST, "/api/v1/debug/echo", h_debug_echo, 0);
    }
}
