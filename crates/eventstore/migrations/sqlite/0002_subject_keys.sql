-- 0002 (SQLite, component "eventstore"): the crypto-shredding key tables (see src/crypto/ and
-- src/crypto/sqlite.rs), the twin of migrations/0002_subject_keys.sql.
--
-- One key per data subject per tenant. Shredding deletes the key row and records the subject in
-- eventstore_shredded_subjects, so a later write for that subject is refused instead of silently
-- minting a fresh key. The events themselves are never touched. Every connection runs with
-- `PRAGMA secure_delete = ON` (src/sqlite/database.rs), so a deleted key's bytes are overwritten
-- with zeros in the file, and shredding truncates the write-ahead log after its commit.

CREATE TABLE eventstore_subject_keys (
    tenant_id  TEXT    NOT NULL,
    subject_id TEXT    NOT NULL,
    key        BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE eventstore_shredded_subjects (
    tenant_id   TEXT    NOT NULL,
    subject_id  TEXT    NOT NULL,
    shredded_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject_id)
) STRICT, WITHOUT ROWID;

-- A shredding is for good.
CREATE TRIGGER eventstore_shredded_subjects_refuse_update BEFORE UPDATE ON eventstore_shredded_subjects
BEGIN SELECT RAISE(ABORT, 'eventstore_shredded_subjects is append-only: UPDATE refused'); END;
CREATE TRIGGER eventstore_shredded_subjects_refuse_delete BEFORE DELETE ON eventstore_shredded_subjects
BEGIN SELECT RAISE(ABORT, 'eventstore_shredded_subjects is append-only: DELETE refused'); END;
