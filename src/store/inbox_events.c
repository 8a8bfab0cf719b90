/*
 * inbox_events: PUBLISH of the inbox.* events (contract in inbox_events.h).
 */
#include "store/inbox_events.h"

#include <stdbool.h>
#include <string.h>

#include "core/jw.h"
#include "core/log.h"
#include "store/events.h"

static struct events_stats stats = {.who = "inbox_events"};

int inbox_events_channel(const char *prefix, char *out, size_t n)
{
    return events_channel(prefix, INBOX_EVENTS_SUFFIX, out, n);
}

int inbox_events_format(struct buf *b, const struct inbox_event *ev)
{
    static const char *const types[] = {"inbox.message", "inbox.status", "inbox.read"};
    if (!ev || ev->customer_id <= 0 || (unsigned)ev->type >= sizeof(types) / sizeof(types[0]))
        return -1;
    bool message = ev->type == INBOX_EV_MESSAGE;
    if (message && (!ev->direction || (strcmp(ev->direction, "in") && strcmp(ev->direction, "out"))))
        return -1;
    jw_obj(b);
    jw_key_str(b, "type", types[ev->type]);
    jw_key_int(b, "customer_id", ev->customer_id);
    if (message)
        jw_key_str(b, "direction", ev->direction);
    jw_end_obj(b);
    return 0;
}

int inbox_events_publish(struct rds *r, const char *prefix, const struct inbox_event *ev)
{
    struct buf msg = {0};
    bool       formed = inbox_events_format(&msg, ev) == 0;
    int        rc = events_publish(r, prefix, INBOX_EVENTS_SUFFIX, formed ? msg.data : NULL, msg.len, &stats);
    buf_free(&msg);
    if (rc < 0)
        log_warn("inbox_events", "customer %lld: inbox event not published; screens catch up by polling",
                 ev ? (long long)ev->customer_id : 0LL);
    return rc;
}

void inbox_events_metrics(struct buf *b)
{
    events_metrics(b, "gss_inbox_events", "inbox.* events", &stats);
}
