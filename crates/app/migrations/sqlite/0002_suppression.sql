-- The suppression list: hashed identifiers (SHA-256; see src/intake/suppression.rs) of erased
-- people's email addresses and phone numbers. A lead delivery naming one is discarded, its
-- payload forgotten, instead of becoming a lead. No address is kept in clear.
CREATE TABLE app_suppressed (
    tenant        TEXT    NOT NULL,
    identifier    BLOB    NOT NULL CHECK (length(identifier) = 32),
    suppressed_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, identifier)
) STRICT, WITHOUT ROWID;
