-- Field work: assignment states, GPS check-ins, attachments, letter tokens,
-- and audit rows that say what a transition changed (docs/fieldwork.md).

-- Per-ticket geofence radius in metres; NULL = GSS_GEOFENCE_M.
ALTER TABLE tickets ADD COLUMN geofence_m INTEGER CHECK (geofence_m BETWEEN 10 AND 5000);
ALTER TABLE tickets ADD COLUMN cancel_reason TEXT;

-- One technician's slot walks claimed -> checked_in -> checked_out -> done
-- (late / no_show on the way for monitoring; replaced by CS; cancelled with
-- its ticket). The persister inserts rows as `claimed`; releases keep the
-- row with released_at (state `replaced`).
ALTER TABLE assignments ADD COLUMN state TEXT NOT NULL DEFAULT 'claimed'
    CHECK (state IN ('claimed', 'late', 'no_show', 'checked_in', 'checked_out', 'done', 'replaced', 'cancelled'));
ALTER TABLE assignments ADD COLUMN checked_in_at TIMESTAMPTZ;
ALTER TABLE assignments ADD COLUMN checked_out_at TIMESTAMPTZ;
ALTER TABLE assignments ADD COLUMN done_at TIMESTAMPTZ;
UPDATE assignments SET state = 'replaced' WHERE released_at IS NOT NULL;

-- Every GPS fix a technician sent for a ticket. fix_at is the phone's time
-- of the fix (sent later when it was taken offline), received_at ours.
CREATE TABLE checkins (
    id              BIGSERIAL PRIMARY KEY,
    ticket_id       BIGINT NOT NULL REFERENCES tickets (id),
    tech_id         BIGINT NOT NULL REFERENCES users (id),
    kind            TEXT NOT NULL CHECK (kind IN ('in', 'out')),
    lat             DOUBLE PRECISION NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lng             DOUBLE PRECISION NOT NULL CHECK (lng BETWEEN -180 AND 180),
    accuracy_m      DOUBLE PRECISION NOT NULL CHECK (accuracy_m > 0),
    distance_m      DOUBLE PRECISION,
    radius_m        INTEGER NOT NULL,
    geofence        TEXT NOT NULL CHECK (geofence IN ('inside', 'outside', 'uncertain')),
    late            BOOLEAN NOT NULL DEFAULT FALSE,
    flags           TEXT[] NOT NULL DEFAULT '{}',
    fix_at          TIMESTAMPTZ NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    idempotency_key TEXT,
    UNIQUE (tech_id, idempotency_key)
);
CREATE INDEX checkins_ticket_idx ON checkins (ticket_id, received_at);
CREATE INDEX checkins_tech_idx ON checkins (tech_id, fix_at DESC);

-- Uploaded files: bytes on disk at upload_dir/<path>, named by content.
CREATE TABLE attachments (
    id              BIGSERIAL PRIMARY KEY,
    ticket_id       BIGINT NOT NULL REFERENCES tickets (id),
    kind            TEXT NOT NULL CHECK (kind IN ('bast', 'photo', 'payment_proof')),
    content_type    TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    size            BIGINT NOT NULL CHECK (size > 0),
    sha256          TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    path            TEXT NOT NULL,
    uploaded_by     BIGINT NOT NULL REFERENCES users (id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    idempotency_key TEXT,
    UNIQUE (uploaded_by, idempotency_key)
);
CREATE INDEX attachments_ticket_idx ON attachments (ticket_id, created_at);

-- Surat Tugas verification tokens (/v/{token}): only the hash is kept. A
-- letter is valid until valid_until while the ticket is not cancelled and
-- its technicians are still the ones printed (techs = sorted ids).
CREATE TABLE letter_tokens (
    token_hash  TEXT PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    techs       TEXT NOT NULL,
    valid_until TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX letter_tokens_ticket_idx ON letter_tokens (ticket_id);

-- Audit rows of state transitions carry the state before and after.
ALTER TABLE audit_log ADD COLUMN before TEXT;
ALTER TABLE audit_log ADD COLUMN after TEXT;
CREATE INDEX audit_log_at_idx ON audit_log (entity, entity_id, at);
