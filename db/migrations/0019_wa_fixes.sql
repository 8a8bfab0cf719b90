-- WhatsApp sending: a message that waited past the customer's 24-hour
-- window (docs/whatsapp.md "Sending", "The 24-hour window").
--
-- A row rendered "window open" (the invoice's interactive cta_url, or CS's
-- free-text reply 'wa.reply') can wait queued (the 6 s pacing, a backoff,
-- the channel off) and reach Meta after the window closed: 131047. Meta
-- says so either in the API answer (outbox_channels.c wa_classify) or,
-- having accepted the message, in a 'failed' status webhook (here).
--   - The invoice message: sent again as the template. The stored payload
--     gets "window_closed": true, which this renderer reads as a closed
--     window whatever last_inbound_at says (so a clock that disagrees with
--     Meta's cannot make it loop: the mark is set once, the template is
--     allowed at any time).
--   - CS's reply: failed, with a last_error CS can act on in the inbox.

-- 0013's renderer, plus: the mark closes the window, and the stored payload
-- is handed to the channel as "stored" (the C side adds the mark to it when
-- the API answer is 131047; the rendered payload is never stored).
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
                    'window_open', coalesce(now() < c.last_inbound_at + interval '24 hours', false)
                                   AND NOT coalesce((p_payload ->> 'window_closed')::boolean, false)))
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
                || jsonb_build_object('stored', p_payload)
         FROM invoices i
         JOIN tickets t ON t.id = i.ticket_id
         JOIN customers c ON c.id = t.customer_id
         WHERE i.id = (p_payload ->> 'invoice_id')::bigint),
        p_payload)
$$;

-- The status webhook's 131047 (wa_ingest, 0009, writes last_error
-- 'whatsapp: not delivered: 131047 ...' and status 'failed'; so does
-- outbox_wa_status_catchup when the status came first). Named to sort after
-- outbox_wa_status_catchup: BEFORE triggers run by name, and this one must
-- see what that one set.
CREATE FUNCTION outbox_wa_window_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.delivery_status IS DISTINCT FROM 'failed'
       OR coalesce(NEW.last_error, '') NOT LIKE 'whatsapp: not delivered: 131047%' THEN
        RETURN NEW;
    END IF;
    IF NEW.payload ? 'invoice_link_id' AND NOT coalesce((NEW.payload ->> 'window_closed')::boolean, false) THEN
        -- queued again, as the template: the wamid and its statuses were the
        -- refused message's; the send counted already, no attempt more
        NEW.status := 'queued';
        NEW.payload := NEW.payload || '{"window_closed": true}';
        NEW.next_attempt_at := now();
        NEW.provider_id := NULL;
        NEW.delivery_status := NULL;
        NEW.delivery_at := NULL;
        NEW.sent_at := NULL;
        NEW.last_error := substr(NEW.last_error, 26) || ': the 24-hour window had closed; the template goes instead';
    ELSIF NEW.kind = 'wa.reply' THEN
        NEW.last_error := 'window_closed: jendela 24 jam sudah tertutup saat dikirim; kirim template ('
                          || substr(NEW.last_error, 26) || ')';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_wa_window_closed BEFORE INSERT OR UPDATE ON outbox
    FOR EACH ROW WHEN (NEW.channel = 'whatsapp' AND NEW.status = 'failed')
    EXECUTE FUNCTION outbox_wa_window_closed();
