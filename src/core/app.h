/*
 * app: the one struct that holds a gssd process's state.
 *
 * Everything a handler or a background task needs hangs off struct gss_app:
 * the loop, the configuration, the HTTP server, the PostgreSQL pool, the
 * Redis connections, the pool service, the session cache, the WebSocket hub.
 * There is no other mutable global state (log level aside, see log.h), so
 * tests can run several apps in one process and a reader finds every piece
 * of state from here.
 */
#ifndef GSS_APP_H
#define GSS_APP_H

#include <stdbool.h>
#include <uv.h>

#include "core/buf.h"
#include "core/config.h"
#include "http/router.h"

struct http_server;
struct pg_pool;
struct rds;
struct static_files;
struct auth_state;
struct pool_service;
struct ws_hub;
struct sub_state;
struct persister;
struct sleep_ctx;

struct gss_app {
    uv_loop_t           *loop; /* = &loop_storage while serving */
    uv_loop_t            loop_storage;
    struct gss_config    cfg;
    struct router        router;
    struct http_server  *http;
    struct pg_pool      *pg;
    struct rds          *redis;     /* commands and scripts */
    struct rds          *redis_sub; /* SUBSCRIBE only */
    struct static_files *web;
    struct auth_state   *auth;
    struct pool_service *pool;
    struct persister    *persister;
    struct ws_hub       *hub;
    struct sub_state    *sub; /* channel dispatch on redis_sub */
    uv_signal_t          sigint, sigterm, sighup;
    bool                 stopping;
    int                  worker_id;      /* 0 for the only or first worker */
    struct sleep_ctx    *debug_sleepers; /* GSS_DEBUG_ROUTES only */
    uv_timer_t           stop_timer;
};

/* Starts everything and runs the loop until shutdown. Returns the exit code. */
int app_serve(struct gss_app *app);
/* Registers every route (routes.c). */
void app_routes(struct gss_app *app);
/* Appends module metrics (pool, websocket, sessions) to /metrics. */
void app_metrics_extra(struct gss_app *app, struct buf *b);
/* The feature modules (sessions, pool, WebSocket hub, persister) start after
 * the store clients exist and stop before they close (modules.c). */
int  app_modules_start(struct gss_app *app);
void app_modules_stop(struct gss_app *app);
void app_modules_free(struct gss_app *app);

#endif
