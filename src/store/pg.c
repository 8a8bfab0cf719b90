#include "store/pg.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"

enum pgc_state { PGC_DOWN, PGC_CONNECTING, PGC_IDLE, PGC_BUSY };

struct pg_query {
    struct pg_query *next;
    char            *sql; /* owned */
    int              nparams;
    char           **params; /* owned, entries may be NULL */
    pg_cb            cb;
    void            *ud;
};

/* A uv_poll_t lives on the heap: when libpq's socket changes during connect,
 * the old handle is closed (freed in its close callback) and a new one made. */
struct pg_poll {
    uv_poll_t       h;
    struct pg_conn *c; /* NULL once detached */
};

struct pg_conn {
    struct pg_pool  *pool;
    PGconn          *conn;
    struct pg_poll  *poll;
    int              fd;
    enum pgc_state   state;
    struct pg_query *cur;
    PGresult        *result; /* the statement's result, kept until the NULL result */
    uv_timer_t       retry;
    uint64_t         backoff_ms;
    int              events;
    int              index;
};

static void conn_connect(struct pg_conn *c);
static void retry_cb(uv_timer_t *t);
static void quiet_notices(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* NOTICEs (e.g. "relation already exists, skipping") are not errors */
}
static void on_poll(uv_poll_t *h, int status, int events);

static void query_free(struct pg_query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    free(q->sql);
    free(q);
}

static void query_fail(struct pg_query *q, enum pg_err err, const char *msg)
{
    q->cb(q->ud, NULL, err, "", msg);
    query_free(q);
}

static void poll_detach(struct pg_conn *c)
{
    if (!c->poll)
        return;
    c->poll->c = NULL;
    uv_poll_stop(&c->poll->h);
    uv_close((uv_handle_t *)&c->poll->h, (uv_close_cb)free);
    c->poll = NULL;
    c->fd = -1;
    c->events = 0;
}

static void poll_watch(struct pg_conn *c, int events)
{
    int fd = PQsocket(c->conn);
    if (fd < 0)
        return;
    if (c->poll && fd != c->fd)
        poll_detach(c); /* libpq moved to a new socket (e.g. next address) */
    if (!c->poll) {
        c->poll = xcalloc(1, sizeof(*c->poll));
        c->poll->c = c;
        c->poll->h.data = c->poll;
        if (uv_poll_init(c->pool->loop, &c->poll->h, fd) < 0) {
            free(c->poll);
            c->poll = NULL;
            return;
        }
        c->fd = fd;
        c->events = 0;
    }
    if (events != c->events) {
        uv_poll_start(&c->poll->h, events, on_poll);
        c->events = events;
    }
}

static void set_up(struct pg_pool *p, int delta)
{
    int before = p->up;
    p->up += delta;
    if (p->on_state && ((before == 0) != (p->up == 0)))
        p->on_state(p, p->up > 0);
}

static void conn_down(struct pg_conn *c, const char *why_in)
{
    struct pg_pool *p = c->pool;
    /* why_in often points into c->conn (PQerrorMessage), which PQfinish frees. */
    char why[256];
    snprintf(why, sizeof(why), "%s", why_in ? why_in : "");
    char *nl = strchr(why, '\n');
    if (nl)
        *nl = '\0';
    bool was_up = c->state == PGC_IDLE || c->state == PGC_BUSY;
    poll_detach(c);
    if (c->result) {
        PQclear(c->result);
        c->result = NULL;
    }
    if (c->cur) {
        struct pg_query *q = c->cur;
        c->cur = NULL;
        query_fail(q, PG_ERR_CONN, why);
    }
    if (c->conn) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    c->state = PGC_DOWN;
    if (was_up) {
        set_up(p, -1);
        if (!p->closing)
            log_warn("postgres", "connection %d lost: %s", c->index, why);
    }
    /* Nobody left to run the queue: fail it rather than let callers hang. */
    if (p->up == 0) {
        while (p->head) {
            struct pg_query *q = p->head;
            p->head = q->next;
            p->queued--;
            query_fail(q, PG_ERR_DOWN, "postgres unavailable");
        }
        p->tail = NULL;
    }
    if (p->closing)
        return;
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
    if (c->backoff_ms > 5000)
        c->backoff_ms = 5000;
    uv_timer_start(&c->retry, retry_cb, c->backoff_ms, 0);
}

static void conn_send_next(struct pg_conn *c)
{
    struct pg_pool *p = c->pool;
    while (c->state == PGC_IDLE && p->head) {
        struct pg_query *q = p->head;
        p->head = q->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        q->next = NULL;
        if (!PQsendQueryParams(c->conn, q->sql, q->nparams, NULL, (const char *const *)q->params, NULL, NULL, 0)) {
            char msg[256];
            snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->conn));
            if (PQstatus(c->conn) != CONNECTION_OK) {
                c->cur = q;
                conn_down(c, msg);
                return;
            }
            query_fail(q, PG_ERR_SQL, msg);
            continue;
        }
        c->cur = q;
        c->state = PGC_BUSY;
        p->queries++;
        int f = PQflush(c->conn);
        if (f < 0) {
            conn_down(c, PQerrorMessage(c->conn));
            return;
        }
        poll_watch(c, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE);
    }
}

static void conn_read_results(struct pg_conn *c)
{
    if (!PQconsumeInput(c->conn)) {
        conn_down(c, PQerrorMessage(c->conn));
        return;
    }
    while (c->state == PGC_BUSY && !PQisBusy(c->conn)) {
        PGresult *r = PQgetResult(c->conn);
        if (r) {
            /* Keep the first error, or else the last result. */
            if (c->result && PQresultStatus(c->result) == PGRES_FATAL_ERROR)
                PQclear(r);
            else {
                if (c->result)
                    PQclear(c->result);
                c->result = r;
            }
            continue;
        }
        struct pg_query *q = c->cur;
        PGresult        *res = c->result;
        c->cur = NULL;
        c->result = NULL;
        c->state = PGC_IDLE;
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            q->cb(q->ud, res, PG_OK, NULL, NULL);
        } else {
            const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
            const char *msg = res ? PQresultErrorMessage(res) : "no result";
            c->pool->errors++;
            q->cb(q->ud, NULL, PG_ERR_SQL, state ? state : "", msg);
        }
        if (res)
            PQclear(res);
        query_free(q);
        /* The callback may have closed the pool. */
        if (c->pool->closing || c->state != PGC_IDLE)
            return;
        conn_send_next(c);
        return;
    }
    /* Notices and the like while idle are consumed above; nothing else to do. */
    if (c->state == PGC_IDLE && PQstatus(c->conn) != CONNECTION_OK)
        conn_down(c, "connection closed by server");
}

static void on_connect_progress(struct pg_conn *c)
{
    /* PQconnectPoll may close the socket and open the next one (next host or
     * address, TLS retry), which usually gets the same fd number; the epoll
     * registration died with the old socket, so "same fd, same events" in
     * poll_watch would leave the new one unwatched forever. Stopping the poll
     * here makes the poll_watch below register it afresh. */
    if (c->poll) {
        uv_poll_stop(&c->poll->h);
        c->events = 0;
    }
    switch (PQconnectPoll(c->conn)) {
    case PGRES_POLLING_READING: poll_watch(c, UV_READABLE); return;
    case PGRES_POLLING_WRITING: poll_watch(c, UV_WRITABLE); return;
    case PGRES_POLLING_OK:
        uv_timer_stop(&c->retry); /* the connect deadline */
        if (PQsetnonblocking(c->conn, 1) != 0) {
            conn_down(c, "cannot set non-blocking mode");
            return;
        }
        PQsetNoticeProcessor(c->conn, quiet_notices, NULL);
        c->state = PGC_IDLE;
        c->backoff_ms = 0;
        set_up(c->pool, +1);
        log_info("postgres", "connection %d ready", c->index);
        poll_watch(c, UV_READABLE);
        conn_send_next(c);
        return;
    default: {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->conn));
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = '\0';
        if (c->backoff_ms >= 5000 || c->backoff_ms == 0)
            log_warn("postgres", "connect failed: %s", msg);
        conn_down(c, msg);
        return;
    }
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct pg_poll *pp = h->data;
    struct pg_conn *c = pp->c;
    if (!c)
        return;
    if (c->state == PGC_CONNECTING) {
        on_connect_progress(c);
        return;
    }
    if (status < 0) {
        /* An error on the socket with no events: let libpq find out what.
         * libuv has stopped the handle, so the next poll_watch must start it
         * again even for the same events. */
        c->events = 0;
        events = UV_READABLE | UV_WRITABLE;
    }
    if (events & UV_WRITABLE) {
        int f = PQflush(c->conn);
        if (f < 0) {
            conn_down(c, PQerrorMessage(c->conn));
            return;
        }
        poll_watch(c, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE);
    }
    if (events & UV_READABLE)
        conn_read_results(c);
}

/* connect_timeout from the URL (seconds, as libpq reads it), else 10 s. */
static uint64_t connect_timeout_ms(const struct pg_pool *p)
{
    for (int i = 0; p->keywords[i]; i++)
        if (!strcmp(p->keywords[i], "connect_timeout")) {
            long s = strtol(p->values[i], NULL, 10);
            if (s > 0)
                return (uint64_t)s * 1000;
        }
    return 10000;
}

static void conn_connect(struct pg_conn *c)
{
    struct pg_pool *p = c->pool;
    if (p->closing)
        return;
    c->conn = PQconnectStartParams((const char *const *)p->keywords, (const char *const *)p->values, 0);
    if (!c->conn || PQstatus(c->conn) == CONNECTION_BAD) {
        conn_down(c, c->conn ? PQerrorMessage(c->conn) : "out of memory");
        return;
    }
    c->state = PGC_CONNECTING;
    poll_watch(c, UV_WRITABLE);
    /* libpq enforces connect_timeout only in its blocking connect: without a
     * deadline of our own, a server that accepts and never answers would keep
     * this connection in PGC_CONNECTING for good. retry_cb ends it. */
    uv_timer_start(&c->retry, retry_cb, connect_timeout_ms(p), 0);
}

int pg_pool_init(struct pg_pool *p, uv_loop_t *loop, const char *url, int size, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->max_queued = 100000;
    char             *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        snprintf(err, errlen, "bad database URL: %s", perr ? perr : "parse error");
        PQfreemem(perr);
        return -1;
    }
    int n = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val && *o->val)
            n++;
    p->keywords = xcalloc((size_t)n + 3, sizeof(char *));
    p->values = xcalloc((size_t)n + 3, sizeof(char *));
    int         k = 0;
    const char *host = NULL;
    bool        has_hostaddr = false, has_app = false;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (!strcmp(o->keyword, "host"))
            host = o->val;
        if (!strcmp(o->keyword, "hostaddr"))
            has_hostaddr = true;
        if (!strcmp(o->keyword, "application_name"))
            has_app = true;
        p->keywords[k] = xstrdup(o->keyword);
        p->values[k] = xstrdup(o->val);
        k++;
    }
    /* Resolve a host name now, once, so PQconnectStart never does DNS on the loop. */
    if (host && !has_hostaddr && host[0] != '/' && !strchr(host, ',')) {
        struct in6_addr a6;
        struct in_addr  a4;
        if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1) {
            struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
            if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
                char  ip[INET6_ADDRSTRLEN];
                void *addr = res->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                                                       : (void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
                inet_ntop(res->ai_family, addr, ip, sizeof(ip));
                p->keywords[k] = xstrdup("hostaddr");
                p->values[k] = xstrdup(ip);
                k++;
            }
            if (res)
                freeaddrinfo(res);
        }
    }
    if (!has_app) {
        p->keywords[k] = xstrdup("application_name");
        p->values[k] = xstrdup("gssd");
        k++;
    }
    PQconninfoFree(opts);
    p->n = size;
    p->conns = xcalloc((size_t)size, sizeof(*p->conns));
    for (int i = 0; i < size; i++) {
        struct pg_conn *c = &p->conns[i];
        c->pool = p;
        c->index = i;
        c->fd = -1;
        uv_timer_init(loop, &c->retry);
        c->retry.data = c;
    }
    return 0;
}

/* The backoff before a reconnect, or the deadline of a connect under way. */
int pg_pool_set_statement_timeout(struct pg_pool *p, int64_t ms)
{
    if (ms <= 0)
        return 0;
    char opt[64];
    snprintf(opt, sizeof(opt), "-c statement_timeout=%lld", (long long)ms);
    int i = 0;
    for (; p->keywords[i]; i++)
        if (!strcmp(p->keywords[i], "options")) {
            /* keep what the URL asked for; ours comes after it */
            size_t n = strlen(p->values[i]) + 1 + strlen(opt) + 1;
            char *v = xmalloc(n);
            snprintf(v, n, "%s %s", p->values[i], opt);
            free(p->values[i]);
            p->values[i] = v;
            return 0;
        }
    /* init allocated room for three extra keywords; hostaddr and
     * application_name may have used two */
    p->keywords = xrealloc(p->keywords, (size_t)(i + 2) * sizeof(char *));
    p->values = xrealloc(p->values, (size_t)(i + 2) * sizeof(char *));
    p->keywords[i] = xstrdup("options");
    p->values[i] = xstrdup(opt);
    p->keywords[i + 1] = NULL;
    p->values[i + 1] = NULL;
    return 0;
}

static void retry_cb(uv_timer_t *t)
{
    struct pg_conn *c = t->data;
    if (c->state == PGC_CONNECTING) {
        if (c->backoff_ms >= 5000 || c->backoff_ms == 0)
            log_warn("postgres", "connect failed: no answer within %llu ms",
                     (unsigned long long)connect_timeout_ms(c->pool));
        conn_down(c, "timed out while connecting");
        return;
    }
    conn_connect(c);
}

void pg_pool_start(struct pg_pool *p)
{
    for (int i = 0; i < p->n; i++)
        uv_timer_start(&p->conns[i].retry, retry_cb, 0, 0);
}

static void on_retry_closed(uv_handle_t *h)
{
    struct pg_conn *c = h->data;
    struct pg_pool *p = c->pool;
    if (--p->open_timers == 0) {
        /* the last handle of the pool (close callbacks run in any order): free shared state */
        for (int i = 0; p->keywords[i]; i++) {
            free(p->keywords[i]);
            free(p->values[i]);
        }
        free(p->keywords);
        free(p->values);
        free(p->conns);
        p->conns = NULL;
    }
}

void pg_pool_close(struct pg_pool *p)
{
    p->closing = true;
    for (int i = 0; i < p->n; i++) {
        struct pg_conn *c = &p->conns[i];
        uv_timer_stop(&c->retry);
        if (c->state != PGC_DOWN || c->conn)
            conn_down(c, "shutting down");
    }
    while (p->head) {
        struct pg_query *q = p->head;
        p->head = q->next;
        query_fail(q, PG_ERR_DOWN, "shutting down");
    }
    p->tail = NULL;
    p->queued = 0;
    p->open_timers = p->n;
    for (int i = 0; i < p->n; i++)
        uv_close((uv_handle_t *)&p->conns[i].retry, on_retry_closed);
}

int pg_query(struct pg_pool *p, const char *sql, int nparams, const char *const *params, pg_cb cb, void *ud)
{
    if (p->closing || p->up == 0 || p->queued >= p->max_queued) {
        /* Answer on a later turn? No: callers treat a -1 return as "failed now"
         * and must not expect the callback. Keeps "callbacks never run
         * synchronously" true. */
        return p->up == 0 ? -PG_ERR_DOWN : -PG_ERR_FULL;
    }
    struct pg_query *q = xcalloc(1, sizeof(*q));
    q->sql = xstrdup(sql);
    q->nparams = nparams;
    q->params = xcalloc((size_t)(nparams ? nparams : 1), sizeof(char *));
    for (int i = 0; i < nparams; i++)
        q->params[i] = params[i] ? xstrdup(params[i]) : NULL;
    q->cb = cb;
    q->ud = ud;
    if (p->tail)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
    p->queued++;
    for (int i = 0; i < p->n; i++)
        if (p->conns[i].state == PGC_IDLE) {
            conn_send_next(&p->conns[i]);
            break;
        }
    return 0;
}

PGconn *pg_connect_blocking(const char *url, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(url);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", c ? PQerrorMessage(c) : "out of memory");
        char *nl = strchr(err, '\n');
        if (nl)
            *nl = '\0';
        if (c)
            PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    return c;
}
