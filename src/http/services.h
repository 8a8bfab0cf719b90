/*
 * services: what a request handler (and the HTTP server, the WebSocket hub,
 * the auth step) may reach of the running process.
 *
 * The composition root (src/app/app.c) owns every object named here, fills
 * this struct at start-up, before the first connection, and clears nothing
 * until the loop has returned; a handler reaches it as req->svc and may use
 * any pointer for as long as it holds its request. A pointer is NULL while
 * its module is not running (a store client that failed to start, a module
 * not built yet): code that can run then checks.
 *
 * This header only names the types (forward declarations): include the
 * module's own header (store/pg.h, pool/pool.h, auth/auth.h, ...) to use
 * one. Nothing below src/http/ sees this struct: lower layers get their
 * dependencies one by one.
 *
 * Threads: loop thread only.
 */
#ifndef GSS_HTTP_SERVICES_H
#define GSS_HTTP_SERVICES_H

#include <stdbool.h>
#include <uv.h>

struct auth_state;
struct buf;
struct gss_config;
struct http_server;
struct letter_cache;
struct links;
struct monitor;
struct outbox;
struct pg_pool;
struct pool_service;
struct ratelimit;
struct rds;
struct static_files;
struct sub_state;
struct wa_media;
struct workers;
struct ws_hub;

struct gss_services {
    uv_loop_t               *loop;
    const struct gss_config *cfg;
    struct http_server      *http;
    struct pg_pool          *pg;
    struct rds              *redis;     /* commands and scripts */
    struct rds              *redis_sub; /* SUBSCRIBE only (sub) */
    struct sub_state        *sub;       /* channel dispatch on redis_sub */
    struct pool_service     *pool;
    struct monitor          *monitor; /* visit scanner and monitor.* events (pool/monitor.h) */
    struct auth_state       *auth;
    struct ws_hub           *hub;
    struct static_files     *web;            /* the web app's files (static.c); reloaded on SIGHUP */
    struct workers          *argon2;         /* password hashing pool (core/workers.h); NULL until it exists */
    struct workers          *render;         /* PDF/QR rendering pool; NULL until it exists */
    struct letter_cache     *letters; /* Surat Tugas PDFs (handlers/letter.c) */
    const struct links      *links;          /* the public links' key (auth/links.h, docs/money.md) */
    struct ratelimit        *public_rl;      /* per-address buckets of the public API (http/ratelimit.h) */
    /* The senders on the loop, so a handler that committed work for one
     * hurries it instead of waiting for its next poll: outbox_kick after
     * a COMMIT that queued an outbox row (integrations/outbox.h),
     * wa_media_kick after one that stored a message with a media id
     * (integrations/wa_media.h). NULL in every --workers process but the
     * first (it sends for all; the others' rows wait for its poll); both
     * kicks take NULL and do nothing. */
    struct outbox           *outbox;
    struct wa_media         *wa_media;
    const char              *qris_png;       /* GSS_PAY_QRIS_IMAGE, read at start-up; NULL: none */
    size_t                   qris_len;
    void                    *debug_sleepers; /* GSS_DEBUG_ROUTES only (handlers/debug.c) */
    int                      worker_id;      /* 0 for the only or first worker */
    bool                     stopping;       /* a shutdown signal arrived */
    /* Appends the metrics of modules the HTTP layer does not know (pool,
     * persister, sessions, WebSocket) to /metrics; set by the composition
     * root, may be NULL. */
    void (*metrics_extra)(struct gss_services *svc, struct buf *b);
};

#endif
