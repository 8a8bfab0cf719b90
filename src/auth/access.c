#include "auth/access.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth/session.h"
#include "core/buf.h"
#include "core/log.h"
#include "store/pg.h"

struct access_ctx {
    uv_timer_t     defer; /* only when the query could not be queued */
    auth_access_cb cb;
    void          *ud;
};

static void on_assignment(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct access_ctx *ax = ud;
    auth_access_cb     cb = ax->cb;
    void              *cb_ud = ax->ud;
    free(ax);
    if (err != PG_OK) {
        if (err == PG_ERR_SQL)
            log_error("access", "assignment lookup failed: %s %s", state ? state : "", msg ? msg : "");
        cb(cb_ud, AUTH_ACCESS_UNAVAILABLE);
        return;
    }
    cb(cb_ud, PQntuples(res) > 0 ? AUTH_ACCESS_ALLOWED : AUTH_ACCESS_DENIED);
}

/* The verdict goes out from the close callback: the handle is gone by then,
 * so the context can be freed right after. */
static void on_deferred_closed(uv_handle_t *h)
{
    struct access_ctx *ax = h->data;
    auth_access_cb     cb = ax->cb;
    void              *cb_ud = ax->ud;
    free(ax);
    cb(cb_ud, AUTH_ACCESS_UNAVAILABLE);
}

static void on_deferred(uv_timer_t *t)
{
    uv_close((uv_handle_t *)t, on_deferred_closed);
}

void auth_ticket_access(struct pg_pool *pg, const struct auth_session *s, int64_t ticket_id, auth_access_cb cb,
                        void *ud)
{
    if (!s || ticket_id <= 0) {
        cb(ud, AUTH_ACCESS_DENIED);
        return;
    }
    if (s->role & (ROLE_ADMIN | ROLE_CS | ROLE_SALES)) {
        cb(ud, AUTH_ACCESS_ALLOWED);
        return;
    }
    if (s->role != ROLE_TS) {
        cb(ud, AUTH_ACCESS_DENIED);
        return;
    }
    char tid[24], uid[24];
    snprintf(tid, sizeof(tid), "%lld", (long long)ticket_id);
    snprintf(uid, sizeof(uid), "%lld", (long long)s->user_id);
    const char        *params[2] = {tid, uid};
    struct access_ctx *ax = xmalloc(sizeof(*ax));
    ax->cb = cb;
    ax->ud = ud;
    if (pg_query(pg, "SELECT 1 FROM assignments WHERE ticket_id = $1 AND tech_id = $2 AND released_at IS NULL", 2,
                 params, on_assignment, ax) < 0) {
        /* PostgreSQL is down or its queue is full: the same answer as a
         * failed query, but not from inside this call. */
        uv_timer_init(pg->loop, &ax->defer);
        ax->defer.data = ax;
        uv_timer_start(&ax->defer, on_deferred, 0, 0);
    }
}
