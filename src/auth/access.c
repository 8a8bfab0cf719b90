#include "auth/access.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth/session.h"
#include "core/app.h"
#include "core/log.h"
#include "store/pg.h"

struct access_ctx {
    struct http_req *req;
    auth_access_cb   cb;
};

static void on_assignment(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct access_ctx *ax = ud;
    struct http_req   *req = ax->req;
    auth_access_cb     cb = ax->cb;
    free(ax);
    if (err != PG_OK) {
        if (err == PG_ERR_SQL)
            log_error("access", "assignment lookup failed: %s %s", state ? state : "", msg ? msg : "");
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
        return;
    }
    cb(req, PQntuples(res) > 0);
}

void auth_ticket_access(struct http_req *req, int64_t ticket_id, auth_access_cb cb)
{
    const struct auth_session *s = req->session;
    if (!s || ticket_id <= 0) {
        cb(req, false);
        return;
    }
    if (s->role & (ROLE_ADMIN | ROLE_CS | ROLE_SALES)) {
        cb(req, true);
        return;
    }
    if (s->role != ROLE_TS) {
        cb(req, false);
        return;
    }
    char tid[24], uid[24];
    snprintf(tid, sizeof(tid), "%lld", (long long)ticket_id);
    snprintf(uid, sizeof(uid), "%lld", (long long)s->user_id);
    const char        *params[2] = {tid, uid};
    struct access_ctx *ax = xmalloc(sizeof(*ax));
    ax->req = req;
    ax->cb = cb;
    if (pg_query(req->app->pg,
                 "SELECT 1 FROM assignments WHERE ticket_id = $1 AND tech_id = $2 AND released_at IS NULL", 2, params,
                 on_assignment, ax) < 0) {
        free(ax);
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}
