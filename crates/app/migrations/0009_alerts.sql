-- The alert hook's state: whether each alert (per tenant, destination and measure) is firing,
-- since when and above which limit. Kept with the outbox, and changed in the transaction of
-- the message that announces the change, only from the other state: of two processes (or a
-- restarted one) noticing the same change, one records it and announces it, the other
-- nothing.
CREATE TABLE app_alerts (
    tenant      text        NOT NULL,
    alert       text        NOT NULL,
    firing      boolean     NOT NULL,
    since       timestamptz NOT NULL,
    limit_value bigint      NOT NULL,
    PRIMARY KEY (tenant, alert)
);

GRANT SELECT, INSERT, UPDATE ON app_alerts TO crm_eventstore_app;
