-- 0005: seals over each tenant's global order (see src/seal.rs and src/hash.rs).
--
-- A seal covers a tenant's events after the previous seal up to a position, in global order
-- ((tx_id, position), the order readers deliver), and chains to the previous seal, so that
-- reordering, removing, adding or moving events inside a sealed range is caught by verify even
-- where every stream's own chain still holds. The encoding, which verify recomputes in Rust:
--
--   entries   = sha256( for each event in (tx_id, position) order:
--                       int8(tx_id) || int8(position) || hash )
--   seal hash = sha256( 'crm-eventstore/seal/v1' || int4(length(tenant)) || tenant
--                       || previous seal hash (32 zero bytes for seal 1) || int8(seal number)
--                       || int8(through tx_id) || int8(through position) || int8(event count)
--                       || entries )
--
-- Seals are made only by eventstore_seal (the application role may call it, never write the
-- table), one at a time per tenant (an advisory lock), over events below the same horizon
-- readers use, so a seal never covers a transaction that could still commit before it. The
-- table is append-only like the events. Names are qualified as in 0004.

CREATE TABLE log_seals (
    tenant_id        text        NOT NULL,
    seal_number      bigint      NOT NULL CHECK (seal_number > 0),
    through_tx       xid8        NOT NULL,
    through_position bigint      NOT NULL,
    event_count      bigint      NOT NULL CHECK (event_count > 0),
    previous_hash    bytea       NOT NULL,
    hash             bytea       NOT NULL,
    sealed_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, seal_number)
);

CREATE TRIGGER log_seals_refuse_update_delete BEFORE UPDATE OR DELETE ON log_seals
    FOR EACH ROW EXECUTE FUNCTION eventstore_refuse_change();
CREATE TRIGGER log_seals_refuse_truncate BEFORE TRUNCATE ON log_seals
    FOR EACH STATEMENT EXECUTE FUNCTION eventstore_refuse_change();

-- Seals the next stretch of at most p_max_events deliverable events after the last seal.
-- Returns the new seal with r_new true, or the last seal (all NULL when there is none) with
-- r_new false when nothing is left to seal.
DO $migration$
BEGIN
EXECUTE pg_catalog.format($function$
CREATE FUNCTION %1$I.eventstore_seal(
    p_tenant          text,
    p_max_events      integer,
    OUT r_new              boolean,
    OUT r_seal_number      bigint,
    OUT r_through_tx       xid8,
    OUT r_through_position bigint,
    OUT r_event_count      bigint,
    OUT r_previous_hash    bytea,
    OUT r_hash             bytea,
    OUT r_sealed_at        timestamptz
)
LANGUAGE plpgsql
SECURITY DEFINER
AS $body$
DECLARE
    v_last      %1$I.log_seals%%ROWTYPE;
    v_after_tx  pg_catalog.xid8;
    v_after_pos pg_catalog.int8;
    v_previous  pg_catalog.bytea;
    v_count     pg_catalog.int8;
    v_entries   pg_catalog.bytea;
    v_tx        pg_catalog.xid8;
    v_pos       pg_catalog.int8;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('seal' || pg_catalog.chr(31) || p_tenant, 1469598103));

    SELECT * INTO v_last FROM %1$I.log_seals s
     WHERE s.tenant_id = p_tenant ORDER BY s.seal_number DESC LIMIT 1;
    v_after_tx := coalesce(v_last.through_tx, '0'::pg_catalog.xid8);
    v_after_pos := coalesce(v_last.through_position, 0);
    v_previous := coalesce(v_last.hash, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'));

    WITH horizon AS MATERIALIZED (
        SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) AS xmin
    ), page AS (
        SELECT e.tx_id, e.position, e.hash
          FROM %1$I.events e, horizon
         WHERE e.tenant_id = p_tenant AND (e.tx_id, e.position) > (v_after_tx, v_after_pos)
           AND e.tx_id < horizon.xmin
         ORDER BY e.tx_id, e.position
         LIMIT p_max_events
    )
    SELECT pg_catalog.count(*),
           pg_catalog.sha256(coalesce(pg_catalog.string_agg(
               pg_catalog.int8send(p.tx_id::pg_catalog.text::pg_catalog.int8)
               || pg_catalog.int8send(p.position) || p.hash,
               ''::pg_catalog.bytea ORDER BY p.tx_id, p.position), ''::pg_catalog.bytea)),
           (pg_catalog.array_agg(p.tx_id ORDER BY p.tx_id DESC, p.position DESC))[1],
           (pg_catalog.array_agg(p.position ORDER BY p.tx_id DESC, p.position DESC))[1]
      INTO v_count, v_entries, v_tx, v_pos
      FROM page p;

    IF v_count = 0 THEN
        r_new := false;
        r_seal_number := v_last.seal_number;
        r_through_tx := v_last.through_tx;
        r_through_position := v_last.through_position;
        r_event_count := v_last.event_count;
        r_previous_hash := v_last.previous_hash;
        r_hash := v_last.hash;
        r_sealed_at := v_last.sealed_at;
        RETURN;
    END IF;

    r_new := true;
    r_seal_number := coalesce(v_last.seal_number, 0) + 1;
    r_through_tx := v_tx;
    r_through_position := v_pos;
    r_event_count := v_count;
    r_previous_hash := v_previous;
    r_hash := pg_catalog.sha256(
        pg_catalog.convert_to('crm-eventstore/seal/v1', 'UTF8')
        || pg_catalog.int4send(pg_catalog.octet_length(pg_catalog.convert_to(p_tenant, 'UTF8')))
        || pg_catalog.convert_to(p_tenant, 'UTF8')
        || v_previous
        || pg_catalog.int8send(r_seal_number)
        || pg_catalog.int8send(v_tx::pg_catalog.text::pg_catalog.int8)
        || pg_catalog.int8send(v_pos)
        || pg_catalog.int8send(v_count)
        || v_entries);
    r_sealed_at := pg_catalog.clock_timestamp();

    INSERT INTO %1$I.log_seals (tenant_id, seal_number, through_tx, through_position, event_count,
                                previous_hash, hash, sealed_at)
    VALUES (p_tenant, r_seal_number, r_through_tx, r_through_position, r_event_count,
            r_previous_hash, r_hash, r_sealed_at);
END
$body$;
$function$, pg_catalog.current_schema());
END
$migration$;

REVOKE ALL ON log_seals FROM PUBLIC;
REVOKE ALL ON FUNCTION eventstore_seal(text, integer) FROM PUBLIC;
GRANT SELECT ON log_seals TO crm_eventstore_app;
GRANT EXECUTE ON FUNCTION eventstore_seal(text, integer) TO crm_eventstore_app;
