/*
 * states: the ticket, assignment and invoice state machines (DESIGN.md §1)
 * as ONE table of rows (entity, from, event, to, who may) and ONE function
 * that checks a transition against it.
 *
 * What it provides:
 *   - the state and event enums of the three entities, with their wire
 *     names (the same strings as the database's status columns and the API);
 *   - dom_transition: given an entity, its current state, an event and the
 *     kind of actor asking, the verdict and the state it leads to;
 *   - the words for a refusal: a snake_case code for the error body and a
 *     plain-English sentence ("cannot checkout: assignment is claimed (no
 *     check-in yet); allowed from checked_in");
 *   - the table itself (dom_table_each), for docs/states.md and for tools.
 *
 * Who: the domain does not know the auth layer's roles (auth sits above
 * it). It speaks of actor kinds, DOM_ACTOR_* bits, and the HTTP layer maps a
 * session's role to one of them. DOM_ACTOR_SYSTEM is the server acting on
 * its own: the visit monitor's timers (late, no-show) and the persister
 * applying pool events (claims, releases) that Redis already accepted.
 * DOM_ACTOR_ADMIN may do what CS and Sales may; never the technician's field
 * actions (check-in and check-out need the technician's phone on site).
 *
 * Order of the checks in dom_transition, so that answers are predictable:
 *   1. an entity, state or event out of range: DOM_UNKNOWN (400);
 *   2. an actor that may do this event from NO state: DOM_NOT_ALLOWED (403),
 *      whatever the current state ("who" is checked before "when", so a
 *      technician learns nothing about a ticket it may not cancel anyway);
 *   3. no row from the current state for this event: DOM_WRONG_STATE (409);
 *   4. a row, but not for this actor: DOM_NOT_ALLOWED (403);
 *   5. otherwise DOM_OK and *to is the new state.
 *
 * Policy that lives in the caller, not here: a ticket whose slots are not
 * all taken stays open, so the first check-in on an OPEN ticket changes only
 * the assignment (first_checkin from open is DOM_WRONG_STATE; the handler
 * fires first_checkin only on an assigned ticket). Guards on data (a BAST
 * uploaded, every technician checked out, payment amount) are the handler's.
 *
 * Memory and threads: no allocation, no I/O, no mutable state; every
 * function is safe from any thread. Returned strings are static.
 */
#ifndef GSS_DOMAIN_STATES_H
#define GSS_DOMAIN_STATES_H

#include <stdbool.h>
#include <stddef.h>

enum dom_entity { DOM_TICKET, DOM_ASSIGNMENT, DOM_INVOICE, DOM_ENTITY_COUNT };

/* Actor kinds, one bit each; a row's `actors` is a mask of them. */
#define DOM_ACTOR_CS     0x01u
#define DOM_ACTOR_TS     0x02u
#define DOM_ACTOR_SALES  0x04u
#define DOM_ACTOR_ADMIN  0x08u
#define DOM_ACTOR_SYSTEM 0x10u

/* Ticket (tickets.status). */
enum dom_ticket_state {
    DOM_TICKET_OPEN,             /* in the pool; 0 <= taken < N */
    DOM_TICKET_ASSIGNED,         /* all N slots taken */
    DOM_TICKET_IN_PROGRESS,      /* first check-in */
    DOM_TICKET_WORK_DONE,        /* BAST uploaded, everyone checked out */
    DOM_TICKET_INVOICING,        /* CS drafting, Sales approving */
    DOM_TICKET_AWAITING_PAYMENT, /* invoice sent */
    DOM_TICKET_PAID,
    DOM_TICKET_CLOSED,    /* final */
    DOM_TICKET_CANCELLED, /* final */
    DOM_TICKET_STATE_COUNT
};
enum dom_ticket_event {
    DOM_TICKET_EV_CLAIM_PARTIAL, /* a claim that leaves slots free: open -> open */
    DOM_TICKET_EV_FILL,          /* the claim that takes the last slot */
    DOM_TICKET_EV_RELEASE,       /* "Cari Pengganti": a slot back to the pool */
    DOM_TICKET_EV_FIRST_CHECKIN,
    DOM_TICKET_EV_ALL_DONE,
    DOM_TICKET_EV_CANCEL,
    DOM_TICKET_EV_START_INVOICE,
    DOM_TICKET_EV_SEND_INVOICE,
    DOM_TICKET_EV_PAY,
    DOM_TICKET_EV_CLOSE,
    DOM_TICKET_EV_VOID_PAYMENT, /* a voided payment uncovers the total: paid -> awaiting_payment */
    DOM_TICKET_EVENT_COUNT
};

/* Assignment: one technician's slot of a ticket. */
enum dom_asg_state {
    DOM_ASG_CLAIMED,
    DOM_ASG_LATE,    /* monitor: no check-in by scheduled time + grace */
    DOM_ASG_NO_SHOW, /* monitor: still none later; may still check in */
    DOM_ASG_CHECKED_IN,
    DOM_ASG_CHECKED_OUT,
    DOM_ASG_DONE,      /* final */
    DOM_ASG_REPLACED,  /* final: released by CS, kept for the record */
    DOM_ASG_CANCELLED, /* final: its ticket was cancelled */
    DOM_ASG_STATE_COUNT
};
enum dom_asg_event {
    DOM_ASG_EV_CHECKIN,
    DOM_ASG_EV_CHECKOUT,
    DOM_ASG_EV_COMPLETE,
    DOM_ASG_EV_REPLACE,
    DOM_ASG_EV_MARK_LATE,
    DOM_ASG_EV_MARK_NO_SHOW,
    DOM_ASG_EV_CANCEL,
    DOM_ASG_EV_FORCE_REPLACE, /* Cari Pengganti after a check-in: only with force and a reason */
    DOM_ASG_EVENT_COUNT
};

/* Invoice: the approval loop. */
enum dom_inv_state {
    DOM_INV_DRAFT,
    DOM_INV_PENDING_APPROVAL,
    DOM_INV_APPROVED,
    DOM_INV_REVISION_REQUESTED,
    DOM_INV_SENT,
    DOM_INV_PAID, /* final once its ticket is closed */
    DOM_INV_STATE_COUNT
};
enum dom_inv_event {
    DOM_INV_EV_SUBMIT,
    DOM_INV_EV_APPROVE,
    DOM_INV_EV_REVISE,
    DOM_INV_EV_EDIT, /* draft -> draft (a PATCH), revision_requested -> draft */
    DOM_INV_EV_SEND,
    DOM_INV_EV_PAY,
    DOM_INV_EV_RESEND,       /* sent -> sent: the same links again */
    DOM_INV_EV_VOID_PAYMENT, /* paid -> sent */
    DOM_INV_EVENT_COUNT
};

/* One row of the table: `event` takes `entity` from `from` to `to`, when
 * asked by an actor in `actors`. States and events are the entity's enums. */
struct dom_row {
    enum dom_entity entity;
    int             from;
    int             event;
    int             to;
    unsigned        actors; /* DOM_ACTOR_* mask */
};

enum dom_verdict {
    DOM_OK,
    DOM_WRONG_STATE, /* 409: no such move from this state */
    DOM_NOT_ALLOWED, /* 403: this actor may not */
    DOM_UNKNOWN      /* 400: entity, state or event out of range */
};

/* "ticket", "assignment", "invoice"; NULL when out of range. */
const char *dom_entity_name(enum dom_entity e);

/* Number of states / events of e (0 when e is out of range). */
int dom_state_count(enum dom_entity e);
int dom_event_count(enum dom_entity e);

/* Wire names <-> enum values. parse returns -1 for an unknown name (or NULL);
 * name returns NULL for an out-of-range value. Names are snake_case. */
int         dom_state_parse(enum dom_entity e, const char *name);
const char *dom_state_name(enum dom_entity e, int state);
int         dom_event_parse(enum dom_entity e, const char *name);
const char *dom_event_name(enum dom_entity e, int event);

/* "cs", "ts", "sales", "admin", "system" for one DOM_ACTOR_* bit; NULL else. */
const char *dom_actor_name(unsigned one_actor);

/* The check (see the order above). `actor` is normally one DOM_ACTOR_* bit;
 * a mask means "any of these". *to is written only on DOM_OK; `to` may be
 * NULL for a "may I?" question. */
enum dom_verdict dom_transition(enum dom_entity e, int from, int event, unsigned actor, int *to);

/* The error code for a verdict, for {"error":{"code":…}}: "ok",
 * "invalid_transition", "forbidden", "unknown_transition". */
const char *dom_verdict_code(enum dom_verdict v);

/* A sentence for the error's message about `event` from `from`, e.g.
 * "cannot checkout: assignment is claimed (no check-in yet); allowed from
 * checked_in". Ignores actors (the caller words a 403 itself; see
 * dom_event_actors). Always NUL-terminates when len > 0, truncating;
 * returns the length it wrote. */
size_t dom_explain(enum dom_entity e, int from, int event, char *buf, size_t len);

/* Union of the actors of every row of `event` (0 when out of range). */
unsigned dom_event_actors(enum dom_entity e, int event);

/* True when no row leaves `state` (closed, cancelled, done, replaced, paid). */
bool dom_state_final(enum dom_entity e, int state);

/* Calls fn(ud, row) for every row, in table order (grouped by entity, then
 * in the order of the flow). */
void dom_table_each(void (*fn)(void *ud, const struct dom_row *row), void *ud);

#endif
