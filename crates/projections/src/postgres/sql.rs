//! The SQL of the PostgreSQL adapter: the bookkeeping tables every projection shares, and the
//! statements over one model version's document table (built once per table, since the
//! table's name and indexed columns come from the model).

use std::fmt::Write as _;

use crate::model::{ColumnType, IndexedColumn};
use crate::storage::table::column_name;

/// Serializes schema changes of concurrent processes (`CREATE TABLE IF NOT EXISTS` is not safe
/// against a concurrent create of the same table).
pub(crate) const SCHEMA_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('crm_projections_schema', 0))";

/// The tables every projection shares. Every key is led by the projection and the tenant.
///
/// - `projection_checkpoints`: per projection table (model name and version) and tenant, the
///   position processed through (NULL: nothing yet), committed with the documents.
/// - `projection_parked`: events a projector could not decode and set aside, to be fixed and
///   replayed one by one.
/// - `projection_versions`: per model name and tenant, the version readers are served from;
///   a rebuild switches it in one update (blue/green).
pub(crate) const BOOKKEEPING: &str = "
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    projection text        NOT NULL,
    tenant_id  text        NOT NULL,
    tx_id      bigint      NULL,
    position   bigint      NULL,
    events     bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, tenant_id)
);
CREATE TABLE IF NOT EXISTS projection_parked (
    projection     text        NOT NULL,
    tenant_id      text        NOT NULL,
    tx_id          bigint      NOT NULL,
    position       bigint      NOT NULL,
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL,
    reason         text        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    parked_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, tenant_id, tx_id, position)
);
CREATE TABLE IF NOT EXISTS projection_versions (
    model        text        NOT NULL,
    tenant_id    text        NOT NULL,
    live_version integer     NOT NULL,
    switched_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, tenant_id)
);
ALTER TABLE projection_checkpoints ADD COLUMN IF NOT EXISTS generation bigint NOT NULL DEFAULT 0;
";

/// Makes sure the tenant's checkpoint row exists, so that the next statement can lock it.
pub(crate) const CHECKPOINT_ROW: &str = "INSERT INTO projection_checkpoints (projection, tenant_id) \
     VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// The checkpoint and its generation (bumped by each promotion of a rebuild in place),
/// locked until the transaction ends: concurrent writers of one projection queue here, and
/// the second finds the checkpoint moved.
pub(crate) const LOCK_CHECKPOINT: &str = "SELECT tx_id, position, generation \
     FROM projection_checkpoints WHERE projection = $1 AND tenant_id = $2 FOR UPDATE";

/// A staging twin's checkpoint with its event count, locked, for its promotion.
pub(crate) const LOCK_STAGED_CHECKPOINT: &str = "SELECT tx_id, position, events \
     FROM projection_checkpoints WHERE projection = $1 AND tenant_id = $2 FOR UPDATE";

/// Sets the serving table's checkpoint to a promoted twin's and bumps its generation.
pub(crate) const PROMOTE_CHECKPOINT: &str = "UPDATE projection_checkpoints \
     SET tx_id = $3, position = $4, events = $5, generation = generation + 1, \
     updated_at = now() WHERE projection = $1 AND tenant_id = $2";

/// Copies a promoted twin's (`$3`) parked events of tenant `$2` to projection `$1`.
pub(crate) const PROMOTE_PARKED: &str = "INSERT INTO projection_parked (projection, tenant_id, \
     tx_id, position, stream_id, version, event_id, event_type, schema_version, reason, \
     recorded_at, parked_at) SELECT $1, tenant_id, tx_id, position, stream_id, version, \
     event_id, event_type, schema_version, reason, recorded_at, parked_at \
     FROM projection_parked WHERE projection = $3 AND tenant_id = $2";

pub(crate) const READ_CHECKPOINT: &str = "SELECT tx_id, position FROM projection_checkpoints \
     WHERE projection = $1 AND tenant_id = $2";

pub(crate) const SAVE_CHECKPOINT: &str = "UPDATE projection_checkpoints \
     SET tx_id = $3, position = $4, events = events + $5, updated_at = now() \
     WHERE projection = $1 AND tenant_id = $2";

pub(crate) const FORGET_CHECKPOINT: &str =
    "DELETE FROM projection_checkpoints WHERE projection = $1 AND tenant_id = $2";

pub(crate) const PARK: &str = "INSERT INTO projection_parked (projection, tenant_id, tx_id, \
     position, stream_id, version, event_id, event_type, schema_version, reason, recorded_at) \
     SELECT $1, $2, u.tx_id, u.position, u.stream_id, u.version, u.event_id, u.event_type, \
     u.schema_version, u.reason, u.recorded_at \
     FROM unnest($3::int8[], $4::int8[], $5::text[], $6::int8[], $7::uuid[], $8::text[], \
     $9::int4[], $10::text[], $11::timestamptz[]) \
     AS u(tx_id, position, stream_id, version, event_id, event_type, schema_version, reason, \
     recorded_at) ON CONFLICT DO NOTHING";

pub(crate) const PARKED: &str = "SELECT tx_id, position, stream_id, version, event_id, \
     event_type, schema_version, reason, recorded_at FROM projection_parked \
     WHERE projection = $1 AND tenant_id = $2 ORDER BY tx_id, position";

pub(crate) const FORGET_PARKED: &str =
    "DELETE FROM projection_parked WHERE projection = $1 AND tenant_id = $2";

pub(crate) const LIVE_VERSION: &str =
    "SELECT live_version FROM projection_versions WHERE model = $1 AND tenant_id = $2";

/// Makes `$3` the live version of model `$1` for tenant `$2`, in one statement.
pub(crate) const SWITCH_LIVE: &str = "INSERT INTO projection_versions (model, tenant_id, \
     live_version) VALUES ($1, $2, $3) ON CONFLICT (model, tenant_id) DO UPDATE \
     SET live_version = excluded.live_version, switched_at = now()";

/// Claims the live version only when none is set yet.
pub(crate) const CLAIM_LIVE: &str = "INSERT INTO projection_versions (model, tenant_id, \
     live_version) VALUES ($1, $2, $3) ON CONFLICT (model, tenant_id) DO NOTHING";

/// How many of the tenant's events lie after checkpoint ($2, $3), and when the oldest of them
/// was recorded. Reads the event store's table directly: an exact count is one index range
/// scan, where paging through the events would read every payload.
pub(crate) const EVENTS_AFTER: &str = "SELECT count(*), min(recorded_at) FROM events \
     WHERE tenant_id = $1 AND (tx_id, position) > ($2::text::xid8, $3)";

/// Locks documents `$3` of tenant `$2` in table `$1` until the transaction ends, in key order
/// (so two writers never wait on each other in a cycle), whether or not the documents exist
/// yet: what inline writers, which hold no checkpoint lock, queue on.
pub(crate) const LOCK_KEYS: &str = "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(\
     hashtextextended($1 || chr(31) || $2 || chr(31) || s.key, 11)) \
     FROM (SELECT DISTINCT key FROM unnest($3::text[]) AS k(key) ORDER BY key) AS s) AS l";

/// Takes the session-level lease of one projection for one tenant, without waiting.
pub(crate) const TRY_LEASE: &str = "SELECT pg_try_advisory_lock(hashtextextended($1, 7))";

/// The SQL over one model version's document table.
#[derive(Debug, Clone)]
pub(crate) struct TableSql {
    pub(crate) create: String,
    pub(crate) load: String,
    /// The stamps (no documents) of the named keys.
    pub(crate) stamps: String,
    pub(crate) upsert: String,
    /// A binary COPY of new rows, columns in the order of `upsert`'s (tenant first).
    pub(crate) copy_in: String,
    pub(crate) delete: String,
    /// Every column, in the table's order (for copying rows between twins).
    pub(crate) columns: String,
    pub(crate) get: String,
    pub(crate) all: String,
    pub(crate) forget_tenant: String,
}

pub(crate) fn sql_type(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Text => "text",
        ColumnType::Uuid => "uuid",
        ColumnType::Int => "int8",
        ColumnType::Time => "timestamptz",
        ColumnType::Bool => "bool",
    }
}

impl TableSql {
    /// The statements over `table`, whose indexed columns are `columns`. Names are checked by
    /// the caller (see `storage::table::table_name`).
    pub(crate) fn new(table: &str, columns: &[IndexedColumn]) -> Self {
        let mut create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n    tenant_id text NOT NULL,\n    \
             key text COLLATE \"C\" NOT NULL,\n    kind text NOT NULL,\n    \
             tx_id bigint NOT NULL,\n    position bigint NOT NULL,\n    doc jsonb NOT NULL"
        );
        for column in columns {
            let collate = if column.column_type == ColumnType::Text {
                " COLLATE \"C\""
            } else {
                ""
            };
            let _ = write!(
                create,
                ",\n    {} {}{collate} NULL",
                column_name(column.name),
                sql_type(column.column_type)
            );
        }
        create.push_str(",\n    PRIMARY KEY (tenant_id, key)\n);\n");
        for column in columns {
            let name = column_name(column.name);
            let _ = writeln!(
                create,
                "CREATE INDEX IF NOT EXISTS {table}_{name} ON {table} (tenant_id, kind, {name}, key);"
            );
        }

        let mut names = String::from("key, kind, tx_id, position, doc");
        // Documents travel as JSON text (serialized straight from the model's type) and are
        // parsed once, by the server, into jsonb.
        let mut selected = String::from("key, kind, tx_id, position, doc::jsonb");
        let mut unnest = String::from("$2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[]");
        let mut updates = String::from(
            "kind = excluded.kind, tx_id = excluded.tx_id, position = excluded.position, \
             doc = excluded.doc",
        );
        for (index, column) in columns.iter().enumerate() {
            let name = column_name(column.name);
            let _ = write!(names, ", {name}");
            let _ = write!(selected, ", {name}");
            let _ = write!(
                unnest,
                ", ${}::{}[]",
                index + 7,
                sql_type(column.column_type)
            );
            let _ = write!(updates, ", {name} = excluded.{name}");
        }
        let upsert = format!(
            "INSERT INTO {table} (tenant_id, {names}) SELECT $1, {selected} FROM unnest({unnest}) \
             AS u({names}) ON CONFLICT (tenant_id, key) DO UPDATE SET {updates}"
        );
        let copy_in = format!("COPY {table} (tenant_id, {names}) FROM STDIN (FORMAT binary)");
        Self {
            create,
            load: format!(
                "SELECT key, tx_id, position, doc FROM {table} WHERE tenant_id = $1 AND key = ANY($2)"
            ),
            stamps: format!(
                "SELECT key, tx_id, position FROM {table} WHERE tenant_id = $1 AND key = ANY($2)"
            ),
            upsert,
            copy_in,
            delete: format!("DELETE FROM {table} WHERE tenant_id = $1 AND key = ANY($2)"),
            columns: format!("tenant_id, {names}"),
            get: format!(
                "SELECT key, tx_id, position, doc FROM {table} WHERE tenant_id = $1 AND key = $2"
            ),
            all: format!(
                "SELECT key, tx_id, position, doc FROM {table} WHERE tenant_id = $1 ORDER BY key"
            ),
            forget_tenant: format!("DELETE FROM {table} WHERE tenant_id = $1"),
        }
    }
}
