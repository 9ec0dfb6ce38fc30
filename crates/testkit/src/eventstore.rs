//! The event store on a [`TestDatabase`] (feature `eventstore`).

use crm_eventstore::{PostgresConfig, PostgresStore, StoreSettings};

use crate::postgres::TestDatabase;

/// Connections in a test store's pool: enough for the concurrency tests, few enough for many
/// tests at once on one server.
const POOL_SIZE: usize = 12;

impl TestDatabase {
    /// The store's configuration for this database, with `settings` and a small pool.
    pub fn config(&self, settings: StoreSettings) -> PostgresConfig {
        PostgresConfig::new(self.url.clone())
            .with_pool_size(POOL_SIZE)
            .with_settings(settings)
    }

    /// A store on this database, migrating it (see [`TestDatabase::config`]).
    ///
    /// # Panics
    /// When the store cannot connect or migrate.
    pub async fn store(&self, settings: StoreSettings) -> PostgresStore {
        PostgresStore::connect(self.config(settings))
            .await
            .unwrap_or_else(|error| panic!("connect the event store to {}: {error}", self.name))
    }
}
