//! `crm work` killed with SIGKILL at random points, again and again, while it follows up
//! conversions and won deals and delivers ERP messages to a real HTTP receiver; then left to
//! finish. Counted afterwards: every conversion made its contact, its source-lead record and
//! its deal once; every won deal opened one onboarding ticket and reached the receiver under
//! one idempotency key, processed once however often it was redelivered. And the intake
//! killed 100 times while it turns an inbox of lead deliveries (redeliveries arriving all the
//! while) into leads: every delivery is one lead, assigned or queued or quarantined.

mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_app::UnitOfWork;
use crm_app::intake::{Inbox, LeadDelivery, PostgresInbox, submit};
use crm_domain::UserId;
use crm_eventstore::{EventStore, GlobalPosition};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use support::{converted_lead, roster, t0, tenant, won_deal};
use tokio::net::TcpListener;
use uuid::Uuid;

/// How many times the worker is killed.
const KILLS: usize = 30;
const WON_DEALS: usize = 12;
const CONVERSIONS: usize = 12;

/// Deliveries seen by the receiver, per idempotency key: requests and the payload processed.
#[derive(Debug, Default)]
struct Seen {
    requests: HashMap<String, usize>,
    processed: HashMap<String, serde_json::Value>,
}

async fn receiver() -> (SocketAddr, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("a bound address");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(Arc::clone(&seen), request));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (address, seen)
}

async fn answer(
    seen: Arc<Mutex<Seen>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut seen = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *seen.requests.entry(key.clone()).or_default() += 1;
    let first = !seen.processed.contains_key(&key);
    if first {
        seen.processed.insert(key, payload);
    }
    Ok(Response::builder()
        .status(if first { 201 } else { 200 })
        .body(Full::new(Bytes::new()))
        .expect("a valid response"))
}

fn owner() -> UserId {
    support::DEAL_OWNER
}

/// Writes the host configuration `config` into a fresh directory; the directory and the file.
fn write_config(config: &serde_json::Value) -> (std::path::PathBuf, std::path::PathBuf) {
    let directory = std::env::temp_dir().join(format!("crm-worker-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&directory).expect("a temporary directory");
    let file = directory.join("host.json");
    std::fs::write(&file, config.to_string()).expect("the configuration is written");
    (directory, file)
}

/// Starts a worker, lets it run for a pseudo-random pause drawn from `seed` (between `from`
/// and `from + spread` milliseconds), then kills it with SIGKILL.
async fn kill_after_a_while(
    database: &str,
    config: &std::path::Path,
    seed: &mut u64,
    (from, spread): (u64, u64),
) {
    let mut worker = start_worker(database, config);
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    tokio::time::sleep(Duration::from_millis(from + (*seed >> 33) % spread)).await;
    worker.kill().expect("SIGKILL is delivered");
    worker.wait().expect("the killed worker is reaped");
}

/// Stops a worker with SIGTERM and checks that it exits cleanly.
fn stop_gracefully(mut worker: Child) {
    let terminated = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(terminated.success());
    let status = worker.wait().expect("the worker stops");
    assert!(status.success(), "a graceful stop exits cleanly: {status}");
}

/// `crm work` for the tenant on `database` with `config`, its output to stdout dropped.
fn worker_command(database: &str, config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
    command
        .args(["work", "--tenant", "acme", "--config"])
        .arg(config)
        .env("DATABASE_URL", database)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null());
    command
}

fn start_worker(database: &str, config: &std::path::Path) -> Child {
    worker_command(database, config)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the crm binary starts")
}

/// Starts a worker and returns once it has announced itself (its first line, written after it
/// listens for a stop): a stop asked for earlier, while the process is still being loaded,
/// would find no handler and kill it. Its output goes on to the test's own.
fn start_ready_worker(database: &str, config: &std::path::Path) -> Child {
    use std::io::BufRead;

    let mut worker = worker_command(database, config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the crm binary starts");
    let stderr = worker.stderr.take().expect("a piped stderr");
    let (announced, announcement) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("{line}");
            let _ = announced.send(());
        }
    });
    announcement
        .recv_timeout(Duration::from_mins(1))
        .expect("the worker announces itself");
    worker
}

/// Counts of the event types in the tenant's history.
async fn counts<U: UnitOfWork>(work: &U) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let mut after = GlobalPosition::default();
    loop {
        let page = work
            .store()
            .read_all(&tenant(), after, 1000)
            .await
            .expect("reads");
        if page.is_empty() {
            return counts;
        }
        assert!(page.unreadable.is_empty(), "{:?}", page.unreadable);
        after = page.next;
        for event in page.events {
            *counts.entry(event.event_type).or_default() += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_at_random_points_loses_and_doubles_nothing() {
    let fixture = support::postgres().await;
    let database = fixture.database.as_ref().expect("a database").url.clone();
    let (service, _) = support::service(fixture.work.clone());
    let (address, seen) = receiver().await;
    let (directory, config) = write_config(&serde_json::json!({
        "conversion": { "currency": "EUR", "fallback_owner": owner().0 },
        "onboarding": true,
        "destinations": { "erp": format!("http://{address}/erp") },
        "tick_ms": 50,
    }));

    // Work for the worker: won deals (onboarding, ERP) and conversions (contact, deal).
    let mut deals = Vec::new();
    for _ in 0..WON_DEALS {
        deals.push(won_deal(&service).await.1);
    }
    for _ in 0..CONVERSIONS {
        converted_lead(&service).await;
    }

    // Killed at pseudo-random points: right at start-up, mid-catch-up, mid-delivery.
    let mut seed: u64 = 0x5eed;
    for _ in 0..KILLS {
        kill_after_a_while(&database, &config, &mut seed, (20, 400)).await;
    }

    // Then it runs until everything is done, and stops on SIGTERM.
    let worker = start_ready_worker(&database, &config);
    // A message a killed worker claimed and delivered but did not record is the killed
    // worker's until its lease (60 s) ends; only then is it delivered again (under its key)
    // and recorded. So done means recorded, not only seen by the receiver.
    let deadline = tokio::time::Instant::now() + Duration::from_mins(2);
    loop {
        let counted = counts(&fixture.work).await;
        let delivered = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .processed
            .len();
        let recorded = fixture
            .work
            .outbox(&tenant())
            .await
            .expect("reads")
            .iter()
            .filter(|entry| entry.delivered_at.is_some())
            .count();
        let done = counted.get("TicketOpened") == Some(&WON_DEALS)
            && counted.get("ContactSourceLeadRecorded") == Some(&CONVERSIONS)
            && counted.get("OpportunityOpened") == Some(&(WON_DEALS + CONVERSIONS))
            && delivered == WON_DEALS
            && recorded == WON_DEALS;
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not finish: {counted:?}, {delivered} delivered, {recorded} recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_gracefully(worker);

    // Nothing doubled: one of each, whatever the redeliveries.
    let counted = counts(&fixture.work).await;
    assert_eq!(counted.get("TicketOpened"), Some(&WON_DEALS), "{counted:?}");
    assert_eq!(
        counted.get("ContactCreated"),
        Some(&(WON_DEALS + CONVERSIONS))
    );
    assert_eq!(counted.get("ContactSourceLeadRecorded"), Some(&CONVERSIONS));
    assert_eq!(
        counted.get("OpportunityOpened"),
        Some(&(WON_DEALS + CONVERSIONS))
    );
    let outbox = fixture.work.outbox(&tenant()).await.expect("reads");
    assert_eq!(outbox.len(), WON_DEALS);
    assert!(
        outbox.iter().all(|entry| entry.delivered_at.is_some()),
        "{outbox:?}"
    );
    {
        let seen = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(
            seen.processed.len(),
            WON_DEALS,
            "one ERP message per won deal"
        );
        let mut announced: Vec<String> = seen
            .processed
            .values()
            .map(|payload| {
                assert_eq!(payload["type"], "deal-won", "{payload}");
                payload["opportunity"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        announced.sort();
        let mut expected: Vec<String> = deals.iter().map(|deal| deal.0.to_string()).collect();
        expected.sort();
        assert_eq!(announced, expected, "every won deal, each once");
    }
    let _ = std::fs::remove_dir_all(&directory);
    drop(fixture);
}

/// A web-form delivery; without an email (and phone) it is quarantined.
fn delivery(n: usize, valid: bool) -> LeadDelivery {
    let mut payload = serde_json::json!({
        "first_name": "Ada",
        "last_name": format!("Lovelace {n}"),
        "company": "Analytical Engines",
        "country": "GB",
    });
    if valid {
        payload["email"] = serde_json::json!(format!("ada{n}@example.com"));
    }
    LeadDelivery {
        source: "web-form".into(),
        external_id: format!("evt-{n}"),
        payload,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_killed_a_hundred_times_makes_every_delivery_one_lead() {
    const DELIVERIES: usize = 150;
    const KILLED: usize = 100;
    let fixture = support::postgres().await;
    let database = fixture.database.as_ref().expect("a database").url.clone();
    let (service, _) = support::service(fixture.work.clone());
    let roster = roster(&service, (1, 1)).await;
    let inbox = PostgresInbox::new(fixture.work.event_store().clone());

    let (directory, config) = write_config(&serde_json::json!({
        "onboarding": false,
        "routing": { "territory_map": roster.settings.territory_map },
        "intake": { "default_region": "GB", "batch": 10, "parallelism": 4, "lease_ms": 1000 },
        "tick_ms": 20,
    }));

    let valid = |n: usize| !n.is_multiple_of(8);
    let first: Vec<LeadDelivery> = (0..DELIVERIES / 2).map(|n| delivery(n, valid(n))).collect();
    submit(&inbox, &tenant(), &first, t0())
        .await
        .expect("stored");

    let mut seed: u64 = 0x1a7e;
    for kill in 0..KILLED {
        // Deliveries keep arriving, redeliveries among them, while workers die.
        if kill.is_multiple_of(5) {
            let from = DELIVERIES / 2 + (kill / 5) * (DELIVERIES / 2) / (KILLED / 5);
            let to = DELIVERIES / 2 + (kill / 5 + 1) * (DELIVERIES / 2) / (KILLED / 5);
            let mut batch: Vec<LeadDelivery> = (from..to).map(|n| delivery(n, valid(n))).collect();
            batch.push(delivery(
                kill % (DELIVERIES / 2),
                valid(kill % (DELIVERIES / 2)),
            ));
            submit(&inbox, &tenant(), &batch, t0())
                .await
                .expect("stored");
        }
        kill_after_a_while(&database, &config, &mut seed, (10, 150)).await;
    }

    let worker = start_ready_worker(&database, &config);
    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    loop {
        let health = inbox
            .health(&tenant(), chrono::Utc::now())
            .await
            .expect("reads");
        if health.depth == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the intake did not finish: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_gracefully(worker);

    let counted = counts(&fixture.work).await;
    let quarantined = (0..DELIVERIES).filter(|n| !valid(*n)).count();
    assert_eq!(
        counted.get("LeadReceived"),
        Some(&DELIVERIES),
        "{counted:?}"
    );
    assert_eq!(
        counted.get("LeadQuarantined"),
        Some(&quarantined),
        "{counted:?}"
    );
    assert_eq!(
        counted.get("LeadCaptured"),
        Some(&(DELIVERIES - quarantined)),
        "{counted:?}"
    );
    let placed = counted.get("LeadAssigned").copied().unwrap_or(0)
        + counted.get("LeadQueued").copied().unwrap_or(0);
    assert_eq!(
        placed,
        DELIVERIES - quarantined,
        "every captured lead assigned or queued once: {counted:?}"
    );
    let _ = std::fs::remove_dir_all(&directory);
    drop(fixture);
}

/// `crm work` with `intake.identity_resolution`: it keeps the identity index itself, and a
/// delivery from a person already known as a contact records that contact on the lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_work_resolves_a_known_person_through_the_index_it_keeps() {
    use crm_domain::contact::{Contact, ContactCommand, Detail, DetailChange, Provenance};
    use crm_domain::identity::{EmailAddress, PersonName};
    use crm_domain::lead::Lead;

    let fixture = support::postgres().await;
    let database = fixture.database.as_ref().expect("a database").url.clone();
    let (service, _) = support::service(fixture.work.clone());
    let ada = crm_domain::ContactId(Uuid::now_v7());
    service
        .execute::<Contact>(
            &tenant(),
            ada.0,
            ContactCommand::Create {
                contact_id: ada,
                provenance: Provenance::new("crm-ui", t0()),
                changes: vec![
                    DetailChange::Set(Detail::GivenName(PersonName::new("Ada").ok())),
                    DetailChange::Set(Detail::FamilyName(PersonName::new("Lovelace").ok())),
                    DetailChange::AddEmail(
                        EmailAddress::parse("ada@example.com").expect("an email"),
                    ),
                ],
            },
            &support::meta(),
        )
        .await
        .expect("Ada is a contact");
    let (directory, config) = write_config(&serde_json::json!({
        "onboarding": false,
        "intake": { "default_region": "GB", "identity_resolution": true, "lease_ms": 1000 },
        "tick_ms": 20,
    }));
    let worker = start_ready_worker(&database, &config);
    // The index catches up before the delivery arrives (a person indexed later is not found:
    // the index is a projection).
    let indexed = crm_projections::PostgresDocuments::connect(
        &database,
        1,
        crm_projections::identity::IdentityIndexModel::default(),
    )
    .await
    .expect("the index's table");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        use crm_projections::DocumentStore as _;
        if indexed
            .get(&tenant(), &crm_projections::identity::person_key(ada))
            .await
            .expect("the index reads")
            .is_some()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the index caught up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let inbox = PostgresInbox::new(fixture.work.event_store().clone());
    let delivery = LeadDelivery {
        source: "web-form".into(),
        external_id: "evt-ada".into(),
        payload: serde_json::json!({
            "firstName": "Ada", "lastName": "Lovelace", "email": "ADA@example.com", "country": "GB",
        }),
    };
    let outcome = submit(&inbox, &tenant(), &[delivery], t0())
        .await
        .expect("stored");
    let lead = match outcome[0] {
        crm_app::intake::Submitted::Accepted { id }
        | crm_app::intake::Submitted::Duplicate { id } => id,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let matched = loop {
        if let Ok((state, _)) = service.load::<Lead>(&tenant(), lead).await
            && let Some(found) = state.contact_match
        {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lead was matched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(matched.contact, ada);
    stop_gracefully(worker);
    let _ = std::fs::remove_dir_all(directory);
}

/// `crm work` with `account_linking`: it keeps the account 360 itself, and a contact created
/// with a work address at an account's domain becomes one of its contacts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_work_links_a_contact_to_the_account_of_their_work_address() {
    use crm_domain::account::{Account, AccountCommand};
    use crm_domain::contact::{Contact, ContactCommand, Detail, DetailChange, Provenance};
    use crm_domain::identity::{CompanyDomain, CompanyName, EmailAddress, PersonName};
    use crm_projections::DocumentStore as _;
    use crm_projections::account360::{Account360Model, Account360Query};

    let fixture = support::postgres().await;
    let database = fixture.database.as_ref().expect("a database").url.clone();
    let (service, _) = support::service(fixture.work.clone());
    let engines = crm_domain::AccountId::from_uuid(Uuid::now_v7());
    service
        .execute::<Account>(
            &tenant(),
            engines.0,
            AccountCommand::Open {
                account: engines,
                name: CompanyName::new("Analytical Engines Ltd").expect("a name"),
                owner: owner(),
                domains: vec![CompanyDomain::parse("engines.example").expect("a domain")],
                industry: None,
                employees: None,
                addresses: Vec::new(),
            },
            &support::meta(),
        )
        .await
        .expect("opened");
    let (directory, config) = write_config(&serde_json::json!({
        "onboarding": false,
        "account_linking": true,
        "tick_ms": 20,
    }));
    let worker = start_ready_worker(&database, &config);
    // A person is linked against the accounts the model holds when they are looked at.
    let model = crm_projections::PostgresDocuments::connect(&database, 1, Account360Model)
        .await
        .expect("the account 360's table");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while model
        .lookup(&tenant(), &Account360Query { account: engines })
        .await
        .expect("the model reads")
        .is_none()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the account is projected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ada = crm_domain::ContactId(Uuid::now_v7());
    service
        .execute::<Contact>(
            &tenant(),
            ada.0,
            ContactCommand::Create {
                contact_id: ada,
                provenance: Provenance::new("crm-ui", t0()),
                changes: vec![
                    DetailChange::Set(Detail::GivenName(PersonName::new("Ada").ok())),
                    DetailChange::AddEmail(
                        EmailAddress::parse("ada@engines.example").expect("an email"),
                    ),
                ],
            },
            &support::meta(),
        )
        .await
        .expect("Ada is a contact");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (account, _) = service
            .load::<Account>(&tenant(), engines.0)
            .await
            .expect("the account loads");
        if account
            .profile
            .is_some_and(|profile| profile.contacts.contains_key(&ada))
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "Ada was linked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_gracefully(worker);
    let _ = std::fs::remove_dir_all(directory);
}

/// A stop asked for while `crm work` is still starting (its connection made, its read models
/// and workers not yet running) is answered with a graceful stop once it runs. Before, the
/// signal handler was installed only after start-up, and SIGTERM in between killed the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_work_stopped_while_starting_stops_gracefully() {
    use std::io::BufRead;

    let fixture = support::postgres().await;
    let database = fixture.database.as_ref().expect("a database").url.clone();
    let (directory, config) = write_config(&serde_json::json!({
        "onboarding": false,
        "intake": { "default_region": "GB", "identity_resolution": true, "lease_ms": 1000 },
        "account_linking": true,
        "tick_ms": 20,
    }));
    let mut worker = worker_command(&database, &config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("crm work starts");
    // Its first line comes once it has connected, before it opens the identity index, the
    // account 360 and their projectors: the stop is asked for right then.
    let stderr = worker.stderr.take().expect("a piped stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with("crm: working for"), "{first}");
    stop_gracefully(worker);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|line| line.contains("stopping")),
        "it stopped as asked: {rest:?}"
    );
    let _ = std::fs::remove_dir_all(directory);
}
