/*
 * live: forwards the pool's live channel (P:live) to every WebSocket board
 * of this process. Lua scripts publish each change already encoded as the
 * JSON text clients receive, so a message is passed through untouched:
 * encoded once into one frame, written to every socket (ws.c).
 * If the subscription drops, messages published meanwhile are lost; boards
 * are told to resync (fetch GET /api/v1/pool again) when it comes back.
 */
#include <stdio.h>

#include "auth/session.h"
#include "core/app.h"
#include "http/router.h"
#include "http/ws.h"
#include "pool/live.h"
#include "pool/pool.h"
#include "pool/sub.h"

static void on_live(void *ud, const char *msg, size_t len)
{
    struct gss_app *app = ud;
    app->pool->broadcasts++;
    if (app->hub)
        ws_hub_broadcast(app->hub, ROLE_TS | ROLE_CS | ROLE_ADMIN, msg, len);
}

static void on_resync(void *ud)
{
    struct gss_app *app = ud;
    if (app->hub)
        ws_hub_broadcast_resync(app->hub);
}

int live_start(struct gss_app *app)
{
    return sub_register(app->sub, app->pool->channel, on_live, on_resync, app);
}
