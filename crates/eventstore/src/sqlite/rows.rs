//! Between SQLite's values and the store's: range-checked integers, microsecond times, and
//! event rows borrowed as [`RawEvent`]s.

use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::ValueRef;
use uuid::Uuid;

use super::sqlite_error;
use crate::codec::RawEvent;
use crate::{GlobalPosition, StoreError, UnreadableEvent};

/// The columns every event read selects, in the order [`raw_event`] reads them.
macro_rules! event_columns {
    () => {
        "stream_id, version, position, tx_id, event_id, event_type, schema_version, payload, \
         metadata, recorded_at, hash, previous_hash"
    };
}
pub(crate) use event_columns;

pub(crate) fn corrupt(location: impl Into<String>, reason: impl std::fmt::Display) -> StoreError {
    StoreError::CorruptRow {
        location: location.into(),
        reason: reason.to_string(),
    }
}

/// A stored INTEGER as the unsigned number it stands for; a negative one is corrupt.
pub(crate) fn to_u64(value: i64, location: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(location, format!("negative value {value}")))
}

/// A number to store as an INTEGER. Every number the store writes is at most one more than
/// one it read (or a count of a batch), so only a database at the end of `i64` fails here.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Database {
        code: "SQLITE_RANGE".into(),
        message: format!("{what} {value} does not fit SQLite's 64-bit signed integer"),
    })
}

/// A number used only to bound a query: values beyond `i64` bound nothing more than
/// `i64::MAX` does.
pub(crate) fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A `usize` count (a limit) as a query bound.
pub(crate) fn clamp_limit(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A time as stored: microseconds since the Unix epoch.
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A stored time back.
pub(crate) fn from_micros(value: i64, location: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(value)
        .ok_or_else(|| corrupt(location, format!("time {value} is out of range")))
}

/// Maps a rusqlite error of `doing`.
pub(crate) fn failed(doing: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| sqlite_error(doing, &error)
}

fn text<'r>(row: &'r Row<'_>, column: usize, what: &str) -> Result<&'r str, StoreError> {
    value(row, column, what)?
        .as_str()
        .map_err(|error| corrupt(format!("events ({what})"), error))
}

fn blob<'r>(row: &'r Row<'_>, column: usize, what: &str) -> Result<&'r [u8], StoreError> {
    value(row, column, what)?
        .as_blob()
        .map_err(|error| corrupt(format!("events ({what})"), error))
}

fn integer(row: &Row<'_>, column: usize, what: &str) -> Result<i64, StoreError> {
    value(row, column, what)?
        .as_i64()
        .map_err(|error| corrupt(format!("events ({what})"), error))
}

fn value<'r>(row: &'r Row<'_>, column: usize, what: &str) -> Result<ValueRef<'r>, StoreError> {
    row.get_ref(column)
        .map_err(|error| corrupt(format!("events ({what})"), error))
}

/// Reads an event row borrowed in place: the stream id in column 0, then the rest of
/// `event_columns!` from column `offset + 1` on (offset 0 for event reads; 2 for the verify
/// join, whose columns 1 and 2 are the stream head's version and hash).
pub(crate) fn raw_event<'r>(row: &'r Row<'_>, offset: usize) -> Result<RawEvent<'r>, StoreError> {
    let at = |column: usize| offset + column;
    let stream = text(row, 0, "stream_id")?;
    let location = |what: &str| format!("stream {stream} ({what})");
    let version = integer(row, at(1), "version")?;
    let schema_version = integer(row, at(6), "schema_version")?;
    let event_id = blob(row, at(4), "event_id")?;
    Ok(RawEvent {
        stream,
        version: to_u64(version, &location("version"))?,
        position: position(row, at(2), at(3))?,
        id: Uuid::from_slice(event_id).map_err(|error| corrupt(location("event_id"), error))?,
        event_type: text(row, at(5), "event_type")?,
        schema_version: u16::try_from(schema_version).map_err(|_| {
            corrupt(
                location("schema_version"),
                format!("schema version {schema_version}"),
            )
        })?,
        payload: blob(row, at(7), "payload")?,
        metadata: blob(row, at(8), "metadata")?,
        recorded_at: from_micros(
            integer(row, at(9), "recorded_at")?,
            &location("recorded_at"),
        )?,
        hash: blob(row, at(10), "hash")?,
        previous_hash: blob(row, at(11), "previous_hash")?,
    })
}

/// The global position in columns `position` and `transaction` of `row`.
pub(crate) fn position(
    row: &Row<'_>,
    position: usize,
    transaction: usize,
) -> Result<GlobalPosition, StoreError> {
    Ok(GlobalPosition {
        transaction: to_u64(integer(row, transaction, "tx_id")?, "events (tx_id)")?,
        position: to_u64(integer(row, position, "position")?, "events (position)")?,
    })
}

/// An event row that cannot even be read as stored fields (a value of the wrong type or
/// range, written behind the store's back), as an [`UnreadableEvent`] with what could be
/// read, so that a page passes over it like any other unreadable row. `None` when not even
/// its position can be read (then nothing can pass over it, and the read fails).
pub(crate) fn unreadable_row(row: &Row<'_>, reason: &StoreError) -> Option<UnreadableEvent> {
    let position = position(row, 2, 3).ok()?;
    Some(UnreadableEvent {
        stream: text(row, 0, "stream_id").unwrap_or_default().to_owned(),
        version: integer(row, 1, "version")
            .ok()
            .and_then(|version| u64::try_from(version).ok())
            .unwrap_or(0),
        position,
        id: blob(row, 4, "event_id")
            .ok()
            .and_then(|bytes| Uuid::from_slice(bytes).ok())
            .unwrap_or_default(),
        event_type: text(row, 5, "event_type").unwrap_or_default().to_owned(),
        stored_schema_version: integer(row, 6, "schema_version")
            .ok()
            .and_then(|version| u16::try_from(version).ok())
            .unwrap_or(0),
        recorded_at: integer(row, 9, "recorded_at")
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .unwrap_or_default(),
        reason: reason.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_outside_the_other_side_s_range_are_refused_or_clamped() {
        assert!(matches!(
            to_u64(-1, "here"),
            Err(StoreError::CorruptRow { .. })
        ));
        assert_eq!(to_u64(i64::MAX, "here").unwrap(), 9_223_372_036_854_775_807);
        assert!(matches!(
            to_i64(u64::MAX, "version"),
            Err(StoreError::Database { .. })
        ));
        assert_eq!(to_i64(7, "version").unwrap(), 7);
        assert_eq!(clamp_i64(u64::MAX), i64::MAX);
        assert_eq!(clamp_limit(usize::MAX), i64::MAX);
    }

    #[test]
    fn times_round_trip_at_microsecond_precision_and_absurd_ones_are_corrupt() {
        let at = crate::hash::to_micros(Utc::now());
        assert_eq!(from_micros(micros(at), "here").unwrap(), at);
        let before_1970 = DateTime::from_timestamp_micros(-1_234_567).unwrap();
        assert_eq!(
            from_micros(micros(before_1970), "here").unwrap(),
            before_1970
        );
        assert!(matches!(
            from_micros(i64::MAX, "here"),
            Err(StoreError::CorruptRow { .. })
        ));
    }
}
