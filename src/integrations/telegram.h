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
 *   - the strict reading of that callback_data.
 *
 * Status: the approval message is not sent yet. Its fan-out (one row per
 * linked Sales account) and the callback that approves are to come; see
 * docs/telegram.md "Not yet". Nothing calls tg_approval_payload so far.
 *
 * Memory: tg_approval_payload returns a malloc'd string the caller frees;
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

#endif
