/*
 * sub: the subscriber connection and its registrations (contract in sub.h).
 *
 * Liveness. A subscribed connection only receives, so a connection that
 * died without a FIN or RST (a NAT or proxy that forgot it, a peer that
 * froze) looks exactly like a quiet channel: messages stop, nothing fails,
 * and boards and session caches silently go stale. So the connection is
 * probed every second like the command connection (store/redis.c's
 * watchdog), and a probe unanswered for RDS_HANG_MS drops it: on_down
 * resyncs every registration, the reconnect resubscribes every channel
 * and resyncs again.
 *
 * The probe is SUBSCRIBE to a channel nobody publishes on, repeated: Redis
 * answers a SUBSCRIBE of a channel already subscribed with the same
 * confirmation, and every hiredis version hands that confirmation to the
 * command's callback. PING would be the obvious probe (RESP2 allows it in
 * subscribe mode and answers with the array ["pong", arg]), but hiredis
 * 0.14 (Debian bookworm's) looks that array up as a message for the
 * pattern subscription named by arg, drops it when there is none, and
 * keeps the PING's callback queued until the connection ends: one leaked
 * callback per probe, and no answer seen.
 */
#include "store/sub.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "store/redis.h"

/* Never published on; shared by every gssd (and prefix) on a Redis. */
#define SUB_PROBE_CHANNEL "__gss_sub_probe__"

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sub_state *s = priv;
    redisReply       *r = reply;
    (void)ac;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    if (r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0)
        return; /* "subscribe" confirmations */
    const char *ch = r->element[1]->str;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].channel, ch) == 0 && s->entries[i].on_message)
            s->entries[i].on_message(s->entries[i].ud, r->element[2]->str, r->element[2]->len);
}

static void subscribe_one(struct sub_state *s, struct sub_entry *e)
{
    const char *argv[2] = {"SUBSCRIBE", e->channel};
    rds_cmd(s->redis, on_sub_reply, s, 2, argv, NULL);
}

static void on_probe_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sub_state *s = priv;
    redisReply       *r = reply;
    (void)ac;
    /* NULL: the connection is going away (its callbacks all run once). */
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "subscribe") != 0)
        return;
    s->probes_answered++;
    rds_probe_answered(s->redis);
}

static void probe(struct rds *r)
{
    struct sub_state *s = r->data;
    const char       *argv[2] = {"SUBSCRIBE", SUB_PROBE_CHANNEL};
    rds_probe_send(r, on_probe_reply, s, 2, argv);
}

static void on_up(struct rds *r)
{
    struct sub_state *s = r->data;
    s->connects++;
    for (int i = 0; i < s->n; i++) {
        subscribe_one(s, &s->entries[i]);
        if (s->entries[i].on_resync)
            s->entries[i].on_resync(s->entries[i].ud);
    }
}

static void on_down(struct rds *r)
{
    struct sub_state *s = r->data;
    /* Messages are being missed from now on: caches must not be trusted. */
    for (int i = 0; i < s->n; i++)
        if (s->entries[i].on_resync)
            s->entries[i].on_resync(s->entries[i].ud);
}

void sub_init(struct sub_state *s, struct rds *redis_sub)
{
    memset(s, 0, sizeof(*s));
    s->redis = redis_sub;
    redis_sub->data = s;
    redis_sub->on_up = on_up;
    redis_sub->on_down = on_down;
    redis_sub->quiet = true;  /* in subscribe mode only pushes arrive... */
    redis_sub->probe = probe; /* ...and the probe's answer */
}

int sub_register(struct sub_state *s, const char *channel, sub_message_cb on_message, sub_resync_cb on_resync, void *ud)
{
    if (s->n == SUB_MAX)
        return -1;
    struct sub_entry *e = &s->entries[s->n++];
    e->channel = xstrdup(channel);
    e->on_message = on_message;
    e->on_resync = on_resync;
    e->ud = ud;
    if (s->redis->up)
        subscribe_one(s, e);
    return 0;
}

void sub_free(struct sub_state *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->entries[i].channel);
    s->n = 0;
}
