-- Sales' approval messages that outlive their question (issue 10;
-- docs/telegram.md "Sales' approval"): when an invoice leaves
-- pending_approval, every "Draft Invoice Menunggu Approval" message of that
-- version is edited to say what happened, and its Approve button goes (the
-- "Lihat / Revisi" button stays).
--
-- Rows, channel 'telegram', ticket_id and invoice_id set:
--   invoice.approval_edit  target the approval message's chat 'tg:<chat>',
--       payload {"approval_id": <the per-chat invoice.pending_approval row>,
--                "event": "approved" | "revise" | "replaced",
--                "version": <the version the message asked about>},
--       idem_key invoice.approval_edit:<approval row id>: one per message
--       (a message asks about one version, and a version leaves
--       pending_approval once: the way back goes through an edit, which is
--       a new version).
-- Queued by a trigger on invoices, in the transaction that moved the
-- invoice, for each approval message of the version it left that is sent,
-- or still queued (it may be in flight right now: the render waits for it).
--
-- The text is built when the row leaves (gss_approval_edit_render), from the
-- tables as they are then: who approved or asked for the revision, and the
-- note, come from invoice_history. The Approve press in Telegram itself
-- (hooks_telegram.c) edits the message it was pressed on in the same
-- transaction (kind telegram.approved_edit, keyed by the update); that
-- message is not edited a second time: its row renders as approval_skip and
-- is cancelled. The other Sales' messages then say "(Telegram)" instead of
-- "(web)".
--
-- And the per-chat approval message itself, when it is sent at last after
-- the invoice moved on (a retry, a long queue): it is not sent (approval_skip,
-- cancelled), since its button would only be refused. A source row
-- (role:sales) committed between the sender's fan-out and its SELECT waits
-- TG_APPROVAL_EDIT_WAIT_MS for the next fan-out (approval_wait) instead of
-- being parked for OUTBOX_PARK_MS as a row with no builder.

-- 'approved' | 'revise' | 'replaced': how an invoice left pending_approval.
CREATE FUNCTION gss_approval_event(p_old_status TEXT, p_new_status TEXT, p_old_version INT, p_new_version INT)
    RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_new_version IS DISTINCT FROM p_old_version THEN 'replaced'
                WHEN p_new_status = 'approved' THEN 'approved'
                WHEN p_new_status = 'revision_requested' THEN 'revise'
                ELSE 'replaced' END $$;

CREATE FUNCTION gss_approval_edits_queue() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, invoice_id)
    SELECT 'telegram', 'invoice.approval_edit', m.target,
           jsonb_build_object('approval_id', m.id,
                              'event', gss_approval_event(OLD.status, NEW.status, OLD.version, NEW.version),
                              'version', OLD.version),
           'invoice.approval_edit:' || m.id, NEW.ticket_id, NEW.id
    FROM outbox m
    WHERE m.invoice_id = NEW.id AND m.kind = 'invoice.pending_approval' AND m.channel = 'telegram'
      AND m.target LIKE 'tg:%' AND m.status IN ('sent', 'queued') AND m.payload ? 'approval'
      AND m.payload -> 'approval' ->> 'version' = OLD.version::text
    ON CONFLICT (idem_key) DO NOTHING;
    RETURN NULL;
END $$;

-- Only a write that takes an invoice out of pending_approval (or changes
-- its version while there) calls the function: the send, payment and
-- updated_at writes do not.
CREATE TRIGGER gss_approval_edits AFTER UPDATE OF status, version ON invoices
    FOR EACH ROW WHEN (OLD.status = 'pending_approval'
                       AND (NEW.status IS DISTINCT FROM OLD.status OR NEW.version IS DISTINCT FROM OLD.version))
    EXECUTE FUNCTION gss_approval_edits_queue();

-- The Approve press's own edit, found by its chat and message (the render
-- below looks for it per message; the row has no invoice_id to go by).
CREATE INDEX outbox_tg_approved_edit_idx ON outbox (target, ((payload -> 'params' ->> 'message_id')))
    WHERE kind = 'telegram.approved_edit';

-- A JSON number or numeric string as bigint, NULL for anything else: a
-- malformed payload must not make the sender's whole SELECT fail on a cast.
CREATE FUNCTION gss_json_bigint(p TEXT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN p ~ '^-?[0-9]{1,18}$' THEN p::bigint END $$;

-- The message id of a sent Telegram row: provider_id "<chat id>:<message_id>"
-- (outbox_channels.c tg_classify) or "<message_id>"; NULL when it has none.
CREATE FUNCTION gss_tg_message_id(p_provider_id TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN m ~ '^[0-9]{1,18}$' THEN m END
    FROM (SELECT CASE WHEN position(':' IN coalesce(p_provider_id, '')) > 0
                      THEN substring(p_provider_id FROM '[^:]*$') ELSE p_provider_id END AS m) x $$;

-- Whether the Approve press edited this message itself (hooks_telegram.c
-- cb_done_sql: kind telegram.approved_edit, params.message_id).
CREATE FUNCTION gss_tg_pressed(p_target TEXT, p_message_id TEXT) RETURNS BOOLEAN
    LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM outbox e WHERE e.kind = 'telegram.approved_edit' AND e.target = p_target
                   AND (e.payload -> 'params' ->> 'message_id') = p_message_id) $$;

-- The edit, for a row of kind invoice.approval_edit:
--   {"approval_edit": {"message_id", "invoice_id", "number", "version",
--                      "customer", "total", "event", "by" (name | null),
--                      "via" ("web" | "telegram"), "note" (text | null)}}
-- or, for a row that must not go,
--   {"approval_skip": "why"}  the message never went, or the press edited it;
--   {"approval_wait": "why", "wait_ms": n}  the message is still queued
--                            (maybe in flight): looked at again after n ms
--                            (1.5 s to 5 min: once the message is due).
-- For a per-chat invoice.pending_approval row ({"approval": ...}) whose
-- invoice is no longer pending at that version: {"approval_skip": "why"}.
-- For the source row (role:sales, invoice_id set) that a SELECT sees before
-- its fan-out: {"approval_wait": "..."}. Else the payload as stored.
CREATE FUNCTION gss_approval_edit_render(p_id BIGINT, p_kind TEXT, p_payload JSONB) RETURNS JSONB
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    o    outbox%ROWTYPE;
    a    outbox%ROWTYPE;
    i    invoices%ROWTYPE;
    mid  TEXT;
    ev   TEXT;
    act  TEXT;
    who  TEXT;
    note TEXT;
    via  TEXT := 'web';
    cust TEXT;
BEGIN
    IF p_kind = 'invoice.pending_approval' AND NOT p_payload ? 'approval' THEN
        -- A source row (role:sales) that the batch's SELECT saw because it
        -- was committed between the fan-out and the SELECT: it waits a
        -- moment for the next fan-out instead of being parked as having no
        -- builder. One without its invoice_id column is never fanned out.
        SELECT * INTO o FROM outbox WHERE id = p_id;
        IF FOUND AND o.target = 'role:sales' AND o.invoice_id IS NOT NULL THEN
            RETURN jsonb_build_object('approval_wait', 'waiting for the approval fan-out');
        END IF;
        RETURN p_payload;
    END IF;
    IF p_kind = 'invoice.pending_approval' THEN
        SELECT * INTO i FROM invoices
        WHERE id = gss_json_bigint(p_payload -> 'approval' ->> 'invoice_id');
        IF FOUND AND (i.status <> 'pending_approval'
                      OR i.version::text <> p_payload -> 'approval' ->> 'version') THEN
            RETURN jsonb_build_object('approval_skip', 'the invoice is no longer waiting for approval at version '
                                      || (p_payload -> 'approval' ->> 'version') || ': not sent');
        END IF;
        RETURN p_payload;
    END IF;
    SELECT * INTO o FROM outbox WHERE id = p_id;
    IF NOT FOUND OR o.target NOT LIKE 'tg:%' THEN
        RETURN p_payload;
    END IF;
    SELECT * INTO a FROM outbox WHERE id = gss_json_bigint(p_payload ->> 'approval_id') AND kind = 'invoice.pending_approval';
    IF NOT FOUND THEN
        RETURN jsonb_build_object('approval_skip', 'no approval message to edit');
    END IF;
    IF a.status = 'queued' THEN
        -- Looked at again once the message has had its turn: a message in
        -- a retry's backoff is not asked about every 1.5 s for an hour.
        RETURN jsonb_build_object('approval_wait', 'waiting for the approval message (row ' || a.id || ') to be sent',
                                  'wait_ms', least(300000, greatest(1500,
                                      (extract(epoch FROM a.next_attempt_at - now()) * 1000)::bigint + 1500)));
    END IF;
    IF a.status <> 'sent' THEN
        RETURN jsonb_build_object('approval_skip', 'the approval message (row ' || a.id || ') was not sent: '
                                  || a.status);
    END IF;
    mid := gss_tg_message_id(a.provider_id);
    IF mid IS NULL THEN
        RETURN jsonb_build_object('approval_skip', 'the approval message (row ' || a.id || ') has no message id');
    END IF;
    IF position(':' IN a.provider_id) > 0 AND 'tg:' || split_part(a.provider_id, ':', 1) <> o.target THEN
        RETURN jsonb_build_object('approval_skip', 'the approval message is in another chat now');
    END IF;
    IF gss_tg_pressed(a.target, mid) THEN
        RETURN jsonb_build_object('approval_skip', 'edited by the Approve press on it');
    END IF;
    SELECT * INTO i FROM invoices WHERE id = a.invoice_id;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('approval_skip', 'the invoice is gone');
    END IF;
    ev := p_payload ->> 'event';
    IF ev IS NULL OR ev NOT IN ('approved', 'revise', 'replaced') THEN
        ev := 'replaced';
    END IF;
    IF ev IN ('approved', 'revise') THEN
        act := CASE ev WHEN 'approved' THEN 'approve' ELSE 'revise' END;
        SELECT u.name, h.note INTO who, note FROM invoice_history h LEFT JOIN users u ON u.id = h.actor_id
        WHERE h.invoice_id = i.id AND h.action = act AND h.version::text = p_payload ->> 'version'
        ORDER BY h.id DESC LIMIT 1;
        -- Approved by a press in Telegram: one of this version's messages
        -- was edited by the press.
        IF ev = 'approved' AND EXISTS (
            SELECT 1 FROM outbox m
            WHERE m.invoice_id = i.id AND m.kind = 'invoice.pending_approval' AND m.target LIKE 'tg:%'
              AND m.status = 'sent' AND m.payload -> 'approval' ->> 'version' = p_payload ->> 'version'
              AND gss_tg_pressed(m.target, gss_tg_message_id(m.provider_id))) THEN
            via := 'telegram';
        END IF;
    END IF;
    SELECT cu.name INTO cust FROM tickets t JOIN customers cu ON cu.id = t.customer_id WHERE t.id = i.ticket_id;
    RETURN jsonb_build_object(
        'approval_edit', jsonb_build_object(
            'message_id', mid::bigint, 'invoice_id', i.id, 'number', i.number,
            'version', coalesce(gss_json_bigint(p_payload ->> 'version'), i.version), 'customer', coalesce(cust, ''),
            'total', coalesce(gss_json_bigint(a.payload -> 'approval' ->> 'total'), i.total),
            'event', ev, 'by', who, 'via', via,
            'note', CASE WHEN ev = 'revise' THEN nullif(btrim(coalesce(note, '')), '') END));
END $$;

-- 0011's dispatcher, its two branches as they were, and the two above.
CREATE OR REPLACE FUNCTION gss_outbox_render(p_id BIGINT, p_kind TEXT, p_channel TEXT, p_payload JSONB) RETURNS JSONB
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_channel = 'telegram' AND p_kind IN ('job.post', 'job.edit') THEN
        RETURN gss_job_render(p_id, p_payload);
    END IF;
    IF p_channel = 'whatsapp' AND p_payload ? 'invoice_link_id' THEN
        RETURN gss_wa_links_render(p_id, p_payload);
    END IF;
    IF p_channel = 'telegram' AND p_kind IN ('invoice.approval_edit', 'invoice.pending_approval') THEN
        RETURN gss_approval_edit_render(p_id, p_kind, p_payload);
    END IF;
    RETURN p_payload;
END $$;
