/*
 * Unit tests for domain/states: the names of every state and event, every
 * legal transition (written out here by hand, by name, from DESIGN.md §1 and
 * the issue), every other (entity, state, event, actor) refused, the order
 * of the verdicts, the error codes and sentences, final states, and that
 * docs/states.md lists exactly the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/states.h"

#define CS     DOM_ACTOR_CS
#define TS     DOM_ACTOR_TS
#define SALES  DOM_ACTOR_SALES
#define ADMIN  DOM_ACTOR_ADMIN
#define SYSTEM DOM_ACTOR_SYSTEM

static const unsigned all_actors[] = {CS, TS, SALES, ADMIN, SYSTEM};
#define NACTORS (sizeof(all_actors) / sizeof(all_actors[0]))

/* ---- names ---------------------------------------------------------------- */

static const char *const want_ticket_states[] = {
    "open", "assigned", "in_progress", "work_done", "invoicing", "awaiting_payment", "paid", "closed", "cancelled"};
static const char *const want_ticket_events[] = {"claim_partial", "fill",   "release",       "first_checkin",
                                                 "all_done",      "cancel", "start_invoice", "send_invoice",
                                                 "pay",           "close",         "void_payment"};
static const char *const want_asg_states[] = {"claimed",     "late", "no_show",  "checked_in",
                                              "checked_out", "done", "replaced", "cancelled"};
static const char *const want_asg_events[] = {"checkin",   "checkout",     "complete", "replace",
                                              "mark_late", "mark_no_show", "cancel",   "force_replace"};
static const char *const want_inv_states[] = {"draft", "pending_approval", "approved", "revision_requested", "sent",
                                              "paid"};
static const char *const want_inv_events[] = {"submit", "approve", "revise", "edit", "send", "pay", "resend", "void_payment"};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void check_names(enum dom_entity e, const char *const *states, int ns, const char *const *events, int ne)
{
    assert_int_equal(dom_state_count(e), ns);
    assert_int_equal(dom_event_count(e), ne);
    for (int i = 0; i < ns; i++) {
        assert_string_equal(dom_state_name(e, i), states[i]);
        assert_int_equal(dom_state_parse(e, states[i]), i);
    }
    for (int i = 0; i < ne; i++) {
        assert_string_equal(dom_event_name(e, i), events[i]);
        assert_int_equal(dom_event_parse(e, events[i]), i);
    }
    assert_null(dom_state_name(e, -1));
    assert_null(dom_state_name(e, ns));
    assert_null(dom_event_name(e, -1));
    assert_null(dom_event_name(e, ne));
    assert_int_equal(dom_state_parse(e, "nope"), -1);
    assert_int_equal(dom_state_parse(e, ""), -1);
    assert_int_equal(dom_state_parse(e, NULL), -1);
    assert_int_equal(dom_event_parse(e, "nope"), -1);
    assert_int_equal(dom_event_parse(e, NULL), -1);
}

static void test_names(void **state)
{
    (void)state;
    check_names(DOM_TICKET, want_ticket_states, N(want_ticket_states), want_ticket_events, N(want_ticket_events));
    check_names(DOM_ASSIGNMENT, want_asg_states, N(want_asg_states), want_asg_events, N(want_asg_events));
    check_names(DOM_INVOICE, want_inv_states, N(want_inv_states), want_inv_events, N(want_inv_events));

    /* Names are per entity: "claimed" is no ticket state, "open" no assignment's. */
    assert_int_equal(dom_state_parse(DOM_TICKET, "claimed"), -1);
    assert_int_equal(dom_state_parse(DOM_ASSIGNMENT, "open"), -1);
    assert_int_equal(dom_event_parse(DOM_INVOICE, "checkin"), -1);
    /* Case matters: the wire names are lower case. */
    assert_int_equal(dom_state_parse(DOM_TICKET, "Open"), -1);

    assert_string_equal(dom_entity_name(DOM_TICKET), "ticket");
    assert_string_equal(dom_entity_name(DOM_ASSIGNMENT), "assignment");
    assert_string_equal(dom_entity_name(DOM_INVOICE), "invoice");
    assert_null(dom_entity_name((enum dom_entity)3));
    assert_null(dom_entity_name((enum dom_entity) - 1));
    assert_int_equal(dom_state_count((enum dom_entity)9), 0);
    assert_int_equal(dom_state_parse((enum dom_entity)9, "open"), -1);
    assert_null(dom_state_name((enum dom_entity)9, 0));

    assert_string_equal(dom_actor_name(CS), "cs");
    assert_string_equal(dom_actor_name(TS), "ts");
    assert_string_equal(dom_actor_name(SALES), "sales");
    assert_string_equal(dom_actor_name(ADMIN), "admin");
    assert_string_equal(dom_actor_name(SYSTEM), "system");
    assert_null(dom_actor_name(0));
    assert_null(dom_actor_name(CS | TS));
    assert_null(dom_actor_name(0x20));
}

/* ---- the legal transitions, by hand --------------------------------------- */

struct legal {
    enum dom_entity e;
    const char     *from, *event, *to;
    unsigned        who;
};

static const struct legal legal[] = {
    {DOM_TICKET, "open", "claim_partial", "open", TS | SYSTEM},
    {DOM_TICKET, "open", "fill", "assigned", TS | SYSTEM},
    {DOM_TICKET, "open", "release", "open", CS | ADMIN | SYSTEM},
    {DOM_TICKET, "assigned", "release", "open", CS | ADMIN | SYSTEM},
    {DOM_TICKET, "in_progress", "release", "open", CS | ADMIN | SYSTEM},
    {DOM_TICKET, "assigned", "first_checkin", "in_progress", TS | SYSTEM},
    {DOM_TICKET, "in_progress", "all_done", "work_done", TS | SYSTEM},
    {DOM_TICKET, "open", "cancel", "cancelled", CS | ADMIN},
    {DOM_TICKET, "assigned", "cancel", "cancelled", CS | ADMIN},
    {DOM_TICKET, "in_progress", "cancel", "cancelled", CS | ADMIN},
    {DOM_TICKET, "work_done", "start_invoice", "invoicing", CS | ADMIN},
    {DOM_TICKET, "invoicing", "send_invoice", "awaiting_payment", CS | ADMIN},
    {DOM_TICKET, "awaiting_payment", "pay", "paid", CS | ADMIN},
    {DOM_TICKET, "paid", "void_payment", "awaiting_payment", CS | ADMIN},
    {DOM_TICKET, "paid", "close", "closed", CS | ADMIN},

    {DOM_ASSIGNMENT, "claimed", "checkin", "checked_in", TS},
    {DOM_ASSIGNMENT, "late", "checkin", "checked_in", TS},
    {DOM_ASSIGNMENT, "no_show", "checkin", "checked_in", TS},
    {DOM_ASSIGNMENT, "checked_in", "checkout", "checked_out", TS},
    {DOM_ASSIGNMENT, "checked_out", "complete", "done", TS | SYSTEM},
    {DOM_ASSIGNMENT, "claimed", "replace", "replaced", CS | ADMIN | SYSTEM},
    {DOM_ASSIGNMENT, "late", "replace", "replaced", CS | ADMIN | SYSTEM},
    {DOM_ASSIGNMENT, "no_show", "replace", "replaced", CS | ADMIN | SYSTEM},
    {DOM_ASSIGNMENT, "checked_in", "force_replace", "replaced", CS | ADMIN},
    {DOM_ASSIGNMENT, "checked_out", "force_replace", "replaced", CS | ADMIN},
    {DOM_ASSIGNMENT, "claimed", "mark_late", "late", SYSTEM},
    {DOM_ASSIGNMENT, "claimed", "mark_no_show", "no_show", SYSTEM},
    {DOM_ASSIGNMENT, "late", "mark_no_show", "no_show", SYSTEM},
    {DOM_ASSIGNMENT, "claimed", "cancel", "cancelled", CS | ADMIN},
    {DOM_ASSIGNMENT, "late", "cancel", "cancelled", CS | ADMIN},
    {DOM_ASSIGNMENT, "no_show", "cancel", "cancelled", CS | ADMIN},
    {DOM_ASSIGNMENT, "checked_in", "cancel", "cancelled", CS | ADMIN},
    {DOM_ASSIGNMENT, "checked_out", "cancel", "cancelled", CS | ADMIN},

    {DOM_INVOICE, "draft", "edit", "draft", CS | ADMIN},
    {DOM_INVOICE, "draft", "submit", "pending_approval", CS | ADMIN},
    {DOM_INVOICE, "pending_approval", "approve", "approved", SALES | ADMIN},
    {DOM_INVOICE, "pending_approval", "revise", "revision_requested", SALES | ADMIN},
    {DOM_INVOICE, "revision_requested", "edit", "draft", CS | ADMIN},
    {DOM_INVOICE, "approved", "send", "sent", CS | ADMIN},
    {DOM_INVOICE, "sent", "resend", "sent", CS | ADMIN},
    {DOM_INVOICE, "paid", "resend", "paid", CS | ADMIN},
    {DOM_INVOICE, "sent", "pay", "paid", CS | ADMIN},
    {DOM_INVOICE, "paid", "void_payment", "sent", CS | ADMIN},
};
#define NLEGAL (sizeof(legal) / sizeof(legal[0]))

static int parse_state(enum dom_entity e, const char *name)
{
    int s = dom_state_parse(e, name);
    if (s < 0)
        fail_msg("no state %s", name);
    return s;
}

static int parse_event(enum dom_entity e, const char *name)
{
    int s = dom_event_parse(e, name);
    if (s < 0)
        fail_msg("no event %s", name);
    return s;
}

/* The hand-written row for (e, from, event), or NULL. */
static const struct legal *legal_find(enum dom_entity e, int from, int event)
{
    for (size_t i = 0; i < NLEGAL; i++)
        if (legal[i].e == e && parse_state(e, legal[i].from) == from && parse_event(e, legal[i].event) == event)
            return &legal[i];
    return NULL;
}

static void test_every_legal_transition(void **state)
{
    (void)state;
    for (size_t i = 0; i < NLEGAL; i++) {
        const struct legal *l = &legal[i];
        int from = parse_state(l->e, l->from), ev = parse_event(l->e, l->event), want = parse_state(l->e, l->to);
        for (size_t a = 0; a < NACTORS; a++) {
            int              to = -42;
            enum dom_verdict v = dom_transition(l->e, from, ev, all_actors[a], &to);
            if (l->who & all_actors[a]) {
                if (v != DOM_OK || to != want)
                    fail_msg("%s %s -%s-> %s by %s: verdict %d to %d", dom_entity_name(l->e), l->from, l->event, l->to,
                             dom_actor_name(all_actors[a]), v, to);
            } else {
                if (v != DOM_NOT_ALLOWED)
                    fail_msg("%s %s -%s-> by %s: want not allowed, got %d", dom_entity_name(l->e), l->from, l->event,
                             dom_actor_name(all_actors[a]), v);
                assert_int_equal(to, -42); /* untouched */
            }
        }
        /* A NULL `to` asks "may I?" only. */
        unsigned first = l->who & (0u - l->who);
        assert_int_equal(dom_transition(l->e, from, ev, first, NULL), DOM_OK);
    }
}

/* Everything not written above is refused: the table has no extra row. */
static void test_everything_else_refused(void **state)
{
    (void)state;
    size_t ok_pairs = 0;
    for (int e = 0; e < DOM_ENTITY_COUNT; e++) {
        for (int from = 0; from < dom_state_count(e); from++) {
            for (int ev = 0; ev < dom_event_count(e); ev++) {
                const struct legal *l = legal_find(e, from, ev);
                for (size_t a = 0; a < NACTORS; a++) {
                    int              to = -42;
                    enum dom_verdict v = dom_transition(e, from, ev, all_actors[a], &to);
                    if (l && (l->who & all_actors[a]))
                        continue; /* checked above */
                    if (v == DOM_OK)
                        fail_msg("%s %s -%s-> by %s: unexpectedly OK (to %s)", dom_entity_name(e),
                                 dom_state_name(e, from), dom_event_name(e, ev), dom_actor_name(all_actors[a]),
                                 dom_state_name(e, to));
                    assert_int_equal(to, -42);
                }
                if (l)
                    ok_pairs++;
            }
        }
    }
    assert_int_equal(ok_pairs, NLEGAL);
}

static void count_row(void *ud, const struct dom_row *r)
{
    size_t             *n = ud;
    const struct legal *l = legal_find(r->entity, r->from, r->event);
    if (!l)
        fail_msg("table row %s %s -%s-> not expected", dom_entity_name(r->entity), dom_state_name(r->entity, r->from),
                 dom_event_name(r->entity, r->event));
    assert_int_equal(r->to, parse_state(r->entity, l->to));
    assert_int_equal(r->actors, l->who);
    (*n)++;
}

static void test_table_each(void **state)
{
    (void)state;
    size_t n = 0;
    dom_table_each(count_row, &n);
    /* As many rows as legal moves: no duplicates of one (from, event). */
    assert_int_equal(n, NLEGAL);
}

/* ---- refusals and their order --------------------------------------------- */

static void test_sample_refusals(void **state)
{
    (void)state;
    int to = -1;

    /* The brief's examples. */
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_CHECKOUT, TS, &to), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_WORK_DONE, DOM_TICKET_EV_CANCEL, CS, &to), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_OPEN, DOM_TICKET_EV_CANCEL, TS, &to), DOM_NOT_ALLOWED);
    /* Who before when: a technician may cancel nothing, in no state. */
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_WORK_DONE, DOM_TICKET_EV_CANCEL, TS, &to), DOM_NOT_ALLOWED);
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_CLOSED, DOM_TICKET_EV_CANCEL, TS, &to), DOM_NOT_ALLOWED);
    /* ...but CS on a state without the move is a 409, not a 403. */
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_CLOSED, DOM_TICKET_EV_CANCEL, CS, &to), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_CANCELLED, DOM_TICKET_EV_CANCEL, CS, &to), DOM_WRONG_STATE);
    assert_int_equal(to, -1);

    /* Cancel after work_done, every later state. */
    for (int s = DOM_TICKET_WORK_DONE; s < DOM_TICKET_STATE_COUNT; s++)
        assert_int_equal(dom_transition(DOM_TICKET, s, DOM_TICKET_EV_CANCEL, CS, NULL), DOM_WRONG_STATE);

    /* A ticket with free slots stays open: no first check-in from open. */
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_OPEN, DOM_TICKET_EV_FIRST_CHECKIN, TS, NULL),
                     DOM_WRONG_STATE);
    /* A slot goes back to the pool until the work is done, not after. */
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_WORK_DONE, DOM_TICKET_EV_RELEASE, CS, NULL),
                     DOM_WRONG_STATE);
    /* Steps cannot be skipped. */
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_WORK_DONE, DOM_TICKET_EV_PAY, CS, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_AWAITING_PAYMENT, DOM_TICKET_EV_CLOSE, CS, NULL),
                     DOM_WRONG_STATE);

    /* Assignments. */
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CHECKED_IN, DOM_ASG_EV_CHECKIN, TS, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CHECKED_OUT, DOM_ASG_EV_CHECKOUT, TS, NULL),
                     DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CHECKED_IN, DOM_ASG_EV_REPLACE, CS, NULL), DOM_WRONG_STATE);
    /* After a check-in only the forced event, and never gssd on its own. */
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CHECKED_IN, DOM_ASG_EV_FORCE_REPLACE, SYSTEM, NULL),
                     DOM_NOT_ALLOWED);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_FORCE_REPLACE, CS, NULL),
                     DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_DONE, DOM_ASG_EV_FORCE_REPLACE, CS, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_REPLACED, DOM_ASG_EV_CHECKIN, TS, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CANCELLED, DOM_ASG_EV_CHECKIN, TS, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_DONE, DOM_ASG_EV_CANCEL, CS, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_NO_SHOW, DOM_ASG_EV_MARK_LATE, SYSTEM, NULL),
                     DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_CHECKIN, CS, NULL), DOM_NOT_ALLOWED);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_CHECKIN, ADMIN, NULL), DOM_NOT_ALLOWED);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_REPLACE, TS, NULL), DOM_NOT_ALLOWED);
    assert_int_equal(dom_transition(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_MARK_LATE, CS, NULL), DOM_NOT_ALLOWED);

    /* Invoices: CS cannot approve its own draft; Sales cannot send. */
    assert_int_equal(dom_transition(DOM_INVOICE, DOM_INV_PENDING_APPROVAL, DOM_INV_EV_APPROVE, CS, NULL),
                     DOM_NOT_ALLOWED);
    assert_int_equal(dom_transition(DOM_INVOICE, DOM_INV_APPROVED, DOM_INV_EV_SEND, SALES, NULL), DOM_NOT_ALLOWED);
    assert_int_equal(dom_transition(DOM_INVOICE, DOM_INV_DRAFT, DOM_INV_EV_APPROVE, SALES, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_INVOICE, DOM_INV_DRAFT, DOM_INV_EV_SEND, CS, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_INVOICE, DOM_INV_PENDING_APPROVAL, DOM_INV_EV_EDIT, CS, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_INVOICE, DOM_INV_SENT, DOM_INV_EV_EDIT, CS, NULL), DOM_WRONG_STATE);
    assert_int_equal(dom_transition(DOM_INVOICE, DOM_INV_PAID, DOM_INV_EV_PAY, CS, NULL), DOM_WRONG_STATE);
}

static void test_actor_masks(void **state)
{
    (void)state;
    int to = -1;
    /* No actor at all may do nothing. */
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_OPEN, DOM_TICKET_EV_CANCEL, 0, &to), DOM_NOT_ALLOWED);
    /* A bit that is no actor. */
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_OPEN, DOM_TICKET_EV_CANCEL, 0x100, &to), DOM_NOT_ALLOWED);
    /* A mask is "any of these". */
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_OPEN, DOM_TICKET_EV_CANCEL, TS | CS, &to), DOM_OK);
    assert_int_equal(to, DOM_TICKET_CANCELLED);

    assert_int_equal(dom_event_actors(DOM_TICKET, DOM_TICKET_EV_CANCEL), CS | ADMIN);
    assert_int_equal(dom_event_actors(DOM_ASSIGNMENT, DOM_ASG_EV_CHECKIN), TS);
    assert_int_equal(dom_event_actors(DOM_INVOICE, DOM_INV_EV_APPROVE), SALES | ADMIN);
    assert_int_equal(dom_event_actors(DOM_TICKET, DOM_TICKET_EV_RELEASE), CS | ADMIN | SYSTEM);
    assert_int_equal(dom_event_actors(DOM_TICKET, 99), 0);
    assert_int_equal(dom_event_actors((enum dom_entity)7, 0), 0);
}

static void test_unknown(void **state)
{
    (void)state;
    int to = -1;
    assert_int_equal(dom_transition((enum dom_entity)3, 0, 0, CS, &to), DOM_UNKNOWN);
    assert_int_equal(dom_transition((enum dom_entity) - 1, 0, 0, CS, &to), DOM_UNKNOWN);
    assert_int_equal(dom_transition(DOM_TICKET, -1, DOM_TICKET_EV_CANCEL, CS, &to), DOM_UNKNOWN);
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_STATE_COUNT, DOM_TICKET_EV_CANCEL, CS, &to), DOM_UNKNOWN);
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_OPEN, -1, CS, &to), DOM_UNKNOWN);
    assert_int_equal(dom_transition(DOM_TICKET, DOM_TICKET_OPEN, DOM_TICKET_EVENT_COUNT, CS, &to), DOM_UNKNOWN);
    /* A ticket event number that is valid but past the invoice's count. */
    assert_int_equal(dom_transition(DOM_INVOICE, DOM_INV_DRAFT, DOM_TICKET_EV_CLOSE, CS, &to), DOM_UNKNOWN);
    /* Unknown is checked before the actor. */
    assert_int_equal(dom_transition(DOM_TICKET, 99, DOM_TICKET_EV_CANCEL, 0, &to), DOM_UNKNOWN);
    assert_int_equal(to, -1);
}

static void test_verdict_codes(void **state)
{
    (void)state;
    assert_string_equal(dom_verdict_code(DOM_OK), "ok");
    assert_string_equal(dom_verdict_code(DOM_WRONG_STATE), "invalid_transition");
    assert_string_equal(dom_verdict_code(DOM_NOT_ALLOWED), "forbidden");
    assert_string_equal(dom_verdict_code(DOM_UNKNOWN), "unknown_transition");
    assert_string_equal(dom_verdict_code((enum dom_verdict)42), "unknown_transition");
}

static void test_final_states(void **state)
{
    (void)state;
    static const struct {
        enum dom_entity e;
        const char     *s;
        int             final;
    } cases[] = {
        {DOM_TICKET, "open", 0},
        {DOM_TICKET, "assigned", 0},
        {DOM_TICKET, "in_progress", 0},
        {DOM_TICKET, "work_done", 0},
        {DOM_TICKET, "invoicing", 0},
        {DOM_TICKET, "awaiting_payment", 0},
        {DOM_TICKET, "paid", 0},
        {DOM_TICKET, "closed", 1},
        {DOM_TICKET, "cancelled", 1},
        {DOM_ASSIGNMENT, "claimed", 0},
        {DOM_ASSIGNMENT, "late", 0},
        {DOM_ASSIGNMENT, "no_show", 0},
        {DOM_ASSIGNMENT, "checked_in", 0},
        {DOM_ASSIGNMENT, "checked_out", 0},
        {DOM_ASSIGNMENT, "done", 1},
        {DOM_ASSIGNMENT, "replaced", 1},
        {DOM_ASSIGNMENT, "cancelled", 1},
        {DOM_INVOICE, "draft", 0},
        {DOM_INVOICE, "pending_approval", 0},
        {DOM_INVOICE, "approved", 0},
        {DOM_INVOICE, "revision_requested", 0},
        {DOM_INVOICE, "sent", 0},
        {DOM_INVOICE, "paid", 0}, /* a voided payment takes it back to sent */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (dom_state_final(cases[i].e, parse_state(cases[i].e, cases[i].s)) != (cases[i].final != 0))
            fail_msg("%s %s: final should be %d", dom_entity_name(cases[i].e), cases[i].s, cases[i].final);
    assert_false(dom_state_final(DOM_TICKET, -1));
    assert_false(dom_state_final(DOM_TICKET, 99));
    assert_false(dom_state_final((enum dom_entity)5, 0));
}

/* A whole ticket's life, each step fed the state the last one gave. */
static void test_walk_happy_path(void **state)
{
    (void)state;
    static const struct {
        int      ev;
        unsigned who;
        int      want;
    } steps[] = {
        {DOM_TICKET_EV_CLAIM_PARTIAL, TS, DOM_TICKET_OPEN},
        {DOM_TICKET_EV_FILL, TS, DOM_TICKET_ASSIGNED},
        {DOM_TICKET_EV_RELEASE, CS, DOM_TICKET_OPEN},
        {DOM_TICKET_EV_FILL, SYSTEM, DOM_TICKET_ASSIGNED},
        {DOM_TICKET_EV_FIRST_CHECKIN, TS, DOM_TICKET_IN_PROGRESS},
        {DOM_TICKET_EV_ALL_DONE, TS, DOM_TICKET_WORK_DONE},
        {DOM_TICKET_EV_START_INVOICE, CS, DOM_TICKET_INVOICING},
        {DOM_TICKET_EV_SEND_INVOICE, CS, DOM_TICKET_AWAITING_PAYMENT},
        {DOM_TICKET_EV_PAY, CS, DOM_TICKET_PAID},
        {DOM_TICKET_EV_CLOSE, CS, DOM_TICKET_CLOSED},
    };
    int s = DOM_TICKET_OPEN;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int to = -1;
        assert_int_equal(dom_transition(DOM_TICKET, s, steps[i].ev, steps[i].who, &to), DOM_OK);
        assert_int_equal(to, steps[i].want);
        s = to;
    }

    /* An invoice sent back once. */
    static const struct {
        int      ev;
        unsigned who;
        int      want;
    } inv[] = {
        {DOM_INV_EV_EDIT, CS, DOM_INV_DRAFT},
        {DOM_INV_EV_SUBMIT, CS, DOM_INV_PENDING_APPROVAL},
        {DOM_INV_EV_REVISE, SALES, DOM_INV_REVISION_REQUESTED},
        {DOM_INV_EV_EDIT, CS, DOM_INV_DRAFT},
        {DOM_INV_EV_SUBMIT, CS, DOM_INV_PENDING_APPROVAL},
        {DOM_INV_EV_APPROVE, SALES, DOM_INV_APPROVED},
        {DOM_INV_EV_SEND, CS, DOM_INV_SENT},
        {DOM_INV_EV_PAY, CS, DOM_INV_PAID},
    };
    s = DOM_INV_DRAFT;
    for (size_t i = 0; i < sizeof(inv) / sizeof(inv[0]); i++) {
        int to = -1;
        assert_int_equal(dom_transition(DOM_INVOICE, s, inv[i].ev, inv[i].who, &to), DOM_OK);
        assert_int_equal(to, inv[i].want);
        s = to;
    }

    /* A late technician who still turns up. */
    static const struct {
        int      ev;
        unsigned who;
        int      want;
    } asg[] = {
        {DOM_ASG_EV_MARK_LATE, SYSTEM, DOM_ASG_LATE}, {DOM_ASG_EV_MARK_NO_SHOW, SYSTEM, DOM_ASG_NO_SHOW},
        {DOM_ASG_EV_CHECKIN, TS, DOM_ASG_CHECKED_IN}, {DOM_ASG_EV_CHECKOUT, TS, DOM_ASG_CHECKED_OUT},
        {DOM_ASG_EV_COMPLETE, TS, DOM_ASG_DONE},
    };
    s = DOM_ASG_CLAIMED;
    for (size_t i = 0; i < sizeof(asg) / sizeof(asg[0]); i++) {
        int to = -1;
        assert_int_equal(dom_transition(DOM_ASSIGNMENT, s, asg[i].ev, asg[i].who, &to), DOM_OK);
        assert_int_equal(to, asg[i].want);
        s = to;
    }
}

/* ---- sentences ------------------------------------------------------------ */

static void test_explain(void **state)
{
    (void)state;
    char   buf[256];
    size_t n;

    n = dom_explain(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_CHECKOUT, buf, sizeof(buf));
    assert_string_equal(buf, "cannot checkout: assignment is claimed (no check-in yet); allowed from checked_in");
    assert_int_equal(n, strlen(buf));

    dom_explain(DOM_TICKET, DOM_TICKET_WORK_DONE, DOM_TICKET_EV_CANCEL, buf, sizeof(buf));
    assert_string_equal(
        buf, "cannot cancel: ticket is work_done (the work is done); allowed from open, assigned, in_progress");

    dom_explain(DOM_ASSIGNMENT, DOM_ASG_CHECKED_IN, DOM_ASG_EV_CHECKIN, buf, sizeof(buf));
    assert_string_equal(
        buf,
        "cannot checkin: assignment is checked_in (checked in, not checked out); allowed from claimed, late, no_show");

    dom_explain(DOM_INVOICE, DOM_INV_SENT, DOM_INV_EV_EDIT, buf, sizeof(buf));
    assert_string_equal(buf, "cannot edit: invoice is sent (already sent to the customer); allowed from draft, "
                             "revision_requested");

    /* A legal move is described, not refused. */
    dom_explain(DOM_TICKET, DOM_TICKET_PAID, DOM_TICKET_EV_CLOSE, buf, sizeof(buf));
    assert_string_equal(buf, "close: ticket goes from paid to closed");

    dom_explain(DOM_TICKET, 42, DOM_TICKET_EV_CLOSE, buf, sizeof(buf));
    assert_string_equal(buf, "unknown state or event");
    dom_explain((enum dom_entity)9, 0, 0, buf, sizeof(buf));
    assert_string_equal(buf, "unknown state or event");

    /* Truncation keeps a C string and reports what it wrote. */
    char small[12];
    memset(small, 'x', sizeof(small));
    n = dom_explain(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_CHECKOUT, small, sizeof(small));
    assert_string_equal(small, "cannot chec");
    assert_int_equal(n, 11);
    char one[1] = {'x'};
    assert_int_equal(dom_explain(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_CHECKOUT, one, 1), 0);
    assert_int_equal(one[0], '\0');
    assert_int_equal(dom_explain(DOM_ASSIGNMENT, DOM_ASG_CLAIMED, DOM_ASG_EV_CHECKOUT, NULL, 0), 0);

    /* Every refusal of every entity has a sentence with its hint. */
    for (int e = 0; e < DOM_ENTITY_COUNT; e++)
        for (int s = 0; s < dom_state_count(e); s++)
            for (int ev = 0; ev < dom_event_count(e); ev++) {
                dom_explain(e, s, ev, buf, sizeof(buf));
                if (!legal_find(e, s, ev)) {
                    assert_non_null(strstr(buf, "cannot "));
                    assert_non_null(strstr(buf, " ("));
                    assert_null(strstr(buf, "(null)"));
                }
            }
}

/* ---- docs/states.md lists exactly the table -------------------------------- */

static char *read_doc(void)
{
    /* This file is tests/unit/test_domain_states.c; the doc is docs/states.md
     * beside tests/ (cmake gives absolute source paths). */
    const char *self = __FILE__;
    const char *cut = strstr(self, "tests/unit/test_domain_states.c");
    if (!cut)
        fail_msg("cannot find the source tree from %s", self);
    char path[4096];
    snprintf(path, sizeof(path), "%.*sdocs/states.md", (int)(cut - self), self);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char  *text = malloc(1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* Splits "| a | b | c | d |" into four trimmed cells; 0 when the line is not that. */
static int cells(char *line, char *out[4])
{
    int n = 0;
    if (line[0] != '|')
        return 0;
    char *p = line + 1;
    while (*p) {
        char *bar = strchr(p, '|');
        if (!bar)
            return 0;
        *bar = '\0';
        while (*p == ' ')
            p++;
        char *end = bar;
        while (end > p && end[-1] == ' ')
            *--end = '\0';
        if (n == 4)
            return 0;
        out[n++] = p;
        p = bar + 1;
    }
    return n == 4;
}

/* "cs, admin" -> the DOM_ACTOR_* mask. */
static unsigned parse_who(char *s)
{
    unsigned who = 0;
    char    *save = NULL;
    for (char *tok = strtok_r(s, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        unsigned bit = 0;
        for (size_t a = 0; a < NACTORS; a++)
            if (strcmp(dom_actor_name(all_actors[a]), tok) == 0)
                bit = all_actors[a];
        if (!bit)
            fail_msg("docs/states.md: unknown actor '%s'", tok);
        who |= bit;
    }
    return who;
}

static void test_doc_matches_table(void **state)
{
    (void)state;
    char  *text = read_doc();
    int    entity = -1;
    size_t doc_rows = 0;
    bool   seen[DOM_ENTITY_COUNT][16][16] = {{{false}}};

    for (char *line = text, *next; line && *line; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        if (strncmp(line, "## ", 3) == 0) {
            entity = -1;
            for (int e = 0; e < DOM_ENTITY_COUNT; e++)
                if (strcmp(line + 3, dom_entity_name(e)) == 0)
                    entity = e;
            continue;
        }
        char *c[4];
        if (entity < 0 || !cells(line, c) || strcmp(c[0], "from") == 0 || c[0][0] == '-')
            continue;
        int  from = parse_state(entity, c[0]), ev = parse_event(entity, c[1]), want = parse_state(entity, c[2]);
        char who_s[128];
        snprintf(who_s, sizeof(who_s), "%s", c[3]);
        unsigned who = parse_who(who_s);
        assert_true(from < 16 && ev < 16);
        if (seen[entity][from][ev])
            fail_msg("docs/states.md lists %s %s twice", c[0], c[1]);
        seen[entity][from][ev] = true;
        for (size_t a = 0; a < NACTORS; a++) {
            int              to = -1;
            enum dom_verdict v = dom_transition(entity, from, ev, all_actors[a], &to);
            if ((who & all_actors[a]) ? (v != DOM_OK || to != want) : v == DOM_OK)
                fail_msg("docs/states.md row %s %s %s %s disagrees with the table for %s", c[0], c[1], c[2], c[3],
                         dom_actor_name(all_actors[a]));
        }
        doc_rows++;
    }
    free(text);
    /* Every doc row is in the table; as many rows as the table: none missing. */
    assert_int_equal(doc_rows, NLEGAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_every_legal_transition),
        cmocka_unit_test(test_everything_else_refused),
        cmocka_unit_test(test_table_each),
        cmocka_unit_test(test_sample_refusals),
        cmocka_unit_test(test_actor_masks),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_verdict_codes),
        cmocka_unit_test(test_final_states),
        cmocka_unit_test(test_walk_happy_path),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_doc_matches_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
