-- 0001 (SQLite, component "eventstore"): stream heads, events, idempotency keys, snapshots and
-- seals; the append-only guards. The twin of the PostgreSQL schema (migrations/0001, 0005), for
-- one SQLite file that the application's and the read models' tables share (hence the
-- `eventstore_` prefix). The appends themselves are written in Rust (src/sqlite/store.rs),
-- inside one write transaction each.
--
-- Every key is led by tenant_id, holding the TenantId's canonical (lowercase) form. Unsigned
-- numbers are INTEGER (signed 64-bit): the store converts with range checks both ways. Times are
-- INTEGER microseconds since the Unix epoch (UTC), the precision the hash chain covers. Payload
-- and metadata are BLOBs holding the exact JSON bytes the codec produced, which the hash chain
-- covers; ids are 16-byte BLOBs.
--
-- Global order. SQLite runs one write transaction at a time per file (BEGIN IMMEDIATE takes the
-- file's write lock, across processes too), and each append draws its transaction id and its
-- positions while holding that lock, as one more than the last committed ones. So (tx_id,
-- position) grows in commit order, and a reader, which always sees a committed prefix of the
-- log, can never be passed by a late committer.

-- One row per stream: its head.
CREATE TABLE eventstore_streams (
    tenant_id        TEXT    NOT NULL,
    stream_id        TEXT    NOT NULL,
    version          INTEGER NOT NULL CHECK (version > 0),
    last_hash        BLOB    NOT NULL CHECK (length(last_hash) = 32),
    last_recorded_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, stream_id)
) STRICT, WITHOUT ROWID;

-- position is the rowid: unique in the file, growing with every append.
CREATE TABLE eventstore_events (
    position       INTEGER PRIMARY KEY CHECK (position > 0),
    tx_id          INTEGER NOT NULL CHECK (tx_id > 0),
    tenant_id      TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version > 0),
    event_id       BLOB    NOT NULL CHECK (length(event_id) = 16),
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL CHECK (schema_version BETWEEN 1 AND 65535),
    payload        BLOB    NOT NULL,
    metadata       BLOB    NOT NULL,
    recorded_at    INTEGER NOT NULL,
    hash           BLOB    NOT NULL,
    previous_hash  BLOB    NOT NULL,
    CONSTRAINT eventstore_events_stream_version UNIQUE (tenant_id, stream_id, version),
    CONSTRAINT eventstore_events_event_id UNIQUE (tenant_id, event_id)
) STRICT;

-- A tenant's global order (the rowid, position, ends every index entry).
CREATE INDEX eventstore_events_global_order ON eventstore_events (tenant_id, tx_id);

-- The first result of each idempotent append, returned again to any retry with the same key.
-- An append's positions are consecutive: first_position .. first_position + event_count - 1.
CREATE TABLE eventstore_idempotency_keys (
    tenant_id       TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    request_hash    BLOB    NOT NULL,
    stream_id       TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL CHECK (stream_version > 0),
    tx_id           INTEGER NOT NULL,
    first_position  INTEGER NOT NULL,
    event_count     INTEGER NOT NULL CHECK (event_count > 0),
    recorded_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
) STRICT, WITHOUT ROWID;

-- Disposable: never needed for correctness, replaced freely.
CREATE TABLE eventstore_snapshots (
    tenant_id      TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    snapshot_type  TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    stream_version INTEGER NOT NULL CHECK (stream_version >= 0),
    state          BLOB    NOT NULL,
    taken_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, stream_id, snapshot_type)
) STRICT, WITHOUT ROWID;

-- Seals over each tenant's global order (see src/seal.rs; the encoding is in src/hash.rs).
CREATE TABLE eventstore_seals (
    tenant_id        TEXT    NOT NULL,
    seal_number      INTEGER NOT NULL CHECK (seal_number > 0),
    through_tx       INTEGER NOT NULL,
    through_position INTEGER NOT NULL,
    event_count      INTEGER NOT NULL CHECK (event_count > 0),
    previous_hash    BLOB    NOT NULL,
    hash             BLOB    NOT NULL,
    sealed_at        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, seal_number)
) STRICT, WITHOUT ROWID;

-- Append-only in the database itself. Whoever can write the file can drop these triggers,
-- which is why every event is hash-chained and the global order sealed.
CREATE TRIGGER eventstore_events_refuse_update BEFORE UPDATE ON eventstore_events
BEGIN SELECT RAISE(ABORT, 'eventstore_events is append-only: UPDATE refused'); END;
CREATE TRIGGER eventstore_events_refuse_delete BEFORE DELETE ON eventstore_events
BEGIN SELECT RAISE(ABORT, 'eventstore_events is append-only: DELETE refused'); END;
CREATE TRIGGER eventstore_idempotency_keys_refuse_update BEFORE UPDATE ON eventstore_idempotency_keys
BEGIN SELECT RAISE(ABORT, 'eventstore_idempotency_keys is append-only: UPDATE refused'); END;
CREATE TRIGGER eventstore_idempotency_keys_refuse_delete BEFORE DELETE ON eventstore_idempotency_keys
BEGIN SELECT RAISE(ABORT, 'eventstore_idempotency_keys is append-only: DELETE refused'); END;
CREATE TRIGGER eventstore_seals_refuse_update BEFORE UPDATE ON eventstore_seals
BEGIN SELECT RAISE(ABORT, 'eventstore_seals is append-only: UPDATE refused'); END;
CREATE TRIGGER eventstore_seals_refuse_delete BEFORE DELETE ON eventstore_seals
BEGIN SELECT RAISE(ABORT, 'eventstore_seals is append-only: DELETE refused'); END;
-- A stream's head moves forward (UPDATE) but is never removed.
CREATE TRIGGER eventstore_streams_refuse_delete BEFORE DELETE ON eventstore_streams
BEGIN SELECT RAISE(ABORT, 'eventstore_streams is append-only: DELETE refused'); END;
