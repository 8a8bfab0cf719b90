/*
 * outbox_channels: the two channels of the outbox sender (outbox.h), in
 * their first, minimal form: rows whose payload already holds the API call.
 *
 * telegram (outbox_tg.c)
 *   payload {"method": "sendMessage" | "editMessageText" | ..., "params": {...}}
 *   target  'tg:<chat id>' (a number, negative for groups, or @channelname);
 *           params.chat_id is set from it when missing and must match it
 *           when present.
 *   request POST {GSS_TELEGRAM_API_BASE}/bot<token>/<method>, JSON params.
 *   limits  30/s overall; 1/s per chat; 20/min into a group (a negative id
 *           or @name) on top.
 *   replies ok → sent (provider_id "<chat id>:<message_id>", or
 *           "<message_id>", or empty for a result that is no message);
 *           429 → retry after exactly parameters.retry_after (no attempt
 *           used); 400 migrate_to_chat_id → the row moves to the new chat and
 *           goes again; 400 "message is not modified" → sent (the edit is
 *           already there); 401 → the token is refused: the channel pauses
 *           a minute, no attempt used; 403 → unreachable (blocked the bot,
 *           never pressed Start); other 4xx → failed; 5xx, network → retry.
 *
 * whatsapp (outbox_wa.c)
 *   payload {"message": {...a Cloud API message body...}}, or the
 *           customer's invoice message rendered as {"links_msg": {...}}
 *           (outbox_wa_links below)
 *   target  'wa:<digits with the country code>'; message.to is set from it
 *           when missing and must match it; messaging_product is "whatsapp".
 *           'wa-user:<BSUID>' (a customer who hides the number): the
 *           message gets "recipient" instead of "to".
 *   request POST {GSS_WA_API_BASE}/<phone_number_id>/messages, Bearer token.
 *   limits  one message per 6 s to one customer (Meta's pair rate limit,
 *           131056), 50/s overall.
 *   replies messages[0].id → sent (the wamid); 131056/130429/429 → retry
 *           later without an attempt; 131049 → retry in a day; 131026,
 *           131050 → unreachable; 131047 (outside the 24-hour window),
 *           131062 (no BSUID recipient for this message), 100, other 4xx
 *           → failed; 190 (token) and 131042 (payment) → the
 *           channel pauses; 5xx, network → retry.
 *
 * Any other payload shape (the money issue's rows hold ids, e.g.
 * invoice.pending_approval, invoice.sent) or target (role:sales) is left
 * queued with a last_error saying it waits for its message builder.
 *
 * Memory: each constructor fills a struct outbox_channel whose ctx it
 * allocates (copies of the settings); outbox_channel_free releases it after
 * the sender is freed. A channel whose token (or, for WhatsApp, phone number
 * id) is empty is built anyway, off, with the reason in off_reason.
 */
#ifndef GSS_INTEGRATIONS_OUTBOX_CHANNELS_H
#define GSS_INTEGRATIONS_OUTBOX_CHANNELS_H

#include "integrations/outbox.h"

void outbox_tg_channel(struct outbox_channel *ch, const char *token, const char *api_base);
/* The base of the links the Telegram channel's messages carry
 * (GSS_PUBLIC_URL: Sales' [Lihat / Revisi] button, <url>/invoices/<id>),
 * copied; a trailing '/' is dropped. Unset (or longer than 255 bytes), a
 * row with an "approval" payload stays queued, its last_error saying why.
 * Call after outbox_tg_channel. */
void outbox_tg_public_url(struct outbox_channel *ch, const char *public_url);
/* Job broadcasts (docs/telegram.md "Job broadcasts"): a row whose rendered
 * payload (gss_job_render, 0012_job_posts.sql) has "job" becomes the job
 * message (tg_job_payload); its [Ambil Job] button opens the Direct Link
 * Mini App https://t.me/<bot_username>/<miniapp>?startapp=job_<id> when both
 * are set, else <public_url>/jobs/<id>. "job_wait" → OUTBOX_WAIT for its
 * wait_ms (the post's own wait, 1.5 to 60 s; 0020_outbox_hardening.sql),
 * else TG_JOB_WAIT_MS (an edit whose message is not sent yet); "job_skip"
 * → OUTBOX_CANCELLED (a job no longer open, a message that never went).
 * Any channel: a rendered payload with "render_error" (the renderer
 * raised on a malformed stored payload) → OUTBOX_FAILED, that row alone.
 * Copied (up to 39 bytes each; a leading '@' dropped). Call after
 * outbox_tg_channel. */
void outbox_tg_jobs(struct outbox_channel *ch, const char *bot_username, const char *miniapp);
void outbox_wa_channel(struct outbox_channel *ch, const char *token, const char *api_base, const char *phone_number_id);
/* The customer's invoice message (docs/whatsapp.md "Sending"): a row
 * whose rendered payload has "links_msg" (db/migrations/0013_wa_out.sql) is
 * built by whatsapp.h wa_links_message with tokens derived under keys
 * (borrowed: it must outlive the channel), links under public_url (copied,
 * a trailing '/' dropped), the template and its language (copied). Unset,
 * such rows stay queued with a last_error saying why. Targets
 * 'wa-user:<BSUID>' are sent with "recipient" instead of "to". Call after
 * outbox_wa_channel. */
struct links;
void outbox_wa_links(struct outbox_channel *ch, const struct links *keys, const char *public_url,
                     const char *template_name, const char *template_lang);
void outbox_channel_free(struct outbox_channel *ch);

#endif
