-- Visit monitoring (issue 8, docs/monitor.md): deadlines found by index,
-- the scanner's fencing token, and what a replacement records.

-- The ticket's scheduled time, copied onto each of its assignments, so the
-- scanner's partial indexes below hold exactly the slots that can still fall
-- due and a scan reads only the due rows (no join, no scan of every ticket).
-- Not declared NOT NULL: a row naming a ticket that does not exist must fail
-- on its foreign key (23503, what the persister's dead letters record), not
-- on this column.
--
-- The deadline runs from the later of the schedule and the claim: a
-- technician who takes a slot after the visit was due (a replacement after
-- "Cari Pengganti", or a job nobody took in time) gets the grace from their
-- claim, instead of being late, or a no-show, the moment they claim.
ALTER TABLE assignments ADD COLUMN sched_at TIMESTAMPTZ;
UPDATE assignments a SET sched_at = greatest(t.scheduled_at, a.claimed_at) FROM tickets t WHERE t.id = a.ticket_id;

-- Set on insert (the persister and field_access insert rows without it);
-- an explicit value is replaced too: the ticket is the one truth.
CREATE FUNCTION assignments_sched_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT greatest(scheduled_at, NEW.claimed_at) INTO NEW.sched_at FROM tickets WHERE id = NEW.ticket_id;
    RETURN NEW;
END $$;
CREATE TRIGGER assignments_sched_at BEFORE INSERT ON assignments
    FOR EACH ROW EXECUTE FUNCTION assignments_sched_at();

-- A ticket moved to another time moves its slots' deadlines with it.
CREATE FUNCTION tickets_sched_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE assignments SET sched_at = greatest(NEW.scheduled_at, claimed_at) WHERE ticket_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER tickets_sched_follow AFTER UPDATE OF scheduled_at ON tickets
    FOR EACH ROW WHEN (OLD.scheduled_at IS DISTINCT FROM NEW.scheduled_at)
    EXECUTE FUNCTION tickets_sched_follow();

-- Due for `late` / for `no_show`: a slot leaves these as soon as it is
-- checked in, replaced or cancelled.
CREATE INDEX assignments_due_late_idx ON assignments (sched_at)
    WHERE state = 'claimed' AND released_at IS NULL;
CREATE INDEX assignments_due_noshow_idx ON assignments (sched_at)
    WHERE state = 'late' AND released_at IS NULL;
-- Candidates of GSS_AUTO_REPLACE_AFTER_S: no-shows still holding a slot.
CREATE INDEX assignments_noshow_idx ON assignments (sched_at)
    WHERE state = 'no_show' AND released_at IS NULL;
-- The monitor's day (GET /api/v1/monitor): tickets by scheduled time.
CREATE INDEX tickets_scheduled_idx ON tickets (scheduled_at);

-- "Cari Pengganti": why, by whom (NULL: gssd itself) and when.
ALTER TABLE assignments ADD COLUMN replaced_reason TEXT;
ALTER TABLE assignments ADD COLUMN replaced_by BIGINT REFERENCES users (id);
ALTER TABLE assignments ADD COLUMN replaced_at TIMESTAMPTZ;

-- The scanner's fencing token: the highest token any gssd was given by
-- INCR P:monitor:fence. A scan goes on only while the row holds its own
-- token, so a scanner that lost its lease while paused writes nothing.
CREATE TABLE monitor_lease (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    fence BIGINT NOT NULL DEFAULT 0
);
INSERT INTO monitor_lease (id, fence) VALUES (1, 0);
