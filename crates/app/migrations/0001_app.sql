-- The application layer's own rows, next to the event store's tables (same database, same
-- schema). Every key is led by the tenant: nothing here is read across tenants.

-- A command's idempotency record: the first request's digest and what it committed
-- (positions and ids only, never event content, so an erasure has nothing to reach here).
CREATE TABLE app_idempotency (
    tenant     text        NOT NULL,
    key        text        NOT NULL,
    digest     bytea       NOT NULL,
    outcome    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, key)
);

-- The transactional outbox: written in the transaction of the events that caused each
-- message, delivered afterwards at least once under the message's idempotency key.
CREATE TABLE app_outbox (
    tenant          text        NOT NULL,
    id              uuid        NOT NULL,
    destination     text        NOT NULL,
    idempotency_key text        NOT NULL,
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    delivered_at    timestamptz,
    last_error      text,
    PRIMARY KEY (tenant, id)
);

-- What a relay claims: the tenant's undelivered messages by due time.
CREATE INDEX app_outbox_due ON app_outbox (tenant, next_attempt_at, created_at)
    WHERE delivered_at IS NULL;

-- How far each workflow has reacted, per tenant: "everything through this position".
CREATE TABLE app_checkpoints (
    tenant      text   NOT NULL,
    workflow    text   NOT NULL,
    transaction bigint NOT NULL,
    position    bigint NOT NULL,
    PRIMARY KEY (tenant, workflow)
);

-- The application role (made by the event store's first migration) works these rows; it
-- never deletes an idempotency record or an outbox message.
GRANT SELECT, INSERT ON app_idempotency TO crm_eventstore_app;
GRANT SELECT, INSERT, UPDATE ON app_outbox TO crm_eventstore_app;
GRANT SELECT, INSERT, UPDATE ON app_checkpoints TO crm_eventstore_app;
