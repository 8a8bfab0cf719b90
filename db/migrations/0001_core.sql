-- Core records: accounts, customers, tickets, technician assignments, audit.
-- Money is BIGINT Rupiah; times are timestamptz (UTC), shown in Asia/Jakarta.

CREATE TABLE users (
    id               BIGSERIAL PRIMARY KEY,
    username         TEXT NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{3,32}$'),
    name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role             TEXT NOT NULL CHECK (role IN ('admin', 'cs', 'ts', 'sales')),
    phone            TEXT CHECK (phone ~ '^62[0-9]{7,13}$'),
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash    TEXT NOT NULL,
    telegram_chat_id BIGINT UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone      TEXT NOT NULL UNIQUE CHECK (phone ~ '^62[0-9]{7,13}$'),
    address    TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL CHECK (source IN ('wa', 'manual')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX customers_name_idx ON customers (lower(name));

-- Ticket codes are GSS-YYMM-NNNN, numbered per month.
CREATE TABLE ticket_code_counters (
    yymm TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE tickets (
    id           BIGSERIAL PRIMARY KEY,
    code         TEXT NOT NULL UNIQUE,
    customer_id  BIGINT NOT NULL REFERENCES customers (id),
    problem      TEXT NOT NULL CHECK (length(problem) BETWEEN 1 AND 2000),
    address      TEXT NOT NULL,
    area         TEXT NOT NULL DEFAULT '',
    lat          DOUBLE PRECISION CHECK (lat BETWEEN -90 AND 90),
    lng          DOUBLE PRECISION CHECK (lng BETWEEN -180 AND 180),
    scheduled_at TIMESTAMPTZ NOT NULL,
    techs_needed INTEGER NOT NULL CHECK (techs_needed BETWEEN 1 AND 10),
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN
                   ('open', 'assigned', 'in_progress', 'work_done', 'invoicing',
                    'awaiting_payment', 'paid', 'closed', 'cancelled')),
    urgent       BOOLEAN NOT NULL DEFAULT FALSE,
    region       TEXT NOT NULL DEFAULT 'default',
    created_by   BIGINT REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tickets_status_idx ON tickets (status, scheduled_at);
CREATE INDEX tickets_customer_idx ON tickets (customer_id);

-- One row per technician who claimed a slot of a ticket. A technician
-- released by CS ("Cari Pengganti") keeps the row with released_at set and
-- may not claim that ticket again, so (ticket_id, tech_id) is unique.
CREATE TABLE assignments (
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    tech_id     BIGINT NOT NULL REFERENCES users (id),
    slot        INTEGER NOT NULL CHECK (slot >= 1),
    claimed_at  TIMESTAMPTZ NOT NULL,
    released_at TIMESTAMPTZ,
    PRIMARY KEY (ticket_id, tech_id)
);
CREATE INDEX assignments_tech_idx ON assignments (tech_id) WHERE released_at IS NULL;

CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_id  BIGINT REFERENCES users (id),
    entity    TEXT NOT NULL,
    entity_id BIGINT,
    action    TEXT NOT NULL,
    data      JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id);
