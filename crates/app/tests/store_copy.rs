//! `crm store copy`: two tenants' histories loaded by `crm demo` into the embedded default (a
//! SQLite file) are copied to PostgreSQL and back to another file. Every stream's chain is the
//! same byte for byte on all three (compared through `crm audit export`, positions aside), the
//! copies verify, personal fields still read (the subject keys came along), and running the
//! copy again copies nothing.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `crm` with `args` on `database`: a PostgreSQL URL, or a SQLite file.
fn crm(database: Option<&str>, file: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
    command.args(args).env("RUST_LOG", "warn");
    match (database, file) {
        (Some(url), _) => command.env("DATABASE_URL", url),
        (None, Some(file)) => command
            .env_remove("DATABASE_URL")
            .arg("--database-file")
            .arg(file),
        (None, None) => command.env_remove("DATABASE_URL"),
    };
    command.output().expect("the crm binary runs")
}

fn succeeded(output: &Output) -> String {
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}

/// The tenant's events as `crm audit export` writes them, each without its place in the
/// global order (which a copy may change), in (stream, version) order.
fn exported(database: Option<&str>, file: Option<&Path>, tenant: &str, out: &Path) -> Vec<Value> {
    let out_text = out.to_string_lossy().into_owned();
    succeeded(&crm(
        database,
        file,
        &["audit", "export", "--tenant", tenant, "--out", &out_text],
    ));
    let text = std::fs::read_to_string(out).expect("the export");
    let events: Vec<Value> = text
        .lines()
        .skip(1)
        .map(|line| {
            let mut event: Value = serde_json::from_str(line).expect("an exported event");
            let object = event.as_object_mut().expect("an object");
            object.remove("position");
            object.remove("transaction");
            event
        })
        .collect();
    assert!(!events.is_empty(), "the export of {tenant} holds events");
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_copied_to_postgres_and_back_keeps_every_chain() {
    let postgres = crm_testkit::postgres::TestDatabase::create().await;
    let directory = tempfile::tempdir().expect("a temporary directory");
    let first = directory.path().join("first.db");
    let second = directory.path().join("second.db");
    let (first_text, second_text) = (
        first.to_string_lossy().into_owned(),
        second.to_string_lossy().into_owned(),
    );

    for (tenant, leads, customers) in [("acme", "40", "8"), ("globex", "12", "3")] {
        succeeded(&crm(
            None,
            Some(&first),
            &[
                "demo",
                "--tenant",
                tenant,
                "--leads",
                leads,
                "--customers",
                customers,
            ],
        ));
    }

    // A source that does not exist is refused, not created empty.
    let missing = directory.path().join("missing.db");
    let refused = crm(
        None,
        None,
        &[
            "store",
            "copy",
            "--from",
            &missing.to_string_lossy(),
            "--to",
            &postgres.url,
        ],
    );
    assert!(!refused.status.success());
    assert!(!missing.exists(), "the missing source was not created");

    let copied = succeeded(&crm(
        None,
        None,
        &[
            "store",
            "copy",
            "--from",
            &first_text,
            "--to",
            &postgres.url,
        ],
    ));
    assert!(
        copied.contains("acme:") && copied.contains("globex:"),
        "{copied}"
    );

    // Again: everything is there already.
    let again = succeeded(&crm(
        None,
        None,
        &[
            "store",
            "copy",
            "--from",
            &first_text,
            "--to",
            &postgres.url,
        ],
    ));
    for line in again.lines().filter(|line| line.contains(": ")) {
        if line.starts_with("acme:") || line.starts_with("globex:") {
            assert!(line.contains(": 0 events copied"), "{again}");
        }
    }

    succeeded(&crm(
        None,
        None,
        &[
            "store",
            "copy",
            "--from",
            &postgres.url,
            "--to",
            &second_text,
        ],
    ));

    for tenant in ["acme", "globex"] {
        let on_file = exported(
            None,
            Some(&first),
            tenant,
            &directory.path().join("first.jsonl"),
        );
        let on_postgres = exported(
            Some(&postgres.url),
            None,
            tenant,
            &directory.path().join("postgres.jsonl"),
        );
        let back = exported(
            None,
            Some(&second),
            tenant,
            &directory.path().join("second.jsonl"),
        );
        assert_eq!(on_file, on_postgres, "{tenant}: SQLite → PostgreSQL");
        assert_eq!(on_file, back, "{tenant}: PostgreSQL → SQLite");
        let verified = succeeded(&crm(
            Some(&postgres.url),
            None,
            &["audit", "verify", "--tenant", tenant],
        ));
        assert!(verified.contains("intact"), "{verified}");
        let verified = succeeded(&crm(
            None,
            Some(&second),
            &["audit", "verify", "--tenant", tenant],
        ));
        assert!(verified.contains("intact"), "{verified}");
    }

    // Personal fields still read in the copy: the keys came along.
    let contact = exported(
        None,
        Some(&first),
        "acme",
        &directory.path().join("contacts.jsonl"),
    )
    .into_iter()
    .filter_map(|event| event["stream"].as_str().map(str::to_owned))
    .find(|stream| stream.starts_with("contact-"))
    .expect("the demo made contacts");
    let history = |database: Option<&str>, file: Option<&Path>| {
        succeeded(&crm(
            database,
            file,
            &["audit", "history", "--tenant", "acme", "--json", &contact],
        ))
    };
    let original = history(None, Some(&first));
    assert!(original.contains('@'), "an email in plaintext: {original}");
    let strip_positions = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|line| {
                let mut event: Value = serde_json::from_str(line).expect("a history line");
                if let Some(object) = event.as_object_mut() {
                    object.remove("position");
                }
                event
            })
            .collect()
    };
    assert_eq!(
        strip_positions(&original),
        strip_positions(&history(Some(&postgres.url), None)),
        "the contact reads the same on PostgreSQL"
    );
    assert_eq!(
        strip_positions(&original),
        strip_positions(&history(None, Some(&second))),
        "the contact reads the same in the second file"
    );
}
