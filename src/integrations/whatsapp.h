/*
 * whatsapp: the Cloud API messages gssd builds itself for customers (issue
 * 10, item 5; docs/whatsapp.md "Sending"; the API facts in
 * ../shared/INTEGRATIONS.md §2).
 *
 * What it provides (pure functions, no I/O):
 *   - the customer's invoice message from what gss_wa_links_render
 *     (db/migrations/0013_wa_out.sql) gives when the row leaves:
 *       window closed -> the utility template GSS_WA_TEMPLATE_INVOICE
 *         (language GSS_WA_TEMPLATE_LANG) with three body parameters
 *         (name, invoice number, total as "Rp 1.250.000") and two URL
 *         buttons whose parameter is the token: index 0 the invoice
 *         {public_url}/i/{{1}}, index 1 the rating {public_url}/r/{{1}};
 *       window open -> an interactive "cta_url" message: the text names the
 *         invoice, total (and balance, due date) and carries the rating link;
 *         the button "Lihat Tagihan" opens the invoice.
 *     The tokens are derived here from the links' nonces (auth/links.h):
 *     they exist only in the returned message, never in a log or an error;
 *   - template parameter text as Meta accepts it (no newline, tab or five
 *     spaces in a row: 132018), and a syntax check for BSUIDs.
 *
 * Memory: wa_links_message returns a malloc'd string the caller frees (it
 * holds bearer tokens: wipe it when done if it matters); the rest fill
 * caller's buffers. Threads: any (no state). Errors: documented per function.
 */
#ifndef GSS_INTEGRATIONS_WHATSAPP_H
#define GSS_INTEGRATIONS_WHATSAPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct links;

#define WA_PARAM_NAME_MAX 60   /* characters of the customer's name in a template parameter */
#define WA_TEXT_NAME_MAX  100  /* and in a free-form text */
#define WA_CTA_BODY_MAX   1024 /* characters of a cta_url body (Meta's limit) */
#define WA_BSUID_MAX      128

struct wa_links_conf {
    const char *public_url;    /* no trailing '/'; the links' base */
    const char *template_name; /* GSS_WA_TEMPLATE_INVOICE */
    const char *template_lang; /* GSS_WA_TEMPLATE_LANG */
};

/*
 * The message for one invoice.sent row. links_msg is the JSON object under
 * "links_msg" of the rendered payload:
 *   {"customer": str, "number": str, "total": int, "balance": int?,
 *    "due_at": "YYYY-MM-DDTHH:MM:SSZ"?, "window_open": bool,
 *    "invoice": {"nonce_hex": 32 hex, "hash_hex": 64 hex?} | null,
 *    "rating": {"nonce_hex": 32 hex, "hash_hex"?, "used": bool} | null}
 * hash_hex, when given, is the link's stored token hash: a token derived
 * under the current key that does not have it is refused (the key changed:
 * the message would carry links that open nothing).
 * Returns a malloc'd Cloud API message body without "to" and
 * "messaging_product" (the channel adds them from the row's target), or
 * NULL with err filled (errlen > 0; no token in it) for data that can never
 * be sent: not that shape, the invoice link gone, or (window closed) the
 * rating link gone, since the template's second button needs it.
 */
char *wa_links_message(const char *links_msg, size_t len, const struct links *keys, const struct wa_links_conf *conf,
                       char *err, size_t errlen);

/* Appends s (n bytes of UTF-8) as a template body parameter: control
 * characters and runs of white space become one space, the ends are
 * trimmed; a text longer than max_chars code points (0: no limit) is cut
 * there and "…" appended. Empty after that: dflt is appended instead. */
void wa_param_text(struct buf *b, const char *s, size_t n, size_t max_chars, const char *dflt);

/* "8 Desember 2026": the date in Jakarta (UTC+7) of an instant written
 * "YYYY-MM-DDTHH:MM:SSZ". -1 (out "") for anything else. */
int wa_date_id(const char *iso, char *out, size_t n);

/* A business-scoped user id as Meta gives it: 1..WA_BSUID_MAX characters
 * of A-Za-z0-9 and . _ - (e.g. "ID.1234567890123456"). */
bool wa_bsuid_ok(const char *s);

#endif
