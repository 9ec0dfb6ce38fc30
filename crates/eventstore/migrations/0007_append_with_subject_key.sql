-- 0007: an append that first makes sure its data subject's key is the one the client used.
--
-- Why. A command creating an aggregate with personal data (a new lead) needed two round trips:
-- one for the subject's key (created on first use, 0006), one for the append. The client now
-- makes a candidate key, encrypts with it, and sends both here: the key is stored unless the
-- subject has one, and the append runs only if the subject's key is the candidate. Otherwise
-- (the subject has another key, or was shredded) nothing is appended and SQLSTATE CRMK1 says
-- so; the client then asks for the subject's key and appends the usual way. Both run in the
-- statement's one transaction; an append refused for a conflict still keeps the key it
-- stored, which is harmless (a key without events) and is the key the client's retry gets.

CREATE FUNCTION eventstore_append_with_subject_key(
    p_subject          text,
    p_lock             bigint,
    p_key              bytea,
    p_tenant           text,
    p_stream           text,
    p_expected_kind    smallint,
    p_expected_version bigint,
    p_idempotency_key  text,
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
VOLATILE
AS $$
BEGIN
    IF eventstore_subject_key(p_tenant, p_subject, p_lock, p_key) IS DISTINCT FROM p_key THEN
        RAISE EXCEPTION 'subject % has another key or was shredded', p_subject
            USING ERRCODE = 'CRMK1';
    END IF;
    SELECT a.r_outcome, a.r_stream_version, a.r_tx_id, a.r_positions, a.r_recorded_at,
           a.r_stream_id
      INTO r_outcome, r_stream_version, r_tx_id, r_positions, r_recorded_at, r_stream_id
      FROM eventstore_append(p_tenant, p_stream, p_expected_kind, p_expected_version,
                             p_idempotency_key, p_request_hash, p_event_ids, p_event_types,
                             p_schema_versions, p_payloads, p_metadata, p_content_digests,
                             p_notify) AS a;
END;
$$;

REVOKE ALL ON FUNCTION eventstore_append_with_subject_key(text, bigint, bytea, text, text,
    smallint, bigint, text, bytea, uuid[], text[], integer[], json[], json[], bytea[], boolean)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION eventstore_append_with_subject_key(text, bigint, bytea, text, text,
    smallint, bigint, text, bytea, uuid[], text[], integer[], json[], json[], bytea[], boolean)
    TO crm_eventstore_app;
