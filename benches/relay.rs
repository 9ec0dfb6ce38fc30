//! The outbox relay against a local receiver that answers at once (issue 17's targets; figures
//! in docs/PERFORMANCE.md), as a load generator (percentiles need every sample):
//!
//! - `throughput`: `RELAY_BENCH_MESSAGES` messages (default 20,000) written to the outbox of
//!   one tenant, then relayed with the default settings (batches of 32 delivered concurrently,
//!   each outcome recorded) until every one is delivered; target at least 2,000 messages/s.
//! - `overhead`: `RELAY_BENCH_SINGLE` messages (default 2,000) relayed one per pass (claim,
//!   deliver over HTTP, record), each pass timed; the p99 is the relay's overhead per message
//!   with a receiver that costs nothing; target under 1 ms.
//!
//! Both run on PostgreSQL (the production backend) and on SQLite (one file). The receiver
//! counts every idempotency key it sees, so a duplicate delivery fails the bench.
//!
//! Run: `source scripts/postgres-env && cargo bench -p crm-benches --bench relay`.

#[allow(dead_code, reason = "the store benches' helpers are not all used here")]
mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use crm_app::outbox::{Destinations, HttpTransport, OutboxRelay, RelaySettings};
use crm_app::{
    CommandService, OutboxMessage, PostgresUnitOfWork, SqliteUnitOfWork, SystemClock, UnitOfWork,
};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use uuid::Uuid;

/// Every idempotency key the receiver was sent, with how often.
type Seen = Arc<Mutex<HashMap<String, u32>>>;

/// A receiver on a free loopback port answering 200 at once; its address and what it saw.
async fn receiver() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("its address");
    let seen: Seen = Arc::default();
    let counted = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&counted);
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let seen = Arc::clone(&seen);
                    async move {
                        let key = request
                            .headers()
                            .get("idempotency-key")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        *seen
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .entry(key)
                            .or_default() += 1;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{address}/erp"), seen)
}

fn messages(count: usize) -> Vec<OutboxMessage> {
    let now = Utc::now();
    (0..count)
        .map(|n| {
            let deal = Uuid::now_v7();
            OutboxMessage {
                id: Uuid::now_v7(),
                destination: "erp".into(),
                idempotency_key: format!("deal-won:{deal}"),
                payload: serde_json::json!({
                    "type": "deal-won", "opportunity": deal, "amount_minor": n * 100,
                    "currency": "EUR", "won_at": now,
                }),
                created_at: now,
            }
        })
        .collect()
}

async fn fill<U: UnitOfWork>(service: &CommandService<U>, count: usize) {
    for chunk in messages(count).chunks(500) {
        service
            .send(&support::tenant(), chunk.to_vec())
            .await
            .expect("the messages are written");
    }
}

fn relay<U: UnitOfWork>(work: U, url: &str, batch_size: usize) -> OutboxRelay<U, HttpTransport> {
    let destinations = Destinations::new()
        .route("erp", url)
        .expect("a valid destination");
    OutboxRelay::new(
        work,
        HttpTransport::new(destinations),
        support::tenant(),
        Arc::new(SystemClock),
    )
    .with_settings(RelaySettings {
        batch_size,
        ..RelaySettings::default()
    })
}

fn check_once(seen: &Seen, expected: usize) {
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(seen.len(), expected, "every message reached the receiver");
    assert!(
        seen.values().all(|count| *count == 1),
        "no message was delivered twice"
    );
}

async fn throughput<U: UnitOfWork + Clone>(backend: &str, work: U, count: usize) {
    let service = CommandService::new(work.clone(), Arc::new(SystemClock));
    fill(&service, count).await;
    let (url, seen) = receiver().await;
    let relay = relay(work, &url, RelaySettings::default().batch_size);
    let started = Instant::now();
    let mut delivered = 0;
    while delivered < count {
        let report = relay.relay_once(Utc::now()).await.expect("a pass");
        assert_eq!(report.delivered, report.claimed, "{report:?}");
        delivered += report.delivered;
    }
    let elapsed = started.elapsed();
    check_once(&seen, count);
    #[allow(clippy::cast_precision_loss)]
    let rate = count as f64 / elapsed.as_secs_f64();
    let verdict = if rate >= 2_000.0 { "PASS" } else { "MISS" };
    println!(
        "RESULT relay throughput on {backend}, batches of {}, {count} messages: {rate:.0} messages/s, target >= 2000: {verdict}",
        RelaySettings::default().batch_size
    );
}

async fn overhead<U: UnitOfWork + Clone>(backend: &str, work: U, count: usize) {
    let service = CommandService::new(work.clone(), Arc::new(SystemClock));
    fill(&service, count).await;
    let (url, seen) = receiver().await;
    let relay = relay(work, &url, 1);
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let report = relay.relay_once(Utc::now()).await.expect("a pass");
        samples.push(started.elapsed());
        assert_eq!(report.delivered, 1, "{report:?}");
    }
    check_once(&seen, count);
    samples.sort();
    let at = |share: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((samples.len() as f64 * share) as usize).min(samples.len() - 1);
        samples[index]
    };
    let (p50, p99) = (at(0.50), at(0.99));
    let verdict = if p99 < Duration::from_millis(1) {
        "PASS"
    } else {
        "MISS"
    };
    println!(
        "RESULT relay overhead per message on {backend} (claim, deliver, record; one per pass), {count} messages: p50 {:.3} ms, p99 {:.3} ms, target p99 < 1 ms: {verdict}",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

fn main() {
    let (messages, single) = (
        support::env_number("RELAY_BENCH_MESSAGES", 20_000),
        support::env_number("RELAY_BENCH_SINGLE", 2_000),
    );
    let runtime = support::runtime();
    runtime.block_on(async {
        for part in ["throughput", "overhead"] {
            let database = support::BenchDatabase::create(&format!("relay_{part}")).await;
            let work = PostgresUnitOfWork::connect(database.store(16).await)
                .await
                .expect("the application's migrations apply");
            if part == "throughput" {
                throughput("PostgreSQL", work, messages).await;
            } else {
                overhead("PostgreSQL", work, single).await;
            }
            let directory = tempfile::tempdir().expect("a temporary directory");
            let file =
                crm_eventstore::sqlite::SqliteDatabase::open(directory.path().join("relay.db"))
                    .expect("the file opens");
            let store =
                crm_eventstore::SqliteStore::open(file, crm_eventstore::StoreSettings::default())
                    .expect("the store opens");
            let work = SqliteUnitOfWork::open(store).expect("the application's tables");
            if part == "throughput" {
                throughput("SQLite", work, messages).await;
            } else {
                overhead("SQLite", work, single).await;
            }
        }
    });
}
