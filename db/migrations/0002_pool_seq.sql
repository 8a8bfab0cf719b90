-- The seq of the last pool event the persister applied to each ticket.
-- Persister batches may commit out of order (several gssd, a takeover of a
-- dead consumer's entries); a batch only moves a ticket's status forward
-- when its event is newer than what the ticket already reflects.
ALTER TABLE tickets ADD COLUMN pool_seq BIGINT NOT NULL DEFAULT 0;
