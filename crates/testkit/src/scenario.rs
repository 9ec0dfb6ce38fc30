//! Random but valid event histories for property tests: random commands run through the
//! aggregates' `decide` (refused ones are dropped), so every sequence is one the domain could
//! really record. Small pools of ids make records meet often (merges, conversions, replies).
//! [`arb_scenario`] generates the steps, [`play`] runs them into a [`World`] (feature
//! `projections`).

use std::num::NonZeroU8;

use chrono::{Duration, NaiveDate, TimeDelta};
use crm_domain::contact::{
    ConsentChannel, ConsentProof, ConsentPurpose, ContactCommand, Detail, DetailChange,
    ErasureGround, ErasureRequest, ErasureRequester, MergePolicy, Provenance,
};
use crm_domain::forecast::{
    AdjustmentRole, Forecast, ForecastCommand, ForecastError, ForecastEvent, Period, PeriodKind,
};
use crm_domain::identity::{
    CountryCode, EmailAddress, IdentityRecord, MatchConfig, PersonName, PhoneNumber, assess,
};
use crm_domain::lead::{
    Campaign, ConversionRequest, DisqualificationReason, LeadCommand, LeadSource, LeadSubmission,
};
use crm_domain::opportunity::{
    ForecastCategory, LossReason, OpportunityCommand, Pipeline, StageId,
};
use crm_domain::routing::{
    AssignmentStrategy, CandidateVerdict, RoutingDecision, RoutingOutcome, Verdict,
};
use crm_domain::sla::{
    BusinessCalendar, PolicyRef, PolicyVersion, SlaMetric, SlaPolicy, SlaPolicyId,
};
use crm_domain::ticket::{EscalationTarget, TicketCommand, TicketStatus};
use crm_domain::{
    Aggregate, Channel, ContactId, Context, Currency, LeadId, Money, OpportunityId, Priority,
    TeamId, TicketId, UserId,
};
use crm_projections::sla::SlaConfig;
use crm_projections::{AggregateKind, CrmEvent, StreamRef};
use proptest::prelude::*;
use uuid::Uuid;

use crate::world::{World, as_system, as_user, t0};

/// The reps of the scenarios.
pub const REPS: [UserId; 3] = [
    UserId(Uuid::from_u128(0xa11ce)),
    UserId(Uuid::from_u128(0xb0b)),
    UserId(Uuid::from_u128(0xca201)),
];
/// The teams of the scenarios.
pub const TEAMS: [TeamId; 2] = [
    TeamId(Uuid::from_u128(0x7ea1)),
    TeamId(Uuid::from_u128(0x7ea2)),
];

const POOL: u8 = 4;

/// The id of the `n`-th record of a kind (`kind` keeps kinds apart).
pub fn id(kind: u128, n: u8) -> Uuid {
    Uuid::from_u128((kind << 64) | (u128::from(n) + 1))
}

/// The id of contact `n` of the pool.
pub fn contact_id(n: u8) -> Uuid {
    id(0xc, n)
}

/// The pool index of a contact id.
pub fn contact_index(id: Uuid) -> u8 {
    u8::try_from((id.as_u128() & 0xff).saturating_sub(1)).unwrap_or(u8::MAX)
}

/// The id of lead `n` of the pool.
pub fn lead_id(n: u8) -> Uuid {
    id(0x1, n)
}

/// The id of deal `n` of the pool.
pub fn deal_id(n: u8) -> Uuid {
    id(0xd, n)
}

/// The id of ticket `n` of the pool.
pub fn ticket_id(n: u8) -> Uuid {
    id(0x7, n)
}

/// The personal text that only contact `n` (or lead `n`) ever carries, to look for after an
/// erasure.
pub fn contact_marker(n: u8) -> String {
    format!("zqcontact{n}x")
}

/// The personal text that only lead `n` ever carries.
pub fn lead_marker(n: u8) -> String {
    format!("zqlead{n}x")
}

/// The scenarios' SLA configuration: weekdays 09:00-12:00 and 13:00-17:00 in New York, with
/// targets for every priority and metric (tighter for higher priorities).
pub fn sla_config() -> SlaConfig {
    let day =
        serde_json::json!([{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]);
    let calendar: BusinessCalendar = serde_json::from_value(serde_json::json!({
        "time_zone": "America/New_York",
        "week": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day},
    }))
    .expect("a valid calendar");
    let reference = PolicyRef {
        id: SlaPolicyId(Uuid::from_u128(1)),
        version: PolicyVersion(1),
    };
    let mut policy = SlaPolicy::new(reference, "everything", calendar);
    for (n, priority) in Priority::ALL.into_iter().enumerate() {
        let scale = i64::try_from(4 - n).expect("four priorities");
        for (metric, minutes) in [
            (SlaMetric::FirstResponse, 30),
            (SlaMetric::NextResponse, 60),
            (SlaMetric::Resolution, 240),
            (SlaMetric::LeadFirstTouch, 10),
        ] {
            policy = policy
                .with_target(priority, metric, TimeDelta::minutes(minutes * scale))
                .expect("a positive target");
        }
    }
    SlaConfig::new()
        .with_policy(policy, None)
        .expect("one policy, no overlap")
}

/// One step of a scenario: a command on a record of the pools. Fields name records, reps and
/// teams by index (`contact: 2` is [`contact_id`]`(2)`, `rep: 1` is `REPS[1]`); a step whose
/// command the aggregate refuses records nothing.
#[derive(Debug, Clone)]
#[expect(
    missing_docs,
    reason = "the fields are indexes into the pools and flags named for what they choose"
)]
pub enum Step {
    /// Creates a contact with its marker as its name.
    CreateContact { contact: u8 },
    /// Adds one of a few email addresses to a contact.
    AddEmail { contact: u8, variant: u8 },
    /// Sets a contact's job title.
    SetJobTitle { contact: u8, variant: u8 },
    /// Grants or withdraws consent on a channel for a purpose (`channel` names one of the
    /// twelve scopes: channel `channel % 3`, purpose `channel / 3`).
    Consent {
        contact: u8,
        grant: bool,
        channel: u8,
    },
    /// Merges `absorbed` into `survivor`.
    Merge { survivor: u8, absorbed: u8 },
    /// Undoes a merge.
    Unmerge { survivor: u8, absorbed: u8 },
    /// Declares two contacts different people.
    NotDuplicate { contact: u8, other: u8 },
    /// Erases a contact.
    Erase { contact: u8 },
    /// Records a review-band duplicate suspicion of `candidate` on `contact`.
    Suspect { contact: u8, candidate: u8 },
    /// Receives a lead.
    ReceiveLead { lead: u8 },
    /// Captures a lead, valid or to be quarantined.
    CaptureLead { lead: u8, valid: bool },
    /// Routes a lead to a rep (or the queue) of a team.
    RouteLead { lead: u8, rep: Option<u8>, team: u8 },
    /// Logs the first touch by the lead's assignee.
    TouchLead { lead: u8 },
    /// Reclaims a lead after a missed SLA.
    ReclaimLead { lead: u8, rep: u8 },
    /// Qualifies a lead.
    QualifyLead { lead: u8, rep: u8 },
    /// Disqualifies a lead.
    DisqualifyLead { lead: u8 },
    /// Converts a lead to a contact, with or without a deal.
    ConvertLead { lead: u8, contact: u8, deal: bool },
    /// Opens a deal for a contact, in EUR or USD.
    OpenDeal {
        deal: u8,
        contact: u8,
        minor: i64,
        usd: bool,
        owner: u8,
    },
    /// Moves a deal to a stage.
    MoveDeal { deal: u8, stage: u8, rep: u8 },
    /// Changes a deal's amount.
    ChangeAmount { deal: u8, minor: i64 },
    /// Moves a deal's expected close date by `days`.
    ChangeCloseDate { deal: u8, days: i64 },
    /// Gives a deal another owner.
    ReassignDeal { deal: u8, owner: u8 },
    /// Wins a deal.
    WinDeal { deal: u8 },
    /// Loses a deal.
    LoseDeal { deal: u8 },
    /// Opens a ticket for a contact.
    OpenTicket {
        ticket: u8,
        contact: u8,
        priority: u8,
        message: bool,
    },
    /// Assigns a ticket to a rep.
    AssignTicket { ticket: u8, rep: u8 },
    /// Replies to a ticket's customer (as a rep, or the system).
    AgentReply { ticket: u8, rep: Option<u8> },
    /// Records a reply from the customer.
    CustomerReply { ticket: u8 },
    /// Changes a ticket's status.
    TicketStatus { ticket: u8, status: u8, rep: u8 },
    /// Changes a ticket's priority.
    TicketPriority { ticket: u8, priority: u8 },
    /// Escalates a ticket to a level and team.
    EscalateTicket { ticket: u8, level: u8, team: u8 },
    /// Reopens a ticket.
    ReopenTicket { ticket: u8 },
    /// Opens a rep's forecast for April 2026 (the month or its quarter).
    OpenForecast {
        forecast: u8,
        owner: u8,
        manager: Option<u8>,
        quarter: bool,
    },
    /// Makes the owner's or the manager's call on a forecast category.
    AdjustForecast {
        forecast: u8,
        category: u8,
        minor: i64,
        manager: bool,
        /// Act as the role's holder (else as `rep`, usually refused).
        holder: bool,
        rep: u8,
    },
    /// Withdraws a call.
    WithdrawForecast {
        forecast: u8,
        category: u8,
        manager: bool,
    },
    /// Locks a forecast.
    LockForecast { forecast: u8 },
}

fn n() -> impl Strategy<Value = u8> {
    0..POOL
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => n().prop_map(|contact| Step::CreateContact { contact }),
        1 => (n(), 0u8..3).prop_map(|(contact, variant)| Step::AddEmail { contact, variant }),
        1 => (n(), 0u8..3).prop_map(|(contact, variant)| Step::SetJobTitle { contact, variant }),
        1 => (n(), any::<bool>(), 0u8..12).prop_map(|(contact, grant, channel)| Step::Consent { contact, grant, channel }),
        1 => (n(), n()).prop_map(|(survivor, absorbed)| Step::Merge { survivor, absorbed }),
        1 => (n(), n()).prop_map(|(survivor, absorbed)| Step::Unmerge { survivor, absorbed }),
        1 => (n(), n()).prop_map(|(contact, other)| Step::NotDuplicate { contact, other }),
        1 => n().prop_map(|contact| Step::Erase { contact }),
        2 => (n(), n()).prop_map(|(contact, candidate)| Step::Suspect { contact, candidate }),
        3 => n().prop_map(|lead| Step::ReceiveLead { lead }),
        3 => (n(), prop::bool::weighted(0.8)).prop_map(|(lead, valid)| Step::CaptureLead { lead, valid }),
        3 => (n(), proptest::option::weighted(0.8, 0u8..3), 0u8..2).prop_map(|(lead, rep, team)| Step::RouteLead { lead, rep, team }),
        2 => n().prop_map(|lead| Step::TouchLead { lead }),
        1 => (n(), 0u8..3).prop_map(|(lead, rep)| Step::ReclaimLead { lead, rep }),
        1 => (n(), 0u8..3).prop_map(|(lead, rep)| Step::QualifyLead { lead, rep }),
        1 => n().prop_map(|lead| Step::DisqualifyLead { lead }),
        2 => (n(), n(), any::<bool>()).prop_map(|(lead, contact, deal)| Step::ConvertLead { lead, contact, deal }),
        3 => (n(), n(), 0i64..20_000_000, any::<bool>(), 0u8..3).prop_map(|(deal, contact, minor, usd, owner)| Step::OpenDeal { deal, contact, minor, usd, owner }),
        3 => (n(), 0u8..6, 0u8..3).prop_map(|(deal, stage, rep)| Step::MoveDeal { deal, stage, rep }),
        1 => (n(), 0i64..20_000_000).prop_map(|(deal, minor)| Step::ChangeAmount { deal, minor }),
        1 => (n(), -60i64..120).prop_map(|(deal, days)| Step::ChangeCloseDate { deal, days }),
        1 => (n(), 0u8..3).prop_map(|(deal, owner)| Step::ReassignDeal { deal, owner }),
        2 => n().prop_map(|deal| Step::WinDeal { deal }),
        1 => n().prop_map(|deal| Step::LoseDeal { deal }),
        3 => (n(), n(), 0u8..4, any::<bool>()).prop_map(|(ticket, contact, priority, message)| Step::OpenTicket { ticket, contact, priority, message }),
        2 => (n(), 0u8..3).prop_map(|(ticket, rep)| Step::AssignTicket { ticket, rep }),
        3 => (n(), proptest::option::weighted(0.8, 0u8..3)).prop_map(|(ticket, rep)| Step::AgentReply { ticket, rep }),
        3 => n().prop_map(|ticket| Step::CustomerReply { ticket }),
        3 => (n(), 1u8..6, 0u8..3).prop_map(|(ticket, status, rep)| Step::TicketStatus { ticket, status, rep }),
        1 => (n(), 0u8..4).prop_map(|(ticket, priority)| Step::TicketPriority { ticket, priority }),
        1 => (n(), 1u8..4, 0u8..2).prop_map(|(ticket, level, team)| Step::EscalateTicket { ticket, level, team }),
        1 => n().prop_map(|ticket| Step::ReopenTicket { ticket }),
        2 => (n(), 0u8..3, proptest::option::weighted(0.8, 0u8..3), any::<bool>()).prop_map(|(forecast, owner, manager, quarter)| Step::OpenForecast { forecast, owner, manager, quarter }),
        4 => (n(), 0u8..5, prop_oneof![0i64..20_000_000, Just(1_000)], any::<bool>(), prop::bool::weighted(0.8), 0u8..3).prop_map(|(forecast, category, minor, manager, holder, rep)| Step::AdjustForecast { forecast, category, minor, manager, holder, rep }),
        1 => (n(), 0u8..5, any::<bool>()).prop_map(|(forecast, category, manager)| Step::WithdrawForecast { forecast, category, manager }),
        1 => n().prop_map(|forecast| Step::LockForecast { forecast }),
    ]
}

/// A scenario: steps, each after a pause of some minutes (zero included: same-instant events).
pub fn arb_scenario(max_steps: usize) -> impl Strategy<Value = Vec<(u16, Step)>> {
    proptest::collection::vec(
        (prop_oneof![Just(0u16), 0u16..180, 0u16..3000], arb_step()),
        0..max_steps,
    )
}

fn gb() -> CountryCode {
    CountryCode::new("GB").expect("GB is a country code")
}

fn currency(usd: bool) -> Currency {
    Currency::new(if usd { "USD" } else { "EUR" }).expect("valid codes")
}

fn priority(n: u8) -> Priority {
    Priority::ALL[usize::from(n) % Priority::ALL.len()]
}

fn rep(n: u8) -> UserId {
    REPS[usize::from(n) % REPS.len()]
}

fn team(n: u8) -> TeamId {
    TEAMS[usize::from(n) % TEAMS.len()]
}

fn stage(n: u8) -> StageId {
    let stages = Pipeline::default().stages;
    stages[usize::from(n) % stages.len()].id.clone()
}

fn decision(rep: Option<UserId>, team: TeamId) -> RoutingDecision {
    RoutingDecision {
        rule: None,
        team,
        strategy: AssignmentStrategy::LeastLoaded,
        candidates: REPS
            .iter()
            .map(|candidate| CandidateVerdict {
                rep: *candidate,
                verdict: if Some(*candidate) == rep {
                    Verdict::Chosen
                } else {
                    Verdict::Eligible
                },
            })
            .collect(),
        outcome: match rep {
            Some(rep) => RoutingOutcome::Assigned { rep },
            None => RoutingOutcome::Queued { queue: team },
        },
        preferred: None,
    }
}

/// Runs a scenario through the aggregates; refused commands leave no trace.
pub fn play(scenario: &[(u16, Step)]) -> World {
    let mut world = World::new();
    let mut now = t0();
    for (pause, step) in scenario {
        now += Duration::minutes(i64::from(*pause));
        play_step(&mut world, step, now);
    }
    world
}

#[expect(clippy::too_many_lines, reason = "one arm per step, each a command")]
fn play_step(world: &mut World, step: &Step, now: chrono::DateTime<chrono::Utc>) {
    let user = |n: u8| as_user(rep(n), now);
    let system = as_system(now);
    match *step {
        Step::CreateContact { contact } => {
            let marker = contact_marker(contact);
            let changes = vec![
                DetailChange::Set(Detail::GivenName(PersonName::new(&marker).ok())),
                DetailChange::AddEmail(
                    EmailAddress::parse(&format!("{marker}@example.com")).expect("valid address"),
                ),
                DetailChange::AddPhone(
                    PhoneNumber::parse(&format!("020 7946 00{contact:02}"), gb())
                        .expect("valid number"),
                ),
            ];
            let _ = world.contact(
                contact_id(contact),
                ContactCommand::Create {
                    contact_id: ContactId(contact_id(contact)),
                    provenance: Provenance::new("crm-ui", now),
                    changes,
                },
                &user(0),
            );
        }
        Step::AddEmail { contact, variant } => {
            let address = format!("{}.{variant}@example.org", contact_marker(contact));
            let _ = world.contact(
                contact_id(contact),
                ContactCommand::ChangeDetails {
                    changes: vec![DetailChange::AddEmail(
                        EmailAddress::parse(&address).expect("valid address"),
                    )],
                    provenance: Provenance::new("hubspot", now),
                },
                &system,
            );
        }
        Step::SetJobTitle { contact, variant } => {
            let _ = world.contact(
                contact_id(contact),
                ContactCommand::ChangeDetails {
                    changes: vec![DetailChange::Set(Detail::JobTitle(Some(format!(
                        "{} title {variant}",
                        contact_marker(contact)
                    ))))],
                    provenance: Provenance::new("erp", now),
                },
                &system,
            );
        }
        Step::Consent {
            contact,
            grant,
            channel,
        } => {
            // One of twelve scopes: the channel, then the purpose.
            let purpose = ConsentPurpose::ALL[usize::from(channel / 3) % 4];
            let channel = ConsentChannel::ALL[usize::from(channel) % 3];
            let provenance = Provenance::new("web-form", now);
            let proof = ConsentProof {
                form_id: Some("newsletter".into()),
                ..ConsentProof::default()
            };
            let command = if grant {
                ContactCommand::GrantConsent {
                    channel,
                    purpose,
                    provenance,
                    proof,
                }
            } else {
                ContactCommand::WithdrawConsent {
                    channel,
                    purpose,
                    provenance,
                    proof,
                }
            };
            let _ = world.contact(contact_id(contact), command, &system);
        }
        Step::Merge { survivor, absorbed } => {
            let ctx = user(0);
            if world
                .contact(
                    contact_id(absorbed),
                    ContactCommand::MergeInto {
                        survivor: ContactId(contact_id(survivor)),
                    },
                    &ctx,
                )
                .is_ok()
            {
                let state = world.contact_state(contact_id(absorbed));
                let merged = world.contact(
                    contact_id(survivor),
                    ContactCommand::Merge {
                        absorbed: Box::new(state),
                        policy: MergePolicy::NewestValue,
                        choices: vec![],
                    },
                    &ctx,
                );
                if merged.is_err() {
                    // A refused merge leaves the absorbed side released again, as the
                    // application's merge saga would.
                    let _ = world.contact(
                        contact_id(absorbed),
                        ContactCommand::UnmergeFrom {
                            survivor: ContactId(contact_id(survivor)),
                        },
                        &ctx,
                    );
                }
            }
        }
        Step::Unmerge { survivor, absorbed } => {
            let ctx = user(0);
            if world
                .contact(
                    contact_id(survivor),
                    ContactCommand::Unmerge {
                        absorbed: ContactId(contact_id(absorbed)),
                    },
                    &ctx,
                )
                .is_ok()
            {
                let _ = world.contact(
                    contact_id(absorbed),
                    ContactCommand::UnmergeFrom {
                        survivor: ContactId(contact_id(survivor)),
                    },
                    &ctx,
                );
            }
        }
        Step::NotDuplicate { contact, other } => {
            let _ = world.contact(
                contact_id(contact),
                ContactCommand::DeclareNotDuplicate {
                    other: ContactId(contact_id(other)),
                },
                &user(0),
            );
        }
        Step::Erase { contact } => {
            let _ = world.contact(
                contact_id(contact),
                ContactCommand::Erase {
                    request: ErasureRequest {
                        requested_by: ErasureRequester::DataSubject,
                        legal_basis: ErasureGround::ConsentWithdrawn,
                        requested_at: now,
                    },
                },
                &user(0),
            );
        }
        Step::Suspect { contact, candidate } => {
            let marker = contact_marker(contact);
            let record = |name: &str| IdentityRecord {
                names: vec![PersonName::new(name).expect("valid name")],
                emails: vec![
                    EmailAddress::parse(&format!("{marker}@engines.example"))
                        .expect("valid address"),
                ],
                phones: Vec::new(),
                company_domain: None,
                company_name: None,
            };
            let assessment = assess(
                &record(&marker),
                &record("Grace Hopper"),
                &MatchConfig::default(),
            );
            let _ = world.contact(
                contact_id(contact),
                ContactCommand::RecordDuplicateSuspicion {
                    candidate: ContactId(contact_id(candidate)),
                    assessment,
                },
                &system,
            );
        }
        Step::ReceiveLead { lead } => {
            let _ = world.lead(
                lead_id(lead),
                LeadCommand::Receive {
                    lead_id: LeadId(lead_id(lead)),
                    source: LeadSource { system: "web-form".into(), external_event_id: format!("delivery-{lead}") },
                    raw_payload: serde_json::json!({ "email": format!("{}@example.com", lead_marker(lead)) }),
                    requested_at: now - Duration::minutes(1),
                },
                &system,
            );
        }
        Step::CaptureLead { lead, valid } => {
            let marker = lead_marker(lead);
            let submission = LeadSubmission {
                first_name: Some(marker.clone()),
                email: Some(if valid {
                    format!("{marker}@example.com")
                } else {
                    format!("{marker} at example")
                }),
                ..LeadSubmission::default()
            };
            let _ = world.lead(
                lead_id(lead),
                LeadCommand::Capture {
                    submission,
                    campaign: Campaign::default(),
                    default_region: gb(),
                },
                &system,
            );
        }
        Step::RouteLead {
            lead,
            rep: chosen,
            team: chosen_team,
        } => {
            let _ = world.lead(
                lead_id(lead),
                LeadCommand::Route {
                    decision: decision(chosen.map(rep), team(chosen_team)),
                },
                &system,
            );
        }
        Step::TouchLead { lead } => {
            for candidate in 0..3 {
                if world
                    .lead(
                        lead_id(lead),
                        LeadCommand::LogFirstTouch {
                            channel: Channel::Phone,
                        },
                        &user(candidate),
                    )
                    .is_ok()
                {
                    break;
                }
            }
        }
        Step::ReclaimLead { lead, rep: to } => {
            let _ = world.lead(
                lead_id(lead),
                LeadCommand::Reclaim {
                    missed_deadline: now,
                    decision: decision(Some(rep(to)), team(0)),
                    max_reassignments: 2,
                },
                &system,
            );
        }
        Step::QualifyLead { lead, rep: by } => {
            let _ = world.lead(lead_id(lead), LeadCommand::Qualify, &user(by));
        }
        Step::DisqualifyLead { lead } => {
            let _ = world.lead(
                lead_id(lead),
                LeadCommand::Disqualify {
                    reason: DisqualificationReason::NotAProspect,
                },
                &user(0),
            );
        }
        Step::ConvertLead {
            lead,
            contact,
            deal,
        } => {
            let _ = world.lead(
                lead_id(lead),
                LeadCommand::Convert(ConversionRequest {
                    existing_contact: Some(ContactId(contact_id(contact))),
                    open_opportunity: deal,
                }),
                &user(0),
            );
        }
        Step::OpenDeal {
            deal,
            contact,
            minor,
            usd,
            owner,
        } => {
            let _ = world.opportunity(
                deal_id(deal),
                OpportunityCommand::Open {
                    opportunity: OpportunityId(deal_id(deal)),
                    name: format!("{} deal", contact_marker(contact)),
                    contact: ContactId(contact_id(contact)),
                    company: None,
                    owner: rep(owner),
                    amount: Money::new(minor, currency(usd)),
                    expected_close: NaiveDate::from_ymd_opt(2026, 4, 15).expect("valid date"),
                    pipeline: Pipeline::default(),
                    stage: None,
                },
                &user(owner),
            );
        }
        Step::MoveDeal {
            deal,
            stage: to,
            rep: by,
        } => {
            let _ = world.opportunity(
                deal_id(deal),
                OpportunityCommand::ChangeStage { to: stage(to) },
                &user(by),
            );
        }
        Step::ChangeAmount { deal, minor } => {
            let Some(currency) = world.deal_currency(deal_id(deal)) else {
                return;
            };
            let _ = world.opportunity(
                deal_id(deal),
                OpportunityCommand::ChangeAmount {
                    amount: Money::new(minor, currency),
                },
                &user(0),
            );
        }
        Step::ChangeCloseDate { deal, days } => {
            let expected_close =
                NaiveDate::from_ymd_opt(2026, 4, 15).expect("valid date") + Duration::days(days);
            let _ = world.opportunity(
                deal_id(deal),
                OpportunityCommand::ChangeCloseDate { expected_close },
                &user(0),
            );
        }
        Step::ReassignDeal { deal, owner } => {
            let _ = world.opportunity(
                deal_id(deal),
                OpportunityCommand::Reassign { owner: rep(owner) },
                &user(0),
            );
        }
        Step::WinDeal { deal } => {
            let _ = world.opportunity(deal_id(deal), OpportunityCommand::Win, &user(0));
        }
        Step::LoseDeal { deal } => {
            let _ = world.opportunity(
                deal_id(deal),
                OpportunityCommand::Lose {
                    reason: LossReason::Other {
                        note: "zqnote".into(),
                    },
                },
                &user(0),
            );
        }
        Step::OpenTicket {
            ticket,
            contact,
            priority: level,
            message,
        } => {
            let _ = world.ticket(
                ticket_id(ticket),
                TicketCommand::Open {
                    ticket: TicketId(ticket_id(ticket)),
                    contact: ContactId(contact_id(contact)),
                    subject: format!("{} subject", contact_marker(contact)),
                    channel: Channel::Email,
                    priority: priority(level),
                    message: message.then(|| "help".to_owned()),
                    follow_up_of: None,
                    account: None,
                },
                &system,
            );
        }
        Step::AssignTicket { ticket, rep: to } => {
            let _ = world.ticket(
                ticket_id(ticket),
                TicketCommand::Assign { assignee: rep(to) },
                &system,
            );
        }
        Step::AgentReply { ticket, rep: by } => {
            let ctx = by.map_or_else(|| system.clone(), user);
            let _ = world.ticket(
                ticket_id(ticket),
                TicketCommand::ReplyToCustomer {
                    body: "on it".into(),
                    channel: Channel::Email,
                },
                &ctx,
            );
        }
        Step::CustomerReply { ticket } => {
            let Some(contact) = world.ticket_contact(ticket_id(ticket)) else {
                return;
            };
            let _ = world.ticket(
                ticket_id(ticket),
                TicketCommand::RecordCustomerReply {
                    from: contact,
                    body: "still broken".into(),
                    channel: Channel::Phone,
                },
                &system,
            );
        }
        Step::TicketStatus {
            ticket,
            status,
            rep: by,
        } => {
            let status = TicketStatus::ALL[usize::from(status) % TicketStatus::ALL.len()];
            let _ = world.ticket(
                ticket_id(ticket),
                TicketCommand::ChangeStatus { status },
                &user(by),
            );
        }
        Step::TicketPriority {
            ticket,
            priority: level,
        } => {
            let _ = world.ticket(
                ticket_id(ticket),
                TicketCommand::ChangePriority {
                    priority: priority(level),
                },
                &user(0),
            );
        }
        Step::EscalateTicket {
            ticket,
            level,
            team: to,
        } => {
            let Some(level) = NonZeroU8::new(level) else {
                return;
            };
            let _ = world.ticket(
                ticket_id(ticket),
                TicketCommand::Escalate {
                    to: EscalationTarget::Team { team: team(to) },
                    level,
                    reason: "stuck".into(),
                },
                &user(0),
            );
        }
        Step::OpenForecast { .. }
        | Step::AdjustForecast { .. }
        | Step::WithdrawForecast { .. }
        | Step::LockForecast { .. } => play_forecast_step(world, step, now),
        Step::ReopenTicket { ticket } => {
            let _ = world.ticket(
                ticket_id(ticket),
                TicketCommand::Reopen {
                    reason: "not fixed".into(),
                },
                &user(0),
            );
        }
    }
}

/// The id of forecast `n` of the pool.
pub fn forecast_id(n: u8) -> Uuid {
    id(0xf, n)
}

/// The forecast categories in a fixed order, the adjustable ones first.
pub const CATEGORIES: [ForecastCategory; 5] = [
    ForecastCategory::Pipeline,
    ForecastCategory::BestCase,
    ForecastCategory::Commit,
    ForecastCategory::Closed,
    ForecastCategory::Omitted,
];

/// A forecast's state, replayed from the world's log (the world keeps no forecast states).
pub fn forecast_state(world: &World, id: Uuid) -> Forecast {
    let stream = StreamRef::new(AggregateKind::Forecast, id);
    let history: Vec<ForecastEvent> = world
        .events()
        .iter()
        .filter(|event| event.stream == stream)
        .filter_map(|event| match &event.event {
            CrmEvent::Forecast(forecast) => Some(forecast.clone()),
            _ => None,
        })
        .collect();
    Forecast::replay(&history)
}

/// Runs a command on forecast `id` and records what it decided.
pub fn forecast(
    world: &mut World,
    id: Uuid,
    command: ForecastCommand,
    ctx: &Context,
) -> Result<usize, ForecastError> {
    let stream = StreamRef::new(AggregateKind::Forecast, id);
    let events = forecast_state(world, id).decide(command, ctx)?;
    let count = events.len();
    for event in events {
        world.log.record(stream, CrmEvent::Forecast(event));
    }
    Ok(count)
}

fn play_forecast_step(world: &mut World, step: &Step, now: chrono::DateTime<chrono::Utc>) {
    let role = |manager: bool| {
        if manager {
            AdjustmentRole::Manager
        } else {
            AdjustmentRole::Owner
        }
    };
    let category = |n: u8| CATEGORIES[usize::from(n) % CATEGORIES.len()];
    // The role's holder, so that most calls are made by someone allowed to make them.
    let holder = |world: &World, forecast: u8, role: AdjustmentRole| {
        let submission = forecast_state(world, forecast_id(forecast)).submission?;
        match role {
            AdjustmentRole::Owner => Some(submission.owner),
            AdjustmentRole::Manager => submission.manager,
        }
    };
    match *step {
        Step::OpenForecast {
            forecast: n,
            owner,
            manager,
            quarter,
        } => {
            let april = NaiveDate::from_ymd_opt(2026, 4, 1).expect("valid date");
            let kind = if quarter {
                PeriodKind::Quarter
            } else {
                PeriodKind::Month
            };
            let _ = forecast(
                world,
                forecast_id(n),
                ForecastCommand::Open {
                    forecast: crm_domain::ForecastId(forecast_id(n)),
                    owner: rep(owner),
                    manager: manager.map(rep),
                    period: Period::of(april, kind),
                    currency: currency(false),
                },
                &as_system(now),
            );
        }
        Step::AdjustForecast {
            forecast: n,
            category: c,
            minor,
            manager,
            holder: as_holder,
            rep: by,
        } => {
            let role = role(manager);
            let user = as_holder
                .then(|| holder(world, n, role))
                .flatten()
                .unwrap_or(rep(by));
            let _ = forecast(
                world,
                forecast_id(n),
                ForecastCommand::Adjust {
                    category: category(c),
                    amount: Money::new(minor, currency(false)),
                    role,
                    reason: "zqcall".into(),
                },
                &as_user(user, now),
            );
        }
        Step::WithdrawForecast {
            forecast: n,
            category: c,
            manager,
        } => {
            let role = role(manager);
            let Some(user) = holder(world, n, role) else {
                return;
            };
            let _ = forecast(
                world,
                forecast_id(n),
                ForecastCommand::WithdrawAdjustment {
                    category: category(c),
                    role,
                },
                &as_user(user, now),
            );
        }
        Step::LockForecast { forecast: n } => {
            let _ = forecast(
                world,
                forecast_id(n),
                ForecastCommand::Lock,
                &as_system(now),
            );
        }
        _ => {}
    }
}
