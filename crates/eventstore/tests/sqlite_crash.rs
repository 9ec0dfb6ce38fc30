//! A writer killed with SIGKILL at random moments loses nothing it acknowledged and leaves no
//! half-written batch behind.
//!
//! The test re-executes its own binary as the writer (the environment variable
//! [`CHILD_DATABASE`] selects that role): the child appends batches of recognisable sizes to a
//! few streams and prints each acknowledged append, flushed, to stdout; the parent kills it at
//! a random moment, again and again on the same file, and then checks the file with a fresh
//! store.

// The helpers below are test code outside `#[test]` functions: they unwrap as tests do.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crm_eventstore::sqlite::SqliteDatabase;
use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, NewEvent, SqliteStore, StoreSettings, StreamId,
    StreamRead, TenantId,
};
use serde_json::json;
use uuid::Uuid;

/// Set in the child's environment to the database path: the child appends until killed.
const CHILD_DATABASE: &str = "CRM_EVENTSTORE_CRASH_CHILD_DATABASE";

/// This test's name, for the child to run only it.
const TEST_NAME: &str = "a_writer_killed_at_random_moments_loses_nothing_it_acknowledged";

/// How many times the writer is killed.
const KILLS: usize = 30;

/// Concurrent appenders in the child, each on its own stream.
const APPENDERS: usize = 3;

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn stream(appender: usize) -> StreamId {
    StreamId::new(format!("batch-{appender}")).unwrap()
}

/// A batch's size tells from its first event's id: 1 to 12 events.
fn batch_size(batch: Uuid) -> usize {
    usize::from(batch.as_bytes()[15] % 12) + 1
}

/// A random number from the standard library's randomly seeded hasher.
fn random() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(
        SqliteDatabase::open(path).unwrap(),
        StoreSettings::default(),
    )
    .unwrap()
}

/// The child's role: append until killed, printing `ack <stream> <version> <batch> <size> .`
/// after each acknowledged append.
fn append_until_killed(path: &Path) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = open(path);
        let mut appenders = tokio::task::JoinSet::new();
        for appender in 0..APPENDERS {
            let store = store.clone();
            appenders.spawn(async move {
                let (tenant, stream) = (tenant(), stream(appender));
                // Padding makes appends span several pages, so kills land mid-write too.
                let padding = "x".repeat(1500);
                loop {
                    let batch = Uuid::now_v7();
                    let size = batch_size(batch);
                    let events: Vec<NewEvent> = (0..size)
                        .map(|index| {
                            let event = NewEvent::new(
                                "BatchPart",
                                1,
                                json!({ "batch": batch, "size": size, "index": index, "padding": padding }),
                            );
                            if index == 0 { event.with_id(batch) } else { event }
                        })
                        .collect();
                    let appended = store
                        .append(&tenant, &stream, ExpectedVersion::Any, &events)
                        .await
                        .unwrap();
                    let mut stdout = std::io::stdout().lock();
                    writeln!(
                        stdout,
                        "ack {stream} {} {batch} {size} .",
                        appended.stream_version
                    )
                    .unwrap();
                    stdout.flush().unwrap();
                }
            });
        }
        // An appender only ends by failing: let its panic end the child.
        if let Some(outcome) = appenders.join_next().await {
            outcome.unwrap();
        }
    });
    unreachable!("the appenders never stop");
}

/// One acknowledged append, as the child printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    stream: String,
    version: u64,
    batch: Uuid,
    size: usize,
}

fn parse_ack(line: &str) -> Option<Ack> {
    // A line cut by the kill lacks its final "." and is not counted.
    let mut fields = line.split(' ');
    if fields.next()? != "ack" {
        return None;
    }
    let parsed = Ack {
        stream: fields.next()?.to_owned(),
        version: fields.next()?.parse().ok()?,
        batch: fields.next()?.parse().ok()?,
        size: fields.next()?.parse().ok()?,
    };
    (fields.next()? == "." && fields.next().is_none()).then_some(parsed)
}

/// Runs the child once: waits for its first acknowledgement, lets it run a random while,
/// kills it, and returns every acknowledgement it printed.
fn run_and_kill(path: &Path) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_DATABASE, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acks = Vec::new();
    // The child is appending once it acknowledged one append (libtest's own lines come first).
    for line in lines.by_ref() {
        if let Some(ack) = parse_ack(&line.unwrap()) {
            acks.push(ack);
            break;
        }
    }
    assert!(!acks.is_empty(), "the child acknowledged no append");
    // Not a synchronisation: the moment of the kill is what is random here.
    std::thread::sleep(Duration::from_micros(random() % 40_000));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    // Everything the child printed before it died is still in the pipe.
    acks.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|line| parse_ack(&line)),
    );
    acks
}

#[test]
fn a_writer_killed_at_random_moments_loses_nothing_it_acknowledged() {
    if let Some(path) = std::env::var_os(CHILD_DATABASE) {
        append_until_killed(&PathBuf::from(path));
    }
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("crm.db");
    // Migrated before the first child, so every child starts appending at once.
    drop(open(&path));
    let mut acks = Vec::new();
    for _ in 0..KILLS {
        acks.extend(run_and_kill(&path));
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(check_after_kills(&path, &acks));
}

async fn check_after_kills(path: &Path, acks: &[Ack]) {
    let store = open(path);
    let tenant = tenant();
    let mut total = 0;
    let mut batches_seen = 0;
    let mut by_stream: HashMap<String, Vec<crm_eventstore::RecordedEvent>> = HashMap::new();
    for appender in 0..APPENDERS {
        let stream = stream(appender);
        let events = store
            .read_stream(&tenant, &stream, StreamRead::forward())
            .await
            .unwrap();
        // Versions without gaps.
        assert!(
            events
                .iter()
                .map(|event| event.version)
                .eq(1..=u64::try_from(events.len()).unwrap()),
            "versions of {stream} have a gap"
        );
        // Every batch whole: its events in order at consecutive versions, from one append.
        let mut rest = events.as_slice();
        while let Some(first) = rest.first() {
            let batch: Uuid = first.payload["batch"].as_str().unwrap().parse().unwrap();
            let size = batch_size(batch);
            assert_eq!(first.id, batch);
            assert!(rest.len() >= size, "batch {batch} of {stream} is cut short");
            let (whole, after) = rest.split_at(size);
            for (index, event) in whole.iter().enumerate() {
                assert_eq!(
                    event.payload["batch"],
                    json!(batch),
                    "batch {batch} is torn"
                );
                assert_eq!(event.payload["index"], json!(index));
                assert_eq!(event.payload["size"], json!(size));
                assert_eq!(
                    event.position.transaction, first.position.transaction,
                    "batch {batch} spans appends"
                );
            }
            batches_seen += 1;
            rest = after;
        }
        total += events.len();
        by_stream.insert(stream.to_string(), events);
    }

    // Every acknowledged append is there, where it was acknowledged.
    assert!(acks.len() >= KILLS, "{} acknowledgements", acks.len());
    for ack in acks {
        let events = &by_stream[&ack.stream];
        let last = usize::try_from(ack.version).unwrap();
        assert!(
            last <= events.len(),
            "acknowledged {ack:?} is missing ({} events)",
            events.len()
        );
        let first = &events[last - ack.size];
        assert_eq!(
            first.id, ack.batch,
            "acknowledged {ack:?} is not where it was"
        );
    }

    // The global order holds them all, once each, and every chain is intact.
    let mut after = GlobalPosition::START;
    let mut in_order = 0;
    loop {
        let page = store.read_all(&tenant, after, 500).await.unwrap();
        assert!(page.unreadable.is_empty());
        if page.is_empty() {
            break;
        }
        for event in &page.events {
            assert!(event.position > after);
            after = event.position;
        }
        in_order += page.events.len();
    }
    assert_eq!(in_order, total);
    let report = store.verify(&tenant).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, u64::try_from(total).unwrap());
    assert!(batches_seen >= acks.len());
}
