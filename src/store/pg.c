#include "store/pg.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "store/uvpoll.h"

/* A connection is DOWN (waiting for its retry timer), CONNECTING, or READY.
 * A READY connection is free for the queue when nothing is in flight on it
 * (cur) and no transaction has it pinned (tx). */
enum pgc_state { PGC_DOWN, PGC_CONNECTING, PGC_READY };

/* What a queued or in-flight piece of work is. BEGIN, COMMIT and ROLLBACK
 * go as simple-protocol text of our own; PLAIN and STMT are the caller's,
 * always with PQsendQueryParams. */
enum pgq_kind { PGQ_PLAIN, PGQ_BEGIN, PGQ_STMT, PGQ_COMMIT, PGQ_ROLLBACK };

struct pg_query {
    struct pg_query *next; /* in the pool's queue or its deferred list */
    enum pgq_kind    kind;
    char            *sql; /* owned */
    int              nparams;
    char           **params; /* owned, entries may be NULL */
    pg_cb            cb;     /* PGQ_PLAIN */
    pg_tx_cb         tcb;    /* BEGIN, STMT, COMMIT; NULL once answered ahead of the server (abandoned) */
    void            *ud;
    struct pg_tx    *tx; /* BEGIN, STMT, COMMIT: holds a reference */
    /* the answer, while on the deferred list */
    enum pg_err err;
    char        state[6];
    char       *msg; /* owned */
};

struct pg_tx {
    struct pg_pool *pool;
    struct pg_conn *conn; /* pinned while open and not failed; NULL after */
    int             refs; /* the caller's (open && !ended) + each pg_query pointing here */
    int64_t         timeout_ms;
    bool            open;   /* BEGIN done: the caller has the handle */
    bool            ended;  /* the caller called commit or rollback: no more calls */
    bool            busy;   /* a statement's or the commit's callback is pending */
    bool            failed; /* rolled back (or being): statements are refused */
    bool            told;   /* some callback has reported the failure */
    enum pg_err     fail_err;
    char            fail_state[6];
};

struct pg_conn {
    struct pg_pool  *pool;
    PGconn          *conn;
    struct uvpoll   *poll;
    enum pgc_state   state;
    struct pg_query *cur;      /* in flight */
    struct pg_tx    *tx;       /* pinned to this transaction */
    PGresult        *result;   /* the statement's result, kept until the NULL result */
    uv_timer_t       retry;    /* backoff before a reconnect, or the deadline of a connect */
    uv_timer_t       deadline; /* the pinned transaction's */
    uint64_t         backoff_ms;
    int              index;
};

static void conn_connect(struct pg_conn *c);
static void conn_down(struct pg_conn *c, const char *why_in);
static void conn_send(struct pg_conn *c, struct pg_query *q);
static void conn_send_next(struct pg_conn *c);
static void retry_cb(uv_timer_t *t);
static void on_poll(struct uvpoll *up, void *owner, int events);
static void quiet_notices(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* NOTICEs (e.g. "relation already exists, skipping") are not errors */
}

/* ---- work items, the deferred list ---- */

static struct pg_query *query_new(enum pgq_kind kind, const char *sql, int nparams, const char *const *params)
{
    struct pg_query *q = xcalloc(1, sizeof(*q));
    q->kind = kind;
    q->sql = xstrdup(sql);
    q->nparams = nparams > 0 ? nparams : 0;
    q->params = xcalloc((size_t)(q->nparams ? q->nparams : 1), sizeof(char *));
    for (int i = 0; i < q->nparams; i++)
        q->params[i] = params && params[i] ? xstrdup(params[i]) : NULL;
    return q;
}

static void tx_unref(struct pg_tx *tx)
{
    if (!tx || --tx->refs > 0)
        return;
    assert(!tx->conn); /* a pinned transaction is always referenced */
    free(tx);
}

static void query_free(struct pg_query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    free(q->sql);
    free(q->msg);
    struct pg_tx *tx = q->tx;
    free(q);
    tx_unref(tx);
}

static void copy_state(char dst[6], const char *src)
{
    snprintf(dst, 6, "%s", src ? src : "");
}

/* Calls q's callback with this answer, then frees q. */
static void query_deliver(struct pg_query *q, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct pg_tx *tx = q->tx;
    if (err == PG_OK) {
        state = NULL;
        msg = NULL;
    } else {
        res = NULL;
        state = state ? state : "";
        msg = msg ? msg : "";
    }
    switch (q->kind) {
    case PGQ_PLAIN: q->cb(q->ud, res, err, state, msg); break;
    case PGQ_BEGIN:
        if (q->tcb)
            q->tcb(q->ud, err == PG_OK ? tx : NULL, NULL, err, state, msg);
        break;
    case PGQ_STMT:
    case PGQ_COMMIT:
        if (tx)
            tx->busy = false; /* so that the callback may issue the next statement */
        if (q->tcb)
            q->tcb(q->ud, tx, res, err, state, msg);
        break;
    case PGQ_ROLLBACK: break;
    }
    query_free(q);
}

static void on_defer(uv_idle_t *h);

static void defer_kick(struct pg_pool *p)
{
    /* Once closing, the idle handle is closed (or about to be) and must not
     * start again; its close callback delivers what is left. */
    if (!p->closing && !uv_is_active((uv_handle_t *)&p->defer))
        uv_idle_start(&p->defer, on_defer);
}

/* Answers q on a later loop turn: the caller may be inside pg_query or
 * pg_tx_* right now, and callbacks never run inside the call that queued
 * them. */
static void defer(struct pg_pool *p, struct pg_query *q, enum pg_err err, const char *state, const char *msg)
{
    q->err = err;
    copy_state(q->state, state);
    free(q->msg);
    q->msg = xstrdup(msg ? msg : "");
    /* one line is enough for a handler's log, and PQerrorMessage ends in \n */
    char *nl = strchr(q->msg, '\n');
    if (nl)
        *nl = '\0';
    q->next = NULL;
    if (p->done_tail)
        p->done_tail->next = q;
    else
        p->done_head = q;
    p->done_tail = q;
    defer_kick(p);
}

/* Delivers what is on the deferred list now. Answers deferred by these
 * callbacks go onto a fresh list for the next turn. */
static void defer_drain(struct pg_pool *p)
{
    struct pg_query *q = p->done_head;
    p->done_head = p->done_tail = NULL;
    while (q) {
        struct pg_query *next = q->next;
        q->next = NULL;
        query_deliver(q, NULL, q->err, q->state, q->msg);
        q = next;
    }
}

static void on_defer(uv_idle_t *h)
{
    struct pg_pool *p = h->data;
    defer_drain(p);
    if (p->closing)
        return; /* a callback closed the pool: the close callback delivers the rest */
    bool up = p->up > 0;
    if (up != p->reported_up) {
        p->reported_up = up;
        if (p->on_state)
            p->on_state(p, up);
    }
    if (!p->done_head && (p->up > 0) == p->reported_up)
        uv_idle_stop(&p->defer);
}

/* ---- transactions: state that outlives a connection ---- */

/* The transaction can go no further: remember why, unpin its connection and
 * roll back there (now if nothing is in flight, else once it has ended; a
 * connection that is going down rolls back by itself). told: the callback
 * that gets this error is already on its way. */
static void conn_release(struct pg_conn *c, bool after_rollback);
static void tx_fail(struct pg_tx *tx, enum pg_err err, const char *state, bool told)
{
    if (tx->failed)
        return;
    tx->failed = true;
    tx->told = told;
    tx->fail_err = err;
    copy_state(tx->fail_state, state);
    struct pg_conn *c = tx->conn;
    if (!c)
        return;
    tx->conn = NULL;
    c->tx = NULL;
    uv_timer_stop(&c->deadline);
    conn_release(c, false); /* no-op while something is in flight or the connection is down */
}

/* Hands the answer to q's caller now (deferred), while q itself stays in
 * flight so that the connection knows when the server is done with it. */
static void query_abandon(struct pg_pool *p, struct pg_query *q, enum pg_err err, const char *msg)
{
    if (!q->tcb)
        return;
    struct pg_query *a = query_new(q->kind, "", 0, NULL);
    a->tcb = q->tcb;
    a->ud = q->ud;
    a->tx = q->tx; /* the reference moves */
    q->tcb = NULL;
    q->tx = NULL;
    defer(p, a, err, "", msg);
}

/* The answer for a statement or commit on a transaction that has failed. */
static void tx_defer_failure(struct pg_tx *tx, struct pg_query *q)
{
    if (tx->told) {
        defer(tx->pool, q, PG_ERR_ABORTED, "", "the transaction has failed and was rolled back");
        return;
    }
    tx->told = true;
    const char *msg = tx->fail_err == PG_ERR_TIMEOUT ? "transaction timed out; rolled back"
                      : tx->fail_err == PG_ERR_CONN  ? "connection lost during the transaction"
                                                     : "the transaction has failed";
    defer(tx->pool, q, tx->fail_err, tx->fail_state, msg);
}

/* ---- connections ---- */

static void poll_detach(struct pg_conn *c)
{
    uvpoll_close(c->poll);
    c->poll = NULL;
}

static void poll_watch(struct pg_conn *c, int events)
{
    int fd = PQsocket(c->conn);
    if (fd < 0)
        return;
    if (uvpoll_watch(&c->poll, c->pool->loop, fd, events, on_poll, c) < 0)
        conn_down(c, "cannot watch the connection's socket");
}

static void set_up(struct pg_pool *p, int delta)
{
    p->up += delta;
    if ((p->up > 0) != p->reported_up)
        defer_kick(p); /* on_state runs from the idle handle, never inside a pg_* call */
}

static bool conn_free(const struct pg_conn *c)
{
    return c->state == PGC_READY && !c->cur && !c->tx;
}

/* What is in flight on c fails with err, deferred; its transaction is the
 * caller's business. */
static void conn_fail_cur(struct pg_conn *c, enum pg_err err, const char *msg)
{
    struct pg_query *q = c->cur;
    c->cur = NULL;
    if (!q)
        return;
    if (q->kind == PGQ_PLAIN || q->tcb)
        defer(c->pool, q, err, "", msg);
    else
        query_free(q); /* our own ROLLBACK, or a statement already answered */
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
    bool was_up = c->state == PGC_READY;
    c->state = PGC_DOWN; /* first: conn_release below must not send anything */
    poll_detach(c);
    uv_timer_stop(&c->deadline);
    if (c->result) {
        PQclear(c->result);
        c->result = NULL;
    }
    if (c->tx) {
        /* The server rolls back a session that ends. If a callback of the
         * transaction is in flight it reports the loss; else the caller's
         * next call will. */
        bool told = c->cur && c->cur->tx == c->tx && c->cur->tcb;
        tx_fail(c->tx, PG_ERR_CONN, "", told);
    }
    conn_fail_cur(c, PG_ERR_CONN, why);
    if (c->conn) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
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
            defer(p, q, PG_ERR_DOWN, "", p->closing ? "shutting down" : "postgres unavailable");
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

/* c has nothing in flight and no transaction: make sure the server agrees
 * (a plain statement may have been a stray BEGIN; a failed transaction needs
 * its ROLLBACK) before the connection serves the queue again. */
static void conn_release(struct pg_conn *c, bool after_rollback)
{
    if (c->state != PGC_READY || c->cur || c->tx)
        return;
    if (PQstatus(c->conn) != CONNECTION_OK) {
        conn_down(c, "connection closed by server");
        return;
    }
    PGTransactionStatusType ts = PQtransactionStatus(c->conn);
    if (ts == PQTRANS_IDLE) {
        conn_send_next(c);
        return;
    }
    if (after_rollback || (ts != PQTRANS_INTRANS && ts != PQTRANS_INERROR)) {
        /* Never hand out a connection in an unknown transaction state. */
        conn_down(c, "connection left inside a transaction");
        return;
    }
    conn_send(c, query_new(PGQ_ROLLBACK, "ROLLBACK", 0, NULL));
}

/* Sends q on c, which has nothing in flight. A failure is answered
 * (deferred): a broken connection goes down, a statement libpq refused
 * (too many parameters, out of memory) fails alone. */
static void conn_send(struct pg_conn *c, struct pg_query *q)
{
    struct pg_pool *p = c->pool;
    bool            simple = q->kind == PGQ_BEGIN || q->kind == PGQ_COMMIT || q->kind == PGQ_ROLLBACK;
    int             ok = simple
                             ? PQsendQuery(c->conn, q->sql)
                             : PQsendQueryParams(c->conn, q->sql, q->nparams, NULL, (const char *const *)q->params, NULL, NULL, 0);
    c->cur = q;
    if (!ok) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->conn));
        if (PQstatus(c->conn) != CONNECTION_OK || simple) {
            /* our own statements never fail to send on a good connection */
            conn_down(c, msg);
            return;
        }
        c->cur = NULL;
        p->errors++;
        if (q->kind == PGQ_STMT && q->tx)
            tx_fail(q->tx, PG_ERR_SQL, "", true); /* rolls back on c */
        defer(p, q, PG_ERR_SQL, "", msg);
        return;
    }
    p->queries++;
    int f = PQflush(c->conn);
    if (f < 0) {
        conn_down(c, PQerrorMessage(c->conn));
        return;
    }
    poll_watch(c, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

static void on_deadline(uv_timer_t *t);

static void conn_send_next(struct pg_conn *c)
{
    struct pg_pool *p = c->pool;
    while (conn_free(c) && p->head) {
        struct pg_query *q = p->head;
        p->head = q->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        q->next = NULL;
        if (q->kind == PGQ_BEGIN) {
            /* The connection is the transaction's from here on. Its
             * deadline counts from now, not from pg_tx_begin: time in the
             * queue holds no locks. */
            c->tx = q->tx;
            q->tx->conn = c;
            uv_timer_start(&c->deadline, on_deadline, (uint64_t)q->tx->timeout_ms, 0);
        }
        conn_send(c, q);
    }
}

/* The NULL result has come for q (no longer c->cur): answer it and decide
 * what the connection does next. res is freed by the caller afterwards. */
static void conn_complete(struct pg_conn *c, struct pg_query *q, PGresult *res)
{
    struct pg_pool *p = c->pool;
    ExecStatusType  st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    enum pg_err     err = (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) ? PG_OK : PG_ERR_SQL;
    const char     *state = NULL, *msg = NULL;
    if (err != PG_OK) {
        state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        msg = res ? PQresultErrorMessage(res) : "no result";
        if (q->kind != PGQ_ROLLBACK && (q->kind == PGQ_PLAIN || q->tcb))
            p->errors++;
        /* An error and then the end of the session (the backend was
         * terminated, the server shuts down): the connection is lost, and
         * with it any transaction; sqlstate still says why (57P01). */
        if (PQstatus(c->conn) != CONNECTION_OK)
            err = PG_ERR_CONN;
    }
    struct pg_tx *tx = q->tx;
    switch (q->kind) {
    case PGQ_PLAIN:
        conn_release(c, false); /* the next in the queue goes out before this callback */
        query_deliver(q, res, err, state, msg);
        return;
    case PGQ_ROLLBACK:
        query_free(q);
        conn_release(c, true);
        return;
    case PGQ_BEGIN:
        if (!q->tcb) { /* the deadline answered it already; c->tx is NULL */
            query_free(q);
            conn_release(c, false);
            return;
        }
        if (err == PG_OK) {
            tx->open = true;
            tx->refs++; /* the caller's, until commit or rollback */
            query_deliver(q, NULL, PG_OK, NULL, NULL);
            return;
        }
        tx_fail(tx, err, state, true); /* unpins; ROLLBACK if BEGIN itself went through */
        query_deliver(q, NULL, err, state, msg);
        return;
    case PGQ_STMT:
        if (!q->tcb) { /* rolled back by its owner or timed out while in flight */
            query_free(q);
            conn_release(c, false);
            return;
        }
        if (err == PG_OK && PQtransactionStatus(c->conn) != PQTRANS_INTRANS) {
            /* a COMMIT or ROLLBACK sent through pg_tx_query: the transaction is not what we think */
            err = PG_ERR_ABORTED;
            msg = "the statement ended the transaction; use pg_tx_commit or pg_tx_rollback";
        }
        if (err == PG_OK) {
            query_deliver(q, res, PG_OK, NULL, NULL); /* c stays pinned, idle in the transaction */
            return;
        }
        tx_fail(tx, err, state, true);
        query_deliver(q, NULL, err, state, msg);
        return;
    case PGQ_COMMIT:
        if (tx && tx->conn == c) {
            tx->conn = NULL;
            c->tx = NULL;
        }
        /* A COMMIT of a transaction the server had already aborted answers
         * "ROLLBACK" with no error; it did not commit. */
        if (err == PG_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            err = PG_ERR_ABORTED;
            msg = "the server rolled the transaction back";
        }
        conn_release(c, false);
        query_deliver(q, NULL, err, state, msg);
        return;
    }
}

static void conn_read_results(struct pg_conn *c)
{
    if (!PQconsumeInput(c->conn)) {
        conn_down(c, PQerrorMessage(c->conn));
        return;
    }
    while (c->cur && !PQisBusy(c->conn)) {
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
        /* One command is in flight per connection, so nothing else can be
         * buffered behind it: what the callback sends next is read on a
         * later poll. */
        conn_complete(c, q, res);
        if (res)
            PQclear(res);
        return;
    }
    /* Notices and the like while nothing is in flight are consumed above. */
    if (!c->cur && PQstatus(c->conn) != CONNECTION_OK)
        conn_down(c, "connection closed by server");
}

static void on_connect_progress(struct pg_conn *c)
{
    /* PQconnectPoll may close the socket and open the next one (next host or
     * address, TLS retry), which usually gets the same fd number; the epoll
     * registration died with the old socket, so "same fd, same events"
     * would leave the new one unwatched forever. Resetting the poll here
     * makes the poll_watch below register it afresh. */
    if (c->poll)
        uvpoll_reset(c->poll);
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
        c->state = PGC_READY;
        c->backoff_ms = 0;
        set_up(c->pool, +1);
        log_info("postgres", "connection %d ready", c->index);
        poll_watch(c, UV_READABLE);
        if (c->state == PGC_READY)
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

static void on_poll(struct uvpoll *up, void *owner, int events)
{
    struct pg_conn *c = owner;
    (void)up;
    if (c->state == PGC_CONNECTING) {
        on_connect_progress(c);
        return;
    }
    /* After a poll error uvpoll hands us both events: the flush or the read
     * below finds the socket's error and takes the connection down. */
    if (events & UV_WRITABLE) {
        int f = PQflush(c->conn);
        if (f < 0) {
            conn_down(c, PQerrorMessage(c->conn));
            return;
        }
        poll_watch(c, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE);
        if (c->state != PGC_READY)
            return;
    }
    if (events & UV_READABLE)
        conn_read_results(c);
}

/* The pinned transaction's time is up. */
static void on_deadline(uv_timer_t *t)
{
    struct pg_conn  *c = t->data;
    struct pg_tx    *tx = c->tx;
    struct pg_query *cur = c->cur;
    if (!tx || tx->failed || (cur && cur->kind == PGQ_COMMIT))
        return;
    log_warn("postgres", "transaction on connection %d passed its %lld ms deadline; rolled back", c->index,
             (long long)tx->timeout_ms);
    bool answer_now = cur && cur->tx == tx && cur->tcb;
    tx_fail(tx, PG_ERR_TIMEOUT, "", answer_now); /* idle: ROLLBACK now; else after the statement */
    if (answer_now)
        query_abandon(c->pool, cur, PG_ERR_TIMEOUT, "transaction timed out; rolled back");
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
    if (c->state != PGC_CONNECTING)
        return;
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
    p->tx_timeout_ms = 10000;
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
        uv_timer_init(loop, &c->retry);
        c->retry.data = c;
        uv_timer_init(loop, &c->deadline);
        c->deadline.data = c;
    }
    uv_idle_init(loop, &p->defer);
    p->defer.data = p;
    return 0;
}

int pg_pool_set_statement_timeout(struct pg_pool *p, int64_t ms)
{
    if (ms <= 0)
        return 0;
    p->statement_timeout_ms = ms;
    char opt[64];
    snprintf(opt, sizeof(opt), "-c statement_timeout=%lld", (long long)ms);
    int i = 0;
    for (; p->keywords[i]; i++)
        if (!strcmp(p->keywords[i], "options")) {
            /* keep what the URL asked for; ours comes after it */
            size_t n = strlen(p->values[i]) + 1 + strlen(opt) + 1;
            char  *v = xmalloc(n);
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

void pg_pool_set_tx_timeout(struct pg_pool *p, int64_t ms)
{
    if (ms > 0)
        p->tx_timeout_ms = ms;
}

/* The backoff before a reconnect, or the deadline of a connect under way. */
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

/* Close callbacks run in any order: the last one frees the shared state. */
static void pool_handle_closed(struct pg_pool *p)
{
    if (--p->open_handles > 0)
        return;
    for (int i = 0; p->keywords[i]; i++) {
        free(p->keywords[i]);
        free(p->values[i]);
    }
    free(p->keywords);
    free(p->values);
    p->keywords = p->values = NULL;
    free(p->conns);
    p->conns = NULL;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct pg_conn *c = h->data;
    pool_handle_closed(c->pool);
}

static void on_defer_closed(uv_handle_t *h)
{
    struct pg_pool *p = h->data;
    /* The answers of pg_pool_close: on a later turn than the call, as
     * always. Nothing new can be deferred now (every call refuses while
     * closing), but a transaction failed here may still hold one. */
    while (p->done_head)
        defer_drain(p);
    pool_handle_closed(p);
}

void pg_pool_close(struct pg_pool *p)
{
    if (p->closing)
        return;
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
        defer(p, q, PG_ERR_DOWN, "", "shutting down");
    }
    p->tail = NULL;
    p->queued = 0;
    p->open_handles = 2 * p->n + 1;
    for (int i = 0; i < p->n; i++) {
        uv_close((uv_handle_t *)&p->conns[i].retry, on_timer_closed);
        uv_close((uv_handle_t *)&p->conns[i].deadline, on_timer_closed);
    }
    uv_close((uv_handle_t *)&p->defer, on_defer_closed);
}

int pg_query(struct pg_pool *p, const char *sql, int nparams, const char *const *params, pg_cb cb, void *ud)
{
    /* Refused at once (no callback): callers treat < 0 as "failed now". */
    if (p->closing || p->up == 0)
        return -PG_ERR_DOWN;
    if (p->queued >= p->max_queued)
        return -PG_ERR_FULL;
    struct pg_query *q = query_new(PGQ_PLAIN, sql, nparams, params);
    q->cb = cb;
    q->ud = ud;
    if (p->tail)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
    p->queued++;
    for (int i = 0; i < p->n; i++)
        if (conn_free(&p->conns[i])) {
            conn_send_next(&p->conns[i]);
            break;
        }
    return 0;
}

/* ---- transactions ---- */

int pg_tx_begin_timeout(struct pg_pool *p, int64_t timeout_ms, pg_tx_cb cb, void *ud)
{
    if (!cb || p->closing || p->up == 0)
        return -PG_ERR_DOWN;
    if (p->queued >= p->max_queued)
        return -PG_ERR_FULL;
    struct pg_tx *tx = xcalloc(1, sizeof(*tx));
    tx->pool = p;
    tx->timeout_ms = timeout_ms > 0 ? timeout_ms : p->tx_timeout_ms;
    /* The server's own limits, so that nothing of the transaction outlives
     * its deadline by much even though we cannot cancel without blocking
     * (pg.h). Our integers, not the caller's text: the one statement not
     * sent with parameters, and a simple query so it is one round trip. */
    int64_t st = tx->timeout_ms;
    if (p->statement_timeout_ms > 0 && p->statement_timeout_ms < st)
        st = p->statement_timeout_ms;
    char sql[160];
    snprintf(sql, sizeof(sql),
             "BEGIN; SET LOCAL statement_timeout = %lld; SET LOCAL idle_in_transaction_session_timeout = %lld",
             (long long)st, (long long)(tx->timeout_ms + 1000));
    struct pg_query *q = query_new(PGQ_BEGIN, sql, 0, NULL);
    q->tcb = cb;
    q->ud = ud;
    q->tx = tx;
    tx->refs = 1;
    if (p->tail)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
    p->queued++;
    for (int i = 0; i < p->n; i++)
        if (conn_free(&p->conns[i])) {
            conn_send_next(&p->conns[i]);
            break;
        }
    return 0;
}

int pg_tx_begin(struct pg_pool *p, pg_tx_cb cb, void *ud)
{
    return pg_tx_begin_timeout(p, 0, cb, ud);
}

/* May the caller issue a statement or the commit now? */
static bool tx_usable(const struct pg_tx *tx, pg_tx_cb cb)
{
    return tx && cb && tx->open && !tx->ended && !tx->busy && !tx->pool->closing;
}

int pg_tx_query(struct pg_tx *tx, const char *sql, int nparams, const char *const *params, pg_tx_cb cb, void *ud)
{
    if (!tx_usable(tx, cb))
        return -1;
    struct pg_query *q = query_new(PGQ_STMT, sql, nparams, params);
    q->tcb = cb;
    q->ud = ud;
    q->tx = tx;
    tx->refs++;
    tx->busy = true;
    if (tx->failed)
        tx_defer_failure(tx, q);
    else
        conn_send(tx->conn, q); /* pinned and idle: the previous statement has been answered */
    return 0;
}

int pg_tx_commit(struct pg_tx *tx, pg_tx_cb cb, void *ud)
{
    if (!tx_usable(tx, cb))
        return -1;
    struct pg_query *q = query_new(PGQ_COMMIT, "COMMIT", 0, NULL);
    q->tcb = cb;
    q->ud = ud;
    q->tx = tx;
    tx->refs++;
    tx->busy = true;
    tx->ended = true;
    if (tx->failed) {
        tx_defer_failure(tx, q); /* the pool has rolled back: only released */
    } else {
        struct pg_conn *c = tx->conn;
        uv_timer_stop(&c->deadline); /* a COMMIT is never abandoned */
        conn_send(c, q);
    }
    tx_unref(tx); /* the caller's */
    return 0;
}

void pg_tx_rollback(struct pg_tx *tx)
{
    if (!tx || !tx->open || tx->ended)
        return;
    tx->ended = true;
    if (!tx->failed) {
        struct pg_conn  *c = tx->conn;
        struct pg_query *cur = c->cur;
        bool             in_flight = cur && cur->tx == tx && cur->tcb;
        tx_fail(tx, PG_ERR_ABORTED, "", true);
        if (in_flight)
            query_abandon(tx->pool, cur, PG_ERR_ABORTED, "rolled back by its owner");
    }
    tx_unref(tx); /* the caller's */
}

/* ---- chains ---- */

static void chain_finish(struct pg_chain *ch, int stop, enum pg_err err, const char *state, const char *msg)
{
    ch->finished = true;
    if (err == PG_OK)
        ch->done(ch, stop, PG_OK, NULL, NULL);
    else
        ch->done(ch, 0, err, state ? state : "", msg ? msg : ""); /* ch may be gone now */
}

/* Hands the transaction back (rolled back unless already committed). */
static void chain_drop_tx(struct pg_chain *ch)
{
    struct pg_tx *tx = ch->tx;
    ch->tx = NULL;
    pg_tx_rollback(tx);
}

static void on_chain_commit(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state,
                            const char *msg)
{
    (void)tx;
    (void)res;
    chain_finish(ud, 0, err, state, msg);
}

/* Runs steps until one issues a statement or stops, or the list ends.
 * Called only from the pool's callbacks, so done never runs inside
 * pg_chain_start or pg_chain_cancel. */
static void chain_run(struct pg_chain *ch, PGresult *prev)
{
    for (;;) {
        if (ch->cancelled) {
            chain_drop_tx(ch);
            chain_finish(ch, 0, PG_ERR_ABORTED, "", "cancelled");
            return;
        }
        pg_step step = ch->steps[ch->next];
        if (!step) {
            struct pg_tx *tx = ch->tx;
            ch->tx = NULL;
            ch->committing = true;
            if (pg_tx_commit(tx, on_chain_commit, ch) < 0) {
                pg_tx_rollback(tx);
                chain_finish(ch, 0, PG_ERR_DOWN, "", "postgres pool closing");
            }
            return;
        }
        ch->next++;
        ch->issued = false;
        ch->qerr = PG_OK;
        int rc = step(ch, prev);
        if (rc == 0 && ch->issued)
            return; /* its callback carries on */
        if (rc == 0)
            continue; /* nothing issued: the next step sees the same prev */
        ch->stop = rc > 0 ? rc : 0;
        if (rc < 0 && ch->qerr == PG_OK)
            ch->qerr = PG_ERR_ABORTED;
        if (ch->issued) {
            /* A statement is in flight: its callback (PG_ERR_ABORTED after
             * the rollback) is the chain's last. */
            ch->stopping = true;
            chain_drop_tx(ch);
            return;
        }
        chain_drop_tx(ch);
        if (rc > 0)
            chain_finish(ch, rc, PG_OK, NULL, NULL);
        else
            chain_finish(ch, 0, ch->qerr, "", "a step of the transaction failed");
        return;
    }
}

static void on_chain_stmt(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state,
                          const char *msg)
{
    struct pg_chain *ch = ud;
    (void)tx;
    if (ch->stopping) {
        if (ch->stop > 0)
            chain_finish(ch, ch->stop, PG_OK, NULL, NULL);
        else
            chain_finish(ch, 0, ch->qerr, "", "a step of the transaction failed");
        return;
    }
    if (err != PG_OK) {
        chain_drop_tx(ch); /* the pool rolls back a failed statement's transaction by itself */
        chain_finish(ch, 0, err, state, msg);
        return;
    }
    chain_run(ch, res);
}

static void on_chain_begin(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state,
                           const char *msg)
{
    struct pg_chain *ch = ud;
    (void)res;
    if (err != PG_OK) {
        chain_finish(ch, 0, err, state, msg);
        return;
    }
    ch->tx = tx;
    chain_run(ch, NULL);
}

int pg_chain_start(struct pg_chain *ch, struct pg_pool *p, int64_t timeout_ms, const pg_step *steps, pg_chain_done done,
                   void *ud)
{
    memset(ch, 0, sizeof(*ch));
    ch->ud = ud;
    ch->pool = p;
    ch->steps = steps;
    ch->done = done;
    return pg_tx_begin_timeout(p, timeout_ms, on_chain_begin, ch);
}

int pg_chain_query(struct pg_chain *ch, const char *sql, int nparams, const char *const *params)
{
    if (!ch->tx || ch->issued) {
        ch->qerr = PG_ERR_ABORTED;
        return -1;
    }
    if (pg_tx_query(ch->tx, sql, nparams, params, on_chain_stmt, ch) < 0) {
        ch->qerr = ch->pool->closing ? PG_ERR_DOWN : PG_ERR_ABORTED;
        return -1;
    }
    ch->issued = true;
    return 0;
}

void pg_chain_cancel(struct pg_chain *ch)
{
    if (ch->finished || ch->committing || ch->stopping || ch->cancelled)
        return;
    ch->cancelled = true;
    /* With a statement in flight, its callback comes back PG_ERR_ABORTED
     * and finishes the chain; before BEGIN is done, chain_run sees the flag. */
    chain_drop_tx(ch);
}

/* ---- errors ---- */

int pg_http_status(enum pg_err err, const char *sqlstate)
{
    switch (err) {
    case PG_OK: return 200;
    case PG_ERR_DOWN:
    case PG_ERR_CONN:
    case PG_ERR_FULL:
    case PG_ERR_TIMEOUT: return 503;
    case PG_ERR_SQL: break;
    case PG_ERR_ABORTED:
    default: return 500;
    }
    if (!sqlstate || strlen(sqlstate) != 5)
        return 500;
    static const char *const busy[] = {
        "57014", /* query_canceled: statement_timeout */
        "40001", /* serialization_failure */
        "40P01", /* deadlock_detected */
        "55P03", /* lock_not_available: lock_timeout, NOWAIT */
        "57P01", /* admin_shutdown */
        "57P02", /* crash_shutdown */
        "57P03", /* cannot_connect_now: starting up, recovery */
    };
    for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++)
        if (!strcmp(sqlstate, busy[i]))
            return 503;
    /* classes 53 (insufficient resources: too many connections, out of
     * memory, disk full) and 08 (connection exceptions) */
    if (!strncmp(sqlstate, "53", 2) || !strncmp(sqlstate, "08", 2))
        return 503;
    return 500;
}

const char *pg_err_name(enum pg_err err)
{
    switch (err) {
    case PG_OK: return "ok";
    case PG_ERR_DOWN: return "down";
    case PG_ERR_CONN: return "conn";
    case PG_ERR_SQL: return "sql";
    case PG_ERR_FULL: return "full";
    case PG_ERR_TIMEOUT: return "timeout";
    case PG_ERR_ABORTED: return "aborted";
    }
    return "?";
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
