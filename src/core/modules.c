/*
 * modules: the feature modules' start and stop, in one place, so app.c does
 * not grow a line per feature. Order matters: start after the store clients
 * exist; stop before they close.
 */
#include <stdlib.h>

#include "auth/auth.h"
#include "core/app.h"
#include "http/ws.h"
#include "pool/live.h"
#include "pool/persister.h"
#include "pool/pool.h"

int app_modules_start(struct gss_app *app)
{
    /* sessions and the auth step (auth.c) */
    if (auth_start(app) < 0)
        return -1;
    /* the WebSocket hub (before anything that broadcasts) */
    app->hub = ws_hub_new(app);
    /* the pool */
    app->pool = xcalloc(1, sizeof(*app->pool));
    if (pool_init(app->pool, app) < 0)
        return -1;
    if (live_start(app) < 0)
        return -1;
    app->persister = xcalloc(1, sizeof(*app->persister));
    if (persister_start(app->persister, app) < 0)
        return -1;
    return 0;
}

void app_modules_stop(struct gss_app *app)
{
    auth_stop(app);
    ws_hub_stop(app->hub);
    if (app->persister)
        persister_stop(app->persister);
}

void app_modules_free(struct gss_app *app)
{
    auth_free(app);
    ws_hub_free(app->hub);
    app->hub = NULL;
    if (app->persister) {
        persister_free(app->persister);
        free(app->persister);
        app->persister = NULL;
    }
    free(app->pool);
    app->pool = NULL;
}

void app_metrics_extra(struct gss_app *app, struct buf *b)
{
    auth_metrics(app, b);
    ws_hub_metrics(app->hub, b);
    if (app->pool)
        pool_metrics(app->pool, b);
    if (app->persister)
        persister_metrics(app->persister, b);
}
