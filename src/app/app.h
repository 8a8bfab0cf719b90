/*
 * app: the composition root, the one struct that holds a gssd process's
 * state.
 *
 * struct gss_app owns the loop, the configuration, the router, and (as
 * locals of app_serve, which outlive the loop) the HTTP server, the
 * PostgreSQL pool and the Redis connections; the feature modules hang off
 * it too. What the layers below may reach is gathered in app->svc (struct
 * gss_services, http/services.h), filled here at start-up: handlers see it
 * as req->svc, and lower layers (auth, pool, store) get their dependencies
 * one by one, never this struct. There is no other mutable global state
 * (log level aside, see log.h), so a reader finds every piece of state
 * from here.
 */
#ifndef GSS_APP_APP_H
#define GSS_APP_APP_H

#include <stdbool.h>
#include <uv.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/workers.h"
#include "http/router.h"
#include "http/services.h"

struct ihttp;
struct outbox;
struct outbox_channel;
struct wa_media;
struct persister;

struct gss_app {
    uv_loop_t           loop_storage; /* svc.loop points here while serving */
    struct gss_config   cfg;          /* svc.cfg points here */
    struct router       router;
    struct gss_services svc;       /* what the layers below see; filled by app_serve */
    struct persister   *persister; /* owned (modules.c) */
    struct ihttp          *http_out; /* outgoing HTTP, one curl multi (modules.c) */
    struct outbox         *outbox;   /* the outbox sender (modules.c); NULL in workers but the first */
    struct outbox_channel *channels; /* Telegram and WhatsApp, the sender's channels (modules.c) */
    struct wa_media       *wa_media; /* incoming WhatsApp photos (modules.c); NULL as outbox */
    struct workers      argon2;    /* password hashing threads (svc.argon2 points here) */
    struct workers      render;    /* PDF rendering threads (svc.render) */
    bool                workers_up; /* both pools initialised */
    uv_signal_t         sigint, sigterm, sighup;
    uv_timer_t          stop_timer;
};

/* Starts everything and runs the loop until shutdown. Returns the exit code.
 * app->cfg must be loaded; app->svc.worker_id set for --workers. */
int app_serve(struct gss_app *app);
/* Appends module metrics (pool, persister, websocket, sessions) to /metrics;
 * installed as svc->metrics_extra (modules.c). */
void app_metrics_extra(struct gss_services *svc, struct buf *b);
/* The feature modules (sessions, pool, WebSocket hub, persister) start after
 * the store clients exist and stop before they close (modules.c). */
int  app_modules_start(struct gss_app *app);
void app_modules_stop(struct gss_app *app);
void app_modules_free(struct gss_app *app);

#endif
