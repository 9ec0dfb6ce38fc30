//! The `crm` binary's auditor and operator commands against a real PostgreSQL database: a
//! manifest exported, the history verified intact online and offline (from `crm audit export`),
//! a rewritten export and a cut one caught offline, then a payload altered behind the store's
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

    // Exported, checked offline with nothing but the file and the manifest.
    let export = std::env::temp_dir().join(format!("crm-export-{}.jsonl", Uuid::now_v7()));
    let export_path = export.to_string_lossy().into_owned();
    let exported = crm(
        &url,
        &[
            "audit",
            "export",
            "--tenant",
            tenant().as_str(),
            "--out",
            &export_path,
        ],
    );
    assert!(exported.status.success(), "{exported:?}");
    let offline = crm(
        "",
        &[
            "audit",
            "verify",
            "--file",
            &export_path,
            "--manifest",
            &manifest_path,
        ],
    );
    assert!(offline.status.success(), "{offline:?}");
    assert!(stdout(&offline).contains("intact"), "{}", stdout(&offline));
    let text = std::fs::read_to_string(&export).expect("the export reads");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and the lead's two events");
    assert!(
        !text.contains("ada@example.com"),
        "personal data leaves encrypted"
    );
    // A rewritten payload in the file, and a cut tail against the manifest.
    let rewritten = text.replacen("web-form", "evil-form", 1);
    assert_ne!(rewritten, text);
    std::fs::write(&export, rewritten).expect("the export is rewritten");
    let caught = crm("", &["audit", "verify", "--file", &export_path]);
    assert!(!caught.status.success(), "{caught:?}");
    assert!(
        stdout(&caught).contains(&format!("BROKEN: stream lead-{} at version 1", lead.0)),
        "{}",
        stdout(&caught)
    );
    std::fs::write(&export, format!("{}\n{}\n", lines[0], lines[1])).expect("cut");
    let cut = crm(
        "",
        &[
            "audit",
            "verify",
            "--file",
            &export_path,
            "--manifest",
            &manifest_path,
        ],
    );
    assert!(!cut.status.success(), "{cut:?}");
    assert!(
        stdout(&cut).contains("MANIFEST: stream"),
        "{}",
        stdout(&cut)
    );
    let _ = std::fs::remove_file(&export);

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

/// `crm audit history` prints every event of a record with who, from where and why; `crm
/// audit replay` shows a customer as of recording time and as of business time: a contact a
/// source dates to 1 March, recorded today, is there "as of 2 March" in business time only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_history_and_replay_as_of_recording_and_business_time() {
    use crm_domain::contact::{Contact, ContactCommand, Detail, DetailChange, Provenance};
    use crm_domain::identity::PersonName;

    let fixture = support::postgres().await;
    let url = fixture.database.as_ref().expect("a database").url.clone();
    let (service, _) = support::service(fixture.work.clone());
    let contact = Uuid::now_v7();
    let march = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
        .and_then(|day| day.and_hms_opt(10, 0, 0))
        .expect("a date")
        .and_utc();
    let meta = support::meta().with_source(crm_eventstore::Source {
        system: "legacy-crm".into(),
        timestamp: Some(march),
    });
    service
        .execute::<Contact>(
            &tenant(),
            contact,
            ContactCommand::Create {
                contact_id: crm_domain::ContactId(contact),
                provenance: Provenance::new("legacy-crm", march),
                changes: vec![DetailChange::Set(Detail::GivenName(Some(
                    PersonName::new("Grace").expect("a name"),
                )))],
            },
            &meta,
        )
        .await
        .expect("the contact is imported");

    let history = crm(
        &url,
        &[
            "audit",
            "history",
            "--tenant",
            tenant().as_str(),
            &format!("contact/{contact}"),
        ],
    );
    assert!(history.status.success(), "{history:?}");
    let text = stdout(&history);
    assert!(text.contains("ContactCreated"), "{text}");
    assert!(
        text.contains("legacy-crm at 2026-03-01T10:00:00+00:00"),
        "{text}"
    );
    assert!(text.contains("command "), "{text}");
    let json = crm(
        &url,
        &[
            "audit",
            "history",
            "--tenant",
            tenant().as_str(),
            &format!("contact-{contact}"),
            "--json",
        ],
    );
    assert!(json.status.success(), "{json:?}");
    let first: serde_json::Value =
        serde_json::from_str(stdout(&json).lines().next().expect("a line")).expect("JSON Lines");
    assert_eq!(first["type"], "ContactCreated");
    assert_eq!(first["source"]["system"], "legacy-crm");

    let acme = tenant();
    let contact_text = contact.to_string();
    let replay = |as_of: &str, business: bool| {
        let mut args = vec![
            "audit",
            "replay",
            "--tenant",
            acme.as_str(),
            "--as-of",
            as_of,
        ];
        if business {
            args.push("--business-time");
        }
        args.extend(["customer", contact_text.as_str()]);
        crm(&url, &args)
    };
    let business = replay("2026-03-02", true);
    assert!(business.status.success(), "{business:?}");
    assert!(stdout(&business).contains("Grace"), "{}", stdout(&business));
    let recorded = replay("2026-03-02", false);
    assert!(
        !recorded.status.success(),
        "nothing was recorded by 2 March: {recorded:?}"
    );
    let before = replay("2026-02-28", true);
    assert!(
        !before.status.success(),
        "nothing had happened by 28 February: {before:?}"
    );
    let now = replay(&chrono::Utc::now().to_rfc3339(), false);
    assert!(now.status.success(), "{now:?}");
    let bad = replay("yesterday", false);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--as-of"));
}

/// The operator's `crm projections status` and `crm outbox replay-parked`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_report_projections_and_replay_the_outbox() {
    let fixture = support::postgres().await;
    let url = fixture.database.as_ref().expect("a database").url.clone();
    let (service, _) = support::service(fixture.work.clone());
    captured_lead(&service).await;

    let status = crm(
        &url,
        &["projections", "status", "--tenant", tenant().as_str()],
    );
    assert!(status.status.success(), "{status:?}");
    let text = stdout(&status);
    for model in [
        "customer360",
        "identity_index",
        "pipeline",
        "sla",
        "duplicates",
        "account360",
        "engagements",
        "custom_fields",
    ] {
        assert!(text.contains(model), "{text}");
    }
    assert!(
        text.contains("at the start"),
        "nothing projected yet: {text}"
    );
    assert!(
        text.contains("2 event(s) behind"),
        "a received and captured lead: {text}"
    );

    let replayed = crm(
        &url,
        &["outbox", "replay-parked", "--tenant", tenant().as_str()],
    );
    assert!(replayed.status.success(), "{replayed:?}");
    assert!(stdout(&replayed).contains("0 parked message(s) back in line"));
}

/// The operator's commands on the embedded default (a SQLite file, no `DATABASE_URL`): a demo
/// loaded, then every status command and the replay of quarantined leads.
#[test]
fn operator_commands_work_on_the_sqlite_default() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let config = directory.path().join("host.json");
    std::fs::write(
        &config,
        r#"{ "intake": { "default_region": "GB", "custom_fields": { "utm_source": "channel" } } }"#,
    )
    .expect("written");
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_crm"))
            .args(args)
            .current_dir(directory.path())
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .output()
            .expect("the crm binary runs");
        assert!(
            output.status.success(),
            "crm {args:?}: {}\n{}",
            stdout(&output),
            String::from_utf8_lossy(&output.stderr)
        );
        stdout(&output)
    };
    assert!(run(&["migrate"]).contains("crm.db"));
    run(&[
        "demo",
        "--tenant",
        "acme",
        "--leads",
        "200",
        "--customers",
        "6",
    ]);
    assert!(directory.path().join("crm.db").is_file(), "./crm.db made");
    let projections = run(&["projections", "status", "--tenant", "acme"]);
    assert!(projections.contains("customer360"), "{projections}");
    // Repairs: a rebuild in place, a park with nothing halted (refused), an unpark with
    // nothing parked.
    let rebuilt = run(&["projections", "rebuild", "--tenant", "acme", "customer360"]);
    assert!(
        rebuilt.contains("customer360: rebuilt for tenant acme and promoted; 0 event(s) parked"),
        "{rebuilt}"
    );
    let status = run(&["projections", "status", "--tenant", "acme"]);
    assert!(
        status
            .lines()
            .any(|line| line.starts_with("customer360") && line.contains(" 0 event(s) behind")),
        "the rebuilt model is caught up: {status}"
    );
    let park = Command::new(env!("CARGO_BIN_EXE_crm"))
        .args(["projections", "park", "--tenant", "acme", "sla"])
        .current_dir(directory.path())
        .env_remove("DATABASE_URL")
        .output()
        .expect("the crm binary runs");
    assert!(!park.status.success(), "{park:?}");
    assert!(
        String::from_utf8_lossy(&park.stderr).contains("is not halted"),
        "{park:?}"
    );
    let unparked = run(&["projections", "unpark", "--tenant", "acme", "duplicates"]);
    assert!(unparked.contains("nothing parked"), "{unparked}");
    assert!(run(&["inbox", "status", "--tenant", "acme"]).contains("inbox of acme"));
    assert!(run(&["outbox", "status", "--tenant", "acme"]).contains("outbox of acme"));
    let config_text = config.to_string_lossy().into_owned();
    let replayed = run(&[
        "inbox",
        "replay-quarantined",
        "--tenant",
        "acme",
        "--config",
        &config_text,
    ]);
    assert!(
        replayed.contains("quarantined lead(s) replayed"),
        "{replayed}"
    );
    // The demo's quarantined deliveries carry an address that is no email: still
    // quarantined, each named with its reasons.
    assert!(replayed.contains("still quarantined: lead"), "{replayed}");
    assert!(replayed.contains("Email"), "{replayed}");
    // No lead schema is published: the mapping names an unknown field, so nothing is set, and
    // nothing fails (the payloads keep every value).
    let mapped = run(&[
        "inbox",
        "map-custom-fields",
        "--tenant",
        "acme",
        "--config",
        &config_text,
    ]);
    assert!(
        mapped.contains("lead(s) read: 0 with custom fields from their payload, 0 failed"),
        "{mapped}"
    );
    let verified = run(&["audit", "verify", "--tenant", "acme"]);
    assert!(verified.contains("intact"), "{verified}");
}

/// `crm serve` refuses to start under a data dictionary it cannot enforce, naming every
/// problem, before it opens any database.
#[test]
fn serve_refuses_a_data_dictionary_it_cannot_enforce() {
    let directory = tempfile::tempdir().expect("a directory");
    let tokens = directory.path().join("tokens.json");
    std::fs::write(&tokens, "[]").expect("the tokens file");
    let dictionary = directory.path().join("dictionary.json");
    std::fs::write(
        &dictionary,
        r#"{"fields": [
            {"entity": "contact", "field": "company_domain", "type": "domain",
             "policy": "owner_only", "definition_owner": "revops"},
            {"entity": "contact", "field": "shoe_size", "type": "text",
             "policy": "last_write_wins", "definition_owner": "revops"}
        ]}"#,
    )
    .expect("the dictionary file");
    let output = Command::new(env!("CARGO_BIN_EXE_crm"))
        .current_dir(directory.path())
        .env_remove("DATABASE_URL")
        .arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--tokens")
        .arg(&tokens)
        .arg("--data-dictionary")
        .arg(&dictionary)
        .output()
        .expect("the crm binary runs");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("cannot be enforced"), "{said}");
    assert!(
        said.contains("owner_only needs a system_of_record"),
        "{said}"
    );
    assert!(said.contains("contact.shoe_size: no such field"), "{said}");
    assert!(
        !directory.path().join("crm.db").exists(),
        "no database was opened"
    );
}
