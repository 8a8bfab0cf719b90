/*
 * invoice_events: PUBLISH of the invoice.* events (contract in
 * invoice_events.h).
 */
#include "store/invoice_events.h"

#include <stdbool.h>

#include "core/jw.h"
#include "core/log.h"
#include "store/events.h"

static struct events_stats stats = {.who = "invoice_events"};

int invoice_events_channel(const char *prefix, char *out, size_t n)
{
    return events_channel(prefix, INVOICE_EVENTS_SUFFIX, out, n);
}

void invoice_events_format(struct buf *b, const struct invoice_event *ev)
{
    jw_obj(b);
    jw_key_str(b, "type", "invoice.updated");
    jw_key(b, "data");
    jw_obj(b);
    jw_key_int(b, "id", ev->id);
    jw_key_int(b, "ticket_id", ev->ticket_id);
    jw_key_str(b, "number", ev->number);
    jw_key_str(b, "status", ev->status);
    jw_key_str(b, "action", ev->action);
    jw_end_obj(b);
    jw_end_obj(b);
}

int invoice_events_publish(struct rds *r, const char *prefix, const struct invoice_event *ev)
{
    struct buf msg = {0};
    bool       formed = ev && ev->id > 0 && ev->ticket_id > 0;
    if (formed)
        invoice_events_format(&msg, ev);
    int rc = events_publish(r, prefix, INVOICE_EVENTS_SUFFIX, formed ? msg.data : NULL, msg.len, &stats);
    buf_free(&msg);
    if (rc < 0)
        log_warn("invoice_events", "invoice %lld (%s): invoice.updated not published; screens catch up by polling",
                 ev ? (long long)ev->id : 0LL, ev && ev->action ? ev->action : "?");
    return rc;
}

void invoice_events_metrics(struct buf *b)
{
    events_metrics(b, "gss_invoice_events", "invoice.updated events", &stats);
}
