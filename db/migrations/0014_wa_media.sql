-- WhatsApp photos in (issue 10, item 5; src/integrations/wa_media.c,
-- docs/whatsapp.md "Photos"): an incoming image is only a media id in the
-- webhook. gssd fetches it at once through the media API (the URL Meta hands
-- out expires within minutes) and keeps the bytes like an upload, as an
-- attachment of the conversation (the customer), not of a ticket.

-- An attachment belongs to a ticket (uploads) or to a customer's
-- conversation (a WhatsApp photo); gssd itself stores the latter, so it has
-- no uploader.
ALTER TABLE attachments ALTER COLUMN ticket_id DROP NOT NULL;
ALTER TABLE attachments ADD COLUMN customer_id BIGINT REFERENCES customers (id);
ALTER TABLE attachments ADD CONSTRAINT attachments_owner CHECK (ticket_id IS NOT NULL OR customer_id IS NOT NULL);
ALTER TABLE attachments ALTER COLUMN uploaded_by DROP NOT NULL;
ALTER TABLE attachments ADD CONSTRAINT attachments_uploader CHECK (uploaded_by IS NOT NULL OR kind = 'wa_photo');
ALTER TABLE attachments DROP CONSTRAINT attachments_kind_check;
ALTER TABLE attachments ADD CONSTRAINT attachments_kind_check
    CHECK (kind IN ('bast', 'photo', 'payment_proof', 'wa_photo'));
CREATE INDEX attachments_customer_idx ON attachments (customer_id, created_at) WHERE customer_id IS NOT NULL;

-- The fetch of an incoming message's media:
--   media_status   NULL (no media) | pending -> stored | failed
--   attachment_id  the stored bytes ('stored')
--   media_error    why it failed ('failed'), or the last retried error
--   media_attempts fetches tried so far
--   media_next_at  not before then: the backoff after a retryable error, and
--                  the lease of the gssd fetching it now (so two gssd never
--                  fetch the same message at once)
ALTER TABLE wa_messages ADD COLUMN attachment_id BIGINT REFERENCES attachments (id);
ALTER TABLE wa_messages ADD COLUMN media_status TEXT CHECK (media_status IN ('pending', 'stored', 'failed'));
ALTER TABLE wa_messages ADD COLUMN media_error TEXT;
ALTER TABLE wa_messages ADD COLUMN media_attempts INTEGER NOT NULL DEFAULT 0 CHECK (media_attempts >= 0);
ALTER TABLE wa_messages ADD COLUMN media_next_at TIMESTAMPTZ;
ALTER TABLE wa_messages ADD CONSTRAINT wa_messages_media_stored
    CHECK (media_status IS DISTINCT FROM 'stored' OR attachment_id IS NOT NULL);

-- Every incoming message with a media id starts 'pending'; wa_ingest does
-- not name the column, so a trigger sets it (a DEFAULT cannot look at
-- media_id).
CREATE FUNCTION wa_media_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.media_status IS NULL AND NEW.media_id IS NOT NULL AND NEW.direction = 'in' THEN
        NEW.media_status := 'pending';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER wa_media_pending BEFORE INSERT ON wa_messages
    FOR EACH ROW EXECUTE FUNCTION wa_media_pending();

UPDATE wa_messages SET media_status = 'pending'
 WHERE media_id IS NOT NULL AND direction = 'in' AND media_status IS NULL;

-- What the worker picks up.
CREATE INDEX wa_messages_media_pending_idx ON wa_messages (media_next_at NULLS FIRST, id)
    WHERE media_status = 'pending';
