-- The CS inbox's unread count, made safe against commit order (issue 10,
-- item 6; docs/inbox.md "Database"; 0015_inbox.sql is what it corrects).
--
-- 0015 counted as unread the incoming messages whose wa_messages.id is above
-- the conversation's read mark (customers.inbox_read_id). But an id is taken
-- from the sequence when the row is inserted, not when it commits, and
-- wa_ingest (0009) inserts a message first and only then finds (and locks)
-- its customer. So two deliveries for one customer can commit in the other
-- order than their ids:
--   W1 inserts message 100; W2 inserts 101, locks the customer, commits;
--   CS marks the conversation read (mark = 101); W1 locks, commits 100:
--   100 < 101, so message 100 is never unread.
--
-- The fix: a per-customer number handed out under the customer's row lock.
-- customers.inbox_in_seq counts the conversation's incoming messages;
-- each message gets the next one (wa_messages.inbox_seq) in a BEFORE
-- trigger, by an UPDATE of the customer's row. That UPDATE holds the row
-- lock until the transaction ends, so a second writer's UPDATE waits for the
-- first to commit and then reads its number: within one customer the
-- numbers are given in commit order. The read (inbox.c) is an UPDATE of the
-- same row: it waits for a writer holding a number and takes the newest
-- committed one (inbox_read_seq = inbox_in_seq), and a writer after it gets
-- a higher number. Unread = incoming messages with inbox_seq above
-- inbox_read_seq.
--
-- The webhook pays nothing more: the trigger's UPDATE replaces 0015's AFTER
-- trigger, which updated the same row per message, and wa_ingest's own
-- "UPDATE customers ... last_inbound_at" already holds that lock when it
-- sets the message's customer_id (the statement that fires the trigger). One
-- index is swapped for another (the count by id for the count by number).
--
-- A message inserted with its customer already set (the demo seed) gets its
-- number at the insert. An INSERT ... ON CONFLICT DO NOTHING that meets a
-- duplicate would have spent a number (BEFORE triggers run first): a gap,
-- which counts nothing. wa_ingest inserts without the customer, so it never
-- does.
--
-- inbox_last_in_id / inbox_read_id stay and are still kept (the newest
-- incoming id, and the read mark as an id) for whoever reads them; a writer
-- that sets only inbox_read_id (the demo seed, as 0015 described the
-- read) has its number derived from it by a trigger.

ALTER TABLE wa_messages ADD COLUMN inbox_seq BIGINT;
ALTER TABLE customers ADD COLUMN inbox_in_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN inbox_read_seq BIGINT NOT NULL DEFAULT 0;

-- What is there already: numbered in id order (their commits are long
-- past), the read mark carried over from the id.
UPDATE wa_messages w SET inbox_seq = x.n
  FROM (SELECT id, row_number() OVER (PARTITION BY customer_id ORDER BY id) AS n
          FROM wa_messages WHERE direction = 'in' AND customer_id IS NOT NULL) x
 WHERE w.id = x.id;
UPDATE customers c
   SET inbox_in_seq = coalesce((SELECT max(w.inbox_seq) FROM wa_messages w
                                 WHERE w.customer_id = c.id AND w.direction = 'in'), 0),
       inbox_read_seq = coalesce((SELECT max(w.inbox_seq) FROM wa_messages w
                                   WHERE w.customer_id = c.id AND w.direction = 'in' AND w.id <= c.inbox_read_id), 0);

DROP TRIGGER wa_messages_inbox_insert ON wa_messages;
DROP TRIGGER wa_messages_inbox_customer ON wa_messages;
DROP FUNCTION wa_messages_inbox_touch();
DROP INDEX customers_inbox_unread_idx;
DROP INDEX wa_messages_inbox_unread_idx;

-- Unread counts: a conversation's incoming messages above its read number;
-- the badge reads the conversations with some only.
CREATE INDEX wa_messages_inbox_seq_idx ON wa_messages (customer_id, inbox_seq) WHERE direction = 'in';
CREATE INDEX customers_inbox_unseen_idx ON customers (id) WHERE inbox_in_seq > inbox_read_seq;

-- A message either way moves its conversation to the top (as 0015's
-- trigger did); an incoming one also takes the customer's next number,
-- under the row lock the UPDATE takes.
CREATE FUNCTION wa_messages_inbox_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.customer_id IS NOT DISTINCT FROM NEW.customer_id THEN
        RETURN NEW;
    END IF;
    UPDATE customers
       SET inbox_in_seq = inbox_in_seq + 1,
           inbox_last_at = greatest(inbox_last_at, NEW.sent_at),
           inbox_last_in_id = greatest(inbox_last_in_id, NEW.id)
     WHERE id = NEW.customer_id
    RETURNING inbox_in_seq INTO NEW.inbox_seq;
    RETURN NEW;
END $$;
CREATE TRIGGER wa_messages_inbox_number BEFORE INSERT OR UPDATE OF customer_id ON wa_messages
    FOR EACH ROW WHEN (NEW.direction = 'in' AND NEW.customer_id IS NOT NULL)
    EXECUTE FUNCTION wa_messages_inbox_number();

-- A read mark written as an id only: the number of the newest incoming
-- message at or below it.
CREATE FUNCTION customers_inbox_read_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.inbox_read_seq := coalesce((SELECT max(w.inbox_seq) FROM wa_messages w
                                     WHERE w.customer_id = NEW.id AND w.direction = 'in'
                                       AND w.id <= NEW.inbox_read_id), 0);
    RETURN NEW;
END $$;
CREATE TRIGGER customers_inbox_read_number BEFORE UPDATE OF inbox_read_id ON customers
    FOR EACH ROW WHEN (NEW.inbox_read_id IS DISTINCT FROM OLD.inbox_read_id
                       AND NEW.inbox_read_seq = OLD.inbox_read_seq)
    EXECUTE FUNCTION customers_inbox_read_number();
