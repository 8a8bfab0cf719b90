-- The customer's invoice message on WhatsApp (issue 10, item 5;
-- docs/whatsapp.md "Sending").
--
-- POST /invoices/{id}/send (src/http/handlers/invoice_send.c) writes one
-- whatsapp outbox row of kind invoice.sent whose payload holds ids only:
--   {invoice_id, invoice_link_id, rating_link_id, number, total}
-- The sender's SELECT passes such a row (it has "invoice_link_id") through
-- gss_wa_links_render (0011), replaced here. What it gives the C builder
-- (src/integrations/whatsapp.c, through outbox_channels.c wa_build) is what
-- is true when the message leaves, not when the invoice was sent:
--   {"links_msg": {
--      "customer": "<name>", "number": "INV-...", "total": 1250000,
--      "balance": 250000          -- only when partly paid
--      "due_at": "ISO-8601Z" | null,
--      "invoice": {"nonce_hex": "<32 hex>", "hash_hex": "<64 hex>"} | null,  -- null: the row is gone
--      "rating": {"nonce_hex", "hash_hex", "used": false} | null,
--      "window_open": true | false}}
-- window_open is the customer's 24-hour window (docs/whatsapp.md "The
-- 24-hour window"): open while now() < customers.last_inbound_at + 24 h.
-- now() is the sender's transaction start, a few milliseconds before the
-- request leaves: a window that closes in between gets 131047 and the row
-- fails with that reason (rare; CS resends).
--
-- hash_hex is the stored SHA-256 of the token: the builder checks that the
-- token it derives under the current GSS_LINK_KEY still has it (a changed
-- key, or a process-made key after a restart, would send links that open
-- nothing; such a row fails with that reason and CS presses Kirim Ulang).
-- The nonces are not secret on their own (the tokens are HMACs of them
-- under GSS_LINK_KEY, derived in C, src/auth/links.h); no token is ever
-- stored or rendered here. STABLE: it reads, it never writes, so a row sent
-- again after a crash is rendered again from the truth of that moment.
CREATE OR REPLACE FUNCTION gss_wa_links_render(p_id BIGINT, p_payload JSONB) RETURNS JSONB
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT jsonb_build_object('links_msg', jsonb_strip_nulls(jsonb_build_object(
                    'customer', c.name,
                    'number', i.number,
                    'total', i.total,
                    'balance', CASE WHEN i.paid_amount > 0 AND i.paid_amount < i.total
                                    THEN i.total - i.paid_amount END,
                    'due_at', to_char(i.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                    'window_open', coalesce(now() < c.last_inbound_at + interval '24 hours', false)))
                -- added after the strip: a missing link is an explicit null
                || jsonb_build_object(
                    'invoice', (SELECT jsonb_build_object('nonce_hex', encode(l.nonce, 'hex'),
                                                          'hash_hex', encode(l.token_hash, 'hex'))
                                FROM public_links l
                                WHERE l.id = (p_payload ->> 'invoice_link_id')::bigint
                                  AND l.kind = 'invoice' AND l.invoice_id = i.id),
                    'rating', (SELECT jsonb_build_object('nonce_hex', encode(l.nonce, 'hex'),
                                                         'hash_hex', encode(l.token_hash, 'hex'),
                                                         'used', l.used_at IS NOT NULL)
                               FROM public_links l
                               WHERE l.id = (p_payload ->> 'rating_link_id')::bigint
                                 AND l.kind = 'rating' AND l.invoice_id = i.id)))
         FROM invoices i
         JOIN tickets t ON t.id = i.ticket_id
         JOIN customers c ON c.id = t.customer_id
         WHERE i.id = (p_payload ->> 'invoice_id')::bigint),
        -- no such invoice: the stored payload, which the channel parks
        -- (it names an invoice_link_id but has no links_msg)
        p_payload)
$$;
