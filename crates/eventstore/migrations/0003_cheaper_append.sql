-- 0003: eventstore_append, cheaper per event; same signature, contract, outcomes and locking as in
-- 0001 (whose comments describe the design), so grants and callers are untouched.
--
-- Two changes, both inside the function:
--   - Positions are drawn from the sequence up front, sorted, and inserted as values, so the
--     insert has neither an ORDER BY nor a RETURNING collected into an ordered array_agg: the
--     version-to-position pairing (increasing together within the batch) is stated by the values
--     instead of by the order in which rows reach the column default.
--   - The hash loop keeps one array: each event's previous hash is the hash before it, so it is
--     passed to the insert as the hashes shifted by one instead of being assigned per event.
-- The chain's bytes are unchanged (see 0001 and src/hash.rs): stored rows from before and after
-- this migration verify alike.

CREATE OR REPLACE FUNCTION eventstore_append(
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
    v_first       bytea;
    v_hashes      bytea[] := '{}';
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
    v_first := coalesce(v_last_hash, decode(repeat('00', 32), 'hex'));
    v_hash := v_first;
    FOR i IN 1 .. v_count LOOP
        v_hash := sha256(v_hash || int8send(v_base + i) || v_micros || p_content_digests[i]);
        v_hashes[i] := v_hash;
    END LOOP;

    -- Positions are drawn first, in version order, and inserted as values: the insert then
    -- needs neither an order nor a RETURNING to say which position went to which version.
    SELECT array_agg(drawn.position ORDER BY drawn.position) INTO v_positions
      FROM (SELECT nextval('events_position_seq') AS position
              FROM generate_series(1, v_count)) drawn;

    INSERT INTO events (tenant_id, stream_id, version, position, tx_id, event_id, event_type,
                        schema_version, payload, metadata, recorded_at, hash, previous_hash)
    SELECT p_tenant, p_stream, v_base + u.n, u.position, v_tx, u.id, u.event_type,
           u.schema_version, u.payload, u.metadata, v_now, u.hash, u.previous_hash
      FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads, p_metadata,
                  v_positions, v_hashes, array_prepend(v_first, v_hashes[1:v_count - 1]))
           WITH ORDINALITY AS u(id, event_type, schema_version, payload, metadata, position,
                                hash, previous_hash, n);

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
