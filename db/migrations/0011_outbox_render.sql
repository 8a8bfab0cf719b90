-- The outbox sender renders some rows when it sends them, not when they are
-- written (issue 10; src/integrations/outbox.c select_sql; docs/operations.md
-- "Outgoing messages").
--
-- A row written with ids only (a job announcement, the customer's invoice
-- message) must say what is true at the moment it leaves: the slots filled
-- by then, whether the customer's 24-hour window is open by then. So the
-- sender's SELECT does not read outbox.payload directly but what
-- gss_outbox_render makes of the row: a row of a kind that has a renderer
-- gets a payload built from the tables as they are; any other row its stored
-- payload. The stored payload is never rewritten by this, so a row sent
-- again after a crash is rendered again from the truth of that moment.
--
-- The renderers are defined here as pass-throughs and replaced (CREATE OR
-- REPLACE, same signature) by the migrations that give each kind its
-- message: 0012 (job broadcasts), 0013 (the customer's invoice links).
-- STABLE: they read, they never write.
CREATE FUNCTION gss_job_render(p_id BIGINT, p_payload JSONB) RETURNS JSONB
    LANGUAGE sql STABLE AS $$ SELECT p_payload $$;

CREATE FUNCTION gss_wa_links_render(p_id BIGINT, p_payload JSONB) RETURNS JSONB
    LANGUAGE sql STABLE AS $$ SELECT p_payload $$;

CREATE FUNCTION gss_outbox_render(p_id BIGINT, p_kind TEXT, p_channel TEXT, p_payload JSONB) RETURNS JSONB
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_channel = 'telegram' AND p_kind IN ('job.post', 'job.edit') THEN
        RETURN gss_job_render(p_id, p_payload);
    END IF;
    IF p_channel = 'whatsapp' AND p_payload ? 'invoice_link_id' THEN
        RETURN gss_wa_links_render(p_id, p_payload);
    END IF;
    RETURN p_payload;
END $$;

-- A ticket's messages (CS's ticket page lists them, failures first; the job
-- broadcast's triggers look for a ticket's announcement).
CREATE INDEX outbox_ticket_idx ON outbox (ticket_id, kind) WHERE ticket_id IS NOT NULL;
