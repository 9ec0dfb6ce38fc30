//! What every SQL adapter derives the same way from a model: the name of a model version's
//! table, and the values of its indexed columns for a document. Kept in the port so that the
//! PostgreSQL and SQLite adapters name and fill their tables alike.

use crate::model::{DocKey, IndexValue, ReadModel};
use crate::storage::StorageError;

/// The table of a model version: `proj_<NAME>_v<VERSION>`.
///
/// Fails with [`StorageError::InvalidName`] when `NAME` or a column name is not a plain
/// lower-case identifier, or too long.
pub(crate) fn table_name<M: ReadModel>() -> Result<String, StorageError> {
    // 63 bytes at most (PostgreSQL's limit), less "proj_", "_v" and ten digits, less room
    // for index suffixes.
    if !valid_identifier(M::NAME, 30) {
        return Err(StorageError::InvalidName {
            what: "read model name",
            name: M::NAME.to_owned(),
        });
    }
    if let Some(column) = M::COLUMNS
        .iter()
        .find(|column| !valid_identifier(column.name, 16))
    {
        return Err(StorageError::InvalidName {
            what: "indexed column",
            name: column.name.to_owned(),
        });
    }
    let declared = |name: &str| M::COLUMNS.iter().any(|column| column.name == name);
    if let Some(name) = M::ORDERED_WITHIN
        .iter()
        .flat_map(|(equal, ordered)| [*equal, *ordered])
        .find(|name| !declared(name))
    {
        return Err(StorageError::InvalidName {
            what: "ordered index column (not an indexed column)",
            name: name.to_owned(),
        });
    }
    Ok(format!("proj_{}_v{}", M::NAME, M::VERSION))
}

/// The statements creating the model's ordered indexes on `table` (see
/// [`ReadModel::ORDERED_WITHIN`]), one per pair, in declared order: `{table}_o<n>`, created
/// only where missing.
pub(crate) fn ordered_indexes<M: ReadModel>(table: &str) -> Vec<String> {
    M::ORDERED_WITHIN
        .iter()
        .enumerate()
        .map(|(at, (equal, ordered))| {
            format!(
                "CREATE INDEX IF NOT EXISTS {table}_o{at} ON {table} \
                 (tenant_id, kind, {}, {}, key);",
                column_name(equal),
                column_name(ordered)
            )
        })
        .collect()
}

/// The column holding indexed column `name` (prefixed, so no model column meets ours).
pub(crate) fn column_name(name: &str) -> String {
    format!("c_{name}")
}

/// The values of the model's indexed columns for `doc`, in declared order (`None`: NULL).
/// Fails when the model names an undeclared column or gives a value of another type.
pub(crate) fn indexed_values<M: ReadModel>(
    key: &DocKey,
    doc: &M::Doc,
) -> Result<Vec<Option<IndexValue>>, StorageError> {
    let encode = |reason: String| StorageError::Encode {
        key: key.to_string(),
        reason,
    };
    let mut indexed = M::indexed(key, doc);
    let mut values = Vec::with_capacity(M::COLUMNS.len());
    for declared in M::COLUMNS {
        let value = indexed
            .iter()
            .position(|(name, _)| *name == declared.name)
            .map(|at| indexed.swap_remove(at).1);
        if value
            .as_ref()
            .is_some_and(|value| value.column_type() != declared.column_type)
        {
            return Err(encode(format!(
                "indexed column {} holds a value of another type",
                declared.name
            )));
        }
        values.push(value);
    }
    if let Some((name, _)) = indexed.first() {
        return Err(encode(format!("indexed column {name} is not declared")));
    }
    Ok(values)
}

/// Whether `name` can be used unquoted as (part of) an SQL identifier in PostgreSQL and SQLite: lower-case ASCII
/// letters, digits and `_`, starting with a letter, and at most `max` bytes.
fn valid_identifier(name: &str, max: usize) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= max
}
