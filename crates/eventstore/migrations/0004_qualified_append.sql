-- 0004: eventstore_append with every name schema-qualified and no search_path of its own; the
-- application role loses TEMP. Same signature, contract, outcomes, locking and chain bytes as
-- in 0003 (and 0001, whose comments describe the design), so grants and callers are untouched.
--
-- Why. The function runs with its owner's rights (SECURITY DEFINER). Before this migration it
-- resolved names through a search_path in which the session's temporary schema, not being
-- listed, is searched first for tables and types: a login role granted only the application
-- role could create a temporary table named `streams`, shadow the real one, and make the
-- function write an event past the real stream head. Now every table, sequence, type and
-- function in the body is qualified (tables and the sequence with the store's schema, fixed
-- here at migration time; built-in types and functions with pg_catalog), so no temporary or
-- user object can stand in for one. Operators stay unqualified: pg_catalog is searched for them
-- before any schema a caller names unless the caller can create objects in a schema of its own
-- and lists it first, and the application role creates nothing (PostgreSQL 15 gives PUBLIC no
-- CREATE on `public`; the store's schema is revoked below).
--
-- Qualifying instead of `SET search_path = ..., pg_temp` keeps the call free of a per-call
-- configuration save and restore, which costs time on every append.
--
-- TEMP: the application role has no use for temporary tables, and without them the attack above
-- cannot even be staged. TEMP is granted to PUBLIC by default on a database, so it is revoked
-- from PUBLIC and given back to the role running migrations (the store's owner).

DO $migration$
BEGIN
EXECUTE pg_catalog.format($function$
CREATE OR REPLACE FUNCTION %1$I.eventstore_append(
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
AS $body$
DECLARE
    v_count       pg_catalog.int4 := coalesce(pg_catalog.array_length(p_event_ids, 1), 0);
    v_old         pg_catalog.int8;
    v_base        pg_catalog.int8;
    v_last_hash   pg_catalog.bytea;
    v_last_tx     pg_catalog.xid8;
    v_last_at     pg_catalog.timestamptz;
    v_tx          pg_catalog.xid8;
    v_now         pg_catalog.timestamptz;
    v_micros      pg_catalog.bytea;
    v_hash        pg_catalog.bytea;
    v_first       pg_catalog.bytea;
    v_hashes      pg_catalog.bytea[] := '{}';
    v_positions   pg_catalog.int8[];
    v_key         %1$I.idempotency_keys%%ROWTYPE;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended(p_tenant || pg_catalog.chr(31) || p_stream, 1469598103));

    IF p_idempotency_key IS NOT NULL THEN
        SELECT * INTO v_key FROM %1$I.idempotency_keys k
         WHERE k.tenant_id = p_tenant AND k.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            r_outcome := (CASE WHEN v_key.request_hash = p_request_hash THEN 1 ELSE 3 END)::pg_catalog.int2;
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
      FROM %1$I.streams s
     WHERE s.tenant_id = p_tenant AND s.stream_id = p_stream;

    IF (p_expected_kind = 1 AND v_old IS NOT NULL)
       OR (p_expected_kind = 2 AND v_old IS NULL)
       OR (p_expected_kind = 3 AND coalesce(v_old, 0) <> p_expected_version) THEN
        r_outcome := 2::pg_catalog.int2;
        r_stream_version := v_old;
        r_stream_id := p_stream;
        RETURN;
    END IF;

    v_base := coalesce(v_old, 0);
    IF v_count = 0 THEN
        r_outcome := 0::pg_catalog.int2;
        r_stream_version := v_base;
        r_positions := '{}'::pg_catalog.int8[];
        r_stream_id := p_stream;
        RETURN;
    END IF;

    v_tx := pg_catalog.pg_current_xact_id();
    IF v_last_tx IS NOT NULL AND v_last_tx > v_tx THEN
        r_outcome := 4::pg_catalog.int2;
        r_stream_version := v_old;
        r_tx_id := v_last_tx;
        r_stream_id := p_stream;
        RETURN;
    END IF;

    -- Never before the stream's last event, so "as of a time" is a prefix of the stream.
    v_now := greatest(pg_catalog.clock_timestamp(), v_last_at);
    v_micros := pg_catalog.int8send((EXTRACT(epoch FROM v_now) * 1000000)::pg_catalog.int8);
    v_first := coalesce(v_last_hash, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'));
    v_hash := v_first;
    FOR i IN 1 .. v_count LOOP
        v_hash := pg_catalog.sha256(v_hash || pg_catalog.int8send(v_base + i) || v_micros
                                    || p_content_digests[i]);
        v_hashes[i] := v_hash;
    END LOOP;

    SELECT pg_catalog.array_agg(drawn.position ORDER BY drawn.position) INTO v_positions
      FROM (SELECT pg_catalog.nextval('%1$I.events_position_seq'::pg_catalog.regclass) AS position
              FROM pg_catalog.generate_series(1, v_count)) drawn;

    INSERT INTO %1$I.events (tenant_id, stream_id, version, position, tx_id, event_id, event_type,
                             schema_version, payload, metadata, recorded_at, hash, previous_hash)
    SELECT p_tenant, p_stream, v_base + u.n, u.position, v_tx, u.id, u.event_type,
           u.schema_version, u.payload, u.metadata, v_now, u.hash, u.previous_hash
      -- ROWS FROM spells out the multi-argument unnest, so that each call can be qualified.
      FROM ROWS FROM (pg_catalog.unnest(p_event_ids), pg_catalog.unnest(p_event_types),
                      pg_catalog.unnest(p_schema_versions), pg_catalog.unnest(p_payloads),
                      pg_catalog.unnest(p_metadata), pg_catalog.unnest(v_positions),
                      pg_catalog.unnest(v_hashes),
                      pg_catalog.unnest(pg_catalog.array_prepend(v_first,
                                                                 v_hashes[1:v_count - 1])))
           WITH ORDINALITY AS u(id, event_type, schema_version, payload, metadata, position,
                                hash, previous_hash, n);

    IF v_old IS NULL THEN
        INSERT INTO %1$I.streams (tenant_id, stream_id, version, last_hash, last_tx_id,
                                  last_recorded_at)
        VALUES (p_tenant, p_stream, v_base + v_count, v_hash, v_tx, v_now);
    ELSE
        UPDATE %1$I.streams s
           SET version = v_base + v_count, last_hash = v_hash, last_tx_id = v_tx,
               last_recorded_at = v_now
         WHERE s.tenant_id = p_tenant AND s.stream_id = p_stream;
    END IF;

    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO %1$I.idempotency_keys (tenant_id, idempotency_key, request_hash, stream_id,
                                           stream_version, tx_id, positions, recorded_at)
        VALUES (p_tenant, p_idempotency_key, p_request_hash, p_stream, v_base + v_count, v_tx,
                v_positions, v_now);
    END IF;

    IF p_notify THEN
        -- Identical notifications within a transaction are folded into one by PostgreSQL.
        PERFORM pg_catalog.pg_notify('crm_eventstore', '');
    END IF;

    r_outcome := 0::pg_catalog.int2;
    r_stream_version := v_base + v_count;
    r_tx_id := v_tx;
    r_positions := v_positions;
    r_recorded_at := v_now;
    r_stream_id := p_stream;
END
$body$;
$function$, pg_catalog.current_schema());

EXECUTE pg_catalog.format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', pg_catalog.current_schema());
EXECUTE pg_catalog.format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', pg_catalog.current_database());
EXECUTE pg_catalog.format('GRANT TEMPORARY ON DATABASE %I TO %I', pg_catalog.current_database(),
                          current_user);
END
$migration$;
