-- Job broadcasts, corrections to 0012_job_posts.sql (docs/telegram.md "Job
-- broadcasts"). 0012 is applied in installed databases and stays as it is;
-- the functions and triggers below replace its versions.

-- A new ticket's announcement waits 30 s (the grace) unless its
-- job opened in the pool: tickets.c releases the source row (next_attempt_at
-- = now()) once the pool accepted the job. A ticket the pool refused is
-- withdrawn (deleted) within that time, so no job message of it can exist
-- when it goes, and the job fan-out never holds a source row the DELETE
-- needs. 30 s is ten times the Redis hang limit (RDS_HANG_MS): the pool
-- has answered, one way or the other, long before. A ticket inserted
-- another way (a script, a restore) is announced after the 30 s.
CREATE OR REPLACE FUNCTION gss_job_ticket_ins() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, next_attempt_at)
    VALUES ('telegram', 'job.post', 'role:technicians', jsonb_build_object('round', 1, 'urgent', NEW.urgent),
            'job.post:' || NEW.id || ':r1', NEW.id, now() + interval '30 seconds')
    ON CONFLICT (idem_key) DO NOTHING;
    RETURN NULL;
END $$;

-- The withdrawn ticket's job rows go with it, but never a job message that
-- was sent (its message id is the only handle on what the chat shows): with
-- one, the DELETE fails on outbox.ticket_id and tickets.c leaves the ticket
-- (logged; gssd check reports it). The grace above keeps that from
-- happening.
CREATE OR REPLACE FUNCTION gss_job_ticket_del() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM outbox WHERE ticket_id = OLD.id AND kind IN ('job.post', 'job.edit')
        AND NOT (status = 'sent' AND target LIKE 'tg:%');
    RETURN OLD;
END $$;

-- Whether a request of the row may have left: an entry in the journal
-- (outbox_attempts). VOLATILE on purpose: in READ COMMITTED each call reads
-- a fresh snapshot, so the job edit fan-out (outbox.c), calling it on a
-- post row it has just locked, sees every journal entry of a sender that
-- held that row before (the entry is committed before the request leaves,
-- which is before that sender's lock is gone). The statement's own
-- snapshot may be older than the lock.
CREATE FUNCTION gss_outbox_journaled(p_id BIGINT) RETURNS BOOLEAN
    LANGUAGE sql VOLATILE AS $$
    SELECT EXISTS (SELECT 1 FROM outbox_attempts WHERE outbox_id = p_id) $$;

-- A job message whose chat moved (a group upgraded to a supergroup: the
-- sender retargets the post row, outbox_channels.c tg_classify) takes its
-- queued edits along, so they are sent into the chat the message is in.
CREATE FUNCTION gss_job_post_moved() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE outbox SET target = NEW.target
    WHERE ticket_id = NEW.ticket_id AND kind = 'job.edit' AND channel = 'telegram' AND status = 'queued'
      AND target = OLD.target AND payload->>'post_id' = NEW.id::text;
    RETURN NULL;
END $$;

CREATE TRIGGER gss_job_post_moved AFTER UPDATE OF target ON outbox
    FOR EACH ROW WHEN (NEW.kind = 'job.post' AND NEW.ticket_id IS NOT NULL AND OLD.target IS DISTINCT FROM NEW.target
                       AND NEW.target LIKE 'tg:%' AND OLD.target LIKE 'tg:%')
    EXECUTE FUNCTION gss_job_post_moved();

-- The renderer, as 0012's, but an edit is matched to its job message by the
-- post row's own target, not by the chat id in the post's provider_id:
-- with GSS_TELEGRAM_TS_CHAT=@name the row says tg:@name while Telegram's
-- answer (the provider_id) names the chat by number, and 0012 cancelled
-- every edit of such a group. An edit whose target differs from its post's
-- (a move the trigger above did not reach: the edit was being sent) is
-- still rendered: sent into the old chat, Telegram answers
-- migrate_to_chat_id and the sender moves it along.
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
