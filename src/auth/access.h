/*
 * access: the one answer to "may this caller see or act on this ticket?",
 * shared by every endpoint that touches a ticket (letter, check-in/out,
 * attachments, completion, ...), so the rule lives in one place.
 *
 * Rule: admin, cs and sales may; a technician (ts) may while holding an
 * unreleased slot of the ticket (a row in assignments with released_at IS
 * NULL). No session (s NULL), another role, or a ticket id <= 0: may not.
 *
 * auth_ticket_access(pg, s, ticket_id, cb, ud): cb(ud, verdict) runs exactly
 * once, whatever happens.
 *   - Everything but a technician needs no lookup: cb runs BEFORE the call
 *     returns (set up any state first).
 *   - A technician: cb runs later, never from inside the call, with
 *     AUTH_ACCESS_ALLOWED or AUTH_ACCESS_DENIED from PostgreSQL's answer, or
 *     AUTH_ACCESS_UNAVAILABLE if PostgreSQL failed or could not take the
 *     query (then on the next loop turn, from a timer on pg->loop).
 * The caller answers every verdict: denied is usually 404 not_found, so that
 * a technician cannot probe which tickets exist; unavailable is 503.
 *
 * s is only read during the call (the caller keeps its reference); pg must
 * outlive the query. Loop thread only.
 */
#ifndef GSS_AUTH_ACCESS_H
#define GSS_AUTH_ACCESS_H

#include <stdint.h>

struct pg_pool;
struct auth_session;

enum auth_access_verdict {
    AUTH_ACCESS_ALLOWED = 0,
    AUTH_ACCESS_DENIED,
    AUTH_ACCESS_UNAVAILABLE, /* PostgreSQL failed while answering */
};

typedef void (*auth_access_cb)(void *ud, int verdict);

void auth_ticket_access(struct pg_pool *pg, const struct auth_session *s, int64_t ticket_id, auth_access_cb cb,
                        void *ud);

#endif
