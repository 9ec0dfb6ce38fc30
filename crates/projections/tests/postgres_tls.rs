//! The read models' pool and the projection leases over TLS: a connection string with
//! `sslmode=require` reaches the local server over TCP (127.0.0.1) encrypted, read by the
//! event store's `crm_eventstore::postgres::tls` as every connection of the workspace is.
//!
//! Needs a server with `ssl = on` that takes passwords from 127.0.0.1 (Debian's cluster does).
//! Fails, never skips, when PostgreSQL cannot be reached.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crm_eventstore::{StoreError, StoreSettings};
use crm_projections::customer360::Customer360Model;
use crm_projections::{
    DocumentStore, Lease, PostgresDocuments, Projector, ProjectorOptions, StorageError,
    connect_pool,
};
use crm_testkit::postgres::{TestDatabase, TestRole, client, server_url};
use crm_testkit::workload::{append_all, catch_up_to, reference, tenant, workload};

/// Whether the server session `pid` is encrypted.
async fn encrypted(admin: &tokio_postgres::Client, pid: i32) -> bool {
    admin
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = $1", &[&pid])
        .await
        .expect("read pg_stat_ssl")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_models_and_leases_connect_with_sslmode_require() {
    // The role owns the database, so it may create the read models' tables there.
    let role = TestRole::create().await;
    let database = TestDatabase::create().await;
    let admin = client(&server_url()).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} OWNER TO {}",
            database.name, role.name
        ))
        .await
        .expect("give the database to the role");
    let port: i32 = admin
        .query_one("SELECT current_setting('port')::int", &[])
        .await
        .expect("the server's port")
        .get(0);
    let connection = format!(
        "host=127.0.0.1 port={port} user={} password={} dbname={} connect_timeout=10 \
         sslmode=require",
        role.name, role.password, database.name
    );

    // A read model on a TLS pool, fed by a projector from the event store (over the socket).
    let store = database.store(StoreSettings::default()).await;
    let documents = Arc::new(
        PostgresDocuments::connect(&connection, 2, Customer360Model)
            .await
            .expect("connect the read model with sslmode=require"),
    );
    let head = append_all(&store, &tenant(), &workload(2, 1, 1)).await;
    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        ProjectorOptions::default(),
    );
    catch_up_to(&mut projector, head)
        .await
        .expect("project over TLS");
    assert_eq!(
        documents.documents(&tenant()).await.expect("read back"),
        reference(&store, &tenant(), head).await
    );

    // The pool `connect_pool` builds, as the read models use it.
    let pool = connect_pool(&connection, 1).expect("a pool with sslmode=require");
    let pooled = pool.get().await.expect("a pooled connection over TLS");
    let pid: i32 = pooled
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("its pid")
        .get(0);
    assert!(
        encrypted(&admin, pid).await,
        "the read models' pool uses TLS"
    );

    // A lease: its own session, encrypted too.
    let name = Lease::name("proj_customer360_v1", "acme");
    let lease = Lease::try_acquire(&connection, &name)
        .await
        .expect("connect the lease with sslmode=require")
        .expect("nobody holds the lease");
    assert!(lease.is_held().await);
    let pid = lease.backend_pid().await.expect("the lease's pid");
    assert!(encrypted(&admin, pid).await, "the lease's session uses TLS");
    assert!(
        Lease::try_acquire(&connection, &name)
            .await
            .expect("a second session over TLS")
            .is_none(),
        "the lease is held"
    );

    // Every session the role has open is encrypted.
    let row = admin
        .query_one(
            "SELECT count(*), bool_and(s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s \
             USING (pid) WHERE a.usename = $1",
            &[&role.name],
        )
        .await
        .expect("the role's sessions");
    let (sessions, all_encrypted): (i64, bool) = (row.get(0), row.get(1));
    assert!(sessions >= 2 && all_encrypted, "{sessions} sessions");
}

#[tokio::test]
async fn unusable_tls_settings_are_typed_errors() {
    let error = connect_pool("host=127.0.0.1 sslmode=verify", 1).expect_err("unknown sslmode");
    assert!(
        matches!(
            &error,
            StorageError::ConnectionSettings(StoreError::InvalidSslMode { value, .. })
                if value == "verify"
        ),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    let error = Lease::try_acquire(
        "postgres://127.0.0.1/crm?sslmode=verify-full&sslrootcert=/nonexistent/root.pem",
        "lease",
    )
    .await
    .expect_err("a missing root file");
    assert!(
        matches!(
            &error,
            StorageError::ConnectionSettings(StoreError::UnreadableRootCertificate { .. })
        ),
        "{error:?}"
    );
}
