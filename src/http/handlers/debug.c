/*
 * Test-only routes (GSS_DEBUG_ROUTES=1): a request that takes a while
 * without blocking the loop (to test graceful shutdown with work in flight)
 * and a body echo (to test body caps and chunked bodies).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/crypto.h"
#include "http/handlers/handlers.h"
#include "http/services.h"

/* Sleepers are listed in the services (svc->debug_sleepers) so a forced shutdown can end them. */
struct sleep_ctx {
    uv_timer_t        t;
    struct http_req  *req;
    long              ms;
    struct sleep_ctx *next, *prev;
};

static void on_slept_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sleeper_unlink(struct sleep_ctx *s)
{
    struct gss_services *svc = s->req->svc;
    if (s->prev)
        s->prev->next = s->next;
    else
        svc->debug_sleepers = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

void debug_cancel_all(struct gss_services *svc)
{
    while (svc->debug_sleepers) {
        struct sleep_ctx *s = svc->debug_sleepers;
        sleeper_unlink(s);
        uv_timer_stop(&s->t);
        http_error(s->req, 503, "shutting_down", "the server is shutting down");
        uv_close((uv_handle_t *)&s->t, on_slept_closed);
    }
}

static void on_slept(uv_timer_t *t)
{
    struct sleep_ctx *s = t->data;
    sleeper_unlink(s);
    char body[64];
    int  n = snprintf(body, sizeof(body), "{\"slept_ms\":%ld}", s->ms);
    http_respond_json(s->req, 200, body, (size_t)n);
    uv_close((uv_handle_t *)&s->t, on_slept_closed);
}

void h_debug_sleep(struct http_req *req)
{
    char v[16];
    long ms = 0;
    if (http_query(req, "ms", v, sizeof(v)))
        ms = strtol(v, NULL, 10);
    if (ms < 0 || ms > 60000) {
        http_error(req, 422, "invalid_ms", "ms must be 0..60000");
        return;
    }
    struct sleep_ctx *s = xcalloc(1, sizeof(*s));
    s->req = req;
    s->ms = ms;
    uv_timer_init(req->svc->loop, &s->t);
    s->t.data = s;
    s->next = req->svc->debug_sleepers;
    if (s->next)
        s->next->prev = s;
    req->svc->debug_sleepers = s;
    uv_timer_start(&s->t, on_slept, (uint64_t)ms, 0);
}

void h_debug_echo(struct http_req *req)
{
    uint8_t h[32];
    char    hex[65];
    crypto_sha256(req->body.data ? req->body.data : "", req->body.len, h);
    crypto_hex(h, 32, hex);
    char body[128];
    int  n = snprintf(body, sizeof(body), "{\"bytes\":%zu,\"sha256\":\"%s\"}", req->body.len, hex);
    http_respond_json(req, 200, body, (size_t)n);
}
