//! The PostgreSQL test harness: a fresh, isolated database per test, made from `DATABASE_URL`
//! and dropped afterwards (best effort). A test fails, never skips, when PostgreSQL is missing.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crm_eventstore::{PostgresConfig, PostgresStore, StoreSettings};
use tokio_postgres::NoTls;
use uuid::Uuid;

/// A database that exists for one test.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    admin: String,
    /// A connection string to it, as the owner (the `DATABASE_URL` user).
    pub url: String,
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set. PostgreSQL tests never skip: run `source scripts/postgres-env` \
             (scripts/test does) or point DATABASE_URL at a server that allows CREATE DATABASE"
        )
    })
}

/// `connection` with its database replaced by `dbname` (libpq key=value or URL form).
pub fn with_dbname(connection: &str, dbname: &str) -> String {
    if let Some(rest) = connection
        .strip_prefix("postgres://")
        .or_else(|| connection.strip_prefix("postgresql://"))
    {
        let (authority, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (rest, None),
        };
        let host = authority.split('/').next().unwrap_or(authority);
        let query = query.map(|query| format!("?{query}")).unwrap_or_default();
        format!("postgresql://{host}/{dbname}{query}")
    } else {
        // libpq takes the last value of a repeated key.
        format!("{connection} dbname={dbname}")
    }
}

/// `connection` with extra libpq options (e.g. `-c role=...`), key=value form only.
pub fn with_options(connection: &str, options: &str) -> String {
    format!("{connection} options='{options}'")
}

pub async fn admin_client(connection: &str) -> tokio_postgres::Client {
    let (client, driver) = tokio_postgres::connect(connection, NoTls).await.unwrap_or_else(|error| {
        panic!(
            "cannot connect to PostgreSQL at DATABASE_URL={connection:?}: {error}. PostgreSQL tests \
             never skip: run `source scripts/postgres-env` (scripts/test does)"
        )
    });
    tokio::spawn(async move {
        let _ = driver.await;
    });
    client
}

impl TestDatabase {
    /// Creates a fresh UTF-8 database.
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = format!("es_test_{}", Uuid::now_v7().simple());
        let client = admin_client(&admin).await;
        client
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            ))
            .await
            .unwrap_or_else(|error| panic!("CREATE DATABASE {name} failed: {error}"));
        let url = with_dbname(&admin, &name);
        Self { name, admin, url }
    }

    /// A client to this database, as the owner.
    pub async fn client(&self) -> tokio_postgres::Client {
        admin_client(&self.url).await
    }

    /// A store on this database, migrating it, with a small pool.
    pub async fn store(&self, settings: StoreSettings) -> PostgresStore {
        PostgresStore::connect(self.config(settings))
            .await
            .expect("connect the store")
    }

    pub fn config(&self, settings: StoreSettings) -> PostgresConfig {
        PostgresConfig::new(self.url.clone())
            .with_pool_size(12)
            .with_settings(settings)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop cannot await, and may run inside a runtime: a thread with its own runtime.
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok((client, driver)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(async move {
                        let _ = driver.await;
                    });
                    let _ = tokio::time::timeout(
                        Duration::from_secs(10),
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
