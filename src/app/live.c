/*
 * live: forwards the pool's live channel (P:live) to every WebSocket board
 * of this process, and the monitor channel (P:monitor) to its cs and admin
 * sockets. Lua scripts publish each message already encoded as the JSON
 * text clients receive, so a message is passed through untouched: encoded
 * once into one frame, written to every socket (ws.c).
 * If the subscription drops, messages published meanwhile are lost; boards
 * are told to resync (fetch GET /api/v1/pool again) when it comes back, and
 * monitor screens get {"type":"monitor.resync"} (fetch GET /api/v1/monitor
 * again and drop events whose seq it already covers).
 */
#include "app/live.h"

#include <stdio.h>
#include <string.h>

#include "auth/roles.h"
#include "http/services.h"
#include "http/ws.h"
#include "pool/monitor.h"
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

static void on_monitor(void *ud, const char *msg, size_t len)
{
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_broadcast(svc->hub, ROLE_CS | ROLE_ADMIN, msg, len);
}

static void on_monitor_resync(void *ud)
{
    static const char msg[] = "{\"type\":\"monitor.resync\"}";
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_broadcast(svc->hub, ROLE_CS | ROLE_ADMIN, msg, sizeof(msg) - 1);
}

int live_start(struct gss_services *svc)
{
    if (sub_register(svc->sub, svc->pool->channel, on_live, on_resync, svc) < 0)
        return -1;
    if (svc->monitor && sub_register(svc->sub, svc->monitor->channel, on_monitor, on_monitor_resync, svc) < 0)
        return -1;
    return 0;
}
