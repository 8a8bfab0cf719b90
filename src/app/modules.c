/*
 * modules: the feature modules' start and stop, in one place, so app.c does
 * not grow a line per feature, and the wiring between them: each module gets
 * its dependencies one by one, and what one must tell another (sessions
 * ended -> WebSocket boards closed; pool changes -> boards) goes through a
 * callback set here. Order matters: start after the store clients exist;
 * stop before they close.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/app.h"
#include "app/live.h"
#include "auth/auth.h"
#include "core/log.h"
#include "http/auth_step.h"
#include "http/handlers/handlers.h"
#include "http/handlers/letter.h"
#include "http/handlers/replace.h"
#include "http/server.h"
#include "http/ws.h"
#include "integrations/curl_loop.h"
#include "integrations/outbox.h"
#include "integrations/outbox_channels.h"
#include "integrations/wa_media.h"
#include "pool/monitor.h"
#include "pool/persister.h"
#include "pool/pool.h"
#include "store/inbox_events.h"
#include "store/invoice_events.h"

/* An invalidation named one session: its live boards must stop receiving. */
static void on_session_ended(void *ud, const char *token_hash)
{
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_close_session(svc->hub, token_hash);
}

/* An invalidation named a user (deactivated, role changed, ...). */
static void on_user_killed(void *ud, int64_t uid)
{
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_close_user(svc->hub, uid);
}

/* GSS_AUTO_REPLACE_AFTER_S: the monitor found a no-show past it. */
static void on_auto_replace(void *ud, int64_t ticket_id, int64_t tech_id)
{
    struct gss_services *svc = ud;
    if (replace_auto(svc, ticket_id, tech_id) < 0)
        log_warn("monitor", "auto-replace of technician %lld on ticket %lld could not start; next scan retries",
                 (long long)tech_id, (long long)ticket_id);
}

/* Rendering is CPU-bound: two render threads on a two-core machine left
 * the loop to fight for a core (measured: /healthz p99 0.4 -> 8.5 ms while
 * letters rendered; 1.2 ms with one thread). By default one core stays the
 * loop's. */
static unsigned render_threads(const struct gss_config *cfg)
{
    if (cfg->render_threads > 0)
        return (unsigned)cfg->render_threads;
    unsigned cores = uv_available_parallelism();
    return cores > 1 ? cores - 1 : 1;
}

/* Why url cannot be a Telegram button's URL ("" when it can): Telegram
 * accepts only public https URLs in inline buttons and refuses the whole
 * message otherwise (400 BUTTON_URL_INVALID). Not exhaustive (it does not
 * resolve names): unset, not https, a host without a dot, localhost, .local
 * / .localhost / .internal names, loopback, private, link-local, CGNAT and
 * unspecified IPv4, and IPv6 literals that are loopback, link-local or
 * unique-local. */
static const char *tg_url_problem(const char *url)
{
    if (!url || !url[0])
        return "GSS_PUBLIC_URL is unset";
    if (strncasecmp(url, "https://", 8) != 0)
        return "GSS_PUBLIC_URL is not https";
    const char *h = url + 8, *end = h + strcspn(h, "/?#");
    const char *at = memchr(h, '@', (size_t)(end - h));
    if (at)
        h = at + 1;
    char   host[256];
    size_t n = 0;
    if (*h == '[') { /* an IPv6 literal */
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (!close || (size_t)(close - h - 1) >= sizeof(host))
            return "GSS_PUBLIC_URL has no valid host";
        n = (size_t)(close - h - 1);
        memcpy(host, h + 1, n);
        host[n] = '\0';
        for (size_t i = 0; i < n; i++)
            host[i] = (char)tolower((unsigned char)host[i]);
        bool link_local = !strncmp(host, "fe8", 3) || !strncmp(host, "fe9", 3) || !strncmp(host, "fea", 3) ||
                          !strncmp(host, "feb", 3);
        bool unique_local = host[0] == 'f' && (host[1] == 'c' || host[1] == 'd');
        if (!strcmp(host, "::1") || !strcmp(host, "::") || link_local || unique_local)
            return "GSS_PUBLIC_URL names a loopback or private address";
        return "";
    }
    n = strcspn(h, ":/?#");
    if (h + n > end)
        n = (size_t)(end - h);
    while (n && h[n - 1] == '.')
        n--; /* "example.com." is example.com */
    if (n == 0 || n >= sizeof(host))
        return "GSS_PUBLIC_URL has no valid host";
    for (size_t i = 0; i < n; i++)
        host[i] = (char)tolower((unsigned char)h[i]);
    host[n] = '\0';
    unsigned a, b, c, d;
    char     rest;
    if (sscanf(host, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &rest) == 4) {
        if (a == 0 || a == 10 || a == 127 || (a == 169 && b == 254) || (a == 172 && b >= 16 && b <= 31) ||
            (a == 192 && b == 168) || (a == 100 && b >= 64 && b <= 127))
            return "GSS_PUBLIC_URL names a loopback or private address";
        return "";
    }
    size_t hl = strlen(host);
#define ENDS_WITH(sfx) (hl >= sizeof(sfx) - 1 && !strcmp(host + hl - (sizeof(sfx) - 1), sfx))
    if (!strchr(host, '.') || ENDS_WITH(".localhost") || ENDS_WITH(".local") || ENDS_WITH(".internal") ||
        ENDS_WITH(".lan") || ENDS_WITH(".home.arpa"))
        return "GSS_PUBLIC_URL names a local host";
#undef ENDS_WITH
    return "";
}

/* Outgoing messages (DESIGN.md §6): one curl multi for every outgoing
 * request, and the outbox sender with its two channels. With --workers the
 * first worker sends for all (the channels' rate limits are per process).
 * A channel without its token is off, never a start-up error. */
static int outgoing_start(struct gss_app *app)
{
    const struct gss_config *cfg = &app->cfg;
    struct ihttp_options     ho = {.timeout_ms = cfg->http_timeout_ms,
                                   .connect_timeout_ms = cfg->http_timeout_ms < 3000 ? cfg->http_timeout_ms : 3000};
    app->http_out = xcalloc(1, sizeof(*app->http_out));
    if (ihttp_init(app->http_out, app->svc.loop, &ho) < 0) {
        free(app->http_out);
        app->http_out = NULL;
        log_error("start", "libcurl could not be set up");
        return -1;
    }
    if (app->svc.worker_id != 0)
        return 0;
    /* Said once, at start, by the process that sends; not a refusal (the
     * tests' fakes are plain http on loopback). */
    const char *url_problem = tg_url_problem(cfg->public_url);
    if (cfg->telegram_token && cfg->telegram_token[0] && url_problem[0])
        log_warn("start",
                 "%s: Telegram refuses button URLs that are not public https: job and approval buttons will fail "
                 "with BUTTON_URL_INVALID",
                 url_problem);
    char                  err[256];
    struct outbox_options oo = {
        .database_url = cfg->database_url,
        .poll_ms = cfg->outbox_poll_ms,
        .max_attempts = (int)cfg->outbox_max_attempts,
        .backoff_ms = cfg->outbox_backoff_ms,
        .send_timeout_ms = cfg->http_timeout_ms,
        .tx_timeout_ms = cfg->pg_tx_timeout_ms,
        .statement_timeout_ms = cfg->pg_statement_timeout_ms,
        .tg_ts_chat = cfg->telegram_ts_chat, /* job broadcasts */
        .tg_job_dm = cfg->telegram_job_dm,
    };
    app->outbox = outbox_new(app->svc.loop, app->http_out, &oo, err, sizeof(err));
    if (!app->outbox) {
        log_error("start", "outbox: %s", err);
        return -1;
    }
    app->channels = xcalloc(2, sizeof(*app->channels));
    outbox_tg_channel(&app->channels[0], cfg->telegram_token, cfg->telegram_api_base);
    outbox_tg_public_url(&app->channels[0], cfg->public_url); /* Sales' approval button */
    outbox_tg_jobs(&app->channels[0], cfg->telegram_bot_username, cfg->telegram_miniapp); /* job button */
    outbox_wa_channel(&app->channels[1], cfg->wa_token, cfg->wa_api_base, cfg->wa_phone_number_id);
    /* the customer's invoice and rating links (docs/whatsapp.md "Sending") */
    outbox_wa_links(&app->channels[1], app->svc.links, cfg->public_url, cfg->wa_template_invoice,
                    cfg->wa_template_lang);
    if (outbox_add_channel(app->outbox, &app->channels[0]) < 0 ||
        outbox_add_channel(app->outbox, &app->channels[1]) < 0)
        return -1;
    outbox_start(app->outbox);
    app->svc.outbox = app->outbox; /* handlers kick it after a COMMIT that queued a row */
    /* incoming WhatsApp photos, fetched at once (docs/whatsapp.md "Photos") */
    struct wa_media_options wo = {
        .token = cfg->wa_token,
        .api_base = cfg->wa_api_base,
        .upload_dir = cfg->upload_dir,
        .poll_ms = cfg->outbox_poll_ms,
        .backoff_ms = cfg->outbox_backoff_ms,
        .timeout_ms = cfg->http_timeout_ms,
        .max_bytes = cfg->upload_photo_max,
        .redis = app->svc.redis,
        .redis_prefix = cfg->redis_prefix,
    };
    app->wa_media = wa_media_new(app->svc.loop, app->http_out, app->svc.pg, &wo);
    wa_media_start(app->wa_media);
    app->svc.wa_media = app->wa_media; /* the WhatsApp webhook kicks it after storing a photo's id */
    return 0;
}

int app_modules_start(struct gss_app *app)
{
    struct gss_services *svc = &app->svc;
    svc->metrics_extra = app_metrics_extra;
    /* CPU-heavy work off the loop, each kind on threads of its own with a
     * bounded queue: a burst of logins never delays a letter, and the
     * other way round (DESIGN.md §2). */
    if (workers_init(&app->argon2, svc->loop, "argon2", (unsigned)app->cfg.argon2_threads,
                     (unsigned)(app->cfg.argon2_queue + app->cfg.argon2_threads)) < 0 ||
        workers_init(&app->render, svc->loop, "render", render_threads(&app->cfg),
                     (unsigned)app->cfg.render_queue + render_threads(&app->cfg)) < 0) {
        log_error("start", "cannot start the worker threads");
        return -1;
    }
    app->workers_up = true;
    svc->argon2 = &app->argon2;
    svc->render = &app->render;
    svc->letters = letter_cache_new();
    /* an upload writes at least once per body deadline; older .part files
     * belong to no live upload of any process sharing the folder */
    if (attachments_prepare(app->cfg.upload_dir, app->cfg.upload_deadline_ms + 60000) < 0)
        return -1;
    /* sessions (auth.c) and the auth step (http/auth_step.c) */
    svc->auth = auth_start(svc->loop, svc->cfg, svc->redis, svc->sub);
    if (!svc->auth)
        return -1;
    struct auth_events ev = {.on_session_ended = on_session_ended, .on_user_killed = on_user_killed, .ud = svc};
    auth_set_events(svc->auth, &ev);
    svc->http->auth = http_auth_step;
    /* the WebSocket hub (before anything that broadcasts) */
    svc->hub = ws_hub_new(svc);
    /* the pool */
    svc->pool = xcalloc(1, sizeof(*svc->pool));
    if (pool_init(svc->pool, svc->cfg, svc->redis) < 0)
        return -1;
    /* the visit scanner and monitor.* events (before live_start, which
     * forwards its channel) */
    svc->monitor = xcalloc(1, sizeof(*svc->monitor));
    if (monitor_start(svc->monitor, svc->loop, svc->cfg, svc->pg, svc->redis) < 0)
        return -1;
    if (svc->cfg->auto_replace_after_s > 0)
        monitor_set_auto_replace(svc->monitor, on_auto_replace, svc);
    if (live_start(svc) < 0)
        return -1;
    app->persister = xcalloc(1, sizeof(*app->persister));
    if (persister_start(app->persister, svc->loop, svc->cfg, svc->pg, svc->pool, svc->worker_id) < 0)
        return -1;
    if (outgoing_start(app) < 0)
        return -1;
    return 0;
}

void app_modules_stop(struct gss_app *app)
{
    if (app->workers_up) {
        /* jobs not started are cancelled (their requests get 503); the
         * loop runs until the threads have finished */
        workers_close(&app->argon2, NULL);
        workers_close(&app->render, NULL);
    }
    auth_stop(app->svc.auth);
    ws_hub_stop(app->svc.hub);
    if (app->svc.monitor)
        monitor_stop(app->svc.monitor);
    if (app->persister)
        persister_stop(app->persister);
    /* the batch in flight finishes (its requests end within their timeout),
     * then the sender's pool closes; the curl multi closes after them */
    if (app->outbox)
        outbox_stop(app->outbox);
    wa_media_stop(app->wa_media);
    if (app->http_out)
        ihttp_close(app->http_out, (uint64_t)app->cfg.http_timeout_ms);
}

void app_modules_free(struct gss_app *app)
{
    letter_cache_free(app->svc.letters);
    app->svc.letters = NULL;
    auth_free(app->svc.auth);
    app->svc.auth = NULL;
    ws_hub_free(app->svc.hub);
    app->svc.hub = NULL;
    if (app->persister) {
        persister_free(app->persister);
        free(app->persister);
        app->persister = NULL;
    }
    app->svc.outbox = NULL;
    app->svc.wa_media = NULL;
    outbox_free(app->outbox);
    app->outbox = NULL;
    wa_media_free(app->wa_media);
    app->wa_media = NULL;
    if (app->channels) {
        outbox_channel_free(&app->channels[0]);
        outbox_channel_free(&app->channels[1]);
        free(app->channels);
        app->channels = NULL;
    }
    if (app->http_out) {
        ihttp_free(app->http_out);
        free(app->http_out);
        app->http_out = NULL;
    }
    free(app->svc.pool);
    app->svc.pool = NULL;
    if (app->svc.monitor) {
        monitor_free(app->svc.monitor);
        free(app->svc.monitor);
        app->svc.monitor = NULL;
    }
}

void app_metrics_extra(struct gss_services *svc, struct buf *b)
{
    struct gss_app *app = container_of(svc, struct gss_app, svc);
    auth_metrics(svc->auth, b);
    ws_hub_metrics(svc->hub, b);
    if (svc->pool)
        pool_metrics(svc->pool, b);
    if (app->persister)
        persister_metrics(app->persister, b);
    if (svc->monitor)
        monitor_metrics(svc->monitor, b);
    if (app->workers_up) {
        workers_metrics(&app->argon2, b, "gss_argon2");
        workers_metrics(&app->render, b, "gss_render");
    }
    letter_cache_metrics(svc->letters, b);
    ihttp_metrics(app->http_out, b);
    outbox_metrics(app->outbox, b);
    wa_media_metrics(app->wa_media, b);
    invoice_events_metrics(b);
    inbox_events_metrics(b);
}
