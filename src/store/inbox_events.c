/*
 * inbox_events: PUBLISH of the inbox.* events (contract in inbox_events.h).
 */
#include "store/inbox_events.h"

#include <stdio.h>
#include <string.h>

#include "core/jw.h"
#include "core/log.h"
#include "store/redis.h"

/* Since start; the loop thread is the only writer. */
static uint64_t published, errors;

int inbox_events_channel(const char *prefix, char *out, size_t n)
{
    int len = snprintf(out, n, "%s:%s", prefix ? prefix : "", INBOX_EVENTS_SUFFIX);
    return len < 0 || (size_t)len >= n ? -1 : 0;
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

/* The reply of a PUBLISH; NULL: the connection went away with it queued. */
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
    log_warn("inbox_events", "PUBLISH failed: %s", r ? r->str : "connection lost");
}

int inbox_events_publish(struct rds *r, const char *prefix, const struct inbox_event *ev)
{
    char       channel[128];
    int        rc = -1;
    struct buf msg = {0};
    if (r && inbox_events_channel(prefix, channel, sizeof(channel)) == 0 && inbox_events_format(&msg, ev) == 0) {
        const char  *argv[3] = {"PUBLISH", channel, msg.data};
        const size_t lens[3] = {7, strlen(channel), msg.len};
        rc = rds_cmd(r, on_published, NULL, 3, argv, lens); /* hiredis copies the arguments */
    }
    buf_free(&msg);
    if (rc < 0) {
        errors++;
        log_warn("inbox_events", "customer %lld: inbox event not published; screens catch up by polling",
                 ev ? (long long)ev->customer_id : 0LL);
    }
    return rc;
}

void inbox_events_metrics(struct buf *b)
{
    buf_printf(b,
               "# HELP gss_inbox_events_published_total inbox.* events Redis accepted\n"
               "# TYPE gss_inbox_events_published_total counter\ngss_inbox_events_published_total %llu\n"
               "# HELP gss_inbox_events_errors_total inbox.* events not published (lost)\n"
               "# TYPE gss_inbox_events_errors_total counter\ngss_inbox_events_errors_total %llu\n",
               (unsigned long long)published, (unsigned long long)errors);
}
