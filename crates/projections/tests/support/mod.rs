//! Test support for the runner tests: a fresh PostgreSQL database per test (failing, never
//! skipping, when PostgreSQL is unreachable), a workload of real domain events made by the
//! aggregates' `decide`, and the reference fold.

#![allow(dead_code, unreachable_pub)]
#![allow(
    clippy::unwrap_used,
    reason = "test support: a step that fails fails the test"
)]

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use crm_domain::contact::{Contact, ContactCommand, Detail, DetailChange, Provenance};
use crm_domain::identity::PersonName;
use crm_domain::ticket::{Ticket, TicketCommand};
use crm_domain::{
    Actor, Aggregate, Channel, ContactId, Context, DomainEvent, Priority, TicketId, UserId, encode,
};
use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, NewEvent, PostgresConfig, PostgresStore, StreamId,
    TenantId,
};
use crm_projections::customer360::{Customer360Model, CustomerDoc};
use crm_projections::{MemoryDocuments, ProjectedEvent, Stored};
use tokio_postgres::NoTls;
use uuid::Uuid;

/// A database that exists for one test.
pub struct TestDatabase {
    name: String,
    admin: String,
    /// A connection string to it.
    pub url: String,
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set. PostgreSQL tests never skip: run `source \
             scripts/postgres-env` or point DATABASE_URL at a server that allows CREATE DATABASE"
        )
    })
}

fn with_dbname(connection: &str, dbname: &str) -> String {
    if let Some(rest) = connection
        .strip_prefix("postgres://")
        .or_else(|| connection.strip_prefix("postgresql://"))
    {
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let host = authority.split('/').next().unwrap_or(authority);
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("postgresql://{host}/{dbname}{query}")
    } else {
        format!("{connection} dbname={dbname}")
    }
}

/// A client on `connection`, its driver spawned.
pub async fn client(connection: &str) -> tokio_postgres::Client {
    let (client, driver) = tokio_postgres::connect(connection, NoTls)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot connect to PostgreSQL at {connection:?}: {error}. PostgreSQL tests never \
                 skip: run `source scripts/postgres-env`"
            )
        });
    tokio::spawn(async move {
        let _ = driver.await;
    });
    client
}

impl TestDatabase {
    /// Creates a fresh database.
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = format!("proj_it_{}", Uuid::now_v7().simple());
        client(&admin)
            .await
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' \
                 LC_CTYPE 'C'"
            ))
            .await
            .unwrap_or_else(|error| panic!("CREATE DATABASE {name} failed: {error}"));
        let url = with_dbname(&admin, &name);
        Self { name, admin, url }
    }

    /// The event store on this database (migrated).
    pub async fn store(&self) -> PostgresStore {
        PostgresStore::connect(PostgresConfig::new(self.url.clone()).with_pool_size(6))
            .await
            .expect("connect the event store")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok((client, driver)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(async move {
                        let _ = driver.await;
                    });
                    let _ = tokio::time::timeout(
                        Duration::from_secs(10),
                        client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                    )
                    .await;
                }
            });
        });
        let _ = dropped.join();
    }
}

pub fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// One append: a stream and the events a command produced.
#[derive(Debug, Clone)]
pub struct Append {
    pub stream: StreamId,
    pub events: Vec<NewEvent>,
}

fn new_events<E: DomainEvent>(events: &[E]) -> Vec<NewEvent> {
    events
        .iter()
        .map(|event| {
            let encoded = encode(event).unwrap();
            NewEvent::new(encoded.event_type, encoded.schema_version, encoded.payload)
        })
        .collect()
}

fn ctx(minute: i64, n: u128) -> Context {
    Context::new(
        t0() + chrono::Duration::minutes(minute),
        Actor::User {
            id: UserId(Uuid::from_u128(0xa11ce)),
        },
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n),
    )
}

pub fn contact_id(n: usize) -> Uuid {
    Uuid::from_u128(0xc000_0000 + n as u128)
}

pub fn ticket_id(contact: usize, n: usize) -> Uuid {
    Uuid::from_u128(0x7000_0000 + (contact as u128) * 1000 + n as u128)
}

/// `contacts` customers, each created, then each with `tickets` tickets opened and answered
/// `replies` times, interleaved across customers: real events from the aggregates' `decide`.
pub fn workload(contacts: usize, tickets: usize, replies: usize) -> Vec<Append> {
    let mut appends = Vec::new();
    let mut minute = 0;
    for c in 0..contacts {
        let contact = Contact::default();
        let events = contact
            .decide(
                ContactCommand::Create {
                    contact_id: ContactId(contact_id(c)),
                    provenance: Provenance::new("crm-ui", t0()),
                    changes: vec![DetailChange::Set(Detail::GivenName(Some(
                        PersonName::new(&format!("Customer {c}")).unwrap(),
                    )))],
                },
                &ctx(minute, c as u128),
            )
            .unwrap();
        appends.push(Append {
            stream: StreamId::new(format!("contact-{}", contact_id(c))).unwrap(),
            events: new_events(&events),
        });
    }
    let mut states: Vec<(usize, usize, Ticket)> = Vec::new();
    for t in 0..tickets {
        for c in 0..contacts {
            minute += 1;
            let id = ticket_id(c, t);
            let events = Ticket::default()
                .decide(
                    TicketCommand::Open {
                        ticket: TicketId(id),
                        contact: ContactId(contact_id(c)),
                        subject: format!("Question {t} of customer {c}"),
                        channel: Channel::Email,
                        priority: Priority::Normal,
                        message: Some("Hello".into()),
                        follow_up_of: None,
                    },
                    &ctx(minute, 1_000_000 + id.as_u128()),
                )
                .unwrap();
            let state = events.iter().fold(Ticket::default(), Ticket::evolve);
            appends.push(Append {
                stream: StreamId::new(format!("ticket-{id}")).unwrap(),
                events: new_events(&events),
            });
            states.push((c, t, state));
        }
    }
    for r in 0..replies {
        for (c, t, state) in &mut states {
            minute += 1;
            let events = state
                .decide(
                    TicketCommand::ReplyToCustomer {
                        body: format!("Reply {r}"),
                        channel: Channel::Email,
                    },
                    &ctx(minute, 2_000_000 + ticket_id(*c, *t).as_u128() + r as u128),
                )
                .unwrap();
            *state = events.iter().fold(std::mem::take(state), Ticket::evolve);
            appends.push(Append {
                stream: StreamId::new(format!("ticket-{}", ticket_id(*c, *t))).unwrap(),
                events: new_events(&events),
            });
        }
    }
    appends
}

/// Appends every append of `appends`, in order, each its own transaction.
pub async fn append_all<S: EventStore>(
    store: &S,
    tenant: &TenantId,
    appends: &[Append],
) -> GlobalPosition {
    let mut last = GlobalPosition::START;
    for append in appends {
        let result = store
            .append(tenant, &append.stream, ExpectedVersion::Any, &append.events)
            .await
            .unwrap();
        last = last.max(result.events.last().unwrap().position);
    }
    last
}

/// Every event of the tenant through `head`, decoded, in global order. Waits (up to 30 s)
/// until the store delivers through `head`: readers see only what lies below the oldest open
/// transaction of the whole cluster, and other tests hold transactions open.
pub async fn events<S: EventStore>(
    store: &S,
    tenant: &TenantId,
    head: GlobalPosition,
) -> Vec<ProjectedEvent> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = store
            .read_all(tenant, GlobalPosition::START, usize::MAX)
            .await
            .unwrap();
        if page.events.last().is_some_and(|last| last.position >= head)
            || head == GlobalPosition::START
        {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the store never delivered through {head}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    page.events
        .into_iter()
        .filter_map(|recorded| {
            ProjectedEvent::decode(
                recorded.position,
                recorded.recorded_at,
                crm_projections::TenantId::new(tenant.as_str()),
                recorded.stream.as_str(),
                &recorded.event_type,
                recorded.schema_version,
                recorded.payload,
            )
            .ok()
        })
        .collect()
}

/// The clean rebuild: the in-memory fold of every event of the tenant through `head`, in key
/// order.
pub async fn reference<S: EventStore>(
    store: &S,
    tenant: &TenantId,
    head: GlobalPosition,
) -> Vec<Stored<CustomerDoc>> {
    let events = events(store, tenant, head).await;
    let folded = MemoryDocuments::fold(Customer360Model, &events).unwrap();
    let mut docs: Vec<_> = folded
        .documents(&crm_projections::TenantId::new(tenant.as_str()))
        .cloned()
        .collect();
    docs.sort_by_key(|stored| stored.key);
    docs
}

/// Steps `projector` until its checkpoint reaches `head` (up to 30 s), or until a step fails.
pub async fn catch_up_to<S, D, M>(
    projector: &mut crm_projections::Projector<S, D, M>,
    head: GlobalPosition,
) -> Result<(), crm_projections::RunnerError>
where
    S: EventStore,
    D: crm_projections::DocumentStore<M>,
    M: crm_projections::ReadModel,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let step = projector.step().await?;
        if step.checkpoint.is_some_and(|done| done >= head) {
            return Ok(());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the projector never reached {head}"
        );
        if step.caught_up {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The projection's tenant id for the store's.
pub fn projected(tenant: &TenantId) -> crm_projections::TenantId {
    crm_projections::TenantId::new(tenant.as_str())
}
