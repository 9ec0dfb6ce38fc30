//! The unit of work on SQLite: the event store's `append_in` and the application's rows
//! (`migrations/sqlite/*.sql`) in one write transaction of the file's one writer.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use crm_eventstore::crypto::{DecryptingStore, SqliteSubjectKeyStore, SubjectId, SubjectKey};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_eventstore::{
    AppendResult, ExpectedVersion, GlobalPosition, NewEvent, SqliteStore, StoreSettings, StreamId,
    TenantId,
};
use rusqlite::{OptionalExtension, Row, Transaction};
use uuid::Uuid;

use super::{
    AlertChange, AlertState, CommandOutcome, Committed, DestinationFigures, DestinationHealth,
    IdempotencyRecord, OutboxEntry, OutboxHealth, OutboxMessage, RECENT_DELIVERIES, RequestDigest,
    UnitOfWork, Work, WorkError, keyed_append, sql as uow_sql,
};

/// The application's SQLite migrations, in order, under the component name `app`. Never
/// edited once released: a change is a new step.
pub const SQLITE_APP_MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_app.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_suppression.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_task_reminders.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_outbox_delivered.sql"),
    ),
    (5, include_str!("../../migrations/sqlite/0005_alerts.sql")),
];

/// A [`UnitOfWork`] in the SQLite file of a [`SqliteStore`]. Clones share the file's
/// connections.
///
/// A commit is one `BEGIN IMMEDIATE` transaction on the file's writer: commits take turns, so
/// two commits with one idempotency key never both write (the second finds the first's
/// record), and an acknowledged commit is on disk (`synchronous=FULL`).
#[derive(Debug, Clone)]
pub struct SqliteUnitOfWork {
    store: SqliteStore,
    reader: DecryptingStore<SqliteStore, SqliteSubjectKeyStore>,
}

impl SqliteUnitOfWork {
    /// The unit of work over `store`'s file, after applying the application's pending
    /// migrations (an applied migration whose text changed is refused).
    pub fn open(store: SqliteStore) -> Result<Self, WorkError> {
        store
            .database()
            .migrate("app", SQLITE_APP_MIGRATIONS)
            .map_err(WorkError::Store)?;
        let reader = DecryptingStore::new(store.clone(), store.subject_keys());
        Ok(Self { store, reader })
    }

    /// The SQLite store underneath, which hands out events as stored (personal fields
    /// encrypted); [`UnitOfWork::store`] reads through the keys.
    pub fn event_store(&self) -> &SqliteStore {
        &self.store
    }

    fn database(&self) -> &SqliteDatabase {
        self.store.database()
    }
}

/// A queue's figures as `query` selects them for the tenant (`?1`): a count, the oldest
/// time among them and another count; the oldest as its age at `now`. Shared by the inbox's
/// and the outbox's health.
pub(crate) async fn queue_figures(
    database: &SqliteDatabase,
    query: &'static str,
    tenant: &TenantId,
    now: DateTime<Utc>,
    what: &'static str,
) -> Result<(u64, Option<TimeDelta>, u64), WorkError> {
    let tenant = tenant.clone();
    let (first, oldest, second) = database
        .read(move |transaction| {
            transaction
                .query_row(query, [tenant.as_str()], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, Option<i64>>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
                .map_err(sql(what))
        })
        .await?;
    let oldest = oldest.map(|oldest| instant(what, oldest)).transpose()?;
    Ok((
        from_sql_count(first),
        oldest.map(|oldest| (now - oldest).max(TimeDelta::zero())),
        from_sql_count(second),
    ))
}

/// Maps a driver error of the application's own tables, saying what was being done.
pub(crate) fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> WorkError {
    move |error| WorkError::Database {
        context,
        source: Box::new(error),
    }
}

/// An instant as stored: microseconds since the Unix epoch.
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A stored instant back, or a corrupt-row error naming `what`.
pub(crate) fn instant(what: &str, micros: i64) -> Result<DateTime<Utc>, WorkError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| WorkError::Corrupt {
        what: what.to_owned(),
        reason: format!("{micros} µs is not a representable instant"),
    })
}

/// A stored id back.
pub(crate) fn uuid(what: &str, text: &str) -> Result<Uuid, WorkError> {
    Uuid::parse_str(text).map_err(|error| WorkError::Corrupt {
        what: what.to_owned(),
        reason: format!("{text:?} is not a UUID: {error}"),
    })
}

/// A count or limit as SQLite's integer (saturating: no count reaches it).
pub(crate) fn to_sql_count(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored count back (a negative one reads as zero: only corruption writes it).
pub(crate) fn from_sql_count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn outcome_text(outcome: &CommandOutcome) -> Result<String, WorkError> {
    serde_json::to_string(outcome).map_err(|error| WorkError::Corrupt {
        what: "command outcome".into(),
        reason: error.to_string(),
    })
}

/// The idempotency record under `key`, read inside `transaction`.
fn record_in(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    key: &str,
) -> Result<Option<IdempotencyRecord>, WorkError> {
    let row: Option<(Vec<u8>, String)> = transaction
        .prepare_cached(
            "SELECT digest, outcome FROM app_idempotency WHERE tenant = ?1 AND key = ?2",
        )
        .and_then(|mut statement| {
            statement
                .query_row((tenant.as_str(), key), |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(sql("cannot read an idempotency record"))?;
    let Some((digest, outcome)) = row else {
        return Ok(None);
    };
    let corrupt = |reason: String| WorkError::Corrupt {
        what: format!("idempotency record {key:?}"),
        reason,
    };
    let digest: [u8; 32] = digest
        .try_into()
        .map_err(|_| corrupt("its digest is not 32 bytes".into()))?;
    let outcome: CommandOutcome =
        serde_json::from_str(&outcome).map_err(|error| corrupt(error.to_string()))?;
    Ok(Some(IdempotencyRecord {
        key: key.to_owned(),
        digest: RequestDigest(digest),
        outcome,
    }))
}

const OUTBOX_COLUMNS: &str = "id, destination, idempotency_key, payload, created_at, \
                              next_attempt_at, attempts, delivered_at, last_error, parked_at";

/// An outbox row as read, before its values are checked.
struct OutboxRow {
    id: String,
    destination: String,
    idempotency_key: String,
    payload: String,
    created_at: i64,
    next_attempt_at: i64,
    attempts: i64,
    delivered_at: Option<i64>,
    last_error: Option<String>,
    parked_at: Option<i64>,
}

impl OutboxRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            destination: row.get(1)?,
            idempotency_key: row.get(2)?,
            payload: row.get(3)?,
            created_at: row.get(4)?,
            next_attempt_at: row.get(5)?,
            attempts: row.get(6)?,
            delivered_at: row.get(7)?,
            last_error: row.get(8)?,
            parked_at: row.get(9)?,
        })
    }

    fn entry(self) -> Result<OutboxEntry, WorkError> {
        let id = uuid("outbox message id", &self.id)?;
        let what = format!("outbox message {id}");
        let attempts = u32::try_from(self.attempts).map_err(|_| WorkError::Corrupt {
            what: what.clone(),
            reason: format!("attempt count {} out of range", self.attempts),
        })?;
        let payload = serde_json::from_str(&self.payload).map_err(|error| WorkError::Corrupt {
            what: what.clone(),
            reason: format!("its payload is not JSON: {error}"),
        })?;
        let optional = |value: Option<i64>| value.map(|value| instant(&what, value)).transpose();
        Ok(OutboxEntry {
            message: OutboxMessage {
                id,
                destination: self.destination,
                idempotency_key: self.idempotency_key,
                payload,
                created_at: instant(&what, self.created_at)?,
            },
            attempts,
            next_attempt_at: instant(&what, self.next_attempt_at)?,
            delivered_at: optional(self.delivered_at)?,
            last_error: self.last_error,
            parked_at: optional(self.parked_at)?,
        })
    }
}

fn position_part(value: u64) -> Result<i64, WorkError> {
    i64::try_from(value).map_err(|_| WorkError::Corrupt {
        what: "checkpoint".into(),
        reason: format!("{value} does not fit SQLite's integer"),
    })
}

/// Commits `work` inside `transaction` (the writer's): what [`UnitOfWork::commit`] does,
/// minus the commit and the wake-up.
fn commit_in(
    store: &SqliteStore,
    transaction: &Transaction<'_>,
    work: &Work,
) -> Result<Committed, WorkError> {
    if let Some(claim) = &work.idempotency
        && let Some(record) = record_in(transaction, &work.tenant, &claim.key)?
    {
        // Writes take turns, so the first commit under this key is already here: replay it.
        return Ok(Committed::Replayed(record));
    }
    let appended = match &work.append {
        Some(append) => Some(store.append_in(
            transaction,
            &work.tenant,
            &append.stream,
            append.expected,
            &append.events,
        )?),
        None => None,
    };
    if let Some(claim) = &work.idempotency {
        let outcome = outcome_text(&work.outcome(appended.as_ref(), &claim.key)?)?;
        transaction
            .prepare_cached(
                "INSERT INTO app_idempotency (tenant, key, digest, outcome) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut statement| {
                statement.execute((
                    work.tenant.as_str(),
                    &claim.key,
                    claim.digest.0.as_slice(),
                    outcome,
                ))
            })
            .map_err(sql("cannot record an idempotency key"))?;
    }
    for message in &work.outbox {
        write_message(transaction, &work.tenant, message)?;
    }
    Ok(Committed::Done(appended))
}

/// Writes `message` to `tenant`'s outbox in `transaction`, unless a message with its id is
/// there (a retry of the same work).
fn write_message(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    message: &OutboxMessage,
) -> Result<(), WorkError> {
    let payload = serde_json::to_string(&message.payload).map_err(|error| WorkError::Corrupt {
        what: format!("outbox message {}", message.id),
        reason: error.to_string(),
    })?;
    transaction
        .prepare_cached(
            "INSERT INTO app_outbox (tenant, id, destination, idempotency_key, payload, \
             created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
             ON CONFLICT (tenant, id) DO NOTHING",
        )
        .and_then(|mut statement| {
            statement.execute((
                tenant.as_str(),
                message.id.to_string(),
                &message.destination,
                &message.idempotency_key,
                payload,
                micros(message.created_at),
            ))
        })
        .map_err(sql("cannot write an outbox message"))?;
    Ok(())
}

impl UnitOfWork for SqliteUnitOfWork {
    type Store = DecryptingStore<SqliteStore, SqliteSubjectKeyStore>;
    type Keys = SqliteSubjectKeyStore;

    fn store(&self) -> &Self::Store {
        &self.reader
    }

    fn keys(&self) -> &Self::Keys {
        self.reader.keys()
    }

    fn settings(&self) -> &StoreSettings {
        self.store.settings()
    }

    async fn append_with_subject_key(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        subject: &SubjectId,
        key: &SubjectKey,
    ) -> Result<Option<AppendResult>, WorkError> {
        keyed_append(
            self.store
                .append_with_subject_key(tenant, stream, expected, events, subject, key)
                .await,
        )
    }

    async fn idempotency_record(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, WorkError> {
        let (tenant, key) = (tenant.clone(), key.to_owned());
        self.database()
            .read(move |transaction| record_in(transaction, &tenant, &key))
            .await
    }

    async fn commit(&self, work: Work) -> Result<Committed, WorkError> {
        let store = self.store.clone();
        let committed = self
            .database()
            .write(move |transaction| commit_in(&store, transaction, &work))
            .await?;
        if let Committed::Done(Some(result)) = &committed
            && !result.events.is_empty()
        {
            self.store.announce_append();
        }
        Ok(committed)
    }

    async fn claim_outbox(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, WorkError> {
        let leased_until = now.checked_add_signed(lease).unwrap_or(now);
        let tenant = tenant.clone();
        // The writer takes turns with every other writer of the file, so a row claimed here
        // is leased before any other relay can read it as due.
        let rows = self
            .database()
            .write(move |transaction| {
                transaction
                    .prepare_cached(&format!(
                        "UPDATE app_outbox SET next_attempt_at = ?3 \
                         WHERE tenant = ?1 AND id IN ( \
                             SELECT id FROM app_outbox \
                             WHERE tenant = ?1 AND delivered_at IS NULL AND parked_at IS NULL \
                               AND next_attempt_at <= ?2 \
                             ORDER BY next_attempt_at, created_at LIMIT ?4) \
                         RETURNING {OUTBOX_COLUMNS}"
                    ))
                    .and_then(|mut statement| {
                        statement
                            .query_map(
                                (
                                    tenant.as_str(),
                                    micros(now),
                                    micros(leased_until),
                                    to_sql_count(limit),
                                ),
                                OutboxRow::read,
                            )?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(sql("cannot claim outbox messages"))
            })
            .await?;
        let mut entries = rows
            .into_iter()
            .map(OutboxRow::entry)
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|entry| (entry.message.created_at, entry.message.id));
        Ok(entries)
    }

    async fn outbox_delivered(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        self.execute(
            "UPDATE app_outbox SET delivered_at = COALESCE(delivered_at, ?3), \
             attempts = attempts + 1, last_error = NULL WHERE tenant = ?1 AND id = ?2",
            tenant,
            id,
            micros(at),
            None,
            "cannot mark an outbox message delivered",
        )
        .await
        .map(drop)
    }

    async fn outbox_delivered_all(
        &self,
        tenant: &TenantId,
        ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        if ids.is_empty() {
            return Ok(());
        }
        let (tenant, ids) = (tenant.clone(), ids.to_vec());
        self.database()
            .write(move |transaction| {
                let mut statement = transaction
                    .prepare_cached(
                        "UPDATE app_outbox SET delivered_at = COALESCE(delivered_at, ?3), \
                         attempts = attempts + 1, last_error = NULL \
                         WHERE tenant = ?1 AND id = ?2",
                    )
                    .map_err(sql("cannot mark outbox messages delivered"))?;
                for id in &ids {
                    statement
                        .execute((tenant.as_str(), id.to_string(), micros(at)))
                        .map_err(sql("cannot mark outbox messages delivered"))?;
                }
                Ok(())
            })
            .await
    }

    async fn outbox_failed(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        self.execute(
            "UPDATE app_outbox SET attempts = attempts + 1, next_attempt_at = ?3, \
             last_error = ?4 WHERE tenant = ?1 AND id = ?2 AND delivered_at IS NULL \
             AND parked_at IS NULL",
            tenant,
            id,
            micros(retry_at),
            Some(error),
            "cannot record an outbox failure",
        )
        .await
        .map(drop)
    }

    async fn outbox_parked(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        self.execute(
            "UPDATE app_outbox SET attempts = attempts + 1, parked_at = ?3, \
             last_error = ?4 WHERE tenant = ?1 AND id = ?2 AND delivered_at IS NULL \
             AND parked_at IS NULL",
            tenant,
            id,
            micros(at),
            Some(error),
            "cannot park an outbox message",
        )
        .await
        .map(drop)
    }

    async fn outbox_replay_parked(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
    ) -> Result<u64, WorkError> {
        let tenant = tenant.clone();
        let replayed = self
            .database()
            .write(move |transaction| {
                transaction
                    .execute(
                        "UPDATE app_outbox SET parked_at = NULL, next_attempt_at = ?2 \
                         WHERE tenant = ?1 AND parked_at IS NOT NULL AND delivered_at IS NULL",
                        (tenant.as_str(), micros(at)),
                    )
                    .map_err(sql("cannot replay parked outbox messages"))
            })
            .await?;
        Ok(u64::try_from(replayed).unwrap_or(u64::MAX))
    }

    async fn outbox_health(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<OutboxHealth, WorkError> {
        let (undelivered, oldest_age, parked) = queue_figures(
            self.database(),
            "SELECT \
               count(*) FILTER (WHERE parked_at IS NULL), \
               min(created_at) FILTER (WHERE parked_at IS NULL), \
               count(*) FILTER (WHERE parked_at IS NOT NULL) \
             FROM app_outbox WHERE tenant = ?1 AND delivered_at IS NULL",
            tenant,
            now,
            "the outbox's health",
        )
        .await?;
        Ok(OutboxHealth {
            undelivered,
            oldest_undelivered_age: oldest_age,
            parked,
        })
    }

    async fn outbox_destinations(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Vec<DestinationHealth>, WorkError> {
        type Waiting = (String, i64, Option<i64>, i64, i64);
        type Delivered = (String, Option<i64>, i64);
        type Reason = (String, String, i64);
        let tenant = tenant.clone();
        let recent = micros(now - RECENT_DELIVERIES);
        let what = "the outbox's destinations";
        let (waiting, reasons, delivered) = self
            .database()
            .read(move |transaction| {
                let figures = || -> rusqlite::Result<_> {
                    let tenant = tenant.as_str();
                    let waiting = transaction
                        .prepare_cached(uow_sql::UNDELIVERED_BY_DESTINATION)?
                        .query_map([tenant], |row| Waiting::try_from(row))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let reasons = transaction
                        .prepare_cached(uow_sql::FAILURES_BY_DESTINATION)?
                        .query_map([tenant], |row| Reason::try_from(row))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let delivered = transaction
                        .prepare_cached(uow_sql::DELIVERED_BY_DESTINATION)?
                        .query_map(rusqlite::params![tenant, recent], |row| {
                            Delivered::try_from(row)
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok((waiting, reasons, delivered))
                };
                figures().map_err(sql(what))
            })
            .await?;
        let mut health = DestinationFigures::default();
        for (destination, pending, oldest, failing, parked) in waiting {
            let oldest = oldest.map(|oldest| instant(what, oldest)).transpose()?;
            health.waiting(
                destination,
                from_sql_count(pending),
                oldest,
                from_sql_count(failing),
                from_sql_count(parked),
                now,
            );
        }
        for (destination, reason, count) in reasons {
            health.failed(destination, &reason, from_sql_count(count));
        }
        for (destination, last, recently) in delivered {
            let last = last.map(|last| instant(what, last)).transpose()?;
            health.delivered(destination, last, from_sql_count(recently));
        }
        Ok(health.into_list())
    }

    async fn outbox(&self, tenant: &TenantId) -> Result<Vec<OutboxEntry>, WorkError> {
        let tenant = tenant.clone();
        let rows = self
            .database()
            .read(move |transaction| {
                transaction
                    .prepare_cached(&format!(
                        "SELECT {OUTBOX_COLUMNS} FROM app_outbox WHERE tenant = ?1 \
                         ORDER BY created_at, id"
                    ))
                    .and_then(|mut statement| {
                        statement
                            .query_map([tenant.as_str()], OutboxRow::read)?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(sql("cannot read the outbox"))
            })
            .await?;
        rows.into_iter().map(OutboxRow::entry).collect()
    }

    async fn checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
    ) -> Result<Option<GlobalPosition>, WorkError> {
        let (tenant, name) = (tenant.clone(), workflow.to_owned());
        let row = self
            .database()
            .read(move |transaction| {
                transaction
                    .query_row(
                        "SELECT transaction_id, position FROM app_checkpoints \
                         WHERE tenant = ?1 AND workflow = ?2",
                        (tenant.as_str(), name.as_str()),
                        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
                    )
                    .optional()
                    .map_err(sql("cannot read a workflow checkpoint"))
            })
            .await?;
        row.map(|(transaction, position)| {
            let part = |value: i64| {
                u64::try_from(value).map_err(|_| WorkError::Corrupt {
                    what: format!("checkpoint of workflow {workflow:?}"),
                    reason: format!("negative position {value}"),
                })
            };
            Ok(GlobalPosition {
                transaction: part(transaction)?,
                position: part(position)?,
            })
        })
        .transpose()
    }

    async fn alerts(&self, tenant: &TenantId) -> Result<BTreeMap<String, AlertState>, WorkError> {
        let tenant = tenant.clone();
        let rows = self
            .database()
            .read(move |transaction| {
                let mut statement = transaction
                    .prepare_cached(
                        "SELECT alert, firing, since, limit_value FROM app_alerts \
                         WHERE tenant = ?1",
                    )
                    .map_err(sql("cannot read the alerts"))?;
                let rows = statement
                    .query_map([tenant.as_str()], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, bool>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, i64>(3)?,
                        ))
                    })
                    .map_err(sql("cannot read the alerts"))?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(sql("cannot read the alerts"))
            })
            .await?;
        rows.into_iter()
            .map(|(alert, firing, since, limit)| {
                let since = instant(&format!("alert {alert:?}"), since)?;
                let state = AlertState::from_row(&alert, firing, since, limit)?;
                Ok((alert, state))
            })
            .collect()
    }

    async fn commit_alerts(
        &self,
        tenant: &TenantId,
        changes: Vec<AlertChange>,
    ) -> Result<Vec<String>, WorkError> {
        let tenant = tenant.clone();
        // One writer at a time for the whole file: a change recorded by another process
        // first is read here as the current state, and nothing is written for it.
        self.database()
            .write(move |transaction| {
                let mut recorded = Vec::new();
                for change in changes {
                    let limit = i64::try_from(change.state.limit).unwrap_or(i64::MAX);
                    let changed = transaction
                        .prepare_cached(
                            "INSERT INTO app_alerts (tenant, alert, firing, since, limit_value) \
                             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant, alert) DO UPDATE \
                             SET firing = excluded.firing, since = excluded.since, \
                                 limit_value = excluded.limit_value \
                             WHERE app_alerts.firing <> excluded.firing",
                        )
                        .and_then(|mut statement| {
                            statement.execute((
                                tenant.as_str(),
                                change.alert.as_str(),
                                change.state.firing,
                                micros(change.state.since),
                                limit,
                            ))
                        })
                        .map_err(sql("cannot record an alert"))?;
                    if changed == 1 {
                        write_message(transaction, &tenant, &change.message)?;
                        recorded.push(change.alert);
                    }
                }
                Ok(recorded)
            })
            .await
    }

    async fn save_checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
        position: GlobalPosition,
    ) -> Result<(), WorkError> {
        let (transaction_id, at) = (
            position_part(position.transaction)?,
            position_part(position.position)?,
        );
        let (tenant, workflow) = (tenant.clone(), workflow.to_owned());
        self.database()
            .write(move |transaction| {
                transaction
                    .execute(
                        "INSERT INTO app_checkpoints (tenant, workflow, transaction_id, position) \
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant, workflow) DO UPDATE \
                         SET transaction_id = excluded.transaction_id, \
                             position = excluded.position \
                         WHERE (app_checkpoints.transaction_id, app_checkpoints.position) \
                               < (excluded.transaction_id, excluded.position)",
                        (tenant.as_str(), workflow.as_str(), transaction_id, at),
                    )
                    .map_err(sql("cannot save a workflow checkpoint"))
            })
            .await?;
        Ok(())
    }
}

impl SqliteUnitOfWork {
    /// Runs one outbox update (`?1` tenant, `?2` id, `?3` an instant, `?4` an error text when
    /// given) in a write transaction; the number of rows changed.
    async fn execute(
        &self,
        statement: &'static str,
        tenant: &TenantId,
        id: Uuid,
        at: i64,
        error: Option<&str>,
        context: &'static str,
    ) -> Result<usize, WorkError> {
        let (tenant, error) = (tenant.clone(), error.map(str::to_owned));
        self.database()
            .write(move |transaction| {
                let mut prepared = transaction
                    .prepare_cached(statement)
                    .map_err(sql(context))?;
                match error {
                    Some(error) => prepared.execute((tenant.as_str(), id.to_string(), at, error)),
                    None => prepared.execute((tenant.as_str(), id.to_string(), at)),
                }
                .map_err(sql(context))
            })
            .await
    }
}
