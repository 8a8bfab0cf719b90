/*
 * pg: a small pool of non-blocking libpq connections on the loop.
 *
 * pg_query() queues one parameterised statement (PQsendQueryParams; text
 * parameters, NULL for SQL NULL) and calls cb exactly once on the loop
 * thread, with the result or an error. Parameters are copied at call time,
 * so the caller's strings may die right after. The PGresult passed to cb is
 * freed when cb returns.
 *
 * Each connection's socket is watched by a uv_poll_t; a connection that
 * fails is reconnected from a timer with exponential backoff (100 ms up to
 * 5 s). While no connection is up, new queries fail at once with
 * PG_ERR_DOWN (handlers answer 503) instead of piling up; a query already
 * sent on a connection that dies fails with PG_ERR_CONN (its outcome is
 * unknown, so it is never silently retried).
 *
 * Atomic multi-row work is written as one statement (CTEs, json_to_recordset)
 * rather than BEGIN/COMMIT over several round trips: one statement is one
 * transaction in PostgreSQL, and the pool never has to pin a connection.
 */
#ifndef GSS_STORE_PG_H
#define GSS_STORE_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <uv.h>

enum pg_err { PG_OK = 0, PG_ERR_DOWN = 1, PG_ERR_CONN = 2, PG_ERR_SQL = 3, PG_ERR_FULL = 4 };

/* res is non-NULL iff err == PG_OK (PGRES_TUPLES_OK or PGRES_COMMAND_OK).
 * For PG_ERR_SQL, sqlstate holds the 5-character code (e.g. "23505"). */
typedef void (*pg_cb)(void *ud, PGresult *res, enum pg_err err, const char *sqlstate, const char *msg);

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
    int              open_timers; /* retry timers not yet closed */
    uint64_t         queries, errors;
    void (*on_state)(struct pg_pool *pool, bool up); /* optional; any -> none up, or back */
    void *data;
};

/* Parses the URL/conninfo; resolves a host name once, here, so that the
 * loop never waits on DNS. Returns 0 or -1 with err filled. */
int  pg_pool_init(struct pg_pool *p, uv_loop_t *loop, const char *url, int size, char *err, size_t errlen);
/* Every statement on the pool's connections is cancelled by PostgreSQL
 * after ms (the query's callback gets PG_ERR_SQL 57014), so a stuck query or
 * lock wait cannot hold a request forever. Call before pg_pool_start. */
int  pg_pool_set_statement_timeout(struct pg_pool *p, int64_t ms);
void pg_pool_start(struct pg_pool *p);
/* Fails what is queued, closes every connection; handles close on the loop. */
void pg_pool_close(struct pg_pool *p);

int pg_query(struct pg_pool *p, const char *sql, int nparams, const char *const *params, pg_cb cb, void *ud);

/* Blocking connect for command-line subcommands (migrate, check, user add). */
PGconn *pg_connect_blocking(const char *url, char *err, size_t errlen);

#endif
