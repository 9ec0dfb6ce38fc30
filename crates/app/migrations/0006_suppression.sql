-- The suppression list: hashed identifiers (SHA-256; see src/intake/suppression.rs) of erased
-- people's email addresses and phone numbers. A lead delivery naming one is discarded, its
-- payload forgotten, instead of becoming a lead. No address is kept in clear.
CREATE TABLE app_suppressed (
    tenant        text        NOT NULL,
    identifier    bytea       NOT NULL CHECK (length(identifier) = 32),
    suppressed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, identifier)
);

GRANT SELECT, INSERT ON app_suppressed TO crm_eventstore_app;
