/*
 * inbox_events: the live inbox.* events of the CS WhatsApp inbox
 * (docs/inbox.md "Live"), published on the Redis channel
 * <GSS_REDIS_PREFIX>:inbox.
 *
 * What it provides
 *   - inbox_events_publish: after a change to a conversation has COMMITTED,
 *     one PUBLISH of one of
 *         {"type":"inbox.message","customer_id":1,"direction":"in"}
 *             a message was stored: "in" from the webhook (one per customer
 *             of a delivery's new messages), "out" from a CS reply;
 *         {"type":"inbox.status","customer_id":1}
 *             Meta reported a status of one of our messages to them;
 *         {"type":"inbox.read","customer_id":1}
 *             a CS marked the conversation read.
 *     The text is what the browsers receive: app/live.c passes it through
 *     untouched to the cs and admin WebSockets of every gssd.
 *   - inbox_events_channel: the channel's name, for the subscriber.
 *   - inbox_events_format: the message text alone (unit-tested).
 *
 * Why here: as invoice_events.h (the handlers publish, the composition root
 * subscribes; the module needs the Redis client and the JSON writer only).
 *
 * Delivery: fire and forget, like invoice.updated. An event lost (no
 * subscriber, Redis down) delays a screen until its next poll or the
 * {"type":"inbox.resync"} live.c sends when its subscription comes back.
 * An event carries no message text and no customer data: the page refetches
 * with its own session. Never publish before COMMIT.
 *
 * Memory: nothing is kept. Threads: the loop thread only.
 */
#ifndef GSS_STORE_INBOX_EVENTS_H
#define GSS_STORE_INBOX_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct rds;

/* The channel's suffix: <GSS_REDIS_PREFIX>:inbox. */
#define INBOX_EVENTS_SUFFIX "inbox"
/* What live.c sends to the same sockets when its subscription came back. */
#define INBOX_EVENTS_RESYNC "{\"type\":\"inbox.resync\"}"

enum inbox_event_type {
    INBOX_EV_MESSAGE, /* inbox.message: needs direction */
    INBOX_EV_STATUS,  /* inbox.status */
    INBOX_EV_READ,    /* inbox.read */
};

struct inbox_event {
    enum inbox_event_type type;
    int64_t               customer_id; /* > 0 */
    const char           *direction;   /* "in" or "out" (INBOX_EV_MESSAGE only) */
};

/* "<prefix>:inbox" into out (n bytes). 0, or -1 when it does not fit. */
int inbox_events_channel(const char *prefix, char *out, size_t n);

/* Appends the message text (one compact JSON object) to b. 0; -1 (nothing
 * appended) for an event that is not one: an unknown type, a customer id
 * <= 0, a message whose direction is neither "in" nor "out". */
int inbox_events_format(struct buf *b, const struct inbox_event *ev);

/* PUBLISH the event on prefix's channel with r (the command connection).
 * 0: handed to Redis; -1: not sent (r NULL or down, not an event, a channel
 * name too long). Either way the caller carries on (see above); failures,
 * and error replies that come back later, are counted and logged. */
int inbox_events_publish(struct rds *r, const char *prefix, const struct inbox_event *ev);

/* Appends gss_inbox_events_{published,errors}_total (Prometheus text). */
void inbox_events_metrics(struct buf *b);

#endif
