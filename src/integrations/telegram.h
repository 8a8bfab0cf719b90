/*
 * telegram: the Bot API messages gssd builds itself (issue 10, item 4;
 * docs/telegram.md; the API facts in ../shared/INTEGRATIONS.md §1).
 *
 * What it provides (pure functions, no I/O):
 *   - HTML escaping for parse_mode "HTML": every piece of customer,
 *     invoice or job data goes through tg_html_escape (a single stray '<'
 *     fails the whole send with 400 "can't parse entities");
 *   - amounts as Indonesians write them: "Rp 1.350.000";
 *   - Sales' approval message ("Draft Invoice Menunggu Approval") as an
 *     outbox payload {"method":"sendMessage","params":{...}}, with the
 *     buttons [Approve] (callback_data "ap:<invoice id>:<version>") and
 *     [Lihat / Revisi] (a URL to the invoice's web page);
 *   - the strict reading of that callback_data;
 *   - the job broadcast (docs/telegram.md "Job broadcasts"): the job's
 *     state as gss_job_render (0012_job_posts.sql) builds it, as a
 *     sendMessage or an editMessageText payload, with its one button.
 *
 * Callers: outbox_channels.c tg_build renders the rows the outbox's
 * fan-outs (outbox.c) write: Sales' approval, the job broadcasts.
 *
 * Memory: tg_approval_payload and tg_job_payload return a malloc'd string the caller frees;
 * the rest append to a caller's struct buf or fill caller's variables.
 * Threads: any (no state). Errors: documented per function.
 */
#ifndef GSS_INTEGRATIONS_TELEGRAM_H
#define GSS_INTEGRATIONS_TELEGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TG_TEXT_MAX       4096 /* characters of a message's text after entity parsing */
#define TG_CALLBACK_MAX   64   /* bytes of callback_data */
#define TG_APPROVAL_ITEMS 20   /* lines listed in the approval message; the rest are counted */
#define TG_APPROVAL_DESC  120  /* characters of a line's description shown */
#define TG_APPROVAL_NAME  120  /* characters of the customer's name shown */
#define TG_JOB_PROBLEM    200  /* characters of a job's problem shown */
#define TG_JOB_AREA       80   /* characters of a job's area shown */
#define TG_JOB_CODE       40   /* characters of a ticket code shown */
#define TG_JOB_WAIT_MS    1500 /* a job edit whose message is not sent yet is looked at again after this */

/* Appends s (n bytes of UTF-8) with & < > " as entities: safe as text and
 * inside a double-quoted attribute. At most max_chars code points are
 * copied (0: all); a cut text ends in "…". */
void tg_html_escape(struct buf *b, const char *s, size_t n, size_t max_chars);

/* Appends "Rp 1.350.000" ("-Rp 50.000" below zero; "Rp 0"). */
void tg_rupiah(struct buf *b, int64_t amount);

/* "ap:<id>:<version>" into out (TG_CALLBACK_MAX + 1 bytes): both
 * positive. -1 when they are not (nothing written). */
int tg_approve_data(char out[TG_CALLBACK_MAX + 1], int64_t invoice_id, int64_t version);
/* The strict reverse: "ap:" then two positive decimal integers without
 * leading zeros or signs, separated by ':', nothing else. */
bool tg_parse_approve_data(const char *s, size_t n, int64_t *invoice_id, int64_t *version);

/*
 * Sales' approval message from the invoice's data, a JSON object:
 *   {"invoice_id": int, "version": int, "number": str, "customer": str,
 *    "items": [{"description": str, "qty": int, "unit_price": int, "line_total": int}],
 *    "subtotal": int, "discount": int, "tax": int, "total": int}
 * and public_url (no trailing '/'; the [Lihat / Revisi] button goes to
 * <public_url>/invoices/<id>). Returns the malloc'd outbox payload
 * {"method":"sendMessage","params":{"text","parse_mode":"HTML",
 * "link_preview_options":{"is_disabled":true},"reply_markup":{...}}}
 * (no chat_id: the outbox row's target gives it), or NULL for data that
 * is not of that shape (err says what, errlen > 0).
 */
char *tg_approval_payload(const char *data, size_t len, const char *public_url, char *err, size_t errlen);

/* Appends an ISO-8601 UTC time "YYYY-MM-DDTHH:MM:SSZ" (n bytes) as
 * Jakarta reads it: "Sen 02 Des 09:00 WIB" (UTC+7). -1 (nothing written)
 * for any other shape. */
int tg_wib_time(struct buf *b, const char *iso, size_t n);

/* Where a job's [Ambil Job] button goes: the Direct Link Mini App
 * https://t.me/<bot_username>/<miniapp>?startapp=job_<id> when miniapp and
 * bot_username are set (A-Za-z0-9_, a leading '@' of the username is
 * dropped), else <public_url>/jobs/<id> (http or https; a trailing '/' is
 * dropped). Borrowed strings; NULL counts as unset. */
struct tg_job_links {
    const char *public_url;
    const char *bot_username;
    const char *miniapp;
};

/*
 * The job broadcast from the job's state, a JSON object:
 *   {"id": int, "code": str, "problem": str, "area": str,
 *    "scheduled_at": "YYYY-MM-DDTHH:MM:SSZ", "needed": int, "filled": int,
 *    "state": "open" | "full" | "cancelled" | "closed", "urgent": bool,
 *    "round": int (optional, 1)}
 * Every string goes through tg_html_escape (problem cut at TG_JOB_PROBLEM
 * characters). edit_message_id 0: {"method":"sendMessage",...}; else
 * {"method":"editMessageText","params":{"message_id":...,...}}. params
 * always has text, parse_mode HTML and link_preview_options disabled; no
 * chat_id (the row's target gives it). The keyboard: open → one URL button
 * "Ambil Job"; full → a disabled button "PENUH" ({"text":"PENUH",
 * "disabled":{}}, Bot API 10.3); cancelled, closed → none (an edit without
 * reply_markup removes the keyboard, which is what those want). Every edit
 * carries the keyboard again for the same reason.
 * Returns the malloc'd payload, or NULL (err says why): data not of that
 * shape, or an open job with no link for its button.
 */
char *tg_job_payload(const char *job, size_t len, int64_t edit_message_id, const struct tg_job_links *links,
                     char *err, size_t errlen);

/*
 * Sales' approval message once its question is answered elsewhere
 * (db/migrations/0016_approval_edits.sql renders the data when the row
 * leaves): the invoice left pending_approval on the web, by a revision
 * request, by a new version, or by another Sales' press in Telegram. The
 * data, a JSON object:
 *   {"message_id": int, "invoice_id": int, "number": str, "version": int,
 *    "customer": str, "total": int,
 *    "event": "approved" | "revise" | "replaced",
 *    "by": str | null (who approved or asked), "via": "web" | "telegram",
 *    "note": str | null (the revision's note)}
 * The text names the invoice, then what happened: "✅ Disetujui oleh
 * <by> (web)" (or "(Telegram)"), "↩️ Revisi diminta oleh <by>: <note>",
 * "🔄 Diganti versi baru"; every field through tg_html_escape (the note cut
 * at TG_APPROVAL_NOTE characters, the customer at TG_APPROVAL_NAME). The
 * keyboard keeps only [Lihat / Revisi] (<public_url>/invoices/<id>), or
 * none when public_url is not an http(s) URL: either way the Approve
 * button is gone. Returns the malloc'd payload {"method":"editMessageText",
 * "params":{"message_id","text","parse_mode":"HTML","link_preview_options",
 * "reply_markup"?}} (no chat_id: the row's target gives it), or NULL for
 * data not of that shape (err says what).
 */
#define TG_APPROVAL_NOTE         500  /* characters of a revision's note shown */
#define TG_APPROVAL_EDIT_WAIT_MS 1500 /* an edit whose approval message is not sent yet is looked at again after this */
char *tg_approval_edit_payload(const char *data, size_t len, const char *public_url, char *err, size_t errlen);

#endif
