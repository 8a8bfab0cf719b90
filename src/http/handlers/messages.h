/*
 * messages: a ticket's outgoing messages for CS (issue 10, item 2: "CS sees
 * the failure on the ticket"; docs/whatsapp.md "Sending", docs/openapi.yaml).
 *
 * GET /api/v1/tickets/{id}/messages (cs, admin, sales: read only) answers
 *   200 {"ticket_id": 1, "messages": [{"id", "channel", "kind",
 *        "recipient": "Budi" | "Grup teknisi" | ..., "recipient_kind":
 *        "customer" | "technician" | "group" | "sales" | "user" | "other",
 *        "status": "queued" | "sent" | "failed" | "unreachable" | "cancelled",
 *        "delivery_status": "sent" | "delivered" | "read" | "failed" | null,
 *        "attempts", "last_error": str | null, "created_at", "sent_at": str | null}]}
 *   failed and unreachable first, then the newest first; at most 200.
 *   404 not_found for an unknown ticket.
 * The rows are the outbox's with this ticket_id, or with the invoice of this
 * ticket (Sales' approval messages carry only the invoice). A Telegram
 * target is named by the linked user (users.telegram_chat_id), the
 * technicians' group (GSS_TELEGRAM_TS_CHAT), or as a group ('role:technicians'
 * before the fan-out: "Teknisi"); a WhatsApp
 * target by the ticket's customer. No token is ever in a row (the payload
 * is not shown at all).
 *
 * Memory, threads: as every handler (the loop's thread; the request owns
 * what it allocates).
 */
#ifndef GSS_HTTP_HANDLERS_MESSAGES_H
#define GSS_HTTP_HANDLERS_MESSAGES_H

#include "http/http.h"

#define MESSAGES_MAX 200

void h_tickets_messages(struct http_req *req);

#endif
