-- Money actions safe to retry (docs/money.md "Retrying a payment or a send").
--
-- POST /api/v1/invoices/{id}/payments with an Idempotency-Key stores the key
-- on the payment it records, in the same transaction, with the request it
-- answered (idempotency_request: invoice, amount, method, paid_at, proof and
-- reference as one text, payments.c), so a retry of that key answers the
-- payment already recorded and a different request under it is refused
-- (422 idempotency_key_reused). A key belongs to the CS who sent it: unique
-- per recorded_by, like attachments (uploaded_by, idempotency_key).

ALTER TABLE payments ADD COLUMN idempotency_key TEXT,
                     ADD COLUMN idempotency_request TEXT;

CREATE UNIQUE INDEX payments_idempotency_idx ON payments (recorded_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- POST /api/v1/invoices/{id}/send with an Idempotency-Key stores the key on
-- the send's (or resend's) invoice_history row, per actor: a retry of the
-- key answers that send again (the same links) and queues no second
-- WhatsApp message (invoice_send.c). Its request is the invoice alone (a
-- send has no body): the key on another invoice is idempotency_key_reused.
ALTER TABLE invoice_history ADD COLUMN idempotency_key TEXT;

CREATE UNIQUE INDEX invoice_history_idempotency_idx ON invoice_history (actor_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
