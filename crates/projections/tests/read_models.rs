//! The read models as an embedder uses them: events stored as `(stream, type, schema version,
//! payload)` decoded into `ProjectedEvent`s, folded in memory by all four models, and queried.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use crm_domain::contact::{Contact, ContactCommand, DetailChange, Provenance};
use crm_domain::identity::{EmailAddress, IdentityRecord, MatchConfig, PersonName, assess};
use crm_domain::opportunity::{ForecastCategory, Opportunity, OpportunityCommand, Pipeline};
use crm_domain::sla::{
    BusinessCalendar, PolicyRef, PolicyVersion, SlaMetric, SlaPolicy, SlaPolicyId,
};
use crm_domain::ticket::{Ticket, TicketCommand};
use crm_domain::{
    Actor, Aggregate, Channel, ContactId, Context, Currency, DomainEvent, Money, OpportunityId,
    Priority, TicketId, UserId, encode,
};
use crm_eventstore::GlobalPosition;
use crm_projections::customer360::{Customer360Model, Customer360Query};
use crm_projections::duplicates::{DuplicateQueueModel, query::ReviewQueue};
use crm_projections::pipeline::PipelineModel;
use crm_projections::pipeline::query::{Forecast, PeriodKind};
use crm_projections::sla::query::BreachList;
use crm_projections::sla::{SlaConfig, SlaModel};
use crm_projections::{MemoryDocuments, ProjectedEvent, TenantId};
use uuid::Uuid;

const ALICE: UserId = UserId(Uuid::from_u128(0xa11ce));
const ADA: ContactId = ContactId(Uuid::from_u128(0xada));
const TWIN: ContactId = ContactId(Uuid::from_u128(0x7a1));
const DEAL: OpportunityId = OpportunityId(Uuid::from_u128(0xd));
const TICKET: TicketId = TicketId(Uuid::from_u128(0x71));

fn monday(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0)
        .single()
        .expect("valid test data")
}

fn tenant() -> TenantId {
    crm_testkit::tenant_id("acme")
}

/// What an event store would hand a projector: stored triples, in global order.
#[derive(Default)]
struct Store {
    rows: Vec<(String, &'static str, u16, serde_json::Value)>,
}

impl Store {
    fn record<A: Aggregate>(
        &mut self,
        kind: &str,
        id: Uuid,
        state: &mut A,
        command: A::Command,
        at: DateTime<Utc>,
    ) {
        let ctx = Context::new(
            at,
            Actor::User { id: ALICE },
            Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
        );
        let events = state.decide(command, &ctx).expect("valid test data");
        for event in events {
            *state = std::mem::take(state).evolve(&event);
            let encoded = encode(&event).expect("valid test data");
            self.rows.push((
                format!("{kind}-{id}"),
                encoded.event_type,
                event.schema_version(),
                encoded.payload,
            ));
        }
    }

    fn decoded(&self) -> Vec<ProjectedEvent> {
        self.rows
            .iter()
            .zip(1u64..)
            .map(|((stream, event_type, version, payload), position)| {
                ProjectedEvent::decode(
                    GlobalPosition {
                        transaction: position,
                        position,
                    },
                    monday(9),
                    tenant(),
                    stream,
                    event_type,
                    *version,
                    payload.clone(),
                )
                .expect("valid test data")
            })
            .collect()
    }
}

fn sla_config() -> SlaConfig {
    let calendar: BusinessCalendar = serde_json::from_value(serde_json::json!({
        "time_zone": "Europe/London",
        "week": {"monday": [{"start": "09:00", "end": "17:00"}]},
    }))
    .expect("valid test data");
    let reference = PolicyRef {
        id: SlaPolicyId(Uuid::from_u128(1)),
        version: PolicyVersion(1),
    };
    let policy = SlaPolicy::new(reference, "support", calendar)
        .with_target(
            Priority::High,
            SlaMetric::FirstResponse,
            TimeDelta::hours(1),
        )
        .expect("valid test data");
    SlaConfig::new()
        .with_policy(policy, None)
        .expect("valid test data")
}

#[test]
fn stored_events_fold_into_every_read_model() {
    let mut store = Store::default();
    let mut ada = Contact::default();
    store.record(
        "contact",
        ADA.0,
        &mut ada,
        ContactCommand::Create {
            contact_id: ADA,
            provenance: Provenance::new("crm-ui", monday(9)),
            changes: vec![
                DetailChange::Set(crm_domain::contact::Detail::GivenName(Some(
                    PersonName::new("Augusta").expect("valid test data"),
                ))),
                DetailChange::AddEmail(
                    EmailAddress::parse("augusta@engines.example").expect("valid test data"),
                ),
            ],
        },
        monday(9),
    );
    let mut deal = Opportunity::default();
    store.record(
        "opportunity",
        DEAL.0,
        &mut deal,
        OpportunityCommand::Open {
            opportunity: DEAL,
            name: "Engine".into(),
            contact: ADA,
            company: None,
            owner: ALICE,
            amount: Money::new(50_000, Currency::new("EUR").expect("valid test data")),
            expected_close: NaiveDate::from_ymd_opt(2026, 5, 20).expect("valid test data"),
            pipeline: Pipeline::default(),
            stage: None,
        },
        monday(9),
    );
    let mut ticket = Ticket::default();
    store.record(
        "ticket",
        TICKET.0,
        &mut ticket,
        TicketCommand::Open {
            ticket: TICKET,
            contact: ADA,
            subject: "Engine squeaks".into(),
            channel: Channel::Email,
            priority: Priority::High,
            message: None,
            follow_up_of: None,
            account: None,
        },
        monday(10),
    );
    let record = |name: &str| IdentityRecord {
        names: vec![PersonName::new(name).expect("valid test data")],
        emails: vec![EmailAddress::parse("augusta@engines.example").expect("valid test data")],
        phones: Vec::new(),
        company_domain: None,
        company_name: None,
    };
    let mut twin = Contact::default();
    store.record(
        "contact",
        TWIN.0,
        &mut twin,
        ContactCommand::Create {
            contact_id: TWIN,
            provenance: Provenance::new("crm-ui", monday(11)),
            changes: vec![DetailChange::AddEmail(
                EmailAddress::parse("augusta@engines.example").expect("valid test data"),
            )],
        },
        monday(11),
    );
    store.record(
        "contact",
        TWIN.0,
        &mut twin,
        ContactCommand::RecordDuplicateSuspicion {
            candidate: ADA,
            assessment: assess(
                &record("Augusta"),
                &record("Grace Hopper"),
                &MatchConfig::default(),
            ),
        },
        monday(11),
    );
    let events = store.decoded();

    let customers = MemoryDocuments::fold(Customer360Model, &events).expect("valid test data");
    let customer = customers
        .lookup(&tenant(), &Customer360Query { contact: ADA })
        .expect("valid test data");
    assert_eq!(customer.opportunities.len(), 1);
    assert_eq!(customer.open_tickets, 1);
    assert_eq!(customer.contact.profile.emails.len(), 1);

    let sla = MemoryDocuments::fold(SlaModel::new(sla_config()), &events).expect("valid test data");
    let breached = sla.scan(
        &tenant(),
        &BreachList {
            config: sla.model().config(),
            now: monday(12),
            limit: 10,
            after: None,
        },
    );
    assert_eq!(breached.items.len(), 1, "first response was due at 11:00");
    assert_eq!(breached.items[0].deadline, Some(monday(11)));

    let pipeline = MemoryDocuments::fold(PipelineModel, &events).expect("valid test data");
    let forecast = pipeline.scan(
        &tenant(),
        &Forecast {
            period: PeriodKind::Quarter,
            from: NaiveDate::from_ymd_opt(2026, 4, 1).expect("valid test data"),
            to: NaiveDate::from_ymd_opt(2026, 7, 1).expect("valid test data"),
            owner: None,
        },
    );
    assert_eq!(forecast.len(), 1);
    assert_eq!(forecast[0].category, ForecastCategory::Pipeline);
    assert_eq!(forecast[0].sum.weighted.minor, 5_000);

    let queue = MemoryDocuments::fold(DuplicateQueueModel, &events).expect("valid test data");
    let waiting = queue.scan(&tenant(), &ReviewQueue::first(10));
    assert_eq!(waiting.len(), 1);
    assert_eq!((waiting[0].lower, waiting[0].higher), (TWIN, ADA));

    assert!(
        MemoryDocuments::fold(Customer360Model, &events)
            .expect("valid test data")
            .lookup(
                &crm_testkit::tenant_id("another"),
                &Customer360Query { contact: ADA }
            )
            .is_none(),
        "another tenant sees nothing"
    );
}
