//! The unit of work on PostgreSQL: the event store's `append_in` and the application's rows
//! (`migrations/0001_app.sql`, `0002_outbox_parking.sql`) in one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use crm_eventstore::crypto::{DecryptingStore, PostgresSubjectKeyStore, SubjectId, SubjectKey};
use crm_eventstore::{
    AppendResult, ExpectedVersion, GlobalPosition, NewEvent, NewStreamAppend, PostgresStore,
    StoreError, StoreSettings, StreamId, TenantId,
};
use sha2::{Digest, Sha256};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    AlertChange, AlertState, CommandOutcome, Committed, DestinationFigures, DestinationHealth,
    IdempotencyRecord, NewStream, OutboxEntry, OutboxHealth, OutboxMessage, RECENT_DELIVERIES,
    RequestDigest, UnitOfWork, Work, WorkError, database, keyed_append, sql,
};

/// One migration of the application's tables.
#[derive(Debug, Clone, Copy)]
pub struct AppMigration {
    /// Its number.
    pub version: i32,
    /// Its file name without the extension.
    pub name: &'static str,
    /// Its SQL.
    pub sql: &'static str,
}

/// The application's migrations, in order. Never edited once released: a change is a new file.
pub fn app_migrations() -> &'static [AppMigration] {
    &[
        AppMigration {
            version: 1,
            name: "0001_app",
            sql: include_str!("../../migrations/0001_app.sql"),
        },
        AppMigration {
            version: 2,
            name: "0002_outbox_parking",
            sql: include_str!("../../migrations/0002_outbox_parking.sql"),
        },
        AppMigration {
            version: 3,
            name: "0003_response_deadlines",
            sql: include_str!("../../migrations/0003_response_deadlines.sql"),
        },
        AppMigration {
            version: 4,
            name: "0004_ticket_deadlines",
            sql: include_str!("../../migrations/0004_ticket_deadlines.sql"),
        },
        AppMigration {
            version: 5,
            name: "0005_inbox",
            sql: include_str!("../../migrations/0005_inbox.sql"),
        },
        AppMigration {
            version: 6,
            name: "0006_suppression",
            sql: include_str!("../../migrations/0006_suppression.sql"),
        },
        AppMigration {
            version: 7,
            name: "0007_task_reminders",
            sql: include_str!("../../migrations/0007_task_reminders.sql"),
        },
        AppMigration {
            version: 8,
            name: "0008_outbox_delivered",
            sql: include_str!("../../migrations/0008_outbox_delivered.sql"),
        },
        AppMigration {
            version: 9,
            name: "0009_alerts",
            sql: include_str!("../../migrations/0009_alerts.sql"),
        },
    ]
}

/// The relay's bookkeeping (a claim's lease, a delivery, a failure, a parking) is committed
/// without waiting for the WAL flush: `FROM` this one-row table, the statement turns
/// `synchronous_commit` off for its own transaction. Losing such a commit in a crash of the
/// database costs at most a message delivered again under its idempotency key (or tried again),
/// which the relay's contract already allows for a crash between a delivery and its record; the
/// messages themselves are written by the commands' own, durable commits.
pub(crate) const RELAXED: &str =
    "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed";

/// Runs `sql` with `params` as a prepared statement cached on the pooled connection (one round
/// trip once prepared); `what` names it in errors.
pub(crate) async fn execute_cached(
    client: &deadpool_postgres::Object,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    what: &'static str,
) -> Result<u64, WorkError> {
    let statement = client.prepare_cached(sql).await.map_err(database(what))?;
    client
        .execute(&statement, params)
        .await
        .map_err(database(what))
}

/// An arbitrary key ("crm-ap" in ASCII) for the application's migration lock.
const MIGRATION_LOCK: i64 = 0x0000_6372_6d2d_6170;

/// A [`UnitOfWork`] on the PostgreSQL database of a [`PostgresStore`]. Clones share the pool.
#[derive(Debug, Clone)]
pub struct PostgresUnitOfWork {
    store: PostgresStore,
    reader: DecryptingStore<PostgresStore, PostgresSubjectKeyStore>,
}

impl PostgresUnitOfWork {
    /// The PostgreSQL store underneath, which hands out events as stored (personal fields
    /// encrypted); [`UnitOfWork::store`] reads through the keys.
    pub fn event_store(&self) -> &PostgresStore {
        &self.store
    }

    /// The unit of work over `store`'s database, after applying the application's pending
    /// migrations (under an advisory lock, so processes starting together take turns; an
    /// applied migration whose text changed is refused).
    pub async fn connect(store: PostgresStore) -> Result<Self, WorkError> {
        let mut client = store.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(database("cannot start the migration transaction"))?;
        transaction
            .batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
                 CREATE TABLE IF NOT EXISTS app_migrations (
                     version integer PRIMARY KEY,
                     name text NOT NULL,
                     checksum bytea NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now())"
            ))
            .await
            .map_err(database("cannot lock the application's migrations"))?;
        let applied = transaction
            .query("SELECT version, checksum FROM app_migrations", &[])
            .await
            .map_err(database("cannot read the application's migrations"))?;
        for migration in app_migrations() {
            let checksum: Vec<u8> = Sha256::digest(migration.sql.as_bytes()).to_vec();
            let recorded = applied
                .iter()
                .find(|row| row.get::<_, i32>(0) == migration.version);
            match recorded {
                Some(row) if row.get::<_, Vec<u8>>(1) == checksum => {}
                Some(_) => {
                    return Err(WorkError::Corrupt {
                        what: format!("application migration {}", migration.name),
                        reason: "its text changed after it was applied".into(),
                    });
                }
                None => {
                    transaction
                        .batch_execute(migration.sql)
                        .await
                        .map_err(database("cannot apply an application migration"))?;
                    transaction
                        .execute(
                            "INSERT INTO app_migrations (version, name, checksum) \
                             VALUES ($1, $2, $3)",
                            &[&migration.version, &migration.name, &checksum],
                        )
                        .await
                        .map_err(database("cannot record an application migration"))?;
                }
            }
        }
        transaction
            .commit()
            .await
            .map_err(database("cannot commit the application's migrations"))?;
        let reader = DecryptingStore::new(store.clone(), store.subject_keys());
        Ok(Self { store, reader })
    }

    /// [`UnitOfWork::commit_each`] in one transaction: the appends pipelined on the
    /// connection (in the order of their streams, so that two batches lock shared streams in
    /// the same order and never deadlock), the idempotency records in one statement, then the
    /// outbox messages. `Ok(None)`, nothing written, when an append conflicts or a key is
    /// held already; otherwise each work's append result, in order.
    async fn commit_together(
        &self,
        works: &[Work],
    ) -> Result<Option<Vec<Option<AppendResult>>>, WorkError> {
        let mut order: Vec<usize> = (0..works.len()).collect();
        order.sort_by(|&a, &b| {
            let stream = |index: usize| {
                works[index]
                    .append
                    .as_ref()
                    .map(|append| (works[index].tenant.as_str(), append.stream.as_str()))
            };
            stream(a).cmp(&stream(b))
        });
        let mut client = self.store.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(database("cannot start a unit of work"))?;
        let appending = order.iter().map(|&index| {
            let (work, transaction) = (&works[index], &transaction);
            async move {
                match &work.append {
                    Some(append) => self
                        .store
                        .append_in(
                            transaction,
                            &work.tenant,
                            &append.stream,
                            append.expected,
                            &append.events,
                        )
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            }
        });
        let mut appended: Vec<Option<AppendResult>> = works.iter().map(|_| None).collect();
        for (index, result) in order
            .iter()
            .zip(futures_util::future::join_all(appending).await)
        {
            match result {
                Ok(result) => appended[*index] = result,
                Err(
                    StoreError::VersionConflict { .. }
                    | StoreError::DuplicateEventId { .. }
                    | StoreError::IdempotencyConflict { .. }
                    | StoreError::TransactionOrderConflict { .. },
                ) => {
                    transaction
                        .rollback()
                        .await
                        .map_err(database("cannot roll back a conflicting batch"))?;
                    return Ok(None);
                }
                Err(error) => return Err(error.into()),
            }
        }
        let (mut tenants, mut keys, mut digests, mut outcomes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (work, appended) in works.iter().zip(&appended) {
            if let Some(claim) = &work.idempotency {
                tenants.push(work.tenant.as_str());
                keys.push(claim.key.as_str());
                digests.push(claim.digest.0.as_slice());
                outcomes.push(outcome_json(&work.outcome(appended.as_ref(), &claim.key)?)?);
            }
        }
        if !keys.is_empty() {
            let inserted = transaction
                .execute(
                    "INSERT INTO app_idempotency (tenant, key, digest, outcome) \
                     SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::jsonb[]) \
                     ON CONFLICT (tenant, key) DO NOTHING",
                    &[&tenants, &keys, &digests, &outcomes],
                )
                .await
                .map_err(database("cannot record idempotency keys"))?;
            if inserted != keys.len() as u64 {
                // A key held already (or twice in the batch): each command, alone, replays it.
                transaction
                    .rollback()
                    .await
                    .map_err(database("cannot roll back a replayed batch"))?;
                return Ok(None);
            }
        }
        for work in works {
            for message in &work.outbox {
                write_message(&transaction, &work.tenant, message).await?;
            }
        }
        transaction.commit().await.map_err(|error| {
            WorkError::Store(StoreError::Unavailable {
                reason: "the batch's commit did not answer".into(),
                source: Some(Box::new(error)),
            })
        })?;
        Ok(Some(appended))
    }
}

fn outcome_json(outcome: &CommandOutcome) -> Result<serde_json::Value, WorkError> {
    serde_json::to_value(outcome).map_err(|error| WorkError::Corrupt {
        what: "command outcome".into(),
        reason: error.to_string(),
    })
}

fn record_from(row: &Row) -> Result<IdempotencyRecord, WorkError> {
    let key: String = row.get(0);
    let digest: Vec<u8> = row.get(1);
    let outcome: serde_json::Value = row.get(2);
    let corrupt = |reason: String| WorkError::Corrupt {
        what: format!("idempotency record {key:?}"),
        reason,
    };
    let digest: [u8; 32] = digest
        .try_into()
        .map_err(|_| corrupt("its digest is not 32 bytes".into()))?;
    let outcome: CommandOutcome =
        serde_json::from_value(outcome).map_err(|error| corrupt(error.to_string()))?;
    Ok(IdempotencyRecord {
        key,
        digest: RequestDigest(digest),
        outcome,
    })
}

fn entry_from(row: &Row) -> Result<OutboxEntry, WorkError> {
    let attempts: i32 = row.get(6);
    let id: Uuid = row.get(0);
    let attempts = u32::try_from(attempts).map_err(|_| WorkError::Corrupt {
        what: format!("outbox message {id}"),
        reason: format!("negative attempt count {attempts}"),
    })?;
    Ok(OutboxEntry {
        message: OutboxMessage {
            id,
            destination: row.get(1),
            idempotency_key: row.get(2),
            payload: row.get(3),
            created_at: row.get(4),
        },
        next_attempt_at: row.get(5),
        attempts,
        delivered_at: row.get(7),
        last_error: row.get(8),
        parked_at: row.get(9),
    })
}

const OUTBOX_COLUMNS: &str = "id, destination, idempotency_key, payload, created_at, \
                              next_attempt_at, attempts, delivered_at, last_error, parked_at";

fn position_parts(position: GlobalPosition) -> Result<(i64, i64), WorkError> {
    let part = |value: u64| {
        i64::try_from(value).map_err(|_| WorkError::Corrupt {
            what: "checkpoint".into(),
            reason: format!("{value} does not fit a bigint"),
        })
    };
    Ok((part(position.transaction)?, part(position.position)?))
}

impl UnitOfWork for PostgresUnitOfWork {
    type Store = DecryptingStore<PostgresStore, PostgresSubjectKeyStore>;
    type Keys = PostgresSubjectKeyStore;

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

    async fn append_new_streams(
        &self,
        tenant: &TenantId,
        streams: &[NewStream],
    ) -> Result<Vec<Option<AppendResult>>, WorkError> {
        let appends: Vec<NewStreamAppend<'_>> = streams
            .iter()
            .map(|new| NewStreamAppend {
                stream: &new.stream,
                events: &new.events,
                subject_key: new
                    .subject_key
                    .as_ref()
                    .map(|(subject, key)| (subject, key)),
            })
            .collect();
        Ok(self.store.append_new_streams(tenant, &appends).await?)
    }

    async fn idempotency_record(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, WorkError> {
        let client = self.store.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT key, digest, outcome FROM app_idempotency WHERE tenant = $1 AND key = $2",
            )
            .await
            .map_err(database("cannot prepare the idempotency lookup"))?;
        let row = client
            .query_opt(&statement, &[&tenant.as_str(), &key])
            .await
            .map_err(database("cannot read an idempotency record"))?;
        row.as_ref().map(record_from).transpose()
    }

    async fn commit(&self, work: Work) -> Result<Committed, WorkError> {
        let mut client = self.store.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(database("cannot start a unit of work"))?;
        let appended = match &work.append {
            Some(append) => Some(
                self.store
                    .append_in(
                        &transaction,
                        &work.tenant,
                        &append.stream,
                        append.expected,
                        &append.events,
                    )
                    .await?,
            ),
            None => None,
        };
        if let Some(claim) = &work.idempotency {
            let outcome = work.outcome(appended.as_ref(), &claim.key)?;
            // Inserted after the append, which holds the stream's lock: a concurrent twin of
            // this command waits for us there, then finds our record. ON CONFLICT DO NOTHING
            // waits for an uncommitted row with the same key, so one of two racing commits
            // wins and the other replays it.
            let inserted = transaction
                .execute(
                    "INSERT INTO app_idempotency (tenant, key, digest, outcome) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, key) DO NOTHING",
                    &[
                        &work.tenant.as_str(),
                        &claim.key,
                        &claim.digest.0.as_slice(),
                        &outcome_json(&outcome)?,
                    ],
                )
                .await
                .map_err(database("cannot record an idempotency key"))?;
            if inserted == 0 {
                transaction
                    .rollback()
                    .await
                    .map_err(database("cannot roll back a replayed unit of work"))?;
                return match self.idempotency_record(&work.tenant, &claim.key).await? {
                    Some(record) => Ok(Committed::Replayed(record)),
                    None => Err(WorkError::Corrupt {
                        what: format!("idempotency record {:?}", claim.key),
                        reason: "it conflicted on insert but cannot be read".into(),
                    }),
                };
            }
        }
        for message in &work.outbox {
            write_message(&transaction, &work.tenant, message).await?;
        }
        transaction.commit().await.map_err(|error| {
            // The commit's outcome is unknown: the caller retries with the same key and ids.
            WorkError::Store(StoreError::Unavailable {
                reason: "the unit of work's commit did not answer".into(),
                source: Some(Box::new(error)),
            })
        })?;
        Ok(Committed::Done(appended))
    }

    async fn commit_each(&self, works: Vec<Work>) -> Vec<Option<Committed>> {
        if works.is_empty() {
            return Vec::new();
        }
        match self.commit_together(&works).await {
            Ok(Some(appended)) => appended
                .into_iter()
                .map(|appended| Some(Committed::Done(appended)))
                .collect(),
            Ok(None) => works.iter().map(|_| None).collect(),
            Err(error) => {
                tracing::warn!(%error, works = works.len(), "committing together failed; each is left to run alone");
                works.iter().map(|_| None).collect()
            }
        }
    }

    async fn claim_outbox(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, WorkError> {
        let client = self.store.client().await?;
        let leased_until = now.checked_add_signed(lease).unwrap_or(now);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = client
            .prepare_cached(&format!(
                "UPDATE app_outbox SET next_attempt_at = $3 {RELAXED} \
                     WHERE (tenant, id) IN ( \
                         SELECT tenant, id FROM app_outbox \
                         WHERE tenant = $1 AND delivered_at IS NULL AND parked_at IS NULL \
                           AND next_attempt_at <= $2 \
                         ORDER BY next_attempt_at, created_at LIMIT $4 \
                         FOR UPDATE SKIP LOCKED) \
                     RETURNING {OUTBOX_COLUMNS}"
            ))
            .await
            .map_err(database("cannot prepare the outbox claim"))?;
        let rows = client
            .query(&statement, &[&tenant.as_str(), &now, &leased_until, &limit])
            .await
            .map_err(database("cannot claim outbox messages"))?;
        let mut entries = rows.iter().map(entry_from).collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|entry| (entry.message.created_at, entry.message.id));
        Ok(entries)
    }

    async fn outbox_delivered(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        execute_cached(
            &client,
            &format!(
                "UPDATE app_outbox SET delivered_at = COALESCE(delivered_at, $3), \
                     attempts = attempts + 1, last_error = NULL {RELAXED} \
                     WHERE tenant = $1 AND id = $2"
            ),
            &[&tenant.as_str(), &id, &at],
            "cannot mark an outbox message delivered",
        )
        .await?;
        Ok(())
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
        let client = self.store.client().await?;
        execute_cached(
            &client,
            &format!(
                "UPDATE app_outbox SET delivered_at = COALESCE(delivered_at, $3), \
                     attempts = attempts + 1, last_error = NULL {RELAXED} \
                     WHERE tenant = $1 AND id = ANY($2)"
            ),
            &[&tenant.as_str(), &ids, &at],
            "cannot mark outbox messages delivered",
        )
        .await?;
        Ok(())
    }

    async fn outbox_failed(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        execute_cached(
            &client,
            &format!(
                "UPDATE app_outbox SET attempts = attempts + 1, next_attempt_at = $3, \
                     last_error = $4 {RELAXED} WHERE tenant = $1 AND id = $2 \
                     AND delivered_at IS NULL AND parked_at IS NULL"
            ),
            &[&tenant.as_str(), &id, &retry_at, &error],
            "cannot record an outbox failure",
        )
        .await?;
        Ok(())
    }

    async fn outbox_parked(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        execute_cached(
            &client,
            &format!(
                "UPDATE app_outbox SET attempts = attempts + 1, parked_at = $3, \
                     last_error = $4 {RELAXED} WHERE tenant = $1 AND id = $2 \
                     AND delivered_at IS NULL AND parked_at IS NULL"
            ),
            &[&tenant.as_str(), &id, &at, &error],
            "cannot park an outbox message",
        )
        .await?;
        Ok(())
    }

    async fn outbox_replay_parked(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
    ) -> Result<u64, WorkError> {
        let client = self.store.client().await?;
        client
            .execute(
                "UPDATE app_outbox SET parked_at = NULL, next_attempt_at = $2 \
                 WHERE tenant = $1 AND parked_at IS NOT NULL AND delivered_at IS NULL",
                &[&tenant.as_str(), &at],
            )
            .await
            .map_err(database("cannot replay parked outbox messages"))
    }

    async fn outbox_health(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<OutboxHealth, WorkError> {
        let client = self.store.client().await?;
        let row = client
            .query_one(
                "SELECT \
                   count(*) FILTER (WHERE parked_at IS NULL), \
                   min(created_at) FILTER (WHERE parked_at IS NULL), \
                   count(*) FILTER (WHERE parked_at IS NOT NULL) \
                 FROM app_outbox WHERE tenant = $1 AND delivered_at IS NULL",
                &[&tenant.as_str()],
            )
            .await
            .map_err(database("cannot read the outbox's health"))?;
        let count = |index: usize| {
            let value: i64 = row.get(index);
            u64::try_from(value).unwrap_or(0)
        };
        let oldest: Option<DateTime<Utc>> = row.get(1);
        Ok(OutboxHealth {
            undelivered: count(0),
            oldest_undelivered_age: oldest
                .map(|created| now.signed_duration_since(created).max(TimeDelta::zero())),
            parked: count(2),
        })
    }

    async fn outbox_destinations(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Vec<DestinationHealth>, WorkError> {
        let client = self.store.client().await?;
        let failed = database("cannot read the outbox's destinations");
        let tenant = tenant.as_str();
        let waiting = client
            .query(
                &sql::UNDELIVERED_BY_DESTINATION.replace('?', "$"),
                &[&tenant],
            )
            .await
            .map_err(database("cannot read the outbox's destinations"))?;
        let reasons = client
            .query(&sql::FAILURES_BY_DESTINATION.replace('?', "$"), &[&tenant])
            .await
            .map_err(database("cannot read the outbox's failures"))?;
        let recent = now - RECENT_DELIVERIES;
        let delivered = client
            .query(
                &sql::DELIVERED_BY_DESTINATION.replace('?', "$"),
                &[&tenant, &recent],
            )
            .await
            .map_err(failed)?;
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        let mut health = DestinationFigures::default();
        for row in &waiting {
            let oldest: Option<DateTime<Utc>> = row.get(2);
            health.waiting(
                row.get(0),
                count(row.get(1)),
                oldest,
                count(row.get(3)),
                count(row.get(4)),
                now,
            );
        }
        for row in &reasons {
            let reason: String = row.get(1);
            health.failed(row.get(0), &reason, count(row.get(2)));
        }
        for row in &delivered {
            health.delivered(row.get(0), row.get(1), count(row.get(2)));
        }
        Ok(health.into_list())
    }

    async fn outbox(&self, tenant: &TenantId) -> Result<Vec<OutboxEntry>, WorkError> {
        let client = self.store.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM app_outbox WHERE tenant = $1 \
                     ORDER BY created_at, id"
                ),
                &[&tenant.as_str()],
            )
            .await
            .map_err(database("cannot read the outbox"))?;
        rows.iter().map(entry_from).collect()
    }

    async fn checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
    ) -> Result<Option<GlobalPosition>, WorkError> {
        let client = self.store.client().await?;
        let row = client
            .query_opt(
                "SELECT transaction, position FROM app_checkpoints \
                 WHERE tenant = $1 AND workflow = $2",
                &[&tenant.as_str(), &workflow],
            )
            .await
            .map_err(database("cannot read a workflow checkpoint"))?;
        row.map(|row| {
            let part = |index: usize| {
                let value: i64 = row.get(index);
                u64::try_from(value).map_err(|_| WorkError::Corrupt {
                    what: format!("checkpoint of workflow {workflow:?}"),
                    reason: format!("negative position {value}"),
                })
            };
            Ok(GlobalPosition {
                transaction: part(0)?,
                position: part(1)?,
            })
        })
        .transpose()
    }

    async fn alerts(&self, tenant: &TenantId) -> Result<BTreeMap<String, AlertState>, WorkError> {
        let client = self.store.client().await?;
        let rows = client
            .query(
                "SELECT alert, firing, since, limit_value FROM app_alerts WHERE tenant = $1",
                &[&tenant.as_str()],
            )
            .await
            .map_err(database("cannot read the alerts"))?;
        rows.iter()
            .map(|row| {
                let alert: String = row.get(0);
                let state = AlertState::from_row(&alert, row.get(1), row.get(2), row.get(3))?;
                Ok((alert, state))
            })
            .collect()
    }

    async fn commit_alerts(
        &self,
        tenant: &TenantId,
        changes: Vec<AlertChange>,
    ) -> Result<Vec<String>, WorkError> {
        let mut client = self.store.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(database("cannot begin the alerts' transaction"))?;
        let mut recorded = Vec::new();
        for change in changes {
            let limit = i64::try_from(change.state.limit).unwrap_or(i64::MAX);
            // Inserted, or changed from the other state: this commit announces it. Another
            // commit that changed it first holds the row until it ends; then the condition
            // reads its state, and nothing is written here.
            let changed = transaction
                .execute(
                    "INSERT INTO app_alerts (tenant, alert, firing, since, limit_value) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, alert) DO UPDATE \
                     SET firing = EXCLUDED.firing, since = EXCLUDED.since, \
                         limit_value = EXCLUDED.limit_value \
                     WHERE app_alerts.firing <> EXCLUDED.firing",
                    &[
                        &tenant.as_str(),
                        &change.alert,
                        &change.state.firing,
                        &change.state.since,
                        &limit,
                    ],
                )
                .await
                .map_err(database("cannot record an alert"))?;
            if changed == 1 {
                write_message(&transaction, tenant, &change.message).await?;
                recorded.push(change.alert);
            }
        }
        transaction.commit().await.map_err(|error| {
            WorkError::Store(StoreError::Unavailable {
                reason: "the alerts' commit did not answer".into(),
                source: Some(Box::new(error)),
            })
        })?;
        Ok(recorded)
    }

    async fn save_checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
        position: GlobalPosition,
    ) -> Result<(), WorkError> {
        let (transaction, at) = position_parts(position)?;
        let client = self.store.client().await?;
        client
            .execute(
                "INSERT INTO app_checkpoints (tenant, workflow, transaction, position) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, workflow) DO UPDATE \
                 SET transaction = EXCLUDED.transaction, position = EXCLUDED.position \
                 WHERE (app_checkpoints.transaction, app_checkpoints.position) \
                       < (EXCLUDED.transaction, EXCLUDED.position)",
                &[&tenant.as_str(), &workflow, &transaction, &at],
            )
            .await
            .map_err(database("cannot save a workflow checkpoint"))?;
        Ok(())
    }
}

/// Writes `message` to `tenant`'s outbox in `transaction`, unless a message with its id is
/// there (a retry of the same work).
async fn write_message(
    transaction: &tokio_postgres::Transaction<'_>,
    tenant: &TenantId,
    message: &OutboxMessage,
) -> Result<(), WorkError> {
    transaction
        .execute(
            "INSERT INTO app_outbox (tenant, id, destination, idempotency_key, payload, \
             created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (tenant, id) DO NOTHING",
            &[
                &tenant.as_str(),
                &message.id,
                &message.destination,
                &message.idempotency_key,
                &message.payload,
                &message.created_at,
            ],
        )
        .await
        .map_err(database("cannot write an outbox message"))?;
    Ok(())
}
