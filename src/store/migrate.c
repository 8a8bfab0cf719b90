#include "store/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/embedded.h"
#include "core/log.h"

#define MIGRATE_LOCK_KEY "7470277720130815" /* arbitrary, fixed: "gss migrations" */

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult      *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int            ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

int migrate_run(PGconn *c, char *err, size_t errlen)
{
    int applied = 0;
    if (exec_ok(c,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                err, errlen) < 0)
        return -1;
    if (exec_ok(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen) < 0)
        return -1;
    for (const struct gss_embedded *m = gss_migrations_files; m->name; m++) {
        int version = atoi(m->name);
        if (version <= 0) {
            snprintf(err, errlen, "migration %s: name must start with its number", m->name);
            goto fail;
        }
        char vbuf[16];
        snprintf(vbuf, sizeof(vbuf), "%d", version);
        const char *params[2] = {vbuf, m->name};
        PGresult   *r =
            PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
            PQclear(r);
            goto fail;
        }
        int done = PQntuples(r) > 0;
        PQclear(r);
        if (done)
            continue;
        if (exec_ok(c, "BEGIN", err, errlen) < 0)
            goto fail;
        /* The file may hold many statements: the simple query protocol runs them all. */
        if (exec_ok(c, m->data, err, errlen) < 0) {
            char inner[512];
            snprintf(inner, sizeof(inner), "%s", err);
            snprintf(err, errlen, "migration %s failed: %s", m->name, inner);
            PQclear(PQexec(c, "ROLLBACK"));
            goto fail;
        }
        r = PQexecParams(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, NULL, params, NULL,
                         NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        if (!ok || exec_ok(c, "COMMIT", err, errlen) < 0) {
            PQclear(PQexec(c, "ROLLBACK"));
            goto fail;
        }
        log_info("migrate", "applied %s", m->name);
        applied++;
    }
    PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    return applied;
fail:
    PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    return -1;
}
