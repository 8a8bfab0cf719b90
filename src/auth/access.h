/*
 * access: the one answer to "may this caller see or act on this ticket?",
 * shared by every endpoint that touches a ticket (letter, check-in/out,
 * attachments, completion, ...), so the rule lives in one place.
 *
 * Rule: admin, cs and sales may; a technician (ts) may while holding an
 * unreleased slot of the ticket (a row in assignments with released_at IS
 * NULL). A request without a session may not.
 *
 * auth_ticket_access(req, ticket_id, cb) calls cb(req, allowed) exactly once,
 * unless PostgreSQL cannot answer: then it answers the request itself with
 * 503 unavailable and cb is NOT called. For roles that need no lookup cb runs
 * before auth_ticket_access returns (set up any state first). When allowed
 * is false the caller answers; 404 not_found is the usual choice, so that a
 * technician cannot probe which tickets exist.
 */
#ifndef GSS_AUTH_ACCESS_H
#define GSS_AUTH_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

typedef void (*auth_access_cb)(struct http_req *req, bool allowed);

void auth_ticket_access(struct http_req *req, int64_t ticket_id, auth_access_cb cb);

#endif
