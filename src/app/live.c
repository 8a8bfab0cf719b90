/*
 * live: forwards the pool's live channel (P:live) to every WebSocket board
 * of this process. Lua scripts publish each change already encoded as the
 * JSON text clients receive, so a message is passed through untouched:
 * encoded once into one frame, written to every socket (ws.c).
 * If the subscription drops, messages published meanwhile are lost; boards
 * are told to resync (fetch GET /api/v1/pool again) when it comes back.
 */
#include "app/live.h"

#include <stdio.h>

#include "auth/roles.h"
#include "http/services.h"
#include "http/ws.h"
#include "pool/pool.h"
#include "store/sub.h"

static void on_live(void *ud, const char *msg, size_t len)
{
    struct gss_services *svc = ud;
    svc->pool->broadcasts++;
    if (svc->hub)
        ws_hub_broadcast(svc->hub, ROLE_TS | ROLE_CS | ROLE_ADMIN, msg, len);
}

static void on_resync(void *ud)
{
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_broadcast_resync(svc->hub);
}

int live_start(struct gss_services *svc)
{
    return sub_register(svc->sub, svc->pool->channel, on_live, on_resync, svc);
}
