//! The SQL the PostgreSQL backend runs, next to nothing else. The schema and the append
//! function are in `migrations/`.

/// Appends a batch: one call, one round trip (see `eventstore_append`: designed in
/// `0001_events.sql`, its body as it now stands in `0003_cheaper_append.sql`).
pub(crate) const APPEND: &str = "SELECT r_outcome, r_stream_version, r_tx_id, r_positions, \
     r_recorded_at, r_stream_id FROM eventstore_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
     $11, $12, $13)";

/// [`APPEND`] after making sure the data subject's key is the client's candidate ($1 subject,
/// $2 lock id, $3 key; migration 0007).
pub(crate) const APPEND_WITH_SUBJECT_KEY: &str = "SELECT r_outcome, r_stream_version, r_tx_id, \
     r_positions, r_recorded_at, r_stream_id FROM eventstore_append_with_subject_key($1, $2, $3, \
     $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// The columns every event read selects, in the order `row_to_raw` expects.
macro_rules! event_columns {
    () => {
        "stream_id, version, position, tx_id, event_id, event_type, schema_version, payload, \
         metadata, recorded_at, hash, previous_hash"
    };
}

/// A stream forward: versions $3..=$4, recorded at or before $5 (if given), at most $6.
pub(crate) const READ_STREAM_FORWARD: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE tenant_id = $1 AND stream_id = $2 AND version BETWEEN $3 AND $4 \
     AND ($5::timestamptz IS NULL OR recorded_at <= $5) ORDER BY version LIMIT $6"
);

/// A stream backward: the same range, newest first.
pub(crate) const READ_STREAM_BACKWARD: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE tenant_id = $1 AND stream_id = $2 AND version BETWEEN $3 AND $4 \
     AND ($5::timestamptz IS NULL OR recorded_at <= $5) ORDER BY version DESC LIMIT $6"
);

pub(crate) const STREAM_VERSION: &str =
    "SELECT version FROM streams WHERE tenant_id = $1 AND stream_id = $2";

/// The versions of those of the streams $2 of tenant $1 that exist.
pub(crate) const STREAM_VERSIONS: &str =
    "SELECT stream_id, version FROM streams WHERE tenant_id = $1 AND stream_id = ANY($2)";

/// Which of the streams $2 of tenant $1 exist.
pub(crate) const EXISTING_STREAMS: &str =
    "SELECT stream_id FROM streams WHERE tenant_id = $1 AND stream_id = ANY($2)";

/// A page of a tenant's events after checkpoint ($2, $3), only from transactions below the
/// oldest open one: every transaction there has ended, and every later one sorts after. One
/// statement, so one snapshot: when the page is empty, the last column says whether committed
/// events wait behind that oldest open transaction (its id), judged by the same snapshot.
/// (That probe is written as an ordered `LIMIT 1` so it walks the global-order index: at the
/// live tail it finds nothing, and an `EXISTS` was planned as a scan of the whole table.)
/// The page is picked in global order by the ordered `LIMIT` inside the lateral join, and the
/// join emits it in that order; there is no outer `ORDER BY`, since the planner cannot see
/// that order through the join and would sort every page again (measured: about half of the
/// statement's time at 1000 rows). SQL does not promise that output order, so the reader
/// checks it and sorts a page that comes out of order.
pub(crate) const READ_ALL: &str = concat!(
    "WITH horizon AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) \
     SELECT page.*, CASE WHEN page.stream_id IS NULL AND (SELECT e.tx_id FROM events e \
     WHERE e.tenant_id = $1 AND (e.tx_id, e.position) > ($2, $3) AND e.tx_id >= horizon.xmin \
     ORDER BY e.tx_id, e.position LIMIT 1) IS NOT NULL THEN horizon.xmin END \
     FROM horizon LEFT JOIN LATERAL (SELECT ",
    event_columns!(),
    " FROM events WHERE tenant_id = $1 AND (tx_id, position) > ($2, $3) \
     AND tx_id < horizon.xmin ORDER BY tx_id, position LIMIT $4) page ON true"
);

/// A page of stream heads joined with their events, in (stream, version) order, after
/// ($2, $3), optionally for one stream ($4).
pub(crate) const VERIFY_PAGE: &str = "SELECT s.stream_id, s.version, s.last_hash, e.version, \
     e.position, e.tx_id, e.event_id, e.event_type, e.schema_version, e.payload, e.metadata, \
     e.recorded_at, e.hash, e.previous_hash \
     FROM streams s LEFT JOIN events e ON e.tenant_id = s.tenant_id AND e.stream_id = s.stream_id \
     WHERE s.tenant_id = $1 AND ($4::text IS NULL OR s.stream_id = $4) \
     AND (s.stream_id > $2 OR (s.stream_id = $2 AND e.version > $3)) \
     ORDER BY s.stream_id, e.version LIMIT $5";

/// The first event (if any) whose stream has no head row.
pub(crate) const VERIFY_ORPHAN: &str = "SELECT e.stream_id, e.version, e.event_id FROM events e \
     WHERE e.tenant_id = $1 AND ($2::text IS NULL OR e.stream_id = $2) \
     AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.tenant_id = e.tenant_id \
     AND s.stream_id = e.stream_id) ORDER BY e.stream_id, e.version LIMIT 1";

/// Saves a snapshot unless the stream is behind it; returns the stream's version.
pub(crate) const SAVE_SNAPSHOT: &str = "WITH head AS (SELECT max(version) AS version FROM streams \
     WHERE tenant_id = $1 AND stream_id = $2), saved AS ( \
     INSERT INTO snapshots (tenant_id, stream_id, snapshot_type, schema_version, stream_version, state) \
     SELECT $1, $2, $3, $4, $5, $6 FROM head WHERE coalesce(head.version, 0) >= $5 \
     ON CONFLICT (tenant_id, stream_id, snapshot_type) DO UPDATE \
     SET schema_version = excluded.schema_version, stream_version = excluded.stream_version, \
     state = excluded.state, taken_at = now() \
     WHERE snapshots.schema_version <> excluded.schema_version \
     OR snapshots.stream_version <= excluded.stream_version RETURNING 1) \
     SELECT head.version FROM head";

pub(crate) const LOAD_SNAPSHOT: &str = "SELECT schema_version, stream_version, state FROM snapshots \
     WHERE tenant_id = $1 AND stream_id = $2 AND snapshot_type = $3";

pub(crate) const DISCARD_SNAPSHOT: &str = "DELETE FROM snapshots WHERE tenant_id = $1 \
     AND stream_id = $2 AND snapshot_type = $3 AND schema_version <> $4";

/// The wake-up hint for other processes' subscribers (payload-free: it only says "look"),
/// committed without waiting for the WAL flush. A notifying transaction takes a transaction id
/// and so writes a commit record; waiting for it to reach disk cost a flush per append burst,
/// queued with the appends' own commits, for a hint that needs no durability (it is delivered
/// at commit either way, and a lost one only delays a subscriber until its next poll). One
/// statement, so a failure leaves no transaction open on the pooled connection.
pub(crate) const NOTIFY: &str =
    "SELECT set_config('synchronous_commit', 'off', true), pg_notify('crm_eventstore', '')";
pub(crate) const LISTEN: &str = "LISTEN crm_eventstore";

/// The stored coordinates of the given event ids ($2) of a tenant: what a retry of an append
/// whose outcome was unknown is compared with.
pub(crate) const STORED_LINKS: &str = "SELECT event_id, stream_id, version, position, tx_id, \
     recorded_at, hash, previous_hash FROM events WHERE tenant_id = $1 AND event_id = ANY($2)";

/// Seals the next stretch of a tenant's global order ($2: at most that many events).
pub(crate) const SEAL: &str = "SELECT r_new, r_seal_number, r_through_tx, r_through_position, \
     r_event_count, r_previous_hash, r_hash, r_sealed_at FROM eventstore_seal($1, $2)";

/// A tenant's seals, oldest first.
pub(crate) const SEALS: &str = "SELECT true, seal_number, through_tx, through_position, \
     event_count, previous_hash, hash, sealed_at FROM log_seals WHERE tenant_id = $1 \
     ORDER BY seal_number";

/// The positions and hashes of a tenant's events in global order, up to ($2, $3).
pub(crate) const SEALED_EVENTS: &str = "SELECT tx_id, position, hash FROM events \
     WHERE tenant_id = $1 AND (tx_id, position) <= ($2, $3) ORDER BY tx_id, position";

/// Every stream head of a tenant, by name.
pub(crate) const STREAM_HEADS: &str = "SELECT stream_id, version, last_hash FROM streams \
     WHERE tenant_id = $1 ORDER BY stream_id";

/// For each (stream $2[i], version $3[i]) of a manifest: the stream's version now and the hash
/// of its event at that version, in the manifest's order.
pub(crate) const MANIFEST_STREAMS: &str = "SELECT s.version, e.hash \
     FROM unnest($2::text[], $3::int8[]) WITH ORDINALITY AS m(stream, version, n) \
     LEFT JOIN streams s ON s.tenant_id = $1 AND s.stream_id = m.stream \
     LEFT JOIN events e ON e.tenant_id = $1 AND e.stream_id = m.stream AND e.version = m.version \
     ORDER BY m.n";

/// Every tenant with a stream (a stream exists once it has an event).
pub(crate) const TENANTS: &str = "SELECT DISTINCT tenant_id FROM streams ORDER BY tenant_id";

/// A page of a tenant's events after (stream $2, version $3) in (stream, version) order, at
/// most $4: an audit export's page.
pub(crate) const EXPORT_PAGE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE tenant_id = $1 AND (stream_id, version) > ($2, $3) \
     ORDER BY stream_id, version LIMIT $4"
);

/// Takes the append lock of each stream $2 of tenant $1 (the one `eventstore_append` takes),
/// in the order given.
pub(crate) const LOCK_STREAMS: &str = "SELECT pg_advisory_xact_lock(\
     hashtextextended($1 || chr(31) || stream, 1469598103)) FROM unnest($2::text[]) AS stream";

/// The heads of streams $2 of tenant $1, and whether a transaction newer than this one wrote
/// each (see `eventstore_append`, outcome 4).
pub(crate) const IMPORT_HEADS: &str = "SELECT stream_id, version, last_hash, last_recorded_at, \
     last_tx_id > pg_current_xact_id() FROM streams \
     WHERE tenant_id = $1 AND stream_id = ANY($2::text[])";

/// The id and hash of the stored events at (stream $2[i], version $3[i]) of tenant $1.
pub(crate) const IMPORT_STORED: &str = "SELECT e.stream_id, e.version, e.event_id, e.hash \
     FROM unnest($2::text[], $3::int8[]) AS wanted (stream_id, version) \
     JOIN events e ON e.tenant_id = $1 AND e.stream_id = wanted.stream_id \
     AND e.version = wanted.version";

/// Which of the event ids $2 tenant $1 has.
pub(crate) const IMPORT_USED_IDS: &str =
    "SELECT event_id FROM events WHERE tenant_id = $1 AND event_id = ANY($2::uuid[])";

/// Writes imported events verbatim, in this transaction, with positions drawn up front and
/// given in batch order (as `eventstore_append` draws them).
pub(crate) const IMPORT_EVENTS: &str = "INSERT INTO events (tenant_id, stream_id, version, \
     position, tx_id, event_id, event_type, schema_version, payload, metadata, recorded_at, \
     hash, previous_hash) \
     SELECT $1, u.stream_id, u.version, drawn.positions[u.n::int4], pg_current_xact_id(), \
     u.event_id, u.event_type, u.schema_version, u.payload, u.metadata, u.recorded_at, u.hash, \
     u.previous_hash \
     FROM (SELECT array_agg(p.position ORDER BY p.position) AS positions \
           FROM (SELECT nextval('events_position_seq') AS position \
                 FROM generate_series(1, cardinality($2::text[]))) p) drawn, \
     unnest($2::text[], $3::int8[], $4::uuid[], $5::text[], $6::int4[], $7::json[], $8::json[], \
            $9::timestamptz[], $10::bytea[], $11::bytea[]) WITH ORDINALITY \
     AS u (stream_id, version, event_id, event_type, schema_version, payload, metadata, \
           recorded_at, hash, previous_hash, n)";

/// Moves the heads of the streams an import wrote to (or makes them), as an append does.
pub(crate) const IMPORT_MOVE_HEADS: &str = "INSERT INTO streams (tenant_id, stream_id, version, \
     last_hash, last_tx_id, last_recorded_at) \
     SELECT $1, h.stream_id, h.version, h.hash, pg_current_xact_id(), h.recorded_at \
     FROM unnest($2::text[], $3::int8[], $4::bytea[], $5::timestamptz[]) \
     AS h (stream_id, version, hash, recorded_at) \
     ON CONFLICT (tenant_id, stream_id) DO UPDATE SET version = excluded.version, \
     last_hash = excluded.last_hash, last_tx_id = excluded.last_tx_id, \
     last_recorded_at = excluded.last_recorded_at";

/// A stream's event at a version ($1 tenant, $2 stream, $3 version), as stored.
pub(crate) const EXPORT_EVENT: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE tenant_id = $1 AND stream_id = $2 AND version = $3"
);
