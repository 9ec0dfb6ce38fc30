//! A realistic, deterministic event history for the projection benchmarks: scripted command
//! mixes per customer, run through the domain aggregates' `decide` (refused commands leave no
//! trace, as in the application), interleaved by time the way a live CRM records them.
//!
//! Each customer: a lead received, captured, routed, mostly touched, qualified and converted
//! onto the customer's contact; the contact with consent and the odd detail change; an
//! opportunity for half of the converted leads, moving through the stages to a win, a loss or
//! still open; a ticket for three customers in five (a second for some) with agent and
//! customer replies and status changes, some left unanswered so the SLA list has breaches; a
//! suspected duplicate now and then and a rare merge. Customers start a minute apart and their
//! histories span about a week, so about ten thousand are active at any instant.

use std::collections::HashMap;
use std::num::NonZeroU8;

use chrono::{DateTime, Duration, NaiveDate, TimeDelta, TimeZone, Utc};
use crm_domain::contact::{
    ConsentChannel, ConsentProof, Contact, ContactCommand, Detail, DetailChange, MergePolicy,
    Provenance,
};
use crm_domain::identity::{
    CountryCode, EmailAddress, IdentityRecord, MatchConfig, PersonName, PhoneNumber, assess,
};
use crm_domain::lead::{
    Campaign, ConversionRequest, Lead, LeadCommand, LeadSource, LeadSubmission,
};
use crm_domain::opportunity::{LossReason, Opportunity, OpportunityCommand, Pipeline, StageId};
use crm_domain::routing::{
    AssignmentStrategy, CandidateVerdict, RoutingDecision, RoutingOutcome, Verdict,
};
use crm_domain::sla::{
    BusinessCalendar, PolicyFilter, PolicyRef, PolicyVersion, SlaMetric, SlaPolicy, SlaPolicyId,
};
use crm_domain::ticket::{EscalationTarget, Ticket, TicketCommand, TicketStatus};
use crm_domain::{
    Actor, Aggregate, Channel, ContactId, Context, Currency, LeadId, Money, OpportunityId,
    Priority, TeamId, TicketId, UserId, encode,
};
use crm_eventstore::NewEvent;
use crm_projections::sla::SlaConfig;
use crm_projections::{AggregateKind, CrmEvent, ProjectedEvent, StreamRef, TenantId};
use uuid::Uuid;

/// The reps who own leads, deals and tickets.
const REPS: usize = 40;
/// The teams leads are routed to and tickets escalated to.
const TEAMS: usize = 4;

/// Monday 5 January 2026, 08:00 UTC: the first customer's first event.
pub(crate) fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0)
        .single()
        .expect("a valid instant")
}

/// One `decide` result: the events one command recorded on one stream, appended together.
#[derive(Debug, Clone)]
pub(crate) struct Append {
    /// When the command ran.
    pub at: DateTime<Utc>,
    /// The stream.
    pub stream: StreamRef,
    /// The customer it belongs to (its index), so loaders can keep a stream on one writer.
    pub customer: u64,
    /// The events, in order.
    pub events: Vec<CrmEvent>,
}

/// The records of one customer.
#[derive(Debug, Clone)]
pub(crate) struct Customer {
    /// The contact.
    pub contact: ContactId,
}

/// A history: appends in the order the CRM recorded them.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    /// The appends, in time order.
    pub appends: Vec<Append>,
    /// The customers, by index from the first one generated.
    pub customers: Vec<Customer>,
    /// Commands the aggregates refused (a script bug shows as many).
    pub refused: usize,
    /// Commands the aggregates accepted.
    pub accepted: usize,
}

/// A cheap, well-mixed deterministic hash (SplitMix64's finaliser).
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An id shaped like the CRM's UUIDv7: the customer's start in milliseconds first, then
/// bits from the hash of (customer, kind, n).
fn id_at(at: DateTime<Utc>, customer: u64, kind: u64, n: u64) -> Uuid {
    let millis = u128::from(u64::try_from(at.timestamp_millis()).unwrap_or(0));
    let low = mix(customer ^ mix(kind << 8 | n));
    let high = (millis << 16) | 0x7000 | u128::from(mix(low) & 0x0fff);
    Uuid::from_u128(
        (high << 64) | u128::from((low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000),
    )
}

fn rep(n: u64) -> UserId {
    UserId(Uuid::from_u128(0x5e00_0000 + u128::from(n % REPS as u64)))
}

fn team(n: u64) -> TeamId {
    TeamId(Uuid::from_u128(0x7ea0_0000 + u128::from(n % TEAMS as u64)))
}

fn gb() -> CountryCode {
    CountryCode::new("GB").expect("GB is a country code")
}

fn stage(id: &str) -> StageId {
    StageId::new(id)
}

/// The planned command of one customer, with its target stream.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "a plan holds a few commands per customer, consumed one at a time"
)]
enum Planned {
    Lead(LeadId, LeadCommand),
    Contact(ContactId, ContactCommand),
    Deal(OpportunityId, OpportunityCommand),
    Ticket(TicketId, TicketCommand),
    /// `absorbed` is merged into `survivor` (both contacts), as the merge saga does.
    Merge {
        absorbed: ContactId,
        survivor: ContactId,
    },
}

struct Step {
    at: DateTime<Utc>,
    customer: u64,
    seq: u32,
    actor: Actor,
    command: Planned,
}

fn user(n: u64) -> Actor {
    Actor::User { id: rep(n) }
}

fn system() -> Actor {
    Actor::System {
        component: "intake".into(),
    }
}

fn decision(chosen: UserId, team: TeamId) -> RoutingDecision {
    RoutingDecision {
        rule: None,
        team,
        strategy: AssignmentStrategy::LeastLoaded,
        candidates: vec![CandidateVerdict {
            rep: chosen,
            verdict: Verdict::Chosen,
        }],
        outcome: RoutingOutcome::Assigned { rep: chosen },
        preferred: None,
    }
}

fn name(customer: u64) -> String {
    const GIVEN: [&str; 8] = [
        "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Niklaus",
    ];
    let given = GIVEN[usize::try_from(mix(customer) % 8).unwrap_or(0)];
    format!("{given} Customer{customer}")
}

fn email(customer: u64) -> String {
    format!("customer{customer}@example{}.com", customer % 97)
}

fn phone(customer: u64) -> String {
    format!(
        "020 7{:03} {:04}",
        (customer / 10_000) % 1000,
        customer % 10_000
    )
}

/// The identity record identity resolution compares, for suspected duplicates.
fn identity(customer: u64, shared_email: Option<u64>) -> IdentityRecord {
    IdentityRecord {
        names: PersonName::new(&name(customer)).ok().into_iter().collect(),
        emails: EmailAddress::parse(&email(shared_email.unwrap_or(customer)))
            .ok()
            .into_iter()
            .collect(),
        phones: PhoneNumber::parse(&phone(customer), gb())
            .ok()
            .into_iter()
            .collect(),
        company_domain: None,
        company_name: None,
    }
}

#[expect(clippy::too_many_lines, reason = "one script, read top to bottom")]
fn plan(customer: u64, steps: &mut Vec<Step>) -> Customer {
    let h = mix(customer);
    let start = epoch() + Duration::minutes(i64::try_from(customer).unwrap_or(0));
    let at = |minutes: i64| start + Duration::minutes(minutes);
    let lead = LeadId(id_at(start, customer, 1, 0));
    let contact = ContactId(id_at(start, customer, 2, 0));
    let owner = h % REPS as u64;
    let mut seq = 0u32;
    let mut push = |minutes: i64, actor: Actor, command: Planned| {
        seq += 1;
        steps.push(Step {
            at: at(minutes),
            customer,
            seq,
            actor,
            command,
        });
    };

    // The lead: received and captured at once, routed, touched (mostly), converted (mostly).
    push(
        0,
        system(),
        Planned::Lead(
            lead,
            LeadCommand::Receive {
                lead_id: lead,
                source: LeadSource {
                    system: "web-form".into(),
                    external_event_id: format!("delivery-{customer}"),
                },
                raw_payload: serde_json::json!({ "email": email(customer), "name": name(customer) }),
                requested_at: at(0) - Duration::seconds(40),
            },
        ),
    );
    push(
        1,
        system(),
        Planned::Lead(
            lead,
            LeadCommand::Capture {
                submission: LeadSubmission {
                    first_name: Some(name(customer)),
                    email: Some(email(customer)),
                    phone: Some(phone(customer)),
                    company: Some(format!("Company {}", customer % 5000)),
                    ..LeadSubmission::default()
                },
                campaign: Campaign::default(),
                default_region: gb(),
            },
        ),
    );
    push(
        2,
        system(),
        Planned::Lead(
            lead,
            LeadCommand::Route {
                decision: decision(rep(owner), team(h >> 8)),
            },
        ),
    );
    let touched = h % 10 < 8;
    if touched {
        let delay = i64::try_from(5 + (h >> 12) % 180).unwrap_or(30);
        push(
            delay,
            user(owner),
            Planned::Lead(
                lead,
                LeadCommand::LogFirstTouch {
                    channel: Channel::Phone,
                },
            ),
        );
        push(
            delay + 20,
            user(owner),
            Planned::Lead(lead, LeadCommand::Qualify),
        );
    }
    let converted = touched && (h >> 16) % 10 < 7;

    // The contact, created when the lead converts (or by the CRM's import otherwise).
    let created_at = if touched { 240 } else { 300 };
    push(
        created_at,
        user(owner),
        Planned::Contact(
            contact,
            ContactCommand::Create {
                contact_id: contact,
                provenance: Provenance::new("crm-ui", at(created_at)),
                changes: vec![
                    DetailChange::Set(Detail::GivenName(PersonName::new(&name(customer)).ok())),
                    DetailChange::AddEmail(
                        EmailAddress::parse(&email(customer)).expect("a valid address"),
                    ),
                    DetailChange::AddPhone(
                        PhoneNumber::parse(&phone(customer), gb()).expect("a valid number"),
                    ),
                ],
            },
        ),
    );
    if (h >> 20).is_multiple_of(2) {
        push(
            created_at + 1,
            system(),
            Planned::Contact(
                contact,
                ContactCommand::GrantConsent {
                    channel: ConsentChannel::ALL[usize::try_from((h >> 21) % 3).unwrap_or(0)],
                    purpose: crm_domain::contact::ConsentPurpose::Marketing,
                    provenance: Provenance::new("web-form", at(created_at + 1)),
                    proof: ConsentProof {
                        form_id: Some("newsletter".into()),
                        ..ConsentProof::default()
                    },
                },
            ),
        );
    }
    if (h >> 24) % 10 < 3 {
        push(
            created_at + 2000,
            system(),
            Planned::Contact(
                contact,
                ContactCommand::ChangeDetails {
                    changes: vec![DetailChange::Set(Detail::JobTitle(Some(format!(
                        "Head of {}",
                        ["Sales", "IT", "Finance", "Operations"]
                            [usize::try_from((h >> 26) % 4).unwrap_or(0)]
                    ))))],
                    provenance: Provenance::new("erp", at(created_at + 2000)),
                },
            ),
        );
    }
    if customer > 0 && (h >> 28).is_multiple_of(25) {
        // Identity resolution finds the previous customer's contact when this one is created.
        push(
            created_at + 1,
            system(),
            Planned::Contact(
                contact,
                ContactCommand::RecordDuplicateSuspicion {
                    candidate: ContactId(id_at(
                        epoch() + Duration::minutes(i64::try_from(customer - 1).unwrap_or(0)),
                        customer - 1,
                        2,
                        0,
                    )),
                    assessment: assess(
                        &identity(customer, Some(customer - 1)),
                        &identity(customer - 1, None),
                        &MatchConfig::default(),
                    ),
                },
            ),
        );
    }
    if customer > 0 && (h >> 33).is_multiple_of(100) {
        push(
            created_at + 30,
            user(owner),
            Planned::Merge {
                absorbed: contact,
                survivor: ContactId(id_at(
                    epoch() + Duration::minutes(i64::try_from(customer - 1).unwrap_or(0)),
                    customer - 1,
                    2,
                    0,
                )),
            },
        );
    }
    if converted {
        push(
            created_at + 5,
            user(owner),
            Planned::Lead(
                lead,
                LeadCommand::Convert(ConversionRequest {
                    existing_contact: Some(contact),
                    open_opportunity: false,
                }),
            ),
        );
    } else if touched {
        push(
            created_at + 5,
            user(owner),
            Planned::Lead(
                lead,
                LeadCommand::Disqualify {
                    reason: crm_domain::lead::DisqualificationReason::NotAProspect,
                },
            ),
        );
    }

    // The opportunity: through the stages to a win, a loss, or still open.
    if converted && (h >> 36).is_multiple_of(2) {
        let deal = OpportunityId(id_at(start, customer, 3, 0));
        let minor = i64::try_from(100_000 + (h >> 40) % 5_000_000).unwrap_or(100_000);
        let currency = Currency::new(if (h >> 38).is_multiple_of(3) {
            "USD"
        } else {
            "EUR"
        })
        .expect("valid codes");
        let opened = created_at + 30;
        push(
            opened,
            user(owner),
            Planned::Deal(
                deal,
                OpportunityCommand::Open {
                    opportunity: deal,
                    name: format!("{} renewal", name(customer)),
                    contact,
                    company: None,
                    owner: rep(owner),
                    amount: Money::new(minor, currency),
                    expected_close: NaiveDate::from_ymd_opt(2026, 2, 1).expect("a valid date")
                        + Duration::days(i64::try_from(customer / 1440).unwrap_or(0)),
                    pipeline: Pipeline::default(),
                    stage: None,
                },
            ),
        );
        let day = 24 * 60;
        push(
            opened + day,
            user(owner),
            Planned::Deal(
                deal,
                OpportunityCommand::ChangeStage {
                    to: stage("qualification"),
                },
            ),
        );
        push(
            opened + 2 * day,
            user(owner),
            Planned::Deal(
                deal,
                OpportunityCommand::ChangeStage {
                    to: stage("proposal"),
                },
            ),
        );
        push(
            opened + 3 * day,
            user(owner),
            Planned::Deal(
                deal,
                OpportunityCommand::ChangeAmount {
                    amount: Money::new(minor + minor / 10, currency),
                },
            ),
        );
        match (h >> 44) % 3 {
            0 => {
                push(
                    opened + 4 * day,
                    user(owner),
                    Planned::Deal(
                        deal,
                        OpportunityCommand::ChangeStage {
                            to: stage("negotiation"),
                        },
                    ),
                );
                push(
                    opened + 6 * day,
                    user(owner),
                    Planned::Deal(deal, OpportunityCommand::Win),
                );
            }
            1 => push(
                opened + 5 * day,
                user(owner),
                Planned::Deal(
                    deal,
                    OpportunityCommand::Lose {
                        reason: LossReason::Other {
                            note: "went with a competitor".into(),
                        },
                    },
                ),
            ),
            _ => {}
        }
    }

    // Tickets: replies, status changes, some left unanswered (breaches).
    let tickets = match (h >> 46) % 10 {
        0..=3 => 0,
        4..=8 => 1,
        _ => 2,
    };
    for n in 0..tickets {
        let ticket = TicketId(id_at(start, customer, 4, n));
        let th = mix(h ^ (n + 1));
        let opened = created_at + 600 + i64::try_from(n * 2880).unwrap_or(0);
        let agent = th % REPS as u64;
        push(
            opened,
            system(),
            Planned::Ticket(
                ticket,
                TicketCommand::Open {
                    ticket,
                    contact,
                    subject: format!("Order {} arrived damaged", customer * 10 + n),
                    channel: Channel::Email,
                    priority: Priority::ALL[usize::try_from((th >> 4) % 4).unwrap_or(1)],
                    message: Some("The box was crushed and the screen is cracked.".into()),
                    follow_up_of: None,
                    account: None,
                },
            ),
        );
        push(
            opened + 2,
            system(),
            Planned::Ticket(
                ticket,
                TicketCommand::Assign {
                    assignee: rep(agent),
                },
            ),
        );
        if (th >> 8).is_multiple_of(10) {
            continue; // never answered: breaches its first response
        }
        let reply = |body: &str| TicketCommand::ReplyToCustomer {
            body: body.into(),
            channel: Channel::Email,
        };
        let first = opened + i64::try_from(10 + (th >> 12) % 240).unwrap_or(30);
        push(
            first,
            user(agent),
            Planned::Ticket(
                ticket,
                reply("Sorry to hear that; a replacement is on its way."),
            ),
        );
        push(
            first + 1,
            user(agent),
            Planned::Ticket(
                ticket,
                TicketCommand::ChangeStatus {
                    status: TicketStatus::Pending,
                },
            ),
        );
        if (th >> 20).is_multiple_of(3) {
            continue; // waits on the customer
        }
        push(
            first + 600,
            system(),
            Planned::Ticket(
                ticket,
                TicketCommand::RecordCustomerReply {
                    from: contact,
                    body: "It has not arrived yet.".into(),
                    channel: Channel::Email,
                },
            ),
        );
        if (th >> 24).is_multiple_of(8) {
            push(
                first + 700,
                user(agent),
                Planned::Ticket(
                    ticket,
                    TicketCommand::Escalate {
                        to: EscalationTarget::Team { team: team(th) },
                        level: NonZeroU8::MIN,
                        reason: "carrier lost the parcel".into(),
                    },
                ),
            );
        }
        if (th >> 28).is_multiple_of(10) {
            continue; // the follow-up is never answered
        }
        push(
            first + 900,
            user(agent),
            Planned::Ticket(ticket, reply("Tracked it down: delivery tomorrow.")),
        );
        push(
            first + 2000,
            user(agent),
            Planned::Ticket(
                ticket,
                TicketCommand::ChangeStatus {
                    status: TicketStatus::Solved,
                },
            ),
        );
        if (th >> 32).is_multiple_of(2) {
            push(
                first + 5000,
                system(),
                Planned::Ticket(
                    ticket,
                    TicketCommand::ChangeStatus {
                        status: TicketStatus::Closed,
                    },
                ),
            );
        }
    }
    Customer { contact }
}

/// The aggregates' states while a history is generated.
#[derive(Default)]
struct World {
    leads: HashMap<LeadId, Lead>,
    contacts: HashMap<ContactId, Contact>,
    deals: HashMap<OpportunityId, Opportunity>,
    tickets: HashMap<TicketId, Ticket>,
}

fn run<A: Aggregate, K: std::hash::Hash + Eq>(
    states: &mut HashMap<K, A>,
    key: K,
    command: A::Command,
    ctx: &Context,
) -> Option<Vec<A::Event>> {
    let state = states.entry(key).or_default();
    let events = state.decide(command, ctx).ok()?;
    for event in &events {
        *state = std::mem::take(state).evolve(event);
    }
    Some(events)
}

impl History {
    /// The history of customers `first .. first + count`: their commands interleaved by time
    /// and run through the aggregates.
    pub(crate) fn generate(first: u64, count: u64) -> Self {
        let mut steps = Vec::new();
        let mut history = History::default();
        for customer in first..first + count {
            history.customers.push(plan(customer, &mut steps));
        }
        steps.sort_by_key(|step| (step.at, step.customer, step.seq));
        let mut world = World::default();
        for step in steps {
            let ctx = Context::new(
                step.at,
                step.actor,
                Uuid::from_u128(u128::from(mix(step.customer)) << 32 | u128::from(step.seq)),
            );
            let appended: Option<(StreamRef, Vec<CrmEvent>)> = match step.command {
                Planned::Lead(id, command) => {
                    run(&mut world.leads, id, command, &ctx).map(|events| {
                        (
                            StreamRef::new(AggregateKind::Lead, id.0),
                            events.into_iter().map(CrmEvent::Lead).collect(),
                        )
                    })
                }
                Planned::Contact(id, command) => {
                    run(&mut world.contacts, id, command, &ctx).map(|events| {
                        (
                            StreamRef::new(AggregateKind::Contact, id.0),
                            events.into_iter().map(CrmEvent::Contact).collect(),
                        )
                    })
                }
                Planned::Deal(id, command) => {
                    run(&mut world.deals, id, command, &ctx).map(|events| {
                        (
                            StreamRef::new(AggregateKind::Opportunity, id.0),
                            events.into_iter().map(CrmEvent::Opportunity).collect(),
                        )
                    })
                }
                Planned::Ticket(id, command) => {
                    run(&mut world.tickets, id, command, &ctx).map(|events| {
                        (
                            StreamRef::new(AggregateKind::Ticket, id.0),
                            events.into_iter().map(CrmEvent::Ticket).collect(),
                        )
                    })
                }
                Planned::Merge { absorbed, survivor } => {
                    history.merge(&mut world, absorbed, survivor, step.customer, &ctx);
                    None
                }
            };
            match appended {
                Some((stream, events)) => {
                    history.accepted += 1;
                    if !events.is_empty() {
                        history.appends.push(Append {
                            at: step.at,
                            stream,
                            customer: step.customer,
                            events,
                        });
                    }
                }
                None => history.refused += 1,
            }
        }
        history
    }

    fn merge(
        &mut self,
        world: &mut World,
        absorbed: ContactId,
        survivor: ContactId,
        customer: u64,
        ctx: &Context,
    ) {
        let Some(leaving) = run(
            &mut world.contacts,
            absorbed,
            ContactCommand::MergeInto { survivor },
            ctx,
        ) else {
            self.refused += 1;
            return;
        };
        let state = world.contacts.get(&absorbed).cloned().unwrap_or_default();
        let Some(taking) = run(
            &mut world.contacts,
            survivor,
            ContactCommand::Merge {
                absorbed: Box::new(state),
                policy: MergePolicy::NewestValue,
                choices: vec![],
            },
            ctx,
        ) else {
            // The saga releases the absorbed side again.
            let released = run(
                &mut world.contacts,
                absorbed,
                ContactCommand::UnmergeFrom { survivor },
                ctx,
            )
            .unwrap_or_default();
            self.push(ctx.now, absorbed, customer, leaving);
            self.push(ctx.now, absorbed, customer, released);
            self.refused += 1;
            return;
        };
        self.accepted += 2;
        self.push(ctx.now, absorbed, customer, leaving);
        self.push(ctx.now, survivor, customer.saturating_sub(1), taking);
    }

    fn push(
        &mut self,
        at: DateTime<Utc>,
        contact: ContactId,
        customer: u64,
        events: Vec<crm_domain::contact::ContactEvent>,
    ) {
        if !events.is_empty() {
            self.appends.push(Append {
                at,
                stream: StreamRef::new(AggregateKind::Contact, contact.0),
                customer,
                events: events.into_iter().map(CrmEvent::Contact).collect(),
            });
        }
    }

    /// How many events the history holds.
    pub(crate) fn event_count(&self) -> usize {
        self.appends.iter().map(|append| append.events.len()).sum()
    }

    /// The events as read models receive them, positions from `first_position` on, one
    /// transaction per append (what the store gives them when each command commits alone).
    pub(crate) fn projected(&self, tenant: &TenantId, first_position: u64) -> Vec<ProjectedEvent> {
        let mut position = first_position;
        let mut events = Vec::with_capacity(self.event_count());
        for append in &self.appends {
            let transaction = position;
            for event in &append.events {
                events.push(ProjectedEvent {
                    position,
                    transaction,
                    recorded_at: append.at,
                    tenant: tenant.clone(),
                    stream: append.stream,
                    event: event.clone(),
                    actor: None,
                });
                position += 1;
            }
        }
        events
    }
}

/// The stored form of `event`, as the application appends it.
pub(crate) fn new_event(event: &CrmEvent) -> NewEvent {
    let encoded = match event {
        CrmEvent::Lead(event) => encode(event),
        CrmEvent::Contact(event) => encode(event),
        CrmEvent::Opportunity(event) => encode(event),
        CrmEvent::Ticket(event) => encode(event),
        CrmEvent::Forecast(event) => encode(event),
        CrmEvent::Account(event) => encode(event),
        CrmEvent::AccountHierarchy(event) => encode(event),
        CrmEvent::Activity(event) => encode(event),
        CrmEvent::Task(event) => encode(event),
    }
    .expect("domain events encode");
    NewEvent::new(encoded.event_type, encoded.schema_version, encoded.payload)
}

/// Weekdays 09:00-17:00, London.
fn office_hours() -> BusinessCalendar {
    let day = serde_json::json!([{"start": "09:00", "end": "17:00"}]);
    serde_json::from_value(serde_json::json!({
        "time_zone": "Europe/London",
        "week": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day},
    }))
    .expect("a valid calendar")
}

/// The SLA configuration of the benchmarks: one policy for every item, business hours in
/// London, targets per priority, leads touched within an hour.
pub(crate) fn sla_config() -> SlaConfig {
    let mut policy = SlaPolicy::new(
        PolicyRef {
            id: SlaPolicyId(Uuid::from_u128(0x0051_a000)),
            version: PolicyVersion(1),
        },
        "standard",
        office_hours(),
    )
    .with_filter(PolicyFilter::any());
    for (priority, first, next, resolution) in [
        (Priority::Low, 8, 16, 80),
        (Priority::Normal, 4, 8, 40),
        (Priority::High, 1, 2, 16),
        (Priority::Urgent, 1, 1, 8),
    ] {
        policy = policy
            .with_target(priority, SlaMetric::FirstResponse, TimeDelta::hours(first))
            .and_then(|policy| {
                policy.with_target(priority, SlaMetric::NextResponse, TimeDelta::hours(next))
            })
            .and_then(|policy| {
                policy.with_target(
                    priority,
                    SlaMetric::Resolution,
                    TimeDelta::hours(resolution),
                )
            })
            .and_then(|policy| {
                policy.with_target(priority, SlaMetric::LeadFirstTouch, TimeDelta::hours(1))
            })
            .expect("valid targets");
    }
    SlaConfig::new()
        .with_policy(policy, None)
        .expect("the first version")
}

/// About how many customers a history of `events` events needs, from the mean of a sample
/// of 2,000 (customers differ, so the generated history lands near `events`, not on it).
pub(crate) fn customers_for(events: u64) -> u64 {
    const SAMPLE: u64 = 2_000;
    let sample = History::generate(0, SAMPLE).event_count() as u64;
    events.saturating_mul(SAMPLE).div_ceil(sample.max(1)).max(1)
}
