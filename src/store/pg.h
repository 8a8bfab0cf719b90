/*
 * pg: a small pool of non-blocking libpq connections on the loop, with
 * transactions on a pinned connection.
 *
 * Callbacks. Every callback runs exactly once, on the loop thread, and
 * never inside the call that queued it: an answer that is known at once (a
 * statement libpq refuses, a transaction that already failed, a connection
 * that breaks while sending) is put on the pool's deferred list and
 * delivered from a uv_idle handle on a later turn of the loop. A call that
 * returns < 0 queued nothing and its callback will NOT run (the pool is
 * down, closing or full, or the call was a misuse); the caller answers on
 * its own. The PGresult passed to a callback is freed when it returns.
 * Parameters (text, NULL for SQL NULL) are copied at call time, so the
 * caller's strings may die right after. Every statement is parameterised
 * (PQsendQueryParams).
 *
 * Connections. Each one's socket is watched through store/uvpoll; one that
 * fails is reconnected from a timer with exponential backoff (100 ms up to
 * 5 s). While no connection is up, new work fails at once with PG_ERR_DOWN
 * (the call returns < 0; handlers answer 503) instead of piling up; a
 * statement already sent on a connection that dies fails with PG_ERR_CONN
 * (its outcome is unknown, so it is never silently retried).
 *
 * Transactions. pg_tx_begin waits in the pool's queue like a query, then
 * pins a connection for the whole transaction: BEGIN, statements one at a
 * time with pg_tx_query, then pg_tx_commit or pg_tx_rollback, which return
 * the connection to the pool. Any failure in a transaction (SQL error,
 * deadline, lost connection) makes it "failed": the pool rolls it back by
 * itself at once, the failing statement's callback gets the error, later
 * pg_tx_query/pg_tx_commit calls are answered (asynchronously) with
 * PG_ERR_ABORTED (or with the failure itself, when no callback has seen
 * it yet: a deadline or a lost connection while the caller held the
 * transaction idle), and the caller still ends it with pg_tx_commit or
 * pg_tx_rollback, which then only release it. Never wait for a plain
 * pg_query while holding a transaction: with every connection pinned that
 * waits until the deadline.
 *
 * Deadline. A transaction may stay open for its timeout (the pool's, 10 s
 * by default, or pg_tx_begin_timeout's), counted from the BEGIN being sent.
 * libpq 15's PQcancel blocks, so the deadline is enforced without it:
 *   - idle (no statement in flight): the pool rolls back at the deadline;
 *   - a statement in flight: its callback gets PG_ERR_TIMEOUT at the
 *     deadline; the statement itself is ended by the server, because BEGIN
 *     sets `SET LOCAL statement_timeout` to the budget (or the pool's
 *     statement timeout if shorter), and the pool rolls back once it ends.
 *     Until then the connection stays out of the pool;
 *   - BEGIN also sets `idle_in_transaction_session_timeout` (budget + 1 s)
 *     as a net if gssd itself stalls: the server then ends the session.
 * A COMMIT in flight is never abandoned: its outcome is what the server says.
 *
 * Chains. A handler that runs several statements with C in between
 * (SELECT ... FOR UPDATE; check; UPDATE; INSERT audit; COMMIT) lists them as
 * steps of a struct pg_chain, each a function that gets the previous
 * statement's result and issues the next one, so the handler reads top to
 * bottom and never nests callbacks:
 *
 *   struct approve { struct pg_chain ch; struct http_req *req; char id[24], actor[24]; };
 *
 *   static int lock_invoice(struct pg_chain *ch, PGresult *prev)
 *   {
 *       struct approve *a = ch->ud;
 *       const char *params[] = {a->id};
 *       return pg_chain_query(ch, "SELECT status FROM invoices WHERE id = $1 FOR UPDATE", 1, params);
 *   }
 *   static int approve_it(struct pg_chain *ch, PGresult *prev)
 *   {
 *       struct approve *a = ch->ud;
 *       if (PQntuples(prev) == 0)
 *           return 404;                              // stop: rolled back, done gets stop = 404
 *       if (strcmp(PQgetvalue(prev, 0, 0), "pending_approval") != 0)
 *           return 409;
 *       const char *params[] = {a->id};
 *       return pg_chain_query(ch, "UPDATE invoices SET status = 'approved' WHERE id = $1", 1, params);
 *   }
 *   static int audit(struct pg_chain *ch, PGresult *prev)
 *   {
 *       struct approve *a = ch->ud;
 *       const char *params[] = {a->actor, a->id};
 *       return pg_chain_query(ch, "INSERT INTO audit_log (actor, entity, ...) VALUES ($1, $2, ...)", 2, params);
 *   }
 *   static const pg_step approve_steps[] = {lock_invoice, approve_it, audit, NULL};
 *
 *   static void approve_done(struct pg_chain *ch, int stop, enum pg_err err, const char *sqlstate, const char *msg)
 *   {
 *       struct approve *a = ch->ud;
 *       if (err != PG_OK)
 *           answer(a->req, pg_http_status(err, sqlstate));  // rolled back
 *       else if (stop)
 *           answer(a->req, stop);                            // a step said no; rolled back
 *       else
 *           answer(a->req, 200);                             // committed
 *       free(a);
 *   }
 *
 *   if (pg_chain_start(&a->ch, pool, 0, approve_steps, approve_done, a) < 0)
 *       answer(req, 503), free(a);
 *
 * Threads: the loop's thread only.
 */
#ifndef GSS_STORE_PG_H
#define GSS_STORE_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

enum pg_err {
    PG_OK = 0,
    PG_ERR_DOWN = 1,    /* no connection up, or the pool is closing */
    PG_ERR_CONN = 2,    /* the connection broke with the statement sent: outcome unknown */
    PG_ERR_SQL = 3,     /* the server said no; sqlstate says why */
    PG_ERR_FULL = 4,    /* the queue is full */
    PG_ERR_TIMEOUT = 5, /* the transaction's deadline passed */
    PG_ERR_ABORTED = 6, /* the transaction had already failed, or was rolled back by its owner */
};

/* res is non-NULL iff err == PG_OK (PGRES_TUPLES_OK or PGRES_COMMAND_OK).
 * sqlstate is the 5-character code for PG_ERR_SQL (e.g. "23505"), and for
 * PG_ERR_CONN when the server said why before it closed the session (57P01),
 * else ""; both sqlstate and msg are NULL for PG_OK. */
typedef void (*pg_cb)(void *ud, PGresult *res, enum pg_err err, const char *sqlstate, const char *msg);

struct pg_tx; /* owned by the pool; the caller's handle from the begin callback until commit/rollback */

/* As pg_cb, plus the transaction. For pg_tx_begin: tx is the open
 * transaction when err == PG_OK, else NULL (no transaction). For a
 * statement or the commit: tx is the statement's transaction, valid during
 * the callback (after pg_tx_commit or pg_tx_rollback: only to compare). */
typedef void (*pg_tx_cb)(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *sqlstate,
                         const char *msg);

struct pg_query;
struct pg_conn;

struct pg_pool {
    uv_loop_t       *loop;
    char           **keywords, **values; /* owned: parsed connection parameters */
    struct pg_conn  *conns;              /* owned array of n */
    int              n;
    int              up;          /* connections ready */
    struct pg_query *head, *tail; /* waiting for a free connection */
    size_t           queued, max_queued;
    bool             closing;
    uint64_t         queries, errors;
    int64_t          tx_timeout_ms;        /* default deadline of a transaction (10 s) */
    int64_t          statement_timeout_ms; /* 0: none (pg_pool_set_statement_timeout) */
    /* Optional: called when the pool goes from some connection up to none,
     * or back; deferred like every callback, and no more once closing. */
    void (*on_state)(struct pg_pool *pool, bool up);
    void *data;
    /* private */
    uv_idle_t        defer;                 /* delivers the deferred list */
    struct pg_query *done_head, *done_tail; /* answers waiting for a later loop turn */
    bool             reported_up;           /* what on_state last said */
    int              open_handles;          /* handles not yet closed after pg_pool_close */
};

/* Parses the URL/conninfo; resolves a host name once, here, so that the
 * loop never waits on DNS. Returns 0 or -1 with err filled. */
int pg_pool_init(struct pg_pool *p, uv_loop_t *loop, const char *url, int size, char *err, size_t errlen);
/* Every statement on the pool's connections is cancelled by PostgreSQL
 * after ms (the query's callback gets PG_ERR_SQL 57014), so a stuck query or
 * lock wait cannot hold a request forever. Call before pg_pool_start. */
int pg_pool_set_statement_timeout(struct pg_pool *p, int64_t ms);
/* The default transaction deadline (ms > 0). */
void pg_pool_set_tx_timeout(struct pg_pool *p, int64_t ms);
void pg_pool_start(struct pg_pool *p);
/* Fails what is queued or in flight (PG_ERR_DOWN / PG_ERR_CONN; open
 * transactions fail), closes every connection; those callbacks run after
 * this returns, from the close callbacks, and the handles are closed when
 * the loop has run. Afterwards every call returns < 0, except
 * pg_tx_rollback, which still releases a transaction the caller holds. */
void pg_pool_close(struct pg_pool *p);

/* One statement on any free connection. Returns 0 (cb will run), or
 * -PG_ERR_DOWN / -PG_ERR_FULL (cb will not run). */
int pg_query(struct pg_pool *p, const char *sql, int nparams, const char *const *params, pg_cb cb, void *ud);

/* Takes a connection from the pool (waiting in the queue like a query),
 * sends BEGIN, and calls cb(ud, tx, NULL, PG_OK, NULL, NULL) when the
 * transaction is open; with err != PG_OK there is no transaction (tx
 * NULL). Returns 0, or -PG_ERR_DOWN / -PG_ERR_FULL (cb will not run).
 * timeout_ms <= 0 means the pool's default. */
int pg_tx_begin(struct pg_pool *p, pg_tx_cb cb, void *ud);
int pg_tx_begin_timeout(struct pg_pool *p, int64_t timeout_ms, pg_tx_cb cb, void *ud);
/* One statement in the transaction; cb gets its result. One at a time:
 * the next may be issued from (or after) this one's callback. A statement
 * that fails (SQL error, deadline, lost connection) fails the transaction
 * (see above). Returns 0, or -1 (cb will not run) for a misuse (a statement
 * of this transaction still pending, the transaction already ended) or a
 * closing pool. */
int pg_tx_query(struct pg_tx *tx, const char *sql, int nparams, const char *const *params, pg_tx_cb cb, void *ud);
/* COMMIT, and the connection goes back to the pool; cb gets PG_OK or why
 * it did not commit (the COMMIT's own error, e.g. 40001; PG_ERR_ABORTED or
 * the failure for a failed transaction, which is only released;
 * PG_ERR_CONN: the connection broke during COMMIT, outcome unknown). The
 * caller's handle ends here. Returns 0, or -1 as pg_tx_query. */
int pg_tx_commit(struct pg_tx *tx, pg_tx_cb cb, void *ud);
/* ROLLBACK and release; no callback of its own. Safe at any point, NULL
 * included: with a statement in flight, that statement's callback still
 * runs once, with PG_ERR_ABORTED (later, never inside this call), and the
 * ROLLBACK follows when the server has finished the statement. For a
 * client that vanished or the caller's own error. The handle ends here. */
void pg_tx_rollback(struct pg_tx *tx);

/* ---- chains: a transaction as a list of steps (example above) ---- */

struct pg_chain;
/* prev: the result of the statement the previous step issued (NULL for the
 * first step), valid during the call. Returns:
 *    0  after issuing exactly one statement with pg_chain_query: its result
 *       goes to the next step; or without issuing one: the next step runs
 *       at once with the same prev. After the last step's statement, COMMIT.
 *  > 0  stop: the transaction is rolled back, done gets stop = this value;
 *  < 0  failure (e.g. pg_chain_query returned -1): rolled back, done gets
 *       PG_ERR_ABORTED (PG_ERR_DOWN if the pool is closing).
 * A statement that fails never reaches a step: done gets its error. */
typedef int (*pg_step)(struct pg_chain *ch, PGresult *prev);
/* Runs exactly once when the chain is over and nothing of it is pending,
 * so ch may be freed here: committed (stop 0, PG_OK), stopped by a step
 * (stop > 0, PG_OK, rolled back), or failed (stop 0, err != PG_OK: begin,
 * a statement, the commit, or pg_chain_cancel's PG_ERR_ABORTED; rolled
 * back unless the commit's outcome is unknown, PG_ERR_CONN). */
typedef void (*pg_chain_done)(struct pg_chain *ch, int stop, enum pg_err err, const char *sqlstate, const char *msg);

/* Embedded in the caller's context, which must live until done runs. */
struct pg_chain {
    void *ud; /* the caller's; set by pg_chain_start */
    /* private */
    struct pg_pool *pool;
    struct pg_tx   *tx; /* NULL until begun and once handed back */
    const pg_step  *steps;
    pg_chain_done   done;
    int             next; /* index of the next step */
    int             stop;
    enum pg_err     qerr; /* why pg_chain_query refused, for a step returning < 0 */
    bool            issued, stopping, committing, cancelled, finished;
};

/* Begins a transaction (timeout_ms <= 0: the pool's) and runs steps, a
 * NULL-terminated array that must outlive the chain. Returns 0 (done will
 * run), or < 0 as pg_tx_begin (done will not run). */
int pg_chain_start(struct pg_chain *ch, struct pg_pool *p, int64_t timeout_ms, const pg_step *steps, pg_chain_done done,
                   void *ud);
/* From a step: the statement whose result the next step gets. 0 or -1. */
int pg_chain_query(struct pg_chain *ch, const char *sql, int nparams, const char *const *params);
/* Rolls the chain back as soon as it can (a client that vanished); done
 * still runs once, with PG_ERR_ABORTED, unless the COMMIT was already sent
 * (then with the commit's outcome). Never calls done itself. */
void pg_chain_cancel(struct pg_chain *ch);

/* ---- errors for handlers ---- */

/* The HTTP status an error deserves: 503 when the database is unavailable
 * or busy and a retry may well succeed (down, full, connection lost,
 * deadline, statement timeout 57014, serialization failure 40001, deadlock
 * 40P01, lock not available 55P03, server shutting down 57P01..57P03 or
 * out of resources 53xxx, connection exceptions 08xxx); 500 for any other
 * SQL error and for PG_ERR_ABORTED (a failure the caller already saw);
 * 200 for PG_OK. The pool never retries a transaction itself; a handler
 * that does not retry 40001/40P01 passes the 503 on to the client. Map
 * constraint errors the handler expects (23505 -> 409) before calling this. */
int         pg_http_status(enum pg_err err, const char *sqlstate);
const char *pg_err_name(enum pg_err err); /* "ok", "down", ... for logs */

/* Blocking connect for command-line subcommands (migrate, check, user add). */
PGconn *pg_connect_blocking(const char *url, char *err, size_t errlen);

#endif
