/*
 * app.c: start-up and shutdown of `gssd serve`.
 *
 * Start: load config-derived state (web files, routes), open the listener,
 * then start PostgreSQL and Redis clients; they connect in the background
 * and /readyz says when both are there. The process serves /healthz and
 * static files even while a backing store is still down.
 *
 * Stop (SIGTERM or SIGINT): stop accepting, let in-flight requests finish
 * within GSS_SHUTDOWN_TIMEOUT_MS, then close the store clients and every
 * handle; uv_run returns when no handle is left and uv_loop_close must then
 * return 0 (a leaked handle is a bug, reported in the exit status). A second
 * signal skips the wait.
 */
#include "app/app.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/links.h"
#include "core/log.h"
#include "http/handlers/handlers.h"
#include "http/ratelimit.h"
#include "http/routes.h"
#include "http/server.h"
#include "http/static.h"
#include "store/pg.h"
#include "store/redis.h"
#include "store/sub.h"

static void app_close_all(struct gss_app *app);

static bool serve_web(void *ud, struct http_req *req)
{
    return http_static_serve(ud, req);
}

/* The public links' state (docs/money.md): the key, the rate limiter of the
 * public API, and the QRIS image, read once here so that serving it
 * never touches the disk. A bad key or an unreadable image stops the start:
 * both are configuration the operator asked for. */
#define PUBLIC_RL_ADDRESSES 65536 /* ~3 MiB of buckets */
#define QRIS_MAX_BYTES      (2u << 20)

static int public_start(struct gss_services *svc, struct links *links, char **qris)
{
    char err[160];
    int  rc = links_init(links, svc->cfg->link_key, err, sizeof(err));
    if (rc < 0) {
        log_error("start", "%s", err);
        return -1;
    }
    if (rc == 1)
        log_warn("start", "GSS_LINK_KEY is not set: this process made up its own key, so the customer's links stop "
                          "working when it exits and other gssd processes cannot open them; set the same key on "
                          "every gssd (scripts/run.sh keeps one in var/link.key)");
    svc->links = links;
    svc->public_rl = ratelimit_new(PUBLIC_RL_ADDRESSES, (double)svc->cfg->public_rate_per_min,
                                   (double)svc->cfg->public_rate_burst, 0);
    if (!svc->public_rl) {
        log_error("start", "GSS_PUBLIC_RATE_PER_MIN and GSS_PUBLIC_RATE_BURST must be at least 1");
        return -1;
    }
    const char *path = svc->cfg->pay_qris_image;
    if (!path || !path[0])
        return 0;
    FILE       *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 8 ||
        (uint64_t)st.st_size > QRIS_MAX_BYTES) {
        log_error("start", "GSS_PAY_QRIS_IMAGE %s: not a readable file of 8 bytes to 2 MiB", path);
        if (f)
            fclose(f);
        return -1;
    }
    char *data = xmalloc((size_t)st.st_size);
    bool  ok = fread(data, 1, (size_t)st.st_size, f) == (size_t)st.st_size;
    fclose(f);
    if (!ok || memcmp(data, "\x89PNG\r\n\x1a\n", 8) != 0) {
        log_error("start", "GSS_PAY_QRIS_IMAGE %s: not a PNG file", path);
        free(data);
        return -1;
    }
    *qris = data;
    svc->qris_png = data;
    svc->qris_len = (size_t)st.st_size;
    return 0;
}

/* Undoes public_start, all of it or the part a failed one did. */
static void public_stop(struct gss_services *svc, struct links *links, char *qris)
{
    ratelimit_free(svc->public_rl);
    svc->public_rl = NULL;
    free(qris);
    svc->qris_png = NULL;
    svc->qris_len = 0;
    links_wipe(links);
    svc->links = NULL;
}

static void on_drained(struct http_server *srv)
{
    struct gss_app *app = container_of(srv->svc, struct gss_app, svc);
    app_close_all(app);
}

static void on_stop_deadline(uv_timer_t *t)
{
    struct gss_app *app = t->data;
    /* Work that is not a connection (timers of debug routes) ends here too. */
    debug_cancel_all(&app->svc);
}

static void begin_stop(struct gss_app *app, int signum)
{
    if (app->svc.stopping) {
        log_warn("shutdown", "second signal %d: closing connections now", signum);
        debug_cancel_all(&app->svc);
        http_server_drain(app->svc.http, 0, on_drained);
        return;
    }
    app->svc.stopping = true;
    log_info("shutdown", "signal %d: draining (up to %lld ms)", signum, (long long)app->cfg.shutdown_timeout_ms);
    uv_timer_start(&app->stop_timer, on_stop_deadline, (uint64_t)app->cfg.shutdown_timeout_ms, 0);
    http_server_drain(app->svc.http, (uint64_t)app->cfg.shutdown_timeout_ms, on_drained);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct gss_app *app = h->data;
    if (signum == SIGHUP) {
        struct static_files fresh;
        if (static_load(&fresh, app->cfg.web_dir) == 0) {
            static_free(app->svc.web);
            *app->svc.web = fresh;
            log_info("static", "reloaded %zu files from %s", fresh.n, app->cfg.web_dir);
        }
        return;
    }
    begin_stop(app, signum);
}

static void app_close_all(struct gss_app *app)
{
    debug_cancel_all(&app->svc);
    app_modules_stop(app);
    if (app->svc.pg)
        pg_pool_close(app->svc.pg);
    if (app->svc.redis)
        rds_close(app->svc.redis);
    if (app->svc.redis_sub)
        rds_close(app->svc.redis_sub);
    http_server_close(app->svc.http);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sighup, NULL);
    uv_close((uv_handle_t *)&app->stop_timer, NULL);
}

int app_serve(struct gss_app *app)
{
    char       err[256];
    int        rc, exit_code = 0;
    uv_loop_t *loopp = &app->loop_storage;
    uv_loop_init(loopp);
    struct gss_services *svc = &app->svc;
    svc->loop = loopp;
    svc->cfg = &app->cfg;
#define loop (*loopp)
    signal(SIGPIPE, SIG_IGN);

    struct static_files web;
    struct http_server  http;
    struct pg_pool      pg;
    struct rds          redis, redis_sub;
    svc->web = &web;
    svc->http = &http;
    svc->pg = &pg;
    svc->redis = &redis;
    svc->redis_sub = &redis_sub;
    /* svc->argon2 and svc->render stay NULL until those pools exist. */
    struct links links;
    char        *qris = NULL;
    if (public_start(svc, &links, &qris) < 0) {
        /* nothing left behind: the buckets' 3 MiB, the loop (leaks under ASan) */
        public_stop(svc, &links, qris);
        uv_loop_close(&loop);
        return 1;
    }

    if (static_load(&web, app->cfg.web_dir) < 0)
        memset(&web, 0, sizeof(web)); /* serve the API even without a web folder */
    router_init(&app->router);
    http_routes(&app->router, &app->cfg);

    if ((rc = http_server_init(&http, svc, &app->router)) < 0) {
        log_error("start", "http server: %s", uv_strerror(rc));
        return 1;
    }
    /* Paths no route claims are the web app's files. */
    http.fallback = serve_web;
    http.fallback_ud = &web;
    char host[64];
    int  port;
    config_split_hostport(app->cfg.listen, host, sizeof(host), &port);
    if ((rc = http_server_listen(&http, host, port, app->cfg.workers > 1)) < 0) {
        log_error("start", "cannot listen on %s: %s", app->cfg.listen, uv_strerror(rc));
        http_server_close(&http);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        public_stop(svc, &links, qris);
        static_free(&web);
        router_free(&app->router);
        return 1;
    }
    if (pg_pool_init(&pg, &loop, app->cfg.database_url, (int)app->cfg.pg_pool_size, err, sizeof(err)) < 0) {
        log_error("start", "%s", err);
        return 1;
    }
    pg_pool_set_statement_timeout(&pg, app->cfg.pg_statement_timeout_ms);
    pg_pool_set_tx_timeout(&pg, app->cfg.pg_tx_timeout_ms);
    if (rds_init(&redis, &loop, app->cfg.redis_url, "main") < 0 ||
        rds_init(&redis_sub, &loop, app->cfg.redis_url, "sub") < 0) {
        log_error("start", "bad GSS_REDIS_URL %s", app->cfg.redis_url);
        return 1;
    }
    struct sub_state sub;
    sub_init(&sub, &redis_sub);
    svc->sub = &sub;
    if (app_modules_start(app) < 0)
        return 1;
    pg_pool_start(&pg);
    rds_start(&redis);
    rds_start(&redis_sub);

    uv_signal_init(&loop, &app->sigint);
    uv_signal_init(&loop, &app->sigterm);
    uv_signal_init(&loop, &app->sighup);
    app->sigint.data = app->sigterm.data = app->sighup.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_signal_start(&app->sighup, on_signal, SIGHUP);
    uv_timer_init(&loop, &app->stop_timer);
    app->stop_timer.data = app;

    log_info("start", "gssd serving on http://%s (pid %d, web %zu files)", app->cfg.listen, (int)getpid(), web.n);
    uv_run(&loop, UV_RUN_DEFAULT);

    rc = uv_loop_close(&loop);
    if (rc != 0) {
        log_error("shutdown", "loop still has handles: %s", uv_strerror(rc));
        uv_print_all_handles(&loop, stderr);
        exit_code = 1;
    }
    app_modules_free(app);
    sub_free(&sub);
    public_stop(svc, &links, qris);
    static_free(&web);
    router_free(&app->router);
    log_info("shutdown complete", "exit %d", exit_code);
    return exit_code;
#undef loop
}
