#include "store/redis.h"

#include "store/redis_uv.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/embedded.h"
#include "core/log.h"

static void rds_connect(struct rds *r);

static void on_retry(uv_timer_t *t)
{
    rds_connect(t->data);
}

static void schedule_retry(struct rds *r)
{
    if (r->closing)
        return;
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 100;
    if (r->backoff_ms > 2000)
        r->backoff_ms = 2000;
    uv_timer_start(&r->retry, on_retry, r->backoff_ms, 0);
}

static void send_ping(struct rds *r);

/* The first PONG on a new connection makes it up. */
static void on_pong(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rds *r = priv;
    (void)ac;
    r->ping_out = false;
    if (!reply || r->up || !r->ac)
        return;
    r->up = true;
    r->warned = false;
    r->backoff_ms = 0;
    log_info("redis", "%s: connected to %s:%d", r->name, r->host, r->port);
    if (r->on_up)
        r->on_up(r);
}

static void send_ping(struct rds *r)
{
    const char *argv[1] = {"PING"};
    if (redisAsyncCommandArgv(r->ac, on_pong, r, 1, argv, NULL) == REDIS_OK) {
        r->ping_out = true;
        r->ping_sent = uv_now(r->loop);
    }
}

static void on_watchdog(uv_timer_t *t)
{
    struct rds *r = t->data;
    if (!r->ac || r->closing)
        return;
    if (r->ping_out) {
        if (uv_now(r->loop) - r->ping_sent < RDS_HANG_MS)
            return;
        log_warn("redis", "%s: no answer from %s:%d for %d ms; dropping the connection", r->name, r->host, r->port,
                 RDS_HANG_MS);
        r->hangs++;
        redisAsyncContext *ac = r->ac;
        /* Pending callbacks run now with NULL replies (their requests get
         * 503), then on_disconnect schedules the reconnect. */
        redisAsyncFree(ac);
        if (r->ac == ac) { /* never connected: no disconnect callback ran */
            r->ac = NULL;
            r->up = false;
            r->ping_out = false;
            schedule_retry(r);
        }
        return;
    }
    if (!r->up)
        return;
    if (r->probe)
        r->probe(r);
    else if (!r->quiet)
        send_ping(r);
}

int rds_probe_send(struct rds *r, redisCallbackFn *fn, void *priv, int argc, const char **argv)
{
    if (!r->up || !r->ac)
        return -1;
    if (redisAsyncCommandArgv(r->ac, fn, priv, argc, argv, NULL) != REDIS_OK)
        return -1;
    r->ping_out = true;
    r->ping_sent = uv_now(r->loop);
    return 0;
}

void rds_probe_answered(struct rds *r)
{
    r->ping_out = false;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rds *r = ac->data;
    if (status != REDIS_OK) {
        if (!r->warned)
            log_warn("redis", "%s: connect to %s:%d failed: %s", r->name, r->host, r->port, ac->errstr);
        r->warned = true;
        r->ac = NULL; /* hiredis frees the context after this callback */
        r->ping_out = false;
        schedule_retry(r);
        return;
    }
    /* A socket that connects is not yet a Redis that answers (a stopped
     * process still accepts into its backlog): up only on the first PONG. */
    send_ping(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rds *r = ac->data;
    bool        was_up = r->up;
    r->ac = NULL; /* freed by hiredis after this callback */
    r->up = false;
    r->ping_out = false;
    if (r->closing)
        return;
    log_warn("redis", "%s: connection lost (%s)", r->name, status == REDIS_OK ? "closed" : ac->errstr);
    if (was_up && r->on_down)
        r->on_down(r);
    schedule_retry(r);
}

static void rds_connect(struct rds *r)
{
    if (r->closing || r->ac)
        return;
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac) {
        schedule_retry(r);
        return;
    }
    if (ac->err) {
        if (!r->warned)
            log_warn("redis", "%s: %s", r->name, ac->errstr);
        r->warned = true;
        redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->data = r;
    if (redis_uv_attach(ac, r->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    /* The watchdog's clock runs from here: a connect that never completes
     * is dropped like a PING that is never answered. */
    r->ping_out = true;
    r->ping_sent = uv_now(r->loop);
    if (r->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->db);
        const char *argv[2] = {"SELECT", db};
        redisAsyncCommandArgv(ac, NULL, NULL, 2, argv, NULL);
    }
}

int rds_init(struct rds *r, uv_loop_t *loop, const char *url, const char *name)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->name = name;
    r->port = 6379;
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *h = url + 8;
    const char *at = strchr(h, '@'); /* redis://[:password@]host — password not supported yet */
    if (at)
        return -1;
    const char *colon = strchr(h, ':'), *slash = strchr(h, '/');
    const char *hend = colon ? colon : (slash ? slash : h + strlen(h));
    if (hend == h || (size_t)(hend - h) >= sizeof(r->host))
        return -1;
    memcpy(r->host, h, (size_t)(hend - h));
    r->host[hend - h] = '\0';
    if (colon) {
        r->port = atoi(colon + 1);
        if (r->port <= 0 || r->port > 65535)
            return -1;
    }
    if (slash)
        r->db = atoi(slash + 1);
    /* A host name is resolved here, once, before the loop runs: hiredis
     * would otherwise call getaddrinfo on the loop at every reconnect. */
    struct in_addr  a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, r->host, &a4) != 1 && inet_pton(AF_INET6, r->host, &a6) != 1) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(r->host, NULL, &hints, &res) == 0 && res) {
            void *addr = res->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                                                   : (void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
            inet_ntop(res->ai_family, addr, r->host, sizeof(r->host));
        } else {
            /* DNS down at start: keep the name (hiredis resolves it per connect) rather than not start. */
            log_warn("redis", "%s: cannot resolve %s now; will resolve at each connect", name, r->host);
        }
        if (res)
            freeaddrinfo(res);
    }
    uv_timer_init(loop, &r->retry);
    r->retry.data = r;
    uv_timer_init(loop, &r->watchdog);
    r->watchdog.data = r;
    return 0;
}

void rds_start(struct rds *r)
{
    uv_timer_start(&r->watchdog, on_watchdog, 1000, 1000);
    rds_connect(r);
}

void rds_close(struct rds *r)
{
    r->closing = true;
    uv_timer_stop(&r->retry);
    uv_close((uv_handle_t *)&r->retry, NULL);
    uv_timer_stop(&r->watchdog);
    uv_close((uv_handle_t *)&r->watchdog, NULL);
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        r->up = false;
        /* Runs pending callbacks with NULL replies, then the disconnect callback. */
        redisAsyncFree(ac);
    }
}

int rds_cmd(struct rds *r, redisCallbackFn *fn, void *priv, int argc, const char **argv, const size_t *lens)
{
    if (!r->up || !r->ac)
        return -1;
    r->commands++;
    return redisAsyncCommandArgv(r->ac, fn, priv, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

int rds_cmdf(struct rds *r, redisCallbackFn *fn, void *priv, const char *fmt, ...)
{
    if (!r->up || !r->ac)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->ac, fn, priv, fmt, ap);
    va_end(ap);
    r->commands++;
    return rc == REDIS_OK ? 0 : -1;
}

int rds_script_init(struct rds_script *s, const char *name)
{
    for (const struct gss_embedded *e = gss_lua_files; e->name; e++) {
        if (strcmp(e->name, name) != 0)
            continue;
        s->name = e->name;
        s->src = e->data;
        s->len = e->len;
        uint8_t h[20];
        crypto_sha1(e->data, e->len, h);
        crypto_hex(h, 20, s->sha);
        return 0;
    }
    return -1;
}

/* Everything needed to re-send a call as EVAL: one allocation, args packed. */
struct eval_call {
    struct rds              *r;
    const struct rds_script *s;
    redisCallbackFn         *fn;
    void                    *priv;
    int                      argc; /* EVALSHA sha nkeys args... */
    const char             **argv;
    size_t                  *lens;
};

/* RESP encoding of a command, done here rather than by hiredis's
 * printf-style formatter: this is every claim's path. */
static size_t put_uint(char *p, size_t v)
{
    char   tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static int send_formatted(redisAsyncContext *ac, redisCallbackFn *fn, void *priv, int argc, const char **argv,
                          const size_t *lens)
{
    size_t total = 1 + 20 + 2;
    for (int i = 0; i < argc; i++)
        total += 1 + 20 + 2 + lens[i] + 2;
    char  stackbuf[2048];
    char *cmd = total <= sizeof(stackbuf) ? stackbuf : xmalloc(total);
    char *p = cmd;
    *p++ = '*';
    p += put_uint(p, (size_t)argc);
    *p++ = '\r';
    *p++ = '\n';
    for (int i = 0; i < argc; i++) {
        *p++ = '$';
        p += put_uint(p, lens[i]);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    /* hiredis copies the bytes into its output buffer. */
    int rc = redisAsyncFormattedCommand(ac, fn, priv, cmd, (size_t)(p - cmd));
    if (cmd != stackbuf)
        free(cmd);
    return rc;
}

static void on_eval_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct eval_call *ec = privdata;
    redisReply       *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0 && ec->s) {
        ec->argv[0] = "EVAL";
        ec->argv[1] = ec->s->src;
        ec->lens[0] = 4;
        ec->lens[1] = ec->s->len;
        ec->s = NULL; /* only once */
        if (send_formatted(ac, on_eval_reply, ec, ec->argc, ec->argv, ec->lens) == REDIS_OK)
            return;
        rep = NULL;
    }
    ec->fn(ac, rep, ec->priv);
    free(ec);
}

int rds_evalsha(struct rds *r, const struct rds_script *s, int nkeys, int argc, const char **argv, const size_t *lens,
                redisCallbackFn *fn, void *priv)
{
    if (!r->up || !r->ac)
        return -1;
    int    total = argc + 3;
    size_t bytes = sizeof(struct eval_call) + (size_t)total * (sizeof(char *) + sizeof(size_t)) + 16;
    for (int i = 0; i < argc; i++)
        bytes += (lens ? lens[i] : strlen(argv[i])) + 1;
    struct eval_call *ec = xmalloc(bytes);
    ec->r = r;
    ec->s = s;
    ec->fn = fn;
    ec->priv = priv;
    ec->argc = total;
    ec->argv = (const char **)(ec + 1);
    ec->lens = (size_t *)(ec->argv + total);
    char *p = (char *)(ec->lens + total);
    int   nk = snprintf(p, 16, "%d", nkeys);
    ec->argv[0] = "EVALSHA";
    ec->lens[0] = 7;
    ec->argv[1] = s->sha;
    ec->lens[1] = 40;
    ec->argv[2] = p;
    ec->lens[2] = (size_t)nk;
    p += 16;
    for (int i = 0; i < argc; i++) {
        size_t l = lens ? lens[i] : strlen(argv[i]);
        memcpy(p, argv[i], l);
        p[l] = '\0';
        ec->argv[3 + i] = p;
        ec->lens[3 + i] = l;
        p += l + 1;
    }
    r->commands++;
    if (send_formatted(r->ac, on_eval_reply, ec, total, ec->argv, ec->lens) != REDIS_OK) {
        free(ec);
        return -1;
    }
    return 0;
}
