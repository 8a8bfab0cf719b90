-- The CS WhatsApp inbox (issue 10, item 6; src/http/handlers/inbox.c,
-- docs/inbox.md): every customer who wrote to us or got a WhatsApp message
-- from us is a conversation; CS reads it, replies, and marks it read.
--
-- A conversation's messages live in two tables: what the customer sent is in
-- wa_messages (direction 'in', 0009), what we sent is the customer's
-- whatsapp outbox rows (their target 'wa:<phone>' or 'wa-user:<bsuid>').
-- The inbox must not search either by target text, and its list must not
-- scan every message to find the newest conversations, so:
--   - outbox.customer_id names the customer of a whatsapp row. Writers may
--     set it; a BEFORE INSERT trigger fills it from the target otherwise (the
--     invoice send, 0006, writes only the target).
--   - customers.inbox_last_at is the time of the conversation's newest
--     message either way, and customers.inbox_last_in_id the id of its newest
--     incoming one, both kept by triggers; the list reads customers in
--     inbox_last_at order from an index.
--   - customers.inbox_read_id is the newest incoming message CS has read
--     (POST .../messages/read). Unread = incoming messages with a higher id:
--     ids, not times, so a message stored in the same second as the read is
--     never lost between the two. The partial index of customers whose
--     newest message is newer than the read one is the set of unread
--     conversations, so the badge's total reads those only.

ALTER TABLE customers ADD COLUMN inbox_last_at TIMESTAMPTZ;
ALTER TABLE customers ADD COLUMN inbox_last_in_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN inbox_read_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN inbox_read_at TIMESTAMPTZ;
ALTER TABLE customers ADD COLUMN inbox_read_by BIGINT REFERENCES users (id);

ALTER TABLE outbox ADD COLUMN customer_id BIGINT REFERENCES customers (id);

-- A chat, newest first, from either side (inbox_messages below).
CREATE INDEX outbox_customer_idx ON outbox (customer_id, created_at, id) WHERE customer_id IS NOT NULL;
CREATE INDEX wa_messages_inbox_idx ON wa_messages (customer_id, sent_at, id) WHERE direction = 'in';
-- Unread counts: a conversation's incoming messages above its read mark.
CREATE INDEX wa_messages_inbox_unread_idx ON wa_messages (customer_id, id) WHERE direction = 'in';
-- The list, newest conversation first; and the unread ones.
CREATE INDEX customers_inbox_idx ON customers (inbox_last_at DESC, id DESC) WHERE inbox_last_at IS NOT NULL;
CREATE INDEX customers_inbox_unread_idx ON customers (id) WHERE inbox_last_in_id > inbox_read_id;

-- The customer a whatsapp target names: 'wa:<phone>' by phone,
-- 'wa-user:<bsuid>' by the business-scoped user id. NULL for anything else.
CREATE FUNCTION gss_inbox_target_customer(p_target TEXT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_target LIKE 'wa:%' THEN (SELECT id FROM customers WHERE phone = substr(p_target, 4))
        WHEN p_target LIKE 'wa-user:%' THEN (SELECT id FROM customers WHERE wa_user_id = substr(p_target, 9))
    END
$$;

CREATE FUNCTION outbox_inbox_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_id IS NULL THEN
        NEW.customer_id := gss_inbox_target_customer(NEW.target);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_inbox_customer BEFORE INSERT ON outbox
    FOR EACH ROW WHEN (NEW.channel = 'whatsapp')
    EXECUTE FUNCTION outbox_inbox_customer();

-- A message either way moves its conversation to the top. A row's customer
-- can arrive after the row: wa_ingest inserts the message, then sets
-- customer_id once it knows who wrote. AFTER triggers, so they see the
-- final id.
CREATE FUNCTION wa_messages_inbox_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.customer_id IS NOT DISTINCT FROM NEW.customer_id THEN
        RETURN NULL;
    END IF;
    UPDATE customers
       SET inbox_last_at = greatest(inbox_last_at, NEW.sent_at),
           inbox_last_in_id = greatest(inbox_last_in_id, NEW.id)
     WHERE id = NEW.customer_id;
    RETURN NULL;
END $$;
CREATE TRIGGER wa_messages_inbox_insert AFTER INSERT ON wa_messages
    FOR EACH ROW WHEN (NEW.direction = 'in' AND NEW.customer_id IS NOT NULL)
    EXECUTE FUNCTION wa_messages_inbox_touch();
CREATE TRIGGER wa_messages_inbox_customer AFTER UPDATE OF customer_id ON wa_messages
    FOR EACH ROW WHEN (NEW.direction = 'in' AND NEW.customer_id IS NOT NULL)
    EXECUTE FUNCTION wa_messages_inbox_touch();

CREATE FUNCTION outbox_inbox_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE customers SET inbox_last_at = greatest(inbox_last_at, NEW.created_at) WHERE id = NEW.customer_id;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_inbox_touch AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.channel = 'whatsapp' AND NEW.customer_id IS NOT NULL)
    EXECUTE FUNCTION outbox_inbox_touch();

-- What is there already.
UPDATE outbox SET customer_id = gss_inbox_target_customer(target) WHERE channel = 'whatsapp' AND customer_id IS NULL;
UPDATE customers c
   SET inbox_last_at = (SELECT max(t) FROM (SELECT max(w.sent_at) AS t FROM wa_messages w
                                             WHERE w.customer_id = c.id AND w.direction = 'in'
                                            UNION ALL
                                            SELECT max(o.created_at) FROM outbox o WHERE o.customer_id = c.id) x),
       inbox_last_in_id = coalesce((SELECT max(w.id) FROM wa_messages w
                                     WHERE w.customer_id = c.id AND w.direction = 'in'), 0);

-- An outgoing message as the chat shows it (docs/inbox.md):
--   type   the Cloud API message's type ("text", "template", "interactive",
--          ...); a row still holding ids only (the invoice send's, rendered
--          when it leaves) is its kind, e.g. "invoice.sent";
--   body   the text the customer reads, as far as the row says it: a text's
--          body, an interactive message's body text, a template's name in
--          brackets, an invoice row's number;
--   status the outbox row's life for CS: queued (waiting or being sent),
--          sent / delivered / read (what Meta reported), failed (refused,
--          given up, unreachable, cancelled, or reported failed).
CREATE FUNCTION gss_inbox_out_type(p_kind TEXT, p_payload JSONB) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_payload #>> '{message,type}', CASE WHEN p_payload ? 'message' THEN 'text' END, p_kind)
$$;

CREATE FUNCTION gss_inbox_out_body(p_kind TEXT, p_payload JSONB) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_payload #>> '{message,text,body}',
                    p_payload #>> '{message,interactive,body,text}',
                    '[template ' || (p_payload #>> '{message,template,name}') || ']',
                    p_payload #>> '{message,image,caption}',
                    CASE WHEN p_kind LIKE 'invoice.%' AND p_payload ? 'number'
                         THEN 'Invoice ' || (p_payload ->> 'number') END)
$$;

CREATE FUNCTION gss_inbox_out_status(p_status TEXT, p_delivery TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_status IN ('queued', 'sending') THEN 'queued'
        WHEN p_status = 'sent' THEN coalesce(p_delivery, 'sent')
        ELSE 'failed'
    END
$$;

-- Both sides of every conversation, one row per message. ord orders the
-- messages of one instant: incoming first (an answer is never older than
-- its question), then by id. inbox.c reads it with customer_id fixed, so the
-- planner scans the two indexes above and merges them.
CREATE VIEW inbox_messages AS
    SELECT w.customer_id,
           'in'::text AS direction,
           0 AS ord,
           w.id,
           'in:' || w.id AS msg_id,
           w.type,
           w.body,
           w.sent_at AS at,
           'received'::text AS status,
           NULL::text AS error,
           w.attachment_id,
           w.media_status,
           NULL::bigint AS sent_by
      FROM wa_messages w
     WHERE w.direction = 'in' AND w.customer_id IS NOT NULL
    UNION ALL
    SELECT o.customer_id,
           'out',
           1,
           o.id,
           'out:' || o.id,
           gss_inbox_out_type(o.kind, o.payload),
           gss_inbox_out_body(o.kind, o.payload),
           o.created_at,
           gss_inbox_out_status(o.status, o.delivery_status),
           CASE WHEN gss_inbox_out_status(o.status, o.delivery_status) IN ('queued', 'failed') THEN o.last_error END,
           NULL::bigint,
           NULL::text,
           CASE WHEN jsonb_typeof(o.payload -> 'sent_by') = 'number' THEN (o.payload ->> 'sent_by')::bigint END
      FROM outbox o
     WHERE o.channel = 'whatsapp' AND o.customer_id IS NOT NULL;

-- The webhook's statement (hooks_whatsapp.c): wa_ingest (0009), then who
-- the inbox's live events are for, from what this very transaction wrote:
--   in      the customers of the incoming messages stored now (a redelivered
--           message, stored before, is in no other transaction's rows, so
--           its xmin is not ours: no event for a duplicate);
--   status  the customers of the outgoing messages the statuses name.
-- Returns wa_ingest's counts unchanged (Meta's answer) and the two lists.
CREATE FUNCTION gss_inbox_ingest(p JSONB, OUT counts JSONB, OUT inbox JSONB) LANGUAGE plpgsql AS $$
BEGIN
    counts := wa_ingest(p);
    inbox := jsonb_build_object(
        'in', (SELECT coalesce(jsonb_agg(DISTINCT w.customer_id), '[]')
                 FROM wa_messages w
                WHERE w.wa_id IN (SELECT m ->> 'id' FROM jsonb_array_elements(coalesce(p -> 'messages', '[]')) m)
                  AND w.direction = 'in' AND w.customer_id IS NOT NULL
                  AND w.xmin = pg_current_xact_id()::xid),
        'status', (SELECT coalesce(jsonb_agg(DISTINCT x.cid), '[]') FROM (
                     SELECT o.customer_id AS cid FROM outbox o
                      WHERE o.channel = 'whatsapp' AND o.customer_id IS NOT NULL
                        AND o.provider_id IN (SELECT s ->> 'id'
                                                FROM jsonb_array_elements(coalesce(p -> 'statuses', '[]')) s)
                     UNION
                     SELECT w.customer_id FROM wa_messages w
                      WHERE w.direction = 'out' AND w.customer_id IS NOT NULL
                        AND w.wa_id IN (SELECT s ->> 'id'
                                          FROM jsonb_array_elements(coalesce(p -> 'statuses', '[]')) s)) x));
END $$;
