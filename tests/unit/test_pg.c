/*
 * Unit tests for store/pg (the pool, transactions, chains, pg_http_status)
 * and store/uvpoll, against a REAL PostgreSQL on a real libuv loop.
 *
 * The server comes from GSS_TEST_PG_URL (scripts/test.sh exports it; a
 * superuser, so that the test may create its own database). Without it the
 * test FAILS: a database test that skips quietly is a test that never runs.
 *
 * Each test gets a fresh loop and pool; tables are emptied through a
 * blocking "admin" connection, which also checks from outside what a
 * transaction made visible. Every call into pg goes through a wrapper that
 * sets in_call around it, and every callback counts itself as a violation
 * if it finds in_call set: callbacks must never run inside the call that
 * queued them. Each test ends by proving the pool still serves a plain
 * pg_query, closing the pool, and uv_loop_close() == 0 (no leaked handle).
 *
 * Times are the loop's (uv_now). Lower bounds are exact; upper bounds leave
 * room for a loaded 2-core machine under the sanitizers but stay below
 * what a wrong implementation would take (e.g. a 3 s sleep not cut short).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "store/pg.h"
#include "store/uvpoll.h"

/* ---- the database: one per test process ---------------------------------- */

static char    g_base_url[1024]; /* GSS_TEST_PG_URL */
static char    g_url[2048];      /* conninfo of our own database */
static char    g_dbname[64];
static PGconn *g_admin; /* blocking, on our database */

static void admin_exec(const char *sql)
{
    PGresult      *r = PQexec(g_admin, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("admin: %s: %s", sql, PQerrorMessage(g_admin));
    PQclear(r);
}

/* The first cell of a one-row query, as text. */
static void admin_value(const char *sql, char *out, size_t n)
{
    PGresult *r = PQexec(g_admin, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("admin: %s: %s", sql, PQerrorMessage(g_admin));
    snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static long admin_count(const char *table)
{
    char sql[128], v[32];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    admin_value(sql, v, sizeof(v));
    return strtol(v, NULL, 10);
}

/* The base URL's parameters with our dbname, as a conninfo string. */
static int build_url(void)
{
    char             *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(g_base_url, &perr);
    if (!opts) {
        fprintf(stderr, "test_pg: bad GSS_TEST_PG_URL: %s\n", perr ? perr : "?");
        PQfreemem(perr);
        return -1;
    }
    size_t len = 0;
    g_url[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val || !strcmp(o->keyword, "dbname"))
            continue;
        len += (size_t)snprintf(g_url + len, sizeof(g_url) - len, "%s='%s' ", o->keyword, o->val);
    }
    snprintf(g_url + len, sizeof(g_url) - len, "dbname='%s'", g_dbname);
    PQconninfoFree(opts);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    const char *u = getenv("GSS_TEST_PG_URL");
    if (!u || !*u) {
        fprintf(stderr, "test_pg: GSS_TEST_PG_URL is not set (scripts/test.sh sets it); failing, not skipping\n");
        return -1;
    }
    snprintf(g_base_url, sizeof(g_base_url), "%s", u);
    snprintf(g_dbname, sizeof(g_dbname), "gss_unit_pg_%d", (int)getpid());
    char    err[256];
    PGconn *c = pg_connect_blocking(g_base_url, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "test_pg: cannot connect to %s: %s\n", g_base_url, err);
        return -1;
    }
    char sql[160];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", g_dbname);
    PQclear(PQexec(c, sql));
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", g_dbname);
    PGresult *r = PQexec(c, sql);
    int       ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok || build_url() < 0)
        return -1;
    g_admin = pg_connect_blocking(g_url, err, sizeof(err));
    if (!g_admin) {
        fprintf(stderr, "test_pg: cannot connect to %s: %s\n", g_dbname, err);
        return -1;
    }
    PGresult *t = PQexec(g_admin, "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);"
                                  "CREATE TABLE audit (id serial PRIMARY KEY, t_id int, before text, after text)");
    ok = PQresultStatus(t) == PGRES_COMMAND_OK;
    PQclear(t);
    return ok ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin)
        PQfinish(g_admin);
    char    err[256];
    PGconn *c = pg_connect_blocking(g_base_url, err, sizeof(err));
    if (c) {
        char sql[160];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", g_dbname);
        PQclear(PQexec(c, sql));
        PQfinish(c);
    }
    return 0;
}

/* ---- calls into pg, marked, so a synchronous callback is caught ------------ */

static bool in_call;
static int  sync_violations; /* callbacks that ran inside a pg_* call */

static void callback_entered(void)
{
    if (in_call)
        sync_violations++;
}

static int t_query(struct pg_pool *p, const char *sql, int n, const char *const *params, pg_cb cb, void *ud)
{
    in_call = true;
    int rc = pg_query(p, sql, n, params, cb, ud);
    in_call = false;
    return rc;
}
static int t_begin(struct pg_pool *p, int64_t ms, pg_tx_cb cb, void *ud)
{
    in_call = true;
    int rc = ms ? pg_tx_begin_timeout(p, ms, cb, ud) : pg_tx_begin(p, cb, ud);
    in_call = false;
    return rc;
}
static int t_txq(struct pg_tx *tx, const char *sql, int n, const char *const *params, pg_tx_cb cb, void *ud)
{
    in_call = true;
    int rc = pg_tx_query(tx, sql, n, params, cb, ud);
    in_call = false;
    return rc;
}
static int t_commit(struct pg_tx *tx, pg_tx_cb cb, void *ud)
{
    in_call = true;
    int rc = pg_tx_commit(tx, cb, ud);
    in_call = false;
    return rc;
}
static void t_rollback(struct pg_tx *tx)
{
    in_call = true;
    pg_tx_rollback(tx);
    in_call = false;
}
static int t_chain_start(struct pg_chain *ch, struct pg_pool *p, int64_t ms, const pg_step *steps, pg_chain_done done,
                         void *ud)
{
    in_call = true;
    int rc = pg_chain_start(ch, p, ms, steps, done, ud);
    in_call = false;
    return rc;
}
static void t_chain_cancel(struct pg_chain *ch)
{
    in_call = true;
    pg_chain_cancel(ch);
    in_call = false;
}
static void t_pool_close(struct pg_pool *p)
{
    in_call = true;
    pg_pool_close(p);
    in_call = false;
}

/* ---- what a callback saw -------------------------------------------------- */

struct rec {
    int           n; /* times called */
    enum pg_err   err;
    char          state[8];
    char          msg[256];
    char          val[64]; /* first cell, if any */
    int           ntuples;
    struct pg_tx *tx;
    uint64_t      at; /* uv_now */
};

static uv_loop_t *g_loop; /* the current test's, for uv_now in callbacks */

static void rec_fill(struct rec *r, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state,
                     const char *msg)
{
    callback_entered();
    r->n++;
    r->err = err;
    r->tx = tx;
    r->at = uv_now(g_loop);
    snprintf(r->state, sizeof(r->state), "%s", state ? state : "");
    snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
    r->ntuples = res ? PQntuples(res) : -1;
    r->val[0] = '\0';
    if (res && PQntuples(res) > 0 && PQnfields(res) > 0)
        snprintf(r->val, sizeof(r->val), "%s", PQgetvalue(res, 0, 0));
    /* the contract: a result iff PG_OK; sqlstate/msg NULL iff PG_OK */
    if (err != PG_OK && res)
        fail_msg("a result with err %d", err);
    if ((err == PG_OK) != (state == NULL) || (err == PG_OK) != (msg == NULL))
        fail_msg("sqlstate/msg presence wrong for err %d", err);
}

static void on_q(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    rec_fill(ud, NULL, res, err, state, msg);
    if (err == PG_OK)
        assert_non_null(res);
}

static void on_tx(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    rec_fill(ud, tx, res, err, state, msg);
}

/* ---- the loop ------------------------------------------------------------- */

struct env {
    uv_loop_t      loop;
    struct pg_pool pool;
    bool           closed;
};

static bool g_timed_out;
static void on_guard(uv_timer_t *t)
{
    (void)t;
    g_timed_out = true;
}

/* Runs the loop until *n >= target or ms pass; returns whether it got there. */
static bool wait_n(struct env *e, const int *n, int target, uint64_t ms)
{
    uv_timer_t guard;
    uv_timer_init(&e->loop, &guard);
    g_timed_out = false;
    uv_timer_start(&guard, on_guard, ms, 0);
    while (*n < target && !g_timed_out)
        uv_run(&e->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT); /* the guard's close callback */
    return *n >= target;
}

/* Runs the loop for ms, whatever happens. */
static void run_for(struct env *e, uint64_t ms)
{
    int never = 0;
    wait_n(e, &never, 1, ms);
}

static void wait_rec(struct env *e, struct rec *r)
{
    if (!wait_n(e, &r->n, 1, 10000))
        fail_msg("no callback within 10 s");
}

static void env_open_with(struct env *e, const char *url, int size, int64_t stmt_timeout_ms, bool wait_up)
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(uv_loop_init(&e->loop), 0);
    g_loop = &e->loop;
    char err[256];
    assert_int_equal(pg_pool_init(&e->pool, &e->loop, url, size, err, sizeof(err)), 0);
    if (stmt_timeout_ms)
        pg_pool_set_statement_timeout(&e->pool, stmt_timeout_ms);
    pg_pool_start(&e->pool);
    if (wait_up && !wait_n(e, &e->pool.up, size, 10000))
        fail_msg("pool not up within 10 s");
    admin_exec("TRUNCATE t, audit RESTART IDENTITY");
}

static void env_open(struct env *e, int size)
{
    env_open_with(e, g_url, size, 0, true);
}

/* The pool still serves a plain query (when it is meant to), then closes,
 * and the loop ends with no handle left. */
static void env_close(struct env *e, bool check_usable)
{
    if (check_usable && !e->closed) {
        struct rec r = {0};
        assert_int_equal(t_query(&e->pool, "SELECT 41 + 1", 0, NULL, on_q, &r), 0);
        wait_rec(e, &r);
        assert_int_equal(r.err, PG_OK);
        assert_string_equal(r.val, "42");
    }
    if (!e->closed)
        t_pool_close(&e->pool);
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    assert_int_equal(sync_violations, 0);
    g_loop = NULL;
}

/* ---- pg_http_status --------------------------------------------------------- */

static void test_http_status(void **state)
{
    (void)state;
    assert_int_equal(pg_http_status(PG_OK, NULL), 200);
    assert_int_equal(pg_http_status(PG_ERR_DOWN, ""), 503);
    assert_int_equal(pg_http_status(PG_ERR_CONN, ""), 503);
    assert_int_equal(pg_http_status(PG_ERR_FULL, ""), 503);
    assert_int_equal(pg_http_status(PG_ERR_TIMEOUT, ""), 503);
    assert_int_equal(pg_http_status(PG_ERR_ABORTED, ""), 500);
    const char *busy[] = {"57014", "40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "53200", "08006"};
    for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++)
        if (pg_http_status(PG_ERR_SQL, busy[i]) != 503)
            fail_msg("%s should be 503", busy[i]);
    const char *broken[] = {"23505", "23503", "42601", "42P01", "22P02", "25P02", "XX000", "", "5701"};
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++)
        if (pg_http_status(PG_ERR_SQL, broken[i]) != 500)
            fail_msg("'%s' should be 500", broken[i]);
    assert_int_equal(pg_http_status(PG_ERR_SQL, NULL), 500);
    assert_string_equal(pg_err_name(PG_ERR_TIMEOUT), "timeout");
    assert_string_equal(pg_err_name(PG_ERR_ABORTED), "aborted");
}

/* ---- transactions ----------------------------------------------------------- */

static struct pg_tx *begin_ok(struct env *e, int64_t ms)
{
    struct rec b = {0};
    assert_int_equal(t_begin(&e->pool, ms, on_tx, &b), 0);
    assert_int_equal(b.n, 0);
    wait_rec(e, &b);
    assert_int_equal(b.err, PG_OK);
    assert_non_null(b.tx);
    return b.tx;
}

static void txq_wait(struct env *e, struct pg_tx *tx, const char *sql, int n, const char *const *params, struct rec *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(t_txq(tx, sql, n, params, on_tx, r), 0);
    assert_int_equal(r->n, 0);
    wait_rec(e, r);
    assert_ptr_equal(r->tx, tx);
}

static void test_commit_visible(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 2);
    struct pg_tx *tx = begin_ok(&e, 0);
    struct rec    r;
    const char   *p1[] = {"1", "one"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, &r);
    assert_int_equal(r.err, PG_OK);
    const char *p2[] = {"2", "two"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p2, &r);
    assert_int_equal(r.err, PG_OK);
    /* inside the transaction its rows are there ... */
    txq_wait(&e, tx, "SELECT count(*) FROM t", 0, NULL, &r);
    assert_string_equal(r.val, "2");
    /* ... and outside not yet */
    assert_int_equal(admin_count("t"), 0);
    struct rec c = {0};
    assert_int_equal(t_commit(tx, on_tx, &c), 0);
    assert_int_equal(c.n, 0);
    wait_rec(&e, &c);
    assert_int_equal(c.err, PG_OK);
    assert_int_equal(admin_count("t"), 2);
    struct rec q = {0};
    assert_int_equal(t_query(&e.pool, "SELECT v FROM t WHERE id = 2", 0, NULL, on_q, &q), 0);
    wait_rec(&e, &q);
    assert_string_equal(q.val, "two");
    env_close(&e, true);
}

static void test_sql_error_rolls_back(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 1); /* one connection: what follows proves it came back clean */
    struct pg_tx *tx = begin_ok(&e, 0);
    struct rec    r;
    const char   *p1[] = {"1", "one"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, &r);
    assert_int_equal(r.err, PG_OK);
    const char *dup[] = {"1", "again"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, dup, &r);
    assert_int_equal(r.err, PG_ERR_SQL);
    assert_string_equal(r.state, "23505");
    assert_int_equal(pg_http_status(r.err, r.state), 500);
    /* the transaction has failed: later statements are refused, asynchronously */
    txq_wait(&e, tx, "SELECT 1", 0, NULL, &r);
    assert_int_equal(r.err, PG_ERR_ABORTED);
    struct rec c = {0};
    assert_int_equal(t_commit(tx, on_tx, &c), 0);
    assert_int_equal(c.n, 0);
    wait_rec(&e, &c);
    assert_int_equal(c.err, PG_ERR_ABORTED);
    assert_int_equal(admin_count("t"), 0);
    /* the one connection serves again, outside any transaction */
    struct rec q = {0};
    assert_int_equal(t_query(&e.pool, "SELECT count(*) FROM t", 0, NULL, on_q, &q), 0);
    wait_rec(&e, &q);
    assert_int_equal(q.err, PG_OK);
    assert_string_equal(q.val, "0");
    env_close(&e, true);
}

/* pg_tx_rollback from inside a statement's callback. */
static struct pg_tx *g_rollback_in_cb_tx;
static void on_insert_then_rollback(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state,
                                    const char *msg)
{
    rec_fill(ud, tx, res, err, state, msg);
    assert_ptr_equal(tx, g_rollback_in_cb_tx);
    pg_tx_rollback(tx);
}

static void test_explicit_rollback(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 1);
    /* from the caller, between statements */
    struct pg_tx *tx = begin_ok(&e, 0);
    struct rec    r;
    const char   *p1[] = {"1", "one"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, &r);
    assert_int_equal(r.err, PG_OK);
    t_rollback(tx);
    struct rec q = {0};
    assert_int_equal(t_query(&e.pool, "SELECT count(*) FROM t", 0, NULL, on_q, &q), 0);
    wait_rec(&e, &q);
    assert_string_equal(q.val, "0");
    /* from inside the statement's own callback */
    tx = begin_ok(&e, 0);
    g_rollback_in_cb_tx = tx;
    memset(&r, 0, sizeof(r));
    assert_int_equal(t_txq(tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, on_insert_then_rollback, &r), 0);
    wait_rec(&e, &r);
    assert_int_equal(r.err, PG_OK);
    memset(&q, 0, sizeof(q));
    assert_int_equal(t_query(&e.pool, "SELECT count(*) FROM t", 0, NULL, on_q, &q), 0);
    wait_rec(&e, &q);
    assert_string_equal(q.val, "0");
    assert_int_equal(admin_count("t"), 0);
    /* rollback of NULL is a no-op */
    t_rollback(NULL);
    env_close(&e, true);
}

/* The client vanished while a statement was in flight. */
static void test_vanished_rollback(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 1);
    struct pg_tx *tx = begin_ok(&e, 0);
    struct rec    r;
    const char   *p1[] = {"1", "one"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, &r);
    assert_int_equal(r.err, PG_OK);
    struct rec s = {0};
    uint64_t   t0 = uv_now(&e.loop);
    assert_int_equal(t_txq(tx, "SELECT pg_sleep(1)", 0, NULL, on_tx, &s), 0);
    t_rollback(tx);
    assert_int_equal(s.n, 0); /* not inside pg_tx_rollback */
    /* queued behind the sleep and the ROLLBACK on the only connection */
    struct rec q = {0};
    assert_int_equal(t_query(&e.pool, "SELECT count(*) FROM t", 0, NULL, on_q, &q), 0);
    wait_rec(&e, &s);
    assert_int_equal(s.err, PG_ERR_ABORTED);
    assert_true(s.at - t0 < 500); /* answered at once, not when the sleep ended */
    wait_rec(&e, &q);
    assert_int_equal(q.err, PG_OK);
    assert_string_equal(q.val, "0");
    assert_true(q.at - t0 >= 900); /* the connection was busy with the sleep until then */
    assert_int_equal(s.n, 1);      /* exactly once */
    assert_int_equal(admin_count("t"), 0);
    env_close(&e, true);
}

static void test_timeout_in_flight(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 1);
    uint64_t      t0 = uv_now(&e.loop);
    struct pg_tx *tx = begin_ok(&e, 300);
    struct rec    r;
    const char   *p1[] = {"1", "one"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, &r);
    assert_int_equal(r.err, PG_OK);
    struct rec s = {0};
    assert_int_equal(t_txq(tx, "SELECT pg_sleep(3)", 0, NULL, on_tx, &s), 0);
    struct rec q = {0};
    assert_int_equal(t_query(&e.pool, "SELECT count(*) FROM t", 0, NULL, on_q, &q), 0);
    wait_rec(&e, &s);
    assert_int_equal(s.err, PG_ERR_TIMEOUT);
    assert_int_equal(pg_http_status(s.err, s.state), 503);
    assert_true(s.at - t0 >= 290);
    assert_true(s.at - t0 < 1500);
    /* the handle still has to be ended: commit of a failed tx only releases */
    struct rec c = {0};
    assert_int_equal(t_commit(tx, on_tx, &c), 0);
    wait_rec(&e, &c);
    assert_int_equal(c.err, PG_ERR_ABORTED);
    /* the server cut the sleep (statement_timeout set by BEGIN), the pool
     * rolled back, and the queued query ran long before the 3 s were up */
    wait_rec(&e, &q);
    assert_int_equal(q.err, PG_OK);
    assert_string_equal(q.val, "0");
    assert_true(q.at - t0 < 2500);
    assert_int_equal(admin_count("t"), 0);
    env_close(&e, true);
}

static void test_timeout_idle(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 1);
    uint64_t      t0 = uv_now(&e.loop);
    struct pg_tx *tx = begin_ok(&e, 200);
    struct rec    r;
    const char   *p1[] = {"1", "one"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, &r);
    assert_int_equal(r.err, PG_OK);
    /* the caller holds the transaction idle (waiting for something else);
     * a plain query waits for the only connection */
    struct rec q = {0};
    assert_int_equal(t_query(&e.pool, "SELECT count(*) FROM t", 0, NULL, on_q, &q), 0);
    wait_rec(&e, &q);
    assert_string_equal(q.val, "0");
    assert_true(q.at - t0 >= 190); /* only once the deadline had rolled back */
    assert_true(q.at - t0 < 1500);
    run_for(&e, 100);
    /* the caller comes back: the first call learns of the timeout */
    txq_wait(&e, tx, "SELECT 1", 0, NULL, &r);
    assert_int_equal(r.err, PG_ERR_TIMEOUT);
    assert_int_equal(pg_http_status(r.err, r.state), 503);
    txq_wait(&e, tx, "SELECT 1", 0, NULL, &r);
    assert_int_equal(r.err, PG_ERR_ABORTED);
    t_rollback(tx);
    assert_int_equal(admin_count("t"), 0);
    env_close(&e, true);
}

/* The pool's statement timeout inside a transaction: 57014, rolled back, 503. */
static void test_statement_timeout_in_tx(void **state)
{
    (void)state;
    struct env e;
    env_open_with(&e, g_url, 1, 200, true);
    struct pg_tx *tx = begin_ok(&e, 0);
    struct rec    r;
    const char   *p1[] = {"1", "one"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, &r);
    assert_int_equal(r.err, PG_OK);
    txq_wait(&e, tx, "SELECT pg_sleep(2)", 0, NULL, &r);
    assert_int_equal(r.err, PG_ERR_SQL);
    assert_string_equal(r.state, "57014");
    assert_int_equal(pg_http_status(r.err, r.state), 503);
    t_rollback(tx);
    assert_int_equal(admin_count("t"), 0);
    env_close(&e, true);
}

static int backend_pid_of(struct env *e, struct pg_tx *tx)
{
    struct rec r;
    txq_wait(e, tx, "SELECT pg_backend_pid()", 0, NULL, &r);
    assert_int_equal(r.err, PG_OK);
    return atoi(r.val);
}

static void admin_terminate(int pid)
{
    char sql[96], v[16];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pid);
    admin_value(sql, v, sizeof(v));
    assert_string_equal(v, "t");
}

static void test_connection_lost(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 2);
    /* lost with a statement in flight */
    struct pg_tx *tx = begin_ok(&e, 0);
    struct rec    r;
    const char   *p1[] = {"1", "one"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, &r);
    int        pid = backend_pid_of(&e, tx);
    struct rec s = {0};
    assert_int_equal(t_txq(tx, "SELECT pg_sleep(5)", 0, NULL, on_tx, &s), 0);
    run_for(&e, 100);
    admin_terminate(pid);
    wait_rec(&e, &s);
    assert_int_equal(s.err, PG_ERR_CONN);
    assert_int_equal(pg_http_status(s.err, s.state), 503);
    txq_wait(&e, tx, "SELECT 1", 0, NULL, &r);
    assert_int_equal(r.err, PG_ERR_ABORTED);
    t_rollback(tx);
    /* lost while the caller held it idle: the next call reports the loss */
    tx = begin_ok(&e, 0);
    pid = backend_pid_of(&e, tx);
    admin_terminate(pid);
    run_for(&e, 300);
    txq_wait(&e, tx, "SELECT 1", 0, NULL, &r);
    assert_int_equal(r.err, PG_ERR_CONN);
    struct rec c = {0};
    assert_int_equal(t_commit(tx, on_tx, &c), 0);
    wait_rec(&e, &c);
    assert_int_equal(c.err, PG_ERR_ABORTED);
    assert_int_equal(admin_count("t"), 0);
    /* both connections come back */
    if (!wait_n(&e, &e.pool.up, 2, 10000))
        fail_msg("pool did not reconnect");
    env_close(&e, true);
}

/* Two transactions on two connections: the second's FOR UPDATE waits until
 * the first commits. The second's answer cannot come before the first's
 * COMMIT is sent (it is held 300 ms first, with the first transaction idle);
 * it sees the first's update, which it could not have without waiting.
 * (The server releases the lock inside COMMIT, before it answers it, so
 * the order of the COMMIT's callback and the waiter's answer is not fixed.) */
static const char *g_order[16];
static int         g_norder;
static void        order(const char *what)
{
    assert_true(g_norder < 16);
    g_order[g_norder++] = what;
}

static struct rec g_b_lock;
static void on_b_locked(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    rec_fill(ud, tx, res, err, state, msg);
    order("B locked");
}

static void test_for_update_waits(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 2);
    g_norder = 0;
    admin_exec("INSERT INTO t (id, v) VALUES (1, 'open')");
    struct pg_tx *a = begin_ok(&e, 0);
    struct rec    r;
    txq_wait(&e, a, "SELECT v FROM t WHERE id = 1 FOR UPDATE", 0, NULL, &r);
    assert_int_equal(r.err, PG_OK);
    assert_string_equal(r.val, "open");
    order("A locked");
    struct pg_tx *b = begin_ok(&e, 0);
    memset(&g_b_lock, 0, sizeof(g_b_lock));
    assert_int_equal(t_txq(b, "SELECT v FROM t WHERE id = 1 FOR UPDATE", 0, NULL, on_b_locked, &g_b_lock), 0);
    order("B sent");
    uint64_t t_sent = uv_now(&e.loop);
    run_for(&e, 300);
    assert_int_equal(g_b_lock.n, 0); /* still waiting for A's lock */
    txq_wait(&e, a, "UPDATE t SET v = 'assigned' WHERE id = 1", 0, NULL, &r);
    assert_int_equal(r.err, PG_OK);
    assert_int_equal(g_b_lock.n, 0);
    struct rec c = {0};
    order("A commit sent");
    assert_int_equal(t_commit(a, on_tx, &c), 0);
    wait_rec(&e, &c);
    assert_int_equal(c.err, PG_OK);
    wait_rec(&e, &g_b_lock);
    assert_int_equal(g_b_lock.err, PG_OK);
    assert_string_equal(g_b_lock.val, "assigned");
    assert_true(g_b_lock.at - t_sent >= 300);
    assert_int_equal(g_norder, 4);
    assert_string_equal(g_order[0], "A locked");
    assert_string_equal(g_order[1], "B sent");
    assert_string_equal(g_order[2], "A commit sent");
    assert_string_equal(g_order[3], "B locked");
    memset(&c, 0, sizeof(c));
    assert_int_equal(t_commit(b, on_tx, &c), 0);
    wait_rec(&e, &c);
    assert_int_equal(c.err, PG_OK);
    env_close(&e, true);
}

/* ---- no callback inside its call ---------------------------------------- */

static void test_never_synchronous(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 1);
    /* libpq refuses more than 65535 parameters before sending anything: the
     * old pool called back inside pg_query here */
    enum { MANY = 70000 };
    const char **many = calloc(MANY, sizeof(char *));
    assert_non_null(many);
    struct rec q = {0};
    assert_int_equal(t_query(&e.pool, "SELECT 1", MANY, many, on_q, &q), 0);
    assert_int_equal(q.n, 0);
    wait_rec(&e, &q);
    assert_int_equal(q.err, PG_ERR_SQL);
    /* the same inside a transaction: it fails (and rolls back), later */
    struct pg_tx *tx = begin_ok(&e, 0);
    struct rec    r;
    const char   *p1[] = {"1", "one"};
    txq_wait(&e, tx, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, p1, &r);
    memset(&r, 0, sizeof(r));
    assert_int_equal(t_txq(tx, "SELECT 1", MANY, many, on_tx, &r), 0);
    assert_int_equal(r.n, 0);
    /* one statement at a time: a second while the first is pending is refused, no callback */
    struct rec r2 = {0};
    assert_true(t_txq(tx, "SELECT 2", 0, NULL, on_tx, &r2) < 0);
    assert_true(t_commit(tx, on_tx, &r2) < 0);
    wait_rec(&e, &r);
    assert_int_equal(r.err, PG_ERR_SQL);
    struct rec c = {0};
    assert_int_equal(t_commit(tx, on_tx, &c), 0);
    assert_int_equal(c.n, 0);
    wait_rec(&e, &c);
    assert_int_equal(c.err, PG_ERR_ABORTED);
    free(many);
    run_for(&e, 20);
    assert_int_equal(r2.n, 0);
    assert_int_equal(admin_count("t"), 0);
    env_close(&e, true);
}

/* ---- chains ----------------------------------------------------------------- */

struct claim {
    struct pg_chain ch;
    int             id;
    char            idtxt[16];
    char            want[16], to[16];
    char            before[16];
    bool            skip_step_saw_update;
    /* what done saw */
    int         ndone, stop;
    enum pg_err err;
    char        state[8];
    uint64_t    at;
};

static int step_lock(struct pg_chain *ch, PGresult *prev)
{
    struct claim *c = ch->ud;
    assert_null(prev);
    const char *params[] = {c->idtxt};
    return pg_chain_query(ch, "SELECT v FROM t WHERE id = $1 FOR UPDATE", 1, params);
}

static int step_check_update(struct pg_chain *ch, PGresult *prev)
{
    struct claim *c = ch->ud;
    if (PQntuples(prev) == 0)
        return 404;
    snprintf(c->before, sizeof(c->before), "%s", PQgetvalue(prev, 0, 0));
    if (strcmp(c->before, c->want) != 0)
        return 409;
    const char *params[] = {c->idtxt, c->to};
    return pg_chain_query(ch, "UPDATE t SET v = $2 WHERE id = $1", 2, params);
}

/* issues nothing: the next step gets the UPDATE's result */
static int step_skip(struct pg_chain *ch, PGresult *prev)
{
    struct claim *c = ch->ud;
    c->skip_step_saw_update = !strcmp(PQcmdStatus(prev), "UPDATE 1");
    return 0;
}

static int step_audit(struct pg_chain *ch, PGresult *prev)
{
    struct claim *c = ch->ud;
    assert_string_equal(PQcmdStatus(prev), "UPDATE 1");
    const char *params[] = {c->idtxt, c->before, c->to};
    return pg_chain_query(ch, "INSERT INTO audit (t_id, before, after) VALUES ($1, $2, $3)", 3, params);
}

static const pg_step claim_steps[] = {step_lock, step_check_update, step_skip, step_audit, NULL};

static void on_claim_done(struct pg_chain *ch, int stop, enum pg_err err, const char *state, const char *msg)
{
    struct claim *c = ch->ud;
    (void)msg;
    callback_entered();
    assert_ptr_equal(&c->ch, ch);
    c->ndone++;
    c->stop = stop;
    c->err = err;
    c->at = uv_now(g_loop);
    snprintf(c->state, sizeof(c->state), "%s", state ? state : "");
}

static void claim_init(struct claim *c, int id, const char *want, const char *to)
{
    memset(c, 0, sizeof(*c));
    c->id = id;
    snprintf(c->idtxt, sizeof(c->idtxt), "%d", id);
    snprintf(c->want, sizeof(c->want), "%s", want);
    snprintf(c->to, sizeof(c->to), "%s", to);
}

static void run_chain(struct env *e, struct claim *c, const pg_step *steps)
{
    assert_int_equal(t_chain_start(&c->ch, &e->pool, 0, steps, on_claim_done, c), 0);
    assert_int_equal(c->ndone, 0);
    if (!wait_n(e, &c->ndone, 1, 10000))
        fail_msg("chain did not finish");
    run_for(e, 20);
    assert_int_equal(c->ndone, 1);
}

static int step_dup(struct pg_chain *ch, PGresult *prev)
{
    (void)prev;
    return pg_chain_query(ch, "INSERT INTO t (id, v) VALUES (1, 'dup')", 0, NULL);
}

static int step_insert9(struct pg_chain *ch, PGresult *prev)
{
    (void)prev;
    return pg_chain_query(ch, "INSERT INTO t (id, v) VALUES (9, 'nine')", 0, NULL);
}

static int step_sleep(struct pg_chain *ch, PGresult *prev)
{
    (void)prev;
    return pg_chain_query(ch, "SELECT pg_sleep(1)", 0, NULL);
}

static int step_two_statements(struct pg_chain *ch, PGresult *prev)
{
    (void)prev;
    if (pg_chain_query(ch, "SELECT 1", 0, NULL) < 0)
        return -1;
    return pg_chain_query(ch, "SELECT 2", 0, NULL); /* refused: one per step */
}

static void test_chain(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 1);
    admin_exec("INSERT INTO t (id, v) VALUES (1, 'open')");
    struct claim c;

    /* lock, check in C, update, audit, commit */
    claim_init(&c, 1, "open", "assigned");
    run_chain(&e, &c, claim_steps);
    assert_int_equal(c.err, PG_OK);
    assert_int_equal(c.stop, 0);
    assert_true(c.skip_step_saw_update);
    char v[32];
    admin_value("SELECT v FROM t WHERE id = 1", v, sizeof(v));
    assert_string_equal(v, "assigned");
    assert_int_equal(admin_count("audit"), 1);

    /* a step says no: rolled back, done gets its code */
    claim_init(&c, 1, "open", "assigned");
    run_chain(&e, &c, claim_steps);
    assert_int_equal(c.err, PG_OK);
    assert_int_equal(c.stop, 409);
    claim_init(&c, 7, "open", "assigned");
    run_chain(&e, &c, claim_steps);
    assert_int_equal(c.stop, 404);
    assert_int_equal(admin_count("audit"), 1);

    /* a statement fails: done gets its error, nothing of the chain stays */
    static const pg_step dup_steps[] = {step_insert9, step_dup, NULL};
    claim_init(&c, 1, "", "");
    run_chain(&e, &c, dup_steps);
    assert_int_equal(c.err, PG_ERR_SQL);
    assert_string_equal(c.state, "23505");
    assert_int_equal(admin_count("t"), 1);

    /* a step that misuses the API fails the chain */
    static const pg_step bad_steps[] = {step_insert9, step_two_statements, NULL};
    claim_init(&c, 1, "", "");
    run_chain(&e, &c, bad_steps);
    assert_int_equal(c.err, PG_ERR_ABORTED);
    assert_int_equal(admin_count("t"), 1);

    /* cancelled before BEGIN is even done */
    static const pg_step sleep_steps[] = {step_insert9, step_sleep, NULL};
    claim_init(&c, 1, "", "");
    assert_int_equal(t_chain_start(&c.ch, &e.pool, 0, sleep_steps, on_claim_done, &c), 0);
    t_chain_cancel(&c.ch);
    assert_int_equal(c.ndone, 0);
    if (!wait_n(&e, &c.ndone, 1, 10000))
        fail_msg("cancelled chain did not finish");
    assert_int_equal(c.err, PG_ERR_ABORTED);

    /* cancelled with a statement in flight (the client vanished) */
    claim_init(&c, 1, "", "");
    uint64_t t0 = uv_now(&e.loop);
    assert_int_equal(t_chain_start(&c.ch, &e.pool, 0, sleep_steps, on_claim_done, &c), 0);
    run_for(&e, 200);
    assert_int_equal(c.ndone, 0);
    t_chain_cancel(&c.ch);
    assert_int_equal(c.ndone, 0);
    if (!wait_n(&e, &c.ndone, 1, 10000))
        fail_msg("cancelled chain did not finish");
    assert_int_equal(c.err, PG_ERR_ABORTED);
    assert_true(c.at - t0 < 800);
    run_for(&e, 20);
    assert_int_equal(c.ndone, 1);
    /* the plain query in env_close waits for the sleep, then the rollback */
    env_close(&e, true);
    assert_int_equal(admin_count("t"), 1);
}

/* ---- down and closing ------------------------------------------------------- */

static void test_down_refuses(void **state)
{
    (void)state;
    /* a port nobody listens on: the pool never comes up */
    struct env e;
    env_open_with(&e, "postgresql://gss@127.0.0.1:1/none?connect_timeout=2", 1, 0, false);
    run_for(&e, 50);
    assert_int_equal(e.pool.up, 0);
    struct rec   r = {0};
    struct claim c;
    assert_int_equal(t_query(&e.pool, "SELECT 1", 0, NULL, on_q, &r), -PG_ERR_DOWN);
    assert_int_equal(t_begin(&e.pool, 0, on_tx, &r), -PG_ERR_DOWN);
    claim_init(&c, 1, "", "");
    assert_true(t_chain_start(&c.ch, &e.pool, 0, claim_steps, on_claim_done, &c) < 0);
    run_for(&e, 50);
    assert_int_equal(r.n, 0);
    assert_int_equal(c.ndone, 0);
    env_close(&e, false);
}

static void test_close_with_work(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 1);
    struct pg_tx *tx = begin_ok(&e, 0);
    struct rec    s = {0}, q = {0}, b = {0};
    assert_int_equal(t_txq(tx, "SELECT pg_sleep(5)", 0, NULL, on_tx, &s), 0);
    assert_int_equal(t_query(&e.pool, "SELECT 1", 0, NULL, on_q, &q), 0); /* queued */
    assert_int_equal(t_begin(&e.pool, 0, on_tx, &b), 0);                  /* queued */
    run_for(&e, 50);
    t_pool_close(&e.pool);
    e.closed = true;
    assert_int_equal(s.n + q.n + b.n, 0); /* not inside pg_pool_close */
    /* refused once closing */
    struct rec x = {0};
    assert_true(t_query(&e.pool, "SELECT 1", 0, NULL, on_q, &x) < 0);
    assert_true(t_txq(tx, "SELECT 1", 0, NULL, on_tx, &x) < 0);
    assert_int_equal(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.err, PG_ERR_CONN);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.err, PG_ERR_DOWN);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.err, PG_ERR_DOWN);
    assert_null(b.tx);
    assert_int_equal(x.n, 0);
    t_rollback(tx); /* the caller still ends its handle: frees it */
    env_close(&e, false);
}

/* ---- uvpoll ---------------------------------------------------------------- */

struct poll_seen {
    int  n;
    int  events;
    bool close_in_cb;
};

static void on_uvpoll(struct uvpoll *up, void *owner, int events)
{
    struct poll_seen *ps = owner;
    ps->n++;
    ps->events = events;
    assert_ptr_equal(uvpoll_owner(up), owner);
    if (ps->close_in_cb) {
        uvpoll_close(up);
        assert_null(uvpoll_owner(up)); /* still valid memory until the close callback */
    }
}

static void test_uvpoll(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

    /* readable when the peer writes; closed from inside the callback */
    struct poll_seen ps = {.close_in_cb = true};
    struct uvpoll   *up = uvpoll_new(&loop, sv[0], on_uvpoll, &ps);
    assert_non_null(up);
    assert_int_equal(uvpoll_fd(up), sv[0]);
    assert_int_equal(uvpoll_set(up, UV_READABLE), 0);
    assert_int_equal(uvpoll_events(up), UV_READABLE);
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(ps.n, 1);
    assert_int_equal(ps.events, UV_READABLE);

    /* uvpoll_watch: same fd keeps the handle, another fd replaces it */
    struct poll_seen ps2 = {0};
    struct uvpoll   *slot = NULL;
    assert_int_equal(uvpoll_watch(&slot, &loop, sv[0], UV_WRITABLE, on_uvpoll, &ps2), 0);
    struct uvpoll *first = slot;
    assert_int_equal(uvpoll_watch(&slot, &loop, sv[0], UV_READABLE | UV_WRITABLE, on_uvpoll, &ps2), 0);
    assert_ptr_equal(slot, first);
    assert_int_equal(uvpoll_watch(&slot, &loop, sv[1], UV_WRITABLE, on_uvpoll, &ps2), 0);
    assert_int_equal(uvpoll_fd(slot), sv[1]);
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 1);
    assert_true(ps2.n >= 1);
    assert_true(ps2.events & UV_WRITABLE);
    /* closed: a callback libuv may have queued is dropped */
    int before = ps2.n;
    uvpoll_close(slot);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(ps2.n, before);
    close(sv[0]);
    close(sv[1]);

    /* a connect refused: libuv reports an error status with no events;
     * the owner gets readable|writable so the library finds the error */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(s >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(1)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(s, (struct sockaddr *)&sa, sizeof(sa));
    assert_true(rc < 0);
    struct poll_seen ps3 = {.close_in_cb = true};
    up = uvpoll_new(&loop, s, on_uvpoll, &ps3);
    assert_non_null(up);
    assert_int_equal(uvpoll_set(up, UV_WRITABLE), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(ps3.n, 1);
    assert_int_equal(ps3.events, UV_READABLE | UV_WRITABLE);
    close(s);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_uvpoll),
        cmocka_unit_test(test_commit_visible),
        cmocka_unit_test(test_sql_error_rolls_back),
        cmocka_unit_test(test_explicit_rollback),
        cmocka_unit_test(test_vanished_rollback),
        cmocka_unit_test(test_timeout_in_flight),
        cmocka_unit_test(test_timeout_idle),
        cmocka_unit_test(test_statement_timeout_in_tx),
        cmocka_unit_test(test_connection_lost),
        cmocka_unit_test(test_for_update_waits),
        cmocka_unit_test(test_never_synchronous),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_down_refuses),
        cmocka_unit_test(test_close_with_work),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
