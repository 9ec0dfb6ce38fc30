-- 0001: streams, events, idempotency keys and snapshots; the append function; the append-only guards.
--
-- Runs as the owner role, inside the migration runner's transaction (which holds the migration
-- advisory lock). Every key and index is led by tenant_id: each guarantee holds per tenant, and
-- tenants can later be spread over several databases.
--
-- Global order. `position` comes from a sequence and so is drawn before commit: positions commit
-- out of order, and a reader doing `position > checkpoint` could pass a late committer for good.
-- Each row therefore also keeps the appending transaction's id (`tx_id xid8`), and readers only
-- take rows with `tx_id < pg_snapshot_xmin(pg_current_snapshot())` (every transaction below that
-- horizon has ended), ordered by (tx_id, position). No global lock is taken, so commits group.

-- The application role: may read, and may write only through eventstore_append. Deployments grant
-- it to their login role (`GRANT crm_eventstore_app TO app_user`). Roles are cluster-wide, and
-- several databases may be migrated at once, hence the tolerated duplicate.
DO $$
BEGIN
    CREATE ROLE crm_eventstore_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- One row per stream: its head. The append function updates it under a per-stream lock, which is
-- what makes the expected-version check and the hash chain race-free.
CREATE TABLE streams (
    tenant_id        text        NOT NULL,
    stream_id        text        NOT NULL,
    version          bigint      NOT NULL CHECK (version > 0),
    last_hash        bytea       NOT NULL,
    last_tx_id       xid8        NOT NULL,
    last_recorded_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, stream_id)
);

CREATE SEQUENCE events_position_seq AS bigint;

-- Payload and metadata are `json`, not `jsonb`: json keeps the exact bytes it was given, and the
-- hash chain covers those bytes.
CREATE TABLE events (
    tenant_id      text        NOT NULL,
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL CHECK (version > 0),
    position       bigint      NOT NULL DEFAULT nextval('events_position_seq'),
    tx_id          xid8        NOT NULL,
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL CHECK (schema_version BETWEEN 1 AND 65535),
    payload        json        NOT NULL,
    metadata       json        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    hash           bytea       NOT NULL,
    previous_hash  bytea       NOT NULL,
    CONSTRAINT events_stream_version_key PRIMARY KEY (tenant_id, stream_id, version),
    CONSTRAINT events_event_id_key UNIQUE (tenant_id, event_id),
    CONSTRAINT events_global_order_key UNIQUE (tenant_id, tx_id, position)
);
ALTER SEQUENCE events_position_seq OWNED BY events.position;

-- The first result of each idempotent append, returned again to any retry with the same key.
CREATE TABLE idempotency_keys (
    tenant_id       text        NOT NULL,
    idempotency_key text        NOT NULL,
    request_hash    bytea       NOT NULL,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL,
    tx_id           xid8        NOT NULL,
    positions       bigint[]    NOT NULL,
    recorded_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
);

-- Disposable: never needed for correctness, replaced freely.
CREATE TABLE snapshots (
    tenant_id      text        NOT NULL,
    stream_id      text        NOT NULL,
    snapshot_type  text        NOT NULL,
    schema_version integer     NOT NULL,
    stream_version bigint      NOT NULL CHECK (stream_version >= 0),
    state          json        NOT NULL,
    taken_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, stream_id, snapshot_type)
);

-- Append-only in the database itself. Grants stop the application role; these triggers stop the
-- owner too. A superuser can still disable them, which is why every event is hash-chained.
CREATE FUNCTION eventstore_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'CE001';
END
$$;

CREATE TRIGGER events_refuse_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION eventstore_refuse_change();
CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION eventstore_refuse_change();
CREATE TRIGGER idempotency_keys_refuse_update_delete BEFORE UPDATE OR DELETE ON idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION eventstore_refuse_change();
CREATE TRIGGER idempotency_keys_refuse_truncate BEFORE TRUNCATE ON idempotency_keys
    FOR EACH STATEMENT EXECUTE FUNCTION eventstore_refuse_change();
-- A stream's head moves forward (UPDATE) but is never removed.
CREATE TRIGGER streams_refuse_delete BEFORE DELETE ON streams
    FOR EACH ROW EXECUTE FUNCTION eventstore_refuse_change();
CREATE TRIGGER streams_refuse_truncate BEFORE TRUNCATE ON streams
    FOR EACH STATEMENT EXECUTE FUNCTION eventstore_refuse_change();

-- Appends a batch to one stream in one call (one round trip). Outcomes (r_outcome):
--   0 appended; 1 idempotent replay of an earlier append (nothing written);
--   2 version conflict (r_stream_version = actual head, NULL when no stream; nothing written);
--   3 idempotency key reused with different content (r_stream_id = the first use's stream);
--   4 transaction order conflict: the stream's head was written by a transaction with a larger
--     id than the caller's, so appending would put this stream out of order in the global order;
--     only a caller-owned transaction that wrote before appending can meet it; retry it whole.
--
-- Order of work, each step for a reason:
--   1. a per-stream transaction-level advisory lock, taken before this transaction has an id, so
--      that an auto-commit append always gets a larger transaction id than the stream's previous
--      appender (stream order agrees with global order);
--   2. the idempotency key, before the version check, so a retry of a committed append replays;
--   3. the expected version, before any position is drawn (losers burn no sequence numbers);
--   4. hashes chained over the client's content digests, the version and recorded_at;
--   5. the events, then the head, then the idempotency record: all or nothing.
-- The chain: hash = sha256(previous_hash || int8 version || int8 recorded_at microseconds since
-- the Unix epoch || content digest), previous_hash of version 1 being 32 zero bytes; the content
-- digest is documented in src/hash.rs and recomputed from the stored bytes by verify.
CREATE FUNCTION eventstore_append(
    p_tenant           text,
    p_stream           text,
    p_expected_kind    smallint, -- 0 any, 1 no stream, 2 stream exists, 3 exact version
    p_expected_version bigint,
    p_idempotency_key  text,     -- NULL: none
    p_request_hash     bytea,
    p_event_ids        uuid[],
    p_event_types      text[],
    p_schema_versions  integer[],
    p_payloads         json[],
    p_metadata         json[],
    p_content_digests  bytea[],
    p_notify           boolean,
    OUT r_outcome        smallint,
    OUT r_stream_version bigint,
    OUT r_tx_id          xid8,
    OUT r_positions      bigint[],
    OUT r_recorded_at    timestamptz,
    OUT r_stream_id      text
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    v_count       integer := coalesce(array_length(p_event_ids, 1), 0);
    v_old         bigint;
    v_base        bigint;
    v_last_hash   bytea;
    v_last_tx     xid8;
    v_last_at     timestamptz;
    v_tx          xid8;
    v_now         timestamptz;
    v_micros      bytea;
    v_hash        bytea;
    v_hashes      bytea[] := '{}';
    v_previous    bytea[] := '{}';
    v_positions   bigint[];
    v_key         idempotency_keys%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_tenant || chr(31) || p_stream, 1469598103));

    IF p_idempotency_key IS NOT NULL THEN
        SELECT * INTO v_key FROM idempotency_keys k
         WHERE k.tenant_id = p_tenant AND k.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            r_outcome := (CASE WHEN v_key.request_hash = p_request_hash THEN 1 ELSE 3 END)::smallint;
            r_stream_version := v_key.stream_version;
            r_tx_id := v_key.tx_id;
            r_positions := v_key.positions;
            r_recorded_at := v_key.recorded_at;
            r_stream_id := v_key.stream_id;
            RETURN;
        END IF;
    END IF;

    SELECT s.version, s.last_hash, s.last_tx_id, s.last_recorded_at
      INTO v_old, v_last_hash, v_last_tx, v_last_at
      FROM streams s
     WHERE s.tenant_id = p_tenant AND s.stream_id = p_stream;

    IF (p_expected_kind = 1 AND v_old IS NOT NULL)
       OR (p_expected_kind = 2 AND v_old IS NULL)
       OR (p_expected_kind = 3 AND coalesce(v_old, 0) <> p_expected_version) THEN
        r_outcome := 2::smallint;
        r_stream_version := v_old;
        r_stream_id := p_stream;
        RETURN;
    END IF;

    v_base := coalesce(v_old, 0);
    IF v_count = 0 THEN
        r_outcome := 0::smallint;
        r_stream_version := v_base;
        r_positions := '{}'::bigint[];
        r_stream_id := p_stream;
        RETURN;
    END IF;

    v_tx := pg_current_xact_id();
    IF v_last_tx IS NOT NULL AND v_last_tx > v_tx THEN
        r_outcome := 4::smallint;
        r_stream_version := v_old;
        r_tx_id := v_last_tx;
        r_stream_id := p_stream;
        RETURN;
    END IF;

    -- Never before the stream's last event, so "as of a time" is a prefix of the stream.
    v_now := greatest(clock_timestamp(), v_last_at);
    v_micros := int8send((extract(epoch FROM v_now) * 1000000)::bigint);
    v_hash := coalesce(v_last_hash, decode(repeat('00', 32), 'hex'));
    FOR i IN 1 .. v_count LOOP
        v_previous[i] := v_hash;
        v_hash := sha256(v_hash || int8send(v_base + i) || v_micros || p_content_digests[i]);
        v_hashes[i] := v_hash;
    END LOOP;

    WITH inserted AS (
        INSERT INTO events (tenant_id, stream_id, version, tx_id, event_id, event_type,
                            schema_version, payload, metadata, recorded_at, hash, previous_hash)
        SELECT p_tenant, p_stream, v_base + u.n, v_tx, u.id, u.event_type, u.schema_version,
               u.payload, u.metadata, v_now, u.hash, u.previous_hash
          FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads, p_metadata,
                      v_hashes, v_previous)
               WITH ORDINALITY AS u(id, event_type, schema_version, payload, metadata, hash,
                                    previous_hash, n)
         ORDER BY u.n
        RETURNING events.position, events.version
    )
    SELECT array_agg(ins.position ORDER BY ins.version) INTO v_positions FROM inserted ins;

    IF v_old IS NULL THEN
        INSERT INTO streams (tenant_id, stream_id, version, last_hash, last_tx_id, last_recorded_at)
        VALUES (p_tenant, p_stream, v_base + v_count, v_hash, v_tx, v_now);
    ELSE
        UPDATE streams s
           SET version = v_base + v_count, last_hash = v_hash, last_tx_id = v_tx,
               last_recorded_at = v_now
         WHERE s.tenant_id = p_tenant AND s.stream_id = p_stream;
    END IF;

    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, stream_id,
                                      stream_version, tx_id, positions, recorded_at)
        VALUES (p_tenant, p_idempotency_key, p_request_hash, p_stream, v_base + v_count, v_tx,
                v_positions, v_now);
    END IF;

    IF p_notify THEN
        -- Identical notifications within a transaction are folded into one by PostgreSQL.
        PERFORM pg_notify('crm_eventstore', '');
    END IF;

    r_outcome := 0::smallint;
    r_stream_version := v_base + v_count;
    r_tx_id := v_tx;
    r_positions := v_positions;
    r_recorded_at := v_now;
    r_stream_id := p_stream;
END
$$;

REVOKE ALL ON streams, events, idempotency_keys, snapshots FROM PUBLIC;
REVOKE ALL ON SEQUENCE events_position_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION eventstore_append(text, text, smallint, bigint, text, bytea, uuid[], text[],
    integer[], json[], json[], bytea[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION eventstore_refuse_change() FROM PUBLIC;

GRANT SELECT ON streams, events TO crm_eventstore_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON snapshots TO crm_eventstore_app;
GRANT SELECT ON eventstore_migrations TO crm_eventstore_app;
GRANT EXECUTE ON FUNCTION eventstore_append(text, text, smallint, bigint, text, bytea, uuid[],
    text[], integer[], json[], json[], bytea[], boolean) TO crm_eventstore_app;
