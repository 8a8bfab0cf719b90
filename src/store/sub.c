#include "store/sub.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "store/redis.h"

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
    redis_sub->quiet = true; /* in subscribe mode only pushes arrive */
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
