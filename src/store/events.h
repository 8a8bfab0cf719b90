/*
 * events: what the live-event publishers (invoice_events, inbox_events)
 * share: the channel's name <prefix>:<suffix>, the fire-and-forget PUBLISH
 * and its two counters in /metrics.
 *
 * Each publisher keeps one static struct events_stats; its callbacks and
 * the metrics read it. Nothing is allocated or kept past a call (hiredis
 * copies the command's arguments). Threads: the loop thread only, which is
 * also the only writer of the counters.
 */
#ifndef GSS_STORE_EVENTS_H
#define GSS_STORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct rds;

struct events_stats {
    const char *who;       /* the log lines' module name ("invoice_events") */
    uint64_t    published; /* PUBLISHes Redis accepted, since start */
    uint64_t    errors;    /* events lost: not sent, refused, or the connection went away */
};

/* "<prefix>:<suffix>" (prefix NULL: empty) into out; -1 if it does not fit. */
int events_channel(const char *prefix, const char *suffix, char *out, size_t n);

/* Queues PUBLISH <prefix>:<suffix> msg (len bytes). 0: queued, and its
 * reply counts as published or as an error (logged) later. -1: nothing
 * sent (r NULL, msg NULL because the caller could not form the event, the
 * channel name too long, Redis down): counted as an error at once, and the
 * caller says what was lost in its own log line. */
int events_publish(struct rds *r, const char *prefix, const char *suffix, const char *msg, size_t len,
                   struct events_stats *st);

/* The two counters in the Prometheus text format, as <name>_published_total
 * and <name>_errors_total; what ("invoice.updated events") goes into their
 * HELP lines. */
void events_metrics(struct buf *b, const char *name, const char *what, const struct events_stats *st);

#endif
