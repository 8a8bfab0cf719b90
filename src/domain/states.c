#include "domain/states.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CS     DOM_ACTOR_CS
#define TS     DOM_ACTOR_TS
#define SALES  DOM_ACTOR_SALES
#define ADMIN  DOM_ACTOR_ADMIN
#define SYSTEM DOM_ACTOR_SYSTEM

/* clang-format off */
#define T(from, ev, to, who) {DOM_TICKET, DOM_TICKET_##from, DOM_TICKET_EV_##ev, DOM_TICKET_##to, (who)}
#define A(from, ev, to, who) {DOM_ASSIGNMENT, DOM_ASG_##from, DOM_ASG_EV_##ev, DOM_ASG_##to, (who)}
#define I(from, ev, to, who) {DOM_INVOICE, DOM_INV_##from, DOM_INV_EV_##ev, DOM_INV_##to, (who)}
/* clang-format on */

/*
 * THE table. One row per (entity, from, event): a move allowed from several
 * states is written once per state, so that the check is a plain lookup and
 * docs/states.md can list it row by row (tests/unit/test_domain_states.c
 * compares the two). Keep the rows in the order of the flow.
 */
static const struct dom_row rows[] = {
    /* Ticket. Claims and releases are decided atomically in Redis by the pool
     * (claim.lua, release.lua); the persister applies them to PostgreSQL as
     * SYSTEM, so SYSTEM may do what the claiming TS or the releasing CS did. */
    T(OPEN, CLAIM_PARTIAL, OPEN, TS | SYSTEM),
    T(OPEN, FILL, ASSIGNED, TS | SYSTEM),
    T(OPEN, RELEASE, OPEN, CS | ADMIN | SYSTEM),
    T(ASSIGNED, RELEASE, OPEN, CS | ADMIN | SYSTEM),
    /* A slot freed after work started (a forced replacement, or a no-show
     * beside a colleague who checked in): the ticket needs a technician
     * again, so it is open; the claim that fills it makes it in_progress
     * again when someone is still checked in (the persister). */
    T(IN_PROGRESS, RELEASE, OPEN, CS | ADMIN | SYSTEM),
    T(ASSIGNED, FIRST_CHECKIN, IN_PROGRESS, TS | SYSTEM),
    T(IN_PROGRESS, ALL_DONE, WORK_DONE, TS | SYSTEM),
    /* Cancelling stops before work_done: after the work there is a bill. */
    T(OPEN, CANCEL, CANCELLED, CS | ADMIN),
    T(ASSIGNED, CANCEL, CANCELLED, CS | ADMIN),
    T(IN_PROGRESS, CANCEL, CANCELLED, CS | ADMIN),
    T(WORK_DONE, START_INVOICE, INVOICING, CS | ADMIN),
    T(INVOICING, SEND_INVOICE, AWAITING_PAYMENT, CS | ADMIN),
    T(AWAITING_PAYMENT, PAY, PAID, CS | ADMIN),
    /* A voided payment (a bounced transfer, a wrong amount) reopens the
     * bill; once the ticket is closed nothing does. */
    T(PAID, VOID_PAYMENT, AWAITING_PAYMENT, CS | ADMIN),
    T(PAID, CLOSE, CLOSED, CS | ADMIN),

    /* Assignment. A late or no-show technician who turns up still checks
     * in (the customer got a visit); CS may replace one who has not, and
     * gssd itself may (SYSTEM: GSS_AUTO_REPLACE_AFTER_S). After a check-in
     * only CS, and only as a separate, deliberate event (force_replace: the
     * API's "force": true with a reason), never gssd on its own. */
    A(CLAIMED, CHECKIN, CHECKED_IN, TS),
    A(LATE, CHECKIN, CHECKED_IN, TS),
    A(NO_SHOW, CHECKIN, CHECKED_IN, TS),
    A(CHECKED_IN, CHECKOUT, CHECKED_OUT, TS),
    A(CHECKED_OUT, COMPLETE, DONE, TS | SYSTEM),
    A(CLAIMED, REPLACE, REPLACED, CS | ADMIN | SYSTEM),
    A(LATE, REPLACE, REPLACED, CS | ADMIN | SYSTEM),
    A(NO_SHOW, REPLACE, REPLACED, CS | ADMIN | SYSTEM),
    A(CHECKED_IN, FORCE_REPLACE, REPLACED, CS | ADMIN),
    A(CHECKED_OUT, FORCE_REPLACE, REPLACED, CS | ADMIN),
    A(CLAIMED, MARK_LATE, LATE, SYSTEM),
    A(CLAIMED, MARK_NO_SHOW, NO_SHOW, SYSTEM),
    A(LATE, MARK_NO_SHOW, NO_SHOW, SYSTEM),
    /* The cascade of a ticket's cancel: every slot not yet done. */
    A(CLAIMED, CANCEL, CANCELLED, CS | ADMIN),
    A(LATE, CANCEL, CANCELLED, CS | ADMIN),
    A(NO_SHOW, CANCEL, CANCELLED, CS | ADMIN),
    A(CHECKED_IN, CANCEL, CANCELLED, CS | ADMIN),
    A(CHECKED_OUT, CANCEL, CANCELLED, CS | ADMIN),

    /* Invoice. CS drafts, edits and sends; Sales approves or sends it back. */
    I(DRAFT, EDIT, DRAFT, CS | ADMIN),
    I(DRAFT, SUBMIT, PENDING_APPROVAL, CS | ADMIN),
    I(PENDING_APPROVAL, APPROVE, APPROVED, SALES | ADMIN),
    I(PENDING_APPROVAL, REVISE, REVISION_REQUESTED, SALES | ADMIN),
    I(REVISION_REQUESTED, EDIT, DRAFT, CS | ADMIN),
    I(APPROVED, SEND, SENT, CS | ADMIN),
    I(SENT, RESEND, SENT, CS | ADMIN),
    /* After payment too: the rating link stays useful until it is used or
     * expires, and a customer who lost the message asks again. */
    I(PAID, RESEND, PAID, CS | ADMIN),
    /* Partial payments leave it sent; the one that covers the total pays it. */
    I(SENT, PAY, PAID, CS | ADMIN),
    I(PAID, VOID_PAYMENT, SENT, CS | ADMIN),
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* Names, indexed by the enums. Each array's size is the enum's count, so a
 * state added to an enum without a name shows up as NULL in the tests. */
static const char *const ticket_states[DOM_TICKET_STATE_COUNT] = {
    "open", "assigned", "in_progress", "work_done", "invoicing", "awaiting_payment", "paid", "closed", "cancelled",
};
static const char *const ticket_events[DOM_TICKET_EVENT_COUNT] = {
    "claim_partial", "fill",          "release",      "first_checkin", "all_done",
    "cancel",        "start_invoice", "send_invoice", "pay",           "close",
    "void_payment",
};
static const char *const asg_states[DOM_ASG_STATE_COUNT] = {
    "claimed", "late", "no_show", "checked_in", "checked_out", "done", "replaced", "cancelled",
};
static const char *const asg_events[DOM_ASG_EVENT_COUNT] = {
    "checkin", "checkout", "complete", "replace", "mark_late", "mark_no_show", "cancel", "force_replace",
};
static const char *const inv_states[DOM_INV_STATE_COUNT] = {
    "draft", "pending_approval", "approved", "revision_requested", "sent", "paid",
};
static const char *const inv_events[DOM_INV_EVENT_COUNT] = {
    "submit", "approve", "revise", "edit", "send", "pay", "resend", "void_payment",
};

/* What a state means, in the words a refusal needs ("assignment is claimed
 * (no check-in yet)"). */
static const char *const ticket_hints[DOM_TICKET_STATE_COUNT] = {
    "not every slot is taken",
    "every slot is taken, no check-in yet",
    "work has started",
    "the work is done",
    "the invoice is being prepared",
    "the invoice was sent, payment pending",
    "it is paid",
    "it is closed",
    "it was cancelled",
};
static const char *const asg_hints[DOM_ASG_STATE_COUNT] = {
    "no check-in yet",     "late, no check-in yet", "marked no-show, no check-in yet", "checked in, not checked out",
    "already checked out", "the visit is done",     "the technician was replaced",     "the ticket was cancelled",
};
static const char *const inv_hints[DOM_INV_STATE_COUNT] = {
    "still a draft",
    "waiting for Sales' approval",
    "approved, not sent yet",
    "Sales asked for a revision",
    "already sent to the customer",
    "already paid",
};

struct entity_desc {
    const char        *name;
    const char *const *states, *const *events, *const *hints;
    int nstates, nevents;
};

static const struct entity_desc entities[DOM_ENTITY_COUNT] = {
    [DOM_TICKET] = {"ticket", ticket_states, ticket_events, ticket_hints, DOM_TICKET_STATE_COUNT,
                    DOM_TICKET_EVENT_COUNT},
    [DOM_ASSIGNMENT] = {"assignment", asg_states, asg_events, asg_hints, DOM_ASG_STATE_COUNT, DOM_ASG_EVENT_COUNT},
    [DOM_INVOICE] = {"invoice", inv_states, inv_events, inv_hints, DOM_INV_STATE_COUNT, DOM_INV_EVENT_COUNT},
};

/* The entity's description, or NULL; a cast to unsigned catches negative
 * values of an enum the compiler may have made signed. */
static const struct entity_desc *desc(enum dom_entity e)
{
    return (unsigned)e < DOM_ENTITY_COUNT ? &entities[e] : NULL;
}

const char *dom_entity_name(enum dom_entity e)
{
    const struct entity_desc *d = desc(e);
    return d ? d->name : NULL;
}

int dom_state_count(enum dom_entity e)
{
    const struct entity_desc *d = desc(e);
    return d ? d->nstates : 0;
}

int dom_event_count(enum dom_entity e)
{
    const struct entity_desc *d = desc(e);
    return d ? d->nevents : 0;
}

static int lookup(const char *const *names, int n, const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int dom_state_parse(enum dom_entity e, const char *name)
{
    const struct entity_desc *d = desc(e);
    return d ? lookup(d->states, d->nstates, name) : -1;
}

const char *dom_state_name(enum dom_entity e, int state)
{
    const struct entity_desc *d = desc(e);
    return d && state >= 0 && state < d->nstates ? d->states[state] : NULL;
}

int dom_event_parse(enum dom_entity e, const char *name)
{
    const struct entity_desc *d = desc(e);
    return d ? lookup(d->events, d->nevents, name) : -1;
}

const char *dom_event_name(enum dom_entity e, int event)
{
    const struct entity_desc *d = desc(e);
    return d && event >= 0 && event < d->nevents ? d->events[event] : NULL;
}

const char *dom_actor_name(unsigned one_actor)
{
    switch (one_actor) {
    case DOM_ACTOR_CS: return "cs";
    case DOM_ACTOR_TS: return "ts";
    case DOM_ACTOR_SALES: return "sales";
    case DOM_ACTOR_ADMIN: return "admin";
    case DOM_ACTOR_SYSTEM: return "system";
    default: return NULL;
    }
}

unsigned dom_event_actors(enum dom_entity e, int event)
{
    unsigned all = 0;
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].entity == e && rows[i].event == event)
            all |= rows[i].actors;
    return all;
}

static const struct dom_row *find(enum dom_entity e, int from, int event)
{
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].entity == e && rows[i].from == from && rows[i].event == event)
            return &rows[i];
    return NULL;
}

enum dom_verdict dom_transition(enum dom_entity e, int from, int event, unsigned actor, int *to)
{
    const struct entity_desc *d = desc(e);
    if (!d || from < 0 || from >= d->nstates || event < 0 || event >= d->nevents)
        return DOM_UNKNOWN;
    /* Who before when: see the header. */
    if (!(dom_event_actors(e, event) & actor))
        return DOM_NOT_ALLOWED;
    const struct dom_row *r = find(e, from, event);
    if (!r)
        return DOM_WRONG_STATE;
    if (!(r->actors & actor))
        return DOM_NOT_ALLOWED;
    if (to)
        *to = r->to;
    return DOM_OK;
}

const char *dom_verdict_code(enum dom_verdict v)
{
    switch (v) {
    case DOM_OK: return "ok";
    case DOM_WRONG_STATE: return "invalid_transition";
    case DOM_NOT_ALLOWED: return "forbidden";
    case DOM_UNKNOWN: return "unknown_transition";
    }
    return "unknown_transition";
}

bool dom_state_final(enum dom_entity e, int state)
{
    if (!dom_state_name(e, state))
        return false;
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].entity == e && rows[i].from == state)
            return false;
    return true;
}

void dom_table_each(void (*fn)(void *ud, const struct dom_row *row), void *ud)
{
    for (size_t i = 0; i < NROWS; i++)
        fn(ud, &rows[i]);
}

/* A bounded appender: snprintf's truncation, but with a running length, so
 * the sentence below can be built in pieces without arithmetic at each. */
struct out {
    char  *p;
    size_t len, used;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    if (o->len == 0 || o->used >= o->len - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->used, o->len - o->used, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    o->used += (size_t)n;
    if (o->used > o->len - 1)
        o->used = o->len - 1; /* truncated: vsnprintf stopped at the end */
}

size_t dom_explain(enum dom_entity e, int from, int event, char *buf, size_t len)
{
    struct out                o = {buf, len, 0};
    const struct entity_desc *d = desc(e);

    if (len)
        buf[0] = '\0';
    if (!d || !dom_state_name(e, from) || !dom_event_name(e, event)) {
        put(&o, "unknown state or event");
        return o.used;
    }
    const struct dom_row *r = find(e, from, event);
    if (r) {
        put(&o, "%s: %s goes from %s to %s", d->events[event], d->name, d->states[from], d->states[r->to]);
        return o.used;
    }
    put(&o, "cannot %s: %s is %s (%s)", d->events[event], d->name, d->states[from], d->hints[from]);
    const char *sep = "; allowed from ";
    for (size_t i = 0; i < NROWS; i++) {
        if (rows[i].entity == e && rows[i].event == event) {
            put(&o, "%s%s", sep, d->states[rows[i].from]);
            sep = ", ";
        }
    }
    return o.used;
}
