/*
 * common: what several handlers answer the same way.
 */
#include <stdlib.h>

#include "auth/roles.h"
#include "auth/session.h"
#include "core/log.h"
#include "domain/states.h"
#include "http/handlers/handlers.h"

void h_pg_error(struct http_req *req, const char *who, enum pg_err err, const char *state, const char *msg)
{
    /* One rule for every handler (store/pg.c: pg_http_status): a store that
     * is down, a connection lost mid-statement, a timeout or a serialization
     * failure is the service being unavailable (503, try again), never a
     * 500. */
    int status = pg_http_status(err, state);
    if (status == 503) {
        if (state && state[0] && err == PG_ERR_SQL)
            log_warn(who, "query not completed: %s %s", state, msg ? msg : "");
        http_add_header(req, "Retry-After", "1");
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
        return;
    }
    log_error(who, "query failed: %s %s", state ? state : "", msg ? msg : "");
    http_error(req, 500, "internal", "the request failed");
}

unsigned h_actor(const struct auth_session *s)
{
    switch (s ? s->role : 0) {
    case ROLE_ADMIN: return DOM_ACTOR_ADMIN;
    case ROLE_CS: return DOM_ACTOR_CS;
    case ROLE_TS: return DOM_ACTOR_TS;
    case ROLE_SALES: return DOM_ACTOR_SALES;
    default: return 0;
    }
}
