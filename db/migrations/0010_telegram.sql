-- Telegram inside the app (issue 10, item 4; docs/telegram.md;
-- src/http/handlers/hooks_telegram.c).
--
-- users.telegram_id: the Telegram user (from.id, up to 52 bits) bound to
-- the account by `/start <code>`. One Telegram user is one account at most
-- (UNIQUE): a callback press is an action by exactly one person. A
-- private chat's id is its user's id, so linking also sets the existing
-- users.telegram_chat_id (0001: what the users API shows as
-- telegram_linked, and where direct messages go).
ALTER TABLE users ADD COLUMN telegram_id BIGINT UNIQUE;

-- The one-time codes of POST /api/v1/me/telegram-link. Only the SHA-256
-- (hex) of a code is kept, so a copy of the database links nobody. A code
-- works once (used_at) and for 15 minutes (expires_at); a new code for
-- the same user replaces the ones it had.
CREATE TABLE telegram_link_codes (
    code_hash  TEXT PRIMARY KEY CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX telegram_link_codes_user_idx ON telegram_link_codes (user_id);
CREATE INDEX telegram_link_codes_expires_idx ON telegram_link_codes (expires_at);

-- Webhook deliveries already processed, by update_id: Telegram resends an
-- update it got no quick 200 for, and the webhook drops the repeat with an
-- INSERT ... ON CONFLICT DO NOTHING in the transaction that does the
-- update's work (so a failed one is not marked). Telegram keeps an
-- undelivered update for 24 hours; rows older than 3 days are trimmed
-- (received_at's index) now and then by the webhook itself.
CREATE TABLE telegram_updates (
    update_id   BIGINT PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX telegram_updates_received_idx ON telegram_updates (received_at);
