-- Pool events the persister could not apply (issue 8): an entry of the
-- Redis events stream that fails on its own, for a reason other than
-- PostgreSQL being unavailable (a malformed entry, a ticket or technician
-- PostgreSQL does not have, a value a constraint refuses). The persister
-- isolates it from its batch, records it here with its error and
-- acknowledges it, so one bad entry never holds back the entries behind it.
-- `gssd check` lists every unresolved row; an operator who has dealt with
-- one sets resolved_at (the row stays, as history).
CREATE TABLE pool_dead_letters (
    stream      TEXT NOT NULL,        -- the stream key, P:{R}:events (its region is in it)
    stream_id   TEXT NOT NULL,        -- the entry's Redis id, e.g. 1732500000000-0
    payload     JSONB NOT NULL,       -- the entry's fields as they were (invalid UTF-8 replaced)
    error       TEXT NOT NULL,        -- why it failed: PostgreSQL's message, or what was malformed
    sqlstate    TEXT,                 -- PostgreSQL's code (e.g. 23503); NULL when gssd refused it
    failed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ,
    PRIMARY KEY (stream, stream_id)
);
CREATE INDEX pool_dead_letters_open_idx ON pool_dead_letters (failed_at) WHERE resolved_at IS NULL;
