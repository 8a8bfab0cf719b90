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
 *   payload {"message": {...a Cloud API message body...}}
 *   target  'wa:<digits with the country code>'; message.to is set from it
 *           when missing and must match it; messaging_product is "whatsapp".
 *   request POST {GSS_WA_API_BASE}/<phone_number_id>/messages, Bearer token.
 *   limits  one message per 6 s to one customer (Meta's pair rate limit,
 *           131056), 50/s overall.
 *   replies messages[0].id → sent (the wamid); 131056/130429/429 → retry
 *           later without an attempt; 131049 → retry in a day; 131026,
 *           131050 → unreachable; 131047 (outside the 24-hour window),
 *           100, other 4xx → failed; 190 (token) and 131042 (payment) → the
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
void outbox_wa_channel(struct outbox_channel *ch, const char *token, const char *api_base, const char *phone_number_id);
void outbox_channel_free(struct outbox_channel *ch);

#endif
