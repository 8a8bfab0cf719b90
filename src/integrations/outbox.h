/*
 * outbox: the sender that delivers the rows of the `outbox` table
 * (db/migrations/0006_money.sql, 0007_outbox_send.sql; DESIGN.md §6;
 * docs/operations.md "Outgoing messages").
 *
 * What it does
 *   - A batch every GSS_OUTBOX_POLL_MS (sooner when a limit frees up or
 *     outbox_kick asks): one transaction, on a connection pool of its own
 *     (two connections; handlers' transactions never wait behind it), that
 *     locks due rows of every channel that is on with
 *     `SELECT ... FOR NO KEY UPDATE SKIP LOCKED` (the row lock FOR UPDATE
 *     would take, minus the key lock that the journal's foreign key needs),
 *     at most one row per target, at most OUTBOX_BATCH rows in flight, and
 *     holds it while their requests are in flight. Two gssd never lock the
 *     same row, so they never send one row twice; a gssd that dies drops
 *     its connection and PostgreSQL hands the rows to the next sender at once.
 *   - Fan-outs first, in the batch's transaction, while the telegram channel
 *     is on: Sales' approval rows and the job broadcasts' rows addressed to a
 *     role become rows per chat (docs/telegram.md); a job edit cancels the
 *     older queued edits of the same message (the last state wins).
 *   - Outcomes: sent (provider_id, sent_at, attempts + 1); a retry
 *     (attempts + 1, next_attempt_at after an exponential backoff from
 *     GSS_OUTBOX_BACKOFF_MS with jitter, on a 5xx or a network error; exactly
 *     the provider's retry_after on a 429, which uses up no attempt); failed
 *     (a permanent refusal, or a retry past GSS_OUTBOX_MAX_ATTEMPTS); or
 *     unreachable (a person who blocked the bot); cancelled (a builder said
 *     the row must not go: a job no longer open). last_error says why, for CS.
 *   - A channel with no credentials is off: its rows stay queued and untouched
 *     (attempts too) but for last_error, which says why ("channel off:
 *     GSS_TELEGRAM_TOKEN unset") once a row has waited 60 polls (a minute
 *     by default: a fresh row is not written to for nothing, in case a gssd
 *     with the channel on sends it). A row whose payload the channel has no
 *     builder for yet (the money issue's rows hold ids) stays queued with a
 *     last_error saying so and is looked at again every OUTBOX_PARK_MS.
 *   - Limits, per process: each channel's global rate and its per-target
 *     rates (struct outbox_channel) as sliding windows, plus a margin. A
 *     send counts from the moment its answer came back (the batch's end for
 *     the global window), not from when it left: a request never reaches
 *     the provider after its answer, so however requests bunch up on the way,
 *     the provider never sees two closer than the limits. A target with a
 *     send in its window is left out of the batch's SELECT, so it holds no
 *     other target back. A retry with an exact delay (429) also holds the
 *     target's other rows back.
 *
 * The in-flight window, honestly. Neither provider takes an idempotency key
 * (Telegram's Bot API has none; the WhatsApp Cloud API has none either), so
 * a request the provider accepted cannot be made harmless to repeat. Our
 * idem_key column stops duplicate rows (a producer retrying), not duplicate
 * deliveries. What the sender does about the gap between "the API accepted"
 * and "COMMIT":
 *   - it journals (outbox_attempts, written outside the batch's transaction,
 *     autocommit) each attempt before the request leaves and its outcome the
 *     moment the answer arrives. After a crash, the next sender finds the
 *     outcome and applies it: an accepted message is not sent again even
 *     though the batch that sent it never committed. The window shrinks to
 *     the answer's trip back plus one autocommit (about a millisecond on a
 *     healthy database), per message, not per batch;
 *   - an attempt journalled with no outcome (gssd killed, or PostgreSQL lost,
 *     while the request was in flight, or a request that timed out after it
 *     left) is in doubt: the message is sent again (for a job broadcast or an
 *     invoice a duplicate is better than a loss), the attempt counts toward
 *     GSS_OUTBOX_MAX_ATTEMPTS (a message that crashes gssd gives up instead
 *     of looping), and last_error keeps "may have been delivered twice"
 *     even after the resend succeeds. gss_outbox_in_doubt_total counts them;
 *   - a transaction rolled back at its deadline while requests are still in
 *     flight would let another sender send the same rows: so every request's
 *     timeout is cut to what is left of the deadline minus OUTBOX_TX_RESERVE_MS,
 *     and the send timeout (GSS_HTTP_TIMEOUT_MS) is capped at half of
 *     GSS_PG_TX_TIMEOUT_MS.
 * Recording the attempt before sending costs one autocommit per batch and
 * one per answer; it cannot prevent the duplicate, only turn a silent one
 * into a counted, visible one, and make the common crash (answer in,
 * commit not) duplicate-free.
 *
 * Channels are small vtables registered by the composition root before
 * outbox_start (outbox_channels.h has Telegram and WhatsApp). Limits are per
 * process: several gssd sending through one bot add up (a 429 then slows them).
 *
 * Memory: outbox_new allocates; outbox_free after the loop has returned.
 * The channel structs are copied; their ctx must outlive the sender.
 * Threads: the loop's thread only.
 * Errors: PostgreSQL unavailable means a batch does nothing (counted) and
 * the next one tries again; the rows are where they were.
 */
#ifndef GSS_INTEGRATIONS_OUTBOX_H
#define GSS_INTEGRATIONS_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "integrations/curl_loop.h"

#define OUTBOX_BATCH          32     /* rows in flight at most (one batch at a time) */
#define OUTBOX_PARK_MS        300000 /* a row waiting for its message builder is looked at again after this */
#define OUTBOX_TX_RESERVE_MS  2000   /* of the transaction's deadline, kept for writing the outcomes */
#define OUTBOX_RATE_MARGIN_MS 50     /* added to every rate window (clocks and networks jitter) */
#define OUTBOX_RATES          2      /* per-target windows at most */
#define OUTBOX_HEADERS        4

enum outbox_outcome {
    OUTBOX_SENT,
    OUTBOX_RETRY,       /* stays queued, tried again after delay_ms */
    OUTBOX_FAILED,      /* given up: last_error says why */
    OUTBOX_UNREACHABLE, /* the person cannot be messaged (blocked the bot, no WhatsApp) */
    OUTBOX_WAIT,        /* not an attempt: stays queued as it is, last_error set, looked at after delay_ms */
    OUTBOX_CANCELLED,   /* from a builder only: the row must not go (status 'cancelled', no attempt, no request) */
};

/* What a channel sees of a row; valid during the call. */
struct outbox_row {
    int64_t     id;
    const char *kind;
    const char *target;  /* 'tg:<chat id>', 'wa:<62...>', 'role:sales', ... */
    const char *payload; /* JSON text */
    int         attempts;
};

/* A request a channel built; the sender owns and frees it. */
struct outbox_req {
    char      *url;                         /* malloc'd */
    char      *headers[OUTBOX_HEADERS + 1]; /* malloc'd "Name: value", NULL-terminated */
    struct buf body;
};

struct outbox_verdict {
    enum outbox_outcome outcome;
    int64_t             delay_ms;     /* RETRY: -1 the backoff, else exactly this; WAIT: the park time */
    bool                counts;       /* RETRY: uses up an attempt (a 429 does not) */
    bool                channel_down; /* credentials refused: the channel pauses for delay_ms */
    char                provider_id[128];
    char                detail[480]; /* last_error; "" for none */
    char               *new_target;  /* malloc'd or NULL: the row moves (a group became a supergroup) */
    char               *new_payload; /* malloc'd JSON or NULL: with it */
};

/* At most n sends in any window of window_ms (plus OUTBOX_RATE_MARGIN_MS). */
struct outbox_rate {
    int     n;
    int64_t window_ms;
};

struct outbox_channel {
    const char        *name;       /* the outbox.channel value */
    void              *ctx;        /* the channel's; outlives the sender */
    const char        *off_reason; /* NULL: on; else what CS sees in last_error */
    struct outbox_rate global;     /* over all targets (n <= 256) */
    /* The target's own windows (up to OUTBOX_RATES); returns how many. */
    int (*target_rates)(void *ctx, const char *target, struct outbox_rate *out);
    /* 0: req built (the sender sends it). Else v is filled: OUTBOX_WAIT
     * (a payload shape it has no builder for, a target it cannot send to
     * yet) or OUTBOX_FAILED (a payload that can never be sent) or
     * OUTBOX_CANCELLED (a row that must not go any more). */
    int (*build)(void *ctx, const struct outbox_row *row, struct outbox_req *req, struct outbox_verdict *v);
    /* The answer (or the network error) as a verdict. */
    void (*classify)(void *ctx, const struct outbox_row *row, const struct ihttp_response *res,
                     struct outbox_verdict *v);
};

struct outbox_options {
    const char *database_url;
    int64_t     poll_ms;
    int         max_attempts;
    int64_t     backoff_ms;           /* the first retry's delay */
    int64_t     send_timeout_ms;      /* capped at tx_timeout_ms / 2 */
    int64_t     tx_timeout_ms;        /* the batch transaction's deadline (GSS_PG_TX_TIMEOUT_MS) */
    int64_t     statement_timeout_ms; /* GSS_PG_STATEMENT_TIMEOUT_MS */
    /* Job broadcasts (the job fan-out, docs/telegram.md "Job broadcasts"):
     * the technicians' group (GSS_TELEGRAM_TS_CHAT, copied; NULL or "": none)
     * and whether each linked technician gets a private copy too
     * (GSS_TELEGRAM_JOB_DM). */
    const char *tg_ts_chat;
    bool        tg_job_dm;
};

struct outbox;

/* NULL with err filled (a bad database URL). Starts nothing yet. */
struct outbox *outbox_new(uv_loop_t *loop, struct ihttp *http, const struct outbox_options *opt, char *err,
                          size_t errlen);
/* Before outbox_start; at most 8 channels. 0 or -1. */
int  outbox_add_channel(struct outbox *ob, const struct outbox_channel *ch);
void outbox_start(struct outbox *ob);
/* A batch soon (a row was written): on the next loop turn, or right after the batch in flight. */
void outbox_kick(struct outbox *ob);
/* No new batch. A batch in flight finishes (its requests end within the
 * send timeout; its outcomes are committed), then the pool closes. */
void outbox_stop(struct outbox *ob);
void outbox_free(struct outbox *ob);
void outbox_metrics(const struct outbox *ob, struct buf *b);

/* ---- pure helpers (unit-tested) ---- */

void outbox_req_clear(struct outbox_req *r);
void outbox_verdict_clear(struct outbox_verdict *v); /* frees new_target / new_payload */
/* The delay after failed attempt number `attempt` (1 = the first):
 * base * 2^(attempt-1), at most one hour, then "equal jitter": a uniform
 * value from half of that to all of it, from rnd. */
int64_t outbox_backoff_ms(int64_t base_ms, int attempt, uint64_t rnd);

/* Sliding-window limiter: one per channel, keyed by target. Times in ms
 * from any monotonic clock. */
struct outbox_limiter;
struct outbox_limiter *outbox_limiter_new(struct outbox_rate global);
void                   outbox_limiter_free(struct outbox_limiter *l);
/* How many sends the global window allows at `now`. */
int outbox_limiter_budget(const struct outbox_limiter *l, uint64_t now);
/* The earliest time >= now at which the global window allows one more. */
uint64_t outbox_limiter_global_next(const struct outbox_limiter *l, uint64_t now);
/* The earliest time >= now at which a send to key is allowed by its
 * windows (those its last outbox_limiter_record gave) and any block. */
uint64_t outbox_limiter_next(const struct outbox_limiter *l, const char *key, uint64_t now);
/* A send to key left at now (counted in the global window and key's). */
void outbox_limiter_record(struct outbox_limiter *l, const char *key, const struct outbox_rate *rates, int n,
                           uint64_t now);
/* key's last send was answered at now: its windows count from here if later. */
void outbox_limiter_answered(struct outbox_limiter *l, const char *key, uint64_t now);
/* Every request sent at or after since has been answered by now: the
 * global window counts those sends from now (a send never arrives after its
 * answer, so windows counted from answers hold at the provider too). */
void outbox_limiter_settle(struct outbox_limiter *l, uint64_t since, uint64_t now);
/* Nothing to key before until (a 429's retry_after). */
void outbox_limiter_block(struct outbox_limiter *l, const char *key, uint64_t until);
/* Calls fn for every key not allowed at now (with the time it is), after
 * dropping keys whose windows are all over. */
void outbox_limiter_blocked(struct outbox_limiter *l, uint64_t now, void (*fn)(void *ud, const char *key, uint64_t at),
                            void *ud);

#endif
