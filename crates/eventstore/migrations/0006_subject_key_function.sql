-- 0006: a subject's encryption key, created on first use, in one round trip.
--
-- Why. Creating a key took six round trips from the client (look, begin, lock, look again,
-- insert, commit), paid by every command that writes a new person's data: a new lead's first
-- event. The same steps run here, in one call.
--
-- Contract, the same as before (src/crypto/postgres.rs): an existing key is returned without a
-- lock; otherwise, under the subject's advisory lock (the one shredding takes), a shredded
-- subject gets no key (NULL) and a new one is stored unless a concurrent first use stored one
-- first, whose key is returned. The function is VOLATILE, so in READ COMMITTED each statement
-- below reads with a fresh snapshot: after the lock, a shredding that committed meanwhile is
-- seen. It runs with the caller's rights, like the statements it replaces.

CREATE FUNCTION eventstore_subject_key(
    p_tenant text,
    p_subject text,
    p_lock bigint,
    p_new_key bytea
) RETURNS bytea
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_key bytea;
BEGIN
    SELECT key INTO v_key FROM subject_keys
        WHERE tenant_id = p_tenant AND subject_id = p_subject;
    IF v_key IS NOT NULL THEN
        RETURN v_key;
    END IF;
    PERFORM pg_advisory_xact_lock(p_lock);
    IF EXISTS (SELECT 1 FROM shredded_subjects
               WHERE tenant_id = p_tenant AND subject_id = p_subject) THEN
        RETURN NULL;
    END IF;
    INSERT INTO subject_keys (tenant_id, subject_id, key)
        VALUES (p_tenant, p_subject, p_new_key)
        ON CONFLICT (tenant_id, subject_id) DO NOTHING;
    SELECT key INTO v_key FROM subject_keys
        WHERE tenant_id = p_tenant AND subject_id = p_subject;
    RETURN v_key;
END;
$$;

REVOKE ALL ON FUNCTION eventstore_subject_key(text, text, bigint, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION eventstore_subject_key(text, text, bigint, bytea) TO crm_eventstore_app;
