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
 *
 * The invoice channel (<GSS_REDIS_PREFIX>:invoice, store/invoice_events.h)
 * goes to cs, sales and admin sockets, not to technicians: the money
 * handlers publish invoice.updated after each committed action. The events
 * have no seq (a screen refetches the invoice, so order does not matter);
 * after a gap, {"type":"invoice.resync"} tells the screens to refetch.
 *
 * The inbox channel (<GSS_REDIS_PREFIX>:inbox, store/inbox_events.h) goes
 * to cs and admin sockets only (docs/inbox.md): the webhook and the inbox
 * handlers publish inbox.message / inbox.status / inbox.read after COMMIT;
 * after a gap, {"type":"inbox.resync"}.
 */
#include "app/live.h"

#include <stdio.h>
#include <string.h>

#include "auth/roles.h"
#include "core/config.h"
#include "http/services.h"
#include "http/ws.h"
#include "pool/monitor.h"
#include "pool/pool.h"
#include "store/inbox_events.h"
#include "store/invoice_events.h"
#include "store/sub.h"

/* Who sees invoices (DESIGN.md §5: invoice.* for Sales and CS). */
#define LIVE_INVOICE_ROLES (ROLE_CS | ROLE_SALES | ROLE_ADMIN)
/* Who sees the WhatsApp inbox (docs/inbox.md). */
#define LIVE_INBOX_ROLES (ROLE_CS | ROLE_ADMIN)

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
    static const char    msg[] = "{\"type\":\"monitor.resync\"}";
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_broadcast(svc->hub, ROLE_CS | ROLE_ADMIN, msg, sizeof(msg) - 1);
}

static void on_invoice(void *ud, const char *msg, size_t len)
{
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_broadcast(svc->hub, LIVE_INVOICE_ROLES, msg, len);
}

static void on_invoice_resync(void *ud)
{
    static const char    msg[] = INVOICE_EVENTS_RESYNC;
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_broadcast(svc->hub, LIVE_INVOICE_ROLES, msg, sizeof(msg) - 1);
}

static void on_inbox(void *ud, const char *msg, size_t len)
{
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_broadcast(svc->hub, LIVE_INBOX_ROLES, msg, len);
}

static void on_inbox_resync(void *ud)
{
    static const char    msg[] = INBOX_EVENTS_RESYNC;
    struct gss_services *svc = ud;
    if (svc->hub)
        ws_hub_broadcast(svc->hub, LIVE_INBOX_ROLES, msg, sizeof(msg) - 1);
}

int live_start(struct gss_services *svc)
{
    char invoice_channel[128], inbox_channel[128];
    if (sub_register(svc->sub, svc->pool->channel, on_live, on_resync, svc) < 0)
        return -1;
    if (svc->monitor && sub_register(svc->sub, svc->monitor->channel, on_monitor, on_monitor_resync, svc) < 0)
        return -1;
    if (invoice_events_channel(svc->cfg->redis_prefix, invoice_channel, sizeof(invoice_channel)) < 0 ||
        sub_register(svc->sub, invoice_channel, on_invoice, on_invoice_resync, svc) < 0) /* the name is copied */
        return -1;
    if (inbox_events_channel(svc->cfg->redis_prefix, inbox_channel, sizeof(inbox_channel)) < 0 ||
        sub_register(svc->sub, inbox_channel, on_inbox, on_inbox_resync, svc) < 0)
        return -1;
    return 0;
}
