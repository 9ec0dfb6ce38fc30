-- The response deadline of every lead's current assignment: what the scheduler watches to pull
-- an untouched lead back. One row per lead (its latest assignment), deleted once the rep
-- responds, the lead closes, or the scheduler has acted on it.
CREATE TABLE app_response_deadlines (
    tenant       text        NOT NULL,
    lead         uuid        NOT NULL,
    rep          uuid        NOT NULL,
    team         uuid        NOT NULL,
    assigned_at  timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    -- A scheduler that claimed the row acts on it alone until then.
    leased_until timestamptz,
    PRIMARY KEY (tenant, lead)
);

-- What a scheduler claims: the tenant's rows by due time.
CREATE INDEX app_response_deadlines_due ON app_response_deadlines (tenant, due_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON app_response_deadlines TO crm_eventstore_app;
