-- Outbox hardening (issue 10 review; docs/telegram.md "Sending"). The
-- functions below replace their earlier versions (0016, 0017), which stay as
-- they are in installed databases.
--
-- 1. gss_outbox_render, the dispatcher the sender's render statement calls
--    per row (outbox.c render_sql): 0016's branches as they were, now inside
--    an exception block. A row whose payload a renderer cannot read (a cast
--    such as (payload->>'post_id')::bigint on "x") raised inside the render
--    statement and rolled back every batch of every channel, for as long as
--    the row stayed queued. Now that row renders as
--    {"render_error": "<the error>"} and its channel's builder fails it with
--    that text (outbox_channels.c); the other rows go.
-- 2. gss_job_render, as 0017's, but a job edit whose message is still queued
--    says how long to wait ("wait_ms": the post's next_attempt_at - now +
--    1.5 s, within 1.5 s .. 60 s), so an edit of a post in a long backoff is
--    not rendered every 1.5 s (TG_JOB_WAIT_MS) meanwhile.

CREATE OR REPLACE FUNCTION gss_outbox_render(p_id BIGINT, p_kind TEXT, p_channel TEXT, p_payload JSONB) RETURNS JSONB
    LANGUAGE plpgsql STABLE AS $$
BEGIN
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
    EXCEPTION WHEN OTHERS THEN
        -- one row's bad payload fails that row, not the statement
        RETURN jsonb_build_object('render_error', SQLERRM);
    END;
END $$;

-- 0017's renderer; only the job_wait answer carries wait_ms.
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
            -- Looked at again once the message has had its turn (its
            -- backoff, its pacing), 1.5 s to 60 s from now: not every 1.5 s
            -- for a post in a long backoff.
            RETURN jsonb_build_object('job_wait', 'waiting for the job message (row ' || p.id || ') to be sent',
                                      'wait_ms', least(60000, greatest(1500,
                                          (extract(epoch FROM p.next_attempt_at - now()) * 1000)::bigint + 1500)));
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
