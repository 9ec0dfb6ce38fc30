//! The SQL of the SQLite adapter: the bookkeeping tables every projection shares (migrations of
//! component `projections`), the statements over one model version's document table (its own
//! migration component, since its name and columns come from the model), and how indexed
//! values are written so that SQLite orders them as the in-memory reference does.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;

use crate::model::{ColumnType, Comparison, IndexValue, IndexedColumn, Selection};
use crate::storage::table::column_name;

/// The migration component of the bookkeeping tables.
pub(crate) const COMPONENT: &str = "projections";

/// The bookkeeping tables every projection shares, as in PostgreSQL (see the PostgreSQL
/// adapter's `sql.rs`): checkpoints, parked events and live versions, each keyed by the
/// projection (or model) and the tenant's canonical (lower-case) id. Times are RFC 3339 text.
pub(crate) const MIGRATIONS: &[(u32, &str)] = &[(
    1,
    "CREATE TABLE projection_checkpoints (
    projection TEXT    NOT NULL,
    tenant_id  TEXT    NOT NULL,
    tx_id      INTEGER NULL,
    position   INTEGER NULL,
    events     INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (projection, tenant_id)
) STRICT;
CREATE TABLE projection_parked (
    projection     TEXT    NOT NULL,
    tenant_id      TEXT    NOT NULL,
    tx_id          INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_id       TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    parked_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (projection, tenant_id, tx_id, position)
) STRICT;
CREATE TABLE projection_versions (
    model        TEXT    NOT NULL,
    tenant_id    TEXT    NOT NULL,
    live_version INTEGER NOT NULL,
    switched_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (model, tenant_id)
) STRICT;",
)];

pub(crate) const READ_CHECKPOINT: &str = "SELECT tx_id, position FROM projection_checkpoints \
     WHERE projection = ?1 AND tenant_id = ?2";

/// Moves the checkpoint (creating its row on the first batch) and counts the events applied.
pub(crate) const SAVE_CHECKPOINT: &str = "INSERT INTO projection_checkpoints \
     (projection, tenant_id, tx_id, position, events) VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (projection, tenant_id) DO UPDATE SET tx_id = excluded.tx_id, \
     position = excluded.position, events = events + excluded.events, \
     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Sets projection `?1`'s checkpoint of tenant `?2` to a promoted twin's (`?3`), events
/// counted included.
pub(crate) const PROMOTE_CHECKPOINT: &str = "INSERT INTO projection_checkpoints \
     (projection, tenant_id, tx_id, position, events) \
     SELECT ?1, tenant_id, tx_id, position, events FROM projection_checkpoints \
     WHERE projection = ?3 AND tenant_id = ?2 \
     ON CONFLICT (projection, tenant_id) DO UPDATE SET tx_id = excluded.tx_id, \
     position = excluded.position, events = excluded.events, \
     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Copies a promoted twin's (`?3`) parked events of tenant `?2` to projection `?1`.
pub(crate) const PROMOTE_PARKED: &str = "INSERT INTO projection_parked (projection, tenant_id, \
     tx_id, position, stream_id, version, event_id, event_type, schema_version, reason, \
     recorded_at, parked_at) SELECT ?1, tenant_id, tx_id, position, stream_id, version, \
     event_id, event_type, schema_version, reason, recorded_at, parked_at \
     FROM projection_parked WHERE projection = ?3 AND tenant_id = ?2";

pub(crate) const FORGET_CHECKPOINT: &str =
    "DELETE FROM projection_checkpoints WHERE projection = ?1 AND tenant_id = ?2";

pub(crate) const PARK: &str = "INSERT INTO projection_parked (projection, tenant_id, tx_id, \
     position, stream_id, version, event_id, event_type, schema_version, reason, recorded_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING";

pub(crate) const PARKED: &str = "SELECT tx_id, position, stream_id, version, event_id, \
     event_type, schema_version, reason, recorded_at FROM projection_parked \
     WHERE projection = ?1 AND tenant_id = ?2 ORDER BY tx_id, position";

pub(crate) const FORGET_PARKED: &str =
    "DELETE FROM projection_parked WHERE projection = ?1 AND tenant_id = ?2";

pub(crate) const LIVE_VERSION: &str =
    "SELECT live_version FROM projection_versions WHERE model = ?1 AND tenant_id = ?2";

/// Makes `?3` the live version of model `?1` for tenant `?2`, in one statement.
pub(crate) const SWITCH_LIVE: &str = "INSERT INTO projection_versions (model, tenant_id, \
     live_version) VALUES (?1, ?2, ?3) ON CONFLICT (model, tenant_id) DO UPDATE \
     SET live_version = excluded.live_version, \
     switched_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Claims the live version only when none is set yet.
pub(crate) const CLAIM_LIVE: &str = "INSERT INTO projection_versions (model, tenant_id, \
     live_version) VALUES (?1, ?2, ?3) ON CONFLICT (model, tenant_id) DO NOTHING";

/// The SQLite type of an indexed column. Every type keeps the order of the in-memory
/// reference under SQLite's comparison: text in byte order (the `BINARY` collation), UUIDs as
/// their lower-case hyphenated text (whose order is their bytes'), instants as
/// [`time_key`] blobs, booleans as 0 and 1.
fn sql_type(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Text | ColumnType::Uuid => "TEXT",
        ColumnType::Int | ColumnType::Bool => "INTEGER",
        ColumnType::Time => "BLOB",
    }
}

/// An instant as 12 bytes that compare (bytewise, as SQLite compares blobs) as the instants
/// do, to the nanosecond and over chrono's whole range: the seconds since the epoch in
/// big-endian two's complement with the sign bit flipped, then the nanoseconds in big-endian.
pub(crate) fn time_key(at: &DateTime<Utc>) -> Vec<u8> {
    let mut key = Vec::with_capacity(12);
    key.extend_from_slice(&at.timestamp().to_be_bytes());
    if let Some(first) = key.first_mut() {
        *first ^= 0x80;
    }
    key.extend_from_slice(&at.timestamp_subsec_nanos().to_be_bytes());
    key
}

/// An indexed value as SQLite keeps it (see [`sql_type`]).
pub(crate) fn index_value(value: &IndexValue) -> Value {
    match value {
        IndexValue::Text(text) => Value::Text(text.clone()),
        IndexValue::Uuid(id) => Value::Text(id.to_string()),
        IndexValue::Int(number) => Value::Integer(*number),
        IndexValue::Time(at) => Value::Blob(time_key(at)),
        IndexValue::Bool(flag) => Value::Integer(i64::from(*flag)),
    }
}

/// The SQL over one model version's document table.
#[derive(Debug, Clone)]
pub(crate) struct TableSql {
    pub(crate) table: String,
    /// The table and its indexes: the one migration of the table's component.
    pub(crate) create: String,
    pub(crate) load: String,
    pub(crate) upsert: String,
    pub(crate) delete: String,
    pub(crate) all: String,
    pub(crate) forget_tenant: String,
    /// Every column, in the table's order (for copying rows between twins).
    pub(crate) columns: String,
}

impl TableSql {
    /// The statements over `table`, whose indexed columns are `columns`. Names are checked by
    /// the caller (see `storage::table::table_name`).
    pub(crate) fn new(table: &str, columns: &[IndexedColumn]) -> Self {
        // A rowid table, not WITHOUT ROWID: documents are often larger than the twentieth of
        // a page past which SQLite advises against it.
        let mut create = format!(
            "CREATE TABLE {table} (\n    tenant_id TEXT NOT NULL,\n    key TEXT NOT NULL,\n    \
             kind TEXT NOT NULL,\n    tx_id INTEGER NOT NULL,\n    position INTEGER NOT NULL,\n    \
             doc TEXT NOT NULL"
        );
        for column in columns {
            let _ = write!(
                create,
                ",\n    {} {} NULL",
                column_name(column.name),
                sql_type(column.column_type)
            );
        }
        create.push_str(",\n    PRIMARY KEY (tenant_id, key)\n) STRICT;\n");
        for column in columns {
            let name = column_name(column.name);
            let _ = writeln!(
                create,
                "CREATE INDEX {table}_{name} ON {table} (tenant_id, kind, {name}, key);"
            );
        }

        let mut names = String::from("tenant_id, key, kind, tx_id, position, doc");
        let mut places = String::from("?1, ?2, ?3, ?4, ?5, ?6");
        let mut updates = String::from(
            "kind = excluded.kind, tx_id = excluded.tx_id, position = excluded.position, \
             doc = excluded.doc",
        );
        for (index, column) in columns.iter().enumerate() {
            let name = column_name(column.name);
            let _ = write!(names, ", {name}");
            let _ = write!(places, ", ?{}", index + 7);
            let _ = write!(updates, ", {name} = excluded.{name}");
        }
        Self {
            table: table.to_owned(),
            create,
            load: format!(
                "SELECT key, tx_id, position, doc FROM {table} WHERE tenant_id = ?1 AND key = ?2"
            ),
            upsert: format!(
                "INSERT INTO {table} ({names}) VALUES ({places}) \
                 ON CONFLICT (tenant_id, key) DO UPDATE SET {updates}"
            ),
            delete: format!("DELETE FROM {table} WHERE tenant_id = ?1 AND key = ?2"),
            // (kind, key) is key order: within a kind the key's text ("kind:id[:second]",
            // lower-case hyphenated UUIDs) orders as the key does.
            all: format!(
                "SELECT key, tx_id, position, doc FROM {table} WHERE tenant_id = ?1 \
                 ORDER BY kind, key"
            ),
            forget_tenant: format!("DELETE FROM {table} WHERE tenant_id = ?1"),
            columns: names,
        }
    }

    /// The statement of a scan and its parameters after the tenant (`?1`), or `None` when the
    /// selection can match nothing (a filter or order on an undeclared column, a filter value
    /// of another type, no kinds, a limit of 0).
    pub(crate) fn scan(
        &self,
        columns: &[IndexedColumn],
        selection: &Selection,
    ) -> Option<(String, Vec<Value>)> {
        let mut kinds: Vec<&str> = Vec::new();
        for kind in &selection.kinds {
            if !kinds.contains(kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() || selection.limit == Some(0) {
            return None;
        }
        let mut values: Vec<Value> = kinds
            .iter()
            .map(|kind| Value::Text((*kind).to_owned()))
            .collect();
        let places: Vec<String> = (0..kinds.len()).map(|at| format!("?{}", at + 2)).collect();
        let mut conditions = format!("kind IN ({})", places.join(", "));
        for filter in &selection.filters {
            // A filter on an undeclared column, or with a value of another type, matches
            // nothing, as in memory.
            let column = columns.iter().find(|column| column.name == filter.column)?;
            if column.column_type != filter.value.column_type() {
                return None;
            }
            values.push(index_value(&filter.value));
            let operator = match filter.comparison {
                Comparison::Eq => "=",
                Comparison::Lt => "<",
                Comparison::Le => "<=",
                Comparison::Gt => ">",
                Comparison::Ge => ">=",
            };
            let _ = write!(
                conditions,
                " AND {} {operator} ?{}",
                column_name(column.name),
                values.len() + 1
            );
        }
        let order = match selection.order_by {
            None => {
                if let Some((_, key)) = &selection.after {
                    values.push(Value::Text(key.to_string()));
                    let _ = write!(conditions, " AND key > ?{}", values.len() + 1);
                }
                "kind, key".to_owned()
            }
            Some(order) => {
                let column = columns.iter().find(|column| column.name == order)?;
                let name = column_name(column.name);
                let _ = write!(conditions, " AND {name} IS NOT NULL");
                if let Some((value, key)) = &selection.after {
                    // A cursor of another type than its column matches nothing, as in memory.
                    if value.column_type() != column.column_type {
                        return None;
                    }
                    values.push(index_value(value));
                    values.push(Value::Text(key.to_string()));
                    let (at, key_at) = (values.len(), values.len() + 1);
                    let _ = write!(
                        conditions,
                        " AND ({name} > ?{at} OR ({name} = ?{at} AND key > ?{key_at}))"
                    );
                }
                format!("{name}, kind, key")
            }
        };
        let mut text = format!(
            "SELECT key, tx_id, position, doc FROM {} WHERE tenant_id = ?1 AND {conditions} \
             ORDER BY {order}",
            self.table
        );
        if let Some(limit) = selection.limit {
            values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
            let _ = write!(text, " LIMIT ?{}", values.len() + 1);
        }
        Some((text, values))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn instants_compare_as_their_keys_do() {
        let instants = [
            DateTime::<Utc>::MIN_UTC,
            Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap(),
            Utc.timestamp_opt(-1, 999_999_999).unwrap(),
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.timestamp_opt(0, 1).unwrap(),
            Utc.timestamp_opt(1, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
            DateTime::<Utc>::MAX_UTC,
        ];
        for pair in instants.windows(2) {
            assert!(time_key(&pair[0]) < time_key(&pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn a_selection_that_can_match_nothing_has_no_statement() {
        let columns = [IndexedColumn::new("replies", ColumnType::Int)];
        let sql = TableSql::new("proj_tally_v1", &columns);
        assert!(
            sql.scan(&columns, &Selection::all("ticket").limit(0))
                .is_none()
        );
        assert!(
            sql.scan(&columns, &Selection::all("ticket").order_by("colour"))
                .is_none()
        );
        let (text, values) = sql
            .scan(
                &columns,
                &Selection::of_kinds(&["ticket", "contact", "ticket"])
                    .order_by("replies")
                    .limit(3),
            )
            .unwrap();
        assert!(text.contains("kind IN (?2, ?3)"), "{text}");
        assert!(text.ends_with("LIMIT ?4"), "{text}");
        assert_eq!(values.len(), 3);
    }
}
