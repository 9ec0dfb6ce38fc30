//! A fresh PostgreSQL database per test, made from `DATABASE_URL` and dropped afterwards, so that
//! tests run in parallel and never see each other's rows.
//!
//! `DATABASE_URL` names a server and a role allowed to `CREATE DATABASE` (`source
//! scripts/postgres-env` exports one, starting the local cluster if needed), in libpq's
//! key=value form or as a URL. Everything here panics with a message saying what to do when
//! PostgreSQL cannot be reached: a PostgreSQL test fails, it never skips.
//!
//! Depends on none of the workspace's crates, so any crate's tests can use it.

use std::time::Duration;

use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// How long dropping a test database may take before it is left behind.
const DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// A database that exists for one test: created empty (UTF-8, `C` collation) by
/// [`TestDatabase::create`], dropped when this value is, with any connection still open to it
/// closed by the server (`DROP DATABASE … WITH (FORCE)`).
#[derive(Debug)]
pub struct TestDatabase {
    /// Its name: `crm_test_` and a fresh UUIDv7.
    pub name: String,
    /// A connection string to it, as the `DATABASE_URL` role (its owner).
    pub url: String,
    server: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database on the server `DATABASE_URL` names.
    ///
    /// # Panics
    /// When `DATABASE_URL` is unset, the server cannot be reached, or the role may not create a
    /// database; the message says which.
    pub async fn create() -> Self {
        let server = server_url();
        let name = format!("crm_test_{}", Uuid::now_v7().simple());
        client(&server)
            .await
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' \
                 LC_CTYPE 'C'"
            ))
            .await
            .unwrap_or_else(|error| panic!("CREATE DATABASE {name} failed: {error}"));
        let url = with_dbname(&server, &name);
        Self { name, url, server }
    }

    /// A client to this database, as its owner, its connection driven by a spawned task (so it
    /// must be called inside a Tokio runtime).
    ///
    /// # Panics
    /// When the database cannot be reached.
    pub async fn client(&self) -> Client {
        client(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop cannot await and may run inside a runtime: a thread with a runtime of its own.
        // Best effort: a database left behind costs disk, not correctness.
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok((client, driver)) = tokio_postgres::connect(&server, NoTls).await {
                    tokio::spawn(async move {
                        let _ = driver.await;
                    });
                    let _ = tokio::time::timeout(
                        DROP_TIMEOUT,
                        client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                    )
                    .await;
                }
            });
        });
        let _ = dropped.join();
    }
}

/// A login role with a password, for tests that connect over TCP (where the server asks for a
/// password: `scram-sha-256` from 127.0.0.1 in Debian's `pg_hba.conf`): `crm_test_role_` and a
/// fresh UUIDv7, made by the `DATABASE_URL` role and dropped when this value is. Declare it
/// before the [`TestDatabase`]s it owns, so that they are dropped first.
#[derive(Debug)]
pub struct TestRole {
    /// Its name.
    pub name: String,
    /// Its password (random, for this test only).
    pub password: String,
    server: String,
}

impl TestRole {
    /// Creates a role that may log in (and nothing more) on the server `DATABASE_URL` names.
    ///
    /// # Panics
    /// When `DATABASE_URL` is unset, the server cannot be reached, or the role may not create
    /// roles; the message says which.
    pub async fn create() -> Self {
        let server = server_url();
        let name = format!("crm_test_role_{}", Uuid::now_v7().simple());
        let password = format!("{}{}", Uuid::now_v7().simple(), Uuid::now_v7().simple());
        client(&server)
            .await
            .batch_execute(&format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"))
            .await
            .unwrap_or_else(|error| panic!("CREATE ROLE {name} failed: {error}"));
        Self {
            name,
            password,
            server,
        }
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // As for `TestDatabase`: best effort, on a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok((client, driver)) = tokio_postgres::connect(&server, NoTls).await {
                    tokio::spawn(async move {
                        let _ = driver.await;
                    });
                    let _ = tokio::time::timeout(
                        DROP_TIMEOUT,
                        client.batch_execute(&format!("DROP ROLE IF EXISTS {name}")),
                    )
                    .await;
                }
            });
        });
        let _ = dropped.join();
    }
}

/// The connection string of the server tests run against: `DATABASE_URL`.
///
/// # Panics
/// When `DATABASE_URL` is not set.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set. PostgreSQL tests never skip: run `source \
             scripts/postgres-env` (scripts/test does) or point DATABASE_URL at a server that \
             allows CREATE DATABASE"
        )
    })
}

/// A client on `connection`, its connection driven by a spawned task (so it must be called
/// inside a Tokio runtime).
///
/// # Panics
/// When PostgreSQL cannot be reached there.
pub async fn client(connection: &str) -> Client {
    let (client, driver) = tokio_postgres::connect(connection, NoTls)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot connect to PostgreSQL at {connection:?}: {error}. PostgreSQL tests never \
                 skip: run `source scripts/postgres-env` (scripts/test does) or point \
                 DATABASE_URL at a server that answers"
            )
        });
    tokio::spawn(async move {
        let _ = driver.await;
    });
    client
}

/// `connection` with its database replaced by `dbname`, in either form: a URL
/// (`postgresql://host/db?…`) keeps its authority and query, key=value text gets a second
/// `dbname` (libpq takes the last value of a repeated key).
pub fn with_dbname(connection: &str, dbname: &str) -> String {
    match url_parts(connection) {
        Some((authority, query)) => format!("postgresql://{authority}/{dbname}{query}"),
        None => format!("{connection} dbname={dbname}"),
    }
}

/// `connection` with libpq `options` sent at start-up, e.g. `-c role=crm_eventstore_app` to
/// act as another role over the same login. Replaces any `options` already given.
pub fn with_options(connection: &str, options: &str) -> String {
    let Some((authority, query)) = url_parts(connection) else {
        let escaped = options.replace('\\', "\\\\").replace('\'', "\\'");
        return format!("{connection} options='{escaped}'");
    };
    let mut pairs: Vec<&str> = query
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("options="))
        .collect();
    let encoded = format!("options={}", percent_encode(options));
    pairs.push(&encoded);
    let path = connection_path(connection);
    format!("postgresql://{authority}/{path}?{}", pairs.join("&"))
}

/// The authority and the query (with its `?`, or empty) of a URL connection string; `None` for
/// key=value text.
fn url_parts(connection: &str) -> Option<(&str, &str)> {
    let rest = connection
        .strip_prefix("postgres://")
        .or_else(|| connection.strip_prefix("postgresql://"))?;
    let (before, query) = match rest.find('?') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let authority = before.split('/').next().unwrap_or(before);
    Some((authority, query))
}

/// The database part of a URL connection string (empty when it names none).
fn connection_path(connection: &str) -> &str {
    let rest = connection
        .strip_prefix("postgres://")
        .or_else(|| connection.strip_prefix("postgresql://"))
        .unwrap_or(connection);
    let before = rest.split('?').next().unwrap_or(rest);
    before.split_once('/').map_or("", |(_, path)| path)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_in_either_form() {
        assert_eq!(
            with_dbname("host=/var/run/postgresql user=me dbname=postgres", "t1"),
            "host=/var/run/postgresql user=me dbname=postgres dbname=t1"
        );
        assert_eq!(
            with_dbname("postgres://me:pw@db:5432/postgres?sslmode=disable", "t1"),
            "postgresql://me:pw@db:5432/t1?sslmode=disable"
        );
        assert_eq!(with_dbname("postgresql://db", "t1"), "postgresql://db/t1");
    }

    #[test]
    fn options_are_added_in_either_form() {
        assert_eq!(
            with_options("host=db dbname=t1", "-c role=app"),
            "host=db dbname=t1 options='-c role=app'"
        );
        assert_eq!(
            with_options(
                "postgresql://me@db/t1?sslmode=disable&options=x",
                "-c role=app"
            ),
            "postgresql://me@db/t1?sslmode=disable&options=-c%20role%3Dapp"
        );
        assert_eq!(
            with_options("postgresql://db/t1", "-c role=app"),
            "postgresql://db/t1?options=-c%20role%3Dapp"
        );
    }

    #[tokio::test]
    #[should_panic(expected = "PostgreSQL tests never skip")]
    async fn an_unreachable_server_fails_the_test() {
        client("host=/nonexistent/socket/dir port=1 user=nobody connect_timeout=1").await;
    }

    #[tokio::test]
    async fn a_test_database_is_fresh_and_dropped_with_its_connections() {
        let database = TestDatabase::create().await;
        let name = database.name.clone();
        let inside = database.client().await;
        let tables: i64 = inside
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
                &[],
            )
            .await
            .expect("count the tables")
            .get(0);
        assert_eq!(tables, 0, "a fresh database is empty");

        drop(database);
        let left: i64 = client(&server_url())
            .await
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .expect("look for the database")
            .get(0);
        assert_eq!(left, 0, "dropped, although a connection was still open");
        assert!(inside.is_closed() || inside.simple_query("SELECT 1").await.is_err());
    }
}
