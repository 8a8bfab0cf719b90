/*
 * replace: "Cari Pengganti", a technician's slot of a ticket handed back to
 * the pool (docs/monitor.md, docs/fieldwork.md).
 *
 * What it provides: the route POST /api/v1/tickets/{id}/replace (CS and
 * admin: h_tickets_replace in handlers.h) and replace_auto, the same
 * replacement asked for by gssd itself (GSS_AUTO_REPLACE_AFTER_S: the
 * monitor's callback, wired in app/modules.c). Both run one core:
 *
 *   BEGIN; lock the ticket, then the technician's assignment (FOR UPDATE);
 *   the state table says whether the move is legal (replace from claimed,
 *   late, no_show; force_replace after a check-in, only with force);
 *   the pool's Lua release (frees the slot, bars the technician, reopens
 *   the job urgent, announces it naming the released technician);
 *   only then the assignment (replaced, reason, actor, time), the ticket
 *   (open, urgent) and the audit rows; COMMIT; the monitor.replaced event.
 *
 * A release that fails (not_assigned, inconsistent, Redis down) rolls the
 * transaction back and nothing changed. A COMMIT that fails after the
 * release leaves Redis ahead of PostgreSQL: the persister applies the
 * release event (the assignment becomes replaced, released_at set), but the
 * reason, actor and audit rows are lost; that is logged as an error.
 *
 * Memory: the core owns its context and frees it when it has answered (the
 * request) or logged (replace_auto). Threads: loop thread only.
 */
#ifndef GSS_HTTP_HANDLERS_REPLACE_H
#define GSS_HTTP_HANDLERS_REPLACE_H

#include <stdint.h>

struct gss_services;

/* gssd releases a no-show on its own: actor system (audit actor_id NULL),
 * reason "no-show after N s" (N = GSS_AUTO_REPLACE_AFTER_S), never after a
 * check-in. Fire and forget: the outcome is logged (a refusal, e.g. the
 * technician checked in meanwhile or CS replaced them first, at info
 * level). Returns 0 when the attempt started, -1 when it could not
 * (PostgreSQL down or full, bad ids); the caller may try again on its next
 * scan. */
int replace_auto(struct gss_services *svc, int64_t ticket_id, int64_t tech_id);

#endif
