//! A workload of real domain events for the runner's tests against PostgreSQL: made by the
//! aggregates' `decide`, appended to an event store, read back decoded, and folded in memory as
//! the reference a projector must equal (feature `projections`).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use crm_domain::contact::{Contact, ContactCommand, Detail, DetailChange, Provenance};
use crm_domain::identity::PersonName;
use crm_domain::ticket::{Ticket, TicketCommand};
use crm_domain::{
    Actor, Aggregate, Channel, ContactId, Context, DomainEvent, Priority, TicketId, UserId, encode,
};
use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, Metadata, NewEvent, StreamId, TenantId,
};
use crm_projections::customer360::{Customer360Model, CustomerDoc};
use crm_projections::{
    DocumentStore, MemoryDocuments, ProjectedEvent, Projector, ReadModel, RunnerError, Stored,
};
use uuid::Uuid;

/// How long [`events`] and [`catch_up_to`] wait before failing the test.
const PATIENCE: Duration = Duration::from_secs(30);

/// The tenant of the workload, `acme`.
pub fn tenant() -> TenantId {
    crate::tenant_id("acme")
}

/// Monday 2 March 2026, 09:00 UTC: the workload's first instant.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("a valid instant")
}

/// One append: a stream and the events a command produced.
#[derive(Debug, Clone)]
pub struct Append {
    /// The stream appended to.
    pub stream: StreamId,
    /// The events, encoded.
    pub events: Vec<NewEvent>,
}

/// The events as the command service stores them: encoded, the metadata naming `actor`.
fn new_events<E: DomainEvent>(events: &[E], actor: &Actor) -> Vec<NewEvent> {
    events
        .iter()
        .map(|event| {
            let encoded = encode(event).expect("domain events encode");
            NewEvent::new(encoded.event_type, encoded.schema_version, encoded.payload)
                .with_metadata(Metadata {
                    actor: Some(serde_json::to_value(actor).expect("an actor encodes")),
                    ..Metadata::default()
                })
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

/// The id of the `n`-th contact of the workload.
pub fn contact_id(n: usize) -> Uuid {
    Uuid::from_u128(0xc000_0000 + n as u128)
}

/// The id of the `n`-th ticket of the `contact`-th contact.
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
        let ctx = ctx(minute, c as u128);
        let events = contact
            .decide(
                ContactCommand::Create {
                    contact_id: ContactId(contact_id(c)),
                    provenance: Provenance::new("crm-ui", t0()),
                    changes: vec![DetailChange::Set(Detail::GivenName(Some(
                        PersonName::new(&format!("Customer {c}")).expect("a valid name"),
                    )))],
                },
                &ctx,
            )
            .expect("a new contact accepts Create");
        appends.push(Append {
            stream: StreamId::new(format!("contact-{}", contact_id(c))).expect("a valid stream id"),
            events: new_events(&events, &ctx.actor),
        });
    }
    let mut states: Vec<(usize, usize, Ticket)> = Vec::new();
    for t in 0..tickets {
        for c in 0..contacts {
            minute += 1;
            let id = ticket_id(c, t);
            let ctx = ctx(minute, 1_000_000 + id.as_u128());
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
                        account: None,
                    },
                    &ctx,
                )
                .expect("a new ticket accepts Open");
            let state = events.iter().fold(Ticket::default(), Ticket::evolve);
            appends.push(Append {
                stream: StreamId::new(format!("ticket-{id}")).expect("a valid stream id"),
                events: new_events(&events, &ctx.actor),
            });
            states.push((c, t, state));
        }
    }
    for r in 0..replies {
        for (c, t, state) in &mut states {
            minute += 1;
            let ctx = ctx(minute, 2_000_000 + ticket_id(*c, *t).as_u128() + r as u128);
            let events = state
                .decide(
                    TicketCommand::ReplyToCustomer {
                        body: format!("Reply {r}"),
                        channel: Channel::Email,
                    },
                    &ctx,
                )
                .expect("an open ticket accepts a reply");
            *state = events.iter().fold(std::mem::take(state), Ticket::evolve);
            appends.push(Append {
                stream: StreamId::new(format!("ticket-{}", ticket_id(*c, *t)))
                    .expect("a valid stream id"),
                events: new_events(&events, &ctx.actor),
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
            .unwrap_or_else(|error| panic!("append to {}: {error}", append.stream.as_str()));
        last = last.max(result.events.last().expect("an append of events").position);
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
    let deadline = Instant::now() + PATIENCE;
    let page = loop {
        let page = store
            .read_all(tenant, GlobalPosition::START, usize::MAX)
            .await
            .unwrap_or_else(|error| panic!("read the tenant's events: {error}"));
        if page.events.last().is_some_and(|last| last.position >= head)
            || head == GlobalPosition::START
        {
            break page;
        }
        assert!(
            Instant::now() < deadline,
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
                tenant.clone(),
                recorded.stream.as_str(),
                &recorded.event_type,
                recorded.schema_version,
                recorded.payload,
            )
            .ok()
            .map(|event| event.acted_by(recorded.metadata.actor))
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
    let folded =
        MemoryDocuments::fold(Customer360Model, &events).expect("the model folds the workload");
    let mut docs: Vec<_> = folded.documents(tenant).cloned().collect();
    docs.sort_by_key(|stored| stored.key);
    docs
}

/// Steps `projector` until its checkpoint reaches `head` (up to 30 s), or until a step fails.
pub async fn catch_up_to<S, D, M>(
    projector: &mut Projector<S, D, M>,
    head: GlobalPosition,
) -> Result<(), RunnerError>
where
    S: EventStore,
    D: DocumentStore<M>,
    M: ReadModel,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        let step = projector.step().await?;
        if step.checkpoint.is_some_and(|done| done >= head) {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "the projector never reached {head}"
        );
        if step.caught_up {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The name the workload's leads arrive from.
pub const LEAD_SOURCE: &str = "web-form";

/// The appends of lead `lead` as intake, routing and a rep record them, each naming its actor
/// as the command service does: received and captured from [`LEAD_SOURCE`] (an integration),
/// routed to a rep by the CRM's routing (a system component), converted into `contact` by
/// the rep.
pub fn converted_lead(lead: Uuid, contact: ContactId) -> Vec<Append> {
    use crm_domain::LeadId;
    use crm_domain::identity::CountryCode;
    use crm_domain::lead::{
        Campaign, ConversionRequest, Lead, LeadCommand, LeadSource, LeadSubmission,
    };
    let rep = UserId(Uuid::from_u128(0xb0b));
    let integration = Actor::Integration {
        source: LEAD_SOURCE.into(),
    };
    let routing = Actor::System {
        component: "routing".into(),
    };
    let steps = [
        (
            LeadCommand::Receive {
                lead_id: LeadId(lead),
                source: LeadSource {
                    system: LEAD_SOURCE.into(),
                    external_event_id: format!("delivery-{lead}"),
                },
                raw_payload: serde_json::json!({"email": "ada@example.com"}),
                requested_at: t0(),
            },
            integration.clone(),
        ),
        (
            LeadCommand::Capture {
                submission: LeadSubmission {
                    first_name: Some("Augusta".into()),
                    last_name: Some("Lovelace".into()),
                    email: Some("ada@example.com".into()),
                    ..LeadSubmission::default()
                },
                campaign: Campaign::default(),
                default_region: CountryCode::new("GB").expect("a valid country"),
            },
            integration,
        ),
        (
            LeadCommand::Route {
                decision: crate::world::assigned_to(
                    rep,
                    crm_domain::TeamId(Uuid::from_u128(0x7ea)),
                ),
            },
            routing,
        ),
        (
            LeadCommand::LogFirstTouch {
                channel: Channel::Phone,
            },
            Actor::User { id: rep },
        ),
        (
            LeadCommand::Convert(ConversionRequest {
                existing_contact: Some(contact),
                open_opportunity: false,
            }),
            Actor::User { id: rep },
        ),
    ];
    let stream = StreamId::new(format!("lead-{lead}")).expect("a valid stream id");
    let mut state = Lead::default();
    let mut appends = Vec::new();
    for ((command, actor), n) in steps.into_iter().zip(0_u8..) {
        let ctx = Context::new(
            t0() + chrono::Duration::minutes(n.into()),
            actor,
            Uuid::from_u128(
                0x0190_0000_0000_7000_8000_0000_0000_0000 + lead.as_u128() + u128::from(n),
            ),
        );
        let events = state
            .decide(command, &ctx)
            .unwrap_or_else(|error| panic!("step {n} of lead {lead}: {error}"));
        state = events.iter().fold(state, Lead::evolve);
        appends.push(Append {
            stream: stream.clone(),
            events: new_events(&events, &ctx.actor),
        });
    }
    appends
}
