-- 0002: the crypto-shredding key tables (see src/crypto/).
--
-- One key per data subject per tenant. Shredding deletes the key row and records the subject in
-- shredded_subjects, so a later write for that subject is refused instead of silently minting a
-- fresh key. The events themselves are never touched: their encrypted fields stay as stored and
-- the hash chains stay intact.

CREATE TABLE subject_keys (
    tenant_id  text        NOT NULL,
    subject_id text        NOT NULL,
    key        bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject_id)
);

CREATE TABLE shredded_subjects (
    tenant_id   text        NOT NULL,
    subject_id  text        NOT NULL,
    shredded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject_id)
);

REVOKE ALL ON subject_keys, shredded_subjects FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON subject_keys TO crm_eventstore_app;
GRANT SELECT, INSERT ON shredded_subjects TO crm_eventstore_app;
