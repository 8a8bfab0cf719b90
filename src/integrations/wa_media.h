/*
 * wa_media: fetches the photos customers send on WhatsApp and keeps them as
 * attachments of the conversation (issue 10, item 5; 0014_wa_media.sql;
 * docs/whatsapp.md "Photos"; INTEGRATIONS.md §2 "media").
 *
 * The webhook stores an image as a media id only (hooks_whatsapp.c), and the
 * row starts with media_status 'pending'. Meta's download URL lives about
 * five minutes, so the worker fetches at once, on the loop:
 *
 *   every poll (or wa_media_kick): claim up to WA_MEDIA_BATCH pending rows
 *       that are due, with FOR UPDATE SKIP LOCKED inside one autocommit
 *       UPDATE that sets a lease (media_next_at) and counts the attempt:
 *       two gssd never fetch the same row at once, and a gssd that dies
 *       mid-fetch leaves a row another picks up when the lease is over;
 *   per row: GET {api_base}/<media_id> (Bearer) -> url, mime_type, sha256,
 *       file_size; the type must be image/jpeg or image/png and the size at
 *       most max_bytes; GET url (Bearer), the body capped at max_bytes; the
 *       bytes must look like the type (magic bytes) and hash to sha256;
 *   store: store/blobs (content-named under upload_dir, as uploads), then
 *       one statement inserts the attachments row (kind 'wa_photo', the
 *       message's customer, no ticket, no uploader) and sets the message's
 *       attachment_id and media_status 'stored'.
 *   The download URL must be https (the token goes with it), unless
 *       api_base itself is plain http (a fake on loopback in the tests):
 *       wa_media_url_ok. Redirects are never followed (curl_loop).
 *   Claim token: every outcome write names the attempt number the claim
 *       returned (media_attempts), so a gssd whose lease ran out cannot
 *       overwrite the current holder's row; its failure or retry is
 *       dropped. A stored photo wins over everything: the store accepts a
 *       row still pending or already failed (bytes that arrived late beat
 *       a failure), never one stored already.
 * Outcomes: stored; retried after outbox_backoff_ms(backoff_ms, attempt) on
 * a network error, a 5xx, a 429 or a 401 (a token being rotated), a hash
 * mismatch; failed with media_error on any other 4xx, a wrong type, too
 * large, a message with no customer, or once max_attempts were used.
 * media_error always says the last reason (English, for the logs and CS).
 * Once a photo is stored or failed, an inbox.status event names its
 * customer (store/inbox_events.h), so an open chat shows it.
 *
 * Off when the token is empty: rows stay pending, untouched.
 * Memory: wa_media_new allocates; the options' strings are copied; the loop,
 * ihttp and pg pool are the caller's and must outlive the worker.
 * Threads: the loop's thread only (the file is written on libuv's pool).
 * Errors: PostgreSQL unavailable means a poll does nothing; a fetch whose
 * outcome cannot be written is picked up again when its lease ends.
 */
#ifndef GSS_INTEGRATIONS_WA_MEDIA_H
#define GSS_INTEGRATIONS_WA_MEDIA_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "integrations/curl_loop.h"

#define WA_MEDIA_BATCH    4      /* fetches in flight at most */
#define WA_MEDIA_LEASE_MS 120000 /* a claimed row is not claimed again before this (plus the timeouts) */

struct pg_pool;
struct rds;

struct wa_media_options {
    const char *token;        /* GSS_WA_TOKEN; empty or NULL: off */
    const char *api_base;     /* GSS_WA_API_BASE, with the Graph version */
    const char *upload_dir;   /* GSS_UPLOAD_DIR */
    int64_t     poll_ms;      /* GSS_OUTBOX_POLL_MS */
    int64_t     backoff_ms;   /* GSS_OUTBOX_BACKOFF_MS: the first retry's delay */
    int64_t     timeout_ms;   /* each request's (GSS_HTTP_TIMEOUT_MS) */
    int64_t     max_bytes;    /* GSS_UPLOAD_PHOTO_MAX */
    int         max_attempts; /* <= 0: 5 */
    struct rds *redis;        /* inbox.status events (store/inbox_events.h); NULL: none */
    const char *redis_prefix; /* GSS_REDIS_PREFIX */
};

struct wa_media;

/* Whether gssd may GET url with the Bearer token: an https URL, or an http
 * one when api_base is http too (nothing else: the scheme compared without
 * case, as URLs allow). Pure. */
bool wa_media_url_ok(const char *api_base, const char *url);

struct wa_media *wa_media_new(uv_loop_t *loop, struct ihttp *http, struct pg_pool *pg,
                              const struct wa_media_options *opt);
void             wa_media_start(struct wa_media *wm);
/* A poll soon (a message with a media id was stored). */
void wa_media_kick(struct wa_media *wm);
/* No new claims; fetches in flight end with their requests (ihttp_close
 * cancels them), their outcomes written if the pool still takes them. */
void wa_media_stop(struct wa_media *wm);
/* After the loop has returned. NULL is fine. */
void wa_media_free(struct wa_media *wm);
void wa_media_metrics(const struct wa_media *wm, struct buf *b);

#endif
