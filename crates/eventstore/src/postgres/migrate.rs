//! Schema migrations: numbered `.sql` files from `migrations/`, applied in order at start-up
//! and recorded with a checksum, under a transaction-level advisory lock so that processes
//! starting at once take turns instead of racing.

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::from_pg;
use crate::StoreError;

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number (the file name's prefix).
    pub version: u32,
    /// Its file name without the extension.
    pub name: &'static str,
    /// Its SQL.
    pub sql: &'static str,
}

impl Migration {
    /// The SHA-256 of its SQL, recorded when applied and compared on every later start.
    pub fn checksum(&self) -> [u8; 32] {
        Sha256::digest(self.sql.as_bytes()).into()
    }
}

/// Every migration this code knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_events",
        sql: include_str!("../../migrations/0001_events.sql"),
    },
    Migration {
        version: 2,
        name: "0002_subject_keys",
        sql: include_str!("../../migrations/0002_subject_keys.sql"),
    },
    Migration {
        version: 3,
        name: "0003_cheaper_append",
        sql: include_str!("../../migrations/0003_cheaper_append.sql"),
    },
    Migration {
        version: 4,
        name: "0004_qualified_append",
        sql: include_str!("../../migrations/0004_qualified_append.sql"),
    },
    Migration {
        version: 5,
        name: "0005_log_seals",
        sql: include_str!("../../migrations/0005_log_seals.sql"),
    },
    Migration {
        version: 6,
        name: "0006_subject_key_function",
        sql: include_str!("../../migrations/0006_subject_key_function.sql"),
    },
    Migration {
        version: 7,
        name: "0007_append_with_subject_key",
        sql: include_str!("../../migrations/0007_append_with_subject_key.sql"),
    },
];

/// An arbitrary key ("crm-ev" in ASCII) for the migration lock; the lock is per database.
const MIGRATION_LOCK: i64 = 0x0000_6372_6d2d_6576;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS eventstore_migrations ( \
     version integer PRIMARY KEY, name text NOT NULL, checksum bytea NOT NULL, \
     applied_at timestamptz NOT NULL DEFAULT now())";

fn failed(version: u32, error: tokio_postgres::Error) -> StoreError {
    match from_pg(error) {
        StoreError::Database { message, .. } => StoreError::Migration {
            version,
            reason: message,
        },
        other => other,
    }
}

/// Compares what the database has applied with [`MIGRATIONS`]: the versions still to apply,
/// or an error when the database has a migration this code does not know or one whose
/// checksum differs.
fn pending(applied: &[(u32, Vec<u8>)]) -> Result<Vec<&'static Migration>, StoreError> {
    for (version, checksum) in applied {
        let Some(known) = MIGRATIONS.iter().find(|known| known.version == *version) else {
            return Err(StoreError::Migration {
                version: *version,
                reason: "the database has a migration this code does not know (newer schema)"
                    .into(),
            });
        };
        if checksum.as_slice() != known.checksum() {
            return Err(StoreError::Migration {
                version: *version,
                reason: format!(
                    "{} was changed after it was applied (checksum differs)",
                    known.name
                ),
            });
        }
    }
    Ok(MIGRATIONS
        .iter()
        .filter(|known| !applied.iter().any(|(version, _)| *version == known.version))
        .collect())
}

async fn applied(
    client: &impl tokio_postgres::GenericClient,
) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
    let rows = client
        .query(
            "SELECT version, checksum FROM eventstore_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(|error| failed(0, error))?;
    rows.iter()
        .map(|row| {
            let version: i32 = row.try_get(0).map_err(|error| failed(0, error))?;
            let checksum: Vec<u8> = row.try_get(1).map_err(|error| failed(0, error))?;
            let version = u32::try_from(version).map_err(|_| StoreError::Migration {
                version: 0,
                reason: format!("negative migration number {version}"),
            })?;
            Ok((version, checksum))
        })
        .collect()
}

/// Applies every pending migration in one transaction, as the connected (owner) role.
pub(crate) async fn run(client: &mut Client) -> Result<(), StoreError> {
    let transaction = client
        .transaction()
        .await
        .map_err(|error| failed(0, error))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|error| failed(0, error))?;
    transaction
        .batch_execute(CREATE_TABLE)
        .await
        .map_err(|error| failed(0, error))?;
    for migration in pending(&applied(&transaction).await?)? {
        transaction
            .batch_execute(migration.sql)
            .await
            .map_err(|error| failed(migration.version, error))?;
        let version = i32::try_from(migration.version).unwrap_or(i32::MAX);
        transaction
            .execute(
                "INSERT INTO eventstore_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                &[&version, &migration.name, &migration.checksum().as_slice()],
            )
            .await
            .map_err(|error| failed(migration.version, error))?;
    }
    transaction.commit().await.map_err(|error| failed(0, error))
}

/// Checks, without changing anything, that every migration is applied (for a role that may
/// not migrate).
pub(crate) async fn check(client: &Client) -> Result<(), StoreError> {
    let missing = pending(&applied(client).await?)?;
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(StoreError::Migration {
            version: first.version,
            reason: format!(
                "{} is not applied: run the migrations as the owner role",
                first.name
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
            assert!(
                migration
                    .name
                    .starts_with(&format!("{:04}_", migration.version))
            );
        }
    }

    #[test]
    fn a_changed_migration_is_refused() {
        assert!(pending(&[(1, vec![0; 32])]).is_err());
        assert!(pending(&[(99, vec![])]).is_err());
        assert_eq!(
            pending(&[(1, MIGRATIONS[0].checksum().to_vec())])
                .unwrap()
                .len(),
            MIGRATIONS.len() - 1
        );
    }
}
