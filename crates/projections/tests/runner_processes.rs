//! Faults that really happen: projector processes killed with SIGKILL mid-batch, a second
//! process taking over the lease, connections dropped by `pg_terminate_backend`. Each ends
//! by comparing the documents with a clean rebuild: nothing lost, nothing doubled.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use crm_eventstore::{GlobalPosition, StoreSettings};
use crm_projections::ReadModel;
use crm_projections::customer360::Customer360Model;
use crm_projections::{
    DocumentStore, PoisonPolicy, PostgresDocuments, Projector, ProjectorOptions,
};
use crm_testkit::postgres::{TestDatabase, client};
use crm_testkit::workload::{append_all, events, reference, tenant, workload};

/// A projection worker process, its stdout lines arriving on a channel.
struct Worker {
    child: Child,
    lines: Receiver<String>,
}

impl Worker {
    fn start(database: &TestDatabase, batch_size: usize) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_projection_worker"))
            .args([
                database.url.as_str(),
                tenant().as_str(),
                &batch_size.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start projection_worker");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for a line satisfying `wanted`; `None` after `timeout`.
    fn wait_for(&self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return Some(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Waits until the worker reports having caught up at or past `head`.
    fn wait_caught_up(&self, head: GlobalPosition, timeout: Duration) -> bool {
        self.wait_for(timeout, |line| {
            line.strip_prefix("caught-up ")
                .and_then(|at| at.split_once('/'))
                .and_then(|(transaction, position)| {
                    Some(GlobalPosition {
                        transaction: transaction.parse().ok()?,
                        position: position.parse().ok()?,
                    })
                })
                .is_some_and(|at| at >= head)
        })
        .is_some()
    }

    /// SIGKILL: no destructor, no goodbye to PostgreSQL.
    fn kill(mut self) {
        self.child.kill().expect("kill -9 the worker");
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many events the projection has committed, by its own count.
async fn committed(database: &TestDatabase) -> (i64, Option<i64>) {
    let client = client(&database.url).await;
    let table = format!("proj_customer_360_v{}", Customer360Model::VERSION);
    let row = client
        .query_opt(
            "SELECT events, position FROM projection_checkpoints WHERE projection = $1 \
             AND tenant_id = $2",
            &[&table, &tenant().as_str()],
        )
        .await
        .expect("read the checkpoint row");
    row.map_or((0, None), |row| (row.get(0), row.get(1)))
}

async fn adapter(database: &TestDatabase) -> PostgresDocuments<Customer360Model> {
    PostgresDocuments::connect(&database.url, 2, Customer360Model)
        .await
        .expect("connect the adapter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_resumes_and_equals_a_clean_rebuild() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let head = append_all(&store, &tenant(), &workload(10, 6, 4)).await;
    let total = events(&store, &tenant(), head).await.len();

    let worker = Worker::start(&database, 10);
    assert!(
        worker
            .wait_for(Duration::from_secs(30), |line| line == "leased")
            .is_some()
    );
    // Kill it once it is well under way, while it is still working through the backlog.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (done, _) = committed(&database).await;
        if done >= 100 {
            break;
        }
        assert!(Instant::now() < deadline, "the worker made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    worker.kill();
    let (at_kill, _) = committed(&database).await;
    assert!(
        usize::try_from(at_kill).unwrap() < total,
        "killed after finishing ({at_kill} of {total}): the test proves nothing"
    );

    let restarted = Worker::start(&database, 10);
    assert!(restarted.wait_caught_up(head, Duration::from_mins(1)));
    let documents = adapter(&database).await;
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&store, &tenant(), head).await
    );
    let (counted, _) = committed(&database).await;
    assert_eq!(
        usize::try_from(counted).unwrap(),
        total,
        "every event committed exactly once across the crash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_holds_the_lease_and_another_takes_over_when_it_dies() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let head = append_all(&store, &tenant(), &workload(3, 2, 1)).await;

    let first = Worker::start(&database, 20);
    assert!(
        first
            .wait_for(Duration::from_secs(30), |line| line == "leased")
            .is_some()
    );
    assert!(first.wait_caught_up(head, Duration::from_secs(30)));
    let second = Worker::start(&database, 20);
    assert!(
        second
            .wait_for(Duration::from_secs(2), |line| line == "leased")
            .is_none(),
        "two workers held the lease at once"
    );

    first.kill();
    let killed = Instant::now();
    assert!(
        second
            .wait_for(Duration::from_secs(10), |line| line == "leased")
            .is_some(),
        "nobody took over"
    );
    let takeover = killed.elapsed();
    assert!(
        takeover < Duration::from_secs(5),
        "took over after {takeover:?}"
    );

    let more = append_all(&store, &tenant(), &workload(5, 2, 1)[3..5]).await;
    assert!(second.wait_caught_up(more, Duration::from_secs(30)));
    let documents = adapter(&database).await;
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&store, &tenant(), more).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dropped_by_the_server_mid_run_lose_and_double_nothing() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let head = append_all(&store, &tenant(), &workload(8, 5, 3)).await;
    let total = events(&store, &tenant(), head).await.len();
    let documents = Arc::new(adapter(&database).await);
    let options = ProjectorOptions {
        batch_size: 10,
        catch_up_batch_size: 10,
        poll_interval: Duration::from_millis(20),
        poison: PoisonPolicy::Halt,
        retry_after: Duration::from_millis(10),
        halted_recheck: None,
    };
    let mut handle =
        Projector::new(store.clone(), Arc::clone(&documents), tenant(), options).spawn();

    let killer = client(&database.url).await;
    let mut terminated = 0;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let rows = killer
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        terminated += rows.len();
    }
    assert!(terminated > 0, "no connection was dropped");
    assert!(handle.wait_for(head, Duration::from_mins(1)).await);
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&store, &tenant(), head).await
    );
    let (counted, _) = committed(&database).await;
    assert_eq!(usize::try_from(counted).unwrap(), total);
    handle.stop().await.unwrap();
}
