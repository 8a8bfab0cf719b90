/*
 * invoice_events: PUBLISH of the invoice.* events (contract in
 * invoice_events.h).
 */
#include "store/invoice_events.h"

#include <stdio.h>
#include <string.h>

#include "core/jw.h"
#include "core/log.h"
#include "store/redis.h"

/* Since start; the loop thread is the only writer. */
static uint64_t published, errors;

int invoice_events_channel(const char *prefix, char *out, size_t n)
{
    int len = snprintf(out, n, "%s:%s", prefix ? prefix : "", INVOICE_EVENTS_SUFFIX);
    return len < 0 || (size_t)len >= n ? -1 : 0;
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

/* The reply of a PUBLISH (the number of subscribers that got it, which
 * says nothing: another gssd may have none). NULL: the connection went
 * away with the command queued. */
static void on_published(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *r = reply;
    (void)ac;
    (void)priv;
    if (r && r->type != REDIS_REPLY_ERROR) {
        published++;
        return;
    }
    errors++;
    log_warn("invoice_events", "PUBLISH failed: %s", r ? r->str : "connection lost");
}

int invoice_events_publish(struct rds *r, const char *prefix, const struct invoice_event *ev)
{
    char channel[128];
    int  rc = -1;
    if (r && ev && ev->id > 0 && ev->ticket_id > 0 && invoice_events_channel(prefix, channel, sizeof(channel)) == 0) {
        struct buf msg = {0};
        invoice_events_format(&msg, ev);
        const char  *argv[3] = {"PUBLISH", channel, msg.data};
        const size_t lens[3] = {7, strlen(channel), msg.len};
        rc = rds_cmd(r, on_published, NULL, 3, argv, lens); /* hiredis copies the arguments */
        buf_free(&msg);
    }
    if (rc < 0) {
        errors++;
        log_warn("invoice_events", "invoice %lld (%s): invoice.updated not published; screens catch up by polling",
                 ev ? (long long)ev->id : 0LL, ev && ev->action ? ev->action : "?");
    }
    return rc;
}

void invoice_events_metrics(struct buf *b)
{
    buf_printf(b,
               "# HELP gss_invoice_events_published_total invoice.updated events Redis accepted\n"
               "# TYPE gss_invoice_events_published_total counter\ngss_invoice_events_published_total %llu\n"
               "# HELP gss_invoice_events_errors_total invoice.updated events not published (lost)\n"
               "# TYPE gss_invoice_events_errors_total counter\ngss_invoice_events_errors_total %llu\n",
               (unsigned long long)published, (unsigned long long)errors);
}
