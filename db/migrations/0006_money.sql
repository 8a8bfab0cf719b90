-- Money (issue 9, docs/money.md): one invoice per ticket and its history,
-- payments, the customer's public links (hashes only), ratings, and the
-- outbox that the Telegram and WhatsApp senders drain.

-- Invoice numbers are INV-YYMM-NNNN, numbered per month (Jakarta), like
-- ticket codes.
CREATE TABLE invoice_number_counters (
    yymm TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);

-- One invoice per ticket: a correction is a new version of the same row
-- (invoice_history keeps every version's totals and items).
-- Amounts are integer Rupiah; the server computes them (domain/money.c),
-- and the checks below are the last line, not the validation.
CREATE TABLE invoices (
    id            BIGSERIAL PRIMARY KEY,
    ticket_id     BIGINT NOT NULL UNIQUE REFERENCES tickets (id),
    number        TEXT NOT NULL UNIQUE,
    status        TEXT NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'pending_approval', 'approved', 'revision_requested', 'sent', 'paid')),
    version       INTEGER NOT NULL DEFAULT 1,
    subtotal      BIGINT NOT NULL CHECK (subtotal >= 0),
    discount      BIGINT NOT NULL DEFAULT 0,
    tax_rate_bp   INTEGER NOT NULL DEFAULT 0 CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    tax           BIGINT NOT NULL DEFAULT 0 CHECK (tax >= 0),
    total         BIGINT NOT NULL,
    paid_amount   BIGINT NOT NULL DEFAULT 0 CHECK (paid_amount >= 0),
    note          TEXT NOT NULL DEFAULT '',
    revision_note TEXT, -- Sales' last "Minta Revisi" note, until the next submit
    created_by    BIGINT REFERENCES users (id),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    submitted_at  TIMESTAMPTZ, -- the last submit: the approval queue's age
    approved_by   BIGINT REFERENCES users (id),
    approved_at   TIMESTAMPTZ,
    sent_at       TIMESTAMPTZ, -- the first send
    due_at        TIMESTAMPTZ, -- sent_at + GSS_INVOICE_DUE_DAYS
    paid_at       TIMESTAMPTZ,
    CHECK (discount >= 0 AND discount <= subtotal),
    CHECK (total = subtotal - discount + tax),
    CHECK (paid_amount <= total)
);
CREATE INDEX invoices_status_idx ON invoices (status, submitted_at);

-- The current version's lines, in order.
CREATE TABLE invoice_items (
    invoice_id  BIGINT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    pos         INTEGER NOT NULL CHECK (pos >= 1),
    description TEXT NOT NULL,
    qty         BIGINT NOT NULL CHECK (qty > 0),
    unit_price  BIGINT NOT NULL CHECK (unit_price >= 0),
    line_total  BIGINT NOT NULL CHECK (line_total = qty * unit_price),
    PRIMARY KEY (invoice_id, pos)
);

-- Every action on an invoice, append-only: who, when, the note, the state
-- and the totals before and after, and the items of the version it left.
-- This is what the CS and Sales screens show as the revision history.
-- (The ticket's timeline reads audit_log, which gets a row per action too.)
CREATE TABLE invoice_history (
    id          BIGSERIAL PRIMARY KEY,
    invoice_id  BIGINT NOT NULL REFERENCES invoices (id),
    version     INTEGER NOT NULL,  -- the invoice's version after the action
    action      TEXT NOT NULL,     -- create, edit, submit, approve, revise, send, resend, pay, unpay
    actor_id    BIGINT REFERENCES users (id),
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    note        TEXT,
    status_before TEXT,
    status_after  TEXT NOT NULL,
    before      JSONB,             -- {subtotal, discount, tax, total}; NULL on create
    after       JSONB NOT NULL,
    items       JSONB              -- the items after an edit or create
);
CREATE INDEX invoice_history_invoice_idx ON invoice_history (invoice_id, id);

-- Payments. Several add up; a voided one stays, with who, when and why.
CREATE TABLE payments (
    id                  BIGSERIAL PRIMARY KEY,
    invoice_id          BIGINT NOT NULL REFERENCES invoices (id),
    amount              BIGINT NOT NULL CHECK (amount > 0),
    method              TEXT NOT NULL CHECK (method IN ('transfer', 'cash', 'qris')),
    paid_at             TIMESTAMPTZ NOT NULL,
    reference           TEXT,
    proof_attachment_id BIGINT REFERENCES attachments (id),
    recorded_by         BIGINT REFERENCES users (id),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    voided_at           TIMESTAMPTZ,
    voided_by           BIGINT REFERENCES users (id),
    void_reason         TEXT
);
CREATE INDEX payments_invoice_idx ON payments (invoice_id);

-- The customer's links. The token is derived (HMAC of the nonce under
-- GSS_LINK_KEY, docs/money.md) and never stored: only its SHA-256 is, so
-- a copy of the database opens no invoice. Resending recomputes the same
-- token from the nonce.
CREATE TABLE public_links (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('invoice', 'rating')),
    invoice_id  BIGINT NOT NULL REFERENCES invoices (id),
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    nonce       BYTEA NOT NULL,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ, -- a rating link once rated
    UNIQUE (invoice_id, kind)
);

-- One rating per ticket: the service, and each technician of a crew.
CREATE TABLE ratings (
    id         BIGSERIAL PRIMARY KEY,
    ticket_id  BIGINT NOT NULL UNIQUE REFERENCES tickets (id),
    link_id    BIGINT REFERENCES public_links (id),
    score      SMALLINT NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    TEXT NOT NULL DEFAULT '' CHECK (char_length(comment) <= 1000),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE rating_techs (
    rating_id BIGINT NOT NULL REFERENCES ratings (id),
    tech_id   BIGINT NOT NULL REFERENCES users (id),
    score     SMALLINT NOT NULL CHECK (score BETWEEN 1 AND 5),
    PRIMARY KEY (rating_id, tech_id)
);

-- Every outgoing message is first a row here, written in the transaction
-- of the change that causes it (DESIGN.md §6); the channel senders (the
-- Telegram and WhatsApp issue) take due rows with FOR UPDATE SKIP LOCKED.
-- Until a channel is configured its rows stay queued and CS sees why.
--   target: 'role:sales' (every linked Sales account), 'tg:<chat id>',
--           'wa:<62...>' (a customer's phone)
--   payload: what the sender needs to build the message; never a raw
--            public token (the sender derives links from their ids)
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    channel         TEXT NOT NULL CHECK (channel IN ('telegram', 'whatsapp')),
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,
    payload         JSONB NOT NULL DEFAULT '{}',
    idem_key        TEXT NOT NULL UNIQUE,
    ticket_id       BIGINT REFERENCES tickets (id),
    invoice_id      BIGINT REFERENCES invoices (id),
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'unreachable', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    provider_id     TEXT, -- the message id the channel gave back
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_invoice_idx ON outbox (invoice_id) WHERE invoice_id IS NOT NULL;
