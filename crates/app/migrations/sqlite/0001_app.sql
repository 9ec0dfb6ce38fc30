-- The application layer's own rows on SQLite, next to the event store's tables in the same
-- file: the PostgreSQL migrations 0001 to 0005 in one step. Every key is led by the tenant.
-- Instants are INTEGER microseconds since the Unix epoch (UTC), the precision PostgreSQL
-- keeps; ids are UUIDs in their hyphenated text form.

-- A command's idempotency record: the first request's digest and what it committed
-- (positions and ids only, never event content).
CREATE TABLE app_idempotency (
    tenant     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    digest     BLOB    NOT NULL,
    outcome    TEXT    NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    PRIMARY KEY (tenant, key)
) STRICT;

-- The transactional outbox.
CREATE TABLE app_outbox (
    tenant          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT,
    parked_at       INTEGER,
    PRIMARY KEY (tenant, id)
) STRICT;

CREATE INDEX app_outbox_due ON app_outbox (tenant, next_attempt_at, created_at)
    WHERE delivered_at IS NULL AND parked_at IS NULL;
CREATE INDEX app_outbox_parked ON app_outbox (tenant)
    WHERE delivered_at IS NULL AND parked_at IS NOT NULL;

-- How far each workflow has reacted, per tenant.
CREATE TABLE app_checkpoints (
    tenant         TEXT    NOT NULL,
    workflow       TEXT    NOT NULL,
    transaction_id INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    PRIMARY KEY (tenant, workflow)
) STRICT;

-- The response deadline of every lead's current assignment.
CREATE TABLE app_response_deadlines (
    tenant       TEXT    NOT NULL,
    lead         TEXT    NOT NULL,
    rep          TEXT    NOT NULL,
    team         TEXT    NOT NULL,
    assigned_at  INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    leased_until INTEGER,
    PRIMARY KEY (tenant, lead)
) STRICT;

CREATE INDEX app_response_deadlines_due ON app_response_deadlines (tenant, due_at);

-- The next SLA escalation instant of every open ticket.
CREATE TABLE app_ticket_deadlines (
    tenant       TEXT    NOT NULL,
    ticket       TEXT    NOT NULL,
    level        INTEGER NOT NULL CHECK (level BETWEEN 1 AND 255),
    due_at       INTEGER NOT NULL,
    leased_until INTEGER,
    PRIMARY KEY (tenant, ticket)
) STRICT;

CREATE INDEX app_ticket_deadlines_due ON app_ticket_deadlines (tenant, due_at);

-- The intake inbox: every lead delivery as it arrived, one row per (source, external id).
CREATE TABLE app_inbox (
    tenant       TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    external_id  TEXT    NOT NULL,
    -- The JSON text as delivered.
    payload      TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       INTEGER NOT NULL,
    done_at      INTEGER,
    last_error   TEXT,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, source, external_id)
) STRICT;

CREATE INDEX app_inbox_due ON app_inbox (tenant, due_at) WHERE done_at IS NULL;
