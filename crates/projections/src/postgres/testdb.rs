//! Test support: a fresh PostgreSQL database per test, made from `DATABASE_URL` and dropped
//! afterwards. A test fails, never skips, when PostgreSQL cannot be reached.

use std::time::Duration;

use tokio_postgres::NoTls;
use uuid::Uuid;

/// A database that exists for one test.
pub(crate) struct TestDatabase {
    name: String,
    admin: String,
    /// A connection string to it, as the `DATABASE_URL` user.
    pub(crate) url: String,
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set. PostgreSQL tests never skip: run `source \
             scripts/postgres-env` or point DATABASE_URL at a server that allows CREATE DATABASE"
        )
    })
}

/// `connection` with its database replaced by `dbname` (libpq key=value or URL form).
pub(crate) fn with_dbname(connection: &str, dbname: &str) -> String {
    if let Some(rest) = connection
        .strip_prefix("postgres://")
        .or_else(|| connection.strip_prefix("postgresql://"))
    {
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let host = authority.split('/').next().unwrap_or(authority);
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("postgresql://{host}/{dbname}{query}")
    } else {
        // libpq takes the last value of a repeated key.
        format!("{connection} dbname={dbname}")
    }
}

impl TestDatabase {
    /// Creates a fresh database.
    pub(crate) async fn create() -> Self {
        let admin = admin_url();
        let name = format!("proj_test_{}", Uuid::now_v7().simple());
        let (client, driver) =
            tokio_postgres::connect(&admin, NoTls)
                .await
                .unwrap_or_else(|error| {
                    panic!(
                        "cannot connect to PostgreSQL at DATABASE_URL={admin:?}: {error}. \
                     PostgreSQL tests never skip: run `source scripts/postgres-env`"
                    )
                });
        tokio::spawn(async move {
            let _ = driver.await;
        });
        client
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' \
                 LC_CTYPE 'C'"
            ))
            .await
            .unwrap_or_else(|error| panic!("CREATE DATABASE {name} failed: {error}"));
        let url = with_dbname(&admin, &name);
        Self { name, admin, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop cannot await and may run inside a runtime: a thread with its own runtime.
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
