/*
 * invoice_events: the live invoice.* events (DESIGN.md §5: for Sales and
 * CS), published on the Redis channel <GSS_REDIS_PREFIX>:invoice.
 *
 * What it provides
 *   - invoice_events_publish: after a money action has COMMITTED (create,
 *     edit, submit, approve, revise, send, resend, payment, pay, void,
 *     a rating, the close of an invoiced ticket), one PUBLISH of
 *         {"type":"invoice.updated",
 *          "data":{"id":7,"ticket_id":12,"number":"INV-2612-0001",
 *                  "status":"approved","action":"approve"}}
 *     `status` is the invoice's state after the action, `action` the
 *     invoice_history action ("create", "edit", "submit", "approve",
 *     "revise", "send", "resend", "payment", "pay", "void_payment"), or
 *     "rating" / "close", which write no history row. The text is what the
 *     browsers receive: app/live.c passes it through untouched to the cs,
 *     sales and admin WebSockets of every gssd.
 *   - invoice_events_channel: the channel's name, for the subscriber.
 *   - invoice_events_format: the message text alone (unit-tested).
 *
 * Why here: the handlers (http) publish and the composition root (app)
 * subscribes; both sit above store, and the module needs nothing but the
 * Redis client and the JSON writer. It knows no pool and no invoice rules,
 * so it is a store client, like the subscriber (sub.h), not a part of the
 * job pool (pool/).
 *
 * Delivery: fire and forget. Pub/sub keeps nothing: an event published
 * while a subscriber is away is lost, and so is one whose PUBLISH fails
 * (Redis down). The pages poll as a fallback and refetch on the
 * {"type":"invoice.resync"} that live.c sends when its subscription comes
 * back, so a lost event delays a screen, never corrupts one. The event
 * carries no amounts and no customer data: a screen that cares fetches the
 * invoice (with its own session's permissions). Never publish before
 * COMMIT: a screen would refetch and see the old state.
 *
 * Memory: nothing is kept; strings are copied into the command at call
 * time. Threads: the loop thread only (the counters are plain integers).
 */
#ifndef GSS_STORE_INVOICE_EVENTS_H
#define GSS_STORE_INVOICE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct rds;

/* The channel's suffix: <GSS_REDIS_PREFIX>:invoice. */
#define INVOICE_EVENTS_SUFFIX "invoice"
/* What live.c sends to the same sockets when its subscription came back. */
#define INVOICE_EVENTS_RESYNC "{\"type\":\"invoice.resync\"}"

struct invoice_event {
    int64_t     id;        /* the invoice */
    int64_t     ticket_id; /* its ticket */
    const char *number;    /* "INV-2612-0001" */
    const char *status;    /* the invoice's state after the action */
    const char *action;    /* the invoice_history action, or "rating" / "close" */
};

/* "<prefix>:invoice" into out (n bytes). 0, or -1 when it does not fit. */
int invoice_events_channel(const char *prefix, char *out, size_t n);

/* Appends the message text (one JSON object, compact) to b. NULL strings
 * are written as null. */
void invoice_events_format(struct buf *b, const struct invoice_event *ev);

/* PUBLISH the event on prefix's channel with r (the command connection).
 * 0: handed to Redis; -1: not sent (r NULL or down, an id <= 0, a channel
 * name too long). Either way the caller carries on: the action has
 * committed, and a lost event costs a screen a poll (see above). Failures,
 * and error replies that come back later, are counted and logged. */
int invoice_events_publish(struct rds *r, const char *prefix, const struct invoice_event *ev);

/* Appends gss_invoice_events_{published,errors}_total (Prometheus text). */
void invoice_events_metrics(struct buf *b);

#endif
