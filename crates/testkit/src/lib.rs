//! # crm-testkit
//!
//! Test support shared by the workspace's tests, and nothing else: a dev-dependency only, never
//! a dependency of a library or a binary.
//!
//! - [`postgres`]: a fresh PostgreSQL database per test ([`postgres::TestDatabase`]), made from
//!   `DATABASE_URL` and dropped afterwards; fails loudly, never skips, when PostgreSQL cannot be
//!   reached. Depends on none of our crates, so any crate's tests can use it.
//! - Feature `eventstore`: `TestDatabase::store` and `TestDatabase::config`, the event store on
//!   a test database (`eventstore.rs`), and `tenant_id`, a tenant for tests.
//! - Feature `projections` (pulls crm-projections and crm-domain, so off by default and off for
//!   the event store's tests): the read models' test support.
//!   - `world`: aggregates driven by commands, their events in one numbered log;
//!   - `scenario`: random but valid histories for property tests, played into a world;
//!   - `properties`: the fold properties every read model keeps (batched = one by one =
//!     every event twice);
//!   - `storage_conformance`: the storage port's conformance suite, run for every adapter;
//!   - `workload`: real events appended to an event store, read back and folded as the
//!     reference the runner's tests compare with.
//! - Feature `linkage`: `linkage_quality`, identity resolution run on generated people and
//!   measured against their ground truth.
//! - Feature `people` (pulls only `rand`): `people`, a seeded generator of person records
//!   with corrupted duplicates and their ground truth, to measure identity resolution.
//!
//! crm-projections dev-depends on this crate, which depends on crm-projections: its tests under
//! `tests/` share one instance of the library with this crate, but its unit tests (in `src/`)
//! are a second instance, so they cannot use the projection-level modules; tests that need them
//! live in `crates/projections/tests/`.

#[cfg(feature = "eventstore")]
mod eventstore;
#[cfg(feature = "linkage")]
pub mod linkage_quality;
#[cfg(feature = "people")]
pub mod people;
pub mod postgres;
#[cfg(feature = "projections")]
pub mod properties;
#[cfg(feature = "projections")]
pub mod scenario;
#[cfg(feature = "projections")]
pub mod storage_conformance;
#[cfg(feature = "projections")]
pub mod workload;
#[cfg(feature = "projections")]
pub mod world;

/// The tenant `name`, for tests: [`crm_eventstore::TenantId::new`], panicking with the name
/// and the reason when a test names a tenant the store refuses.
#[cfg(feature = "eventstore")]
pub fn tenant_id(name: &str) -> crm_eventstore::TenantId {
    crm_eventstore::TenantId::new(name)
        .unwrap_or_else(|error| panic!("{name:?} is not a valid tenant id: {error}"))
}
