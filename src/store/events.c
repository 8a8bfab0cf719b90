/*
 * events: channel names, PUBLISH and counters of the live events
 * (contract in events.h).
 */
#include "store/events.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "store/redis.h"

int events_channel(const char *prefix, const char *suffix, char *out, size_t n)
{
    int len = snprintf(out, n, "%s:%s", prefix ? prefix : "", suffix);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* The reply of a PUBLISH (the number of subscribers that got it, which
 * says nothing: another gssd may have none). NULL: the connection went
 * away with the command queued. */
static void on_published(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply          *r = reply;
    struct events_stats *st = priv;
    (void)ac;
    if (r && r->type != REDIS_REPLY_ERROR) {
        st->published++;
        return;
    }
    st->errors++;
    log_warn(st->who, "PUBLISH failed: %s", r ? r->str : "connection lost");
}

int events_publish(struct rds *r, const char *prefix, const char *suffix, const char *msg, size_t len,
                   struct events_stats *st)
{
    char channel[128];
    int  rc = -1;
    if (r && msg && events_channel(prefix, suffix, channel, sizeof(channel)) == 0) {
        const char  *argv[3] = {"PUBLISH", channel, msg};
        const size_t lens[3] = {7, strlen(channel), len};
        rc = rds_cmd(r, on_published, st, 3, argv, lens); /* hiredis copies the arguments */
    }
    if (rc < 0)
        st->errors++;
    return rc;
}

void events_metrics(struct buf *b, const char *name, const char *what, const struct events_stats *st)
{
    buf_printf(b,
               "# HELP %s_published_total %s Redis accepted\n"
               "# TYPE %s_published_total counter\n%s_published_total %llu\n"
               "# HELP %s_errors_total %s not published (lost)\n"
               "# TYPE %s_errors_total counter\n%s_errors_total %llu\n",
               name, what, name, name, (unsigned long long)st->published, name, what, name, name,
               (unsigned long long)st->errors);
}
