-- WhatsApp in (issue 10, item 5; src/http/handlers/hooks_whatsapp.c,
-- docs/whatsapp.md): the messages Meta's webhook brings, the customers they
-- come from, and the delivery statuses of what we sent.
--
-- Meta redelivers and sends statuses out of order (INTEGRATIONS.md §2), so
-- every write here is idempotent: a message is stored once by its wamid
-- (insert-or-ignore on a UNIQUE column, never check-then-insert), and a
-- status only ever moves forward (wa_status_rank).

-- A customer who uses a WhatsApp username may hide the number: Meta then
-- gives only the business-scoped user id (BSUID, up to 128 characters).
-- Such a customer has no phone, so phone becomes optional; a row still needs
-- one of the two ways to reach it.
ALTER TABLE customers ALTER COLUMN phone DROP NOT NULL;
ALTER TABLE customers ADD COLUMN wa_user_id TEXT UNIQUE CHECK (length(wa_user_id) BETWEEN 1 AND 128);
-- The customer's last message to us (Meta's timestamp): the 24-hour window
-- for free-form messages is open until last_inbound_at + 24 h.
ALTER TABLE customers ADD COLUMN last_inbound_at TIMESTAMPTZ;
ALTER TABLE customers ADD CONSTRAINT customers_reachable CHECK (phone IS NOT NULL OR wa_user_id IS NOT NULL);

-- One row per WhatsApp message, by its wamid.
--   in:  a customer's message (type text, image, interactive, button, or
--        whatever else Meta sends, kept in raw); status 'received'.
--   out: one of ours, known so far only by the statuses Meta reported for
--        it (the outbox row with provider_id = wa_id holds the rest).
CREATE TABLE wa_messages (
    id             BIGSERIAL PRIMARY KEY,
    wa_id          TEXT NOT NULL UNIQUE CHECK (length(wa_id) BETWEEN 1 AND 256),
    customer_id    BIGINT REFERENCES customers (id),
    direction      TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    type           TEXT CHECK (direction = 'out' OR type IS NOT NULL),
    body           TEXT,           -- text.body; an image's caption; a button's title
    media_id       TEXT,           -- image.id: fetched through the media API (docs/whatsapp.md)
    media_mime     TEXT,
    reply_id       TEXT,           -- interactive button_reply.id, or a template button's payload
    context_id     TEXT,           -- the wamid of our message this one answers
    sender_phone   TEXT,           -- messages[].from as Meta sent it (absent for a hidden number)
    sender_user_id TEXT,           -- messages[].from_user_id (BSUID)
    sent_at        TIMESTAMPTZ NOT NULL, -- Meta's timestamp (not later than our clock)
    received_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    status         TEXT NOT NULL CHECK (status IN ('received', 'sent', 'delivered', 'read', 'failed')),
    status_at      TIMESTAMPTZ,
    error          TEXT,           -- 'failed': the first error's code and title
    raw            JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX wa_messages_customer_idx ON wa_messages (customer_id, sent_at);

-- The delivery of an outbox row Meta accepted (outbox.status stays the
-- sender's: 'sent' means accepted). A 'failed' status also turns a 'sent'
-- row 'failed' with last_error, so CS sees it like any other failure.
ALTER TABLE outbox ADD COLUMN delivery_status TEXT CHECK (delivery_status IN ('sent', 'delivered', 'read', 'failed'));
ALTER TABLE outbox ADD COLUMN delivery_at TIMESTAMPTZ;
CREATE INDEX outbox_provider_idx ON outbox (provider_id) WHERE channel = 'whatsapp' AND provider_id IS NOT NULL;

-- The order statuses move in; a status moves a row only to a higher rank.
-- failed ranks above sent (a failure reported after "sent" is news, a
-- "sent" after a failure is a late echo) and below delivered and read
-- (Meta never fails a message that was delivered).
CREATE FUNCTION wa_status_rank(s TEXT) RETURNS INTEGER LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE s WHEN 'sent' THEN 1 WHEN 'failed' THEN 2 WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 ELSE 0 END
$$;

-- One webhook POST, already checked and flattened by gssd (hooks_whatsapp.c):
--   {"messages":[{"id","phone","user_id","name","type","body","media_id",
--                 "media_mime","reply_id","context_id","ts","raw"}],
--    "statuses":[{"id","status","ts","phone","user_id","error","raw"}]}
-- phone is the canonical 62... form or null; ts is Unix seconds. Runs as one
-- statement, so the whole POST is one transaction: Meta is answered 200 only
-- once it is stored, and redelivers it if not.
-- Returns {"messages": new, "duplicates", "customers": new, "statuses"}.
CREATE FUNCTION wa_ingest(p JSONB) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
    m        JSONB;
    s        JSONB;
    ts       TIMESTAMPTZ;
    ph       TEXT;
    uid      TEXT;
    mid      BIGINT;
    cid      BIGINT;
    n_new    INTEGER := 0;
    n_dup    INTEGER := 0;
    n_cust   INTEGER := 0;
    n_status INTEGER := 0;
BEGIN
    FOR m IN SELECT value FROM jsonb_array_elements(coalesce(p -> 'messages', '[]')) LOOP
        ph := m ->> 'phone';
        uid := m ->> 'user_id';
        ts := least(to_timestamp((m ->> 'ts')::BIGINT), now());
        mid := NULL;
        -- The gate: a wamid seen before (or being stored by a concurrent
        -- delivery, which this waits for) changes nothing.
        INSERT INTO wa_messages (wa_id, direction, type, body, media_id, media_mime, reply_id, context_id,
                                 sender_phone, sender_user_id, sent_at, status, raw)
        VALUES (m ->> 'id', 'in', m ->> 'type', m ->> 'body', m ->> 'media_id', m ->> 'media_mime',
                m ->> 'reply_id', m ->> 'context_id', m ->> 'from', uid, ts, 'received', coalesce(m -> 'raw', '{}'))
        ON CONFLICT (wa_id) DO NOTHING
        RETURNING id INTO mid;
        IF mid IS NULL THEN
            n_dup := n_dup + 1;
            CONTINUE;
        END IF;
        n_new := n_new + 1;

        -- Who wrote: the BSUID names the WhatsApp account, so it is tried
        -- first; then the number.
        cid := NULL;
        IF uid IS NOT NULL THEN
            SELECT id INTO cid FROM customers WHERE wa_user_id = uid;
        END IF;
        IF cid IS NULL AND ph IS NOT NULL THEN
            SELECT id INTO cid FROM customers WHERE phone = ph;
        END IF;
        IF cid IS NULL AND (ph IS NOT NULL OR uid IS NOT NULL) THEN
            INSERT INTO customers (name, phone, source, wa_user_id, last_inbound_at)
            VALUES (m ->> 'name', ph, 'wa', uid, ts)
            ON CONFLICT DO NOTHING
            RETURNING id INTO cid;
            IF cid IS NULL THEN
                -- Another delivery made this customer meanwhile; it has
                -- committed (the insert waited for it), so it is visible now.
                SELECT id INTO cid FROM customers
                 WHERE (uid IS NOT NULL AND wa_user_id = uid) OR (ph IS NOT NULL AND phone = ph)
                 ORDER BY (wa_user_id IS NOT DISTINCT FROM uid) DESC LIMIT 1;
            ELSE
                n_cust := n_cust + 1;
                INSERT INTO audit_log (actor_id, entity, entity_id, action, data)
                VALUES (NULL, 'customer', cid, 'create',
                        jsonb_build_object('name', m ->> 'name', 'phone', ph, 'wa_user_id', uid, 'source', 'wa'));
            END IF;
        END IF;
        IF cid IS NOT NULL THEN
            -- Learn the key we did not have yet, unless another row holds it.
            UPDATE customers c
               SET last_inbound_at = greatest(c.last_inbound_at, ts),
                   wa_user_id = CASE WHEN c.wa_user_id IS NULL AND uid IS NOT NULL
                                      AND NOT EXISTS (SELECT 1 FROM customers o WHERE o.wa_user_id = uid)
                                     THEN uid ELSE c.wa_user_id END,
                   phone = CASE WHEN c.phone IS NULL AND ph IS NOT NULL
                                 AND NOT EXISTS (SELECT 1 FROM customers o WHERE o.phone = ph)
                                THEN ph ELSE c.phone END
             WHERE c.id = cid;
            UPDATE wa_messages SET customer_id = cid WHERE id = mid;
        END IF;
    END LOOP;

    FOR s IN SELECT value FROM jsonb_array_elements(coalesce(p -> 'statuses', '[]')) LOOP
        n_status := n_status + 1;
        ts := least(to_timestamp((s ->> 'ts')::BIGINT), now());
        ph := s ->> 'phone';
        uid := s ->> 'user_id';
        INSERT INTO wa_messages AS w (wa_id, customer_id, direction, sent_at, status, status_at, error, raw)
        VALUES (s ->> 'id',
                (SELECT id FROM customers
                  WHERE (uid IS NOT NULL AND wa_user_id = uid) OR (ph IS NOT NULL AND phone = ph)
                  ORDER BY (wa_user_id IS NOT DISTINCT FROM uid) DESC LIMIT 1),
                'out', ts, s ->> 'status', ts, s ->> 'error', coalesce(s -> 'raw', '{}'))
        ON CONFLICT (wa_id) DO UPDATE
           SET status = EXCLUDED.status, status_at = EXCLUDED.status_at,
               error = coalesce(EXCLUDED.error, w.error), raw = EXCLUDED.raw
         WHERE w.direction = 'out' AND wa_status_rank(EXCLUDED.status) > wa_status_rank(w.status);
        UPDATE outbox o
           SET delivery_status = s ->> 'status', delivery_at = ts,
               status = CASE WHEN s ->> 'status' = 'failed' AND o.status = 'sent' THEN 'failed' ELSE o.status END,
               last_error = CASE WHEN s ->> 'status' = 'failed'
                                 THEN 'whatsapp: not delivered: ' || coalesce(s ->> 'error', 'no reason given')
                                 ELSE o.last_error END
         WHERE o.channel = 'whatsapp' AND o.provider_id = s ->> 'id'
           AND wa_status_rank(s ->> 'status') > wa_status_rank(o.delivery_status);
    END LOOP;

    RETURN jsonb_build_object('messages', n_new, 'duplicates', n_dup, 'customers', n_cust, 'statuses', n_status);
END $$;

-- A status can arrive before the outbox sender has committed the wamid it
-- got back (it commits once every answer of its batch is in). The status is
-- then only in wa_messages; when the wamid reaches the outbox row, the row
-- takes it from there.
CREATE FUNCTION outbox_wa_status_catchup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    w RECORD;
BEGIN
    SELECT status, status_at, error INTO w FROM wa_messages WHERE wa_id = NEW.provider_id AND direction = 'out';
    IF FOUND AND wa_status_rank(w.status) > wa_status_rank(NEW.delivery_status) THEN
        NEW.delivery_status := w.status;
        NEW.delivery_at := w.status_at;
        IF w.status = 'failed' AND NEW.status = 'sent' THEN
            NEW.status := 'failed';
            NEW.last_error := 'whatsapp: not delivered: ' || coalesce(w.error, 'no reason given');
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_wa_status_catchup BEFORE INSERT OR UPDATE OF provider_id ON outbox
    FOR EACH ROW WHEN (NEW.channel = 'whatsapp' AND NEW.provider_id IS NOT NULL)
    EXECUTE FUNCTION outbox_wa_status_catchup();
