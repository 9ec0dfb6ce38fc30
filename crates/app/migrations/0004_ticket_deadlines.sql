-- The next SLA escalation instant of every open ticket: when it becomes at risk (80 % of a
-- target used) or breaches. One row per ticket, replaced whenever the ticket changes, deleted
-- once the ticket closes or has been escalated as far as it goes.
CREATE TABLE app_ticket_deadlines (
    tenant       text        NOT NULL,
    ticket       uuid        NOT NULL,
    -- The escalation level due then: 1 at risk, 2 breached.
    level        smallint    NOT NULL CHECK (level BETWEEN 1 AND 255),
    due_at       timestamptz NOT NULL,
    -- A scheduler that claimed the row acts on it alone until then.
    leased_until timestamptz,
    PRIMARY KEY (tenant, ticket)
);

CREATE INDEX app_ticket_deadlines_due ON app_ticket_deadlines (tenant, due_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON app_ticket_deadlines TO crm_eventstore_app;
