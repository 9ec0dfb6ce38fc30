-- The intake inbox: every lead delivery as it arrived, stored in one insert on the request path
-- and turned into a lead by the intake workers. One row per (source, external event id): a
-- redelivery finds its row and stores nothing. Rows are kept after they are done, as the record
-- of what arrived.
CREATE TABLE app_inbox (
    tenant       text        NOT NULL,
    id           uuid        NOT NULL,
    source       text        NOT NULL,
    external_id  text        NOT NULL,
    -- json, not jsonb: the text as delivered (jsonb would refuse a \u0000 a sender may send).
    payload      json        NOT NULL,
    received_at  timestamptz NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    -- When the item is due: at arrival, after a failure's backoff, or after a claim's lease.
    due_at       timestamptz NOT NULL,
    done_at      timestamptz,
    last_error   text,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, source, external_id)
);

-- What workers claim: a tenant's open items by due time.
CREATE INDEX app_inbox_due ON app_inbox (tenant, due_at) WHERE done_at IS NULL;

GRANT SELECT, INSERT, UPDATE ON app_inbox TO crm_eventstore_app;
