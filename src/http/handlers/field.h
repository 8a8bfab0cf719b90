/*
 * field: the ticket-scoped routes of a technician's visit (check-in,
 * check-out, complete) and CS's cancel; field_access is the one gate every
 * ticket-scoped handler (letter, attachments, field work) goes through.
 */
#ifndef GSS_HTTP_HANDLERS_FIELD_H
#define GSS_HTTP_HANDLERS_FIELD_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

enum field_verdict { FIELD_ALLOWED, FIELD_DENIED, FIELD_UNAVAILABLE };
typedef void (*field_access_cb)(struct http_req *req, enum field_verdict v, void *ud);

/* May the caller see and act on this ticket? admin, cs, sales: yes; a
 * technician: while holding a slot of it, including a slot claimed a moment
 * ago that only Redis knows yet (it is written to PostgreSQL before cb
 * runs, so the handler can read it there). cb runs exactly once; the caller
 * answers every verdict (DENIED: 404, so that a technician cannot probe
 * which tickets exist; UNAVAILABLE: 503). */
void field_access(struct http_req *req, int64_t ticket_id, field_access_cb cb, void *ud);

/* The usual answer to a refusal: 503 when the stores could not say, 404
 * "no such ticket" when denied. true when it answered (v != FIELD_ALLOWED). */
bool field_refused(struct http_req *req, enum field_verdict v);

#endif
