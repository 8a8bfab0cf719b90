/*
 * modules: the feature modules' start and stop, in one place, so app.c does
 * not grow a line per feature. Order matters: start after the store clients
 * exist; stop before they close.
 */
#include "core/app.h"

int app_modules_start(struct gss_app *app)
{
    (void)app;
    return 0;
}

void app_modules_stop(struct gss_app *app)
{
    (void)app;
}

void app_modules_free(struct gss_app *app)
{
    (void)app;
}

void app_metrics_extra(struct gss_app *app, struct buf *b)
{
    (void)app;
    (void)b;
}
