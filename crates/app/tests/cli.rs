//! The `crm` binary's auditor and operator commands against a real PostgreSQL database: a
//! manifest exported, the history verified intact, then a payload altered behind the store's
//! back and `crm audit verify` exiting non-zero naming the stream and version.

mod support;

use std::process::{Command, Output};

use support::{captured_lead, tenant};
use uuid::Uuid;

fn crm(database: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crm"))
        .args(args)
        .env("DATABASE_URL", database)
        .output()
        .expect("the crm binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_catches_a_payload_altered_behind_the_stores_back() {
    let fixture = support::postgres().await;
    let database = fixture.database.as_ref().expect("a database");
    let url = database.url.clone();
    let (service, _) = support::service(fixture.work.clone());
    let lead = captured_lead(&service).await;

    let migrated = crm(&url, &["migrate"]);
    assert!(migrated.status.success(), "{migrated:?}");

    let manifest = std::env::temp_dir().join(format!("crm-manifest-{}.json", Uuid::now_v7()));
    let manifest_path = manifest.to_string_lossy().into_owned();
    let exported = crm(
        &url,
        &[
            "audit",
            "manifest",
            "--tenant",
            tenant().as_str(),
            "--out",
            &manifest_path,
        ],
    );
    assert!(exported.status.success(), "{exported:?}");

    let verified = crm(
        &url,
        &[
            "audit",
            "verify",
            "--tenant",
            tenant().as_str(),
            "--manifest",
            &manifest_path,
        ],
    );
    assert!(verified.status.success(), "{verified:?}");
    assert!(
        stdout(&verified).contains("intact"),
        "{}",
        stdout(&verified)
    );

    for (what, words) in [("inbox", "waiting"), ("outbox", "undelivered")] {
        let status = crm(&url, &[what, "status", "--tenant", tenant().as_str()]);
        assert!(status.status.success(), "{status:?}");
        assert!(stdout(&status).contains(words), "{}", stdout(&status));
    }

    // An attacker with full access rewrites the lead's first event.
    database
        .client()
        .await
        .batch_execute(&format!(
            "BEGIN; ALTER TABLE events DISABLE TRIGGER USER; \
             UPDATE events SET payload = '{{\"raw_payload\": {{\"email\": \"mallory@example.com\"}}}}' \
             WHERE tenant_id = '{}' AND stream_id = 'lead-{}' AND version = 1; \
             ALTER TABLE events ENABLE TRIGGER USER; COMMIT;",
            tenant().as_str(),
            lead.0
        ))
        .await
        .expect("the superuser rewrites the row");
    let caught = crm(&url, &["audit", "verify", "--tenant", tenant().as_str()]);
    assert!(
        !caught.status.success(),
        "the rewrite went unnoticed: {caught:?}"
    );
    let report = stdout(&caught);
    assert!(
        report.contains(&format!("BROKEN: stream lead-{} at version 1", lead.0)),
        "{report}"
    );

    let refused = crm(&url, &["audit", "verify", "--tenant", ""]);
    assert!(!refused.status.success());
    let _ = std::fs::remove_file(&manifest);
    drop(fixture);
}
