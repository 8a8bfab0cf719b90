-- The outbox sender (issue 10; src/integrations/outbox.c, docs/operations.md
-- "Outgoing messages"): a journal of send attempts, and an index for /metrics.
--
-- The sender locks due outbox rows (SELECT ... FOR NO KEY UPDATE SKIP
-- LOCKED) in a transaction it holds while their requests are in flight, and
-- writes the rows' new state and commits once every answer is in. That
-- transaction dies with gssd, so it cannot be where the sender remembers
-- what happened. This journal is written outside it (autocommit, on another
-- connection): an entry before the request leaves, its outcome the moment
-- the answer arrives. The next sender to lock the row reads what is left:
--   - an outcome: the request was answered. A message the API accepted is
--     marked sent and never sent again; a retry keeps its delay.
--   - no outcome: gssd stopped (killed, lost PostgreSQL) with the request
--     in flight, and the API may have acted on it. The message is sent
--     again (a duplicate beats a lost job broadcast), the unfinished
--     attempt counts toward GSS_OUTBOX_MAX_ATTEMPTS (so a message that
--     makes gssd crash cannot loop for ever), and last_error says that the
--     customer or technician may have got it twice.
-- The sender deletes a row's entries in the transaction that records the
-- row's outcome, so the table holds only what a crash left behind (and the
-- entries of batches in flight).
--
-- The FK takes KEY SHARE on the outbox row; the sender's FOR NO KEY UPDATE
-- (not FOR UPDATE) lets it through while two senders still exclude each
-- other. outbox.status 'sending' is not used: the row lock is the lease.
CREATE TABLE outbox_attempts (
    id          BIGSERIAL PRIMARY KEY,
    outbox_id   BIGINT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    worker      TEXT NOT NULL,        -- the sender: pid@host
    started_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    outcome     TEXT CHECK (outcome IN ('sent', 'retry', 'failed', 'unreachable')), -- NULL: in flight or cut off
    counts      BOOLEAN NOT NULL DEFAULT true, -- a retry that uses up one of GSS_OUTBOX_MAX_ATTEMPTS (a 429 does not)
    delay_ms    BIGINT,               -- retry: not before finished_at + this
    provider_id TEXT,                 -- sent: the id the API gave back
    detail      TEXT,                 -- what last_error becomes
    finished_at TIMESTAMPTZ
);
CREATE INDEX outbox_attempts_outbox_idx ON outbox_attempts (outbox_id);

-- /metrics reads the rows not sent, by channel and status, and the oldest
-- queued one, every few seconds: sent rows (the bulk of the table) stay out
-- of that index.
CREATE INDEX outbox_unsent_idx ON outbox (channel, status, created_at)
    WHERE status IN ('queued', 'failed', 'unreachable');
