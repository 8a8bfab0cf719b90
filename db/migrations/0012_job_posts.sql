-- Job broadcasts to Telegram (issue 10, item 3; docs/telegram.md "Job
-- broadcasts"): triggers that queue the outbox rows, and the renderer that
-- turns a row into the job's state at the moment it leaves.
--
-- Rows, all channel 'telegram', ticket_id set:
--   job.post  target 'role:technicians', payload {"round": n, "urgent": b}
--             round 1 when a ticket is created open (idem_key
--             job.post:<ticket>:r1); a new round, urgent, when a replacement
--             releases a technician and leaves the ticket open (idem_key
--             job.post:<ticket>:x<txid>: one per transaction).
--   job.edit  target 'role:technicians', payload {}: something the message
--             shows changed (slots filled or freed, status, techs_needed,
--             scheduled_at, area, problem, urgent), queued only for a
--             ticket that has a job.post; idem_key job.edit:<ticket>:x<txid>,
--             so one transaction queues at most one edit.
-- The sender's fan-out (src/integrations/outbox.c) turns each into rows per
-- chat: a job.post into 'tg:<GSS_TELEGRAM_TS_CHAT>' (and, with
-- GSS_TELEGRAM_JOB_DM, one per linked technician); a job.edit into one row
-- per chat's job.post row, payload {"post_id": <that row>}, older queued
-- edits of the same message cancelled (the last state wins).
--
-- The payloads hold no message text: gss_job_render builds the job's
-- current state when the row is sent, so a message never says what was
-- true when it was queued. The customer's address and phone are not in it
-- (the group is many people): area, problem, schedule and slots are what a
-- technician needs to decide.

-- 'open' | 'full' | 'cancelled' | 'closed': what the message shows of a status.
CREATE FUNCTION gss_job_phase(p_status TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_status WHEN 'open' THEN 'open' WHEN 'assigned' THEN 'full' WHEN 'in_progress' THEN 'full'
                         WHEN 'cancelled' THEN 'cancelled' ELSE 'closed' END $$;

-- One job.edit per ticket per transaction, only for a ticket announced.
CREATE FUNCTION gss_job_queue_edit(p_ticket BIGINT) RETURNS VOID
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM outbox WHERE ticket_id = p_ticket AND kind = 'job.post') THEN
        INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id)
        VALUES ('telegram', 'job.edit', 'role:technicians', '{}'::jsonb,
                'job.edit:' || p_ticket || ':x' || txid_current(), p_ticket)
        ON CONFLICT (idem_key) DO NOTHING;
    END IF;
END $$;

CREATE FUNCTION gss_job_ticket_ins() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id)
    VALUES ('telegram', 'job.post', 'role:technicians', jsonb_build_object('round', 1, 'urgent', NEW.urgent),
            'job.post:' || NEW.id || ':r1', NEW.id)
    ON CONFLICT (idem_key) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER gss_job_ticket_ins AFTER INSERT ON tickets
    FOR EACH ROW WHEN (NEW.status = 'open') EXECUTE FUNCTION gss_job_ticket_ins();

-- A ticket withdrawn right after its insert (tickets.c on_opened: the pool
-- refused its job) takes its job rows with it; outbox.ticket_id would
-- otherwise keep the DELETE from happening.
CREATE FUNCTION gss_job_ticket_del() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM outbox WHERE ticket_id = OLD.id AND kind IN ('job.post', 'job.edit');
    RETURN OLD;
END $$;

CREATE TRIGGER gss_job_ticket_del BEFORE DELETE ON tickets
    FOR EACH ROW EXECUTE FUNCTION gss_job_ticket_del();

-- A status change that the message does not show (assigned → in_progress,
-- invoicing → paid) queues nothing: the edit would be "not modified" and
-- cost a place in the group's 20 a minute.
CREATE FUNCTION gss_job_ticket_upd() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF gss_job_phase(OLD.status) <> gss_job_phase(NEW.status) OR OLD.techs_needed <> NEW.techs_needed
       OR OLD.scheduled_at <> NEW.scheduled_at OR OLD.area <> NEW.area OR OLD.problem <> NEW.problem
       OR OLD.urgent <> NEW.urgent THEN
        PERFORM gss_job_queue_edit(NEW.id);
    END IF;
    RETURN NULL;
END $$;

-- The WHEN keeps the persister's pool_seq / updated_at writes from calling
-- the function at all.
CREATE TRIGGER gss_job_ticket_upd AFTER UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.techs_needed IS DISTINCT FROM NEW.techs_needed
                       OR OLD.scheduled_at IS DISTINCT FROM NEW.scheduled_at OR OLD.area IS DISTINCT FROM NEW.area
                       OR OLD.problem IS DISTINCT FROM NEW.problem OR OLD.urgent IS DISTINCT FROM NEW.urgent)
    EXECUTE FUNCTION gss_job_ticket_upd();

-- Slots: a live assignment written (a claim the persister applies, one the
-- replace handler adopts) or released. An AFTER trigger runs once the whole
-- statement is done, so the ticket's status written by the same statement
-- (persister.c apply_sql, replace.c write_sql) is what it reads.
CREATE FUNCTION gss_job_assignment() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    n INT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.released_at IS NULL THEN
            PERFORM gss_job_queue_edit(NEW.ticket_id);
        END IF;
        RETURN NULL;
    END IF;
    IF OLD.released_at IS NULL AND NEW.released_at IS NOT NULL THEN
        PERFORM gss_job_queue_edit(NEW.ticket_id);
        -- A replacement that reopened the job: a new, urgent round.
        IF NEW.state = 'replaced' AND EXISTS (SELECT 1 FROM tickets WHERE id = NEW.ticket_id AND status = 'open') THEN
            SELECT count(*) INTO n FROM outbox
            WHERE ticket_id = NEW.ticket_id AND kind = 'job.post' AND target = 'role:technicians';
            INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id)
            VALUES ('telegram', 'job.post', 'role:technicians', jsonb_build_object('round', n + 1, 'urgent', true),
                    'job.post:' || NEW.ticket_id || ':x' || txid_current(), NEW.ticket_id)
            ON CONFLICT (idem_key) DO NOTHING;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER gss_job_assignment AFTER INSERT OR UPDATE OF released_at ON assignments
    FOR EACH ROW EXECUTE FUNCTION gss_job_assignment();

-- The renderer (0011's signature): for a per-chat row (target tg:...)
--   {"job": {"id", "code", "problem", "area", "scheduled_at" (ISO-8601 UTC),
--            "needed", "filled", "state", "urgent", "round"},
--    "edit": {"message_id": n} | null}
-- or, for a row that must not go,
--   {"job_skip": "why"}  a post of a job no longer open; an edit of a post
--                        that failed, was cancelled or has no message id;
--   {"job_wait": "why"}  an edit whose post is not sent yet.
-- A source row (role:technicians) is passed through: the fan-out handles it.
CREATE OR REPLACE FUNCTION gss_job_render(p_id BIGINT, p_payload JSONB) RETURNS JSONB
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    o      outbox%ROWTYPE;
    p      outbox%ROWTYPE;
    t      tickets%ROWTYPE;
    filled INT;
    st     TEXT;
    edit   JSONB := 'null'::jsonb;
    rnd    JSONB := p_payload;
    mid    TEXT;
BEGIN
    SELECT * INTO o FROM outbox WHERE id = p_id;
    IF NOT FOUND OR o.ticket_id IS NULL OR o.target NOT LIKE 'tg:%' THEN
        RETURN p_payload;
    END IF;
    SELECT * INTO t FROM tickets WHERE id = o.ticket_id;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('job_skip', 'the ticket is gone');
    END IF;
    IF o.kind = 'job.post' THEN
        IF t.status <> 'open' THEN
            RETURN jsonb_build_object('job_skip', 'the job is no longer open (' || t.status || '): not announced');
        END IF;
    ELSE
        SELECT * INTO p FROM outbox WHERE id = (p_payload->>'post_id')::bigint AND kind = 'job.post';
        IF NOT FOUND THEN
            RETURN jsonb_build_object('job_skip', 'no job message to edit');
        END IF;
        IF p.status = 'queued' THEN
            RETURN jsonb_build_object('job_wait', 'waiting for the job message (row ' || p.id || ') to be sent');
        END IF;
        IF p.status <> 'sent' THEN
            RETURN jsonb_build_object('job_skip', 'the job message (row ' || p.id || ') was not sent: ' || p.status);
        END IF;
        -- provider_id: "<chat id>:<message_id>" (outbox_channels.c tg_classify), or "<message_id>"
        mid := CASE WHEN position(':' IN coalesce(p.provider_id, '')) > 0
                    THEN substring(p.provider_id FROM '[^:]*$') ELSE p.provider_id END;
        IF mid IS NULL OR mid !~ '^[0-9]{1,18}$' THEN
            RETURN jsonb_build_object('job_skip', 'the job message (row ' || p.id || ') has no message id');
        END IF;
        IF position(':' IN p.provider_id) > 0 AND 'tg:' || split_part(p.provider_id, ':', 1) <> o.target THEN
            RETURN jsonb_build_object('job_skip', 'the job message is in another chat now');
        END IF;
        edit := jsonb_build_object('message_id', mid::bigint);
        rnd := p.payload;
    END IF;
    SELECT count(*) INTO filled FROM assignments WHERE ticket_id = t.id AND released_at IS NULL;
    st := gss_job_phase(t.status);
    IF st = 'open' AND filled >= t.techs_needed THEN
        st := 'full';
    END IF;
    RETURN jsonb_build_object(
        'job', jsonb_build_object(
            'id', t.id, 'code', t.code,
            'problem', left(regexp_replace(t.problem, '\s+', ' ', 'g'), 300),
            'area', t.area,
            'scheduled_at', to_char(t.scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            'needed', t.techs_needed, 'filled', filled, 'state', st,
            'urgent', t.urgent OR coalesce((rnd->>'urgent')::boolean, false),
            'round', coalesce((rnd->>'round')::int, 1)),
        'edit', edit);
END $$;
