//! The outbox relay on every backend, against a real HTTP receiver on 127.0.0.1: a receiver
//! that fails (500, 429 with Retry-After, stopped so connections are refused) still gets
//! every message exactly once; a refusal parks a message for good; a failed message waits
//! for its backoff; two relays never deliver one message at once; a crash between delivery
//! and its record redelivers under the same key and loses nothing.

#[macro_use]
mod support;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use crm_app::sync_alerts::{SYNC_ALERTS, SyncAlerts, SyncMeasure, SyncThresholds};
use crm_app::uow::{DestinationHealth, FailureCause, destination_health, outbox_totals};
use crm_app::{
    Clock, Delivery, Destinations, HttpTransport, ManualClock, OutboxEntry, OutboxMessage,
    OutboxRelay, RelaySettings, SystemClock, Transport, UnitOfWork, Work,
};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use support::{t0, tenant};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

on_every_backend!(
    a_failing_receiver_gets_every_message_exactly_once,
    a_refused_message_is_parked_never_retried_and_counted,
    a_failed_message_waits_for_its_backoff_or_retry_after,
    a_message_out_of_attempts_is_parked,
    two_relays_never_deliver_one_message_at_once,
    a_crash_between_delivery_and_its_record_redelivers_under_the_same_key,
    each_destination_reports_its_backlog_failures_by_cause_and_last_delivery,
    sync_alerts_fire_once_and_resolve_once,
    many_processes_and_a_restart_announce_each_alert_change_once,
);

// ---------------------------------------------------------------------------------------------
// A real receiver: an HTTP/1.1 server on 127.0.0.1 that answers from a script, dedupes on
// Idempotency-Key and counts.

/// What the receiver answers to the next request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    /// This status, with no effect.
    Fail(u16),
    /// 429 with `Retry-After: <seconds>`.
    TooMany(u64),
}

#[derive(Debug, Default)]
struct Seen {
    /// Scripted answers, used up first; afterwards every request is processed.
    script: VecDeque<Reply>,
    /// Requests per idempotency key (failed ones included).
    requests: HashMap<String, usize>,
    /// Effects per key: the receiver processes a key once, whatever the redeliveries.
    effects: HashMap<String, usize>,
    /// Successful requests for a key already processed (answered 200, no effect).
    duplicates: HashMap<String, usize>,
    /// Requests that broke the contract (wrong headers, body not the payload).
    malformed: Vec<String>,
    /// Set while the receiver is stopped: a request its connections were still serving when
    /// it stopped (an abort lands at the task's next pause) is answered 503 and not counted.
    stopped: bool,
}

struct Receiver {
    address: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    server: Option<JoinHandle<()>>,
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Receiver {
    async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("a bound address");
        let seen = Arc::new(Mutex::new(Seen {
            script: script.into(),
            ..Seen::default()
        }));
        let server = Some(tokio::spawn(serve(listener, seen.clone())));
        Self {
            address,
            seen,
            server,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/inbox", self.address)
    }

    /// Stops listening and drops every open connection: connections are refused from now on.
    async fn stop(&mut self) {
        lock(&self.seen).stopped = true;
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port.
    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.address)
            .await
            .expect("the same port again");
        lock(&self.seen).stopped = false;
        self.server = Some(tokio::spawn(serve(listener, self.seen.clone())));
    }

    fn seen<R>(&self, read: impl FnOnce(&Seen) -> R) -> R {
        read(&lock(&self.seen))
    }

    fn total_requests(&self) -> usize {
        self.seen(|seen| seen.requests.values().sum())
    }
}

async fn serve(listener: TcpListener, seen: Arc<Mutex<Seen>>) {
    // Dropped with the server's task, which aborts every connection it serves.
    let mut connections = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let seen = seen.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| answer(seen.clone(), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    seen: Arc<Mutex<Seen>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let key = header("idempotency-key").unwrap_or_default();
    let message_id = header("x-crm-message-id").unwrap_or_default();
    let content_type = header("content-type").unwrap_or_default();
    let body = request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let mut seen = lock(&seen);
    if seen.stopped {
        return Ok(Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Full::new(Bytes::new()))
            .expect("a valid response"));
    }
    *seen.requests.entry(key.clone()).or_default() += 1;
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if content_type != "application/json"
        || payload.get("key").and_then(serde_json::Value::as_str) != Some(key.as_str())
        || payload.get("id").and_then(serde_json::Value::as_str) != Some(message_id.as_str())
    {
        seen.malformed
            .push(format!("{key:?} {message_id:?} {content_type:?} {payload}"));
    }
    let reply = |status: u16| {
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .expect("a valid response")
    };
    if payload.get("refuse").is_some() {
        return Ok(reply(400));
    }
    match seen.script.pop_front() {
        Some(Reply::Fail(status)) => Ok(reply(status)),
        Some(Reply::TooMany(seconds)) => Ok(Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", seconds.to_string())
            .body(Full::new(Bytes::new()))
            .expect("a valid response")),
        None => {
            let seen = &mut *seen;
            let effects = seen.effects.entry(key.clone()).or_default();
            if *effects == 0 {
                *effects = 1;
                Ok(reply(201))
            } else {
                *seen.duplicates.entry(key).or_default() += 1;
                Ok(reply(200))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Messages, transports and relays.

/// `count` messages to the ERP written at `at`, each carrying its own key and id in its
/// payload (so the receiver can check the headers against them).
async fn write_messages<U: UnitOfWork>(
    work: &U,
    count: usize,
    at: DateTime<Utc>,
    extra: serde_json::Value,
) -> Vec<OutboxMessage> {
    let messages: Vec<OutboxMessage> = (0..count)
        .map(|n| {
            let id = Uuid::now_v7();
            let key = format!("deal-won:{id}");
            let mut payload = json!({ "id": id.to_string(), "key": key, "n": n });
            if let (Some(payload), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
                payload.extend(extra.clone());
            }
            OutboxMessage {
                id,
                destination: "erp".into(),
                idempotency_key: key,
                payload,
                created_at: at,
            }
        })
        .collect();
    write(work, messages.clone()).await;
    messages
}

/// Writes `messages` to the outbox in one commit without events.
async fn write<U: UnitOfWork>(work: &U, messages: Vec<OutboxMessage>) {
    work.commit(Work {
        tenant: tenant(),
        append: None,
        idempotency: None,
        decided_on: None,
        outbox: messages,
    })
    .await
    .expect("the messages are written");
}

fn http(receiver: &Receiver) -> HttpTransport {
    let destinations = Destinations::new()
        .route("erp", &receiver.url())
        .expect("a valid URL");
    HttpTransport::new(destinations).with_timeout(Duration::from_secs(2))
}

fn fast_settings() -> RelaySettings {
    RelaySettings {
        batch_size: 4,
        lease: Duration::from_secs(10),
        delivery_timeout: Duration::from_secs(3),
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_secs(1),
        max_attempts: 1000,
        poll_interval: Duration::from_millis(10),
    }
}

async fn entries<U: UnitOfWork>(work: &U) -> Vec<OutboxEntry> {
    work.outbox(&tenant()).await.expect("the outbox reads")
}

async fn entry<U: UnitOfWork>(work: &U, id: Uuid) -> OutboxEntry {
    entries(work)
        .await
        .into_iter()
        .find(|entry| entry.message.id == id)
        .expect("the message is in the outbox")
}

/// A transport that remembers every outcome of the one it wraps.
#[derive(Debug)]
struct Recording<T> {
    inner: T,
    outcomes: Mutex<Vec<Delivery>>,
}

impl<T> Recording<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            outcomes: Mutex::default(),
        }
    }

    fn outcomes(&self) -> Vec<Delivery> {
        self.outcomes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl<T: Transport> Transport for Recording<T> {
    async fn deliver(&self, destination: &str, message: &OutboxMessage) -> Delivery {
        let delivery = self.inner.deliver(destination, message).await;
        self.outcomes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(delivery.clone());
        delivery
    }
}

/// A transport answering from a script (then `Delivered`), counting calls.
#[derive(Debug, Default)]
struct Scripted {
    script: Mutex<VecDeque<Delivery>>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(script: Vec<Delivery>) -> Self {
        Self {
            script: Mutex::new(script.into()),
            calls: AtomicUsize::new(0),
        }
    }
}

impl Transport for Scripted {
    async fn deliver(&self, _: &str, _: &OutboxMessage) -> Delivery {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
            .unwrap_or(Delivery::Delivered)
    }
}

fn retry(after: Option<Duration>) -> Delivery {
    Delivery::Retry {
        after,
        reason: "HTTP 503 Service Unavailable".into(),
    }
}

fn manual_relay<U: UnitOfWork, T: Transport>(
    work: U,
    transport: T,
    clock: &ManualClock,
) -> OutboxRelay<U, T> {
    OutboxRelay::new(work, transport, tenant(), Arc::new(clock.clone())).with_settings(
        RelaySettings {
            backoff_base: Duration::from_secs(10),
            backoff_cap: Duration::from_mins(5),
            ..RelaySettings::default()
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The tests.

async fn a_failing_receiver_gets_every_message_exactly_once<U: UnitOfWork + Clone>(work: U) {
    const MESSAGES: usize = 12;
    let mut receiver = Receiver::start(vec![
        Reply::Fail(500),
        Reply::Fail(503),
        Reply::Fail(500),
        Reply::TooMany(1),
        Reply::TooMany(1),
        Reply::TooMany(1),
    ])
    .await;
    let messages = write_messages(
        &work,
        MESSAGES,
        Utc::now() - TimeDelta::seconds(1),
        json!({}),
    )
    .await;
    let relay = Arc::new(
        OutboxRelay::new(
            work.clone(),
            Recording::new(http(&receiver)),
            tenant(),
            Arc::new(SystemClock),
        )
        .with_settings(fast_settings()),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn({
        let relay = relay.clone();
        async move { relay.run(stopped).await }
    });

    // Once the script is used up, the receiver goes away for a while: connections are refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while receiver.seen(|seen| !seen.script.is_empty()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay stopped trying"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    receiver.stop().await;
    let refused_since = receiver.total_requests();
    let outcomes_before = relay.transport().outcomes().len();
    // Connections the relay had pooled are reset first; wait until a new one is refused.
    let refused_now = |outcomes: &[Delivery]| {
        outcomes.iter().skip(outcomes_before).any(|outcome| {
            matches!(outcome, Delivery::Retry { reason, .. } if reason.to_lowercase().contains("refused"))
        })
    };
    while !refused_now(&relay.transport().outcomes()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt while stopped"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(receiver.total_requests(), refused_since, "nobody listened");
    receiver.restart().await;

    while entries(&work).await.iter().any(OutboxEntry::is_pending) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every message was delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).expect("the relay listens");
    running.await.expect("the relay stops");

    let outcomes = relay.transport().outcomes();
    let refused = outcomes.iter().any(|outcome| {
        matches!(outcome, Delivery::Retry { reason, .. } if reason.to_lowercase().contains("refused"))
    });
    assert!(
        refused,
        "a stopped receiver refuses connections: {outcomes:?}"
    );
    let told_to_wait = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Delivery::Retry { after: Some(after), .. } if *after == Duration::from_secs(1)))
        .count();
    assert_eq!(
        told_to_wait, 3,
        "each 429's Retry-After is read: {outcomes:?}"
    );
    receiver.seen(|seen| {
        assert!(seen.malformed.is_empty(), "{:?}", seen.malformed);
        for message in &messages {
            assert_eq!(seen.effects.get(&message.idempotency_key), Some(&1));
        }
        assert_eq!(seen.effects.len(), MESSAGES);
        // No crash and leases longer than any attempt: the relay itself never sent a
        // delivered message again.
        assert!(seen.duplicates.is_empty(), "{:?}", seen.duplicates);
    });
    for entry in entries(&work).await {
        assert!(entry.delivered_at.is_some() && entry.parked_at.is_none());
        assert_eq!(entry.last_error, None);
    }
    let health = relay.health(Utc::now()).await.expect("health reads");
    assert_eq!((health.undelivered, health.parked), (0, 0));
    assert_eq!(health.oldest_undelivered_age, None);
}

async fn a_refused_message_is_parked_never_retried_and_counted<U: UnitOfWork + Clone>(work: U) {
    let receiver = Receiver::start(Vec::new()).await;
    let clock = ManualClock::new(t0());
    let refused = write_messages(&work, 1, t0(), json!({ "refuse": true })).await;
    let accepted = write_messages(&work, 1, t0(), json!({})).await;
    let relay = manual_relay(work.clone(), http(&receiver), &clock);

    let report = relay.relay_once(clock.now()).await.expect("a pass");
    assert_eq!((report.claimed, report.delivered, report.parked), (2, 1, 1));
    let parked = entry(&work, refused[0].id).await;
    assert_eq!(parked.parked_at, Some(t0()));
    assert_eq!(parked.delivered_at, None);
    assert_eq!(parked.attempts, 1);
    assert!(
        parked
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("400")),
        "{parked:?}"
    );
    assert!(entry(&work, accepted[0].id).await.delivered_at.is_some());

    for later in [TimeDelta::minutes(1), TimeDelta::days(30)] {
        clock.set(t0() + later);
        let report = relay.relay_once(clock.now()).await.expect("a pass");
        assert_eq!(report.claimed, 0, "a parked message is never claimed again");
    }
    receiver.seen(|seen| assert_eq!(seen.requests.get(&refused[0].idempotency_key), Some(&1)));

    let health = relay
        .health(t0() + TimeDelta::hours(1))
        .await
        .expect("health reads");
    assert_eq!(health.parked, 1);
    assert_eq!(health.undelivered, 0);
    assert_eq!(health.oldest_undelivered_age, None);

    // An operator replays what was parked: sent again under the same idempotency key, and
    // parked again when refused again; a delivered message is never replayed.
    let replayed_at = t0() + TimeDelta::days(31);
    let replayed = work
        .outbox_replay_parked(&tenant(), replayed_at)
        .await
        .expect("the replay");
    assert_eq!(replayed, 1);
    clock.set(replayed_at);
    let report = relay.relay_once(clock.now()).await.expect("a pass");
    assert_eq!((report.claimed, report.delivered, report.parked), (1, 0, 1));
    receiver.seen(|seen| assert_eq!(seen.requests.get(&refused[0].idempotency_key), Some(&2)));
    assert_eq!(entry(&work, refused[0].id).await.attempts, 2);
    assert_eq!(
        work.outbox_replay_parked(&tenant(), replayed_at)
            .await
            .expect("the replay"),
        1,
        "parked again, it can be replayed again"
    );
    assert!(entry(&work, accepted[0].id).await.delivered_at.is_some());
}

async fn a_failed_message_waits_for_its_backoff_or_retry_after<U: UnitOfWork + Clone>(work: U) {
    let clock = ManualClock::new(t0());
    let message = write_messages(&work, 1, t0(), json!({})).await.remove(0);
    let transport = Scripted::new(vec![retry(None), retry(Some(Duration::from_secs(30)))]);
    let relay = manual_relay(work.clone(), transport, &clock);

    let health = relay
        .health(t0() + TimeDelta::seconds(90))
        .await
        .expect("health");
    assert_eq!(health.undelivered, 1);
    assert_eq!(health.oldest_undelivered_age, Some(TimeDelta::seconds(90)));

    // First failure: a full-jitter draw under the base (10 s).
    let report = relay.relay_once(clock.now()).await.expect("a pass");
    assert_eq!(report.retried, 1);
    let failed = entry(&work, message.id).await;
    assert_eq!(failed.attempts, 1);
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("503"))
    );
    let next = failed.next_attempt_at;
    assert!(
        next >= t0() && next <= t0() + TimeDelta::seconds(10),
        "{next}"
    );
    clock.set(next - TimeDelta::milliseconds(1));
    assert_eq!(
        relay.relay_once(clock.now()).await.expect("a pass").claimed,
        0
    );

    // Second failure, at its time: the receiver's Retry-After (30 s) decides exactly.
    clock.set(next);
    assert_eq!(
        relay.relay_once(clock.now()).await.expect("a pass").retried,
        1
    );
    let failed = entry(&work, message.id).await;
    assert_eq!(failed.next_attempt_at, next + TimeDelta::seconds(30));
    clock.set(next + TimeDelta::seconds(30) - TimeDelta::milliseconds(1));
    assert_eq!(
        relay.relay_once(clock.now()).await.expect("a pass").claimed,
        0
    );

    clock.set(next + TimeDelta::seconds(30));
    assert_eq!(
        relay
            .relay_once(clock.now())
            .await
            .expect("a pass")
            .delivered,
        1
    );
    let delivered = entry(&work, message.id).await;
    assert_eq!(delivered.delivered_at, Some(clock.now()));
    assert_eq!(delivered.attempts, 3);
    assert_eq!(relay.transport().calls.load(Ordering::SeqCst), 3);
}

async fn a_message_out_of_attempts_is_parked<U: UnitOfWork + Clone>(work: U) {
    let clock = ManualClock::new(t0());
    let message = write_messages(&work, 1, t0(), json!({})).await.remove(0);
    let relay = manual_relay(work.clone(), Scripted::new(vec![retry(None); 10]), &clock)
        .with_settings(RelaySettings {
            max_attempts: 3,
            ..RelaySettings::default()
        });
    for _ in 0..10 {
        relay.relay_once(clock.now()).await.expect("a pass");
        clock.advance(TimeDelta::hours(1));
    }
    let parked = entry(&work, message.id).await;
    assert_eq!(parked.attempts, 3);
    assert!(parked.parked_at.is_some());
    assert!(
        parked
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("gave up after 3 attempts")),
        "{parked:?}"
    );
    assert_eq!(relay.transport().calls.load(Ordering::SeqCst), 3);
    assert_eq!(relay.health(clock.now()).await.expect("health").parked, 1);
}

/// A slow transport that notes how many deliveries of each message are under way at once.
#[derive(Debug, Default)]
struct Overlaps {
    in_flight: Mutex<HashMap<Uuid, usize>>,
    most_at_once: AtomicUsize,
    delivered: Mutex<HashMap<Uuid, usize>>,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Transport for Overlaps {
    async fn deliver(&self, _: &str, message: &OutboxMessage) -> Delivery {
        {
            let mut in_flight = locked(&self.in_flight);
            let now = in_flight.entry(message.id).or_default();
            *now += 1;
            self.most_at_once.fetch_max(*now, Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        *locked(&self.in_flight).entry(message.id).or_default() -= 1;
        *locked(&self.delivered).entry(message.id).or_default() += 1;
        Delivery::Delivered
    }
}

async fn two_relays_never_deliver_one_message_at_once<U: UnitOfWork + Clone>(work: U) {
    const MESSAGES: usize = 40;
    let clock = ManualClock::new(t0());
    let messages = write_messages(&work, MESSAGES, t0(), json!({})).await;
    let transport = Arc::new(Overlaps::default());
    let relays = [0, 1].map(|_| {
        Arc::new(
            OutboxRelay::new(
                work.clone(),
                transport.clone(),
                tenant(),
                Arc::new(clock.clone()),
            )
            .with_settings(RelaySettings {
                batch_size: 5,
                ..RelaySettings::default()
            }),
        )
    });
    let claimed: Vec<usize> = futures_util::future::join_all(relays.iter().map(|relay| {
        let relay = relay.clone();
        let clock = clock.clone();
        tokio::spawn(async move {
            let mut claimed = 0;
            loop {
                let report = relay.relay_once(clock.now()).await.expect("a pass");
                if report.claimed == 0 {
                    return claimed;
                }
                claimed += report.claimed;
            }
        })
    }))
    .await
    .into_iter()
    .map(|joined| joined.expect("a relay finishes"))
    .collect();

    assert_eq!(claimed.iter().sum::<usize>(), MESSAGES, "{claimed:?}");
    assert_eq!(transport.most_at_once.load(Ordering::SeqCst), 1);
    let delivered = locked(&transport.delivered).clone();
    for message in &messages {
        assert_eq!(
            delivered.get(&message.id),
            Some(&1),
            "delivered once within its lease"
        );
    }
    assert!(
        entries(&work)
            .await
            .iter()
            .all(|entry| entry.delivered_at.is_some())
    );
}

/// A transport that delivers through `inner` and then, the first time, never returns: the
/// process "dies" after the receiver took the message and before the relay recorded it.
struct CrashAfterDelivery<T> {
    inner: T,
    crashed: AtomicBool,
    delivered: Arc<Notify>,
}

impl<T: Transport> Transport for CrashAfterDelivery<T> {
    async fn deliver(&self, destination: &str, message: &OutboxMessage) -> Delivery {
        let delivery = self.inner.deliver(destination, message).await;
        if !self.crashed.swap(true, Ordering::SeqCst) {
            self.delivered.notify_one();
            std::future::pending::<()>().await;
        }
        delivery
    }
}

async fn a_crash_between_delivery_and_its_record_redelivers_under_the_same_key<
    U: UnitOfWork + Clone,
>(
    work: U,
) {
    let receiver = Receiver::start(Vec::new()).await;
    let clock = ManualClock::new(t0());
    let message = write_messages(&work, 1, t0(), json!({})).await.remove(0);
    let lease = RelaySettings::default().lease;

    let delivered = Arc::new(Notify::new());
    let dying = manual_relay(
        work.clone(),
        CrashAfterDelivery {
            inner: http(&receiver),
            crashed: AtomicBool::new(false),
            delivered: delivered.clone(),
        },
        &clock,
    );
    tokio::select! {
        _ = dying.relay_once(clock.now()) => panic!("the pass was to die mid-way"),
        () = delivered.notified() => {}
    }
    drop(dying);
    let orphan = entry(&work, message.id).await;
    assert_eq!(orphan.delivered_at, None, "the delivery was never recorded");
    receiver.seen(|seen| assert_eq!(seen.effects.get(&message.idempotency_key), Some(&1)));

    // A new process: nothing happens while the dead relay's lease holds, then one redelivery.
    let restarted = manual_relay(work.clone(), http(&receiver), &clock);
    clock.set(t0() + TimeDelta::from_std(lease).expect("a lease") - TimeDelta::seconds(1));
    assert_eq!(
        restarted
            .relay_once(clock.now())
            .await
            .expect("a pass")
            .claimed,
        0
    );
    clock.set(t0() + TimeDelta::from_std(lease).expect("a lease"));
    let report = restarted.relay_once(clock.now()).await.expect("a pass");
    assert_eq!(report.delivered, 1);
    assert_eq!(
        restarted
            .relay_once(clock.now())
            .await
            .expect("a pass")
            .claimed,
        0
    );

    receiver.seen(|seen| {
        let key = &message.idempotency_key;
        assert_eq!(
            seen.requests.get(key),
            Some(&2),
            "one redelivery, under the same key"
        );
        assert_eq!(
            seen.effects.get(key),
            Some(&1),
            "the receiver's effect happened once"
        );
        assert_eq!(seen.duplicates.get(key), Some(&1));
        assert_eq!(seen.requests.len(), 1, "every attempt carried the same key");
    });
    assert!(entry(&work, message.id).await.delivered_at.is_some());
}

/// Messages to `destination` written at `at`.
async fn write_to<U: UnitOfWork>(
    work: &U,
    destination: &str,
    count: usize,
    at: DateTime<Utc>,
) -> Vec<Uuid> {
    let messages: Vec<OutboxMessage> = (0..count)
        .map(|_| {
            let id = Uuid::now_v7();
            OutboxMessage {
                id,
                destination: destination.into(),
                idempotency_key: format!("{destination}:{id}"),
                payload: json!({ "id": id.to_string() }),
                created_at: at,
            }
        })
        .collect();
    let ids = messages.iter().map(|message| message.id).collect();
    write(work, messages).await;
    ids
}

/// Sync monitoring per destination, counted by the backend and equal to the reference read
/// from every entry: pending, the oldest's age, failing, parked, delivered in the last five
/// minutes, the last delivery, and failures by cause.
async fn each_destination_reports_its_backlog_failures_by_cause_and_last_delivery<
    U: UnitOfWork + Clone,
>(
    work: U,
) {
    let now = t0() + TimeDelta::hours(1);
    let erp = write_to(&work, "erp", 6, t0()).await;
    let desk = write_to(&work, "desk", 3, t0() + TimeDelta::minutes(30)).await;
    let quiet = write_to(&work, "quiet", 1, t0()).await;
    let later = now + TimeDelta::hours(1);
    work.outbox_delivered(&tenant(), erp[0], now - TimeDelta::hours(2))
        .await
        .expect("delivered");
    work.outbox_delivered(&tenant(), erp[1], now - TimeDelta::minutes(2))
        .await
        .expect("delivered");
    work.outbox_delivered(&tenant(), erp[2], now - TimeDelta::minutes(1))
        .await
        .expect("delivered");
    for (id, reason) in [
        (erp[3], "HTTP 503 Service Unavailable"),
        (erp[4], "no answer within 10s"),
        (
            desk[0],
            "client error (Connect): tcp connect error: Connection refused (os error 111)",
        ),
        (desk[1], "HTTP 429 Too Many Requests"),
    ] {
        work.outbox_failed(&tenant(), id, reason, later)
            .await
            .expect("failed");
    }
    work.outbox_parked(&tenant(), erp[5], "HTTP 400 Bad Request: no such deal", now)
        .await
        .expect("parked");
    work.outbox_parked(
        &tenant(),
        quiet[0],
        "gave up after 8 attempts: HTTP 502 Bad Gateway",
        now,
    )
    .await
    .expect("parked");

    let counted = work
        .outbox_destinations(&tenant(), now)
        .await
        .expect("the destinations read");
    let reference = destination_health(&entries(&work).await, now);
    assert_eq!(counted, reference);
    assert_eq!(
        outbox_totals(&counted),
        work.outbox_health(&tenant(), now)
            .await
            .expect("the health reads"),
        "/metrics sums the destinations instead of reading the health too"
    );
    let by = |name: &str| -> DestinationHealth {
        counted
            .iter()
            .find(|health| health.destination == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is reported"))
    };
    let erp_health = by("erp");
    assert_eq!(
        (erp_health.pending, erp_health.failing, erp_health.parked),
        (2, 2, 1)
    );
    assert_eq!(erp_health.oldest_pending_age, Some(TimeDelta::hours(1)));
    assert_eq!(erp_health.delivered_recently, 2);
    assert_eq!(
        erp_health.last_delivered_at,
        Some(now - TimeDelta::minutes(1))
    );
    assert_eq!(
        erp_health.failures.into_iter().collect::<Vec<_>>(),
        [
            (FailureCause::Timeout, 1),
            (FailureCause::ReceiverError, 1),
            (FailureCause::Refused, 1),
        ]
    );
    let desk_health = by("desk");
    assert_eq!(
        (desk_health.pending, desk_health.failing, desk_health.parked),
        (3, 2, 0)
    );
    assert_eq!(desk_health.oldest_pending_age, Some(TimeDelta::minutes(30)));
    assert_eq!(desk_health.last_delivered_at, None);
    assert_eq!(
        desk_health.failures.into_iter().collect::<Vec<_>>(),
        [(FailureCause::Unreachable, 1), (FailureCause::Throttled, 1)]
    );
    let quiet_health = by("quiet");
    assert_eq!((quiet_health.pending, quiet_health.parked), (0, 1));
    assert_eq!(
        quiet_health.failures.into_iter().collect::<Vec<_>>(),
        [(FailureCause::ReceiverError, 1)]
    );
    assert_eq!(counted.len(), 3, "{counted:?}");
}

/// The alert payloads written to the alert destination, in the order written.
async fn alert_payloads<U: UnitOfWork>(work: &U) -> Vec<serde_json::Value> {
    entries(work)
        .await
        .into_iter()
        .filter(|entry| entry.message.destination == SYNC_ALERTS)
        .map(|entry| entry.message.payload)
        .collect()
}

/// Sync monitoring's alert hook: an alert fires once when a destination passes a limit,
/// through the outbox to the alert destination, and is resolved once when it is back under;
/// the alert destination never alerts about itself.
async fn sync_alerts_fire_once_and_resolve_once<U: UnitOfWork + Clone>(work: U) {
    let clock = ManualClock::new(t0());
    let alerts = SyncAlerts::new(
        work.clone(),
        tenant(),
        SyncThresholds {
            pending_over: Some(2),
            failing_over: Some(0),
            ..SyncThresholds::default()
        },
        SYNC_ALERTS,
        Arc::new(clock.clone()),
    );
    assert!(alerts.check(t0()).await.expect("a look").is_empty());
    let erp = write_to(&work, "erp", 3, t0()).await;
    let fired = alerts.check(t0()).await.expect("a look");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(fired[0].firing && fired[0].measure == SyncMeasure::Pending && fired[0].value == 3);
    assert!(alerts.check(t0()).await.expect("a look").is_empty(), "once");

    work.outbox_failed(&tenant(), erp[0], "HTTP 503", t0() + TimeDelta::minutes(1))
        .await
        .expect("failed");
    let fired = alerts.check(t0()).await.expect("a look");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].measure, SyncMeasure::Failing);

    let done = t0() + TimeDelta::minutes(5);
    work.outbox_delivered_all(&tenant(), &erp, done)
        .await
        .expect("delivered");
    let resolved = alerts.check(done).await.expect("a look");
    assert_eq!(resolved.len(), 2, "{resolved:?}");
    assert!(
        resolved
            .iter()
            .all(|alert| !alert.firing && alert.value == 0)
    );
    assert!(alerts.check(done).await.expect("a look").is_empty());

    // Four alerts waited for the webhook: more than the pending limit, and no alert about it.
    let payloads = alert_payloads(&work).await;
    assert_eq!(payloads.len(), 4, "{payloads:?}");
    let mut statuses: Vec<(&str, &str)> = payloads
        .iter()
        .map(|payload| {
            (
                payload["measure"].as_str().unwrap_or_default(),
                payload["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [
            ("failing", "firing"),
            ("failing", "resolved"),
            ("pending", "firing"),
            ("pending", "resolved"),
        ]
    );
    let pending: Vec<&serde_json::Value> = payloads
        .iter()
        .filter(|payload| payload["alert"] == json!("acme/erp/pending"))
        .collect();
    assert_eq!(pending.len(), 2);
    assert!(
        pending
            .iter()
            .all(|payload| payload["destination"] == json!("erp"))
    );
    assert_eq!(
        pending[0]["since"], pending[1]["since"],
        "resolved names when it started"
    );
}

/// The hooks of eight `crm work` processes look at once when a destination passes its limit,
/// and again when it is back under: each change is announced once; a hook started afresh
/// (a restarted process) announces nothing it announced before.
async fn many_processes_and_a_restart_announce_each_alert_change_once<U: UnitOfWork + Clone>(
    work: U,
) {
    let hook = || {
        Arc::new(SyncAlerts::new(
            work.clone(),
            tenant(),
            SyncThresholds {
                pending_over: Some(2),
                ..SyncThresholds::default()
            },
            SYNC_ALERTS,
            Arc::new(ManualClock::new(t0())),
        ))
    };
    let all_look = |at| {
        let hooks: Vec<_> = (0..8).map(|_| hook()).collect();
        async move {
            let mut looks = JoinSet::new();
            for hook in hooks {
                looks.spawn(async move { hook.check(at).await.expect("a look") });
            }
            let mut announced = Vec::new();
            while let Some(look) = looks.join_next().await {
                announced.extend(look.expect("the look ran"));
            }
            announced
        }
    };
    let erp = write_to(&work, "erp", 3, t0()).await;
    let fired = all_look(t0()).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(fired[0].firing);
    assert!(
        hook().check(t0()).await.expect("a look").is_empty(),
        "a restarted hook knows it fires"
    );
    // A process that read the state before the change and commits it after: nothing.
    let late = crm_app::uow::AlertChange {
        alert: "acme/erp/pending".into(),
        state: crm_app::uow::AlertState {
            firing: true,
            since: t0(),
            limit: 2,
        },
        message: OutboxMessage {
            id: Uuid::now_v7(),
            destination: SYNC_ALERTS.into(),
            idempotency_key: "sync-alert:late".into(),
            payload: json!({}),
            created_at: t0(),
        },
    };
    assert!(
        work.commit_alerts(&tenant(), vec![late])
            .await
            .expect("commits")
            .is_empty()
    );
    let done = t0() + TimeDelta::minutes(5);
    work.outbox_delivered_all(&tenant(), &erp, done)
        .await
        .expect("delivered");
    let resolved = all_look(done).await;
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert!(!resolved[0].firing);
    assert!(hook().check(done).await.expect("a look").is_empty());
    let statuses: Vec<serde_json::Value> = alert_payloads(&work)
        .await
        .into_iter()
        .map(|payload| payload["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("firing"), json!("resolved")]);
    let states = work.alerts(&tenant()).await.expect("the states read");
    assert_eq!(
        states.get("acme/erp/pending").map(|state| state.firing),
        Some(false)
    );
}
